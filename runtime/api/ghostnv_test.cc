// Tests of the public API through libghostnv.so (C ABI and the C++ wrapper).
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ghostnv/ghostnv.h"
#include "ghostnv/ghostnv.hpp"
#include "gtest/gtest.h"
#include "models/gnvm.h"
#include "models/model_loader.h"
#include "nlohmann/json.hpp"

namespace {

// The installed-model search (modes enhanced/maximum) must not see the user's own model folders:
// no $GHOSTNV_MODEL_PATH and an $XDG_DATA_HOME that does not exist, before any test runs.
const bool kIsolatedModelDirs = [] {
  ::unsetenv("GHOSTNV_MODEL_PATH");
  ::setenv("XDG_DATA_HOME", "/nonexistent/ghostnv-api-test", 1);
  return true;
}();

// Whether the build embeds GhostNV's enhanced model (models/weights/enhanced.gnvm): then mode
// ENHANCED is available with nothing installed, and "builtin:enhanced" names it.
#if GHOSTNV_EXPECT_ENHANCED_MODEL
constexpr bool kEmbeddedEnhanced = true;
#else
constexpr bool kEmbeddedEnhanced = false;
#endif

// Whether this machine has a GPU the library can use (then AUTO picks it and GPU_REALTIME exists).
bool GpuHere() { return ghostnv_mode_status(GHOSTNV_MODE_GPU_REALTIME, nullptr) == GHOSTNV_OK; }

std::string SharedModel() {
  const char* sh = std::getenv("GHOSTNV_SHARED_DIR");
  if (!sh) return "";
  std::string p = std::string(sh) + "/data/models/rnnoise/sh.rnnn";
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 ? p : "";
}

#define REQUIRE_MODEL(path)                                                    \
  const std::string path = SharedModel();                                      \
  if (path.empty()) GTEST_SKIP() << "no $GHOSTNV_SHARED_DIR/data/models/rnnoise/sh.rnnn"

std::vector<float> Noise(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-0.5f, 0.5f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(ApiTest, OptionsInit) {
  ghostnv_options o;
  std::memset(&o, 0xab, sizeof(o));
  ghostnv_options_init(&o);
  EXPECT_EQ(o.struct_size, sizeof(ghostnv_options));
  EXPECT_EQ(o.model, nullptr);
  EXPECT_EQ(o.model_data, nullptr);
  EXPECT_EQ(o.model_size, 0u);
  EXPECT_EQ(o.backend, GHOSTNV_BACKEND_AUTO);
  EXPECT_EQ(o.sample_rate, 48000u);
  EXPECT_EQ(o.channels, 1u);
  EXPECT_EQ(o.strength, 1.0f);
  EXPECT_EQ(o.mode, GHOSTNV_MODE_BASIC);
  EXPECT_EQ(o.vad_threshold, 0.0f);
  EXPECT_EQ(o.vad_grace_ms, 200.0f);
  EXPECT_EQ(o.period_frames, 0u);
  EXPECT_EQ(sizeof(ghostnv_options), 64u);
  ghostnv_options_init(nullptr);  // no crash
}

TEST(ApiTest, StrerrorCoversEveryCode) {
  for (int c = 0; c >= -9; --c) {
    ASSERT_NE(ghostnv_strerror(c), nullptr);
    EXPECT_STRNE(ghostnv_strerror(c), "unknown error") << c;
  }
  EXPECT_STREQ(ghostnv_strerror(-1000), "unknown error");
  EXPECT_STREQ(ghostnv_strerror(5), "unknown error");
}

TEST(ApiTest, NullArguments) {
  ghostnv_denoiser* d = reinterpret_cast<ghostnv_denoiser*>(0x1);
  EXPECT_EQ(ghostnv_create(nullptr, &d), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(d, nullptr);
  EXPECT_NE(std::string(ghostnv_last_error()).find("options is NULL"), std::string::npos);
  ghostnv_options o;
  ghostnv_options_init(&o);
  EXPECT_EQ(ghostnv_create(&o, nullptr), GHOSTNV_ERROR_INVALID_ARGUMENT);
  float x = 0;
  EXPECT_EQ(ghostnv_process(nullptr, &x, &x, 1), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ghostnv_latency_frames(nullptr), -1);
  EXPECT_EQ(ghostnv_set_strength(nullptr, 0.5f), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ghostnv_info_json(nullptr), nullptr);
  EXPECT_EQ(ghostnv_set_vad_gate(nullptr, 0.5f, 100.0f), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ghostnv_reset(nullptr), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ghostnv_last_status(), GHOSTNV_ERROR_INVALID_ARGUMENT);
  ghostnv_destroy(nullptr);
  EXPECT_EQ(ghostnv_denoise_audio(nullptr, &x, &x, 1), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_LT(ghostnv_audio_latency(nullptr), 0);
  EXPECT_EQ(ghostnv_context_denoiser(nullptr), nullptr);
  ghostnv_cleanup(nullptr);
  EXPECT_EQ(ghostnv_init_audio_ex(nullptr), nullptr);
  EXPECT_EQ(ghostnv_last_status(), GHOSTNV_ERROR_INVALID_ARGUMENT);
}

TEST(ApiTest, DefaultModel) {
  ghostnv_options o;
  ghostnv_options_init(&o);
  ghostnv_denoiser* d = nullptr;
  const int rc = ghostnv_create(&o, &d);
#if GHOSTNV_EXPECT_DEFAULT_MODEL
  ASSERT_EQ(rc, GHOSTNV_OK) << ghostnv_last_error();
  EXPECT_STREQ(ghostnv_last_error(), "");
  auto j = nlohmann::json::parse(ghostnv_info_json(d));
  EXPECT_EQ(j["model_source"], "embedded");
  ghostnv_destroy(d);
  o.model = "default";
  ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK);
  ghostnv_destroy(d);
#else
  EXPECT_EQ(rc, GHOSTNV_ERROR_MODEL_NOT_FOUND);
  EXPECT_EQ(d, nullptr);
  EXPECT_NE(std::string(ghostnv_last_error()).find("no default model"), std::string::npos)
      << ghostnv_last_error();
  o.model = "default";
  EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_MODEL_NOT_FOUND);
#endif
}

// The embedded ultra-low-latency model: "builtin:ultra" (96-sample hop at 48 kHz, 2 ms).
TEST(ApiTest, EmbeddedUltraModel) {
  ghostnv::Options o;
  o.model = "builtin:ultra";
  o.backend = GHOSTNV_BACKEND_CPU;
  ghostnv_denoiser* d = nullptr;
  const int rc = ghostnv_create(&o, &d);
#if GHOSTNV_EXPECT_ULTRA_MODEL
  ASSERT_EQ(rc, GHOSTNV_OK) << ghostnv_last_error();
  auto j = nlohmann::json::parse(ghostnv_info_json(d));
  EXPECT_EQ(j["model_source"], "embedded");
  EXPECT_EQ(j["family"], "ultra");
  EXPECT_EQ(j["hop_size"], 96);
  EXPECT_EQ(j["model_sample_rate"], 48000);
  EXPECT_DOUBLE_EQ(j["algorithmic_latency_ms"].get<double>(), 2.0);
  // Calls of any size: the model's 96 frames plus hop - 1 = 95 of buffering.
  EXPECT_EQ(ghostnv_latency_frames(d), 96 + 95);
  ghostnv_destroy(d);
  // The period hint: hop - gcd(P, hop) frames of buffering.
  for (const auto& [period, want] : std::vector<std::pair<uint32_t, int64_t>>{
           {96, 96}, {192, 96}, {480, 96}, {32, 96 + 64}, {128, 96 + 64}, {7, 96 + 95},
           {113, 96 + 95}, {144, 96 + 48}}) {
    o.period_frames = period;
    ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
    EXPECT_EQ(ghostnv_latency_frames(d), want) << "period " << period;
    ghostnv_destroy(d);
  }
  // "builtin:default" is the embedded default, as "default" is.
  ghostnv::Options def;
  def.model = "builtin:default";
  ASSERT_EQ(ghostnv_create(&def, &d), GHOSTNV_OK) << ghostnv_last_error();
  EXPECT_NE(nlohmann::json::parse(ghostnv_info_json(d))["family"], "ultra");
  ghostnv_destroy(d);
#else
  EXPECT_EQ(rc, GHOSTNV_ERROR_MODEL_NOT_FOUND);
  EXPECT_EQ(d, nullptr);
  EXPECT_NE(std::string(ghostnv_last_error()).find("builtin:ultra"), std::string::npos)
      << ghostnv_last_error();
#endif
}

#if GHOSTNV_EXPECT_ULTRA_MODEL
// At strength 0 the embedded ultra model is an exact delay of latency_frames(), for any call
// sizes and both channel counts; at strength 1 it matches the committed file bit for bit.
TEST(ApiTest, EmbeddedUltraModelProcesses) {
  for (uint32_t ch : {1u, 2u}) {
    ghostnv::Options o;
    o.model = "builtin:ultra";
    o.backend = GHOSTNV_BACKEND_CPU;
    o.channels = ch;
    o.strength = 0.0f;
    ghostnv_denoiser* d = nullptr;
    ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
    const int64_t lat = ghostnv_latency_frames(d);
    ASSERT_EQ(lat, 191);
    const size_t frames = 9601;
    const std::vector<float> in = Noise(frames * ch, 17 + ch);
    std::vector<float> out(in.size());
    size_t pos = 0, k = 0;
    const size_t sizes[] = {1, 7, 113, 0, 513, 96};
    while (pos < frames) {
      const size_t n = std::min(frames - pos, sizes[k++ % 6]);
      ASSERT_EQ(ghostnv_process(d, in.data() + pos * ch, out.data() + pos * ch, n), GHOSTNV_OK);
      pos += n;
    }
    for (size_t t = 0; t < frames; ++t)
      for (size_t c = 0; c < ch; ++c) {
        const float want = int64_t(t) >= lat ? in[(t - size_t(lat)) * ch + c] : 0.0f;
        ASSERT_NEAR(out[t * ch + c], want, 1e-6f) << t << " ch " << c;
      }
    ghostnv_destroy(d);
  }
  const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
  if (!src) GTEST_SKIP() << "no GHOSTNV_SOURCE_DIR";
  const std::string file = std::string(src) + "/models/weights/ultra.gnvm";
  std::vector<std::vector<float>> outs;
  for (const char* model : {"builtin:ultra", file.c_str()}) {
    ghostnv::Options o;
    o.model = model;
    o.backend = GHOSTNV_BACKEND_CPU;
    ghostnv_denoiser* d = nullptr;
    ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << model << ": " << ghostnv_last_error();
    const std::vector<float> in = Noise(4800, 5);
    std::vector<float> out(in.size());
    ASSERT_EQ(ghostnv_process(d, in.data(), out.data(), in.size()), GHOSTNV_OK);
    outs.push_back(out);
    ghostnv_destroy(d);
  }
  EXPECT_EQ(outs[0], outs[1]);
  double energy = 0;
  for (float v : outs[0]) energy += double(v) * v;
  EXPECT_GT(energy, 0.0);  // it processed something (not all zeros)
}
#endif

#if GHOSTNV_EXPECT_ENHANCED_MODEL
// Mode ENHANCED with no model installed (the model folders are isolated above) is the embedded
// GhostNV Demucs: 48 kHz, 256-sample hop, 768 samples = 16 ms algorithmic latency. It runs on
// calls of any size, changes the signal, stays finite, is bit-identical to "builtin:enhanced"
// and to the committed file by path, and at strength 0 is an exact delay.
TEST(ApiTest, EmbeddedEnhancedModel) {
  const size_t frames = 24000 + 37;
  std::vector<float> in = Noise(frames, 23);
  for (size_t t = 0; t < frames; ++t)  // a tone under the noise
    in[t] = 0.3f * in[t] + 0.4f * static_cast<float>(std::sin(0.031 * double(t)));
  auto run = [&](const ghostnv::Options& o, nlohmann::json* info) {
    ghostnv_denoiser* d = nullptr;
    EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
    if (d == nullptr) return std::vector<float>();
    if (info != nullptr) *info = nlohmann::json::parse(ghostnv_info_json(d));
    std::vector<float> out(frames);
    const size_t sizes[] = {1, 7, 113, 0, 513, 256, 4099};
    for (size_t pos = 0, k = 0; pos < frames;) {
      const size_t n = std::min(frames - pos, sizes[k++ % 7]);
      EXPECT_EQ(ghostnv_process(d, in.data() + pos, out.data() + pos, n), GHOSTNV_OK);
      pos += n;
    }
    ghostnv_destroy(d);
    return out;
  };
  ghostnv::Options o;
  o.set_mode(ghostnv::Mode::kEnhanced);
  o.backend = GHOSTNV_BACKEND_CPU;
  nlohmann::json j;
  const std::vector<float> by_mode = run(o, &j);
  ASSERT_EQ(by_mode.size(), frames);
  EXPECT_EQ(j["mode"], "enhanced");
  EXPECT_EQ(j["model_source"], "embedded");
  EXPECT_EQ(j["family"], "demucs");
  EXPECT_EQ(j["model_sample_rate"], 48000);
  EXPECT_EQ(j["hop_size"], 256);
  EXPECT_DOUBLE_EQ(j["algorithmic_latency_ms"].get<double>(), 16.0);
  // Calls of any size: the model's 768 frames plus hop - 1 = 255 of buffering.
  EXPECT_EQ(j["latency_frames"], 768 + 255);
  const size_t lat = 768 + 255;
  double e_in = 0, e_out = 0, e_diff = 0;
  for (size_t t = 0; t < frames; ++t) {
    ASSERT_TRUE(std::isfinite(by_mode[t])) << t;
    if (t < lat) continue;
    const double x = in[t - lat], y = by_mode[t];
    e_in += x * x;
    e_out += y * y;
    e_diff += (y - x) * (y - x);
  }
  EXPECT_GT(e_out, 1e-3 * e_in);  // not silence
  EXPECT_GT(e_diff, 0.01 * e_in);  // not the input delayed: the model did something

  ghostnv::Options b;
  b.model = "builtin:enhanced";
  b.backend = GHOSTNV_BACKEND_CPU;
  nlohmann::json jb;
  EXPECT_EQ(run(b, &jb), by_mode);
  EXPECT_EQ(jb["mode"], "basic");
  EXPECT_EQ(jb["model_source"], "embedded");
  EXPECT_DOUBLE_EQ(jb["algorithmic_latency_ms"].get<double>(), 16.0);

  // Demucs computes no voice probability: a VAD gate is refused (it would never open), at
  // creation and later; threshold 0 (off) is fine.
  {
    ghostnv::Options g = o;
    g.vad_threshold = 0.5f;
    ghostnv_denoiser* d = nullptr;
    EXPECT_EQ(ghostnv_create(&g, &d), GHOSTNV_ERROR_UNSUPPORTED);
    EXPECT_EQ(d, nullptr);
    EXPECT_NE(std::string(ghostnv_last_error()).find("voice probability"), std::string::npos)
        << ghostnv_last_error();
    ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
    EXPECT_EQ(ghostnv_set_vad_gate(d, 0.5f, 100.0f), GHOSTNV_ERROR_UNSUPPORTED);
    EXPECT_EQ(ghostnv_set_vad_gate(d, 0.0f, 100.0f), GHOSTNV_OK);
    EXPECT_EQ(nlohmann::json::parse(ghostnv_info_json(d))["vad_gate"]["threshold"], 0.0);
    ghostnv_destroy(d);
  }

  o.strength = 0.0f;
  const std::vector<float> dry = run(o, nullptr);
  ASSERT_EQ(dry.size(), frames);
  for (size_t t = 0; t < frames; ++t)
    ASSERT_NEAR(dry[t], t >= lat ? in[t - lat] : 0.0f, 1e-6f) << t;

  const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
  if (!src) GTEST_SKIP() << "no GHOSTNV_SOURCE_DIR";
  const std::string file = std::string(src) + "/models/weights/enhanced.gnvm";
  b.model = file.c_str();
  EXPECT_EQ(run(b, &jb), by_mode);
  EXPECT_EQ(jb["model_source"], file);
}
#else
TEST(ApiTest, NoEmbeddedEnhancedModel) {
  ghostnv::Options b;
  b.model = "builtin:enhanced";
  ghostnv_denoiser* d = nullptr;
  EXPECT_EQ(ghostnv_create(&b, &d), GHOSTNV_ERROR_MODEL_NOT_FOUND);
  EXPECT_NE(std::string(ghostnv_last_error()).find("builtin:enhanced"), std::string::npos);
}
#endif

TEST(ApiTest, ModelErrors) {
  ghostnv_options o;
  ghostnv_options_init(&o);
  ghostnv_denoiser* d = nullptr;
  o.model = "/nonexistent/dir/model.gnvm";
  EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_MODEL_NOT_FOUND);
  EXPECT_NE(std::string(ghostnv_last_error()).find("/nonexistent/dir/model.gnvm"),
            std::string::npos);
  const std::string junk = ::testing::TempDir() + "/ghostnv_api_junk.gnvm";
  std::ofstream(junk) << "GNVM but not really a model file";
  o.model = junk.c_str();
  EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_MODEL_INVALID);
  const std::string wav = ::testing::TempDir() + "/ghostnv_api_junk.wav";
  std::ofstream(wav) << "RIFF....WAVEfmt ";
  o.model = wav.c_str();
  EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_MODEL_INVALID);
  EXPECT_NE(std::string(ghostnv_last_error()).find("not a model file"), std::string::npos)
      << ghostnv_last_error();
  o.model = nullptr;
  const char bytes[] = "not gnvm";
  o.model_data = bytes;
  o.model_size = sizeof(bytes);
  EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_MODEL_INVALID);
  o.model = "x";
  EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_INVALID_ARGUMENT);
  o.model = nullptr;
  o.model_size = 0;
  EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(d, nullptr);
  std::remove(junk.c_str());
  std::remove(wav.c_str());
}

