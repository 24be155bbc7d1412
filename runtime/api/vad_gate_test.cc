// Tests of the VAD tap and gate on a scripted test family, against a naive reference.
#include "runtime/api/vad_gate.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/sched/stream.h"

namespace ghostnv::api {
namespace {

// Output = input delayed by one hop (like RNNoise); VAD = |first input sample of the hop|.
class ScriptedFamily : public models::Family {
 public:
  ScriptedFamily(int rate, int hop) {
    model_.family = "test-scripted";
    model_.name = "scripted";
    model_.sample_rate = rate;
    model_.hop_size = hop;
    model_.frame_size = 2 * hop;
    model_.algorithmic_latency = hop;
  }
  const models::Model& model() const override { return model_; }
  struct State : models::ChannelState {
    std::vector<float> prev;
    void Reset() override { std::fill(prev.begin(), prev.end(), 0.0f); }
  };
  std::unique_ptr<models::ChannelState> NewChannel() const override {
    auto s = std::make_unique<State>();
    s->prev.assign(static_cast<size_t>(model_.hop_size), 0.0f);
    return s;
  }
  models::HopInfo ProcessHop(models::ChannelState& state, const float* in, float* out,
                             float) const override {
    auto& s = static_cast<State&>(state);
    const size_t hop = static_cast<size_t>(model_.hop_size);
    std::copy(s.prev.begin(), s.prev.end(), out);
    std::copy(in, in + hop, s.prev.begin());
    return {std::fabs(in[0]), false};
  }

