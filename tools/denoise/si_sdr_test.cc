#include "tools/denoise/si_sdr.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace ghostnv::tools {
namespace {

// est = a * ref + e with e built orthogonal to ref (and both zero-mean): the SI-SDR is then
// exactly 10 log10(a^2 |ref|^2 / |e|^2), whatever the scale of the estimate.
TEST(SiSdrTest, MatchesTheClosedFormForAnOrthogonalError) {
  std::mt19937 rng(1);
  std::normal_distribution<double> d;
  for (size_t n : {size_t{7}, size_t{113}, size_t{4801}}) {
    std::vector<double> r(n), e(n);
    for (auto& x : r) x = d(rng);
    for (auto& x : e) x = d(rng);
    auto demean = [](std::vector<double>& v) {
      double m = 0;
      for (double x : v) m += x;
      m /= double(v.size());
      for (double& x : v) x -= m;
    };
    demean(r);
    demean(e);
    double re = 0, rr = 0;
    for (size_t i = 0; i < n; ++i) re += r[i] * e[i], rr += r[i] * r[i];
    for (size_t i = 0; i < n; ++i) e[i] -= re / rr * r[i];  // orthogonal to r
    for (double a : {0.5, 3.0}) {
      for (double g : {0.1, 1.0}) {
        std::vector<float> ref(n), est(n);
        double ee = 0;
        for (size_t i = 0; i < n; ++i) {
          ref[i] = float(r[i]);
          est[i] = float(a * r[i] + g * e[i]);
          ee += g * e[i] * g * e[i];
        }
        const double want = 10 * std::log10(a * a * rr / ee);
        auto got = SiSdr(ref.data(), est.data(), n);
        ASSERT_TRUE(got.has_value());
        EXPECT_NEAR(*got, want, 1e-3) << n << " " << a << " " << g;
      }
    }
  }
}

TEST(SiSdrTest, ScaleAndOffsetInvariant) {
  std::vector<float> ref = {0.1f, -0.4f, 0.3f, 0.9f, -0.2f, 0.05f};
  std::vector<float> est = {0.12f, -0.38f, 0.31f, 0.85f, -0.22f, 0.0f};
  const double a = *SiSdr(ref.data(), est.data(), ref.size());
  for (float& x : est) x = 4.0f * x + 0.5f;
  EXPECT_NEAR(*SiSdr(ref.data(), est.data(), ref.size()), a, 1e-4);
}

TEST(SiSdrTest, EdgeCases) {
  std::vector<float> z(10, 0.0f), x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_FALSE(SiSdr(z.data(), x.data(), 10).has_value());
  EXPECT_FALSE(SiSdr(x.data(), x.data(), 0).has_value());
  EXPECT_EQ(*SiSdr(x.data(), x.data(), 10), 300.0);
  EXPECT_EQ(*SiSdr(x.data(), z.data(), 10), -300.0);
}

TEST(SiSdrTest, InterleavedAveragesChannelsOverTheOverlap) {
  std::vector<float> ref = {0.1f, 1, -0.4f, 2, 0.3f, 3, 0.9f, 4, -0.2f, 5};
  std::vector<float> est = {0.12f, 1.1f, -0.38f, 2.3f, 0.31f, 2.8f, 0.85f, 4.2f};  // 4 frames
  std::vector<float> l0 = {0.1f, -0.4f, 0.3f, 0.9f}, l1 = {0.12f, -0.38f, 0.31f, 0.85f};
  std::vector<float> r0 = {1, 2, 3, 4}, r1 = {1.1f, 2.3f, 2.8f, 4.2f};
  const double want = 0.5 * (*SiSdr(l0.data(), l1.data(), 4) + *SiSdr(r0.data(), r1.data(), 4));
  EXPECT_NEAR(*SiSdrInterleaved(ref, est, 2), want, 1e-9);
}

}  // namespace
}  // namespace ghostnv::tools
