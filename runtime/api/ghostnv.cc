// runtime/api/ghostnv.cc — the C ABI (include/ghostnv/ghostnv.h) in terms of sched::Stream.
#include "ghostnv/ghostnv.h"

#include <sys/stat.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu.h"
#include "models/family.h"
#include "models/gnvm.h"
#include "models/model_loader.h"
#include "nlohmann/json.hpp"
#include "runtime/api/default_model.h"
#include "runtime/sched/backend.h"
#include "runtime/sched/stream.h"

struct ghostnv_denoiser {
  std::shared_ptr<const ghostnv::models::Model> model;
  std::unique_ptr<ghostnv::sched::Stream> stream;
  ghostnv::sched::BackendChoice backend;
  std::string model_source;  // "embedded", a path, or "memory"
  std::string info;          // ghostnv_info_json()'s buffer
};

namespace {

using ghostnv::models::Model;
namespace sched = ghostnv::sched;

thread_local std::string t_last_error;

// The v1 layout ends at `strength`.
constexpr size_t kOptionsV1Size = offsetof(ghostnv_options, strength) + sizeof(float);
constexpr uint32_t kMinRate = 8000, kMaxRate = 192000, kMaxChannels = 8;

int Fail(int code, std::string message) {
  t_last_error = std::move(message);
  return code;
}

int ModelError(const absl::Status& s, const std::string& what) {
  const int code = (s.code() == absl::StatusCode::kNotFound ||
                    s.code() == absl::StatusCode::kPermissionDenied)
                       ? GHOSTNV_ERROR_MODEL_NOT_FOUND
                       : GHOSTNV_ERROR_MODEL_INVALID;
  return Fail(code, absl::StrCat(what, ": ", s.message()));
}

// Copies the caller's options into a full-size struct, zero-filling fields it does not know.
int ReadOptions(const ghostnv_options* in, ghostnv_options* out) {
  if (in->struct_size < kOptionsV1Size) {
    return Fail(GHOSTNV_ERROR_UNSUPPORTED,
                absl::StrCat("options.struct_size is ", in->struct_size, ", expected at least ",
                             kOptionsV1Size, " (call ghostnv_options_init first)"));
  }
  std::memset(out, 0, sizeof(*out));
  const size_t n = in->struct_size < sizeof(*out) ? in->struct_size : sizeof(*out);
  std::memcpy(out, in, n);
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

int LoadTheModel(const ghostnv_options& o, ghostnv_denoiser* d) {
  const bool want_default =
      o.model == nullptr || std::strcmp(o.model, "default") == 0 || o.model[0] == '\0';
  if (o.model_data != nullptr || o.model_size != 0) {
    if (o.model != nullptr) {
      return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT,
                  "options: set either model (a path) or model_data, not both");
    }
    if (o.model_data == nullptr || o.model_size == 0) {
      return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT,
                  "options: model_data and model_size must both be set");
    }
    auto m = ghostnv::models::LoadGnvmMemory(o.model_data, o.model_size, /*copy=*/true,
                                             "<model_data>");
    if (!m.ok()) return ModelError(m.status(), "model_data");
    d->model = std::move(*m);
    d->model_source = "memory";
    return GHOSTNV_OK;
  }
  if (want_default) {
    const void* data = nullptr;
    size_t size = 0;
    if (!ghostnv::api::EmbeddedDefaultModel(&data, &size)) {
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

int Create(const ghostnv_options* options, ghostnv_denoiser** out) {
  ghostnv_options o;
  if (int rc = ReadOptions(options, &o); rc != GHOSTNV_OK) return rc;

  if (!(o.strength >= 0.0f && o.strength <= 1.0f)) {
    return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT,
                absl::StrCat("options.strength ", o.strength, " is outside [0, 1]"));
  }
  sched::BackendKind kind;
  switch (o.backend) {
    case GHOSTNV_BACKEND_AUTO: kind = sched::BackendKind::kAuto; break;
    case GHOSTNV_BACKEND_CPU: kind = sched::BackendKind::kCpu; break;
    case GHOSTNV_BACKEND_CUDA: kind = sched::BackendKind::kCuda; break;
    default:
      return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT,
                  absl::StrCat("options.backend ", o.backend, " is not a ghostnv_backend"));
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
  auto backend = sched::SelectBackend(kind);
  if (!backend.ok()) {
    return Fail(GHOSTNV_ERROR_BACKEND_UNAVAILABLE, std::string(backend.status().message()));
  }

  auto d = std::make_unique<ghostnv_denoiser>();
  d->backend = *backend;
  if (int rc = LoadTheModel(o, d.get()); rc != GHOSTNV_OK) return rc;

  auto family = ghostnv::models::CreateFamily(d->model);
  if (!family.ok()) return ModelError(family.status(), "model");

  sched::StreamConfig cfg;
  cfg.sample_rate = static_cast<int>(o.sample_rate);
  cfg.channels = static_cast<int>(o.channels);
  cfg.strength = o.strength;
  auto stream = sched::Stream::Create(std::shared_ptr<const ghostnv::models::Family>(std::move(*family)), cfg);
  if (!stream.ok()) {
    const int code = stream.status().code() == absl::StatusCode::kInvalidArgument
                         ? GHOSTNV_ERROR_UNSUPPORTED
                         : GHOSTNV_ERROR_INTERNAL;
    return Fail(code, std::string(stream.status().message()));
  }
  d->stream = std::move(*stream);
  *out = d.release();
  return GHOSTNV_OK;
}

double Ms(double frames, double rate) { return rate > 0 ? 1000.0 * frames / rate : 0.0; }

}  // namespace

extern "C" {

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
}

GHOSTNV_API int ghostnv_create(const ghostnv_options* options, ghostnv_denoiser** out) {
  t_last_error.clear();
  if (out == nullptr) return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT, "ghostnv_create: out is NULL");
  *out = nullptr;
  if (options == nullptr) {
    return Fail(GHOSTNV_ERROR_INVALID_ARGUMENT, "ghostnv_create: options is NULL");
  }
  try {
    return Create(options, out);
  } catch (const std::bad_alloc&) {
    return Fail(GHOSTNV_ERROR_OUT_OF_MEMORY, "ghostnv_create: out of memory");
  } catch (const std::exception& e) {
    return Fail(GHOSTNV_ERROR_INTERNAL, absl::StrCat("ghostnv_create: ", e.what()));
  } catch (...) {
    return Fail(GHOSTNV_ERROR_INTERNAL, "ghostnv_create: unknown exception");
  }
}