TEST(ApiTest, OptionValidation) {
  REQUIRE_MODEL(model);
  ghostnv_options o;
  ghostnv_options_init(&o);
  o.model = model.c_str();
  ghostnv_denoiser* d = nullptr;

  ghostnv_options b = o;
  b.backend = GHOSTNV_BACKEND_CUDA;
  if (!GpuHere()) {
    EXPECT_EQ(ghostnv_create(&b, &d), GHOSTNV_ERROR_BACKEND_UNAVAILABLE);
    const std::string e = ghostnv_last_error();
    EXPECT_EQ(e.rfind("--backend cuda: ", 0), 0u) << e;
    EXPECT_NE(e.find("no CUDA backend"), std::string::npos) << e;
  }
  // A device index that no machine here has: a clear error naming it, GPU or not.
  b.backend = GHOSTNV_BACKEND_CUDA_DEVICE(255);
  EXPECT_EQ(ghostnv_create(&b, &d), GHOSTNV_ERROR_BACKEND_UNAVAILABLE);
  EXPECT_EQ(std::string(ghostnv_last_error()).rfind("--backend cuda:255: ", 0), 0u)
      << ghostnv_last_error();
  EXPECT_EQ(d, nullptr);
  b.backend = GHOSTNV_BACKEND_CUDA_DEVICE(256);
  EXPECT_EQ(ghostnv_create(&b, &d), GHOSTNV_ERROR_INVALID_ARGUMENT);
  b.backend = 7;
  EXPECT_EQ(ghostnv_create(&b, &d), GHOSTNV_ERROR_INVALID_ARGUMENT);

  for (uint32_t rate : {0u, 7999u, 22050u, 200000u}) {
    b = o;
    b.sample_rate = rate;
    EXPECT_EQ(ghostnv_create(&b, &d), GHOSTNV_ERROR_UNSUPPORTED) << rate;
    EXPECT_NE(std::string(ghostnv_last_error()), "") << rate;
  }
  for (uint32_t ch : {0u, 9u}) {
    b = o;
    b.channels = ch;
    EXPECT_EQ(ghostnv_create(&b, &d), GHOSTNV_ERROR_UNSUPPORTED) << ch;
  }
  for (float s : {-0.1f, 1.01f, std::numeric_limits<float>::quiet_NaN()}) {
    b = o;
    b.strength = s;
    EXPECT_EQ(ghostnv_create(&b, &d), GHOSTNV_ERROR_INVALID_ARGUMENT) << s;
  }
  b = o;
  b.struct_size = 8;
  EXPECT_EQ(ghostnv_create(&b, &d), GHOSTNV_ERROR_UNSUPPORTED);
  EXPECT_EQ(d, nullptr);

  // A newer caller's larger struct: fine while its unknown tail is zero.
  struct Bigger {
    ghostnv_options o;
    uint64_t future;
  } big;
  std::memset(&big, 0, sizeof(big));
  big.o = o;
  big.o.struct_size = sizeof(big);
  ASSERT_EQ(ghostnv_create(&big.o, &d), GHOSTNV_OK) << ghostnv_last_error();
  ghostnv_destroy(d);
  big.future = 1;
  EXPECT_EQ(ghostnv_create(&big.o, &d), GHOSTNV_ERROR_UNSUPPORTED);
}

