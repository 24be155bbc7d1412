// runtime/device.cc — device enumeration and selection.
#include "runtime/device.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>

#include <cctype>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/driver.h"

namespace ghostnv::runtime {
namespace {

bool IsHex(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

absl::StatusOr<DeviceInfo> QueryDevice(const DriverApi& api, int ordinal) {
  DeviceInfo d;
  d.ordinal = ordinal;
  const std::string what = absl::StrCat("querying device ", ordinal);
  if (cu::CUresult r = api.DeviceGet(&d.handle, ordinal); r != cu::kSuccess)
    return CuError(api, r, "cuDeviceGet", what);
  char name[256] = {};
  if (cu::CUresult r = api.DeviceGetName(name, sizeof(name) - 1, d.handle); r != cu::kSuccess)
    return CuError(api, r, "cuDeviceGetName", what);
  d.name = name;
  struct {
    int attr;
    int* out;
  } attrs[] = {{cu::kAttrComputeCapabilityMajor, &d.cc_major},
               {cu::kAttrComputeCapabilityMinor, &d.cc_minor},
               {cu::kAttrMultiprocessorCount, &d.multiprocessors},
               {cu::kAttrL2CacheSize, &d.l2_cache_bytes},
               {cu::kAttrMaxSharedMemoryPerBlockOptin, &d.max_shared_per_block_optin}};
  for (auto& a : attrs) {
    if (cu::CUresult r = api.DeviceGetAttribute(a.out, a.attr, d.handle); r != cu::kSuccess)
      return CuError(api, r, "cuDeviceGetAttribute", absl::StrCat(what, " (attribute ", a.attr, ")"));
  }
  int map = 0;
  if (api.DeviceGetAttribute(&map, cu::kAttrCanMapHostMemory, d.handle) == cu::kSuccess)
    d.can_map_host_memory = map != 0;
  if (cu::CUresult r = api.DeviceTotalMem(&d.total_memory, d.handle); r != cu::kSuccess)
    return CuError(api, r, "cuDeviceTotalMem", what);
  char bus[64] = {};
  if (api.DeviceGetPCIBusId(bus, sizeof(bus) - 1, d.handle) == cu::kSuccess)
    d.pci_bus_id = NormalizePciBusId(bus);
  if (!d.pci_bus_id.empty()) d.render_node = RenderNodeForPciBusId(d.pci_bus_id);
  return d;
}

}  // namespace

std::string DeviceInfo::ArchName() const { return absl::StrCat("sm_", Arch()); }

std::string DeviceInfo::Describe() const {
  std::string s = absl::StrCat("device ", ordinal, " (", name, ", ", ArchName());
  if (!pci_bus_id.empty()) absl::StrAppend(&s, ", ", pci_bus_id);
  absl::StrAppend(&s, ")");
  return s;
}

std::string NormalizePciBusId(std::string_view bus_id) {
  // [domain:]bus:device.function, hex fields.
  std::string s = absl::AsciiStrToLower(std::string(bus_id));
  const size_t dot = s.rfind('.');
  if (dot == std::string::npos) return "";
  const std::string head = s.substr(0, dot), func = s.substr(dot + 1);
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= head.size(); ++i) {
    if (i == head.size() || head[i] == ':') {
      parts.push_back(head.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() == 2) parts.insert(parts.begin(), "0000");
  if (parts.size() != 3 || !IsHex(func) || func.size() != 1) return "";
  for (const std::string& p : parts)
    if (!IsHex(p) || p.size() > 8) return "";
  if (parts[1].size() > 2 || parts[2].size() > 2) return "";
  auto pad = [](const std::string& p, size_t n) { return std::string(n > p.size() ? n - p.size() : 0, '0') + p; };
  return absl::StrCat(pad(parts[0], 4), ":", pad(parts[1], 2), ":", pad(parts[2], 2), ".", func);
}

std::string RenderNodeForPciBusId(std::string_view bus_id, const std::string& drm_class_dir) {
  const std::string want = NormalizePciBusId(bus_id);
  if (want.empty()) return "";
  DIR* dir = opendir(drm_class_dir.c_str());
  if (dir == nullptr) return "";
  std::string found;
  while (dirent* e = readdir(dir)) {
    if (std::strncmp(e->d_name, "renderD", 7) != 0) continue;
    const std::string link = absl::StrCat(drm_class_dir, "/", e->d_name, "/device");
    char resolved[PATH_MAX];
    if (realpath(link.c_str(), resolved) == nullptr) continue;
    const char* slash = std::strrchr(resolved, '/');
    const std::string leaf = NormalizePciBusId(slash != nullptr ? slash + 1 : resolved);
    if (leaf == want) {
      found = absl::StrCat("/dev/dri/", e->d_name);
      break;
    }
  }
  closedir(dir);
  return found;
}

absl::StatusOr<std::vector<DeviceInfo>> ListDevices() {
  absl::StatusOr<const DriverApi*> api = Driver();
  if (!api.ok()) return api.status();
  int count = 0;
  if (cu::CUresult r = (*api)->DeviceGetCount(&count); r != cu::kSuccess)
    return CuError(**api, r, "cuDeviceGetCount", "counting devices");
  if (count == 0) return absl::UnavailableError("the NVIDIA driver reports no CUDA device");
  std::vector<DeviceInfo> out;
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<DeviceInfo> d = QueryDevice(**api, i);
    if (!d.ok()) return d.status();
    out.push_back(*std::move(d));
  }
  return out;
}

absl::StatusOr<DeviceInfo> FindDevice(std::string_view selector) {
  std::string sel = absl::AsciiStrToLower(std::string(selector));
  if (sel.rfind("cuda:", 0) == 0) sel = sel.substr(5);
  else if (sel == "cuda") sel.clear();
  int index = -1;
  std::string bus;
  if (sel.empty()) {
    index = 0;
  } else if (!absl::SimpleAtoi(sel, &index) || index < 0) {
    index = -1;
    bus = NormalizePciBusId(sel);
    if (bus.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad device selector '", std::string(selector),
          "' (expected cuda, cuda:N, N or a PCI bus id such as 0000:19:00.0)"));
    }
  }
  absl::StatusOr<std::vector<DeviceInfo>> all = ListDevices();
  if (!all.ok()) return all.status();
  for (const DeviceInfo& d : *all) {
    if ((index >= 0 && d.ordinal == index) || (!bus.empty() && d.pci_bus_id == bus)) return d;
  }
  std::vector<std::string> names;
  for (const DeviceInfo& d : *all) names.push_back(d.Describe());
  return absl::NotFoundError(absl::StrCat("no CUDA device '", std::string(selector),
                                          "'; this machine has: ", absl::StrJoin(names, ", ")));
}

}  // namespace ghostnv::runtime
