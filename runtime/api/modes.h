// runtime/api/modes.h — the seed's DenoisingMode mapped onto models and backends, in one place.
//
//   Basic        the default RNNoise-class model embedded in the library, CPU (any backend).
//   Enhanced     a stronger CPU model (DTLN or our conv+GRU model)        — not shipped yet.
//   Maximum      DeepFilterNet3, GPU when there is one, else CPU          — not shipped yet.
//   GpuRealtime  the default model on the GPU real-time path (sched::RealtimeCudaFamily: a
//                realtime CudaPlan, batch 1) — available when a GPU that can run it is present
//                (sched::GpuPresent()); "not available" with the reason otherwise. Issue 7
//                names the ultra-low-latency model (family "ultra", embedded as
//                "builtin:ultra") as this mode's model, but the ultra family has no GPU plan yet
//                (sched::CudaPlan runs family "rnnoise" only), so this mode stays on the default
//                model until it does. The ultra model is reached on the CPU through
//                ghostnv_options.model = "builtin:ultra" (mode BASIC) and `--latency ultra`.
//
// A mode whose model is not in this build resolves to absl::UnavailableError with the reason;
// the C ABI turns that into GHOSTNV_ERROR_NOT_AVAILABLE. When a model ships, its entry below
// gains the embedded model and ResolveMode() starts succeeding — nothing else changes.
//
//   absl::StatusOr<ModeSpec> m = ResolveMode(GHOSTNV_MODE_BASIC);
//   if (m.ok() && m->embedded_default) { /* load the embedded default model */ }
//
// Thread-safety: pure functions over static tables.
#pragma once

#include "absl/status/statusor.h"

namespace ghostnv::api {

struct ModeSpec {
  int mode = 0;                   // a ghostnv_mode
  const char* name = "";          // "basic", "enhanced", "maximum", "gpu-realtime"
  bool embedded_default = false;  // uses the library's embedded default model
  bool gpu = false;               // must run on the GPU (the real-time CUDA path)
};

// The static name of a mode, or "unknown".
const char* ModeName(int mode);

enum class ModeAvailability { kAvailable, kNotShipped, kUnknown };
// The same decision as ResolveMode() without building a message (real-time safe, except that
// the first question about gpu-realtime in a process loads the CUDA driver to look for a GPU).
ModeAvailability CheckMode(int mode);

// InvalidArgument for a value that is not a ghostnv_mode; Unavailable (with the reason and what
// to use instead) for a mode whose model this build does not have.
absl::StatusOr<ModeSpec> ResolveMode(int mode);

}  // namespace ghostnv::api
