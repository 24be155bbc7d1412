// tests/integration/library/fuzz/api_fuzz.cc — drives the C API with byte-coded call sequences.
//
// Each input is a program: a byte picks the call, the next bytes its arguments (handles among
// the live ones, sizes including 0 and huge, misaligned and NULL buffers, NaN/Inf samples, bad
// rates, modes, option layouts, garbage model images). Invariants checked on every call (a
// failure traps): valid calls succeed and produce finite output; calls on destroyed handles
// answer GHOSTNV_ERROR_BAD_HANDLE; every error is a known negative code; nothing crashes.
//
// Built two ways from this one file: with libFuzzer (clang -fsanitize=fuzzer, when clang is
// there) and with fuzz_driver.cc, a deterministic random-input driver built by the project's
// compiler with its ASan/UBSan option. Both run briefly under ctest.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "ghostnv/ghostnv.h"

namespace {

#define FUZZ_CHECK(cond)                                                           \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "api_fuzz: check failed at line %d: %s\n", __LINE__, #cond); \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  bool empty() const { return i_ >= n_; }
  uint8_t Byte() { return i_ < n_ ? p_[i_++] : 0; }
  uint32_t U32() {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v = (v << 8) | Byte();
    return v;
  }
  float Float() {
    switch (Byte() % 8) {
      case 0: return std::numeric_limits<float>::quiet_NaN();
      case 1: return std::numeric_limits<float>::infinity();
      case 2: return -1.0f;
      case 3: return 2.0f;
      case 4: return 0.0f;
      case 5: return 1.0f;
      default: return static_cast<float>(Byte()) / 255.0f;
    }
  }
  // The rest of the input, for model images.
  const uint8_t* Rest(size_t* n) {
    *n = n_ - i_;
    return p_ + i_;
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t i_ = 0;
};

bool KnownStatus(int rc) { return rc <= 0 && rc >= GHOSTNV_ERROR_BAD_HANDLE; }

constexpr int kMaxLive = 3;

struct Live {
  ghostnv_denoiser* d = nullptr;
  ghostnv_context_t* ctx = nullptr;
  uint32_t channels = 1;
  uint32_t period = 0;  // the period hint: calls of other multiples are refused
};

const uint32_t kRates[] = {48000, 44100, 96000, 16000, 22050, 0, 7999, 192001, 8000, 32000};

// Scratch buffers reused across calls (capacity for the largest call we make).
constexpr size_t kMaxFrames = 5000;
std::vector<float>& InBuf() {
  static std::vector<float>* v = new std::vector<float>(kMaxFrames * 8 + 8);
  return *v;
}
std::vector<float>& OutBuf() {
  static std::vector<float>* v = new std::vector<float>(kMaxFrames * 8 + 8);
  return *v;
}

void FillInput(Reader& r, float* x, size_t n) {
  const uint8_t kind = r.Byte();
  uint32_t s = r.U32() | 1;
  for (size_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    float v = static_cast<float>(static_cast<int32_t>(s)) / 2147483648.0f;
    if (kind % 5 == 0 && (s >> 24) == 7) v = std::numeric_limits<float>::quiet_NaN();
    if (kind % 5 == 1 && (s >> 24) == 9) v = -std::numeric_limits<float>::infinity();
    if (kind % 5 == 2) v *= 1e-39f;  // denormals
    if (kind % 5 == 3) v *= 1000.0f;  // far outside [-1, 1]
    x[i] = v;
  }
}

void CheckFinite(const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) FUZZ_CHECK(std::isfinite(x[i]));
}

