// runtime/api/ghostnv.cc — the C ABI (include/ghostnv/ghostnv.h) in terms of sched::Stream.
#include "ghostnv/ghostnv.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu.h"
#include "models/family.h"
#include "models/gnvm.h"
#include "models/model_loader.h"
#include "models/rnnn.h"
#include "nlohmann/json.hpp"
#include "runtime/api/default_model.h"
#include "runtime/api/installed_models.h"
#include "runtime/api/modes.h"
#include "runtime/api/quarantine.h"
#include "runtime/api/vad_gate.h"
#include "runtime/sched/backend.h"
#include "runtime/sched/cuda_backend.h"
#include "runtime/sched/stream.h"

namespace {

constexpr uint64_t kDenoiserMagic = 0x47484e5644454e31ull;  // "GHNVDEN1"
constexpr uint64_t kContextMagic = 0x47484e5643545831ull;   // "GHNVCTX1"
constexpr uint64_t kDeadMagic = 0xdeadde57d0edull;
// Process() calls are cut into pieces of at most this many frames, so the VAD ring never
// has to hold more than one piece's hops.
constexpr size_t kMaxPieceFrames = 4096;

}  // namespace

struct ghostnv_denoiser {
  uint64_t magic = kDenoiserMagic;
  std::shared_ptr<const ghostnv::models::Model> model;
  // The family the stream runs: the CPU family, or the CUDA backend's family over it (which
  // falls back to the CPU family by itself when the device fails).
  std::shared_ptr<const ghostnv::models::Family> family;
  // One stream's worth of audio state; replaced as a whole by ghostnv_reset().
  std::shared_ptr<ghostnv::api::VadTap> tap;
  std::unique_ptr<ghostnv::sched::Stream> stream;
  std::unique_ptr<ghostnv::api::VadGate> gate;
  ghostnv::sched::StreamConfig config;
  ghostnv::sched::BackendChoice backend;
  int mode = GHOSTNV_MODE_BASIC;
  bool has_vad = true;  // the family computes a voice probability (computes_vad): the gate may close
  size_t channels = 1;
  std::string model_source;  // "embedded", a path, or "memory"
  std::string info;          // ghostnv_info_json()'s buffer
  std::atomic<float> vad_threshold{0.0f};
  std::atomic<float> vad_grace_ms{200.0f};
  std::atomic<int64_t> vad_grace_frames{0};
};

