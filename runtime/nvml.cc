// runtime/nvml.cc — dlopen loader for NVML and the device sampler.
#include "runtime/nvml.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ghostnv::runtime {
namespace {

template <typename Fn>
void Sym(void* lib, const char* name, Fn* fn) {
  *fn = reinterpret_cast<Fn>(dlsym(lib, name));
}

std::string NvmlErrorText(const NvmlApi& api, nv::nvmlReturn_t r) {
  const char* s = api.ErrorString != nullptr ? api.ErrorString(r) : nullptr;
  return absl::StrCat("NVML error ", r, s != nullptr ? absl::StrCat(" (", s, ")") : std::string());
}

}  // namespace

absl::StatusOr<std::unique_ptr<NvmlApi>> LoadNvml(const std::string& path) {
  dlerror();
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    return absl::UnavailableError(
        absl::StrCat("no NVML: cannot load ", path, " (", why != nullptr ? why : "unknown reason", ")"));
  }
  auto api = std::make_unique<NvmlApi>();
  api->library = path;
  Sym(lib, "nvmlInit_v2", &api->Init);
  Sym(lib, "nvmlShutdown", &api->Shutdown);
  Sym(lib, "nvmlErrorString", &api->ErrorString);
  Sym(lib, "nvmlDeviceGetHandleByPciBusId_v2", &api->DeviceGetHandleByPciBusId);
  if (api->DeviceGetHandleByPciBusId == nullptr)
    Sym(lib, "nvmlDeviceGetHandleByPciBusId", &api->DeviceGetHandleByPciBusId);
  for (auto [name, fn] : {std::pair<const char*, bool>{"nvmlInit_v2", api->Init != nullptr},
                          {"nvmlShutdown", api->Shutdown != nullptr},
                          {"nvmlErrorString", api->ErrorString != nullptr},
                          {"nvmlDeviceGetHandleByPciBusId_v2", api->DeviceGetHandleByPciBusId != nullptr}}) {
    if (!fn) {
      return absl::UnavailableError(absl::StrCat(path, " is not a usable NVML: ", name, " not found"));
    }
  }
  Sym(lib, "nvmlSystemGetDriverVersion", &api->SystemGetDriverVersion);
  Sym(lib, "nvmlDeviceGetName", &api->DeviceGetName);
  Sym(lib, "nvmlDeviceGetUtilizationRates", &api->DeviceGetUtilizationRates);
  Sym(lib, "nvmlDeviceGetMemoryInfo", &api->DeviceGetMemoryInfo);
  Sym(lib, "nvmlDeviceGetTemperatureV", &api->DeviceGetTemperatureV);
  Sym(lib, "nvmlDeviceGetTemperature", &api->DeviceGetTemperature);
  Sym(lib, "nvmlDeviceGetPowerUsage", &api->DeviceGetPowerUsage);
  Sym(lib, "nvmlDeviceGetEnforcedPowerLimit", &api->DeviceGetEnforcedPowerLimit);
  Sym(lib, "nvmlDeviceGetClockInfo", &api->DeviceGetClockInfo);
  Sym(lib, "nvmlDeviceGetCurrentClocksEventReasons", &api->DeviceGetClocksEventReasons);
  if (api->DeviceGetClocksEventReasons == nullptr)
    Sym(lib, "nvmlDeviceGetCurrentClocksThrottleReasons", &api->DeviceGetClocksEventReasons);

  if (nv::nvmlReturn_t r = api->Init(); r != nv::kSuccess) {
    return absl::UnavailableError(absl::StrCat("no NVML: nvmlInit_v2 in ", path, " failed: ", NvmlErrorText(*api, r)));
  }
  if (api->SystemGetDriverVersion != nullptr) {
    char v[nv::kDriverVersionBufferSize] = {};
    if (api->SystemGetDriverVersion(v, sizeof(v)) == nv::kSuccess) {
      v[sizeof(v) - 1] = '\0';
      api->driver_version = v;
    }
  }
  return api;
}

absl::StatusOr<const NvmlApi*> Nvml() {
  static const absl::StatusOr<std::unique_ptr<NvmlApi>>* const loaded = [] {
    const char* env = std::getenv("GHOSTNV_LIBNVML");
    const std::string path = (env != nullptr && env[0] != '\0') ? env : "libnvidia-ml.so.1";
    return new absl::StatusOr<std::unique_ptr<NvmlApi>>(LoadNvml(path));
  }();
  if (!loaded->ok()) return loaded->status();
  return loaded->value().get();
}

