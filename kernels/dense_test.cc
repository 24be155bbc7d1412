// Tests for kernels/dense.h: the reference against a double-precision naive layer, the AVX2
// version against the reference, at odd sizes, for every activation and math mode; DenseRows
// bit for bit against Dense on each row (any path, with and without a prefetch stream);
// DenseGroups against a double-precision naive grouped layer.
//
// Tolerances (per output i, with mag_i = |bias_i| + sum_j |W[j][i] x[j]|):
//   ref  vs double: (inputs + 2) * 2^-24 * mag_i        (worst-case float summation error)
//                   + the activation's bound against the true function (kernels_test_util.h)
//   avx2 vs ref:    twice the summation term + twice the activation bound (both sides err;
//                   approx-mode tansig jumps by up to that much between table entries).

#include "kernels/dense.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
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
using testing::kFloatEps;
using testing::TestRng;

struct Shape {
  int inputs;
  int units;
};
constexpr Shape kShapes[] = {{0, 0},   {0, 5},   {1, 1},   {7, 7},    {24, 24},  {42, 24},
                             {1, 113}, {48, 96}, {113, 7}, {96, 113}, {114, 96}, {513, 17},
                             {3, 513}, {22, 8},  {25, 9},  {17, 16}};

struct Case {
  DenseParams p;
  std::vector<float> w, b, x;
  std::vector<double> pre, mag;  // double-precision pre-activation and its magnitude
  uint32_t seed;

  std::string Describe() const {
    return "inputs=" + std::to_string(p.inputs) + " units=" + std::to_string(p.units) +
           " act=" + ActivationName(p.activation) + " math=" + MathModeName(p.math) +
           " bias=" + (p.bias != nullptr ? "yes" : "null") + " seed=" + std::to_string(seed);
  }
};

// Weights scaled so pre-activations are O(1..4) and reach the saturating regions.
Case MakeCase(Shape s, Activation act, MathMode math, bool with_bias, uint32_t seed) {
  Case c;
  c.seed = seed;
  TestRng rng(seed);
  const float scale = 3.f / std::sqrt(static_cast<float>(s.inputs > 0 ? s.inputs : 1));
  c.w = rng.Uniform(static_cast<size_t>(s.inputs) * s.units, -scale, scale);
  c.b = rng.Uniform(static_cast<size_t>(s.units), -1.f, 1.f);
  c.x = rng.Uniform(static_cast<size_t>(s.inputs), -1.5f, 1.5f);
  c.p.inputs = s.inputs;
  c.p.units = s.units;
  c.p.weights = c.w.data();
  c.p.bias = with_bias ? c.b.data() : nullptr;
  c.p.activation = act;
  c.p.math = math;
  // Naive double, unit-major (a different loop order from the kernels).
  c.pre.assign(s.units, 0.0);
  c.mag.assign(s.units, 0.0);
  for (int i = 0; i < s.units; ++i) {
    double sum = with_bias ? c.b[i] : 0.0;
    double mag = std::fabs(sum);
    for (int j = 0; j < s.inputs; ++j) {
      const double t = static_cast<double>(c.w[static_cast<size_t>(j) * s.units + i]) * c.x[j];
      sum += t;
      mag += std::fabs(t);
    }
    c.pre[i] = sum;
    c.mag[i] = mag;
  }
  return c;
}

double SumTolerance(const Case& c, int i) { return (c.p.inputs + 2) * kFloatEps * c.mag[i]; }

constexpr float kCanary = -12345.f;

std::vector<float> RunDense(void (*fn)(const DenseParams&, const float*, float*), const Case& c) {
  std::vector<float> y(static_cast<size_t>(c.p.units) + 3, kCanary);
  const std::vector<float> x_before = c.x;
  fn(c.p, c.x.data(), y.data());
  EXPECT_EQ(c.x, x_before) << "input modified: " << c.Describe();
  for (size_t k = static_cast<size_t>(c.p.units); k < y.size(); ++k) {
    EXPECT_EQ(y[k], kCanary) << "wrote past units: " << c.Describe();
  }
  return y;
}