TEST(ApiTest, ProcessIsADelayAtStrengthZeroAndCountsSanitised) {
  REQUIRE_MODEL(model);
  for (uint32_t ch : {1u, 2u}) {
    ghostnv_options o;
    ghostnv_options_init(&o);
    o.model = model.c_str();
    o.backend = GHOSTNV_BACKEND_CPU;
    o.channels = ch;
    o.strength = 0.0f;
    ghostnv_denoiser* d = nullptr;
    ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
    const int64_t lat = ghostnv_latency_frames(d);
    EXPECT_EQ(lat, 959);
    const size_t frames = 24000;
    auto in = Noise(frames * ch, 3);
    in[5] = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> out(in.size());
    // Odd call sizes, and in place for half of them.
    size_t pos = 0, k = 0;
    while (pos < frames) {
      const size_t n = std::min<size_t>(frames - pos, (k++ % 2) ? 333 : 1);
      std::copy(in.begin() + long(pos * ch), in.begin() + long((pos + n) * ch),
                out.begin() + long(pos * ch));
      ASSERT_EQ(ghostnv_process(d, out.data() + pos * ch, out.data() + pos * ch, n), GHOSTNV_OK);
      pos += n;
    }
    in[5] = 0.0f;
    for (size_t t = 0; t < frames; ++t)
      for (size_t c = 0; c < ch; ++c) {
        const float want = int64_t(t) >= lat ? in[(t - size_t(lat)) * ch + c] : 0.0f;
        ASSERT_NEAR(out[t * ch + c], want, 1e-7f) << t;
      }
    auto j = nlohmann::json::parse(ghostnv_info_json(d));
    EXPECT_EQ(j["counters"]["sanitized_input_samples"], 1);
    EXPECT_EQ(j["counters"]["frames_in"], frames);
    EXPECT_EQ(j["backend"], "cpu");
    EXPECT_EQ(j["backend_note"], "");
    EXPECT_EQ(j["channels"], ch);
    ghostnv_destroy(d);
  }
}

