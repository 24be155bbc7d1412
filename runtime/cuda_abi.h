// runtime/cuda_abi.h — the few CUDA driver-API and NVRTC types and constants the runtime uses,
// declared here so that the runtime builds on machines without the CUDA toolkit.
//
// The driver is never linked: runtime/driver.cc loads libcuda.so.1 with dlopen and asks
// cuGetProcAddress for each entry point with the CUDA 12.0 ABI (kDriverAbiVersion), and
// runtime/nvrtc.cc loads libnvrtc the same way. The types below mirror cuda.h / nvrtc.h: opaque
// handles are pointers to incomplete structs, results are ints, device pointers are 64-bit.
// cuda_abi_test.cc compares every constant with cuda.h wherever the toolkit is installed.
//
//   cu::CUstream s = nullptr;                      // only inside the RAII types (stream.h)
//   if (r == cu::kErrorNotReady) { ... }           // work still in flight
//
// Names follow cuda.h for types (CUstream, CUdeviceptr...) and kCamelCase for constants, because
// several of cuda.h's constants are macros that would clash with same-named declarations.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ghostnv::runtime::cu {

// The driver ABI the function table (driver.h) is written against.
inline constexpr int kDriverAbiVersion = 12000;

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
struct CUctx_st;
struct CUstream_st;
struct CUevent_st;
struct CUmod_st;
struct CUfunc_st;
struct CUgraph_st;
struct CUgraphExec_st;
using CUcontext = CUctx_st*;
using CUstream = CUstream_st*;
using CUevent = CUevent_st*;
using CUmodule = CUmod_st*;
using CUfunction = CUfunc_st*;
using CUgraph = CUgraph_st*;
using CUgraphExec = CUgraphExec_st*;

// CUresult values the runtime distinguishes (cuGetErrorName names all of them).
inline constexpr CUresult kSuccess = 0;
inline constexpr CUresult kErrorInvalidValue = 1;
inline constexpr CUresult kErrorOutOfMemory = 2;
inline constexpr CUresult kErrorNotInitialized = 3;
inline constexpr CUresult kErrorDeinitialized = 4;
inline constexpr CUresult kErrorDeviceUnavailable = 46;
inline constexpr CUresult kErrorNoDevice = 100;
inline constexpr CUresult kErrorInvalidDevice = 101;
inline constexpr CUresult kErrorInvalidImage = 200;
inline constexpr CUresult kErrorInvalidContext = 201;
inline constexpr CUresult kErrorNoBinaryForGpu = 209;
inline constexpr CUresult kErrorEccUncorrectable = 214;
inline constexpr CUresult kErrorUnsupportedPtxVersion = 222;
inline constexpr CUresult kErrorInvalidHandle = 400;
inline constexpr CUresult kErrorNotFound = 500;
inline constexpr CUresult kErrorNotReady = 600;
inline constexpr CUresult kErrorIllegalAddress = 700;
inline constexpr CUresult kErrorLaunchOutOfResources = 701;
inline constexpr CUresult kErrorLaunchTimeout = 702;
inline constexpr CUresult kErrorAssert = 710;
inline constexpr CUresult kErrorHardwareStackError = 714;
inline constexpr CUresult kErrorIllegalInstruction = 715;
inline constexpr CUresult kErrorMisalignedAddress = 716;
inline constexpr CUresult kErrorInvalidAddressSpace = 717;
inline constexpr CUresult kErrorInvalidPc = 718;
inline constexpr CUresult kErrorLaunchFailed = 719;
inline constexpr CUresult kErrorNotSupported = 801;
inline constexpr CUresult kErrorSystemDriverMismatch = 803;
inline constexpr CUresult kErrorCompatNotSupportedOnDevice = 804;
inline constexpr CUresult kErrorStreamCaptureUnsupported = 900;

// CUdevice_attribute values.
inline constexpr int kAttrMaxThreadsPerBlock = 1;
inline constexpr int kAttrMaxSharedMemoryPerBlock = 8;
inline constexpr int kAttrMultiprocessorCount = 16;
inline constexpr int kAttrCanMapHostMemory = 19;
inline constexpr int kAttrPciBusId = 33;
inline constexpr int kAttrPciDeviceId = 34;
inline constexpr int kAttrMemoryClockRate = 36;
inline constexpr int kAttrGlobalMemoryBusWidth = 37;
inline constexpr int kAttrL2CacheSize = 38;
inline constexpr int kAttrUnifiedAddressing = 41;
inline constexpr int kAttrPciDomainId = 50;
inline constexpr int kAttrComputeCapabilityMajor = 75;
inline constexpr int kAttrComputeCapabilityMinor = 76;
inline constexpr int kAttrMaxSharedMemoryPerBlockOptin = 97;

// CUfunction_attribute values.
inline constexpr int kFuncAttrMaxThreadsPerBlock = 0;
inline constexpr int kFuncAttrSharedSizeBytes = 1;
inline constexpr int kFuncAttrLocalSizeBytes = 3;
inline constexpr int kFuncAttrNumRegs = 4;
inline constexpr int kFuncAttrMaxDynamicSharedSizeBytes = 8;

// Flags.
inline constexpr unsigned kStreamNonBlocking = 0x1;
inline constexpr unsigned kEventDefault = 0x0;
inline constexpr unsigned kEventBlockingSync = 0x1;
inline constexpr unsigned kEventDisableTiming = 0x2;
inline constexpr unsigned kEventRecordDefault = 0x0;   // CUevent_record_flags
inline constexpr unsigned kEventRecordExternal = 0x1;  // during capture: an event-record node
inline constexpr unsigned kMemHostAllocPortable = 0x1;
inline constexpr unsigned kMemHostAllocDeviceMap = 0x2;
inline constexpr unsigned kMemHostAllocWriteCombined = 0x4;
inline constexpr int kStreamCaptureModeGlobal = 0;
inline constexpr int kStreamCaptureModeThreadLocal = 1;
inline constexpr int kStreamCaptureModeRelaxed = 2;
inline constexpr uint64_t kGetProcAddressLegacyStream = 0x1;
inline constexpr int kGetProcAddressSuccess = 0;
inline constexpr int kGetProcAddressSymbolNotFound = 1;
inline constexpr int kGetProcAddressVersionNotSufficient = 2;

// NVRTC.
using nvrtcResult = int;
struct _nvrtcProgram;
using nvrtcProgram = _nvrtcProgram*;
inline constexpr nvrtcResult kNvrtcSuccess = 0;
inline constexpr nvrtcResult kNvrtcErrorCompilation = 6;

}  // namespace ghostnv::runtime::cu