TEST(DenseRefTest, MatchesDoubleNaive) {
  uint32_t seed = 100;
  for (Shape s : kShapes) {
    for (Activation act : kAllActivations) {
      for (MathMode math : kAllMathModes) {
        const Case c = MakeCase(s, act, math, /*with_bias=*/(seed % 3) != 0, seed);
        ++seed;
        const std::vector<float> y = RunDense(&Dense_ref, c);
        for (int i = 0; i < s.units; ++i) {
          const double want = ActivationDouble(act, c.pre[i]);
          const double tol = SumTolerance(c, i) + ActivationBound(act, math) + 1e-30;
          ASSERT_LE(std::fabs(y[i] - want), tol)
              << c.Describe() << " i=" << i << " pre=" << c.pre[i];
        }
      }
    }
  }
}

TEST(DenseAvx2Test, MatchesRef) {
  GHOSTNV_SKIP_WITHOUT_AVX2();
  uint32_t seed = 5000;
  for (Shape s : kShapes) {
    for (Activation act : kAllActivations) {
      for (MathMode math : kAllMathModes) {
        const Case c = MakeCase(s, act, math, /*with_bias=*/(seed % 2) != 0, seed);
        ++seed;
        const std::vector<float> ref = RunDense(&Dense_ref, c);
        const std::vector<float> simd = RunDense(&Dense_avx2, c);
        for (int i = 0; i < s.units; ++i) {
          const double tol = 2 * SumTolerance(c, i) + 2 * ActivationBound(act, math) + 1e-30;
          ASSERT_LE(std::fabs(simd[i] - ref[i]), tol)
              << c.Describe() << " i=" << i << " pre=" << c.pre[i];
          // And directly against the double result.
          const double want = ActivationDouble(act, c.pre[i]);
          ASSERT_LE(std::fabs(simd[i] - want),
                    SumTolerance(c, i) + ActivationBound(act, math) + 1e-30)
              << c.Describe() << " i=" << i;
        }
      }
    }
  }
}

TEST(DenseDispatchTest, FollowsForceScalar) {
  const Case c = MakeCase({42, 24}, Activation::kTanh, MathMode::kExact, true, 9);
  ForceScalar(true);
  const std::vector<float> forced = RunDense(&Dense, c);
  ForceScalar(false);
  const std::vector<float> ref = RunDense(&Dense_ref, c);
  EXPECT_EQ(forced, ref);  // the scalar path is the reference, bit for bit
  const std::vector<float> auto_path = RunDense(&Dense, c);
  for (int i = 0; i < c.p.units; ++i) {
    EXPECT_NEAR(auto_path[i], ref[i], 2 * SumTolerance(c, i) + 2e-6) << i;
  }
}

// DenseRows must equal Dense row by row, bit for bit, on every path and any shape (the AVX-512
// kernel only takes shapes where Dense_avx2 sums strictly in order), and leave x and the bytes
// after its rows alone; a prefetch stream changes nothing but its own cursor.
TEST(DenseRowsTest, EqualsDensePerRowBitForBit) {
  constexpr Shape kRowShapes[] = {{0, 64}, {1, 40},  {7, 48},   {64, 64}, {113, 72},
                                  {18, 64}, {160, 96}, {10, 96}, {5, 130}, {42, 24}, {9, 7}};
  const std::vector<char> pf_buf(4096 + 64, 0);
  uint32_t seed = 700;
  for (bool scalar : {false, true}) {
    ForceScalar(scalar);
    for (const Shape s : kRowShapes) {
      for (int rows : {0, 1, 3, 4, 5, 9, 17}) {
        for (Activation act : {Activation::kIdentity, Activation::kRelu, Activation::kTanh}) {
          const int stride = s.inputs + (rows % 2);  // rows may be spaced apart
          Case c = MakeCase(s, act, MathMode::kExact, seed % 2 == 0, seed);
          ++seed;
          TestRng rng(seed);
          const std::vector<float> x =
              rng.Uniform(static_cast<size_t>(rows) * stride + s.inputs + 1, -1.5f, 1.5f);
          const size_t n = static_cast<size_t>(rows) * s.units;
          std::vector<float> expect(n + 3, kCanary);
          for (int r = 0; r < rows; ++r)
            Dense(c.p, x.data() + static_cast<size_t>(r) * stride,
                  expect.data() + static_cast<size_t>(r) * s.units);
          for (int with_pf = 0; with_pf < 2; ++with_pf) {
            std::vector<float> got(n + 3, kCanary);
            PrefetchStream pf{pf_buf.data(), pf_buf.data() + pf_buf.size()};
            DenseRows(c.p, x.data(), rows, stride, got.data(), with_pf != 0 ? &pf : nullptr);
            ASSERT_EQ(got, expect) << c.Describe() << " rows=" << rows << " pf=" << with_pf
                                   << " scalar=" << scalar;
            EXPECT_TRUE(pf.next >= pf_buf.data() && pf.next <= pf.end);
          }
        }
      }
    }
  }
  ForceScalar(false);
}