std::vector<std::string> ClocksEventReasonNames(uint64_t mask) {
  static constexpr std::pair<uint64_t, const char*> kNames[] = {
      {nv::kClocksEventGpuIdle, "gpu_idle"},
      {nv::kClocksEventApplicationsClocksSetting, "applications_clocks_setting"},
      {nv::kClocksEventSwPowerCap, "sw_power_cap"},
      {nv::kClocksEventHwSlowdown, "hw_slowdown"},
      {nv::kClocksEventSyncBoost, "sync_boost"},
      {nv::kClocksEventSwThermalSlowdown, "sw_thermal_slowdown"},
      {nv::kClocksEventHwThermalSlowdown, "hw_thermal_slowdown"},
      {nv::kClocksEventHwPowerBrakeSlowdown, "hw_power_brake_slowdown"},
      {nv::kClocksEventDisplayClockSetting, "display_clock_setting"},
  };
  std::vector<std::string> out;
  for (const auto& [bit, name] : kNames) {
    if (mask & bit) {
      out.emplace_back(name);
      mask &= ~bit;
    }
  }
  for (int b = 0; b < 64; ++b) {
    if (mask & (uint64_t{1} << b)) {
      char hex[24];
      std::snprintf(hex, sizeof(hex), "0x%llx", static_cast<unsigned long long>(uint64_t{1} << b));
      out.emplace_back(hex);
    }
  }
  return out;
}

absl::StatusOr<NvmlDevice> NvmlDevice::ForPciBusId(std::string_view bus_id) {
  absl::StatusOr<const NvmlApi*> api = Nvml();
  if (!api.ok()) return api.status();
  return ForPciBusId(**api, bus_id);
}

absl::StatusOr<NvmlDevice> NvmlDevice::ForPciBusId(const NvmlApi& api, std::string_view bus_id) {
  const std::string id(bus_id);
  nv::nvmlDevice_t dev = nullptr;
  if (nv::nvmlReturn_t r = api.DeviceGetHandleByPciBusId(id.c_str(), &dev); r != nv::kSuccess || dev == nullptr) {
    const std::string text =
        absl::StrCat("nvmlDeviceGetHandleByPciBusId_v2 failed finding the GPU at PCI ", id, ": ", NvmlErrorText(api, r));
    if (r == nv::kErrorNotFound || r == nv::kErrorInvalidArgument) return absl::NotFoundError(text);
    return absl::UnavailableError(text);
  }
  std::string name;
  if (api.DeviceGetName != nullptr) {
    char buf[nv::kDeviceNameBufferSize] = {};
    if (api.DeviceGetName(dev, buf, sizeof(buf)) == nv::kSuccess) {
      buf[sizeof(buf) - 1] = '\0';
      name = buf;
    }
  }
  return NvmlDevice(&api, dev, id, std::move(name));
}

GpuSample NvmlDevice::Sample() const noexcept {
  GpuSample s;
  const NvmlApi& a = *api_;
  if (a.DeviceGetUtilizationRates != nullptr) {
    nv::nvmlUtilization_t u{};
    if (a.DeviceGetUtilizationRates(dev_, &u) == nv::kSuccess) {
      s.gpu_utilization_pct = u.gpu;
      s.memory_utilization_pct = u.memory;
    }
  }
  if (a.DeviceGetMemoryInfo != nullptr) {
    nv::nvmlMemory_t m{};
    if (a.DeviceGetMemoryInfo(dev_, &m) == nv::kSuccess) {
      s.memory_used_bytes = m.used;
      s.memory_total_bytes = m.total;
    }
  }
  unsigned v = 0;
  nv::nvmlTemperature_v1_t t{nv::kTemperatureV1, nv::kTemperatureGpu, 0};
  if (a.DeviceGetTemperatureV != nullptr && a.DeviceGetTemperatureV(dev_, &t) == nv::kSuccess && t.temperature >= 0) {
    s.temperature_c = static_cast<unsigned>(t.temperature);
  } else if (a.DeviceGetTemperature != nullptr &&
             a.DeviceGetTemperature(dev_, nv::kTemperatureGpu, &v) == nv::kSuccess) {
    s.temperature_c = v;
  }
  if (a.DeviceGetPowerUsage != nullptr && a.DeviceGetPowerUsage(dev_, &v) == nv::kSuccess) s.power_w = v / 1000.0;
  if (a.DeviceGetEnforcedPowerLimit != nullptr && a.DeviceGetEnforcedPowerLimit(dev_, &v) == nv::kSuccess)
    s.power_limit_w = v / 1000.0;
  if (a.DeviceGetClockInfo != nullptr) {
    if (a.DeviceGetClockInfo(dev_, nv::kClockSm, &v) == nv::kSuccess) s.sm_clock_mhz = v;
    if (a.DeviceGetClockInfo(dev_, nv::kClockMem, &v) == nv::kSuccess) s.memory_clock_mhz = v;
  }
  if (a.DeviceGetClocksEventReasons != nullptr) {
    unsigned long long mask = 0;
    if (a.DeviceGetClocksEventReasons(dev_, &mask) == nv::kSuccess) s.clocks_event_reasons = mask;
  }
  return s;
}

}  // namespace ghostnv::runtime
