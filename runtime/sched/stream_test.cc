#include "runtime/sched/stream.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#if GHOSTNV_HAVE_FAMILIES
#include "models/model_loader.h"
#endif

namespace ghostnv::sched {
namespace {

// A test double: a pure delay of `latency` samples, scaled by (1 - strength/2), in hops.
// At strength 0 it is exactly the input delayed, like a real family.
class DelayFamily : public models::Family {
 public:
  DelayFamily(int rate, int hop, int latency, float nan_every = 0) : nan_every_(nan_every) {
    model_.family = "test-delay";
    model_.name = "delay";
    model_.sample_rate = rate;
    model_.hop_size = hop;
    model_.frame_size = 2 * hop;
    model_.algorithmic_latency = latency;
  }
  const models::Model& model() const override { return model_; }

  struct State : models::ChannelState {
    std::vector<float> line;  // latency samples of history
    size_t pos = 0;
    int hops = 0;
    void Reset() override { std::fill(line.begin(), line.end(), 0.0f); }
  };
  std::unique_ptr<models::ChannelState> NewChannel() const override {
    auto s = std::make_unique<State>();
    s->line.assign(static_cast<size_t>(model_.algorithmic_latency), 0.0f);
    return s;
  }
  models::HopInfo ProcessHop(models::ChannelState& state, const float* in, float* out,
                             float strength) const override {
    auto& s = static_cast<State&>(state);
    const float gain = 1.0f - 0.5f * strength;
    for (int i = 0; i < model_.hop_size; ++i) {
      float d = in[i];
      if (!s.line.empty()) {
        std::swap(d, s.line[s.pos]);
        s.pos = (s.pos + 1) % s.line.size();
      }
      out[i] = strength == 0.0f ? d : d * gain;
    }
    if (nan_every_ > 0 && ++s.hops % static_cast<int>(nan_every_) == 0)
      out[0] = std::numeric_limits<float>::quiet_NaN();
    return {0.25f, false};
  }

