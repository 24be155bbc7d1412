// Checks runtime/cuda_abi.h against the toolkit's cuda.h and nvrtc.h (built only where the
// headers exist): every constant and handle type the runtime declares itself must match.
#include "runtime/cuda_abi.h"

#include <cuda.h>
#include <gtest/gtest.h>
#include <nvrtc.h>

#include <type_traits>

namespace ghostnv::runtime {
namespace {

#define SAME(ours, theirs) static_assert(static_cast<long long>(cu::ours) == static_cast<long long>(theirs), #ours)

SAME(kSuccess, CUDA_SUCCESS);
SAME(kErrorInvalidValue, CUDA_ERROR_INVALID_VALUE);
SAME(kErrorOutOfMemory, CUDA_ERROR_OUT_OF_MEMORY);
SAME(kErrorNotInitialized, CUDA_ERROR_NOT_INITIALIZED);
SAME(kErrorDeinitialized, CUDA_ERROR_DEINITIALIZED);
SAME(kErrorDeviceUnavailable, CUDA_ERROR_DEVICE_UNAVAILABLE);
SAME(kErrorNoDevice, CUDA_ERROR_NO_DEVICE);
SAME(kErrorInvalidDevice, CUDA_ERROR_INVALID_DEVICE);
SAME(kErrorInvalidImage, CUDA_ERROR_INVALID_IMAGE);
SAME(kErrorInvalidContext, CUDA_ERROR_INVALID_CONTEXT);
SAME(kErrorNoBinaryForGpu, CUDA_ERROR_NO_BINARY_FOR_GPU);
SAME(kErrorEccUncorrectable, CUDA_ERROR_ECC_UNCORRECTABLE);
SAME(kErrorUnsupportedPtxVersion, CUDA_ERROR_UNSUPPORTED_PTX_VERSION);
SAME(kErrorInvalidHandle, CUDA_ERROR_INVALID_HANDLE);
SAME(kErrorNotFound, CUDA_ERROR_NOT_FOUND);
SAME(kErrorNotReady, CUDA_ERROR_NOT_READY);
SAME(kErrorIllegalAddress, CUDA_ERROR_ILLEGAL_ADDRESS);
SAME(kErrorLaunchOutOfResources, CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
SAME(kErrorLaunchTimeout, CUDA_ERROR_LAUNCH_TIMEOUT);
SAME(kErrorAssert, CUDA_ERROR_ASSERT);
SAME(kErrorHardwareStackError, CUDA_ERROR_HARDWARE_STACK_ERROR);
SAME(kErrorIllegalInstruction, CUDA_ERROR_ILLEGAL_INSTRUCTION);
SAME(kErrorMisalignedAddress, CUDA_ERROR_MISALIGNED_ADDRESS);
SAME(kErrorInvalidAddressSpace, CUDA_ERROR_INVALID_ADDRESS_SPACE);
SAME(kErrorInvalidPc, CUDA_ERROR_INVALID_PC);
SAME(kErrorLaunchFailed, CUDA_ERROR_LAUNCH_FAILED);
SAME(kErrorNotSupported, CUDA_ERROR_NOT_SUPPORTED);
SAME(kErrorSystemDriverMismatch, CUDA_ERROR_SYSTEM_DRIVER_MISMATCH);
SAME(kErrorCompatNotSupportedOnDevice, CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE);
SAME(kErrorStreamCaptureUnsupported, CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);

SAME(kAttrMaxThreadsPerBlock, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
SAME(kAttrMaxSharedMemoryPerBlock, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK);
SAME(kAttrMultiprocessorCount, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
SAME(kAttrCanMapHostMemory, CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY);
SAME(kAttrPciBusId, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID);
SAME(kAttrPciDeviceId, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID);
SAME(kAttrMemoryClockRate, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE);
SAME(kAttrGlobalMemoryBusWidth, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
SAME(kAttrL2CacheSize, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
SAME(kAttrUnifiedAddressing, CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING);
SAME(kAttrPciDomainId, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID);
SAME(kAttrComputeCapabilityMajor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
SAME(kAttrComputeCapabilityMinor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
SAME(kAttrMaxSharedMemoryPerBlockOptin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);

SAME(kFuncAttrMaxThreadsPerBlock, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
SAME(kFuncAttrSharedSizeBytes, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES);
SAME(kFuncAttrLocalSizeBytes, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES);
SAME(kFuncAttrNumRegs, CU_FUNC_ATTRIBUTE_NUM_REGS);
SAME(kFuncAttrMaxDynamicSharedSizeBytes, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);

SAME(kStreamNonBlocking, CU_STREAM_NON_BLOCKING);
SAME(kEventDefault, CU_EVENT_DEFAULT);
SAME(kEventBlockingSync, CU_EVENT_BLOCKING_SYNC);
SAME(kEventDisableTiming, CU_EVENT_DISABLE_TIMING);
SAME(kEventRecordDefault, CU_EVENT_RECORD_DEFAULT);
SAME(kEventRecordExternal, CU_EVENT_RECORD_EXTERNAL);
SAME(kMemHostAllocPortable, CU_MEMHOSTALLOC_PORTABLE);
SAME(kMemHostAllocDeviceMap, CU_MEMHOSTALLOC_DEVICEMAP);
SAME(kMemHostAllocWriteCombined, CU_MEMHOSTALLOC_WRITECOMBINED);
SAME(kStreamCaptureModeGlobal, CU_STREAM_CAPTURE_MODE_GLOBAL);
SAME(kStreamCaptureModeThreadLocal, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
SAME(kStreamCaptureModeRelaxed, CU_STREAM_CAPTURE_MODE_RELAXED);
SAME(kGetProcAddressLegacyStream, CU_GET_PROC_ADDRESS_LEGACY_STREAM);
SAME(kGetProcAddressSuccess, CU_GET_PROC_ADDRESS_SUCCESS);
SAME(kGetProcAddressSymbolNotFound, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
SAME(kGetProcAddressVersionNotSufficient, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
SAME(kNvrtcSuccess, NVRTC_SUCCESS);
SAME(kNvrtcErrorCompilation, NVRTC_ERROR_COMPILATION);

static_assert(sizeof(cu::CUdeviceptr) == sizeof(::CUdeviceptr));
static_assert(sizeof(cu::CUdevice) == sizeof(::CUdevice));
static_assert(sizeof(cu::CUresult) == sizeof(::CUresult));
static_assert(sizeof(cu::CUcontext) == sizeof(::CUcontext));
static_assert(std::is_pointer_v<cu::CUstream> && std::is_pointer_v<::CUstream>);

TEST(CudaAbi, MatchesToolkitHeaders) { SUCCEED() << "checked at compile time (CUDA " << CUDA_VERSION << ")"; }

}  // namespace
}  // namespace ghostnv::runtime
