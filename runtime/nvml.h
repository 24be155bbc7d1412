// runtime/nvml.h — GPU telemetry through NVML (libnvidia-ml.so.1), loaded at run time.
//
// Nothing links NVML and no nvml.h is needed to build: Nvml() dlopens libnvidia-ml.so.1 the
// first time it is called (GHOSTNV_LIBNVML=/path overrides the name), looks up the few entry
// points below with dlsym and calls nvmlInit_v2. The types and constants we use are declared in
// namespace `nv` (mirroring nvml.h; nvml_abi_test.cc checks them wherever nvml.h exists).
// A machine without the library, or a driver that lacks a query, is not an error for anyone
// sampling: NvmlDevice::Sample() fills only the fields the device answers and leaves the rest
// empty. Only setup (finding the device) returns a Status, and callers treat even that as "no
// GPU block in the report".
//
//   absl::StatusOr<DeviceInfo> dev = FindDevice("cuda:0");
//   absl::StatusOr<NvmlDevice> gpu = NvmlDevice::ForPciBusId(dev->pci_bus_id);   // setup
//   if (gpu.ok()) {
//     GpuSample s = gpu->Sample();               // telemetry thread, any time
//     if (s.power_w) std::printf("%.0f W\n", *s.power_w);
//   }
//
// The CUDA device is mapped to the NVML device by PCI bus id ("0000:19:00.0"), never by index:
// CUDA_VISIBLE_DEVICES and NVML enumerate differently.
//
// Thread-safety: Nvml() is safe from any thread and computed once per process; NVML itself is
// thread-safe, so Sample() may run on any thread. Sample() allocates nothing and never fails,
// but each NVML query is a driver round trip (microseconds to a millisecond): sample from a
// control or telemetry thread, never from the audio callback. The library is never unloaded
// and nvmlShutdown is never called (other users in the process may share NVML).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ghostnv::runtime {

// The NVML ABI we use (mirrors nvml.h; names kCamelCase as in cuda_abi.h).
namespace nv {
using nvmlReturn_t = int;
struct nvmlDevice_st;
using nvmlDevice_t = nvmlDevice_st*;
struct nvmlUtilization_t {
  unsigned int gpu;     // percent of time a kernel ran over the last sample period
  unsigned int memory;  // percent of time device memory was read or written
};
struct nvmlMemory_t {  // v1 layout (nvmlDeviceGetMemoryInfo)
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
struct nvmlTemperature_v1_t {  // nvmlDeviceGetTemperatureV (the non-deprecated form since 13.0)
  unsigned int version;  // kTemperatureV1
  int sensorType;
  int temperature;
};
inline constexpr unsigned kTemperatureV1 = static_cast<unsigned>(sizeof(nvmlTemperature_v1_t)) | (1u << 24);
inline constexpr nvmlReturn_t kSuccess = 0;
inline constexpr nvmlReturn_t kErrorUninitialized = 1;
inline constexpr nvmlReturn_t kErrorInvalidArgument = 2;
inline constexpr nvmlReturn_t kErrorNotSupported = 3;
inline constexpr nvmlReturn_t kErrorNoPermission = 4;
inline constexpr nvmlReturn_t kErrorNotFound = 6;
inline constexpr nvmlReturn_t kErrorDriverNotLoaded = 9;
inline constexpr nvmlReturn_t kErrorGpuIsLost = 15;
inline constexpr nvmlReturn_t kErrorUnknown = 999;
inline constexpr int kTemperatureGpu = 0;  // nvmlTemperatureSensors_t
inline constexpr int kClockGraphics = 0;   // nvmlClockType_t
inline constexpr int kClockSm = 1;
inline constexpr int kClockMem = 2;
inline constexpr unsigned kDeviceNameBufferSize = 96;      // NVML_DEVICE_NAME_V2_BUFFER_SIZE
inline constexpr unsigned kDriverVersionBufferSize = 80;   // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE
// nvmlClocksEventReasons (formerly ClocksThrottleReasons) bits.
inline constexpr uint64_t kClocksEventGpuIdle = 0x1;
inline constexpr uint64_t kClocksEventApplicationsClocksSetting = 0x2;
inline constexpr uint64_t kClocksEventSwPowerCap = 0x4;
inline constexpr uint64_t kClocksEventHwSlowdown = 0x8;
inline constexpr uint64_t kClocksEventSyncBoost = 0x10;
inline constexpr uint64_t kClocksEventSwThermalSlowdown = 0x20;
inline constexpr uint64_t kClocksEventHwThermalSlowdown = 0x40;
inline constexpr uint64_t kClocksEventHwPowerBrakeSlowdown = 0x80;
inline constexpr uint64_t kClocksEventDisplayClockSetting = 0x100;
}  // namespace nv

// The entry points. The first four are required; any other may be null (older driver), and the
// sample fields it would fill stay empty.
struct NvmlApi {
  std::string library;         // what was dlopen'ed
  std::string driver_version;  // "580.95.05", empty when unknown

