// runtime/driver.cc — dlopen + cuGetProcAddress loader for the CUDA driver API.
#include "runtime/driver.h"

#include <dlfcn.h>

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ghostnv::runtime {
namespace {

using cu::CUresult;

// cuGetProcAddress_v2 (CUDA 12.0+) and the older four-argument form (CUDA 11.3+).
using GetProcAddressV2 = CUresult (*)(const char*, void**, int, uint64_t, int*);
using GetProcAddressV1 = CUresult (*)(const char*, void**, int, uint64_t);

struct Resolver {
  GetProcAddressV2 v2 = nullptr;
  GetProcAddressV1 v1 = nullptr;

  // Returns an empty string on success, else why the symbol is missing.
  std::string Resolve(const char* name, void** out) const {
    *out = nullptr;
    CUresult r;
    int status = cu::kGetProcAddressSuccess;
    if (v2 != nullptr) {
      r = v2(name, out, cu::kDriverAbiVersion, cu::kGetProcAddressLegacyStream, &status);
    } else {
      r = v1(name, out, cu::kDriverAbiVersion, cu::kGetProcAddressLegacyStream);
    }
    if (r == cu::kSuccess && status == cu::kGetProcAddressSuccess && *out != nullptr) return "";
    if (status == cu::kGetProcAddressVersionNotSufficient)
      return absl::StrCat(name, " is newer than this driver");
    return absl::StrCat(name, " not found (", CuResultName(nullptr, r), ")");
  }
};

template <typename Fn>
bool Bind(const Resolver& res, const char* name, Fn* fn, std::string* error) {
  void* p = nullptr;
  std::string why = res.Resolve(name, &p);
  if (!why.empty()) {
    if (error->empty()) *error = why;
    return false;
  }
  *fn = reinterpret_cast<Fn>(p);
  return true;
}

absl::Status BindAll(const Resolver& res, DriverApi& a) {
  std::string err;
  bool ok = true;
  auto bind = [&](const char* name, auto* fn) { ok = Bind(res, name, fn, &err) && ok; };
  bind("cuInit", &a.Init);
  bind("cuGetErrorName", &a.GetErrorName);
  bind("cuGetErrorString", &a.GetErrorString);
  bind("cuDeviceGetCount", &a.DeviceGetCount);
  bind("cuDeviceGet", &a.DeviceGet);
  bind("cuDeviceGetName", &a.DeviceGetName);
  bind("cuDeviceGetAttribute", &a.DeviceGetAttribute);
  bind("cuDeviceTotalMem", &a.DeviceTotalMem);
  bind("cuDeviceGetPCIBusId", &a.DeviceGetPCIBusId);
  bind("cuDevicePrimaryCtxRetain", &a.DevicePrimaryCtxRetain);
  bind("cuDevicePrimaryCtxRelease", &a.DevicePrimaryCtxRelease);
  bind("cuCtxSetCurrent", &a.CtxSetCurrent);
  bind("cuCtxGetCurrent", &a.CtxGetCurrent);
  bind("cuCtxSynchronize", &a.CtxSynchronize);
  bind("cuCtxGetStreamPriorityRange", &a.CtxGetStreamPriorityRange);
  bind("cuStreamCreateWithPriority", &a.StreamCreateWithPriority);
  bind("cuStreamDestroy", &a.StreamDestroy);
  bind("cuStreamSynchronize", &a.StreamSynchronize);
  bind("cuStreamQuery", &a.StreamQuery);
  bind("cuStreamGetPriority", &a.StreamGetPriority);
  bind("cuStreamWaitEvent", &a.StreamWaitEvent);
  bind("cuEventCreate", &a.EventCreate);
  bind("cuEventDestroy", &a.EventDestroy);
  bind("cuEventRecord", &a.EventRecord);
  bind("cuEventSynchronize", &a.EventSynchronize);
  bind("cuEventQuery", &a.EventQuery);
  bind("cuEventElapsedTime", &a.EventElapsedTime);
  bind("cuEventRecordWithFlags", &a.EventRecordWithFlags);
  bind("cuModuleLoadData", &a.ModuleLoadData);
  bind("cuModuleUnload", &a.ModuleUnload);
  bind("cuModuleGetFunction", &a.ModuleGetFunction);
  bind("cuModuleGetGlobal", &a.ModuleGetGlobal);
  bind("cuFuncGetAttribute", &a.FuncGetAttribute);
  bind("cuFuncSetAttribute", &a.FuncSetAttribute);
  bind("cuLaunchKernel", &a.LaunchKernel);
  bind("cuMemAlloc", &a.MemAlloc);
  bind("cuMemFree", &a.MemFree);
  bind("cuMemHostAlloc", &a.MemHostAlloc);
  bind("cuMemFreeHost", &a.MemFreeHost);
  bind("cuMemHostGetDevicePointer", &a.MemHostGetDevicePointer);
  bind("cuMemcpyHtoDAsync", &a.MemcpyHtoDAsync);
  bind("cuMemcpyDtoHAsync", &a.MemcpyDtoHAsync);
  bind("cuMemcpyDtoDAsync", &a.MemcpyDtoDAsync);
  bind("cuMemsetD8", &a.MemsetD8);
  bind("cuMemsetD8Async", &a.MemsetD8Async);
  bind("cuMemsetD32Async", &a.MemsetD32Async);
  bind("cuMemGetInfo", &a.MemGetInfo);
  bind("cuStreamBeginCapture", &a.StreamBeginCapture);
  bind("cuStreamEndCapture", &a.StreamEndCapture);
  bind("cuGraphInstantiateWithFlags", &a.GraphInstantiateWithFlags);
  bind("cuGraphLaunch", &a.GraphLaunch);
  bind("cuGraphExecDestroy", &a.GraphExecDestroy);
  bind("cuGraphDestroy", &a.GraphDestroy);
  // Optional (null when the driver lacks them): the stream-ordered allocator, measured beside a
  // persistent kernel by the coexistence probe (ultra_plan_benchmark.cc).
  std::string optional_err;
  (void)Bind(res, "cuMemAllocAsync", &a.MemAllocAsync, &optional_err);
  (void)Bind(res, "cuMemFreeAsync", &a.MemFreeAsync, &optional_err);
  if (!ok) {
    return absl::UnavailableError(
        absl::StrCat("CUDA driver ", a.library, " lacks an entry point GhostNV needs: ", err));
  }
  return absl::OkStatus();
}

std::string VersionText(int v) { return absl::StrCat(v / 1000, ".", (v % 1000) / 10); }

}  // namespace

absl::StatusOr<std::unique_ptr<DriverApi>> LoadDriver(const std::string& path) {
  dlerror();
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    return absl::UnavailableError(absl::StrCat("no NVIDIA driver: cannot load ", path, " (",
                                               why != nullptr ? why : "unknown reason", ")"));
  }
  auto api = std::make_unique<DriverApi>();
  api->library = path;
  Resolver res;
  res.v2 = reinterpret_cast<GetProcAddressV2>(dlsym(lib, "cuGetProcAddress_v2"));
  if (res.v2 == nullptr)
    res.v1 = reinterpret_cast<GetProcAddressV1>(dlsym(lib, "cuGetProcAddress"));
  if (res.v2 == nullptr && res.v1 == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        path, " is not a usable CUDA driver (no cuGetProcAddress: not libcuda, or older than 11.3)"));
  }
  std::string err;
  if (!Bind(res, "cuDriverGetVersion", &api->DriverGetVersion, &err))
    return absl::UnavailableError(absl::StrCat(path, ": ", err));
  if (api->DriverGetVersion(&api->driver_version) != cu::kSuccess) api->driver_version = 0;
  if (api->driver_version < cu::kDriverAbiVersion) {
    return absl::UnavailableError(absl::StrCat(
        "the NVIDIA driver is too old: it supports CUDA ", VersionText(api->driver_version),
        ", GhostNV needs ", VersionText(cu::kDriverAbiVersion), " or newer"));
  }
  if (absl::Status st = BindAll(res, *api); !st.ok()) return st;
  if (CUresult r = api->Init(0); r != cu::kSuccess) {
    if (r == cu::kErrorNoDevice) {
      return absl::UnavailableError(absl::StrCat(
          "no CUDA device: the NVIDIA driver (CUDA ", VersionText(api->driver_version),
          ") is installed but cuInit found no usable GPU (CUDA_ERROR_NO_DEVICE)"));
    }
    return CuError(*api, r, "cuInit", "initialising the CUDA driver");
  }
  return api;
}

