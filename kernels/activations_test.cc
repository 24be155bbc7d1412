// Tests for kernels/activations.h: the reference against double precision, the AVX2 version
// against the reference, the tansig table, NaN/Inf handling and the name parsers.

#include "kernels/activations.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cpu.h"
#include "kernels/kernels_test_util.h"

namespace ghostnv::kernels {
namespace {

using testing::ActivationBound;
using testing::ActivationDouble;
using testing::kAllActivations;
using testing::kAllMathModes;
using testing::kApproxTanhBound;
using testing::kAvx2ExactBound;
using testing::kRefExactBound;
using testing::TestRng;

constexpr size_t kSizes[] = {0, 1, 7, 8, 9, 15, 16, 17, 24, 48, 96, 113, 513};

std::string Describe(Activation act, MathMode math, size_t n, uint32_t seed) {
  return std::string(ActivationName(act)) + "/" + MathModeName(math) + " n=" + std::to_string(n) +
         " seed=" + std::to_string(seed);
}

// A replica of RNNoise's tansig_approx written here in double precision, with its own table.
double TansigApproxDouble(double x) {
  if (std::isnan(x)) return 0.0;
  if (x >= 8) return 1.0;
  if (x <= -8) return -1.0;
  const double sign = x < 0 ? -1.0 : 1.0;
  x = std::fabs(x);
  const int i = static_cast<int>(std::floor(0.5 + 25.0 * x));
  const double dx = x - 0.04 * i;
  const double y = std::round(std::tanh(0.04 * i) * 1e6) / 1e6;
  return sign * (y + dx * (1 - y * y) * (1 - y * dx));
}

// Inputs covering the interesting ranges, plus exact table knots and saturation edges.
std::vector<float> MakeInputs(size_t n, uint32_t seed) {
  TestRng rng(seed);
  std::vector<float> x = rng.Uniform(n, -12.f, 12.f);
  for (size_t i = 0; i < n; i += 5) x[i] = rng.Uniform(-1.f, 1.f);
  for (size_t i = 3; i < n; i += 11) x[i] = 0.04f * static_cast<float>(rng.Bits() % 401) - 8.f;
  if (n > 2) x[2] = 8.f;
  if (n > 4) x[4] = -8.f;
  return x;
}

TEST(TansigTableTest, HoldsRoundedTanh) {
  const float* t = TansigTable();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t[0], 0.f);
  EXPECT_EQ(t[25], 0.761594f);  // tanh(1) = 0.76159416
  EXPECT_EQ(t[50], 0.964028f);  // tanh(2) = 0.96402758
  EXPECT_EQ(t[200], 1.f);       // tanh(8) = 0.99999977 rounds up
  for (int i = 0; i < kTansigTableSize; ++i) {
    const double want = std::tanh(0.04 * i);
    EXPECT_LE(std::fabs(t[i] - want), 5e-7 + 6e-8) << "i=" << i;
    // Exactly 6 decimals: t * 1e6 is (within float rounding) an integer.
    const double scaled = static_cast<double>(t[i]) * 1e6;
    EXPECT_LE(std::fabs(scaled - std::round(scaled)), 0.07) << "i=" << i;
    if (i > 0) {
      EXPECT_GE(t[i], t[i - 1]) << "i=" << i;
    }
  }
}

TEST(TansigApproxTest, KnownValues) {
  EXPECT_EQ(TansigApprox(0.f), 0.f);
  EXPECT_EQ(TansigApprox(1.f), 0.761594f);  // a table knot: no correction
  EXPECT_EQ(TansigApprox(-1.f), -0.761594f);
  EXPECT_EQ(TansigApprox(8.f), 1.f);
  EXPECT_EQ(TansigApprox(-8.f), -1.f);
  EXPECT_EQ(TansigApprox(100.f), 1.f);
  EXPECT_EQ(TansigApprox(std::numeric_limits<float>::infinity()), 1.f);
  EXPECT_EQ(TansigApprox(-std::numeric_limits<float>::infinity()), -1.f);
  EXPECT_EQ(TansigApprox(std::numeric_limits<float>::quiet_NaN()), 0.f);
  EXPECT_EQ(SigmoidApprox(0.f), 0.5f);
  EXPECT_EQ(SigmoidApprox(std::numeric_limits<float>::quiet_NaN()), 0.5f);  // .5 + .5 * 0
  EXPECT_EQ(SigmoidApprox(20.f), 1.f);
  EXPECT_EQ(SigmoidApprox(-20.f), 0.f);
}

// Sweeps [-9, 9] densely: against the double replica (float rounding only; where float and
// double pick different table entries near an index midpoint the two branches of the
// approximation differ by up to ~2 * kApproxTanhBound) and against the true tanh.
TEST(TansigApproxTest, MatchesDoubleReplicaAndTanh) {
  double max_vs_replica = 0, max_vs_tanh = 0;
  for (int k = -900000; k <= 900000; ++k) {
    const float x = static_cast<float>(k) * 1e-5f;
    const double got = TansigApprox(x);
    const double replica = TansigApproxDouble(x);
    const double err_r = std::fabs(got - replica);
    const double err_t = std::fabs(got - std::tanh(static_cast<double>(x)));
    max_vs_replica = std::max(max_vs_replica, err_r);
    max_vs_tanh = std::max(max_vs_tanh, err_t);
    ASSERT_LE(err_r, 2 * kApproxTanhBound) << "x=" << x;
    ASSERT_LE(err_t, kApproxTanhBound) << "x=" << x;
    const double sig = SigmoidApprox(x);
    ASSERT_LE(std::fabs(sig - (0.5 + 0.5 * TansigApproxDouble(0.5 * x))), kApproxTanhBound)
        << "x=" << x;
    ASSERT_LE(std::fabs(sig - ActivationDouble(Activation::kSigmoid, x)), 0.5 * kApproxTanhBound)
        << "x=" << x;
  }
  std::printf("max |approx - replica| = %.3g, max |approx - tanh| = %.3g\n", max_vs_replica,
              max_vs_tanh);
  // Away from midpoints the replica must agree to float rounding.
  for (int i = 0; i < 200; ++i) {
    const float x = 0.04f * static_cast<float>(i) + 0.013f;
    EXPECT_NEAR(TansigApprox(x), TansigApproxDouble(x), 3e-7) << "x=" << x;
    EXPECT_NEAR(TansigApprox(-x), TansigApproxDouble(-x), 3e-7) << "x=" << -x;
  }
}

TEST(ActivateRefTest, MatchesDoublePrecision) {
  for (Activation act : kAllActivations) {
    for (MathMode math : kAllMathModes) {
      for (size_t n : kSizes) {
        const uint32_t seed = 1000 + static_cast<uint32_t>(n);
        const std::vector<float> in = MakeInputs(n, seed);
        std::vector<float> x = in;
        x.push_back(123.f);  // canary
        Activate_ref(act, math, x.data(), n);
        const double bound =
            math == MathMode::kExact && act != Activation::kRelu && act != Activation::kIdentity
                ? kRefExactBound
                : ActivationBound(act, math);
        for (size_t i = 0; i < n; ++i) {
          const double want = ActivationDouble(act, in[i]);
          ASSERT_LE(std::fabs(x[i] - want), bound)
              << Describe(act, math, n, seed) << " i=" << i << " in=" << in[i];
        }
        EXPECT_EQ(x[n], 123.f) << "wrote past n: " << Describe(act, math, n, seed);
      }
    }
  }
}

TEST(ActivateAvx2Test, MatchesRef) {
  GHOSTNV_SKIP_WITHOUT_AVX2();
  for (Activation act : kAllActivations) {
    for (MathMode math : kAllMathModes) {
      for (size_t n : kSizes) {
        const uint32_t seed = 2000 + static_cast<uint32_t>(n);
        const std::vector<float> in = MakeInputs(n, seed);
        std::vector<float> ref = in, simd = in;
        ref.push_back(-7.f);
        simd.push_back(-7.f);
        Activate_ref(act, math, ref.data(), n);
        Activate_avx2(act, math, simd.data(), n);
        // Exact mode: the vectorised exp/tanh bound. Approx mode: the same operations in the
        // same order, so the results are expected to be bit-identical; 1e-6 is the contract.
        const double tol = math == MathMode::kExact ? kAvx2ExactBound + kRefExactBound : 1e-6;
        for (size_t i = 0; i < n; ++i) {
          ASSERT_LE(std::fabs(simd[i] - ref[i]), tol)
              << Describe(act, math, n, seed) << " i=" << i << " in=" << in[i];
        }
        EXPECT_EQ(simd[n], -7.f) << "wrote past n: " << Describe(act, math, n, seed);
      }
    }
  }
}

// Every float step of 2^-12 in [-20, 20] (and every knot region): the AVX2 exact functions
// against double precision, and the AVX2 approx functions bit for bit against the reference.
TEST(ActivateAvx2Test, SweepAgainstDouble) {
  GHOSTNV_SKIP_WITHOUT_AVX2();
  std::vector<float> in;
  for (int k = -20 * 4096; k <= 20 * 4096; ++k) in.push_back(static_cast<float>(k) / 4096.f);
  for (float v : {1e-30f, -1e-30f, 1e-6f, -1e-6f, 3e-4f, FLT_MIN, -FLT_MIN, 87.f, -87.f, 88.f,
                  -88.f, 89.f, -89.f, 7.99999f, -7.99999f}) {
    in.push_back(v);
  }
  double max_err[2] = {0, 0};
  for (int a = 0; a < 2; ++a) {
    const Activation act = a == 0 ? Activation::kTanh : Activation::kSigmoid;
    std::vector<float> x = in;
    Activate_avx2(act, MathMode::kExact, x.data(), x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      const double err = std::fabs(x[i] - ActivationDouble(act, in[i]));
      max_err[a] = std::max(max_err[a], err);
      ASSERT_LE(err, kAvx2ExactBound) << ActivationName(act) << " x=" << in[i];
    }
    std::vector<float> ref = in, simd = in;
    Activate_ref(act, MathMode::kRnnoiseApprox, ref.data(), ref.size());
    Activate_avx2(act, MathMode::kRnnoiseApprox, simd.data(), simd.size());
    size_t differing = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      ASSERT_LE(std::fabs(simd[i] - ref[i]), 1e-6) << ActivationName(act) << " x=" << in[i];
      differing += std::memcmp(&simd[i], &ref[i], sizeof(float)) != 0;
    }
    EXPECT_EQ(differing, 0u) << ActivationName(act) << ": approx AVX2 not bit-identical to ref";
  }
  std::printf("AVX2 exact: max |tanh err| = %.3g, max |sigmoid err| = %.3g\n", max_err[0],
              max_err[1]);
  // Small arguments keep relative accuracy too (the expm1 formulation avoids cancellation).
  std::vector<float> tiny = {1e-7f, -3e-5f, 1e-3f, -0.01f, 0.1f};
  std::vector<float> t = tiny;
  Activate_avx2(Activation::kTanh, MathMode::kExact, t.data(), t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_NEAR(t[i] / std::tanh(static_cast<double>(tiny[i])), 1.0, 1e-6) << "x=" << tiny[i];
  }
}