TEST(ApiTest, InfoJson) {
  REQUIRE_MODEL(model);
  ghostnv_options o;
  ghostnv_options_init(&o);
  o.model = model.c_str();
  o.sample_rate = 44100;
  o.channels = 2;
  ghostnv_denoiser* d = nullptr;
  ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
  std::vector<float> buf = Noise(44100 * 2, 4);
  ASSERT_EQ(ghostnv_process(d, buf.data(), buf.data(), 44100), GHOSTNV_OK);
  const char* s = ghostnv_info_json(d);
  ASSERT_NE(s, nullptr);
  auto j = nlohmann::json::parse(s);
  EXPECT_EQ(j["version"], GHOSTNV_VERSION_STRING);
  EXPECT_EQ(j["model"], "sh.rnnn");
  EXPECT_EQ(j["family"], "rnnoise");
  EXPECT_EQ(j["model_sample_rate"], 48000);
  EXPECT_DOUBLE_EQ(j["algorithmic_latency_ms"].get<double>(), 10.0);
  EXPECT_EQ(j["latency_frames"], ghostnv_latency_frames(d));
  EXPECT_NEAR(j["latency_ms"].get<double>(), 1000.0 * ghostnv_latency_frames(d) / 44100, 1e-9);
  EXPECT_EQ(j["backend"], GpuHere() ? "cuda" : "cpu");
  if (!GpuHere()) {
    EXPECT_NE(j["backend_note"].get<std::string>().find("no GPU backend"), std::string::npos);
    EXPECT_EQ(j["device"], "");
    EXPECT_EQ(j.count("gpu"), 0u);
  } else {
    EXPECT_NE(j["device"].get<std::string>(), "");
    EXPECT_EQ(j["gpu"]["mode"], "realtime");
    EXPECT_EQ(j["gpu"]["hops"], 2 * 91);  // 44100 frames at 44.1 kHz: 91 hops of 2 channels
  }
  EXPECT_EQ(j["backend_active"], j["backend"]);
  EXPECT_EQ(j["fallback"]["events"], 0);
  EXPECT_EQ(j["fallback"]["note"], "");
  EXPECT_EQ(j["counters"]["fallback_events"], 0);
  EXPECT_TRUE(j["simd"] == "avx2" || j["simd"] == "scalar");
  EXPECT_EQ(j["sample_rate"], 44100);
  EXPECT_EQ(j["resampling"], true);
  EXPECT_EQ(j["counters"]["frames_out"], 44100);
  EXPECT_GT(j["counters"]["hops"].get<int>(), 50);
  EXPECT_EQ(j["counters"]["underruns"], 0);
  ghostnv_destroy(d);
}

