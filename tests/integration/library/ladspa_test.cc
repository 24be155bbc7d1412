// The LADSPA plugin in real hosts: sox and ffmpeg run ghostnv_ladspa.so on files and the results
// are compared with ghostnv-denoise (same file, same settings) and with the C API (VAD gate).
//
// Neither host compensates plugin latency by default: their output is the denoised input delayed
// by the plugin's "latency" port, so it is aligned by the latency ghostnv-denoise reports before
// comparing. With compensation asked for (sox -l, ffmpeg latency=1) it is compared as is.
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "audio/sound_file.h"
#include "ghostnv/ghostnv.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/library/test_signals.h"

namespace {

namespace audio = ghostnv::audio;
using ghostnv::testing::NoisySpeechLike;
using ghostnv::testing::SnrOfDifference;

constexpr double kMinSnrDb = 40.0;

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

bool HaveProgram(const char* name) {
  return std::system((std::string("command -v ") + name + " > /dev/null 2>&1").c_str()) == 0;
}

struct Result {
  int status = -1;
  std::string output;  // stdout + stderr
};

class LadspaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ghostnv_ladspa_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + Quote(dir_)).c_str()); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // Runs a shell command line with the plugin's folder as LADSPA_PATH (and, in sanitizer builds,
  // the ASan runtime preloaded so that the hosts can load the instrumented plugin).
  Result Sh(const std::string& cmd) const {
    const std::string log = Path("cmd.log");
    const std::string full = std::string("env LADSPA_PATH=") + Quote(GHOSTNV_LADSPA_DIR) + " " +
                             GHOSTNV_CHILD_ENV + " " + cmd + " > " + Quote(log) + " 2>&1";
    Result r;
    r.status = std::system(full.c_str());
    std::ifstream f(log);
    std::stringstream ss;
    ss << f.rdbuf();
    r.output = ss.str();
    return r;
  }

  void WriteInput(const std::string& path, int rate, int channels, size_t frames) {
    audio::SoundFormat f;
    f.subtype = audio::Subtype::kFloat;
    f.sample_rate = rate;
    f.channels = channels;
    input_ = NoisySpeechLike(frames, rate, channels, 11);
    auto w = audio::WriteSoundFile(path, f, input_);
    ASSERT_TRUE(w.ok()) << w.status();
  }

  static std::vector<float> Read(const std::string& path, int channels) {
    auto f = audio::ReadSoundFile(path);
    EXPECT_TRUE(f.ok()) << path << ": " << f.status();
    if (!f.ok()) return {};
    EXPECT_EQ(f->format.channels, channels) << path;
    return f->samples;
  }

  // ghostnv-denoise's output (aligned, same length as IN) and the latency it reports.
  std::vector<float> Reference(const std::string& in, int channels, const std::string& strength,
                               int64_t* latency) {
    const std::string out = Path("ref.wav");
    const Result r = Sh(std::string(Quote(GHOSTNV_DENOISE_BIN)) + " " + Quote(in) + " " +
                        Quote(out) + " --format float --report json --strength " + strength);
    EXPECT_EQ(r.status, 0) << r.output;
    const size_t brace = r.output.find('{');
    if (brace == std::string::npos) return {};
    *latency = nlohmann::json::parse(r.output.substr(brace))["latency_frames"].get<int64_t>();
    return Read(out, channels);
  }

  // Compares a host's output with the reference; `shift` = frames the host's output lags.
  static void ExpectMatches(const std::vector<float>& ref, const std::vector<float>& host,
                            int channels, int64_t shift, const std::string& what) {
    ASSERT_EQ(host.size(), ref.size()) << what;
    const size_t ch = static_cast<size_t>(channels);
    const size_t n = ref.size() - static_cast<size_t>(shift) * ch;
    const double snr = SnrOfDifference(ref.data(), host.data() + shift * channels, n);
    EXPECT_GE(snr, kMinSnrDb) << what << " (shift " << shift << ")";
    // And misaligned by one frame it must fall well below the pass mark: the comparison can
    // fail. (Speech-band output is smooth, so a one-frame shift still gives about 20 dB.)
    const double off = SnrOfDifference(ref.data(), host.data() + (shift + 1) * channels, n - ch);
    EXPECT_LT(off, kMinSnrDb - 10) << what;
  }

  std::string dir_;
  std::vector<float> input_;
};