void Create(Reader& r, Live* slot) {
  ghostnv_options o;
  ghostnv_options_init(&o);
  o.sample_rate = kRates[r.Byte() % 10];
  o.channels = r.Byte() % 10;  // 0 and 9 are errors
  o.strength = r.Float();
  o.mode = static_cast<int32_t>(r.Byte() % 6) - 1;
  o.backend = r.Byte() % 4;
  o.vad_threshold = r.Byte() % 2 ? r.Float() : 0.0f;
  o.vad_grace_ms = static_cast<float>(r.Byte()) * 50.0f;
  const uint8_t layout = r.Byte();
  if (layout % 7 == 0) o.struct_size = 48;  // the first layout
  if (layout % 7 == 1) o.struct_size = 8;   // too small
  if (layout % 11 == 2) o.period_frames = 70000;  // out of range
  if (layout % 11 == 3) o.period_frames = 480;    // then most random call sizes are refused
  const uint8_t model = r.Byte();
  std::vector<uint8_t> image;
  if (model % 9 == 0) o.model = "/nonexistent/model.gnvm";
  if (model % 9 == 1) o.model = "default";
  if (model % 9 == 2) {  // a garbage image from the input itself
    size_t n = 0;
    const uint8_t* rest = r.Rest(&n);
    n = std::min<size_t>(n, 256);
    image.assign(rest, rest + n);
    if (!image.empty() && model % 2 == 0) {  // make it look like a .gnvm header
      const char magic[4] = {'G', 'N', 'V', 'M'};
      std::memcpy(image.data(), magic, std::min<size_t>(4, image.size()));
    }
    o.model_data = image.empty() ? nullptr : image.data();
    o.model_size = image.size();
  }
  if (model % 9 == 3) o.model_size = 12;  // size without data

  const bool spec = r.Byte() % 3 == 0;
  if (spec) {
    ghostnv_context_t* c;
    if (r.Byte() % 2) {
      const int gpu = static_cast<int>(r.Byte() % 5) - 3;  // -3 .. 1
      const size_t rate = r.Byte() % 7 == 0 ? SIZE_MAX : kRates[r.Byte() % 10];
      c = ghostnv_init_audio(gpu, rate);
      FUZZ_CHECK(c != nullptr || ghostnv_last_status() < 0);
      if (c) slot->channels = 1;
    } else {
      c = ghostnv_init_audio_ex(&o);
      if (c) {
        slot->channels = o.channels;
        slot->period = o.struct_size >= sizeof(o) ? o.period_frames : 0;
      }
    }
    FUZZ_CHECK(c != nullptr || (KnownStatus(ghostnv_last_status()) && ghostnv_last_error()[0]));
    if (c) {
      FUZZ_CHECK(ghostnv_audio_latency(c) > 0);
      FUZZ_CHECK(ghostnv_context_denoiser(c) != nullptr);
      slot->ctx = c;
    }
    return;
  }
  ghostnv_denoiser* d = reinterpret_cast<ghostnv_denoiser*>(0x1);
  const int rc = ghostnv_create(&o, &d);
  FUZZ_CHECK(KnownStatus(rc));
  FUZZ_CHECK(rc == GHOSTNV_OK ? d != nullptr : d == nullptr);
  FUZZ_CHECK(rc == ghostnv_last_status());
  if (rc != GHOSTNV_OK) {
    FUZZ_CHECK(ghostnv_last_error()[0] != '\0');
    return;
  }
  FUZZ_CHECK(ghostnv_latency_frames(d) > 0);
  slot->d = d;
  slot->channels = o.channels;
  slot->period = o.struct_size >= sizeof(o) ? o.period_frames : 0;
}

void Process(Reader& r, Live& s) {
  const uint8_t kind = r.Byte();
  size_t frames = (static_cast<size_t>(r.Byte()) << 5 | r.Byte() % 32) % (kMaxFrames + 1);
  const uint8_t special = r.Byte();
  float* in = InBuf().data();
  float* out = OutBuf().data();
  const size_t ch = s.channels;
  FillInput(r, in, frames * ch);
  const bool in_place = kind % 3 == 0;
  if (in_place) {
    std::memcpy(out, in, frames * ch * sizeof(float));
    in = out;
  }
  int expect = GHOSTNV_OK;
  if (special % 11 == 1 && frames > 0) {  // misaligned
    out = reinterpret_cast<float*>(reinterpret_cast<char*>(out) + 2);
    expect = GHOSTNV_ERROR_INVALID_ARGUMENT;
  } else if (special % 11 == 2 && frames > 0) {
    in = nullptr;
    expect = GHOSTNV_ERROR_INVALID_ARGUMENT;
  } else if (special % 11 == 3) {
    frames = SIZE_MAX / (special % 2 ? 1 : 4);  // overflows the byte size
    expect = GHOSTNV_ERROR_INVALID_ARGUMENT;
  }
  if (expect == GHOSTNV_OK && s.period != 0 && frames % s.period != 0)
    expect = GHOSTNV_ERROR_INVALID_ARGUMENT;  // the period hint's promise is broken
  int rc;
  if (s.ctx) {
    size_t samples = frames > SIZE_MAX / ch ? frames : frames * ch;
    if (special % 11 == 4 && ch > 1 && frames > 0) {
      samples += 1;  // not whole frames
      expect = GHOSTNV_ERROR_INVALID_ARGUMENT;
    }
    rc = ghostnv_denoise_audio(s.ctx, in, out, samples);
  } else {
    rc = ghostnv_process(s.d, in, out, frames);
  }
  FUZZ_CHECK(rc == expect);
  if (rc == GHOSTNV_OK) CheckFinite(out, frames * ch);
}

ghostnv_denoiser* DenoiserOf(Live& s) {
  return s.ctx ? ghostnv_context_denoiser(s.ctx) : s.d;
}