// DenseGroups against a naive double grouped layer (group g: weights at g·in·units, bias at
// g·units), every activation, odd group counts and unit counts on both sides of 16/64.
TEST(DenseGroupsTest, MatchesDoubleNaive) {
  constexpr Shape kGroupShapes[] = {{96, 16}, {32, 16}, {16, 32}, {64, 32}, {16, 60}, {1, 1},
                                    {0, 5},   {7, 17},  {13, 64}, {5, 65},  {3, 113}};
  uint32_t seed = 900;
  for (bool scalar : {false, true}) {
    ForceScalar(scalar);
    for (const Shape s : kGroupShapes) {
      for (int groups : {0, 1, 3, 8, 9, 17, 32}) {
        for (Activation act : kAllActivations) {
          for (bool with_bias : {false, true}) {
            TestRng rng(++seed);
            const size_t in = static_cast<size_t>(s.inputs), out = static_cast<size_t>(s.units);
            const float scale = 3.f / std::sqrt(static_cast<float>(s.inputs > 0 ? s.inputs : 1));
            const std::vector<float> w = rng.Uniform(groups * in * out, -scale, scale);
            const std::vector<float> b = rng.Uniform(groups * out, -1.f, 1.f);
            const std::vector<float> x = rng.Uniform(groups * in, -1.5f, 1.5f);
            const DenseParams p{.inputs = s.inputs, .units = s.units, .weights = w.data(),
                                .bias = with_bias ? b.data() : nullptr, .activation = act,
                                .math = MathMode::kExact};
            std::vector<float> y(groups * out + 3, kCanary);
            DenseGroups(p, groups, x.data(), y.data());
            for (size_t g = 0; g < static_cast<size_t>(groups); ++g) {
              for (size_t i = 0; i < out; ++i) {
                double sum = with_bias ? b[g * out + i] : 0.0, mag = std::fabs(sum);
                for (size_t j = 0; j < in; ++j) {
                  const double t = static_cast<double>(w[(g * in + j) * out + i]) * x[g * in + j];
                  sum += t;
                  mag += std::fabs(t);
                }
                const double tol = (s.inputs + 2) * kFloatEps * mag * 2 +
                                   2 * ActivationBound(act, MathMode::kExact);
                ASSERT_NEAR(y[g * out + i], ActivationDouble(act, sum), tol)
                    << "in=" << s.inputs << " units=" << s.units << " groups=" << groups
                    << " g=" << g << " i=" << i << " scalar=" << scalar;
              }
            }
            for (size_t k = groups * out; k < y.size(); ++k) ASSERT_EQ(y[k], kCanary);
          }
        }
      }
    }
  }
  ForceScalar(false);
}

// GHOSTNV_SIMD is read once per process; this only checks that the answer is consistent with
// the hardware and the scalar override.
TEST(DenseDispatchTest, Avx512FollowsForceScalar) {
  ForceScalar(true);
  EXPECT_FALSE(Avx512Active());
  ForceScalar(false);
  const char* env = std::getenv("GHOSTNV_SIMD");
  if (env != nullptr && std::string(env) == "avx2") {
    EXPECT_FALSE(Avx512Active());
  }
  if (!CpuHasAvx2Fma()) {
    EXPECT_FALSE(Avx512Active());
  }
}

}  // namespace
}  // namespace ghostnv::kernels