namespace {

using ghostnv::models::Model;
namespace api = ghostnv::api;
namespace sched = ghostnv::sched;

// The spec's context: the public struct first, so the two pointers convert into each other.
struct SpecContext {
  ghostnv_context_t pub;
  uint64_t magic;
  ghostnv_denoiser* denoiser;
};
static_assert(std::is_standard_layout_v<SpecContext>);
static_assert(offsetof(SpecContext, pub) == 0);

static_assert(sizeof(ghostnv_options) == 64, "ghostnv_options layout changed: append only");
static_assert(offsetof(ghostnv_options, mode) == 48);

thread_local std::string t_last_error;
thread_local int t_last_status = GHOSTNV_OK;

// The first layout ends at `strength`.
constexpr size_t kOptionsV1Size = offsetof(ghostnv_options, strength) + sizeof(float);
constexpr uint32_t kMinRate = 8000, kMaxRate = 192000, kMaxChannels = 8;
constexpr float kMaxGraceMs = 10000.0f;
constexpr int kMaxCudaDevices = 256;  // GHOSTNV_BACKEND_CUDA_DEVICE(0..255)

int Fail(int code, std::string message) {
  t_last_error = std::move(message);
  t_last_status = code;
  return code;
}

void BeginSetup() {
  t_last_error.clear();
  t_last_status = GHOSTNV_OK;
}

bool Live(const ghostnv_denoiser* d) { return d->magic == kDenoiserMagic; }

// NULL → invalid argument; a dead or foreign handle → bad handle; else OK.
int Check(const ghostnv_denoiser* d) {
  if (d == nullptr) return GHOSTNV_ERROR_INVALID_ARGUMENT;
  return Live(d) ? GHOSTNV_OK : GHOSTNV_ERROR_BAD_HANDLE;
}

SpecContext* AsContext(ghostnv_context_t* ctx) { return reinterpret_cast<SpecContext*>(ctx); }
const SpecContext* AsContext(const ghostnv_context_t* ctx) {
  return reinterpret_cast<const SpecContext*>(ctx);
}

int ModelError(const absl::Status& s, const std::string& what) {
  const int code = (s.code() == absl::StatusCode::kNotFound ||
                    s.code() == absl::StatusCode::kPermissionDenied)
                       ? GHOSTNV_ERROR_MODEL_NOT_FOUND
                       : GHOSTNV_ERROR_MODEL_INVALID;
  return Fail(code, absl::StrCat(what, ": ", s.message()));
}

// Copies the caller's options into a full-size struct; fields it does not have get defaults.
int ReadOptions(const ghostnv_options* in, ghostnv_options* out) {
  if (in->struct_size < kOptionsV1Size) {
    return Fail(GHOSTNV_ERROR_UNSUPPORTED,
                absl::StrCat("options.struct_size is ", in->struct_size, ", expected at least ",
                             kOptionsV1Size, " (call ghostnv_options_init first)"));
  }
  ghostnv_options_init(out);
  const size_t n = in->struct_size < sizeof(*out) ? in->struct_size : sizeof(*out);
  std::memcpy(out, in, n);
  out->struct_size = sizeof(*out);
  if (in->struct_size > sizeof(*out)) {
    const unsigned char* extra = reinterpret_cast<const unsigned char*>(in) + sizeof(*out);
    for (size_t i = 0; i < in->struct_size - sizeof(*out); ++i) {
      if (extra[i] != 0) {
        return Fail(GHOSTNV_ERROR_UNSUPPORTED,
                    absl::StrCat("options.struct_size is ", in->struct_size,
                                 " and sets fields this library (", GHOSTNV_VERSION_STRING,
                                 ", ", sizeof(*out), " bytes) does not know"));
      }
    }
  }
  return GHOSTNV_OK;
}

bool LooksLikeRnnn(const void* data, size_t size) {
  static constexpr std::string_view kMagic = "rnnoise-nu model file version";
  return size >= kMagic.size() && std::memcmp(data, kMagic.data(), kMagic.size()) == 0;
}

int LoadTheModel(const ghostnv_options& o, const api::ModeSpec& mode, ghostnv_denoiser* d) {
  const bool want_default = o.model == nullptr || std::strcmp(o.model, "default") == 0 ||
                            std::strcmp(o.model, "builtin:default") == 0 || o.model[0] == '\0';
  const bool explicit_model = !want_default || o.model_data != nullptr || o.model_size != 0;
  if (explicit_model && o.mode != GHOSTNV_MODE_BASIC) {
    return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT,
                absl::StrCat("options: mode '", mode.name,
                             "' chooses its own model; leave model and model_data unset"));
  }
  if (o.model_data != nullptr || o.model_size != 0) {
    if (o.model != nullptr) {
      return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT,
                  "options: set either model (a path) or model_data, not both");
    }
    if (o.model_data == nullptr || o.model_size == 0) {
      return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT,
                  "options: model_data and model_size must both be set");
    }
    absl::StatusOr<std::shared_ptr<const Model>> m;
    if (LooksLikeRnnn(o.model_data, o.model_size)) {
      m = ghostnv::models::LoadRnnnText(
          std::string_view(static_cast<const char*>(o.model_data), o.model_size), "<model_data>");
    } else {
      m = ghostnv::models::LoadGnvmMemory(o.model_data, o.model_size, /*copy=*/true,
                                          "<model_data>");
    }
    if (!m.ok()) return ModelError(m.status(), "model_data");
    d->model = std::move(*m);
    d->model_source = "memory";
    return GHOSTNV_OK;
  }
  // An installed model: by mode (enhanced, maximum) or by name ("installed:NAME").
  std::string_view installed;
  if (want_default && mode.installed_model != nullptr) installed = mode.installed_model;
  if (!want_default && std::strncmp(o.model, "installed:", 10) == 0) installed = o.model + 10;
  if (!installed.empty()) {
    absl::StatusOr<std::string> path = ghostnv::api::FindInstalledModel(installed);
    if (!path.ok()) {
      return Fail(path.status().code() == absl::StatusCode::kNotFound
                      ? GHOSTNV_ERROR_MODEL_NOT_FOUND
                      : GHOSTNV_ERROR_INVALID_ARGUMENT,
                  std::string(path.status().message()));
    }
    auto m = ghostnv::models::LoadModel(*path);
    if (!m.ok()) return ModelError(m.status(), "model");
    d->model = std::move(*m);
    d->model_source = *path;
    return GHOSTNV_OK;
  }
  // The embedded named models: "builtin:ultra" (the 2 ms model, also the GPU real-time mode's)
  // and "builtin:enhanced" (GhostNV's Demucs, 16 ms, also the Enhanced mode's when nothing is
  // installed). Names, never paths.
  struct Builtin {
    const char* name;
    bool by_mode;
    bool (*get)(const void**, size_t*);
    const char* what;
  };
  const Builtin builtins[] = {
      {"builtin:ultra", mode.embedded_ultra, &ghostnv::api::EmbeddedUltraModel,
       "ultra-low-latency"},
      {"builtin:enhanced", mode.embedded_enhanced, &ghostnv::api::EmbeddedEnhancedModel,
       "enhanced"},
  };
  for (const Builtin& b : builtins) {
    if (!(want_default ? b.by_mode : std::strcmp(o.model, b.name) == 0)) continue;
    const void* data = nullptr;
    size_t size = 0;
    if (!b.get(&data, &size)) {
      return Fail(GHOSTNV_ERROR_MODEL_NOT_FOUND,
                  absl::StrCat("model '", b.name, "': no ", b.what,
                               " model is embedded in this build of libghostnv; pass a model "
                               "file (.gnvm)"));
    }
    auto u = ghostnv::models::LoadGnvmMemory(data, size, /*copy=*/false,
                                             absl::StrCat("<embedded ", b.name + 8, ">"));
    if (!u.ok()) return ModelError(u.status(), "embedded model");  // a build problem
    d->model = std::move(*u);
    d->model_source = "embedded";
    return GHOSTNV_OK;
  }
  if (want_default) {
    const void* data = nullptr;
    size_t size = 0;
    if (!mode.embedded_default || !ghostnv::api::EmbeddedDefaultModel(&data, &size)) {
      return Fail(GHOSTNV_ERROR_MODEL_NOT_FOUND,
                  "no default model is embedded in this build of libghostnv; "
                  "pass a model file (.gnvm or .rnnn)");
    }
    auto m = ghostnv::models::LoadGnvmMemory(data, size, /*copy=*/false, "<embedded default>");
    if (!m.ok()) return ModelError(m.status(), "embedded default model");  // a build problem
    d->model = std::move(*m);
    d->model_source = "embedded";
    return GHOSTNV_OK;
  }
  auto m = ghostnv::models::LoadModel(o.model);
  if (!m.ok()) return ModelError(m.status(), "model");  // the message starts with the path
  d->model = std::move(*m);
  d->model_source = o.model;
  return GHOSTNV_OK;
}