// Whether the denoiser's model computes no voice probability (DTLN, Demucs: the enhanced model,
// which mode 1 picks), so that a VAD gate threshold > 0 is refused.
bool HasNoVad(ghostnv_denoiser* d) {
  const char* j = ghostnv_info_json(d);
  return std::strstr(j, "\"family\":\"demucs\"") != nullptr ||
         std::strstr(j, "\"family\":\"dtln\"") != nullptr;
}

void Destroy(Live& s, ghostnv_denoiser** dead_d, ghostnv_context_t** dead_ctx) {
  if (s.ctx) {
    ghostnv_cleanup(s.ctx);
    *dead_ctx = s.ctx;
  } else if (s.d) {
    ghostnv_destroy(s.d);
    *dead_d = s.d;
  }
  s = Live{};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(data, size);
  Live live[kMaxLive];
  // The most recently destroyed handles: still in the library's quarantine (at most a few
  // hundred destroys ago), so calls on them must be answered GHOSTNV_ERROR_BAD_HANDLE.
  ghostnv_denoiser* dead_d = nullptr;
  ghostnv_context_t* dead_ctx = nullptr;
  int steps = 0;
  while (!r.empty() && steps++ < 64) {
    const uint8_t op = r.Byte();
    Live& s = live[r.Byte() % kMaxLive];
    const bool have = s.d != nullptr || s.ctx != nullptr;
    switch (op % 12) {
      case 0:
        if (!have) Create(r, &s);
        break;
      case 1:
      case 2:
        if (have) Process(r, s);
        break;
      case 3:
        if (have) {
          const float v = r.Float();
          const int rc = ghostnv_set_strength(DenoiserOf(s), v);
          FUZZ_CHECK(rc == ((v >= 0.0f && v <= 1.0f) ? GHOSTNV_OK : GHOSTNV_ERROR_INVALID_ARGUMENT));
        }
        break;
      case 4:
        if (have) {
          const float t = r.Float();
          const float g = static_cast<float>(r.Byte()) * 100.0f - 100.0f;
          const int rc = ghostnv_set_vad_gate(DenoiserOf(s), t, g);
          const bool ok = t >= 0.0f && t <= 1.0f && g >= 0.0f && g <= 10000.0f;
          const int refused = t > 0.0f && HasNoVad(DenoiserOf(s)) ? GHOSTNV_ERROR_UNSUPPORTED
                                                                  : GHOSTNV_OK;
          FUZZ_CHECK(rc == (ok ? refused : GHOSTNV_ERROR_INVALID_ARGUMENT));
        }
        break;
      case 5:
        if (have) FUZZ_CHECK(ghostnv_reset(DenoiserOf(s)) == GHOSTNV_OK);
        break;
      case 6:
        if (have) {
          const char* j = ghostnv_info_json(DenoiserOf(s));
          FUZZ_CHECK(j != nullptr && j[0] == '{');
        }
        break;
      case 7:
        if (have) Destroy(s, &dead_d, &dead_ctx);
        break;
      case 8: {
        float x[4] = {0, 0, 0, 0};
        if (dead_d) {
          FUZZ_CHECK(ghostnv_process(dead_d, x, x, 1) == GHOSTNV_ERROR_BAD_HANDLE);
          FUZZ_CHECK(ghostnv_set_strength(dead_d, 0.5f) == GHOSTNV_ERROR_BAD_HANDLE);
          FUZZ_CHECK(ghostnv_latency_frames(dead_d) == -1);
          FUZZ_CHECK(ghostnv_info_json(dead_d) == nullptr);
          ghostnv_destroy(dead_d);  // a second destroy is a no-op
        }
        if (dead_ctx) {
          FUZZ_CHECK(ghostnv_denoise_audio(dead_ctx, x, x, 1) == GHOSTNV_ERROR_BAD_HANDLE);
          FUZZ_CHECK(ghostnv_context_denoiser(dead_ctx) == nullptr);
          ghostnv_cleanup(dead_ctx);
        }
        break;
      }
      case 9: {
        const int code = static_cast<int>(static_cast<int8_t>(r.Byte()));
        FUZZ_CHECK(ghostnv_strerror(code) != nullptr);
        const char* name = nullptr;
        const int rc = ghostnv_mode_status(code, &name);
        FUZZ_CHECK(name != nullptr && KnownStatus(rc));
        break;
      }
      case 10:
        FUZZ_CHECK(ghostnv_process(nullptr, nullptr, nullptr, 1) == GHOSTNV_ERROR_INVALID_ARGUMENT);
        FUZZ_CHECK(ghostnv_denoise_audio(nullptr, nullptr, nullptr, 1) ==
                   GHOSTNV_ERROR_INVALID_ARGUMENT);
        break;
      case 11:
        if (have) FUZZ_CHECK(ghostnv_latency_frames(DenoiserOf(s)) > 0);
        break;
    }
  }
  for (Live& s : live) Destroy(s, &dead_d, &dead_ctx);
  return 0;
}