absl::StatusOr<const DriverApi*> Driver() {
  static const absl::StatusOr<std::unique_ptr<DriverApi>>* const loaded = [] {
    const char* env = std::getenv("GHOSTNV_LIBCUDA");
    const std::string path = (env != nullptr && env[0] != '\0') ? env : "libcuda.so.1";
    return new absl::StatusOr<std::unique_ptr<DriverApi>>(LoadDriver(path));
  }();
  if (!loaded->ok()) return loaded->status();
  return loaded->value().get();
}

std::string CuResultName(const DriverApi* api, cu::CUresult r) {
  if (api != nullptr && api->GetErrorName != nullptr) {
    const char* name = nullptr;
    if (api->GetErrorName(r, &name) == cu::kSuccess && name != nullptr) return name;
  }
  switch (r) {
    case cu::kSuccess: return "CUDA_SUCCESS";
    case cu::kErrorInvalidValue: return "CUDA_ERROR_INVALID_VALUE";
    case cu::kErrorOutOfMemory: return "CUDA_ERROR_OUT_OF_MEMORY";
    case cu::kErrorNotInitialized: return "CUDA_ERROR_NOT_INITIALIZED";
    case cu::kErrorDeinitialized: return "CUDA_ERROR_DEINITIALIZED";
    case cu::kErrorDeviceUnavailable: return "CUDA_ERROR_DEVICE_UNAVAILABLE";
    case cu::kErrorNoDevice: return "CUDA_ERROR_NO_DEVICE";
    case cu::kErrorInvalidDevice: return "CUDA_ERROR_INVALID_DEVICE";
    case cu::kErrorInvalidImage: return "CUDA_ERROR_INVALID_IMAGE";
    case cu::kErrorInvalidContext: return "CUDA_ERROR_INVALID_CONTEXT";
    case cu::kErrorNoBinaryForGpu: return "CUDA_ERROR_NO_BINARY_FOR_GPU";
    case cu::kErrorUnsupportedPtxVersion: return "CUDA_ERROR_UNSUPPORTED_PTX_VERSION";
    case cu::kErrorInvalidHandle: return "CUDA_ERROR_INVALID_HANDLE";
    case cu::kErrorNotFound: return "CUDA_ERROR_NOT_FOUND";
    case cu::kErrorNotReady: return "CUDA_ERROR_NOT_READY";
    case cu::kErrorIllegalAddress: return "CUDA_ERROR_ILLEGAL_ADDRESS";
    case cu::kErrorLaunchOutOfResources: return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES";
    case cu::kErrorLaunchFailed: return "CUDA_ERROR_LAUNCH_FAILED";
    case cu::kErrorNotSupported: return "CUDA_ERROR_NOT_SUPPORTED";
    case cu::kErrorSystemDriverMismatch: return "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH";
    case cu::kErrorCompatNotSupportedOnDevice: return "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE";
    case cu::kErrorStreamCaptureUnsupported: return "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED";
    default: return absl::StrCat("CUDA_ERROR_", r);
  }
}