int64_t GraceFrames(float grace_ms, int rate) {
  return static_cast<int64_t>(std::llround(static_cast<double>(grace_ms) * rate / 1000.0));
}

bool ValidGate(float threshold, float grace_ms) {
  return threshold >= 0.0f && threshold <= 1.0f && grace_ms >= 0.0f && grace_ms <= kMaxGraceMs;
}

// The per-stream parts: tap, stream, gate. All or nothing.
struct StreamParts {
  std::shared_ptr<api::VadTap> tap;
  std::unique_ptr<sched::Stream> stream;
  std::unique_ptr<api::VadGate> gate;
};

int MakeStreamParts(const ghostnv_denoiser& d, StreamParts* parts) {
  const Model& m = *d.model;
  // The ring is sized from an upper bound of the latency: the stream's own latency is only
  // known once it exists, and the tap must exist first. 0.5 s covers every resampling case.
  const int64_t latency_bound = d.config.sample_rate / 2 + 4 * m.hop_size;
  const size_t cap = api::RingCapacity(d.config.sample_rate, m.sample_rate, m.hop_size,
                                       latency_bound, kMaxPieceFrames);
  parts->tap = std::make_shared<api::VadTap>(d.family, d.config.channels, cap);
  auto stream = sched::Stream::Create(parts->tap, d.config);
  if (!stream.ok()) {
    const int code = stream.status().code() == absl::StatusCode::kInvalidArgument
                         ? GHOSTNV_ERROR_UNSUPPORTED
                         : GHOSTNV_ERROR_INTERNAL;
    return Fail(code, std::string(stream.status().message()));
  }
  parts->stream = std::move(*stream);
  if (parts->stream->latency_frames() > latency_bound) {
    return Fail(GHOSTNV_ERROR_INTERNAL, "stream latency exceeds the VAD ring's bound");
  }
  api::GateGeometry g;
  g.host_rate = d.config.sample_rate;
  g.model_rate = m.sample_rate;
  g.hop = m.hop_size;
  g.buffering_frames = parts->stream->buffering_frames();
  g.channels = d.config.channels;
  parts->gate = std::make_unique<api::VadGate>(g);
  return GHOSTNV_OK;
}

// Overwrites the audio a stream holds (input/output FIFOs, scratch, resampler queues) by
// running zeros through it: more than its latency plus every buffer's capacity, in pieces of
// varying size. At the model's rate the model-rate FIFO's fill level is known (frames_in mod
// hop), so one last block is aligned to reach its highest written position; with resampling the
// upper end of that FIFO is reached only as far as soxr's output bursts go (runtime/sched should
// wipe its buffers itself: see docs/integration.md, "Security"). The channel states wipe
// themselves when freed (models/family.h).
void FlushWithZeros(sched::Stream* s, size_t channels, size_t block) {
  if (s == nullptr) return;
  static constexpr size_t kPieces[] = {1024, 1023, 1, 479, 1021, 2, 1019, 997, 3, 1024, 512, 7};
  const size_t max_piece = std::max<size_t>(1024, block);
  std::vector<float> zeros(max_piece * channels, 0.0f), sink(max_piece * channels);
  const int hop = s->family().hop_size();
  const int64_t hop_host = static_cast<int64_t>(hop) * s->sample_rate() /
                               std::max(1, s->model_rate()) + 1;
  const int64_t total = 3 * s->latency_frames() + 4 * hop_host + 3 * 4096;
  int64_t done = 0;
  for (size_t i = 0; done < total || i < std::size(kPieces); ++i) {
    const size_t n = kPieces[i % std::size(kPieces)];
    s->Process(zeros.data(), sink.data(), n);
    done += static_cast<int64_t>(n);
  }
  if (!s->resampling() && hop > 0) {
    const uint64_t fill = s->stats().frames_in % static_cast<uint64_t>(hop);
    const size_t to_top = static_cast<size_t>(hop - 1) - static_cast<size_t>(fill);
    if (to_top > 0) s->Process(zeros.data(), sink.data(), to_top);
  }
  // Whole blocks last, so the block-sized scratch ends up holding zeros.
  for (int i = 0; i < 4; ++i) s->Process(zeros.data(), sink.data(), block);
}

