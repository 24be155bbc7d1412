// Tests of the public API through libghostnv.so (C ABI and the C++ wrapper).
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
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
  ghostnv_options_init(nullptr);  // no crash
}

TEST(ApiTest, StrerrorCoversEveryCode) {
  for (int c = 0; c >= -7; --c) {
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
  ghostnv_destroy(nullptr);
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
  EXPECT_EQ(ghostnv_create(&b, &d), GHOSTNV_ERROR_BACKEND_UNAVAILABLE);
  EXPECT_STREQ(ghostnv_last_error(), "--backend cuda: this build has no CUDA backend");
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
  EXPECT_EQ(j["backend"], "cpu");
  EXPECT_NE(j["backend_note"].get<std::string>().find("no GPU backend"), std::string::npos);
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

}  // namespace