#define REQUIRE_HOST(name) \
  if (!HaveProgram(name)) GTEST_SKIP() << name << " is not installed"

struct Case {
  int rate, channels;
  const char* strength;
};

TEST_F(LadspaTest, SoxMatchesGhostnvDenoise) {
  REQUIRE_HOST("sox");
  for (const Case& c : {Case{48000, 1, "1"}, Case{44100, 2, "1"}, Case{96000, 1, "0.5"}}) {
    SCOPED_TRACE(::testing::Message() << c.rate << " Hz, " << c.channels << " ch, strength "
                                      << c.strength);
    const std::string in = Path("in.wav");
    WriteInput(in, c.rate, c.channels, static_cast<size_t>(c.rate) * 2 + 123);
    int64_t latency = 0;
    const std::vector<float> ref = Reference(in, c.channels, c.strength, &latency);
    ASSERT_FALSE(ref.empty());
    const std::string label = c.channels == 2 ? "ghostnv_stereo" : "ghostnv_mono";
    const std::string controls = std::string(c.strength) + " 0 0 250";
    // Plain: delayed by the plugin's latency.
    Result r = Sh("sox " + Quote(in) + " -e floating-point -b 32 " + Quote(Path("sox.wav")) +
                  " ladspa ghostnv_ladspa.so " + label + " " + controls);
    ASSERT_EQ(r.status, 0) << r.output;
    ExpectMatches(ref, Read(Path("sox.wav"), c.channels), c.channels, latency, "sox");
    // sox -l reads the "latency" port and compensates.
    r = Sh("sox " + Quote(in) + " -e floating-point -b 32 " + Quote(Path("soxl.wav")) +
           " ladspa -l ghostnv_ladspa.so " + label + " " + controls);
    ASSERT_EQ(r.status, 0) << r.output;
    ExpectMatches(ref, Read(Path("soxl.wav"), c.channels), c.channels, 0, "sox -l");
  }
}

TEST_F(LadspaTest, FfmpegMatchesGhostnvDenoise) {
  REQUIRE_HOST("ffmpeg");
  for (const Case& c : {Case{48000, 1, "1"}, Case{48000, 2, "0.5"}, Case{44100, 1, "1"}}) {
    SCOPED_TRACE(::testing::Message() << c.rate << " Hz, " << c.channels << " ch, strength "
                                      << c.strength);
    const std::string in = Path("in.wav");
    WriteInput(in, c.rate, c.channels, static_cast<size_t>(c.rate) * 2 + 77);
    int64_t latency = 0;
    const std::vector<float> ref = Reference(in, c.channels, c.strength, &latency);
    ASSERT_FALSE(ref.empty());
    const std::string label = c.channels == 2 ? "ghostnv_stereo" : "ghostnv_mono";
    const std::string filter = "ladspa=file=ghostnv_ladspa:plugin=" + label +
                               ":controls=c0=" + c.strength + "|c1=0|c2=0|c3=250";
    Result r = Sh("ffmpeg -nostdin -hide_banner -loglevel error -y -i " + Quote(in) + " -af " +
                  Quote(filter) + " -c:a pcm_f32le " + Quote(Path("ff.wav")));
    ASSERT_EQ(r.status, 0) << r.output;
    ExpectMatches(ref, Read(Path("ff.wav"), c.channels), c.channels, latency, "ffmpeg");
    r = Sh("ffmpeg -nostdin -hide_banner -loglevel error -y -i " + Quote(in) + " -af " +
           Quote(filter + ":latency=1") + " -c:a pcm_f32le " + Quote(Path("ffl.wav")));
    ASSERT_EQ(r.status, 0) << r.output;
    ExpectMatches(ref, Read(Path("ffl.wav"), c.channels), c.channels, 0, "ffmpeg latency=1");
  }
}

