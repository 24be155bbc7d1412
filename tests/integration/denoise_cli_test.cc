// Integration tests of the ghostnv-denoise tool: runs the built binary on files made here.
//
// The model: the library's embedded default when the build has one, else
// $GHOSTNV_SHARED_DIR/data/models/rnnoise/sh.rnnn; without either the tests that need a model
// are skipped.
#include <dirent.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <numbers>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "audio/sound_file.h"
#include "gtest/gtest.h"
#include "models/gnvm.h"
#include "models/ir.h"
#include "nlohmann/json.hpp"

#ifndef GHOSTNV_DENOISE_BIN
#error "GHOSTNV_DENOISE_BIN must name the ghostnv-denoise binary"
#endif

namespace {

namespace audio = ghostnv::audio;

struct Result {
  int exit_code = -1;
  std::string out, err;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

bool Exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// Noisy speech-like test audio (defined below); `clean` receives the speech part.
std::vector<float> SpeechPlusNoise(int rate, int channels, size_t frames, uint32_t seed,
                                   std::vector<float>* clean = nullptr);

class DenoiseCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ghostnv_cli_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + Quote(dir_)).c_str()); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // Writes `src` (a demucs model) to `path` with metadata.demucs.output_delay = `output_delay`
  // and skip_delay = `skip_delay` and the latency to match; returns the latency without them.
  static int WriteDemucsDelays(const ghostnv::models::Model& src, int output_delay,
                               int skip_delay, const std::string& path) {
    ghostnv::models::Model m = src;  // the tensors stay with src
    nlohmann::json meta = nlohmann::json::parse(m.metadata_json);
    const int base = m.algorithmic_latency - meta["demucs"].value("output_delay", 0);
    meta["demucs"]["output_delay"] = output_delay;
    meta["demucs"]["skip_delay"] = skip_delay;
    m.metadata_json = meta.dump();
    m.algorithmic_latency = base + output_delay;
    const absl::Status st = ghostnv::models::WriteGnvmFile(m, path);
    EXPECT_TRUE(st.ok()) << st;
    return base;
  }

  // The delay tests' three runs on 48000 + 517 frames of mono noisy speech (seed `seed`): the
  // shipped enhanced model's weights written without delays ("plain") and with `output_delay`
  // and `skip_delay` ("variant"), each at strength 1, and the variant at strength 0 ("dry");
  // checks each run's report, latency (the variant's `output_delay` more) and length, and that
  // the dry run is the input, aligned. `skip` says why there is nothing to test (no source
  // tree, no shipped file); ok = false otherwise means a check failed.
  struct DelayRuns {
    bool ok = false;
    std::string skip;
    std::vector<float> x, plain, variant;
  };
  DelayRuns RunDelayVariants(int output_delay, int skip_delay, uint32_t seed) const {
    DelayRuns d;
    const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
    if (!src) {
      d.skip = "no GHOSTNV_SOURCE_DIR";
      return d;
    }
    const std::string enhanced = std::string(src) + "/models/weights/enhanced.gnvm";
    if (!Exists(enhanced)) {
      d.skip = "no models/weights/enhanced.gnvm";
      return d;
    }
    auto loaded = ghostnv::models::LoadGnvmFile(enhanced);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    if (!loaded.ok()) return d;
    const std::string tag = std::to_string(seed);
    const std::string plain = Path("plain" + tag + ".gnvm"), var = Path("var" + tag + ".gnvm");
    const int base = WriteDemucsDelays(**loaded, 0, 0, plain);
    WriteDemucsDelays(**loaded, output_delay, skip_delay, var);
    const size_t frames = 48000 + 517;
    d.x = SpeechPlusNoise(48000, 1, frames, seed);
    const std::string in = Path("in" + tag + ".wav");
    EXPECT_TRUE(audio::WriteSoundFile(
        in, {audio::kContainerWav, audio::Subtype::kFloat, 48000, 1}, d.x).ok());
    const auto [jp, yp] = RunFloat(in, plain, "1", Path("plain" + tag + ".wav"));
    const auto [jv, yv] = RunFloat(in, var, "1", Path("var" + tag + ".wav"));
    const auto [jd, yd] = RunFloat(in, var, "0", Path("dry" + tag + ".wav"));
    if (jp.is_null() || jv.is_null() || jd.is_null()) return d;
    EXPECT_DOUBLE_EQ(jp["algorithmic_latency_ms"].get<double>(), base / 48.0);
    EXPECT_DOUBLE_EQ(jv["algorithmic_latency_ms"].get<double>(), (base + output_delay) / 48.0);
    EXPECT_EQ(yp.size(), frames);
    EXPECT_EQ(yv.size(), frames);
    EXPECT_EQ(yd.size(), frames);
    d.ok = yp.size() == frames && yv.size() == frames && yd.size() == frames;
    if (!d.ok) return d;
    // the dry signal (strength 0) stays aligned with the input
    size_t off = 0, first = frames;
    for (size_t t = 0; t < frames; ++t) {
      if (!(std::fabs(yd[t] - d.x[t]) <= 1e-6f)) {
        ++off;
        first = std::min(first, t);
      }
    }
    EXPECT_EQ(off, 0u) << "dry output differs from the input from frame " << first;
    d.ok = off == 0;
    d.plain = yp;
    d.variant = yv;
    return d;
  }

  // ghostnv-denoise `in` -> `out` on the CPU, float output, `--report json`: the report (null
  // on failure) and the output samples.
  std::pair<nlohmann::json, std::vector<float>> RunFloat(const std::string& in,
                                                         const std::string& model,
                                                         const char* strength,
                                                         const std::string& out) const {
    const Result r = RunTool({in, out, "--model", model, "--strength", strength, "--report",
                              "json", "--backend", "cpu", "--format", "float"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto y = audio::ReadSoundFile(out);
    EXPECT_TRUE(y.ok());
    return {r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json(),
            y.ok() ? y->samples : std::vector<float>()};
  }

  // `env` (optional): a prefix for the command line, e.g. "env -u GHOSTNV_MODEL_PATH ".
  Result RunTool(const std::vector<std::string>& args, const std::string& env = "") const {
    std::string cmd = env + Quote(GHOSTNV_DENOISE_BIN);
    for (const std::string& a : args) cmd.append(" ").append(Quote(a));
    const std::string o = dir_ + "/.stdout", e = dir_ + "/.stderr";
    cmd.append(" >").append(Quote(o)).append(" 2>").append(Quote(e)).append(" </dev/null");
    Result r;
    const int status = std::system(cmd.c_str());
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    r.out = Slurp(o);
    r.err = Slurp(e);
    std::remove(o.c_str());
    std::remove(e.c_str());
    return r;
  }

  // Files in `dir` other than the ones named (finds temp files left behind).
  static std::vector<std::string> ListDir(const std::string& dir) {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != ".." && n != ".stdout" && n != ".stderr") names.push_back(n);
      }
      ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  // Model arguments for the tool, or empty (and *why) when no model is available.
  std::vector<std::string> ModelArgs(std::string* why) {
    static int state = 0;  // 0 unknown, 1 default, 2 shared, 3 none
    static std::string shared;
    if (state == 0) {
      const std::string in = Path("probe.wav");
      std::vector<float> x(4800, 0.0f);
      EXPECT_TRUE(audio::WriteSoundFile(in, {audio::kContainerWav, audio::Subtype::kPcm16, 48000, 1},
                                        x).ok());
      const Result r = RunTool({in, Path("probe_out.wav"), "--model", "default"});
      std::remove(Path("probe_out.wav").c_str());
      std::remove(in.c_str());
      if (r.exit_code == 0) {
        state = 1;
      } else {
        const char* sh = std::getenv("GHOSTNV_SHARED_DIR");
        shared = sh ? std::string(sh) + "/data/models/rnnoise/sh.rnnn" : "";
        state = !shared.empty() && Exists(shared) ? 2 : 3;
      }
    }
    if (state == 1) return {"--model", "default"};
    if (state == 2) return {"--model", shared};
    *why = "no model: the library has no embedded default and $GHOSTNV_SHARED_DIR/data/models/"
           "rnnoise/sh.rnnn is absent";
    return {};
  }

  std::string dir_;
};