TEST(ApiTest, SetStrength) {
  REQUIRE_MODEL(model);
  ghostnv::Options o;
  o.model = model.c_str();
  ghostnv::Denoiser d(o);
  EXPECT_EQ(d.set_strength(0.25f), GHOSTNV_OK);
  EXPECT_EQ(nlohmann::json::parse(d.info_json())["strength"], 0.25);
  EXPECT_EQ(d.set_strength(1.5f), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(d.set_strength(std::nanf("")), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(nlohmann::json::parse(d.info_json())["strength"], 0.25);
  // From another thread while processing.
  std::vector<float> buf(48000);
  std::thread t([&] {
    for (int i = 0; i < 100; ++i) d.set_strength(float(i % 2));
  });
  for (int i = 0; i < 10; ++i) EXPECT_EQ(d.process(buf.data(), buf.data(), 4800), GHOSTNV_OK);
  t.join();
}

TEST(ApiTest, InMemoryModelMatchesTheFile) {
  REQUIRE_MODEL(model);
  auto m = ghostnv::models::LoadModel(model);
  ASSERT_TRUE(m.ok());
  auto image = ghostnv::models::SerializeGnvm(**m);
  ASSERT_TRUE(image.ok()) << image.status();
  ghostnv::Options a, b;
  a.model = model.c_str();
  {
    std::string copy = *image;  // freed right after create: the library must have copied it
    b.model_data = copy.data();
    b.model_size = copy.size();
  }
  std::string copy = *image;
  b.model_data = copy.data();
  b.model_size = copy.size();
  ghostnv::Denoiser da(a), db(b);
  copy.assign(copy.size(), '\0');  // scribble over the caller's buffer
  auto in = Noise(48000, 9);
  std::vector<float> x(in.size()), y(in.size());
  da.process(in.data(), x.data(), in.size());
  db.process(in.data(), y.data(), in.size());
  EXPECT_EQ(x, y);
  EXPECT_EQ(nlohmann::json::parse(db.info_json())["model_source"], "memory");
}

TEST(ApiTest, InMemoryRnnnTextMatchesTheFile) {
  REQUIRE_MODEL(model);
  std::ifstream f(model, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());
  ghostnv::Options a, b;
  a.model = model.c_str();
  b.model_data = text.data();
  b.model_size = text.size();
  ghostnv::Denoiser da(a), db(b);
  auto in = Noise(24000, 10);
  std::vector<float> x(in.size()), y(in.size());
  da.process(in.data(), x.data(), in.size());
  db.process(in.data(), y.data(), in.size());
  EXPECT_EQ(x, y);
  EXPECT_EQ(nlohmann::json::parse(db.info_json())["model_source"], "memory");
  // Truncated text is an invalid model, not a crash.
  b.model_size = text.size() / 2;
  ghostnv_denoiser* d = nullptr;
  EXPECT_EQ(ghostnv_create(&b, &d), GHOSTNV_ERROR_MODEL_INVALID);
}

TEST(ApiTest, CppWrapper) {
  ghostnv::Options bad;
  bad.model = "/nonexistent.gnvm";
  try {
    ghostnv::Denoiser d(bad);
    FAIL() << "expected ghostnv::Error";
  } catch (const ghostnv::Error& e) {
    EXPECT_EQ(e.code(), GHOSTNV_ERROR_MODEL_NOT_FOUND);
    EXPECT_NE(std::string(e.what()).find("/nonexistent.gnvm"), std::string::npos);
  }
  ghostnv::Denoiser empty;
  EXPECT_FALSE(empty);
  std::string msg;
  EXPECT_EQ(ghostnv::Denoiser::Create(bad, &empty, &msg), GHOSTNV_ERROR_MODEL_NOT_FOUND);
  EXPECT_FALSE(msg.empty());
  EXPECT_EQ(empty.info_json(), "");
  EXPECT_EQ(empty.process(nullptr, nullptr, 0), GHOSTNV_ERROR_INVALID_ARGUMENT);

  const std::string model = SharedModel();
  if (model.empty()) return;
  ghostnv::Options o;
  o.model = model.c_str();
  ghostnv::Denoiser a;
  ASSERT_EQ(ghostnv::Denoiser::Create(o, &a), GHOSTNV_OK);
  ghostnv_denoiser* raw = a.get();
  ghostnv::Denoiser b(std::move(a));
  EXPECT_FALSE(a);
  EXPECT_EQ(b.get(), raw);
  a = std::move(b);
  EXPECT_EQ(a.get(), raw);
  EXPECT_EQ(a.latency_frames(), 959);
}

TEST(ApiTest, LastErrorIsPerThread) {
  ghostnv::Options o;
  o.model = "/nonexistent-main.gnvm";
  ghostnv_denoiser* d = nullptr;
  ASSERT_NE(ghostnv_create(&o, &d), GHOSTNV_OK);
  std::string other;
  std::thread t([&] {
    ghostnv::Options p;
    p.channels = 0;
    ghostnv_denoiser* e = nullptr;
    ghostnv_create(&p, &e);
    other = ghostnv_last_error();
  });
  t.join();
  EXPECT_NE(other.find("channel"), std::string::npos) << other;
  EXPECT_NE(std::string(ghostnv_last_error()).find("nonexistent-main"), std::string::npos);
}


#if GHOSTNV_EXPECT_DEFAULT_MODEL
#define REQUIRE_DEFAULT_MODEL() (void)0
#else
#define REQUIRE_DEFAULT_MODEL() GTEST_SKIP() << "this build embeds no default model"
#endif

TEST(ApiTest, Version) {
  EXPECT_STREQ(ghostnv_version(), GHOSTNV_VERSION_STRING);
}

TEST(ApiTest, Modes) {
  const char* name = nullptr;
  EXPECT_EQ(ghostnv_mode_status(GHOSTNV_MODE_BASIC, &name), GHOSTNV_OK);
  EXPECT_STREQ(name, "basic");
  EXPECT_EQ(ghostnv_mode_status(GHOSTNV_MODE_MAXIMUM, &name), GHOSTNV_ERROR_NOT_AVAILABLE);
  EXPECT_STREQ(name, "maximum");
  EXPECT_EQ(ghostnv_mode_status(17, &name), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(name, "unknown");
  // Enhanced: the embedded GhostNV model when the build has it (EmbeddedEnhancedModel), else
  // only an installed file (none here).
  EXPECT_EQ(ghostnv::ModeStatus(ghostnv::Mode::kEnhanced),
            kEmbeddedEnhanced ? GHOSTNV_OK : GHOSTNV_ERROR_NOT_AVAILABLE);
  EXPECT_STREQ(ghostnv::ModeName(ghostnv::Mode::kGpuRealtime), "gpu-realtime");

  ghostnv::Options o;
  ghostnv_denoiser* d = nullptr;
  for (ghostnv::Mode m : {ghostnv::Mode::kEnhanced, ghostnv::Mode::kMaximum,
                          ghostnv::Mode::kGpuRealtime}) {
    if (m == ghostnv::Mode::kGpuRealtime && GpuHere()) continue;  // see GpuRealtimeMode
    if (m == ghostnv::Mode::kEnhanced && kEmbeddedEnhanced) continue;  // EmbeddedEnhancedModel
    o.set_mode(m);
    EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_NOT_AVAILABLE);
    EXPECT_EQ(d, nullptr);
    EXPECT_EQ(ghostnv_last_status(), GHOSTNV_ERROR_NOT_AVAILABLE);
    EXPECT_NE(std::string(ghostnv_last_error()).find("not available"), std::string::npos)
        << ghostnv_last_error();
    EXPECT_NE(std::string(ghostnv_last_error()).find(ghostnv::ModeName(m)), std::string::npos);
  }
  o.mode = 9;
  EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_INVALID_ARGUMENT);
  // A model file chooses the model: only Basic combines with it.
  o.mode = GHOSTNV_MODE_MAXIMUM;
  o.model = "/some/file.gnvm";
  EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_NOT_AVAILABLE);  // the mode is checked first
  o.mode = GHOSTNV_MODE_ENHANCED;
  EXPECT_EQ(ghostnv_create(&o, &d), kEmbeddedEnhanced ? GHOSTNV_ERROR_INVALID_ARGUMENT
                                                       : GHOSTNV_ERROR_NOT_AVAILABLE);
  EXPECT_EQ(d, nullptr);
  if (kEmbeddedEnhanced) {
    EXPECT_NE(std::string(ghostnv_last_error()).find("chooses its own model"), std::string::npos)
        << ghostnv_last_error();
    o.model = "builtin:enhanced";  // the embedded model by name is for mode Basic too
    EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_INVALID_ARGUMENT);
  }
  REQUIRE_DEFAULT_MODEL();
  o.mode = GHOSTNV_MODE_BASIC;
  o.model = nullptr;
  ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
  EXPECT_EQ(ghostnv_last_status(), GHOSTNV_OK);
  EXPECT_EQ(nlohmann::json::parse(ghostnv_info_json(d))["mode"], "basic");
  ghostnv_destroy(d);
}

