#include "audio/resampler.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace ghostnv::audio {
namespace {

// A band-limited test signal evaluated at any time t (seconds): sines under a raised-cosine
// fade, so its analytic value at any rate is the exact reference.
double Signal(double t, double f, double len_s) {
  constexpr double kFade = 0.02;
  double env = 1.0;
  if (t < 0 || t > len_s) return 0.0;
  if (t < kFade) env = 0.5 - 0.5 * std::cos(std::numbers::pi * t / kFade);
  if (t > len_s - kFade) env = 0.5 - 0.5 * std::cos(std::numbers::pi * (len_s - t) / kFade);
  return env * (0.5 * std::sin(2 * std::numbers::pi * f * t) +
                0.25 * std::sin(2 * std::numbers::pi * 3.1 * f * t + 0.3));
}

std::vector<float> Render(int rate, size_t n, double f, double len_s) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(Signal(i / double(rate), f, len_s));
  return v;
}

double SnrDb(const std::vector<float>& ref, const std::vector<float>& x) {
  double s = 0, e = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    s += double(ref[i]) * ref[i];
    const double d = double(ref[i]) - (i < x.size() ? x[i] : 0.0);
    e += d * d;
  }
  return 10 * std::log10(s / std::max(e, 1e-300));
}

// Streams `in` through a Resampler with pushes/pulls of varying sizes and flushes.
std::vector<std::vector<float>> Stream(const std::vector<std::vector<float>>& in, int in_rate,
                                       int out_rate, uint32_t seed, size_t max_push = 1024) {
  const int ch = static_cast<int>(in.size());
  auto rs = Resampler::Create({in_rate, out_rate, ch, max_push});
  EXPECT_TRUE(rs.ok()) << rs.status();
  std::mt19937 rng(seed);
  std::vector<std::vector<float>> out(static_cast<size_t>(ch));
  std::vector<std::vector<float>> buf(static_cast<size_t>(ch), std::vector<float>(4096));
  std::vector<float*> optr;
  for (auto& b : buf) optr.push_back(b.data());
  auto pull = [&] {
    for (;;) {
      const size_t cap = 1 + rng() % 700;
      const size_t got = (*rs)->Pull(optr.data(), cap);
      for (int c = 0; c < ch; ++c)
        out[size_t(c)].insert(out[size_t(c)].end(), buf[size_t(c)].begin(),
                              buf[size_t(c)].begin() + std::ptrdiff_t(got));
      if (got < cap) break;
    }
  };
  const size_t n = in[0].size();
  size_t pos = 0;
  std::vector<const float*> iptr(static_cast<size_t>(ch));
  while (pos < n) {
    const size_t want = std::min<size_t>(n - pos, 1 + rng() % 1500);
    for (int c = 0; c < ch; ++c) iptr[size_t(c)] = in[size_t(c)].data() + pos;
    const size_t took = (*rs)->Push(iptr.data(), want);
    EXPECT_LE(took, max_push);
    pos += took;
    if (rng() % 3 != 0 || took < want) pull();
  }
  pull();
  EXPECT_EQ((*rs)->queued_frames(), 0u);
  (*rs)->EndOfStream();
  pull();
  EXPECT_FALSE((*rs)->failed());
  return out;
}

TEST(ResamplerTest, RejectsBadOptions) {
  EXPECT_FALSE(Resampler::Create({0, 48000, 1, 64}).ok());
  EXPECT_FALSE(Resampler::Create({44100, 48000, 0, 64}).ok());
  EXPECT_FALSE(Resampler::Create({44100, 48000, 1, 0}).ok());
}

// Up-sampling matches the analytic signal at the output rate: checks quality and absolute
// time alignment at once (no delay to compensate by hand).
TEST(ResamplerTest, MatchesAnalyticSignalAtOutputRate) {
  struct Case {
    int from, to;
  };
  for (Case k : {Case{44100, 48000}, Case{48000, 44100}, Case{96000, 48000}, Case{48000, 96000}}) {
    const double len = 0.7;
    const size_t n = size_t(len * k.from);
    const auto out = Stream({Render(k.from, n, 997.0, len)}, k.from, k.to, 1);
    const size_t want = size_t(std::llround(double(n) * k.to / k.from));
    EXPECT_NEAR(double(out[0].size()), double(want), 1.0) << k.from << "->" << k.to;
    const auto ref = Render(k.to, want, 997.0, len);
    EXPECT_GT(SnrDb(ref, out[0]), 80.0) << k.from << "->" << k.to;
  }
}

TEST(ResamplerTest, RoundTrip44100To48000AndBack) {
  const double len = 1.0;
  const size_t n = 44100;
  const std::vector<float> x = Render(44100, n, 440.0, len);
  const auto up = Stream({x}, 44100, 48000, 2);
  const auto back = Stream(up, 48000, 44100, 3);
  ASSERT_NEAR(double(back[0].size()), double(n), 1.0);
  EXPECT_GT(SnrDb(x, back[0]), 80.0);
}

TEST(ResamplerTest, ImpulseLandsAtTheScaledPosition) {
  for (int from : {44100, 96000}) {
    const int to = 48000;
    // 4410 * 48000 / 44100 = 4800; 9600 * 48000 / 96000 = 4800.
    const size_t at = from == 44100 ? 4410 : 9600;
    std::vector<float> x(from / 2, 0.0f);
    x[at] = 1.0f;
    const auto out = Stream({x}, from, to, 4);
    const auto peak = std::max_element(out[0].begin(), out[0].end(),
                                       [](float a, float b) { return std::fabs(a) < std::fabs(b); });
    const long pos = long(peak - out[0].begin());
    EXPECT_NEAR(double(pos), 4800.0, 1.0) << from;
    // A symmetric (linear-phase) response around the peak.
    EXPECT_NEAR(out[0][size_t(pos - 3)], out[0][size_t(pos + 3)], 1e-3f);
  }
}

TEST(ResamplerTest, ChunkingDoesNotChangeTheOutput) {
  std::mt19937 rng(5);
  std::normal_distribution<float> d(0.0f, 0.1f);
  std::vector<float> l(30011), r(30011);
  for (float& v : l) v = d(rng);
  for (float& v : r) v = d(rng);
  const auto a = Stream({l, r}, 44100, 48000, 10, 4096);
  const auto b = Stream({l, r}, 44100, 48000, 11, 37);
  ASSERT_EQ(a[0].size(), b[0].size());
  for (int c = 0; c < 2; ++c)
    for (size_t i = 0; i < a[0].size(); ++i) ASSERT_NEAR(a[c][i], b[c][i], 1e-6f) << c << " " << i;
}

TEST(ResamplerTest, ChannelsAreIndependent) {
  const double len = 0.5;
  const size_t n = size_t(len * 48000);
  const auto out = Stream({Render(48000, n, 500.0, len), std::vector<float>(n, 0.0f)}, 48000,
                          44100, 6);
  double left = 0, right = 0;
  for (float v : out[0]) left += double(v) * v;
  for (float v : out[1]) right += double(v) * v;
  EXPECT_GT(left, 100.0);
  EXPECT_EQ(right, 0.0);
}

TEST(ResamplerTest, ResampleAllGivesTheRoundedLength) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{113}, size_t{44100}}) {
    std::vector<std::vector<float>> in = {std::vector<float>(n, 0.25f)};
    auto out = ResampleAll(in, 44100, 48000);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ((*out)[0].size(), size_t(std::llround(n * 48000.0 / 44100.0)));
  }
}

}  // namespace
}  // namespace ghostnv::audio