 private:
  models::Model model_;
};

struct Rig {
  std::shared_ptr<VadTap> tap;
  std::unique_ptr<sched::Stream> stream;
  std::unique_ptr<VadGate> gate;
};

Rig MakeRig(int host_rate, int channels) {
  auto fam = std::make_shared<ScriptedFamily>(48000, 480);
  Rig r;
  r.tap = std::make_shared<VadTap>(fam, channels, RingCapacity(host_rate, 48000, 480, 24000, 4096));
  sched::StreamConfig cfg;
  cfg.sample_rate = host_rate;
  cfg.channels = channels;
  auto s = sched::Stream::Create(r.tap, cfg);
  EXPECT_TRUE(s.ok()) << s.status();
  r.stream = std::move(*s);
  GateGeometry g;
  g.host_rate = host_rate;
  g.model_rate = 48000;
  g.hop = 480;
  g.buffering_frames = r.stream->buffering_frames();
  g.channels = channels;
  r.gate = std::make_unique<VadGate>(g);
  return r;
}

// Input: each 480-frame hop is a constant taken from `levels` (cycled), same on every channel
// except that channel 1 carries `levels2` when given.
std::vector<float> HopConstants(const std::vector<float>& levels, size_t hops, int channels,
                                const std::vector<float>& levels2 = {}) {
  std::vector<float> v(hops * 480 * static_cast<size_t>(channels));
  for (size_t t = 0; t < hops * 480; ++t)
    for (int c = 0; c < channels; ++c) {
      const auto& lv = (c == 1 && !levels2.empty()) ? levels2 : levels;
      v[t * static_cast<size_t>(channels) + static_cast<size_t>(c)] = lv[(t / 480) % lv.size()];
    }
  return v;
}

void RunGated(Rig& r, const std::vector<float>& in, std::vector<float>& out, int channels,
         float thr, int64_t grace, const std::vector<size_t>& calls) {
  const size_t ch = static_cast<size_t>(channels);
  const size_t frames = in.size() / ch;
  out.assign(in.size(), 0.0f);
  size_t pos = 0, k = 0;
  while (pos < frames) {
    const size_t n = std::min(frames - pos, calls[k++ % calls.size()]);
    r.stream->Process(in.data() + pos * ch, out.data() + pos * ch, n);
    r.gate->Apply(*r.tap, out.data() + pos * ch, n, thr, grace);
    pos += n;
  }
}

TEST(VadGateTest, MatchesANaiveReferenceAtTheModelRate) {
  // Levels double as VADs: voice (0.8) then silence-ish (0.1) stretches of various lengths.
  const std::vector<float> levels = {0.8f, 0.8f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f,
                                     0.8f, 0.1f, 0.1f, 0.6f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f,
                                     0.1f, 0.1f, 0.1f, 0.1f, 0.1f};
  const size_t hops = 200;
  const float thr = 0.5f;
  const int64_t grace = 3 * 480;  // three hops of hold
  for (int channels : {1, 2}) {
    Rig r = MakeRig(48000, channels);
    const auto in = HopConstants(levels, hops, channels);
    std::vector<float> out;
    RunGated(r, in, out, channels, thr, grace, {333, 1, 4096, 480, 7});

    // Reference: decisions per hop, then the gain ramp per frame.
    const int64_t D = r.stream->buffering_frames();
    ASSERT_EQ(D, 479);
    std::vector<bool> open(hops);
    int64_t hold = 0;
    for (size_t j = 0; j < hops; ++j) {
      const double v = levels[j % levels.size()];
      if (v >= thr) {
        open[j] = true;
        hold = grace;
      } else if (hold > 0) {
        open[j] = true;
        hold -= 480;
      } else {
        open[j] = false;
      }
    }
    // The ramps in the gate's own float steps (2 ms up, 10 ms down at 48 kHz).
    float gain = 1.0f;
    const float up = static_cast<float>(1.0 / 96.0), down = static_cast<float>(1.0 / 480.0);
    const size_t ch = static_cast<size_t>(channels);
    size_t closed_frames = 0;
    for (size_t t = 0; t < in.size() / ch; ++t) {
      const int64_t ti = static_cast<int64_t>(t);
      const bool want = ti < D ? false : open[static_cast<size_t>((ti - D) / 480)];
      gain = want ? std::min(1.0f, gain + up) : std::max(0.0f, gain - down);
      const int64_t src = ti - r.stream->latency_frames();
      for (size_t c = 0; c < ch; ++c) {
        const float x = src >= 0 ? in[static_cast<size_t>(src) * ch + c] : 0.0f;
        ASSERT_NEAR(out[t * ch + c], x * gain, 1e-6) << "t=" << t << " c=" << c;
      }
      if (gain == 0.0f) ++closed_frames;
    }
    EXPECT_GT(closed_frames, 1000u);  // the test can see a closed gate
    EXPECT_GT(r.gate->gated_frames(), closed_frames);
    EXPECT_EQ(r.gate->late_hops(), 0u);
  }
}

TEST(VadGateTest, StereoOpensOnEitherChannel) {
  const std::vector<float> quiet = {0.1f};
  const std::vector<float> talk = {0.1f, 0.1f, 0.1f, 0.1f, 0.9f};
  Rig r = MakeRig(48000, 2);
  const auto in = HopConstants(quiet, 100, 2, talk);
  std::vector<float> out;
  RunGated(r, in, out, 2, 0.5f, 0, {1024});
  // Channel 0 is always quiet, but the gate opens whenever channel 1 talks: channel 0's
  // samples pass at full gain somewhere.
  size_t full = 0;
  for (size_t t = 2000; t < 100 * 480; ++t)
    if (out[2 * t] == 0.1f) ++full;
  EXPECT_GT(full, 1000u);
  EXPECT_GT(r.gate->gated_frames(), 1000u);
}

TEST(VadGateTest, CallSizesDoNotChangeTheOutputWithResampling) {
  const std::vector<float> levels = {0.9f, 0.2f, 0.2f, 0.2f, 0.2f, 0.7f, 0.2f, 0.2f, 0.2f, 0.2f,
                                     0.2f, 0.2f};
  for (int rate : {44100, 96000}) {
    const size_t hops = 150;
    // The input at the host rate: hop-long constants are close enough for the resampler.
    std::vector<float> in(hops * 480 * static_cast<size_t>(rate) / 48000);
    for (size_t t = 0; t < in.size(); ++t)
      in[t] = levels[(t * 48000 / static_cast<size_t>(rate) / 480) % levels.size()];
    std::vector<float> a, b;
    Rig ra = MakeRig(rate, 1), rb = MakeRig(rate, 1);
    RunGated(ra, in, a, 1, 0.5f, 960, {4096});  // the most ghostnv_process passes at once
    RunGated(rb, in, b, 1, 0.5f, 960, {1, 7, 113, 513, 4096, 33});
    ASSERT_EQ(a, b) << rate;
    EXPECT_GT(ra.gate->gated_frames(), 1000u);
    EXPECT_EQ(ra.gate->gated_frames(), rb.gate->gated_frames());
    EXPECT_EQ(ra.gate->late_hops(), 0u);
    EXPECT_EQ(rb.gate->late_hops(), 0u);
  }
}

TEST(VadGateTest, OffIsBitExactAndRampsBackOpen) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> d(-0.9f, 0.9f);
  std::vector<float> in(48000);
  for (float& x : in) x = d(rng);
  Rig plain = MakeRig(48000, 1), gated = MakeRig(48000, 1);
  std::vector<float> a(in.size()), b(in.size());
  plain.stream->Process(in.data(), a.data(), in.size());
  // Gate on (threshold 1: closes) for the first 10000 frames, then off.
  gated.stream->Process(in.data(), b.data(), 10000);
  gated.gate->Apply(*gated.tap, b.data(), 10000, 1.0f, 0);
  gated.stream->Process(in.data() + 10000, b.data() + 10000, in.size() - 10000);
  gated.gate->Apply(*gated.tap, b.data() + 10000, in.size() - 10000, 0.0f, 0);
  // Closed somewhere early, then back to exactly the plain output after a 2 ms ramp.
  EXPECT_NE(std::vector<float>(a.begin(), a.begin() + 10000),
            std::vector<float>(b.begin(), b.begin() + 10000));
  EXPECT_EQ(std::vector<float>(a.begin() + 10000 + 100, a.end()),
            std::vector<float>(b.begin() + 10000 + 100, b.end()));
}

TEST(VadGateTest, RingCapacityCoversSlowHostRates) {
  // 8 kHz host, 48 kHz model: one 4096-frame call completes about 51 hops.
  const size_t cap = RingCapacity(8000, 48000, 480, 4000, 4096);
  EXPECT_GE(cap, 51u + 50u + 16u);
  EXPECT_EQ(cap & (cap - 1), 0u);
}

}  // namespace
}  // namespace ghostnv::api