#define REQUIRE_MODEL(args)                      \
  std::string why_;                              \
  const std::vector<std::string> args = ModelArgs(&why_); \
  if (args.empty()) GTEST_SKIP() << why_

// Speech-like: a gliding harmonic voice with formant-like weights and syllable-rate bursts;
// plus noise made of many random sinusoids below 7 kHz (band-limited, so resampling to and from
// 48 kHz is transparent). Interleaved; channel 1 (if any) is a different voice.
std::vector<float> SpeechPlusNoise(int rate, int channels, size_t frames, uint32_t seed,
                                   std::vector<float>* clean) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  struct Tone {
    double f, phase, amp;
  };
  std::vector<Tone> noise(48);
  for (Tone& t : noise) t = {60 + 6900 * u(rng), 2 * std::numbers::pi * u(rng), 0.004 + 0.01 * u(rng)};
  std::vector<float> out(frames * size_t(channels));
  if (clean) clean->assign(out.size(), 0.0f);
  for (int c = 0; c < channels; ++c) {
    double phase = 0;
    for (size_t i = 0; i < frames; ++i) {
      const double t = double(i) / rate;
      const double f0 = 120 + 40 * c + 30 * std::sin(2 * std::numbers::pi * 0.7 * t);
      phase += 2 * std::numbers::pi * f0 / rate;
      const double syllable = std::max(0.0, std::sin(2 * std::numbers::pi * 3.5 * t + c));
      double v = 0;
      for (int h = 1; h <= 25; ++h) {
        const double fh = f0 * h;
        if (fh > 6000) break;
        const double formant = std::exp(-std::pow((fh - 700) / 300, 2)) +
                               0.6 * std::exp(-std::pow((fh - 1800) / 400, 2)) + 0.05;
        v += formant * std::sin(h * phase) / h;
      }
      double n = 0;
      for (const Tone& k : noise) n += k.amp * std::sin(2 * std::numbers::pi * k.f * t + k.phase + c);
      const double s = 0.3 * syllable * v;
      out[i * channels + c] = float(s + n);
      if (clean) (*clean)[i * channels + c] = float(s);
    }
  }
  return out;
}

