// runtime/sched/backend.h — which backend runs a stream: `auto`, `cpu` or `cuda`.
//
// This build has only the CPU backend. `auto` resolves to `cpu` and says why once (the note is
// for the caller to print or report: "no GPU backend in this build"); asking for `cuda`
// explicitly is an error rather than a silent fallback, so scripts that need a GPU notice.
// When the GPU runtime lands, SelectBackend() is where device discovery plugs in.
//
//   absl::StatusOr<BackendKind> want = ParseBackendKind(flag);        // "auto" | "cpu" | "cuda"
//   absl::StatusOr<BackendChoice> b = SelectBackend(*want);
//   if (!b.ok()) return b.status();   // "--backend cuda: this build has no CUDA backend"
//   if (!b->note.empty()) std::cerr << b->note << "\n";
//
// Thread-safety: all functions are pure and re-entrant. Setup path only.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ghostnv::sched {

enum class BackendKind { kAuto, kCpu, kCuda };

// "auto", "cpu", "cuda".
const char* BackendKindName(BackendKind kind);

// Parses "auto", "cpu" or "cuda" (case-insensitive; "cuda:N" is reserved for later and
// rejected for now). InvalidArgument names the accepted values.
absl::StatusOr<BackendKind> ParseBackendKind(std::string_view name);

struct BackendChoice {
  BackendKind kind = BackendKind::kCpu;  // never kAuto
  std::string note;                      // one line explaining an automatic choice, or empty
};

// Resolves a requested kind to an available backend.
// Errors: Unavailable for kCuda ("--backend cuda: this build has no CUDA backend").
absl::StatusOr<BackendChoice> SelectBackend(BackendKind requested);

}  // namespace ghostnv::sched