void DestroyParts(ghostnv_denoiser* d) {
  if (d->stream) FlushWithZeros(d->stream.get(), d->channels, d->config.max_block_frames);
  d->gate.reset();
  d->stream.reset();
  d->tap.reset();
}

int Create(const ghostnv_options* options, ghostnv_denoiser** out) {
  ghostnv_options o;
  if (int rc = ReadOptions(options, &o); rc != GHOSTNV_OK) return rc;

  if (o.period_frames > 65536) {
    return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT,
                absl::StrCat("options.period_frames is ", o.period_frames, " (0..65536)"));
  }
  if (!(o.strength >= 0.0f && o.strength <= 1.0f)) {
    return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT,
                absl::StrCat("options.strength ", o.strength, " is outside [0, 1]"));
  }
  if (!ValidGate(o.vad_threshold, o.vad_grace_ms)) {
    return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT,
                absl::StrCat("options: vad_threshold ", o.vad_threshold, " must be in [0, 1] and ",
                             "vad_grace_ms ", o.vad_grace_ms, " in [0, ", kMaxGraceMs, "]"));
  }
  absl::StatusOr<api::ModeSpec> mode = api::ResolveMode(o.mode);
  if (!mode.ok()) {
    return Fail(mode.status().code() == absl::StatusCode::kUnavailable
                    ? GHOSTNV_ERROR_NOT_AVAILABLE
                    : GHOSTNV_ERROR_INVALID_ARGUMENT,
                std::string(mode.status().message()));
  }
  sched::BackendRequest request;
  if (o.backend == GHOSTNV_BACKEND_AUTO) {
    request.kind = sched::BackendKind::kAuto;
  } else if (o.backend == GHOSTNV_BACKEND_CPU) {
    request.kind = sched::BackendKind::kCpu;
  } else if (o.backend == GHOSTNV_BACKEND_CUDA) {
    request.kind = sched::BackendKind::kCuda;
  } else if (o.backend >= GHOSTNV_BACKEND_CUDA_DEVICE(0) &&
             o.backend < GHOSTNV_BACKEND_CUDA_DEVICE(kMaxCudaDevices)) {
    request.kind = sched::BackendKind::kCuda;
    request.device = absl::StrCat(o.backend - GHOSTNV_BACKEND_CUDA_DEVICE(0));
  } else {
    return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT,
                absl::StrCat("options.backend ", o.backend, " is not a ghostnv_backend"));
  }
  if (mode->gpu) {
    // The GPU real-time mode is the GPU: "auto" means the first device; "cpu" contradicts it.
    if (request.kind == sched::BackendKind::kCpu) {
      return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT,
                  "options: mode 'gpu-realtime' runs on the GPU; backend CPU contradicts it");
    }
    request.kind = sched::BackendKind::kCuda;
  }
  if (o.sample_rate < kMinRate || o.sample_rate > kMaxRate) {
    return Fail(GHOSTNV_ERROR_UNSUPPORTED,
                absl::StrCat("sample rate ", o.sample_rate, " Hz is not supported (", kMinRate,
                             "..", kMaxRate, "; usually 44100, 48000 or 96000)"));
  }
  if (o.channels < 1 || o.channels > kMaxChannels) {
    return Fail(GHOSTNV_ERROR_UNSUPPORTED, absl::StrCat("channel count ", o.channels,
                                                        " is not supported (1..", kMaxChannels,
                                                        ")"));
  }
  auto d = std::make_unique<ghostnv_denoiser>();
  d->mode = mode->mode;
  if (int rc = LoadTheModel(o, *mode, d.get()); rc != GHOSTNV_OK) return rc;

  auto family = ghostnv::models::CreateFamily(d->model);
  if (!family.ok()) return ModelError(family.status(), "model");
  std::shared_ptr<const ghostnv::models::Family> cpu_family(std::move(*family));

  // The backend: where the model's family can run (a device, or the CPU with a note why), then
  // the family on it. A stream rebuilt by ghostnv_reset() exists beside the old one for a
  // moment: twice the channels in GPU slots.
  auto backend = sched::SelectBackend(request, d->model->family);
  if (!backend.ok()) {
    return Fail(GHOSTNV_ERROR_BACKEND_UNAVAILABLE, std::string(backend.status().message()));
  }
  d->backend = *backend;
  auto run = sched::MakeBackendFamily(d->model, cpu_family, &d->backend,
                                      request.kind == sched::BackendKind::kAuto,
                                      2 * static_cast<int>(o.channels));
  if (!run.ok()) {
    return Fail(run.status().code() == absl::StatusCode::kResourceExhausted
                    ? GHOSTNV_ERROR_OUT_OF_MEMORY
                    : GHOSTNV_ERROR_BACKEND_UNAVAILABLE,
                std::string(run.status().message()));
  }
  d->family = std::move(*run);
  // A family without a voice probability (DTLN, Demucs: the enhanced model) reports 0, which
  // would close the VAD gate for good: a gate threshold > 0 is refused for it.
  d->has_vad = d->family->computes_vad();
  if (o.vad_threshold > 0.0f && !d->has_vad) {
    return Fail(GHOSTNV_ERROR_UNSUPPORTED,
                absl::StrCat("options.vad_threshold ", o.vad_threshold, ": the VAD gate needs a ",
                             "model that computes a voice probability, and model '", d->model->name,
                             "' (family ", d->model->family, ") has none; leave the gate off ",
                             "(threshold 0)"));
  }

  d->config.sample_rate = static_cast<int>(o.sample_rate);
  d->config.channels = static_cast<int>(o.channels);
  d->config.strength = o.strength;
  d->config.period_frames = o.period_frames;
  d->channels = o.channels;
  d->vad_threshold.store(o.vad_threshold);
  d->vad_grace_ms.store(o.vad_grace_ms);
  d->vad_grace_frames.store(GraceFrames(o.vad_grace_ms, d->config.sample_rate));

  StreamParts parts;
  if (int rc = MakeStreamParts(*d, &parts); rc != GHOSTNV_OK) return rc;
  d->tap = std::move(parts.tap);
  d->stream = std::move(parts.stream);
  d->gate = std::move(parts.gate);
  *out = d.release();
  return GHOSTNV_OK;
}

