// runtime/driver.h — the CUDA driver API, loaded at run time.
//
// Nothing in GhostNV links libcuda: Driver() dlopens libcuda.so.1 the first time it is called,
// resolves every entry point it needs through cuGetProcAddress (ABI cu::kDriverAbiVersion, i.e.
// the CUDA 12.0 signatures in this table) and calls cuInit(0). On a machine without the NVIDIA
// driver, or with a driver but no device, it returns a clear Unavailable status and the program
// carries on (the CPU backend needs none of this). The result, success or failure, is computed
// once per process and returned to every later caller.
//
//   absl::StatusOr<const DriverApi*> api = Driver();
//   if (!api.ok()) { note(api.status()); use the CPU; }
//   int n = 0;
//   if (CUresult r = (*api)->DeviceGetCount(&n); r != cu::kSuccess)
//     return CuError(**api, r, "cuDeviceGetCount", "counting devices");
//
// Environment: GHOSTNV_LIBCUDA=/path/libcuda.so.1 loads that file instead (tests use a path that
// does not exist to exercise the "no driver" path). The library is never unloaded.
// Requires a driver that supports CUDA 12.0 or newer (R525+); older ones get a clear error.
//
// Error text (CuError) names the failing call, what it was doing and on which resource, then the
// driver's own name and description of the code, e.g.
//   "cuStreamCreateWithPriority failed creating a stream (priority -5) on device 0 (NVIDIA H200):
//    CUDA_ERROR_INVALID_VALUE: invalid argument"
// Status codes: out of memory -> ResourceExhausted; no driver/device, driver too old, device
// unavailable -> Unavailable; not found -> NotFound; everything else -> Internal.
//
// Thread-safety: Driver() is safe to call from any thread; the table is immutable once returned.
// The function pointers are plain driver calls: real-time safe as far as the driver call is.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/cuda_abi.h"

namespace ghostnv::runtime {

struct DriverApi {
  using CUresult = cu::CUresult;
  using CUdevice = cu::CUdevice;
  using CUdeviceptr = cu::CUdeviceptr;

  std::string library;     // what was dlopen'ed
  int driver_version = 0;  // cuDriverGetVersion: 1000 * major + 10 * minor (13000 = 13.0)

