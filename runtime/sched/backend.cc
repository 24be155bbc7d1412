// runtime/sched/backend.cc — backend selection (CPU only in this build).
#include "runtime/sched/backend.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ghostnv::sched {

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

absl::StatusOr<BackendChoice> SelectBackend(BackendKind requested) {
  switch (requested) {
    case BackendKind::kAuto:
      return BackendChoice{BackendKind::kCpu, "no GPU backend in this build; using the CPU"};
    case BackendKind::kCpu:
      return BackendChoice{BackendKind::kCpu, ""};
    case BackendKind::kCuda:
      return absl::UnavailableError("--backend cuda: this build has no CUDA backend");
  }
  return absl::InvalidArgumentError("invalid backend kind");
}

}  // namespace ghostnv::sched
