// runtime/api/modes.cc — the mode table.
#include "runtime/api/modes.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "ghostnv/ghostnv.h"
#include "runtime/api/default_model.h"
#include "runtime/api/installed_models.h"
#include "runtime/sched/cuda_backend.h"

namespace ghostnv::api {
namespace {

// The embedded model a mode falls back to when its installed model is not found.
using EmbeddedFn = bool (*)(const void** data, size_t* size);

struct Entry {
  int mode;
  const char* name;
  bool available;
  const char* needs;      // what is missing, for the error message
  const char* installed;  // the installed model it uses (installed_models.h), or nullptr
  EmbeddedFn embedded;    // the embedded model used when no installed one is found, or nullptr
};

constexpr Entry kModes[] = {
    {GHOSTNV_MODE_BASIC, "basic", true, "", nullptr, nullptr},
    // A user-installed enhanced.gnvm (explicit override), then an installed dtln.gnvm (DTLN,
    // converted by the user: the weights are not ours to ship), then GhostNV's own Demucs
    // embedded in the library: available on every build that embeds it.
    {GHOSTNV_MODE_ENHANCED, "enhanced", false,
     "a stronger model (GhostNV's enhanced model, not embedded in this build, or DTLN)",
     "enhanced", &EmbeddedEnhancedModel},
    // Available exactly when the user has installed the converted DeepFilterNet3.
    {GHOSTNV_MODE_MAXIMUM, "maximum", false, "the DeepFilterNet3 model", "maximum", nullptr},
    // Available exactly when a GPU is present (see Available()); the embedded ultra model on
    // the GPU real-time path.
    {GHOSTNV_MODE_GPU_REALTIME, "gpu-realtime", false, "a CUDA GPU", nullptr, nullptr},
};

const Entry* Find(int mode) {
  for (const Entry& e : kModes)
    if (e.mode == mode) return &e;
  return nullptr;
}

bool Embedded(const Entry& e) {
  const void* data = nullptr;
  size_t size = 0;
  return e.embedded != nullptr && e.embedded(&data, &size);
}

bool Available(const Entry& e) {
  if (e.mode == GHOSTNV_MODE_GPU_REALTIME) return sched::GpuPresent();
  if (Embedded(e)) return true;
  if (e.installed != nullptr) return FindInstalledModel(e.installed).ok();
  return e.available;
}

}  // namespace

const char* ModeName(int mode) {
  const Entry* e = Find(mode);
  return e ? e->name : "unknown";
}

ModeAvailability CheckMode(int mode) {
  const Entry* e = Find(mode);
  if (e == nullptr) return ModeAvailability::kUnknown;
  return Available(*e) ? ModeAvailability::kAvailable : ModeAvailability::kNotShipped;
}

absl::StatusOr<ModeSpec> ResolveMode(int mode) {
  const Entry* e = Find(mode);
  if (e == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("mode ", mode, " is not a ghostnv_mode (0 basic, 1 enhanced, 2 maximum, ",
                     "3 gpu-realtime)"));
  }
  if (e->mode == GHOSTNV_MODE_GPU_REALTIME && !Available(*e)) {
    absl::StatusOr<sched::BackendChoice> c = sched::SelectBackend(sched::BackendKind::kAuto);
    return absl::UnavailableError(absl::StrCat(
        "mode '", e->name, "' is not available on this machine: it needs a CUDA GPU (",
        c.ok() ? c->note : std::string(c.status().message()), "); use mode 'basic'"));
  }
  bool use_embedded = false;
  if (e->installed != nullptr) {
    absl::StatusOr<std::string> path = FindInstalledModel(e->installed);
    if (!path.ok() && absl::IsNotFound(path.status()) && Embedded(*e)) {
      use_embedded = true;  // nothing installed: the embedded model
    } else if (!path.ok()) {
      return absl::UnavailableError(absl::StrCat("mode '", e->name, "' is not available: it needs ",
                                                 e->needs, ", and ", path.status().message()));
    }
  } else if (!Available(*e)) {
    return absl::UnavailableError(
        absl::StrCat("mode '", e->name, "' is not available in this build of libghostnv: it needs ",
                     e->needs, ", which is not shipped yet; use mode 'basic'"));
  }
  ModeSpec s;
  s.mode = e->mode;
  s.name = e->name;
  s.gpu = e->mode == GHOSTNV_MODE_GPU_REALTIME;
  s.embedded_ultra = s.gpu;
  s.embedded_default = e->installed == nullptr && !s.embedded_ultra;
  s.installed_model = use_embedded ? nullptr : e->installed;
  s.embedded_enhanced = use_embedded && e->mode == GHOSTNV_MODE_ENHANCED;
  return s;
}

}  // namespace ghostnv::api