// NaN never escapes tanh/sigmoid/relu in either math mode; +-inf and huge values give the
// limits. Identity is a no-op by definition (it passes NaN through).
TEST(ActivateSpecialValuesTest, NanAndInf) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> in = {nan,   -nan,    inf,
                                 -inf,  FLT_MAX, -FLT_MAX,
                                 1e30f, -1e30f,  std::numeric_limits<float>::denorm_min(),
                                 -0.f,  0.f,     9.f,
                                 nan};
  struct Impl {
    const char* name;
    void (*fn)(Activation, MathMode, float*, size_t);
    bool needs_avx2;
  };
  const Impl impls[] = {{"ref", &Activate_ref, false},
                        {"avx2", &Activate_avx2, true},
                        {"dispatch", &Activate, false}};
  for (const Impl& impl : impls) {
    if (impl.needs_avx2 && !CpuHasAvx2Fma()) continue;
    for (MathMode math : kAllMathModes) {
      for (Activation act : {Activation::kTanh, Activation::kSigmoid, Activation::kRelu}) {
        std::vector<float> x = in;
        impl.fn(act, math, x.data(), x.size());
        const std::string what =
            std::string(impl.name) + " " + ActivationName(act) + "/" + MathModeName(math);
        for (size_t i = 0; i < x.size(); ++i) {
          ASSERT_FALSE(std::isnan(x[i])) << what << " in=" << in[i];
          if (act != Activation::kRelu) {
            ASSERT_TRUE(std::isfinite(x[i])) << what << " in=" << in[i];
          }
        }
        if (act == Activation::kTanh) {
          EXPECT_EQ(x[0], 0.f) << what;
          EXPECT_EQ(x[2], 1.f) << what;
          EXPECT_EQ(x[3], -1.f) << what;
          EXPECT_EQ(x[4], 1.f) << what;
          EXPECT_EQ(x[5], -1.f) << what;
        } else if (act == Activation::kSigmoid) {
          // NaN -> 0 in exact mode; approx mode is .5 + .5 * tansig(NaN) = .5.
          EXPECT_EQ(x[0], math == MathMode::kExact ? 0.f : 0.5f) << what;
          EXPECT_EQ(x[2], 1.f) << what;
          // sigmoid(-inf): 0 in the reference; the AVX2 version clamps |x| to 87 and gives
          // exp(-87) ~ 1.6e-38 there.
          EXPECT_LE(std::fabs(x[3]), 2e-38f) << what;
          EXPECT_EQ(x[6], 1.f) << what;
          EXPECT_LE(std::fabs(x[7]), 2e-38f) << what;
        } else {
          EXPECT_EQ(x[0], 0.f) << what;
          EXPECT_EQ(x[2], inf) << what;  // relu = max(0, x): +inf stays +inf
          EXPECT_EQ(x[3], 0.f) << what;
          EXPECT_EQ(x[4], FLT_MAX) << what;
        }
      }
      std::vector<float> x = in;
      impl.fn(Activation::kIdentity, math, x.data(), x.size());
      EXPECT_EQ(std::memcmp(x.data(), in.data(), in.size() * sizeof(float)), 0) << impl.name;
    }
  }
}