 private:
  models::Model model_;
  float nan_every_;
};

std::shared_ptr<const models::Family> Delay48k() {
  return std::make_shared<DelayFamily>(48000, 480, 480);
}

std::vector<float> RandomSignal(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-0.9f, 0.9f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Band-limited (well inside every rate's passband), faded in and out.
std::vector<float> ToneSignal(size_t frames, int channels, int rate, bool low_only = false) {
  std::vector<float> v(frames * size_t(channels));
  const double fade = 0.02 * rate;
  for (size_t f = 0; f < frames; ++f) {
    double env = 1.0;
    if (f < fade) env = 0.5 - 0.5 * std::cos(std::numbers::pi * f / fade);
    if (frames - f < fade) env = 0.5 - 0.5 * std::cos(std::numbers::pi * (frames - f) / fade);
    for (int c = 0; c < channels; ++c) {
      const double t = double(f) / rate;
      v[f * channels + c] = float(env * (0.4 * std::sin(2 * std::numbers::pi * (440 + 200 * c) * t) +
                                         0.2 * std::sin(2 * std::numbers::pi * 3170 * t + c) +
                                         (low_only ? 0.0 : 0.1) *
                                             std::sin(2 * std::numbers::pi * 9001 * t)));
    }
  }
  return v;
}

// Runs `in` through `s` with call sizes from `sizes` (cycled); sizes {0} = random 1..3000.
std::vector<float> RunStream(Stream& s, const std::vector<float>& in, std::vector<size_t> sizes,
                       uint32_t seed = 1) {
  const size_t ch = size_t(s.channels());
  const size_t frames = in.size() / ch;
  std::vector<float> out(in.size(), -7.0f);
  std::mt19937 rng(seed);
  size_t pos = 0, k = 0;
  while (pos < frames) {
    size_t n = sizes[k++ % sizes.size()];
    if (n == 0) n = 1 + rng() % 3000;
    n = std::min(n, frames - pos);
    s.Process(in.data() + pos * ch, out.data() + pos * ch, n);
    pos += n;
  }
  return out;
}

double SnrVsDelayed(const std::vector<float>& in, const std::vector<float>& out, int ch,
                    int64_t lat) {
  double sig = 0, err = 0;
  const size_t frames = in.size() / size_t(ch);
  for (size_t t = 0; t < frames; ++t) {
    for (int c = 0; c < ch; ++c) {
      const double ref = int64_t(t) >= lat ? in[(t - size_t(lat)) * ch + c] : 0.0;
      const double d = out[t * ch + c] - ref;
      sig += ref * ref;
      err += d * d;
    }
  }
  return 10 * std::log10(sig / std::max(err, 1e-300));
}

TEST(StreamTest, RejectsBadConfigs) {
  EXPECT_FALSE(Stream::Create(nullptr, {}).ok());
  EXPECT_FALSE(Stream::Create(Delay48k(), {48000, 0}).ok());
  EXPECT_FALSE(Stream::Create(Delay48k(), {48000, 9}).ok());
  EXPECT_FALSE(Stream::Create(Delay48k(), {1000, 1}).ok());
  EXPECT_FALSE(Stream::Create(Delay48k(), {48000, 1, 1.5f}).ok());
  EXPECT_FALSE(Stream::Create(Delay48k(), {48000, 1, std::nanf("")}).ok());
  EXPECT_FALSE(Stream::Create(Delay48k(), {48000, 1, 1.0f, 0}).ok());
  // 480 samples at 48 kHz is 220.5 frames at 22050 Hz: refused, not rounded.
  auto s = Stream::Create(Delay48k(), {22050, 1});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("whole number"), std::string::npos) << s.status();
}

TEST(StreamTest, LatencyAtEachRate) {
  auto a = Stream::Create(Delay48k(), {48000, 1});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->buffering_frames(), 479);
  EXPECT_EQ((*a)->latency_frames(), 479 + 480);
  EXPECT_FALSE((*a)->resampling());
  for (auto [rate, model_part] : {std::pair{44100, 441}, std::pair{96000, 960}}) {
    auto s = Stream::Create(Delay48k(), {rate, 2});
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_TRUE((*s)->resampling());
    EXPECT_EQ((*s)->latency_frames() - (*s)->buffering_frames(), model_part);
    EXPECT_GT((*s)->buffering_frames(), 0);
    // Below about 60 ms of buffering at these rates.
    EXPECT_LT((*s)->buffering_frames(), rate * 6 / 100) << rate;
  }
}

// (a) At the model rate, strength 0 is the input delayed by exactly latency_frames().
TEST(StreamTest, StrengthZeroAt48kIsAnExactDelay) {
  const std::vector<std::vector<size_t>> patterns = {{1}, {7}, {113}, {480}, {2048}, {0}, {1, 2047, 3, 480}};
  for (int ch : {1, 2}) {
    for (const auto& pattern : patterns) {
      auto s = Stream::Create(Delay48k(), {48000, ch, 0.0f});
      ASSERT_TRUE(s.ok());
      const auto in = RandomSignal(size_t(48000 / 2) * size_t(ch), 42 + ch);
      const auto out = RunStream(**s, in, pattern);
      const int64_t lat = (*s)->latency_frames();
      const size_t frames = in.size() / size_t(ch);
      for (size_t t = 0; t < frames; ++t) {
        for (int c = 0; c < ch; ++c) {
          const float want = int64_t(t) >= lat ? in[(t - size_t(lat)) * ch + c] : 0.0f;
          ASSERT_EQ(out[t * ch + c], want) << "ch " << ch << " pattern[0] " << pattern[0] << " t "
                                           << t;
        }
      }
      const StreamStats st = (*s)->stats();
      EXPECT_EQ(st.frames_in, frames);
      EXPECT_EQ(st.frames_out, frames);
      EXPECT_EQ(st.hops, frames / 480);
      EXPECT_EQ(st.underruns, 0u);
      EXPECT_NEAR(st.mean_vad, 0.25, 1e-9);
    }
  }
}

// A period hint cuts the prefill to hop - gcd(period, hop) and the stream stays an exact delay
// with no underrun for calls of whole periods (single and several periods per call).
TEST(StreamTest, PeriodHintShrinksTheBufferingExactly) {
  struct Case {
    size_t period;
    int64_t buffering;  // hop - gcd(period, hop[, block 1024 when period > 1024])
  };
  for (Case c : {Case{32, 448}, Case{64, 448}, Case{100, 460}, Case{160, 320}, Case{480, 0},
                 Case{960, 0}, Case{1000, 440}, Case{1024, 448}, Case{2048, 448}}) {
    for (int ch : {1, 2}) {
      StreamConfig cfg{48000, ch, 0.0f};
      cfg.period_frames = c.period;
      auto s = Stream::Create(Delay48k(), cfg);
      ASSERT_TRUE(s.ok()) << s.status();
      const int64_t lat = (*s)->latency_frames();
      EXPECT_EQ(lat, c.buffering + 480) << "period " << c.period;
      const auto in = RandomSignal(size_t(48000 / 2) * size_t(ch), 7 + ch);
      const auto out = RunStream(**s, in, {c.period, 3 * c.period, c.period});
      const size_t frames = in.size() / size_t(ch);
      for (size_t t = 0; t + c.period <= frames; ++t) {
        for (int k = 0; k < ch; ++k) {
          const float want = int64_t(t) >= lat ? in[(t - size_t(lat)) * ch + k] : 0.0f;
          ASSERT_EQ(out[t * ch + k], want) << "period " << c.period << " t " << t;
        }
      }
      EXPECT_EQ((*s)->stats().underruns, 0u) << "period " << c.period;
    }
  }
}

// (b) Through the resamplers: SNR against the delayed input.
TEST(StreamTest, StrengthZeroThroughResamplersIsADelay) {
  for (int rate : {44100, 96000}) {
    for (int ch : {1, 2}) {
      for (const std::vector<size_t>& pattern : {std::vector<size_t>{0}, {1}, {441}, {4096}}) {
        auto s = Stream::Create(Delay48k(), {rate, ch, 0.0f});
        ASSERT_TRUE(s.ok()) << s.status();
        const size_t frames = size_t(rate) * 6 / 10;
        const auto in = ToneSignal(frames, ch, rate);
        const auto out = RunStream(**s, in, pattern);
        const double snr = SnrVsDelayed(in, out, ch, (*s)->latency_frames());
        EXPECT_GT(snr, 60.0) << rate << " Hz, " << ch << " ch, pattern " << pattern[0];
        // One frame off would be far worse.
        EXPECT_LT(SnrVsDelayed(in, out, ch, (*s)->latency_frames() + 1), 40.0);
        EXPECT_EQ((*s)->stats().underruns, 0u);
      }
    }
  }
}

// Call sizes never change the output (the fake family has state, strength 1).
TEST(StreamTest, ChunkingIndependenceWithTestFamily) {
  for (int rate : {48000, 44100, 96000}) {
    auto a = Stream::Create(Delay48k(), {rate, 2, 1.0f});
    auto b = Stream::Create(Delay48k(), {rate, 2, 1.0f});
    ASSERT_TRUE(a.ok() && b.ok());
    const auto in = RandomSignal(size_t(rate) / 2 * 2, 9);
    const auto x = RunStream(**a, in, {0}, 1);
    const auto y = RunStream(**b, in, {1, 7, 113, 4096, 480}, 2);
    ASSERT_EQ(x, y) << rate;
  }
}

// (d) Left-only input leaves the right channel silent.
TEST(StreamTest, StereoChannelsAreIndependent) {
  for (int rate : {48000, 44100}) {
    auto s = Stream::Create(Delay48k(), {rate, 2, 1.0f});
    ASSERT_TRUE(s.ok());
    auto in = RandomSignal(size_t(rate) / 2 * 2, 3);
    for (size_t i = 1; i < in.size(); i += 2) in[i] = 0.0f;
    const auto out = RunStream(**s, in, {0});
    double left = 0;
    for (size_t i = 0; i < out.size(); i += 2) {
      left += std::fabs(out[i]);
      ASSERT_EQ(out[i + 1], 0.0f) << i;
    }
    EXPECT_GT(left, 100.0);
  }
}

TEST(StreamTest, InPlaceProcessing) {
  auto a = Stream::Create(Delay48k(), {44100, 2, 0.7f});
  auto b = Stream::Create(Delay48k(), {44100, 2, 0.7f});
  ASSERT_TRUE(a.ok() && b.ok());
  const auto in = RandomSignal(44100, 5);
  const auto want = RunStream(**a, in, {777});
  std::vector<float> buf = in;
  for (size_t pos = 0; pos < buf.size() / 2; pos += 777) {
    const size_t n = std::min<size_t>(777, buf.size() / 2 - pos);
    (*b)->Process(buf.data() + pos * 2, buf.data() + pos * 2, n);
  }
  EXPECT_EQ(buf, want);
}

TEST(StreamTest, SanitisesInputAndOutput) {
  auto s = Stream::Create(std::make_shared<DelayFamily>(48000, 480, 480, 3.0f), {48000, 1, 0.0f});
  ASSERT_TRUE(s.ok());
  std::vector<float> in(4800, 0.5f);
  in[10] = std::numeric_limits<float>::quiet_NaN();
  in[20] = std::numeric_limits<float>::infinity();
  in[30] = -std::numeric_limits<float>::infinity();
  in[40] = std::numeric_limits<float>::denorm_min();
  const auto out = RunStream(**s, in, {100});
  for (float y : out) ASSERT_TRUE(std::isfinite(y));
  const auto st = (*s)->stats();
  EXPECT_EQ(st.sanitized_in, 4u);
  EXPECT_EQ(st.sanitized_out, 3u);  // 10 hops, a NaN every third
  const int64_t lat = (*s)->latency_frames();
  EXPECT_EQ(out[size_t(lat) + 10], 0.0f);
  EXPECT_EQ(out[size_t(lat) + 11], 0.5f);
}

TEST(StreamTest, StrengthIsClampedAndAdjustable) {
  auto s = Stream::Create(Delay48k(), {48000, 1, 0.3f});
  ASSERT_TRUE(s.ok());
  EXPECT_FLOAT_EQ((*s)->strength(), 0.3f);
  (*s)->set_strength(2.0f);
  EXPECT_EQ((*s)->strength(), 1.0f);
  (*s)->set_strength(-1.0f);
  EXPECT_EQ((*s)->strength(), 0.0f);
  (*s)->set_strength(std::nanf(""));
  EXPECT_EQ((*s)->strength(), 0.0f);
  // Strength changes take effect on later hops.
  std::vector<float> in(48000, 0.5f), out(48000);
  (*s)->Process(in.data(), out.data(), 24000);
  (*s)->set_strength(1.0f);
  (*s)->Process(in.data() + 24000, out.data() + 24000, 24000);
  EXPECT_EQ(out[20000], 0.5f);
  EXPECT_EQ(out[47999], 0.25f);
}

TEST(StreamTest, OtherHopsAndLatencies) {
  // hop 160, latency 320 at 16 kHz (an odd model); host 48 kHz resamples 16k <-> 48k.
  auto fam = std::make_shared<DelayFamily>(16000, 160, 320);
  for (int rate : {16000, 48000}) {
    auto s = Stream::Create(fam, {rate, 1, 0.0f});
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ((*s)->latency_frames() - (*s)->buffering_frames(), 320 * rate / 16000);
    const auto in = ToneSignal(size_t(rate) / 2, 1, rate, /*low_only=*/true);
    const auto out = RunStream(**s, in, {0});
    if (rate == 16000) {
      EXPECT_EQ((*s)->buffering_frames(), 159);
    }
    EXPECT_GT(SnrVsDelayed(in, out, 1, (*s)->latency_frames()), 60.0) << rate;
    EXPECT_EQ((*s)->stats().underruns, 0u);
  }
}

// The resamplers' hold-back patterns drift against each other over minutes (at 44.1 kHz the
// worst case first appears after about 73 s); the prefill must cover the worst alignment.
// One-frame calls check every instant.
TEST(StreamTest, NoUnderrunOverMinutesOfAudio) {
  for (int rate : {44100, 96000}) {
    auto s = Stream::Create(Delay48k(), {rate, 1, 0.0f});
    ASSERT_TRUE(s.ok());
    const size_t total = size_t(rate) * (rate == 44100 ? 80 : 10);
    float x = 0.0f;
    for (size_t pos = 0; pos < total; ++pos) (*s)->Process(&x, &x, 1);
    EXPECT_EQ((*s)->stats().underruns, 0u) << rate;
  }
}

TEST(StreamTest, ZeroFramesAndNullAreNoOps) {
  auto s = Stream::Create(Delay48k(), {48000, 1});
  ASSERT_TRUE(s.ok());
  (*s)->Process(nullptr, nullptr, 0);
  float x = 1.0f;
  (*s)->Process(&x, &x, 0);
  EXPECT_EQ((*s)->stats().frames_in, 0u);
}

TEST(StreamTest, MeasureBuffering) {
  int64_t excess = -1;
  auto d = MeasureStreamBuffering(48000, 48000, 480, 1024, &excess);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, 479);
  EXPECT_EQ(excess, 0);
  d = MeasureStreamBuffering(44100, 48000, 480, 1024, &excess);
  ASSERT_TRUE(d.ok());
  EXPECT_GT(*d, 441);
  EXPECT_GE(excess, 0);
}

#if GHOSTNV_HAVE_FAMILIES
std::shared_ptr<const models::Family> RealFamily(std::string* why) {
  std::vector<std::string> candidates;
  if (const char* src = std::getenv("GHOSTNV_SOURCE_DIR"))
    candidates.push_back(std::string(src) + "/models/weights/default.gnvm");
  if (const char* sh = std::getenv("GHOSTNV_SHARED_DIR"))
    candidates.push_back(std::string(sh) + "/data/models/rnnoise/sh.rnnn");
  for (const std::string& p : candidates) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) continue;
    auto m = models::LoadModel(p);
    if (!m.ok()) {
      *why = std::string(m.status().message());
      return nullptr;
    }
    auto f = models::CreateFamily(*m);
    if (!f.ok()) {
      *why = std::string(f.status().message());
      return nullptr;
    }
    return std::shared_ptr<const models::Family>(std::move(*f));
  }
  *why = "no model: neither models/weights/default.gnvm nor $GHOSTNV_SHARED_DIR/data/models/"
         "rnnoise/sh.rnnn exists";
  return nullptr;
}