// The VAD gate through sox equals the C API's gate on the same input and settings.
TEST_F(LadspaTest, VadGateThroughSoxMatchesTheLibrary) {
  REQUIRE_HOST("sox");
  const int rate = 48000;
  const std::string in = Path("in.wav");
  WriteInput(in, rate, 1, rate * 3);
  Result r = Sh("sox " + Quote(in) + " -e floating-point -b 32 " + Quote(Path("gate.wav")) +
                " ladspa ghostnv_ladspa.so ghostnv_mono 1 0 0.6 120");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::vector<float> host = Read(Path("gate.wav"), 1);

  ghostnv_options o;
  ghostnv_options_init(&o);
  o.sample_rate = rate;
  o.vad_threshold = 0.6f;
  o.vad_grace_ms = 120.0f;
  ghostnv_denoiser* d = nullptr;
  ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
  std::vector<float> lib(input_.size());
  ASSERT_EQ(ghostnv_process(d, input_.data(), lib.data(), input_.size()), GHOSTNV_OK);
  const nlohmann::json info = nlohmann::json::parse(ghostnv_info_json(d));
  ghostnv_destroy(d);
  ASSERT_EQ(host.size(), lib.size());
  EXPECT_GE(SnrOfDifference(lib.data(), host.data(), lib.size()), kMinSnrDb);
  // The gate did something: long stretches of exact silence between the bursts.
  size_t zeros = 0;
  for (float x : host) zeros += x == 0.0f;
  EXPECT_GT(zeros, static_cast<size_t>(rate) / 2) << info.dump();
  EXPECT_GT(info["counters"]["gated_frames"].get<int64_t>(), rate / 2);
}

TEST_F(LadspaTest, ModesFallBackToBasicWhenUnavailableAndBadRatesFailCleanly) {
  REQUIRE_HOST("sox");
  const std::string in = Path("in.wav");
  WriteInput(in, 48000, 1, 48000);
  Result basic = Sh("sox " + Quote(in) + " -e floating-point -b 32 " + Quote(Path("b.wav")) +
                    " ladspa ghostnv_ladspa.so ghostnv_mono 1 0");
  ASSERT_EQ(basic.status, 0) << basic.output;
  Result maximum = Sh("sox " + Quote(in) + " -e floating-point -b 32 " + Quote(Path("m.wav")) +
                      " ladspa ghostnv_ladspa.so ghostnv_mono 1 2");
  ASSERT_EQ(maximum.status, 0) << maximum.output;
  EXPECT_NE(maximum.output.find("not available"), std::string::npos) << maximum.output;
  EXPECT_EQ(Read(Path("b.wav"), 1), Read(Path("m.wav"), 1));
  // Enhanced (1) runs wherever the library embeds models/weights/enhanced.gnvm: no fallback note,
  // and not the basic model's output.
  const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
  struct stat st;
  if (src != nullptr &&
      ::stat((std::string(src) + "/models/weights/enhanced.gnvm").c_str(), &st) == 0) {
    Result enhanced = Sh("sox " + Quote(in) + " -e floating-point -b 32 " + Quote(Path("e.wav")) +
                         " ladspa ghostnv_ladspa.so ghostnv_mono 1 1");
    ASSERT_EQ(enhanced.status, 0) << enhanced.output;
    EXPECT_EQ(enhanced.output.find("not available"), std::string::npos) << enhanced.output;
    const std::vector<float> e = Read(Path("e.wav"), 1), b = Read(Path("b.wav"), 1);
    ASSERT_EQ(e.size(), b.size());
    EXPECT_NE(e, b);
    for (float v : e) ASSERT_TRUE(std::isfinite(v));
    // Its model computes no voice probability: a VAD threshold is refused (a note), not a mute.
    Result gated = Sh("sox " + Quote(in) + " -e floating-point -b 32 " + Quote(Path("eg.wav")) +
                      " ladspa ghostnv_ladspa.so ghostnv_mono 1 1 0.6 100");
    ASSERT_EQ(gated.status, 0) << gated.output;
    EXPECT_NE(gated.output.find("VAD gate stays off"), std::string::npos) << gated.output;
    EXPECT_EQ(Read(Path("eg.wav"), 1), e);
  }
  // 22050 Hz is not a rate the library takes: the host reports it, nobody crashes.
  Result bad = Sh("sox " + Quote(in) + " -r 22050 " + Quote(Path("r.wav")) +
                  " rate 22050 ladspa ghostnv_ladspa.so ghostnv_mono");
  EXPECT_NE(bad.status, 0) << bad.output;
  EXPECT_NE(bad.output.find("ghostnv LADSPA"), std::string::npos) << bad.output;
}

}  // namespace