void WriteRawFloatWav(const std::string& path, int rate, int channels,
                      const std::vector<float>& samples) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr);
  sf_writef_float(f, samples.data(), sf_count_t(samples.size() / size_t(channels)));
  sf_close(f);
}

// Lag (in frames, within ±max_lag) maximising the cross-correlation of channel 0.
int BestLag(const std::vector<float>& a, const std::vector<float>& b, int channels, int max_lag) {
  const long frames = long(std::min(a.size(), b.size()) / size_t(channels));
  double best = -1e300;
  int best_lag = 0;
  for (int lag = -max_lag; lag <= max_lag; ++lag) {
    double s = 0;
    for (long t = std::max(0L, long(-lag)); t < frames && t + lag < frames; ++t)
      s += double(a[size_t(t) * channels]) * b[size_t(t + lag) * channels];
    if (s > best) best = s, best_lag = lag;
  }
  return best_lag;
}

double SnrDb(const std::vector<float>& ref, const std::vector<float>& x) {
  double s = 0, e = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    s += double(ref[i]) * ref[i];
    e += (double(ref[i]) - x[i]) * (double(ref[i]) - x[i]);
  }
  return 10 * std::log10(s / std::max(e, 1e-300));
}

// Every supported format, rate and channel count: length and format preserved, no NaN, and
// at strength 0 the output is the input, time-aligned (lag 0).
TEST_F(DenoiseCliTest, AllFormatsRatesAndChannels) {
  REQUIRE_MODEL(model);
  struct Fmt {
    int container;
    audio::Subtype subtype;
    const char* ext;
  };
  const Fmt fmts[] = {{audio::kContainerWav, audio::Subtype::kPcm16, "wav"},
                      {audio::kContainerWav, audio::Subtype::kPcm24, "wav"},
                      {audio::kContainerWav, audio::Subtype::kPcm32, "wav"},
                      {audio::kContainerWav, audio::Subtype::kFloat, "wav"},
                      {audio::kContainerFlac, audio::Subtype::kPcm16, "flac"},
                      {audio::kContainerFlac, audio::Subtype::kPcm24, "flac"}};
  uint32_t seed = 1;
  for (const Fmt& f : fmts) {
    for (int rate : {44100, 48000, 96000}) {
      for (int ch : {1, 2}) {
        SCOPED_TRACE(::testing::Message() << audio::ContainerName(f.container) << " "
                                          << audio::SubtypeName(f.subtype) << " " << rate << " Hz "
                                          << ch << " ch");
        const size_t frames = size_t(rate) * 6 / 10 + 37;  // not a multiple of anything
        const std::string in = Path(std::string("in.") + f.ext);
        const std::string out = Path(std::string("out.") + f.ext);
        const audio::SoundFormat fmt{f.container, f.subtype, rate, ch};
        ASSERT_TRUE(audio::WriteSoundFile(in, fmt, SpeechPlusNoise(rate, ch, frames, seed++)).ok());
        auto src = audio::ReadSoundFile(in);
        ASSERT_TRUE(src.ok());

        for (const char* strength : {"0", "1"}) {
          std::vector<std::string> args = {in, out, "--strength", strength, "--report", "json"};
          args.insert(args.end(), model.begin(), model.end());
          const Result r = RunTool(args);
          ASSERT_EQ(r.exit_code, 0) << r.err;
          EXPECT_EQ(r.err, "");  // no progress bar when stderr is not a terminal
          const auto j = nlohmann::json::parse(r.out);
          EXPECT_EQ(j["input"]["frames"], frames);
          EXPECT_EQ(j["output"]["frames"], frames);
          EXPECT_EQ(j["output"]["subtype"], audio::SubtypeName(f.subtype));
          auto res = audio::ReadSoundFile(out);
          ASSERT_TRUE(res.ok()) << res.status();
          EXPECT_EQ(res->frames, int64_t(frames));
          EXPECT_EQ(res->format.container, f.container);
          EXPECT_EQ(res->format.subtype, f.subtype);
          EXPECT_EQ(res->format.sample_rate, rate);
          EXPECT_EQ(res->format.channels, ch);
          EXPECT_EQ(res->sanitized, 0);
          for (float v : res->samples) ASSERT_TRUE(std::isfinite(v));
          if (std::string(strength) == "0") {
            EXPECT_EQ(BestLag(src->samples, res->samples, ch, 300), 0);
            // Resampling costs a little accuracy, 16-bit requantisation a little more.
            EXPECT_GT(SnrDb(src->samples, res->samples), rate == 48000 ? 80.0 : 45.0);
          } else {
            double e = 0;
            for (float v : res->samples) e += double(v) * v;
            EXPECT_GT(e, 0.0);
          }
        }
        EXPECT_EQ(ListDir(dir_), (std::vector<std::string>{std::string("in.") + f.ext,
                                                           std::string("out.") + f.ext}));
        std::remove(in.c_str());
        std::remove(out.c_str());
      }
    }
  }
}