// Every entry that may allocate runs inside this: no exception leaves the library.
template <typename F>
int Guarded(const char* what, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return Fail(GHOSTNV_ERROR_OUT_OF_MEMORY, absl::StrCat(what, ": out of memory"));
  } catch (const std::exception& e) {
    return Fail(GHOSTNV_ERROR_INTERNAL, absl::StrCat(what, ": ", e.what()));
  } catch (...) {
    return Fail(GHOSTNV_ERROR_INTERNAL, absl::StrCat(what, ": unknown exception"));
  }
}

// Frame-count and buffer checks shared by ghostnv_process and ghostnv_denoise_audio.
int CheckBuffers(const float* in, const float* out, size_t frames, size_t channels) {
  if (in == nullptr || out == nullptr) return GHOSTNV_ERROR_INVALID_ARGUMENT;
  if (reinterpret_cast<uintptr_t>(in) % alignof(float) != 0 ||
      reinterpret_cast<uintptr_t>(out) % alignof(float) != 0)
    return GHOSTNV_ERROR_INVALID_ARGUMENT;
  if (frames > static_cast<size_t>(PTRDIFF_MAX) / sizeof(float) / channels)
    return GHOSTNV_ERROR_INVALID_ARGUMENT;
  return GHOSTNV_OK;
}

int ProcessChecked(ghostnv_denoiser* d, const float* in, float* out, size_t frames) {
  const size_t ch = d->channels;
  const float threshold = d->vad_threshold.load(std::memory_order_relaxed);
  const int64_t grace = d->vad_grace_frames.load(std::memory_order_relaxed);
  for (size_t pos = 0; pos < frames; pos += kMaxPieceFrames) {
    const size_t n = std::min(kMaxPieceFrames, frames - pos);
    d->stream->Process(in + pos * ch, out + pos * ch, n);  // noexcept
    d->gate->Apply(*d->tap, out + pos * ch, n, threshold, grace);
  }
  return GHOSTNV_OK;
}

double Ms(double frames, double rate) { return rate > 0 ? 1000.0 * frames / rate : 0.0; }

void FreeDenoiserShell(void* p) { delete static_cast<ghostnv_denoiser*>(p); }
void FreeContextShell(void* p) { delete static_cast<SpecContext*>(p); }

void Destroy(ghostnv_denoiser* d) {
  try {
    DestroyParts(d);
    d->family.reset();
    d->model.reset();
    std::string().swap(d->info);
    std::string().swap(d->model_source);
  } catch (...) {
    // Nothing here allocates more than the flush buffers; if even that fails, the parts are
    // released without the wipe.
    d->gate.reset();
    d->stream.reset();
    d->tap.reset();
  }
  d->magic = kDeadMagic;
  api::Quarantine(d, FreeDenoiserShell);
}