  nv::nvmlReturn_t (*Init)() = nullptr;                                   // nvmlInit_v2
  nv::nvmlReturn_t (*Shutdown)() = nullptr;                               // nvmlShutdown
  const char* (*ErrorString)(nv::nvmlReturn_t r) = nullptr;              // nvmlErrorString
  nv::nvmlReturn_t (*DeviceGetHandleByPciBusId)(const char* bus_id, nv::nvmlDevice_t* dev) = nullptr;  // _v2
  nv::nvmlReturn_t (*SystemGetDriverVersion)(char* version, unsigned len) = nullptr;
  nv::nvmlReturn_t (*DeviceGetName)(nv::nvmlDevice_t dev, char* name, unsigned len) = nullptr;
  nv::nvmlReturn_t (*DeviceGetUtilizationRates)(nv::nvmlDevice_t dev, nv::nvmlUtilization_t* u) = nullptr;
  nv::nvmlReturn_t (*DeviceGetMemoryInfo)(nv::nvmlDevice_t dev, nv::nvmlMemory_t* m) = nullptr;
  nv::nvmlReturn_t (*DeviceGetTemperatureV)(nv::nvmlDevice_t dev, nv::nvmlTemperature_v1_t* t) = nullptr;
  nv::nvmlReturn_t (*DeviceGetTemperature)(nv::nvmlDevice_t dev, int sensor, unsigned* celsius) = nullptr;  // old
  nv::nvmlReturn_t (*DeviceGetPowerUsage)(nv::nvmlDevice_t dev, unsigned* milliwatts) = nullptr;
  nv::nvmlReturn_t (*DeviceGetEnforcedPowerLimit)(nv::nvmlDevice_t dev, unsigned* milliwatts) = nullptr;
  nv::nvmlReturn_t (*DeviceGetClockInfo)(nv::nvmlDevice_t dev, int type, unsigned* mhz) = nullptr;
  // nvmlDeviceGetCurrentClocksEventReasons, else the older ...ClocksThrottleReasons.
  nv::nvmlReturn_t (*DeviceGetClocksEventReasons)(nv::nvmlDevice_t dev, unsigned long long* mask) = nullptr;
};

// The process-wide NVML (loaded and initialised on first call). Unavailable: no library
// ("no NVML: cannot load libnvidia-ml.so.1 (...)"), missing required entry point, or
// nvmlInit failing (text names NVML's error).
absl::StatusOr<const NvmlApi*> Nvml();
// Loads NVML from `path` into a fresh table and initialises it (tests, diagnostics).
absl::StatusOr<std::unique_ptr<NvmlApi>> LoadNvml(const std::string& path);

// One reading. Every field is empty when the device, the driver or the permissions do not
// offer it.
struct GpuSample {
  std::optional<unsigned> gpu_utilization_pct;
  std::optional<unsigned> memory_utilization_pct;
  std::optional<uint64_t> memory_used_bytes;
  std::optional<uint64_t> memory_total_bytes;
  std::optional<unsigned> temperature_c;
  std::optional<double> power_w;
  std::optional<double> power_limit_w;
  std::optional<unsigned> sm_clock_mhz;
  std::optional<unsigned> memory_clock_mhz;
  std::optional<uint64_t> clocks_event_reasons;  // nv::kClocksEvent* bits; 0 = running at full clocks
};

// "gpu_idle", "sw_power_cap", "hw_slowdown", ... for each set bit ("0x200" for unknown bits).
std::vector<std::string> ClocksEventReasonNames(uint64_t mask);

class NvmlDevice {
 public:
  // The NVML device with this PCI bus id (DeviceInfo::pci_bus_id, e.g. "0000:19:00.0"), through
  // the process-wide NVML. Unavailable without NVML; NotFound when NVML has no such device.
  static absl::StatusOr<NvmlDevice> ForPciBusId(std::string_view bus_id);
  // The same through an explicit table (tests).
  static absl::StatusOr<NvmlDevice> ForPciBusId(const NvmlApi& api, std::string_view bus_id);

  // Reads every supported query; unsupported or failing ones leave their fields empty.
  // Never fails, never allocates (see the banner for where to call it).
  GpuSample Sample() const noexcept;

  const std::string& name() const { return name_; }              // "NVIDIA H200", may be empty
  const std::string& pci_bus_id() const { return bus_id_; }
  const NvmlApi& api() const { return *api_; }

 private:
  NvmlDevice(const NvmlApi* api, nv::nvmlDevice_t dev, std::string bus_id, std::string name)
      : api_(api), dev_(dev), bus_id_(std::move(bus_id)), name_(std::move(name)) {}
  const NvmlApi* api_ = nullptr;
  nv::nvmlDevice_t dev_ = nullptr;
  std::string bus_id_;
  std::string name_;
};

}  // namespace ghostnv::runtime