TEST_F(DenoiseCliTest, OddLengthsAndFormatConversion) {
  REQUIRE_MODEL(model);
  for (size_t frames : {size_t{0}, size_t{1}, size_t{479}, size_t{4097}}) {
    // (An empty FLAC cannot be written; the empty case goes to WAV.)
    const std::string in = Path("in.wav"), out = Path(frames ? "out.flac" : "out.wav");
    ASSERT_TRUE(audio::WriteSoundFile(in, {audio::kContainerWav, audio::Subtype::kFloat, 48000, 2},
                                      SpeechPlusNoise(48000, 2, frames, 5)).ok());
    std::vector<std::string> args = {in, out, "--format", "pcm24"};
    args.insert(args.end(), model.begin(), model.end());
    const Result r = RunTool(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto res = audio::ReadSoundFile(out);
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->frames, int64_t(frames));
    // The container follows OUT's extension, the subtype --format.
    EXPECT_EQ(res->format.container, frames ? audio::kContainerFlac : audio::kContainerWav);
    EXPECT_EQ(res->format.subtype, audio::Subtype::kPcm24);
  }
}

TEST_F(DenoiseCliTest, TextReport) {
  REQUIRE_MODEL(model);
  const std::string in = Path("in.wav"), out = Path("out.wav");
  ASSERT_TRUE(audio::WriteSoundFile(in, {audio::kContainerWav, audio::Subtype::kPcm16, 44100, 1},
                                    SpeechPlusNoise(44100, 1, 44100, 6)).ok());
  // Whether this machine has a GPU the tool can use, asked of the tool through the explicit
  // `--backend cuda` (not through `auto`, the path under test): it runs there, or fails naming
  // why ("no CUDA backend" when there is no driver or device).
  std::vector<std::string> probe = {in, Path("probe.wav"), "--backend", "cuda"};
  probe.insert(probe.end(), model.begin(), model.end());
  const Result cuda = RunTool(probe);
  const bool gpu = cuda.exit_code == 0;
  std::vector<std::string> args = {in, out, "--backend", "auto"};
  args.insert(args.end(), model.begin(), model.end());
  const Result r = RunTool(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* key : {"model:", "backend:", "simd:", "input:", "output:",
                          "wav PCM_16, 44100 Hz, 1 ch, 44100 frames", "real-time factor:",
                          "latency:", "10.00 ms algorithmic", "sanitized samples: 0",
                          "clipped samples:"}) {
    EXPECT_NE(r.out.find(key), std::string::npos) << key << "\n" << r.out;
  }
  const size_t b = r.out.find("backend:");
  ASSERT_NE(b, std::string::npos) << r.out;
  const std::string backend_line = r.out.substr(b, r.out.find('\n', b) - b);
  if (gpu) {
    // auto picks the GPU the explicit request could use.
    EXPECT_NE(backend_line.find("cuda"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("no GPU backend"), std::string::npos) << r.out;
  } else {
    EXPECT_NE(backend_line.find("cpu (using the CPU: "), std::string::npos) << r.out;
    if (cuda.err.find("no CUDA backend") != std::string::npos) {
      EXPECT_NE(backend_line.find("no GPU backend in this build"), std::string::npos) << r.out;
    }
  }
}

TEST_F(DenoiseCliTest, JsonReportAndReference) {
  REQUIRE_MODEL(model);
  std::vector<float> clean;
  const std::vector<float> noisy = SpeechPlusNoise(48000, 2, 48000 * 2, 7, &clean);
  const std::string in = Path("noisy.wav"), ref = Path("clean.wav"), out = Path("out.wav");
  const audio::SoundFormat fmt{audio::kContainerWav, audio::Subtype::kFloat, 48000, 2};
  ASSERT_TRUE(audio::WriteSoundFile(in, fmt, noisy).ok());
  ASSERT_TRUE(audio::WriteSoundFile(ref, fmt, clean).ok());
  for (const char* strength : {"0", "1"}) {
    std::vector<std::string> args = {in,        out, "--reference", ref, "--report", "json",
                                     "--strength", strength, "--backend", "cpu"};
    args.insert(args.end(), model.begin(), model.end());
    const Result r = RunTool(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    for (const char* key : {"model", "family", "backend", "simd", "input", "output",
                            "realtime_factor", "algorithmic_latency_ms", "total_latency_ms",
                            "sanitized_samples", "clipped_samples", "si_sdr_db"}) {
      EXPECT_TRUE(j.contains(key)) << key;
    }
    EXPECT_EQ(j["backend"], "cpu");
    EXPECT_EQ(j["input"]["container"], "wav");
    EXPECT_EQ(j["input"]["subtype"], "FLOAT");
    EXPECT_EQ(j["input"]["sample_rate"], 48000);
    EXPECT_EQ(j["input"]["channels"], 2);
    EXPECT_DOUBLE_EQ(j["input"]["seconds"].get<double>(), 2.0);
    EXPECT_GT(j["realtime_factor"].get<double>(), 0.0);
    EXPECT_DOUBLE_EQ(j["algorithmic_latency_ms"].get<double>(), 10.0);
    EXPECT_NEAR(j["total_latency_ms"].get<double>(), 959 / 48.0, 1e-9);
    const double in_db = j["si_sdr_db"]["input"].get<double>();
    const double out_db = j["si_sdr_db"]["output"].get<double>();
    EXPECT_TRUE(std::isfinite(in_db) && std::isfinite(out_db));
    if (std::string(strength) == "0") {
      EXPECT_NEAR(out_db, in_db, 0.01);  // output == input, aligned
    }
  }
}

// A demucs model trained on a target delayed by D samples (metadata.demucs.output_delay, session
// 10): the library reports D more samples of latency and the tool removes them, so the same
// network's output comes out D samples earlier than with the plain file, and the dry signal
// (strength 0) stays aligned with the input. Both files: the shipped enhanced model's weights.
TEST_F(DenoiseCliTest, DemucsOutputDelayIsCompensated) {
  const int D = 203;  // not a multiple of the hop (256); no skip delays (256 since session 11)
  const DelayRuns r = RunDelayVariants(D, 0, 5);
  if (!r.skip.empty()) GTEST_SKIP() << r.skip;
  ASSERT_TRUE(r.ok);
  const std::vector<float>& yp = r.plain;
  const std::vector<float>& yl = r.variant;
  const size_t frames = r.x.size();
  double energy = 0;
  for (size_t t = 0; t + D < frames; ++t) {
    ASSERT_NEAR(yl[t], yp[t + D], 1e-6f) << t;
    energy += double(yl[t]) * yl[t];
  }
  EXPECT_GT(energy, 1.0);
}

// A skip-delayed demucs file (metadata.demucs.skip_delay = output_delay = D, session 11: the
// shipped weights with the skips delayed, as tools/train/enhanced_export.py writes it): the
// library reports D more samples of latency, the tool removes them, and the output lines up
// with the plain file's (both estimate the clean signal at the same time: the cross-correlation
// peaks at lag 0 among +-512) while differing from it (the delay lines change the network); the
// dry signal (strength 0) stays aligned with the input.
TEST_F(DenoiseCliTest, DemucsSkipDelayIsAligned) {
  const int D = 256;
  const DelayRuns r = RunDelayVariants(D, D, 6);
  if (!r.skip.empty()) GTEST_SKIP() << r.skip;
  ASSERT_TRUE(r.ok);
  const std::vector<float>& yp = r.plain;
  const std::vector<float>& ys = r.variant;
  const size_t frames = r.x.size();
  const size_t lo = 4800, hi = frames - 4800;
  auto corr = [&](int lag) {
    double xy = 0, xx = 0, yy = 0;
    for (size_t t = lo; t < hi; ++t) {
      const double a = yp[t], b = ys[t + lag];
      xy += a * b;
      xx += a * a;
      yy += b * b;
    }
    return xy / std::sqrt(xx * yy + 1e-30);
  };
  int best = 0;
  double c0 = corr(0), cb = c0, diff = 0;
  for (int lag = -512; lag <= 512; ++lag) {
    const double c = corr(lag);
    if (c > cb) {
      cb = c;
      best = lag;
    }
  }
  for (size_t t = lo; t < hi; ++t) diff = std::max(diff, std::fabs(double(ys[t]) - yp[t]));
  EXPECT_EQ(best, 0) << "correlation " << cb << " at lag " << best << ", " << c0 << " at 0";
  EXPECT_GT(c0, 0.5);
  EXPECT_GT(diff, 1e-3);   // not the plain network
}

// The models built into the library are selected by name: `--model ultra` (2 ms) and
// `--model default`; a path (with a '/' or '.') is always a file, and the names win over a file
// named like them in the current directory.
TEST_F(DenoiseCliTest, ModelNames) {
  const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
  if (!src) GTEST_SKIP() << "no GHOSTNV_SOURCE_DIR";
  const std::string ultra_file = std::string(src) + "/models/weights/ultra.gnvm";
  if (!Exists(ultra_file)) GTEST_SKIP() << "no models/weights/ultra.gnvm: nothing embedded";
  const size_t frames = 48000 + 113;
  const std::string in = Path("in.wav");
  const audio::SoundFormat fmt{audio::kContainerWav, audio::Subtype::kFloat, 48000, 2};
  ASSERT_TRUE(audio::WriteSoundFile(in, fmt, SpeechPlusNoise(48000, 2, frames, 21)).ok());
  auto run = [&](const std::string& model, const std::string& out) {
    const Result r = RunTool({in, out, "--model", model, "--report", "json", "--backend", "cpu"});
    EXPECT_EQ(r.exit_code, 0) << model << ": " << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
  };
  const std::string by_name = Path("ultra_name.wav"), by_path = Path("ultra_path.wav");
  const nlohmann::json j = run("ultra", by_name);
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["model"], "ghostnv-ultra");
  EXPECT_EQ(j["family"], "ultra");
  EXPECT_EQ(j["model_source"], "embedded");
  EXPECT_DOUBLE_EQ(j["algorithmic_latency_ms"].get<double>(), 2.0);
  EXPECT_EQ(j["latency_frames"], 96 + 95);
  auto a = audio::ReadSoundFile(by_name);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->frames, frames);
  EXPECT_EQ(a->format.channels, 2);
  // The same model by path: the same samples, and the report names the file.
  const nlohmann::json jp = run(ultra_file, by_path);
  ASSERT_FALSE(jp.is_null());
  EXPECT_EQ(jp["model_source"], ultra_file);
  EXPECT_DOUBLE_EQ(jp["algorithmic_latency_ms"].get<double>(), 2.0);
  auto b = audio::ReadSoundFile(by_path);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->samples, b->samples);
  // `--model default` is not the ultra model.
  const Result d = RunTool({in, Path("default.wav"), "--model", "default", "--report", "json"});
  if (d.exit_code == 0) {
    const auto jd = nlohmann::json::parse(d.out);
    EXPECT_NE(jd["family"], "ultra");
    EXPECT_GT(jd["algorithmic_latency_ms"].get<double>(), 2.0);
  } else {
    EXPECT_NE(d.err.find("no default model"), std::string::npos) << d.err;
  }
  // A file named `ultra` in the current directory: the name wins; `./ultra` is the file.
  std::ofstream(Path("ultra")) << "not a model";
  const std::string cd = "cd " + Quote(dir_) + " && " + Quote(GHOSTNV_DENOISE_BIN) + " " +
                         Quote(in) + " " + Quote(Path("cwd.wav")) + " --model ";
  EXPECT_EQ(std::system((cd + "ultra >/dev/null 2>&1").c_str()), 0);
  EXPECT_NE(std::system((cd + "./ultra >/dev/null 2>&1").c_str()), 0);
  EXPECT_NE(RunTool({in, Path("x.wav"), "--model", Path("ultra")}).err.find("not a model file"),
            std::string::npos);
}