// Enhanced and Maximum use the models a user installed (converted DTLN / DeepFilterNet3): found
// through $GHOSTNV_MODEL_PATH, they run exactly like the same file given by path.
TEST(ApiTest, InstalledModelsMakeEnhancedAndMaximumAvailable) {
  const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  const std::string model = std::string(src) + "/models/weights/default.gnvm";
  struct stat st;
  if (::stat(model.c_str(), &st) != 0) GTEST_SKIP() << "no models/weights/default.gnvm";
  char tmpl[] = "/tmp/ghostnv-models-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  auto copy = [&](const std::string& to) {
    std::ifstream in(model, std::ios::binary);
    std::ofstream out(to, std::ios::binary);
    out << in.rdbuf();
  };
  ::setenv("GHOSTNV_MODEL_PATH", ("/nonexistent/a:" + dir).c_str(), 1);
  ghostnv::Options o;
  ghostnv_denoiser* d = nullptr;
  o.mode = GHOSTNV_MODE_MAXIMUM;
  EXPECT_EQ(ghostnv_mode_status(GHOSTNV_MODE_MAXIMUM, nullptr), GHOSTNV_ERROR_NOT_AVAILABLE);
  EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_NOT_AVAILABLE);
  // The message says where it looked and how to install the model.
  EXPECT_NE(std::string(ghostnv_last_error()).find(dir + "/dfn3.gnvm"), std::string::npos)
      << ghostnv_last_error();
  EXPECT_NE(std::string(ghostnv_last_error()).find("ghostnv-convert"), std::string::npos);
  // Nothing installed: Enhanced is the embedded model (when the build has one); the name
  // "installed:enhanced" keeps meaning installed files only.
  o.mode = GHOSTNV_MODE_ENHANCED;
  o.backend = GHOSTNV_BACKEND_CPU;
  if (kEmbeddedEnhanced) {
    EXPECT_EQ(ghostnv_mode_status(GHOSTNV_MODE_ENHANCED, nullptr), GHOSTNV_OK);
    ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
    EXPECT_EQ(nlohmann::json::parse(ghostnv_info_json(d))["model_source"], "embedded");
    ghostnv_destroy(d);
  } else {
    EXPECT_EQ(ghostnv_mode_status(GHOSTNV_MODE_ENHANCED, nullptr), GHOSTNV_ERROR_NOT_AVAILABLE);
    EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_NOT_AVAILABLE);
    EXPECT_NE(std::string(ghostnv_last_error()).find(dir + "/dtln.gnvm"), std::string::npos)
        << ghostnv_last_error();
  }
  {
    ghostnv::Options n;
    n.model = "installed:enhanced";
    EXPECT_EQ(ghostnv_create(&n, &d), GHOSTNV_ERROR_MODEL_NOT_FOUND);
    EXPECT_EQ(d, nullptr);
    EXPECT_NE(std::string(ghostnv_last_error()).find(dir + "/enhanced.gnvm"), std::string::npos)
        << ghostnv_last_error();
  }

  copy(dir + "/dtln.gnvm");
  copy(dir + "/dfn3.gnvm");
  EXPECT_EQ(ghostnv_mode_status(GHOSTNV_MODE_ENHANCED, nullptr), GHOSTNV_OK);
  EXPECT_EQ(ghostnv_mode_status(GHOSTNV_MODE_MAXIMUM, nullptr), GHOSTNV_OK);
  const std::vector<float> in = Noise(4801, 17);
  std::vector<float> ref(in.size()), out(in.size());
  {
    ghostnv::Options b;
    b.model = model.c_str();
    b.backend = GHOSTNV_BACKEND_CPU;
    ghostnv::Denoiser by_path(b);
    ASSERT_EQ(by_path.process(in.data(), ref.data(), in.size()), GHOSTNV_OK);
  }
  for (int mode : {GHOSTNV_MODE_ENHANCED, GHOSTNV_MODE_MAXIMUM}) {
    o.mode = mode;
    o.backend = GHOSTNV_BACKEND_CPU;
    ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
    const auto info = nlohmann::json::parse(ghostnv_info_json(d));
    EXPECT_EQ(info["model_source"],
              dir + (mode == GHOSTNV_MODE_ENHANCED ? "/dtln.gnvm" : "/dfn3.gnvm"));
    EXPECT_EQ(info["mode"], mode == GHOSTNV_MODE_ENHANCED ? "enhanced" : "maximum");
    ASSERT_EQ(ghostnv_process(d, in.data(), out.data(), in.size()), GHOSTNV_OK);
    EXPECT_EQ(out, ref);
    ghostnv_destroy(d);
  }
  // enhanced.gnvm wins over dtln.gnvm, by mode and by name in mode Basic ("installed:enhanced").
  copy(dir + "/enhanced.gnvm");
  ghostnv::Options n;
  n.model = "installed:enhanced";
  ASSERT_EQ(ghostnv_create(&n, &d), GHOSTNV_OK) << ghostnv_last_error();
  EXPECT_EQ(nlohmann::json::parse(ghostnv_info_json(d))["model_source"], dir + "/enhanced.gnvm");
  ghostnv_destroy(d);
  o.mode = GHOSTNV_MODE_ENHANCED;
  ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
  EXPECT_EQ(nlohmann::json::parse(ghostnv_info_json(d))["model_source"], dir + "/enhanced.gnvm");
  ghostnv_destroy(d);
  // enhanced.gnvm alone (no dtln.gnvm) is found as well.
  ::unlink((dir + "/dtln.gnvm").c_str());
  ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
  EXPECT_EQ(nlohmann::json::parse(ghostnv_info_json(d))["model_source"], dir + "/enhanced.gnvm");
  ghostnv_destroy(d);
  // "builtin:enhanced" is the embedded model even with files installed.
  n.model = "builtin:enhanced";
  if (kEmbeddedEnhanced) {
    ASSERT_EQ(ghostnv_create(&n, &d), GHOSTNV_OK) << ghostnv_last_error();
    const auto bi = nlohmann::json::parse(ghostnv_info_json(d));
    EXPECT_EQ(bi["model_source"], "embedded");
    EXPECT_EQ(bi["family"], "demucs");
    EXPECT_EQ(bi["mode"], "basic");
    ghostnv_destroy(d);
  } else {
    EXPECT_EQ(ghostnv_create(&n, &d), GHOSTNV_ERROR_MODEL_NOT_FOUND);
  }
  n.model = "installed:nothing";
  EXPECT_EQ(ghostnv_create(&n, &d), GHOSTNV_ERROR_INVALID_ARGUMENT);
  // A corrupt installed file is a model error, not a crash.
  std::ofstream(dir + "/enhanced.gnvm", std::ios::binary | std::ios::trunc) << "GNVMjunk";
  o.mode = GHOSTNV_MODE_ENHANCED;
  EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_MODEL_INVALID);
  EXPECT_EQ(d, nullptr);
  for (const char* f : {"/dtln.gnvm", "/dfn3.gnvm", "/enhanced.gnvm"}) ::unlink((dir + f).c_str());
  ::rmdir(dir.c_str());
  ::unsetenv("GHOSTNV_MODEL_PATH");
}

TEST(ApiTest, PeriodHintLowersLatencyAndIsEnforced) {
  ghostnv::Options o;
  o.period_frames = 480;  // one hop per call: no buffering beyond the model's own 10 ms
  ghostnv_denoiser* d = nullptr;
  ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
  EXPECT_EQ(ghostnv_latency_frames(d), 480);
  std::vector<float> in(960, 0.01f), out(960);
  EXPECT_EQ(ghostnv_process(d, in.data(), out.data(), 960), GHOSTNV_OK);
  EXPECT_EQ(ghostnv_process(d, in.data(), out.data(), 100), GHOSTNV_ERROR_INVALID_ARGUMENT);
  ghostnv_destroy(d);
  // The spec's call holds the same promise (found by api_fuzz: it used to accept any count).
  ghostnv_context_t* c = ghostnv_init_audio_ex(&o);
  ASSERT_NE(c, nullptr) << ghostnv_last_error();
  EXPECT_EQ(ghostnv_denoise_audio(c, in.data(), out.data(), 960), GHOSTNV_OK);
  EXPECT_EQ(ghostnv_denoise_audio(c, in.data(), out.data(), 479), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ghostnv_denoise_audio(c, in.data(), out.data(), 0), GHOSTNV_OK);
  ghostnv_cleanup(c);
  ghostnv::Options any;
  ASSERT_EQ(ghostnv_create(&any, &d), GHOSTNV_OK);
  EXPECT_EQ(ghostnv_latency_frames(d), 959);
  ghostnv_destroy(d);
}

