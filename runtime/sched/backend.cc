// runtime/sched/backend.cc — backend selection: device discovery through runtime/device.h.
#include "runtime/sched/backend.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/device.h"
#include "runtime/driver.h"

namespace ghostnv::sched {
namespace {

bool AllDigits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// Why no GPU can be used, as one clause: "no NVIDIA driver (...)", "the NVIDIA driver reports
// no CUDA device", or the driver's error; empty when at least one device is listed.
std::string WhyNoGpu(std::vector<runtime::DeviceInfo>* devices) {
  absl::StatusOr<const runtime::DriverApi*> api = runtime::Driver();
  if (!api.ok()) {
    std::string m(api.status().message());
    // The loader's "no NVIDIA driver: cannot load X (why)" reads better as "no NVIDIA driver (...)".
    if (absl::StartsWith(m, "no NVIDIA driver: ")) {
      m = absl::StrCat("no NVIDIA driver (", m.substr(18), ")");
    }
    return m;
  }
  absl::StatusOr<std::vector<runtime::DeviceInfo>> list = runtime::ListDevices();
  if (!list.ok()) return std::string(list.status().message());
  if (list->empty()) return "the NVIDIA driver reports no CUDA device";
  if (devices != nullptr) *devices = std::move(*list);
  return "";
}

}  // namespace

const char* BackendKindName(BackendKind kind) {
  switch (kind) {
    case BackendKind::kAuto: return "auto";
    case BackendKind::kCpu: return "cpu";
    case BackendKind::kCuda: return "cuda";
  }
  return "?";
}

absl::StatusOr<BackendKind> ParseBackendKind(std::string_view name) {
  const std::string n = absl::AsciiStrToLower(std::string(name));
  if (n == "auto") return BackendKind::kAuto;
  if (n == "cpu") return BackendKind::kCpu;
  if (n == "cuda") return BackendKind::kCuda;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown backend '", std::string(name), "' (expected auto, cpu or cuda)"));
}

std::string BackendRequest::Spelling() const {
  if (kind != BackendKind::kCuda || device.empty()) return BackendKindName(kind);
  if (AllDigits(device)) return absl::StrCat("cuda:", device);
  return device;
}

absl::StatusOr<BackendRequest> ParseBackend(std::string_view text) {
  const std::string n = absl::AsciiStrToLower(std::string(text));
  BackendRequest r;
  if (n == "auto") return r;
  if (n == "cpu") {
    r.kind = BackendKind::kCpu;
    return r;
  }
  r.kind = BackendKind::kCuda;
  if (n == "cuda") return r;
  std::string rest = n;
  if (absl::StartsWith(n, "cuda:")) rest = n.substr(5);
  if (AllDigits(rest) && rest.size() <= 4) {
    int index = 0;
    if (absl::SimpleAtoi(rest, &index)) {
      r.device = absl::StrCat(index);
      return r;
    }
  }
  const std::string bus = runtime::NormalizePciBusId(rest);
  if (!bus.empty()) {
    r.device = bus;
    return r;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown backend '", std::string(text),
      "' (expected auto, cpu, cuda, cuda:N or a PCI bus id such as 0000:19:00.0)"));
}

bool FamilyHasCudaPlan(std::string_view family) {
  // rnnoise: CudaPlan (runtime/sched/cuda_plan.h); ultra: the fused hop kernel
  // (runtime/sched/persistent/ultra_plan.h), graph replay by default; dtln: DtlnCudaPlan
  // behind the CudaPlan interface (models/dtln/cuda/dtln_backend_plan.h); dfn3: Dfn3CudaPlan
  // likewise (models/dfn3/cuda/dfn3_backend_plan.h); demucs: DemucsCudaPlan likewise
  // (models/demucs/cuda/demucs_backend_plan.h).
  const std::string f = absl::AsciiStrToLower(std::string(family));
  return f == "rnnoise" || f == "ultra" || f == "dtln" || f == "dfn3" || f == "demucs";
}

absl::StatusOr<BackendChoice> SelectBackend(const BackendRequest& requested,
                                            std::string_view family) {
  switch (requested.kind) {
    case BackendKind::kCpu:
      return BackendChoice{BackendKind::kCpu, "", "", ""};
    case BackendKind::kAuto: {
      // The family check first: it needs no driver.
      if (!FamilyHasCudaPlan(family)) {
        return BackendChoice{BackendKind::kCpu, "", "",
                             absl::StrCat("using the CPU: the model family '", std::string(family),
                                          "' has no GPU backend in this build")};
      }
      std::vector<runtime::DeviceInfo> devices;
      const std::string why = WhyNoGpu(&devices);
      if (!why.empty()) {
        return BackendChoice{BackendKind::kCpu, "", "",
                             absl::StrCat("using the CPU: ", why,
                                          ", so no GPU backend in this build can run")};
      }
      const runtime::DeviceInfo& d = devices.front();
      return BackendChoice{BackendKind::kCuda, absl::StrCat("cuda:", d.ordinal), d.Describe(),
                           absl::StrCat("using the GPU: ", d.Describe())};
    }
    case BackendKind::kCuda: {
      const std::string what = absl::StrCat("--backend ", requested.Spelling(), ": ");
      if (!FamilyHasCudaPlan(family)) {
        return absl::UnavailableError(absl::StrCat(what, "the model family '", std::string(family),
                                                   "' has no CUDA backend in this build"));
      }
      const std::string why = WhyNoGpu(nullptr);
      if (!why.empty()) {
        return absl::UnavailableError(
            absl::StrCat(what, why, ", so no CUDA backend can run"));
      }
      absl::StatusOr<runtime::DeviceInfo> d = runtime::FindDevice(requested.device);
      if (!d.ok()) return absl::UnavailableError(absl::StrCat(what, d.status().message()));
      return BackendChoice{BackendKind::kCuda, absl::StrCat("cuda:", d->ordinal), d->Describe(),
                           ""};
    }
  }
  return absl::InvalidArgumentError("invalid backend kind");
}

absl::StatusOr<BackendChoice> SelectBackend(BackendKind requested, std::string_view family) {
  BackendRequest r;
  r.kind = requested;
  return SelectBackend(r, family);
}

}  // namespace ghostnv::sched
