// runtime/fake_libnvml.cc — a stand-in libnvidia-ml.so.1 for nvml_test.cc (test only).
//
// One GPU at PCI bus id FAKE_NVML_BUS_ID (default "00000000:19:00.0"; a request matches when
// its bus:device.function part and its domain's value agree, as NVML accepts "0000:19:00.0"),
// with fixed readings the test knows. Behaviour from the environment, read on every call:
//   FAKE_NVML_INIT          what nvmlInit_v2 returns (default 0)
//   FAKE_NVML_UNSUPPORTED   comma-separated entry point names that answer NOT_SUPPORTED (3)
// Built twice: the full library, and with FAKE_NVML_MINIMAL only the four required entry
// points (an old or partial NVML).
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

struct nvmlDevice_st {
  int unused;
};
nvmlDevice_st g_device;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoi(v) : fallback;
}

bool Unsupported(const char* fn) {
  const char* v = std::getenv("FAKE_NVML_UNSUPPORTED");
  if (v == nullptr) return false;
  const std::string list = std::string(",") + v + ",";
  return list.find(std::string(",") + fn + ",") != std::string::npos;
}

// "0000:19:00.0" / "00000000:19:00.0" -> domain value and "19:00.0" (lower case).
bool Split(const char* id, unsigned long* domain, std::string* rest) {
  std::string s(id);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t colon = s.find(':');
  if (colon == std::string::npos || s.find(':', colon + 1) == std::string::npos) {
    *domain = 0;
    *rest = s;
    return true;
  }
  *domain = std::strtoul(s.substr(0, colon).c_str(), nullptr, 16);
  *rest = s.substr(colon + 1);
  return true;
}

}  // namespace

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

FAKE_EXPORT int nvmlInit_v2() { return EnvInt("FAKE_NVML_INIT", 0); }
FAKE_EXPORT int nvmlShutdown() { return 0; }
FAKE_EXPORT const char* nvmlErrorString(int r) {
  switch (r) {
    case 0: return "Success";
    case 3: return "Not Supported";
    case 6: return "Not Found";
    case 9: return "Driver Not Loaded";
    default: return "Unknown Error";
  }
}
FAKE_EXPORT int nvmlDeviceGetHandleByPciBusId_v2(const char* bus_id, nvmlDevice_st** dev) {
  if (bus_id == nullptr || dev == nullptr) return 2;
  const char* env = std::getenv("FAKE_NVML_BUS_ID");
  unsigned long d1 = 0, d2 = 0;
  std::string r1, r2;
  Split(bus_id, &d1, &r1);
  Split(env != nullptr ? env : "00000000:19:00.0", &d2, &r2);
  if (d1 != d2 || r1 != r2) return 6;
  *dev = &g_device;
  return 0;
}

#ifndef FAKE_NVML_MINIMAL
FAKE_EXPORT int nvmlSystemGetDriverVersion(char* v, unsigned len) {
  std::strncpy(v, "999.12.34", len);
  return 0;
}
FAKE_EXPORT int nvmlDeviceGetName(nvmlDevice_st*, char* name, unsigned len) {
  std::strncpy(name, "Fake GPU 9000", len);
  return 0;
}
struct Utilization {
  unsigned gpu, memory;
};
FAKE_EXPORT int nvmlDeviceGetUtilizationRates(nvmlDevice_st*, Utilization* u) {
  if (Unsupported("nvmlDeviceGetUtilizationRates")) return 3;
  u->gpu = 37;
  u->memory = 12;
  return 0;
}
struct Memory {
  unsigned long long total, free, used;
};
FAKE_EXPORT int nvmlDeviceGetMemoryInfo(nvmlDevice_st*, Memory* m) {
  if (Unsupported("nvmlDeviceGetMemoryInfo")) return 3;
  m->total = 150754820096ULL;  // 140.4 GiB
  m->used = 1ULL << 30;
  m->free = m->total - m->used;
  return 0;
}
struct TemperatureV1 {
  unsigned version;
  int sensor;
  int temperature;
};
FAKE_EXPORT int nvmlDeviceGetTemperatureV(nvmlDevice_st*, TemperatureV1* t) {
  if (Unsupported("nvmlDeviceGetTemperatureV")) return 3;
  if (t->version != (sizeof(TemperatureV1) | (1u << 24)) || t->sensor != 0) return 2;
  t->temperature = 42;
  return 0;
}
FAKE_EXPORT int nvmlDeviceGetTemperature(nvmlDevice_st*, int sensor, unsigned* t) {
  if (Unsupported("nvmlDeviceGetTemperature") || sensor != 0) return 3;
  *t = 41;
  return 0;
}
FAKE_EXPORT int nvmlDeviceGetPowerUsage(nvmlDevice_st*, unsigned* mw) {
  if (Unsupported("nvmlDeviceGetPowerUsage")) return 3;
  *mw = 123456;
  return 0;
}
FAKE_EXPORT int nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_st*, unsigned* mw) {
  if (Unsupported("nvmlDeviceGetEnforcedPowerLimit")) return 3;
  *mw = 700000;
  return 0;
}
FAKE_EXPORT int nvmlDeviceGetClockInfo(nvmlDevice_st*, int type, unsigned* mhz) {
  if (Unsupported("nvmlDeviceGetClockInfo")) return 3;
  if (type == 1) *mhz = 1980;       // SM
  else if (type == 2) *mhz = 3201;  // memory
  else return 2;
  return 0;
}
FAKE_EXPORT int nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_st*, unsigned long long* mask) {
  if (Unsupported("nvmlDeviceGetCurrentClocksEventReasons")) return 3;
  *mask = 0x1 | 0x4 | 0x1000;  // idle, power cap and a bit nobody named yet
  return 0;
}
#endif