TEST(ApiTest, NewOptionFieldsAreValidated) {
  ghostnv::Options o;
  ghostnv_denoiser* d = nullptr;
  ghostnv::Options b = o;
  b.period_frames = 70000;
  EXPECT_EQ(ghostnv_create(&b, &d), GHOSTNV_ERROR_INVALID_ARGUMENT);
  for (float t : {-0.01f, 1.5f, std::nanf("")}) {
    b = o;
    b.vad_threshold = t;
    EXPECT_EQ(ghostnv_create(&b, &d), GHOSTNV_ERROR_INVALID_ARGUMENT) << t;
  }
  for (float g : {-1.0f, 10001.0f, std::nanf("")}) {
    b = o;
    b.vad_grace_ms = g;
    EXPECT_EQ(ghostnv_create(&b, &d), GHOSTNV_ERROR_INVALID_ARGUMENT) << g;
  }
  EXPECT_EQ(d, nullptr);
}

TEST(ApiTest, FirstLayoutOptionsGetDefaultsForNewFields) {
  REQUIRE_DEFAULT_MODEL();
  // A caller compiled against the 48-byte struct: the bytes after it are garbage here.
  ghostnv::Options o;
  std::memset(reinterpret_cast<char*>(&o) + 48, 0x7f, sizeof(o) - 48);
  o.struct_size = 48;
  ghostnv_denoiser* d = nullptr;
  ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
  auto j = nlohmann::json::parse(ghostnv_info_json(d));
  EXPECT_EQ(j["mode"], "basic");
  EXPECT_EQ(j["vad_gate"]["threshold"], 0.0);
  EXPECT_EQ(j["vad_gate"]["grace_ms"], 200.0);
  ghostnv_destroy(d);
}