absl::Status CuError(const DriverApi& api, cu::CUresult r, std::string_view call,
                     std::string_view what) {
  std::string text = absl::StrCat(std::string(call), " failed ", std::string(what), ": ",
                                  CuResultName(&api, r));
  const char* desc = nullptr;
  if (api.GetErrorString != nullptr && api.GetErrorString(r, &desc) == cu::kSuccess &&
      desc != nullptr) {
    absl::StrAppend(&text, ": ", desc);
  }
  switch (r) {
    case cu::kErrorOutOfMemory:
      return absl::ResourceExhaustedError(text);
    case cu::kErrorNoDevice:
    case cu::kErrorDeviceUnavailable:
    case cu::kErrorNotInitialized:
    case cu::kErrorDeinitialized:
    case cu::kErrorSystemDriverMismatch:
    case cu::kErrorCompatNotSupportedOnDevice:
      return absl::UnavailableError(text);
    case cu::kErrorNotFound:
      return absl::NotFoundError(text);
    default:
      return absl::InternalError(text);
  }
}

bool IsStickyError(cu::CUresult r) {
  // The codes the driver documents as leaving the context in an unusable state.
  switch (r) {
    case cu::kErrorIllegalAddress:
    case cu::kErrorLaunchFailed:
    case cu::kErrorEccUncorrectable:
    case cu::kErrorLaunchTimeout:
    case cu::kErrorAssert:
    case cu::kErrorHardwareStackError:
    case cu::kErrorIllegalInstruction:
    case cu::kErrorMisalignedAddress:
    case cu::kErrorInvalidAddressSpace:
    case cu::kErrorInvalidPc:
    case cu::kErrorDeinitialized:
      return true;
    default:
      return false;
  }
}

}  // namespace ghostnv::runtime
