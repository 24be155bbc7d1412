// Checks the NVML declarations in runtime/nvml.h against the toolkit's nvml.h (built only where
// nvml.h exists): every constant, struct layout and the entry points' parameter shapes.
#include <gtest/gtest.h>
#include <nvml.h>

#include <cstddef>
#include <type_traits>

#include "runtime/nvml.h"

namespace ghostnv::runtime {
namespace {

template <typename R, typename... A>
constexpr size_t Arity(R (*)(A...)) { return sizeof...(A); }

#define SAME(ours, theirs) \
  static_assert(static_cast<long long>(nv::ours) == static_cast<long long>(theirs), #ours " != " #theirs)

SAME(kSuccess, NVML_SUCCESS);
SAME(kErrorUninitialized, NVML_ERROR_UNINITIALIZED);
SAME(kErrorInvalidArgument, NVML_ERROR_INVALID_ARGUMENT);
SAME(kErrorNotSupported, NVML_ERROR_NOT_SUPPORTED);
SAME(kErrorNoPermission, NVML_ERROR_NO_PERMISSION);
SAME(kErrorNotFound, NVML_ERROR_NOT_FOUND);
SAME(kErrorDriverNotLoaded, NVML_ERROR_DRIVER_NOT_LOADED);
SAME(kErrorGpuIsLost, NVML_ERROR_GPU_IS_LOST);
SAME(kErrorUnknown, NVML_ERROR_UNKNOWN);
SAME(kTemperatureGpu, NVML_TEMPERATURE_GPU);
SAME(kClockGraphics, NVML_CLOCK_GRAPHICS);
SAME(kClockSm, NVML_CLOCK_SM);
SAME(kClockMem, NVML_CLOCK_MEM);
SAME(kDeviceNameBufferSize, NVML_DEVICE_NAME_V2_BUFFER_SIZE);
SAME(kDriverVersionBufferSize, NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE);

// The reason bits were renamed (ClocksThrottleReason -> ClocksEventReason) in CUDA 12.2; either
// name is checked where the header has it.
#ifdef nvmlClocksEventReasonGpuIdle
SAME(kClocksEventGpuIdle, nvmlClocksEventReasonGpuIdle);
#endif
#ifdef nvmlClocksThrottleReasonGpuIdle
SAME(kClocksEventGpuIdle, nvmlClocksThrottleReasonGpuIdle);
#endif
#ifdef nvmlClocksEventReasonApplicationsClocksSetting
SAME(kClocksEventApplicationsClocksSetting, nvmlClocksEventReasonApplicationsClocksSetting);
#endif
#ifdef nvmlClocksThrottleReasonApplicationsClocksSetting
SAME(kClocksEventApplicationsClocksSetting, nvmlClocksThrottleReasonApplicationsClocksSetting);
#endif
#ifdef nvmlClocksEventReasonSwPowerCap
SAME(kClocksEventSwPowerCap, nvmlClocksEventReasonSwPowerCap);
#endif
#ifdef nvmlClocksThrottleReasonSwPowerCap
SAME(kClocksEventSwPowerCap, nvmlClocksThrottleReasonSwPowerCap);
#endif
#ifdef nvmlClocksEventReasonHwSlowdown
SAME(kClocksEventHwSlowdown, nvmlClocksEventReasonHwSlowdown);
#endif
#ifdef nvmlClocksThrottleReasonHwSlowdown
SAME(kClocksEventHwSlowdown, nvmlClocksThrottleReasonHwSlowdown);
#endif
#ifdef nvmlClocksEventReasonSyncBoost
SAME(kClocksEventSyncBoost, nvmlClocksEventReasonSyncBoost);
#endif
#ifdef nvmlClocksThrottleReasonSyncBoost
SAME(kClocksEventSyncBoost, nvmlClocksThrottleReasonSyncBoost);
#endif
#ifdef nvmlClocksEventReasonSwThermalSlowdown
SAME(kClocksEventSwThermalSlowdown, nvmlClocksEventReasonSwThermalSlowdown);
#endif
#ifdef nvmlClocksThrottleReasonSwThermalSlowdown
SAME(kClocksEventSwThermalSlowdown, nvmlClocksThrottleReasonSwThermalSlowdown);
#endif
#ifdef nvmlClocksEventReasonHwThermalSlowdown
SAME(kClocksEventHwThermalSlowdown, nvmlClocksEventReasonHwThermalSlowdown);
#endif
#ifdef nvmlClocksThrottleReasonHwThermalSlowdown
SAME(kClocksEventHwThermalSlowdown, nvmlClocksThrottleReasonHwThermalSlowdown);
#endif
#ifdef nvmlClocksEventReasonHwPowerBrakeSlowdown
SAME(kClocksEventHwPowerBrakeSlowdown, nvmlClocksEventReasonHwPowerBrakeSlowdown);
#endif
#ifdef nvmlClocksThrottleReasonHwPowerBrakeSlowdown
SAME(kClocksEventHwPowerBrakeSlowdown, nvmlClocksThrottleReasonHwPowerBrakeSlowdown);
#endif
#ifdef nvmlClocksEventReasonDisplayClockSetting
SAME(kClocksEventDisplayClockSetting, nvmlClocksEventReasonDisplayClockSetting);
#endif
#ifdef nvmlClocksThrottleReasonDisplayClockSetting
SAME(kClocksEventDisplayClockSetting, nvmlClocksThrottleReasonDisplayClockSetting);
#endif

static_assert(sizeof(nv::nvmlReturn_t) == sizeof(::nvmlReturn_t));
static_assert(sizeof(nv::nvmlDevice_t) == sizeof(::nvmlDevice_t));
static_assert(sizeof(nv::nvmlUtilization_t) == sizeof(::nvmlUtilization_t));
static_assert(offsetof(nv::nvmlUtilization_t, gpu) == offsetof(::nvmlUtilization_t, gpu));
static_assert(offsetof(nv::nvmlUtilization_t, memory) == offsetof(::nvmlUtilization_t, memory));
static_assert(sizeof(nv::nvmlMemory_t) == sizeof(::nvmlMemory_t));
static_assert(offsetof(nv::nvmlMemory_t, total) == offsetof(::nvmlMemory_t, total));
static_assert(offsetof(nv::nvmlMemory_t, free) == offsetof(::nvmlMemory_t, free));
static_assert(offsetof(nv::nvmlMemory_t, used) == offsetof(::nvmlMemory_t, used));
static_assert(sizeof(int) == sizeof(::nvmlTemperatureSensors_t));
#ifdef nvmlTemperature_v1
static_assert(sizeof(nv::nvmlTemperature_v1_t) == sizeof(::nvmlTemperature_v1_t));
static_assert(offsetof(nv::nvmlTemperature_v1_t, sensorType) == offsetof(::nvmlTemperature_v1_t, sensorType));
static_assert(offsetof(nv::nvmlTemperature_v1_t, temperature) == offsetof(::nvmlTemperature_v1_t, temperature));
static_assert(nv::kTemperatureV1 == nvmlTemperature_v1);
static_assert(Arity(&::nvmlDeviceGetTemperatureV) == 2);
#endif
static_assert(sizeof(int) == sizeof(::nvmlClockType_t));

// Entry points: the same number of parameters (our handles are our own types).
static_assert(Arity(&::nvmlInit_v2) == 0);
static_assert(Arity(&::nvmlDeviceGetHandleByPciBusId_v2) == 2);
static_assert(Arity(&::nvmlDeviceGetUtilizationRates) == 2);
static_assert(Arity(&::nvmlDeviceGetMemoryInfo) == 2);
static_assert(Arity(&::nvmlDeviceGetPowerUsage) == 2);
static_assert(Arity(&::nvmlDeviceGetEnforcedPowerLimit) == 2);
static_assert(Arity(&::nvmlDeviceGetClockInfo) == 3);
static_assert(Arity(&::nvmlSystemGetDriverVersion) == 2);
static_assert(Arity(&::nvmlDeviceGetName) == 3);

TEST(NvmlAbi, MatchesToolkitHeader) { SUCCEED() << "checked at compile time"; }

}  // namespace
}  // namespace ghostnv::runtime