// `--model enhanced` works on a machine with no installed models (the model folders are
// isolated: no $GHOSTNV_MODEL_PATH, an $XDG_DATA_HOME that does not exist): the GhostNV Demucs
// embedded in the library, 16 ms (768 frames) algorithmic latency. An installed dtln.gnvm takes
// its place, and an installed enhanced.gnvm takes the place of both.
TEST_F(DenoiseCliTest, EnhancedByNameIsEmbeddedUnlessInstalled) {
  const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
  if (!src) GTEST_SKIP() << "no GHOSTNV_SOURCE_DIR";
  const std::string weights = std::string(src) + "/models/weights/";
  if (!Exists(weights + "enhanced.gnvm")) GTEST_SKIP() << "no models/weights/enhanced.gnvm";
  const size_t frames = 24000 + 77;
  const std::string in = Path("in.wav");
  const audio::SoundFormat fmt{audio::kContainerWav, audio::Subtype::kFloat, 48000, 1};
  ASSERT_TRUE(audio::WriteSoundFile(in, fmt, SpeechPlusNoise(48000, 1, frames, 5)).ok());
  const std::string models = Path("models");
  ASSERT_EQ(::mkdir(models.c_str(), 0700), 0);
  const std::string isolated = "env -u GHOSTNV_MODEL_PATH XDG_DATA_HOME=" + Quote(Path("xdg")) + " ";
  const std::string installed = "env GHOSTNV_MODEL_PATH=" + Quote(models) +
                                " XDG_DATA_HOME=" + Quote(Path("xdg")) + " ";
  auto run = [&](const std::string& env, const std::string& out) {
    const Result r =
        RunTool({in, out, "--model", "enhanced", "--report", "json", "--backend", "cpu"}, env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
  };
  const nlohmann::json j = run(isolated, Path("enhanced.wav"));
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["model_source"], "embedded");
  EXPECT_EQ(j["family"], "demucs");
  EXPECT_EQ(j["model_sample_rate"], 48000);
  EXPECT_DOUBLE_EQ(j["algorithmic_latency_ms"].get<double>(), 16.0);
  EXPECT_EQ(j["latency_frames"], 768 + 255);
  auto a = audio::ReadSoundFile(Path("enhanced.wav"));
  auto x = audio::ReadSoundFile(in);
  ASSERT_TRUE(a.ok() && x.ok());
  ASSERT_EQ(a->frames, frames);
  double e_in = 0, e_diff = 0;
  for (size_t t = 0; t < frames; ++t) {
    ASSERT_TRUE(std::isfinite(a->samples[t])) << t;
    e_in += double(x->samples[t]) * x->samples[t];
    e_diff += (double(a->samples[t]) - x->samples[t]) * (double(a->samples[t]) - x->samples[t]);
  }
  EXPECT_GT(e_diff, 0.01 * e_in);  // the output is not the input
  // The same model by path: the same samples.
  const Result p = RunTool({in, Path("by_path.wav"), "--model", weights + "enhanced.gnvm",
                            "--backend", "cpu"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  auto b = audio::ReadSoundFile(Path("by_path.wav"));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->samples, b->samples);

  // Installed files win: dtln.gnvm (here a copy of the default model), then enhanced.gnvm (a copy
  // of the ultra model) over both.
  auto copy = [&](const std::string& from, const std::string& to) {
    std::ofstream(models + "/" + to, std::ios::binary)
        << std::ifstream(weights + from, std::ios::binary).rdbuf();
  };
  if (!Exists(weights + "default.gnvm") || !Exists(weights + "ultra.gnvm"))
    GTEST_SKIP() << "no models/weights/default.gnvm or ultra.gnvm to install";
  copy("default.gnvm", "dtln.gnvm");
  const nlohmann::json jd = run(installed, Path("dtln.wav"));
  ASSERT_FALSE(jd.is_null());
  EXPECT_EQ(jd["model_source"], models + "/dtln.gnvm");
  EXPECT_NE(jd["family"], "demucs");
  copy("ultra.gnvm", "enhanced.gnvm");
  const nlohmann::json je = run(installed, Path("installed.wav"));
  ASSERT_FALSE(je.is_null());
  EXPECT_EQ(je["model_source"], models + "/enhanced.gnvm");
  EXPECT_EQ(je["family"], "ultra");
  EXPECT_DOUBLE_EQ(je["algorithmic_latency_ms"].get<double>(), 2.0);
  // The library's own name for the embedded model reaches it whatever is installed.
  const Result bi = RunTool({in, Path("builtin.wav"), "--model", "builtin:enhanced", "--report",
                             "json", "--backend", "cpu"},
                            installed);
  ASSERT_EQ(bi.exit_code, 0) << bi.err;
  EXPECT_EQ(nlohmann::json::parse(bi.out)["model_source"], "embedded");
  auto c = audio::ReadSoundFile(Path("builtin.wav"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->samples, a->samples);
}

TEST_F(DenoiseCliTest, NonFiniteInputIsSanitisedAndReported) {
  REQUIRE_MODEL(model);
  std::vector<float> x = SpeechPlusNoise(48000, 1, 24000, 8);
  x[100] = std::numeric_limits<float>::quiet_NaN();
  x[200] = std::numeric_limits<float>::infinity();
  x[300] = -std::numeric_limits<float>::infinity();
  x[400] = 1e-42f;  // denormal
  const std::string in = Path("nan.wav"), out = Path("out.wav");
  WriteRawFloatWav(in, 48000, 1, x);
  std::vector<std::string> args = {in, out, "--report", "json"};
  args.insert(args.end(), model.begin(), model.end());
  const Result r = RunTool(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["sanitized_samples"], 4);
  auto res = audio::ReadSoundFile(out);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->sanitized, 0);
  for (float v : res->samples) ASSERT_TRUE(std::isfinite(v));
}

TEST_F(DenoiseCliTest, ClippingIsCounted) {
  REQUIRE_MODEL(model);
  std::vector<float> x(48000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 1.5f * float(std::sin(0.05 * double(i)));
  const std::string in = Path("loud.wav"), out = Path("out.wav");
  WriteRawFloatWav(in, 48000, 1, x);
  std::vector<std::string> args = {in, out, "--report", "json", "--format", "pcm16", "--strength", "0"};
  args.insert(args.end(), model.begin(), model.end());
  const Result r = RunTool(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["clipped_samples"].get<int64_t>(), 1000);
  EXPECT_EQ(j["output"]["subtype"], "PCM_16");
}

// Every error: non-zero exit, exactly one stderr line starting "ghostnv-denoise: ", an
// existing OUT left byte-identical and no temporary files.
TEST_F(DenoiseCliTest, ErrorsLeaveOutUntouched) {
  const std::string good = Path("good.wav");
  ASSERT_TRUE(audio::WriteSoundFile(good, {audio::kContainerWav, audio::Subtype::kPcm16, 48000, 1},
                                    SpeechPlusNoise(48000, 1, 9600, 9)).ok());
  // Bad inputs.
  const std::string truncated = Path("truncated.wav");
  {
    const std::string bytes = Slurp(good);
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  const std::string rate22k = Path("rate22k.wav");
  ASSERT_TRUE(audio::WriteSoundFile(rate22k, {audio::kContainerWav, audio::Subtype::kPcm16, 22050, 1},
                                    std::vector<float>(2205, 0.1f)).ok());
  const std::string eightbit = Path("eightbit.wav");
  {
    SF_INFO info{};
    info.samplerate = 48000;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_U8;
    SNDFILE* f = sf_open(eightbit.c_str(), SFM_WRITE, &info);
    ASSERT_NE(f, nullptr);
    std::vector<short> z(480, 0);
    sf_writef_short(f, z.data(), 480);
    sf_close(f);
  }
  const std::string threech = Path("threech.wav");
  ASSERT_TRUE(audio::WriteSoundFile(threech, {audio::kContainerWav, audio::Subtype::kPcm16, 48000, 3},
                                    std::vector<float>(300, 0.1f)).ok());
  const std::string text = Path("text.wav");
  std::ofstream(text) << "not a sound file\n";
  const std::string corrupt_model = Path("corrupt.gnvm");
  std::ofstream(corrupt_model) << "GNVM\x01\x00\x00\x00 garbage garbage garbage";
  const std::string link = Path("link.wav");
  ASSERT_EQ(::symlink(good.c_str(), link.c_str()), 0);

  const std::string outdir = Path("outdir");
  ASSERT_EQ(::mkdir(outdir.c_str(), 0755), 0);
  const std::string out = outdir + "/out.wav";
  const std::string sentinel = "existing output, must survive";

  struct Case {
    const char* name;
    std::vector<std::string> args;
    bool out_exists = true;  // OUT pre-created in outdir
  };
  const std::vector<Case> cases = {
      {"no arguments", {}},
      {"only IN", {good}},
      {"three positionals", {good, out, Path("extra.wav")}},
      {"missing IN", {Path("missing.wav"), out}},
      {"IN is a directory", {dir_, out}},
      {"truncated IN", {truncated, out}},
      {"unsupported rate", {rate22k, out}},
      {"unsupported 8-bit", {eightbit, out}},
      {"three channels", {threech, out}},
      {"not audio", {text, out}},
      {"corrupt model", {good, out, "--model", corrupt_model}},
      {"wrong-kind model", {good, out, "--model", good}},
      {"missing model", {good, out, "--model", Path("nope.gnvm")}},
      {"OUT equals IN", {good, good}},
      {"OUT is IN via a symlink", {good, link}},
      {"OUT is IN via another spelling", {good, dir_ + "/./good.wav"}},
      {"OUT directory missing", {good, Path("nodir/out.wav")}, false},
      {"OUT directory unwritable", {good, "/proc/self/ghostnv_out.wav"}, false},
      {"OUT is a directory", {good, outdir}, false},
      {"strength too high", {good, out, "--strength", "1.5"}},
      {"strength negative", {good, out, "--strength=-0.1"}},
      {"strength negative, separate", {good, out, "--strength", "-0.5"}},
      {"unknown option", {good, out, "--bogus"}},
      {"strength not a number", {good, out, "--strength", "loud"}},
      {"unknown backend", {good, out, "--backend", "gpu"}},
      {"no such CUDA device", {good, out, "--backend", "cuda:99"}},
      {"bad report", {good, out, "--report", "xml"}},
      {"bad format", {good, out, "--format", "pcm8"}},
      {"float in FLAC", {good, outdir + "/out.flac", "--format", "float"}},
      {"reference unreadable", {good, out, "--reference", Path("missing.wav")}},
      {"reference wrong rate", {good, out, "--reference", rate22k}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::ofstream(out, std::ios::binary) << sentinel;
    std::ofstream(outdir + "/out.flac", std::ios::binary) << sentinel;
    const auto before_main = ListDir(dir_);
    const Result r = RunTool(c.args);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.err.rfind("ghostnv-denoise: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(Slurp(out), sentinel);
    EXPECT_EQ(Slurp(outdir + "/out.flac"), sentinel);
    EXPECT_EQ(ListDir(outdir), (std::vector<std::string>{"out.flac", "out.wav"}));
    EXPECT_EQ(ListDir(dir_), before_main);
    EXPECT_FALSE(Exists(Path("nodir")));
  }
  // The messages say what went wrong.
  auto err_of = [&](std::vector<std::string> a) { return RunTool(a).err; };
  EXPECT_NE(err_of({truncated, out}).find("truncated"), std::string::npos);
  EXPECT_NE(err_of({good, good}).find("same file as IN"), std::string::npos);
  // Device 99 exists nowhere (GPU machine or not): the error names the request first.
  const std::string no_device = err_of({good, out, "--backend", "cuda:99"});
  EXPECT_EQ(no_device.rfind("ghostnv-denoise: --backend cuda:99: ", 0), 0u) << no_device;
  EXPECT_NE(err_of({good, out, "--backend", "gpu"}).find("unknown backend"), std::string::npos);
  EXPECT_NE(err_of({rate22k, out}).find("22050"), std::string::npos);
  EXPECT_NE(err_of({good, out, "--model", good}).find("not a model file"), std::string::npos);
  EXPECT_NE(err_of({good, out, "--bogus"}).find("unknown option '--bogus'"), std::string::npos);
}

}  // namespace
