// Tests for kernels/xcorr.h: the reference against double-precision sums, the AVX2 versions
// against the reference, at odd lengths and lag counts (including 0), with y sized exactly
// len + lags - 1 so that AddressSanitizer builds catch any over-read.
//
// Tolerance: a float dot product of n terms is within n * 2^-24 * sum |x_i y_i| of the exact
// value (worst case); the reference is held to (n + 1) times that unit, the AVX2 version to
// twice it against the reference.

#include "kernels/xcorr.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/cpu.h"
#include "kernels/kernels_test_util.h"

namespace ghostnv::kernels {
namespace {

using testing::kFloatEps;
using testing::TestRng;

constexpr int kLens[] = {0, 1, 7, 8, 24, 31, 33, 113, 240, 513};
constexpr int kLags[] = {0, 1, 7, 8, 9, 33, 63, 64, 65, 113, 354};

struct Exact {
  double sum;
  double mag;
};

Exact DotDouble(const float* x, const float* y, int n) {
  Exact e{0, 0};
  for (int i = 0; i < n; ++i) {
    const double t = static_cast<double>(x[i]) * y[i];
    e.sum += t;
    e.mag += std::fabs(t);
  }
  return e;
}

double Tol(int n, double mag) { return (n + 1) * kFloatEps * mag + 1e-30; }

TEST(InnerProductTest, RefAndAvx2) {
  const bool avx2 = CpuHasAvx2Fma();
  for (int n : {0, 1, 2, 7, 8, 9, 31, 32, 33, 113, 240, 513, 1000}) {
    const uint32_t seed = 40 + static_cast<uint32_t>(n);
    TestRng rng(seed);
    const std::vector<float> x = rng.Uniform(static_cast<size_t>(n), -2.f, 2.f);
    const std::vector<float> y = rng.Uniform(static_cast<size_t>(n), -2.f, 2.f);
    const Exact e = DotDouble(x.data(), y.data(), n);
    const float ref = InnerProduct_ref(x.data(), y.data(), n);
    EXPECT_LE(std::fabs(ref - e.sum), Tol(n, e.mag)) << "n=" << n << " seed=" << seed;
    if (n == 0) {
      EXPECT_EQ(ref, 0.f);
    }
    if (avx2) {
      const float simd = InnerProduct_avx2(x.data(), y.data(), n);
      EXPECT_LE(std::fabs(simd - ref), 2 * Tol(n, e.mag)) << "n=" << n << " seed=" << seed;
      EXPECT_LE(std::fabs(simd - e.sum), Tol(n, e.mag)) << "n=" << n << " seed=" << seed;
      if (n == 0) {
        EXPECT_EQ(simd, 0.f);
      }
    }
    const float dispatched = InnerProduct(x.data(), y.data(), n);
    EXPECT_LE(std::fabs(dispatched - e.sum), Tol(n, e.mag)) << "n=" << n;
  }
  // Unaligned pointers.
  TestRng rng(7);
  std::vector<float> x = rng.Uniform(300, -1.f, 1.f), y = rng.Uniform(300, -1.f, 1.f);
  for (int off = 1; off < 8; ++off) {
    const int n = 300 - off;
    const Exact e = DotDouble(x.data() + off, y.data() + 8 - off, n - 8 + off);
    const float ref = InnerProduct_ref(x.data() + off, y.data() + 8 - off, n - 8 + off);
    EXPECT_LE(std::fabs(ref - e.sum), Tol(n, e.mag)) << "off=" << off;
    if (avx2) {
      const float simd = InnerProduct_avx2(x.data() + off, y.data() + 8 - off, n - 8 + off);
      EXPECT_LE(std::fabs(simd - e.sum), Tol(n, e.mag)) << "off=" << off;
    }
  }
  if (!avx2) GTEST_SKIP() << "CPU lacks AVX2/FMA: only the reference was checked";
}

constexpr float kCanary = 4242.f;

void CheckXcorr(int len, int lags, bool avx2) {
  const uint32_t seed = 1000u * static_cast<uint32_t>(len) + static_cast<uint32_t>(lags);
  const std::string what = "len=" + std::to_string(len) + " lags=" + std::to_string(lags) +
                           " seed=" + std::to_string(seed);
  TestRng rng(seed);
  const std::vector<float> x = rng.Uniform(static_cast<size_t>(len), -1.f, 1.f);
  const int ny = lags > 0 ? len + lags - 1 : 0;
  const std::vector<float> y = rng.Uniform(static_cast<size_t>(ny), -1.f, 1.f);
  std::vector<float> ref(static_cast<size_t>(lags) + 9, kCanary), simd = ref;
  PitchXcorr_ref(x.data(), y.data(), ref.data(), len, lags);
  if (avx2) PitchXcorr_avx2(x.data(), y.data(), simd.data(), len, lags);
  for (int k = 0; k < lags; ++k) {
    const Exact e = DotDouble(x.data(), y.data() + k, len);
    ASSERT_LE(std::fabs(ref[k] - e.sum), Tol(len, e.mag)) << what << " ref lag=" << k;
    if (avx2) {
      ASSERT_LE(std::fabs(simd[k] - ref[k]), 2 * Tol(len, e.mag)) << what << " avx2 lag=" << k;
    }
  }
  for (size_t k = static_cast<size_t>(lags); k < ref.size(); ++k) {
    ASSERT_EQ(ref[k], kCanary) << what << " ref wrote past lags";
    if (avx2) {
      ASSERT_EQ(simd[k], kCanary) << what << " avx2 wrote past lags";
    }
  }
}

TEST(PitchXcorrTest, RefAndAvx2AllSizes) {
  const bool avx2 = CpuHasAvx2Fma();
  for (int len : kLens) {
    for (int lags : kLags) {
      CheckXcorr(len, lags, avx2);
      if (HasFatalFailure()) return;
    }
  }
  CheckXcorr(240, 354, avx2);  // RNNoise's pitch search shape
  CheckXcorr(1, 513, avx2);
  CheckXcorr(513, 1, avx2);
  if (!avx2) GTEST_SKIP() << "CPU lacks AVX2/FMA: only the reference was checked";
}

TEST(PitchXcorrTest, DispatchFollowsForceScalar) {
  TestRng rng(3);
  const std::vector<float> x = rng.Uniform(240, -1.f, 1.f);
  const std::vector<float> y = rng.Uniform(240 + 354 - 1, -1.f, 1.f);
  std::vector<float> forced(354), ref(354);
  ForceScalar(true);
  PitchXcorr(x.data(), y.data(), forced.data(), 240, 354);
  ForceScalar(false);
  PitchXcorr_ref(x.data(), y.data(), ref.data(), 240, 354);
  EXPECT_EQ(forced, ref);
}

}  // namespace
}  // namespace ghostnv::kernels