GHOSTNV_API int ghostnv_process(ghostnv_denoiser* denoiser, const float* in, float* out,
                                size_t frames) {
  if (denoiser == nullptr) return GHOSTNV_ERROR_INVALID_ARGUMENT;
  if (frames == 0) return GHOSTNV_OK;
  if (in == nullptr || out == nullptr) return GHOSTNV_ERROR_INVALID_ARGUMENT;
  denoiser->stream->Process(in, out, frames);  // noexcept
  return GHOSTNV_OK;
}

GHOSTNV_API int64_t ghostnv_latency_frames(const ghostnv_denoiser* denoiser) {
  return denoiser ? denoiser->stream->latency_frames() : -1;
}

GHOSTNV_API int ghostnv_set_strength(ghostnv_denoiser* denoiser, float strength) {
  if (denoiser == nullptr || !(strength >= 0.0f && strength <= 1.0f))
    return GHOSTNV_ERROR_INVALID_ARGUMENT;
  denoiser->stream->set_strength(strength);
  return GHOSTNV_OK;
}

GHOSTNV_API const char* ghostnv_info_json(ghostnv_denoiser* denoiser) {
  if (denoiser == nullptr) return nullptr;
  try {
    const sched::Stream& s = *denoiser->stream;
    const Model& m = *denoiser->model;
    const sched::StreamStats st = s.stats();
    const double rate = s.sample_rate();
    nlohmann::json j;
    j["version"] = GHOSTNV_VERSION_STRING;
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
    j["simd"] = ghostnv::kernels::SimdName(ghostnv::kernels::ActiveSimd());
    j["sample_rate"] = s.sample_rate();
    j["channels"] = s.channels();
    j["resampling"] = s.resampling();
    j["strength"] = s.strength();
    j["counters"] = {{"frames_in", st.frames_in},
                     {"frames_out", st.frames_out},
                     {"hops", st.hops},
                     {"sanitized_input_samples", st.sanitized_in},
                     {"sanitized_output_samples", st.sanitized_out},
                     {"underruns", st.underruns},
                     {"mean_vad", st.mean_vad},
                     {"process_seconds", st.process_seconds}};
    denoiser->info = j.dump();
    return denoiser->info.c_str();
  } catch (...) {
    denoiser->info = "{}";
    return denoiser->info.c_str();
  }
}

GHOSTNV_API void ghostnv_destroy(ghostnv_denoiser* denoiser) { delete denoiser; }

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
    default: return "unknown error";
  }
}

GHOSTNV_API const char* ghostnv_last_error(void) { return t_last_error.c_str(); }

}  // extern "C"
