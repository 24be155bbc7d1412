// runtime/api/modes.h — the seed's DenoisingMode mapped onto models and backends, in one place.
//
//   Basic        the default RNNoise-class model embedded in the library, CPU (any backend).
//   Enhanced     a stronger model, in this order: a model the user installed as enhanced.gnvm
//                (an explicit override), then an installed dtln.gnvm (converted DTLN;
//                installed_models.h), then GhostNV's own 48 kHz causal Demucs embedded in the
//                library ("builtin:enhanced", 16 ms). Available on every build that embeds it;
//                in one that does not, exactly when one of those files is found ("not
//                available" then says where it was looked for).
//   Maximum      DeepFilterNet3: the installed model "maximum" (dfn3.gnvm); on the GPU when the
//                backend selection finds one (models/dfn3/cuda/: the whole pipeline on the
//                device), else the CPU.
//   GpuRealtime  the ultra-low-latency model (family "ultra", embedded as "builtin:ultra", 2 ms)
//                on the GPU real-time path (runtime/sched/persistent/ultra_plan.h: one fused
//                kernel per hop, graph replay) — available when a GPU that can run it is
//                present (sched::GpuPresent()); "not available" with the reason otherwise.
//
// A mode whose model is not in this build (or not installed) resolves to
// absl::UnavailableError with the reason; the C ABI turns that into GHOSTNV_ERROR_NOT_AVAILABLE.
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
  const char* installed_model = nullptr;  // else: this installed model (FindInstalledModel)
  bool embedded_ultra = false;    // or the embedded ultra-low-latency model ("builtin:ultra")
  bool embedded_enhanced = false; // or the embedded enhanced model ("builtin:enhanced"): the
                                  // Enhanced mode when no enhanced/dtln file is installed
  bool gpu = false;               // must run on the GPU (the real-time CUDA path)
};

// The static name of a mode, or "unknown".
const char* ModeName(int mode);

enum class ModeAvailability { kAvailable, kNotShipped, kUnknown };
// The same decision as ResolveMode() without building a message (setup path: the first question
// about gpu-realtime in a process loads the CUDA driver to look for a GPU; enhanced/maximum stat
// the model directories; enhanced is available without a file when the library embeds its model).
ModeAvailability CheckMode(int mode);

// InvalidArgument for a value that is not a ghostnv_mode; Unavailable (with the reason and what
// to use instead) for a mode whose model this build does not have.
absl::StatusOr<ModeSpec> ResolveMode(int mode);

}  // namespace ghostnv::api