ghostnv_context_t* InitContext(const ghostnv_options* options, int gpu_id) {
  ghostnv_denoiser* d = nullptr;
  int rc = Guarded("ghostnv_init_audio", [&] { return Create(options, &d); });
  if (rc != GHOSTNV_OK) {
    if (gpu_id >= 0 && rc == GHOSTNV_ERROR_BACKEND_UNAVAILABLE) {
      Fail(rc, absl::StrCat("gpu_id ", gpu_id, ": no GPU backend can run on that device (",
                            t_last_error, "); pass -1 for the CPU, or -2 for a GPU when there ",
                            "is one and the CPU otherwise"));
    }
    return nullptr;
  }
  SpecContext* c = new (std::nothrow) SpecContext();
  if (c == nullptr) {
    Destroy(d);
    Fail(GHOSTNV_ERROR_OUT_OF_MEMORY, "ghostnv_init_audio: out of memory");
    return nullptr;
  }
  c->magic = kContextMagic;
  c->denoiser = d;
  // Opaque and informational: non-NULL while the stream was set up on a GPU.
  c->pub.gpu_context = d->backend.kind == sched::BackendKind::kCuda
                           ? const_cast<ghostnv::models::Family*>(d->family.get())
                           : nullptr;
  c->pub.model_data = const_cast<Model*>(d->model.get());
  const Model& m = *d->model;
  c->pub.buffer_size = static_cast<size_t>(int64_t{m.hop_size} * d->config.sample_rate /
                                           m.sample_rate);
  return &c->pub;
}

}  // namespace

extern "C" {

GHOSTNV_API const char* ghostnv_version(void) { return GHOSTNV_VERSION_STRING; }

GHOSTNV_API void ghostnv_options_init(ghostnv_options* options) {
  if (options == nullptr) return;
  std::memset(options, 0, sizeof(*options));
  options->struct_size = sizeof(*options);
  options->model = nullptr;
  options->model_data = nullptr;
  options->model_size = 0;
  options->backend = GHOSTNV_BACKEND_AUTO;
  options->sample_rate = 48000;
  options->channels = 1;
  options->strength = 1.0f;
  options->mode = GHOSTNV_MODE_BASIC;
  options->vad_threshold = 0.0f;
  options->vad_grace_ms = 200.0f;
  options->period_frames = 0;
}

GHOSTNV_API int ghostnv_mode_status(int mode, const char** name) {
  if (name != nullptr) *name = api::ModeName(mode);
  switch (api::CheckMode(mode)) {
    case api::ModeAvailability::kAvailable: return GHOSTNV_OK;
    case api::ModeAvailability::kNotShipped: return GHOSTNV_ERROR_NOT_AVAILABLE;
    case api::ModeAvailability::kUnknown: break;
  }
  return GHOSTNV_ERROR_INVALID_ARGUMENT;
}

GHOSTNV_API int ghostnv_create(const ghostnv_options* options, ghostnv_denoiser** out) {
  BeginSetup();
  if (out == nullptr) return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT, "ghostnv_create: out is NULL");
  *out = nullptr;
  if (options == nullptr) {
    return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT, "ghostnv_create: options is NULL");
  }
  return Guarded("ghostnv_create", [&] { return Create(options, out); });
}

GHOSTNV_API int ghostnv_process(ghostnv_denoiser* denoiser, const float* in, float* out,
                                size_t frames) {
  if (int rc = Check(denoiser); rc != GHOSTNV_OK) return rc;
  if (frames == 0) return GHOSTNV_OK;
  if (int rc = CheckBuffers(in, out, frames, denoiser->channels); rc != GHOSTNV_OK) return rc;
  if (const size_t p = denoiser->config.period_frames; p != 0 && frames % p != 0)
    return GHOSTNV_ERROR_INVALID_ARGUMENT;  // the period hint's promise is broken
  return ProcessChecked(denoiser, in, out, frames);
}

GHOSTNV_API int64_t ghostnv_latency_frames(const ghostnv_denoiser* denoiser) {
  return Check(denoiser) == GHOSTNV_OK ? denoiser->stream->latency_frames() : -1;
}

GHOSTNV_API int ghostnv_set_strength(ghostnv_denoiser* denoiser, float strength) {
  if (int rc = Check(denoiser); rc != GHOSTNV_OK) return rc;
  if (!(strength >= 0.0f && strength <= 1.0f)) return GHOSTNV_ERROR_INVALID_ARGUMENT;
  denoiser->stream->set_strength(strength);
  return GHOSTNV_OK;
}

GHOSTNV_API int ghostnv_set_vad_gate(ghostnv_denoiser* denoiser, float threshold,
                                     float grace_ms) {
  if (int rc = Check(denoiser); rc != GHOSTNV_OK) return rc;
  if (!ValidGate(threshold, grace_ms)) return GHOSTNV_ERROR_INVALID_ARGUMENT;
  if (threshold > 0.0f && !denoiser->has_vad) return GHOSTNV_ERROR_UNSUPPORTED;
  denoiser->vad_grace_frames.store(GraceFrames(grace_ms, denoiser->config.sample_rate),
                                   std::memory_order_relaxed);
  denoiser->vad_grace_ms.store(grace_ms, std::memory_order_relaxed);
  denoiser->vad_threshold.store(threshold, std::memory_order_relaxed);
  return GHOSTNV_OK;
}