TEST(ApiTest, BadBuffersAndSizes) {
  REQUIRE_DEFAULT_MODEL();
  ghostnv::Options o;
  o.channels = 2;
  ghostnv::Denoiser d(o);
  alignas(16) float buf[64] = {};
  float* odd = reinterpret_cast<float*>(reinterpret_cast<char*>(buf) + 1);
  EXPECT_EQ(d.process(odd, buf, 4), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(d.process(buf, odd, 4), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(d.process(buf, nullptr, 4), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(d.process(nullptr, buf, 4), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(d.process(nullptr, nullptr, 0), GHOSTNV_OK);  // zero frames: nothing to do
  EXPECT_EQ(d.process(buf, buf, SIZE_MAX), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(d.process(buf, buf, SIZE_MAX / 8), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(d.process(buf, buf, 32), GHOSTNV_OK);
  EXPECT_EQ(d.set_vad_gate(1.5f, 10.0f), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(d.set_vad_gate(0.5f, -1.0f), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(d.set_vad_gate(std::nanf(""), 1.0f), GHOSTNV_ERROR_INVALID_ARGUMENT);
  auto j = nlohmann::json::parse(d.info_json());
  EXPECT_EQ(j["vad_gate"]["threshold"], 0.0);
  EXPECT_EQ(j["counters"]["frames_in"], 32);
}

TEST(ApiTest, UseAfterDestroyIsDetected) {
  REQUIRE_DEFAULT_MODEL();
  ghostnv::Options o;
  ghostnv_denoiser* d = nullptr;
  ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK);
  ghostnv_destroy(d);
  float x[4] = {};
  EXPECT_EQ(ghostnv_process(d, x, x, 4), GHOSTNV_ERROR_BAD_HANDLE);
  EXPECT_EQ(ghostnv_set_strength(d, 0.5f), GHOSTNV_ERROR_BAD_HANDLE);
  EXPECT_EQ(ghostnv_set_vad_gate(d, 0.5f, 1.0f), GHOSTNV_ERROR_BAD_HANDLE);
  EXPECT_EQ(ghostnv_latency_frames(d), -1);
  EXPECT_EQ(ghostnv_info_json(d), nullptr);
  EXPECT_EQ(ghostnv_reset(d), GHOSTNV_ERROR_BAD_HANDLE);
  ghostnv_destroy(d);  // twice: a no-op

  ghostnv_context_t* c = ghostnv_init_audio(-1, 48000);
  ASSERT_NE(c, nullptr) << ghostnv_last_error();
  // A context is not a denoiser, and the other way round.
  EXPECT_EQ(ghostnv_process(reinterpret_cast<ghostnv_denoiser*>(c), x, x, 4),
            GHOSTNV_ERROR_BAD_HANDLE);
  ghostnv_cleanup(c);
  EXPECT_EQ(ghostnv_denoise_audio(c, x, x, 4), GHOSTNV_ERROR_BAD_HANDLE);
  EXPECT_EQ(ghostnv_audio_latency(c), GHOSTNV_ERROR_BAD_HANDLE);
  EXPECT_EQ(ghostnv_context_denoiser(c), nullptr);
  ghostnv_cleanup(c);  // twice: a no-op
}

TEST(ApiTest, TheSpecCalls) {
  REQUIRE_DEFAULT_MODEL();
  ghostnv_context_t* ctx = ghostnv_init_audio(-1, 48000);
  ASSERT_NE(ctx, nullptr) << ghostnv_last_error();
  EXPECT_EQ(ctx->gpu_context, nullptr);
  EXPECT_NE(ctx->model_data, nullptr);
  EXPECT_EQ(ctx->buffer_size, 480u);
  EXPECT_EQ(ghostnv_audio_latency(ctx), 959);
  ghostnv_denoiser* inner = ghostnv_context_denoiser(ctx);
  ASSERT_NE(inner, nullptr);
  EXPECT_EQ(ghostnv_latency_frames(inner), 959);
  auto j = nlohmann::json::parse(ghostnv_info_json(inner));
  EXPECT_EQ(j["backend"], "cpu");
  EXPECT_EQ(j["model_source"], "embedded");

  // The same audio through the versioned API, in other call sizes: bit-identical.
  ghostnv::Options o;
  o.backend = GHOSTNV_BACKEND_CPU;
  ghostnv::Denoiser ref(o);
  auto in = Noise(48000, 21);
  std::vector<float> a(in.size()), b(in.size());
  size_t pos = 0, k = 0;
  const size_t sizes[] = {1, 480, 7, 1000, 113, 4097, 0, 513};
  while (pos < in.size()) {
    const size_t n = std::min(in.size() - pos, sizes[k++ % 8]);
    ASSERT_EQ(ghostnv_denoise_audio(ctx, in.data() + pos, a.data() + pos, n), 0);
    pos += n;
  }
  ASSERT_EQ(ref.process(in.data(), b.data(), in.size()), GHOSTNV_OK);
  EXPECT_EQ(a, b);
  ghostnv_cleanup(ctx);

  // 44.1 kHz: the hop is 441 samples there.
  ctx = ghostnv_init_audio(-1, 44100);
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(ctx->buffer_size, 441u);
  ghostnv_cleanup(ctx);
  // -2: any GPU, else the CPU.
  ctx = ghostnv_init_audio(GHOSTNV_GPU_AUTO, 96000);
  ASSERT_NE(ctx, nullptr) << ghostnv_last_error();
  ghostnv_cleanup(ctx);
}

TEST(ApiTest, TheSpecCallsRefuseClearly) {
  // Device 200 exists nowhere here; device 0 only on a GPU machine.
  for (int id : {0, 200}) {
    if (id == 0 && GpuHere()) continue;
    EXPECT_EQ(ghostnv_init_audio(id, 48000), nullptr);
    EXPECT_EQ(ghostnv_last_status(), GHOSTNV_ERROR_BACKEND_UNAVAILABLE);
    const std::string gpu = ghostnv_last_error();
    EXPECT_NE(gpu.find("gpu_id " + std::to_string(id)), std::string::npos) << gpu;
    EXPECT_NE(gpu.find("no GPU backend"), std::string::npos) << gpu;
    EXPECT_NE(gpu.find("-1"), std::string::npos) << gpu;
  }
  EXPECT_EQ(ghostnv_init_audio(256, 48000), nullptr);
  EXPECT_EQ(ghostnv_last_status(), GHOSTNV_ERROR_INVALID_ARGUMENT);
  if (!GpuHere()) {
    EXPECT_EQ(ghostnv_init_audio(3, 48000), nullptr);
  }
  EXPECT_EQ(ghostnv_init_audio(-3, 48000), nullptr);
  EXPECT_EQ(ghostnv_last_status(), GHOSTNV_ERROR_INVALID_ARGUMENT);
  for (size_t rate : {size_t{0}, size_t{22050}, size_t{7999}, size_t{192001}, SIZE_MAX,
                      size_t{1} << 32 | 48000}) {
    EXPECT_EQ(ghostnv_init_audio(-1, rate), nullptr) << rate;
    EXPECT_EQ(ghostnv_last_status(), GHOSTNV_ERROR_UNSUPPORTED) << rate;
    EXPECT_NE(std::string(ghostnv_last_error()).find(std::to_string(rate)), std::string::npos)
        << ghostnv_last_error();
  }
  REQUIRE_DEFAULT_MODEL();
  ghostnv::Options o;
  o.channels = 2;
  ghostnv_context_t* ctx = ghostnv_init_audio_ex(&o);
  ASSERT_NE(ctx, nullptr) << ghostnv_last_error();
  float x[8] = {};
  EXPECT_EQ(ghostnv_denoise_audio(ctx, x, x, 3), GHOSTNV_ERROR_INVALID_ARGUMENT);  // not whole frames
  EXPECT_EQ(ghostnv_denoise_audio(ctx, x, x, 8), 0);
  EXPECT_EQ(ghostnv_denoise_audio(ctx, x, x, 0), 0);
  EXPECT_EQ(ghostnv_denoise_audio(ctx, nullptr, x, 2), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ghostnv_denoise_audio(ctx, x, x, SIZE_MAX - 1), GHOSTNV_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(ghostnv_strerror(GHOSTNV_ERROR_INVALID_ARGUMENT), "invalid argument");
  ghostnv_cleanup(ctx);
  o.mode = GHOSTNV_MODE_MAXIMUM;
  EXPECT_EQ(ghostnv_init_audio_ex(&o), nullptr);
  EXPECT_EQ(ghostnv_last_status(), GHOSTNV_ERROR_NOT_AVAILABLE);
}

TEST(ApiTest, ResetStartsOverAndKeepsSettings) {
  REQUIRE_DEFAULT_MODEL();
  for (uint32_t rate : {48000u, 44100u}) {
    ghostnv::Options o;
    o.sample_rate = rate;
    o.strength = 0.7f;
    ghostnv::Denoiser fresh(o), used(o);
    auto in = Noise(rate, 31);
    std::vector<float> a(in.size()), b(in.size());
    used.process(in.data(), b.data(), 12345);
    used.set_vad_gate(0.4f, 50.0f);
    used.clear_state();
    used.set_vad_gate(0.0f, 50.0f);
    auto j = nlohmann::json::parse(used.info_json());
    EXPECT_EQ(j["counters"]["frames_in"], 0);
    EXPECT_NEAR(j["strength"].get<double>(), 0.7, 1e-6);
    EXPECT_EQ(j["vad_gate"]["grace_ms"], 50.0);
    fresh.process(in.data(), a.data(), in.size());
    used.process(in.data(), b.data(), in.size());
    EXPECT_EQ(a, b) << rate;
  }
}

// A speech-like test signal: bursts of a harmonic tone with a syllable envelope, over noise.
std::vector<float> Bursts(size_t n, int rate, uint32_t seed) {
  std::vector<float> v = Noise(n, seed);
  for (size_t t = 0; t < n; ++t) {
    const double s = static_cast<double>(t) / rate;
    v[t] *= 0.02f;
    const double burst = std::fmod(s, 1.0) < 0.4 ? std::sin(M_PI * std::fmod(s, 1.0) / 0.4) : 0.0;
    double tone = 0;
    for (int h = 1; h <= 12; ++h) tone += std::sin(2 * M_PI * 140.0 * h * s) / h;
    v[t] += static_cast<float>(0.25 * burst * std::sin(2 * M_PI * 4 * s) * tone);
  }
  return v;
}

TEST(ApiTest, VadGate) {
  REQUIRE_DEFAULT_MODEL();
  ghostnv::Options o;
  ghostnv::Denoiser plain(o), gated(o), closed(o);
  const auto in = Bursts(48000 * 4, 48000, 5);
  std::vector<float> a(in.size()), b(in.size()), c(in.size());
  plain.process(in.data(), a.data(), in.size());
  // Off: bit-exact.
  gated.process(in.data(), b.data(), in.size());
  EXPECT_EQ(a, b);
  // Threshold 1 keeps the gate shut: silence after the first hop's ramp.
  ASSERT_EQ(closed.set_vad_gate(1.0f, 0.0f), GHOSTNV_OK);
  closed.process(in.data(), c.data(), in.size());
  double tail = 0;
  for (size_t t = 2000; t < c.size(); ++t) tail += std::fabs(c[t]);
  EXPECT_EQ(tail, 0.0);
  auto j = nlohmann::json::parse(closed.info_json());
  EXPECT_EQ(j["vad_gate"]["threshold"], 1.0);
  EXPECT_EQ(j["vad_gate"]["open"], false);
  EXPECT_GT(j["counters"]["gated_frames"].get<double>(), 0.9 * static_cast<double>(in.size()));
  // A middle threshold passes some audio unchanged and mutes some.
  ghostnv::Options m;
  m.vad_threshold = 0.5f;
  m.vad_grace_ms = 100.0f;
  ghostnv::Denoiser mid(m);
  std::vector<float> d(in.size());
  mid.process(in.data(), d.data(), in.size());
  size_t same = 0, muted = 0;
  for (size_t t = 0; t < d.size(); ++t) {
    same += d[t] == a[t] && a[t] != 0.0f;
    muted += d[t] == 0.0f && a[t] != 0.0f;
  }
  EXPECT_GT(same, in.size() / 10) << nlohmann::json::parse(mid.info_json()).dump();
  EXPECT_GT(muted, in.size() / 10) << nlohmann::json::parse(mid.info_json()).dump();
}

}  // namespace
