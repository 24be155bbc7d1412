// runtime/api/modes.cc — the mode table.
#include "runtime/api/modes.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "ghostnv/ghostnv.h"
#include "runtime/api/installed_models.h"
#include "runtime/sched/cuda_backend.h"

namespace ghostnv::api {
namespace {

struct Entry {
  int mode;
  const char* name;
  bool available;
  const char* needs;      // what is missing, for the error message
  const char* installed;  // the installed model it uses (installed_models.h), or nullptr
};

constexpr Entry kModes[] = {
    {GHOSTNV_MODE_BASIC, "basic", true, "", nullptr},
    // Available exactly when the user has installed the converted model (the weights are not
    // ours to ship): DTLN (or a model installed as enhanced.gnvm), DeepFilterNet3.
    {GHOSTNV_MODE_ENHANCED, "enhanced", false,
     "a stronger CPU model (DTLN or the GhostNV conv+GRU model)", "enhanced"},
    {GHOSTNV_MODE_MAXIMUM, "maximum", false, "the DeepFilterNet3 model", "maximum"},
    // Available exactly when a GPU is present (see Available()); the embedded ultra model on
    // the GPU real-time path.
    {GHOSTNV_MODE_GPU_REALTIME, "gpu-realtime", false, "a CUDA GPU", nullptr},
};

const Entry* Find(int mode) {
  for (const Entry& e : kModes)
    if (e.mode == mode) return &e;
  return nullptr;
}

bool Available(const Entry& e) {
  if (e.mode == GHOSTNV_MODE_GPU_REALTIME) return sched::GpuPresent();
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
  if (e->installed != nullptr) {
    absl::StatusOr<std::string> path = FindInstalledModel(e->installed);
    if (!path.ok()) {
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
  s.installed_model = e->installed;
  return s;
}

}  // namespace ghostnv::api