TEST(ActivateDispatchTest, ForceScalarSelectsRef) {
  ForceScalar(true);
  EXPECT_EQ(ActiveSimd(), SimdLevel::kScalar);
  ForceScalar(false);
  if (!CpuHasAvx2Fma()) {
    EXPECT_EQ(ActiveSimd(), SimdLevel::kScalar);
  }
  EXPECT_STREQ(SimdName(SimdLevel::kScalar), "scalar");
  EXPECT_STREQ(SimdName(SimdLevel::kAvx2), "avx2");
  // The dispatcher gives the ref's answer (within the AVX2 bound) either way.
  const std::vector<float> in = MakeInputs(113, 77);
  for (bool force : {true, false}) {
    ForceScalar(force);
    std::vector<float> got = in, want = in;
    Activate(Activation::kTanh, MathMode::kExact, got.data(), got.size());
    Activate_ref(Activation::kTanh, MathMode::kExact, want.data(), want.size());
    for (size_t i = 0; i < in.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], force ? 0.0 : kAvx2ExactBound + kRefExactBound) << i;
    }
  }
  ForceScalar(false);
}

// ctest runs this binary a second time with GHOSTNV_SIMD=scalar (see CMakeLists.txt).
TEST(ActivateDispatchTest, EnvironmentCanForceScalar) {
  const char* env = std::getenv("GHOSTNV_SIMD");
  if (env == nullptr || std::strcmp(env, "scalar") != 0) {
    GTEST_SKIP() << "GHOSTNV_SIMD=scalar not set";
  }
  EXPECT_EQ(ActiveSimd(), SimdLevel::kScalar);
  ForceScalar(false);  // the environment wins over the hook's "not forced"
  EXPECT_EQ(ActiveSimd(), SimdLevel::kScalar);
}

TEST(ActivationNamesTest, RoundTrip) {
  for (Activation act : kAllActivations) {
    Activation parsed = Activation::kIdentity;
    ASSERT_TRUE(ParseActivation(ActivationName(act), &parsed));
    EXPECT_EQ(parsed, act);
  }
  EXPECT_STREQ(ActivationName(Activation::kSigmoid), "sigmoid");
  for (MathMode m : kAllMathModes) {
    MathMode parsed = MathMode::kExact;
    ASSERT_TRUE(ParseMathMode(MathModeName(m), &parsed));
    EXPECT_EQ(parsed, m);
  }
  EXPECT_STREQ(MathModeName(MathMode::kRnnoiseApprox), "rnnoise_approx");
  Activation a = Activation::kTanh;
  EXPECT_FALSE(ParseActivation("Tanh", &a));
  EXPECT_FALSE(ParseActivation("", &a));
  EXPECT_FALSE(ParseActivation(nullptr, &a));
  EXPECT_EQ(a, Activation::kTanh);
  MathMode m = MathMode::kExact;
  EXPECT_FALSE(ParseMathMode("approx", &m));
  EXPECT_EQ(m, MathMode::kExact);
}

}  // namespace
}  // namespace ghostnv::kernels