// (c) With a real model at strength 1, call sizes do not change the output.
TEST(StreamRealModelTest, ChunkingIndependence) {
  std::string why;
  auto fam = RealFamily(&why);
  if (!fam) GTEST_SKIP() << why;
  for (int rate : {48000, 44100}) {
    auto a = Stream::Create(fam, {rate, 2, 1.0f});
    auto b = Stream::Create(fam, {rate, 2, 1.0f});
    ASSERT_TRUE(a.ok() && b.ok());
    auto in = ToneSignal(size_t(rate), 2, rate);
    const auto noise = RandomSignal(in.size(), 77);
    for (size_t i = 0; i < in.size(); ++i) in[i] = 0.5f * in[i] + 0.05f * noise[i];
    const auto x = RunStream(**a, in, {0}, 3);
    const auto y = RunStream(**b, in, {1, 7, 113, 480, 2048}, 4);
    ASSERT_EQ(x.size(), y.size());
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], y[i]) << rate << " " << i;
    double e = 0;
    for (float v : x) e += double(v) * v;
    EXPECT_GT(e, 0.0);
    EXPECT_GT((*a)->stats().mean_vad, 0.0);
  }
}

TEST(StreamRealModelTest, StrengthZeroIsADelayAndStereoIsIndependent) {
  std::string why;
  auto fam = RealFamily(&why);
  if (!fam) GTEST_SKIP() << why;
  auto s = Stream::Create(fam, {48000, 2, 0.0f});
  ASSERT_TRUE(s.ok());
  auto in = RandomSignal(48000 * 2, 8);
  for (size_t i = 1; i < in.size(); i += 2) in[i] = 0.0f;
  const auto out = RunStream(**s, in, {0});
  const int64_t lat = (*s)->latency_frames();
  for (size_t t = 0; t < in.size() / 2; ++t) {
    const float want = int64_t(t) >= lat ? in[(t - size_t(lat)) * 2] : 0.0f;
    ASSERT_NEAR(out[t * 2], want, 1e-7f) << t;
    ASSERT_EQ(out[t * 2 + 1], 0.0f) << t;
  }
  // Full strength through the resamplers: the right channel stays silent too.
  auto left_only = ToneSignal(44100, 2, 44100);
  for (size_t i = 1; i < left_only.size(); i += 2) left_only[i] = 0.0f;
  auto g = Stream::Create(fam, {44100, 2, 1.0f});
  ASSERT_TRUE(g.ok());
  const auto out3 = RunStream(**g, left_only, {0});
  for (size_t i = 1; i < out3.size(); i += 2) ASSERT_EQ(out3[i], 0.0f) << i;
}
#endif

}  // namespace
}  // namespace ghostnv::sched
