// runtime/device.h — the CUDA devices of this machine: what they are and how to pick one.
//
// ListDevices() asks the driver (driver.h) for every device: name, compute capability, memory,
// multiprocessors, PCI bus id, and — where /sys/class/drm exists — the DRM render node that
// belongs to the same PCI function (read from sysfs, as libdrm does; no libdrm needed). Machines
// without /dev/dri (containers, VMs) simply get an empty render_node.
//
//   absl::StatusOr<DeviceInfo> dev = FindDevice("cuda:0");        // or "0", "0000:19:00.0"
//   if (!dev.ok()) return dev.status();                           // no driver, no such device
//   std::cout << dev->Describe();   // "device 0 (NVIDIA H200, sm_90, 0000:19:00.0)"
//
// Thread-safety: all functions are re-entrant. Setup path only (they allocate).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cuda_abi.h"

namespace ghostnv::runtime {

struct DeviceInfo {
  int ordinal = -1;               // the driver's index
  cu::CUdevice handle = 0;        // cuDeviceGet(ordinal)
  std::string name;               // "NVIDIA H200"
  int cc_major = 0, cc_minor = 0; // compute capability
  int multiprocessors = 0;
  size_t total_memory = 0;        // bytes
  int l2_cache_bytes = 0;
  int max_shared_per_block_optin = 0;  // bytes a block may use after opting in
  bool can_map_host_memory = false;
  std::string pci_bus_id;         // "0000:19:00.0", lower-case
  std::string render_node;        // "/dev/dri/renderD128", or empty when unknown

  int Arch() const { return cc_major * 10 + cc_minor; }  // 90 for sm_90
  std::string ArchName() const;                          // "sm_90"
  std::string Describe() const;   // "device 0 (NVIDIA H200, sm_90, 0000:19:00.0)"
};

// Every device the driver reports. Unavailable when there is no driver or no device.
absl::StatusOr<std::vector<DeviceInfo>> ListDevices();

// Picks a device by selector: "" / "cuda" (device 0), "N" / "cuda:N" (ordinal N), or a PCI bus
// id ("0000:19:00.0", or "19:00.0" for domain 0; case-insensitive). NotFound names the devices
// that exist; InvalidArgument for a malformed selector.
absl::StatusOr<DeviceInfo> FindDevice(std::string_view selector);

// "0000:19:00.0" from "19:00.0" / "0000:19:00.0" in any case; empty if it is not a bus id.
std::string NormalizePciBusId(std::string_view bus_id);

// The render node whose sysfs device is the PCI function `bus_id`, e.g. "/dev/dri/renderD128";
// empty when none matches or `drm_class_dir` (normally /sys/class/drm) is absent.
std::string RenderNodeForPciBusId(std::string_view bus_id,
                                  const std::string& drm_class_dir = "/sys/class/drm");

}  // namespace ghostnv::runtime