GHOSTNV_API int ghostnv_reset(ghostnv_denoiser* denoiser) {
  BeginSetup();
  if (int rc = Check(denoiser); rc != GHOSTNV_OK) {
    return Fail(rc, rc == GHOSTNV_ERROR_BAD_HANDLE ? "ghostnv_reset: not a live denoiser"
                                                   : "ghostnv_reset: denoiser is NULL");
  }
  return Guarded("ghostnv_reset", [&]() -> int {
    denoiser->config.strength = denoiser->stream->strength();
    StreamParts parts;
    if (int rc = MakeStreamParts(*denoiser, &parts); rc != GHOSTNV_OK) return rc;
    DestroyParts(denoiser);
    denoiser->tap = std::move(parts.tap);
    denoiser->stream = std::move(parts.stream);
    denoiser->gate = std::move(parts.gate);
    return GHOSTNV_OK;
  });
}

GHOSTNV_API const char* ghostnv_info_json(ghostnv_denoiser* denoiser) {
  if (Check(denoiser) != GHOSTNV_OK) return nullptr;
  try {
    const sched::Stream& s = *denoiser->stream;
    const Model& m = *denoiser->model;
    const sched::StreamStats st = s.stats();
    const api::VadGate& g = *denoiser->gate;
    const double rate = s.sample_rate();
    nlohmann::json j;
    j["version"] = GHOSTNV_VERSION_STRING;
    j["mode"] = api::ModeName(denoiser->mode);
    j["model"] = m.name;
    j["model_source"] = denoiser->model_source;
    j["family"] = m.family;
    j["model_sample_rate"] = m.sample_rate;
    j["hop_size"] = m.hop_size;
    j["algorithmic_latency_ms"] = Ms(m.algorithmic_latency, m.sample_rate);
    j["latency_frames"] = s.latency_frames();
    j["latency_ms"] = Ms(static_cast<double>(s.latency_frames()), rate);
    j["backend"] = sched::BackendKindName(denoiser->backend.kind);
    j["backend_note"] = denoiser->backend.note;
    j["device"] = denoiser->backend.device_name;
    {
      // Where hops run now and whether the device failed (the CPU took over with no gap).
      const sched::BackendTelemetry t = sched::TelemetryOf(*denoiser->family);
      j["backend_active"] = t.active;
      j["fallback"] = {{"events", t.fallback_events},
                       {"note", t.fallback_note},
                       {"cpu_hops", t.cpu_hops},
                       {"warmup_hops", t.warmup_hops}};
      if (denoiser->backend.kind == sched::BackendKind::kCuda) {
        const sched::LatencySummary& l = t.submit_to_done;
        j["gpu"] = {{"mode", t.mode},
                    {"device", t.device},
                    {"hops", t.gpu_hops},
                    {"submit_to_done_us",
                     {{"count", l.count}, {"p50", l.p50_us}, {"p99", l.p99_us},
                      {"max", l.max_us}, {"mean", l.mean_us}}}};
        // Per-stage histograms recorded inside the plan (h2d, kernels, d2h, end_to_end, ...).
        j["gpu"]["stages"] = nlohmann::json::parse(sched::StagesJson(t));
        // NVML readings of the device, taken now (this control-thread call, not the audio path):
        // utilisation, memory, temperature, power, clocks; without NVML a note says why.
        j["gpu"]["nvml"] = nlohmann::json::parse(
            sched::GpuReadingsJson(sched::SampleGpus({denoiser->backend.device})));
      }
    }
    j["simd"] = ghostnv::kernels::SimdName(ghostnv::kernels::ActiveSimd());
    j["sample_rate"] = s.sample_rate();
    j["channels"] = s.channels();
    j["resampling"] = s.resampling();
    j["strength"] = s.strength();
    j["vad_gate"] = {{"threshold", denoiser->vad_threshold.load(std::memory_order_relaxed)},
                     {"grace_ms", denoiser->vad_grace_ms.load(std::memory_order_relaxed)},
                     {"open", g.open()}};
    j["counters"] = {{"frames_in", st.frames_in},
                     {"frames_out", st.frames_out},
                     {"hops", st.hops},
                     {"sanitized_input_samples", st.sanitized_in},
                     {"sanitized_output_samples", st.sanitized_out},
                     {"underruns", st.underruns},
                     {"mean_vad", st.mean_vad},
                     {"last_vad", g.last_vad()},
                     {"gated_frames", g.gated_frames()},
                     {"process_seconds", st.process_seconds},
                     {"fallback_events", j["fallback"]["events"]}};
    denoiser->info = j.dump();
    return denoiser->info.c_str();
  } catch (...) {
    return "{}";
  }
}

GHOSTNV_API void ghostnv_destroy(ghostnv_denoiser* denoiser) {
  if (denoiser == nullptr || !Live(denoiser)) return;  // NULL, or already destroyed
  Destroy(denoiser);
}

