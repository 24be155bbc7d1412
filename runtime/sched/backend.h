// runtime/sched/backend.h — which backend runs a stream: `auto`, `cpu`, `cuda`, `cuda:N` or a
// PCI bus id.
//
// SelectBackend() turns a request into a choice:
//   auto      → cuda on device 0 when the driver lists a device AND the model's family has a CUDA
//               plan (cuda_plan.h: family "rnnoise"); otherwise cpu with ONE line saying why
//               (no NVIDIA driver / no CUDA device / family not supported on the GPU).
//   cpu       → cpu, no note.
//   cuda, cuda:N, N, 0000:19:00.0
//             → that device, or Unavailable naming why (no driver, no such device — the message
//               lists the devices that exist —, family not supported). An explicit device request
//               never silently runs elsewhere.
// Choosing cuda here does not yet prove the GPU works (NVRTC may be missing, memory may run out):
// the caller then makes the plan (cuda_backend.h MakeBackendFamily), which for `auto` falls back
// to the CPU with a note and for an explicit request returns the plan's error.
//
//   absl::StatusOr<BackendRequest> want = ParseBackend(flag);  // "auto" | "cpu" | "cuda[:N]" | bus id
//   absl::StatusOr<BackendChoice> b = SelectBackend(*want, model->family);
//   if (!b.ok()) return b.status();   // "--backend cuda:3: no CUDA device 3 (devices: 0 ...)"
//   if (!b->note.empty()) std::cerr << b->note << "\n";
//
// Thread-safety: all functions are re-entrant. Setup path only (the first call loads the driver).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ghostnv::sched {

enum class BackendKind { kAuto, kCpu, kCuda };

// "auto", "cpu", "cuda".
const char* BackendKindName(BackendKind kind);

// Parses "auto", "cpu" or "cuda" (case-insensitive). Kept for callers that need only the kind;
// "cuda:N" and bus ids are accepted by ParseBackend(). InvalidArgument names the accepted values.
absl::StatusOr<BackendKind> ParseBackendKind(std::string_view name);

struct BackendRequest {
  BackendKind kind = BackendKind::kAuto;
  std::string device;  // for kCuda: "" (device 0), "N" or a PCI bus id; empty otherwise
  // The text the user wrote ("cuda:1"), for messages; "auto"/"cpu"/"cuda" when empty.
  std::string Spelling() const;
};

// "auto", "cpu", "cuda", "cuda:N", "N" (a device index) or a PCI bus id ("0000:19:00.0",
// "19:00.0"). InvalidArgument for anything else.
absl::StatusOr<BackendRequest> ParseBackend(std::string_view text);

struct BackendChoice {
  BackendKind kind = BackendKind::kCpu;  // never kAuto
  std::string device;       // kCuda: the selector to open ("cuda:0"); empty for the CPU
  std::string device_name;  // kCuda: "device 0 (NVIDIA H200, sm_90, 0000:19:00.0)"
  std::string note;         // one line explaining an automatic choice, or empty
};

// Whether the model family `family` (models::Model::family) has a CUDA plan in this build.
bool FamilyHasCudaPlan(std::string_view family);

// Resolves a request for a model of family `family` (see the banner).
// Errors: Unavailable for a cuda request that cannot be met (text starts with "--backend <spelling>: ").
absl::StatusOr<BackendChoice> SelectBackend(const BackendRequest& requested,
                                            std::string_view family = "rnnoise");
// The same for a bare kind (kCuda = device 0).
absl::StatusOr<BackendChoice> SelectBackend(BackendKind requested,
                                            std::string_view family = "rnnoise");

}  // namespace ghostnv::sched