  // Initialisation, errors.
  CUresult (*Init)(unsigned flags) = nullptr;
  CUresult (*DriverGetVersion)(int* version) = nullptr;
  CUresult (*GetErrorName)(CUresult error, const char** str) = nullptr;
  CUresult (*GetErrorString)(CUresult error, const char** str) = nullptr;
  // Devices.
  CUresult (*DeviceGetCount)(int* count) = nullptr;
  CUresult (*DeviceGet)(CUdevice* device, int ordinal) = nullptr;
  CUresult (*DeviceGetName)(char* name, int len, CUdevice dev) = nullptr;
  CUresult (*DeviceGetAttribute)(int* value, int attrib, CUdevice dev) = nullptr;
  CUresult (*DeviceTotalMem)(size_t* bytes, CUdevice dev) = nullptr;
  CUresult (*DeviceGetPCIBusId)(char* bus_id, int len, CUdevice dev) = nullptr;
  // Primary contexts.
  CUresult (*DevicePrimaryCtxRetain)(cu::CUcontext* ctx, CUdevice dev) = nullptr;
  CUresult (*DevicePrimaryCtxRelease)(CUdevice dev) = nullptr;
  CUresult (*CtxSetCurrent)(cu::CUcontext ctx) = nullptr;
  CUresult (*CtxGetCurrent)(cu::CUcontext* ctx) = nullptr;
  CUresult (*CtxSynchronize)() = nullptr;
  CUresult (*CtxGetStreamPriorityRange)(int* least, int* greatest) = nullptr;
  // Streams.
  CUresult (*StreamCreateWithPriority)(cu::CUstream* stream, unsigned flags, int priority) = nullptr;
  CUresult (*StreamDestroy)(cu::CUstream stream) = nullptr;
  CUresult (*StreamSynchronize)(cu::CUstream stream) = nullptr;
  CUresult (*StreamQuery)(cu::CUstream stream) = nullptr;
  CUresult (*StreamGetPriority)(cu::CUstream stream, int* priority) = nullptr;
  CUresult (*StreamWaitEvent)(cu::CUstream stream, cu::CUevent event, unsigned flags) = nullptr;
  // Events.
  CUresult (*EventCreate)(cu::CUevent* event, unsigned flags) = nullptr;
  CUresult (*EventDestroy)(cu::CUevent event) = nullptr;
  CUresult (*EventRecord)(cu::CUevent event, cu::CUstream stream) = nullptr;
  CUresult (*EventSynchronize)(cu::CUevent event) = nullptr;
  CUresult (*EventQuery)(cu::CUevent event) = nullptr;
  CUresult (*EventElapsedTime)(float* ms, cu::CUevent start, cu::CUevent end) = nullptr;
  // cuEventRecordWithFlags (CUDA 11.1+): with cu::kEventRecordExternal during stream capture it
  // becomes an event-record node of the graph, so a replayed graph can carry timing events.
  CUresult (*EventRecordWithFlags)(cu::CUevent event, cu::CUstream stream, unsigned flags) = nullptr;
  // Modules and launches.
  CUresult (*ModuleLoadData)(cu::CUmodule* module, const void* image) = nullptr;
  CUresult (*ModuleUnload)(cu::CUmodule module) = nullptr;
  CUresult (*ModuleGetFunction)(cu::CUfunction* fn, cu::CUmodule module, const char* name) = nullptr;
  CUresult (*ModuleGetGlobal)(CUdeviceptr* ptr, size_t* bytes, cu::CUmodule module,
                              const char* name) = nullptr;
  CUresult (*FuncGetAttribute)(int* value, int attrib, cu::CUfunction fn) = nullptr;
  CUresult (*FuncSetAttribute)(cu::CUfunction fn, int attrib, int value) = nullptr;
  CUresult (*LaunchKernel)(cu::CUfunction fn, unsigned grid_x, unsigned grid_y, unsigned grid_z,
                           unsigned block_x, unsigned block_y, unsigned block_z,
                           unsigned shared_bytes, cu::CUstream stream, void** params,
                           void** extra) = nullptr;
  // Memory.
  CUresult (*MemAlloc)(CUdeviceptr* ptr, size_t bytes) = nullptr;
  CUresult (*MemFree)(CUdeviceptr ptr) = nullptr;
  CUresult (*MemHostAlloc)(void** ptr, size_t bytes, unsigned flags) = nullptr;
  CUresult (*MemFreeHost)(void* ptr) = nullptr;
  CUresult (*MemHostGetDevicePointer)(CUdeviceptr* dptr, void* host, unsigned flags) = nullptr;
  CUresult (*MemcpyHtoDAsync)(CUdeviceptr dst, const void* src, size_t bytes,
                              cu::CUstream stream) = nullptr;
  CUresult (*MemcpyDtoHAsync)(void* dst, CUdeviceptr src, size_t bytes,
                              cu::CUstream stream) = nullptr;
  CUresult (*MemcpyDtoDAsync)(CUdeviceptr dst, CUdeviceptr src, size_t bytes,
                              cu::CUstream stream) = nullptr;
  CUresult (*MemsetD8)(CUdeviceptr dst, unsigned char value, size_t count) = nullptr;
  CUresult (*MemsetD8Async)(CUdeviceptr dst, unsigned char value, size_t count,
                            cu::CUstream stream) = nullptr;
  CUresult (*MemsetD32Async)(CUdeviceptr dst, unsigned value, size_t count,
                             cu::CUstream stream) = nullptr;
  CUresult (*MemGetInfo)(size_t* free_bytes, size_t* total_bytes) = nullptr;
  // Stream-ordered allocation (CUDA 11.2+); optional: null when the driver lacks them.
  CUresult (*MemAllocAsync)(CUdeviceptr* ptr, size_t bytes, cu::CUstream stream) = nullptr;
  CUresult (*MemFreeAsync)(CUdeviceptr ptr, cu::CUstream stream) = nullptr;
  // Graphs (stream capture).
  CUresult (*StreamBeginCapture)(cu::CUstream stream, int mode) = nullptr;
  CUresult (*StreamEndCapture)(cu::CUstream stream, cu::CUgraph* graph) = nullptr;
  CUresult (*GraphInstantiateWithFlags)(cu::CUgraphExec* exec, cu::CUgraph graph,
                                        unsigned long long flags) = nullptr;
  CUresult (*GraphLaunch)(cu::CUgraphExec exec, cu::CUstream stream) = nullptr;
  CUresult (*GraphExecDestroy)(cu::CUgraphExec exec) = nullptr;
  CUresult (*GraphDestroy)(cu::CUgraph graph) = nullptr;
};

// The process-wide driver (loaded and initialised on first call; see the banner).
absl::StatusOr<const DriverApi*> Driver();

// Loads the driver from `path` into a fresh table and calls cuInit, without touching the
// process-wide one. For tests and diagnostics; the library stays loaded.
absl::StatusOr<std::unique_ptr<DriverApi>> LoadDriver(const std::string& path);

// "CUDA_ERROR_OUT_OF_MEMORY" — from the driver when `api` has it, else from a built-in table
// (never null; unknown codes give "CUDA_ERROR_<code>").
std::string CuResultName(const DriverApi* api, cu::CUresult r);

// The status for a failed driver call (see the banner for the text and the codes).
absl::Status CuError(const DriverApi& api, cu::CUresult r, std::string_view call,
                     std::string_view what);

// True for errors after which the context is unusable (illegal address, launch failure,
// uncorrectable ECC...): the owner must drop everything on the device and fall back.
bool IsStickyError(cu::CUresult r);

}  // namespace ghostnv::runtime