GHOSTNV_API const char* ghostnv_strerror(int status) {
  switch (status) {
    case GHOSTNV_OK: return "success";
    case GHOSTNV_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case GHOSTNV_ERROR_UNSUPPORTED: return "unsupported configuration";
    case GHOSTNV_ERROR_MODEL_NOT_FOUND: return "model not found";
    case GHOSTNV_ERROR_MODEL_INVALID: return "invalid model";
    case GHOSTNV_ERROR_BACKEND_UNAVAILABLE: return "backend unavailable";
    case GHOSTNV_ERROR_OUT_OF_MEMORY: return "out of memory";
    case GHOSTNV_ERROR_INTERNAL: return "internal error";
    case GHOSTNV_ERROR_NOT_AVAILABLE: return "not available in this build";
    case GHOSTNV_ERROR_BAD_HANDLE: return "not a live denoiser or context";
    default: return "unknown error";
  }
}

GHOSTNV_API const char* ghostnv_last_error(void) { return t_last_error.c_str(); }

GHOSTNV_API int ghostnv_last_status(void) { return t_last_status; }

// ---- the integration spec's calls ----

GHOSTNV_API ghostnv_context_t* ghostnv_init_audio(int gpu_id, size_t sample_rate) {
  BeginSetup();
  ghostnv_options o;
  ghostnv_options_init(&o);
  if (gpu_id == GHOSTNV_GPU_NONE) {
    o.backend = GHOSTNV_BACKEND_CPU;
  } else if (gpu_id == GHOSTNV_GPU_AUTO) {
    o.backend = GHOSTNV_BACKEND_AUTO;
  } else if (gpu_id >= 0 && gpu_id < kMaxCudaDevices) {
    o.backend = GHOSTNV_BACKEND_CUDA_DEVICE(gpu_id);
  } else {
    Fail(GHOSTNV_ERROR_INVALID_ARGUMENT,
         absl::StrCat("ghostnv_init_audio: gpu_id ", gpu_id,
                      " is not a device (use -1 for the CPU, -2 for any GPU, or a device index)"));
    return nullptr;
  }
  if (sample_rate < kMinRate || sample_rate > kMaxRate) {
    Fail(GHOSTNV_ERROR_UNSUPPORTED,
         absl::StrCat("ghostnv_init_audio: sample rate ", sample_rate, " Hz is not supported (",
                      kMinRate, "..", kMaxRate, "; usually 44100, 48000 or 96000)"));
    return nullptr;
  }
  o.sample_rate = static_cast<uint32_t>(sample_rate);
  return InitContext(&o, gpu_id);
}

GHOSTNV_API ghostnv_context_t* ghostnv_init_audio_ex(const ghostnv_options* options) {
  BeginSetup();
  if (options == nullptr) {
    Fail(GHOSTNV_ERROR_INVALID_ARGUMENT, "ghostnv_init_audio_ex: options is NULL");
    return nullptr;
  }
  return InitContext(options, GHOSTNV_GPU_NONE);
}

GHOSTNV_API int ghostnv_denoise_audio(ghostnv_context_t* ctx, float* input_buffer,
                                      float* output_buffer, size_t samples) {
  if (ctx == nullptr) return GHOSTNV_ERROR_INVALID_ARGUMENT;
  const SpecContext* c = AsContext(ctx);
  if (c->magic != kContextMagic) return GHOSTNV_ERROR_BAD_HANDLE;
  ghostnv_denoiser* d = c->denoiser;
  if (samples == 0) return GHOSTNV_OK;
  if (samples % d->channels != 0) return GHOSTNV_ERROR_INVALID_ARGUMENT;
  const size_t frames = samples / d->channels;
  if (int rc = CheckBuffers(input_buffer, output_buffer, frames, d->channels); rc != GHOSTNV_OK)
    return rc;
  if (const size_t p = d->config.period_frames; p != 0 && frames % p != 0)
    return GHOSTNV_ERROR_INVALID_ARGUMENT;  // the period hint's promise is broken (as process)
  return ProcessChecked(d, input_buffer, output_buffer, frames);
}

GHOSTNV_API int64_t ghostnv_audio_latency(const ghostnv_context_t* ctx) {
  if (ctx == nullptr) return GHOSTNV_ERROR_INVALID_ARGUMENT;
  const SpecContext* c = AsContext(ctx);
  if (c->magic != kContextMagic) return GHOSTNV_ERROR_BAD_HANDLE;
  return c->denoiser->stream->latency_frames();
}

GHOSTNV_API ghostnv_denoiser* ghostnv_context_denoiser(ghostnv_context_t* ctx) {
  if (ctx == nullptr) return nullptr;
  SpecContext* c = AsContext(ctx);
  return c->magic == kContextMagic ? c->denoiser : nullptr;
}

GHOSTNV_API void ghostnv_cleanup(ghostnv_context_t* ctx) {
  if (ctx == nullptr) return;
  SpecContext* c = AsContext(ctx);
  if (c->magic != kContextMagic) return;  // already cleaned up, or not a context
  c->magic = kDeadMagic;
  if (c->denoiser != nullptr && Live(c->denoiser)) Destroy(c->denoiser);
  c->denoiser = nullptr;
  c->pub.gpu_context = nullptr;
  c->pub.model_data = nullptr;
  c->pub.buffer_size = 0;
  api::Quarantine(c, FreeContextShell);
}

}  // extern "C"
