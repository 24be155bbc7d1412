// Tests for kernels/dense.h: the reference against a double-precision naive layer, the AVX2
// version against the reference, at odd sizes, for every activation and math mode.
//
// Tolerances (per output i, with mag_i = |bias_i| + sum_j |W[j][i] x[j]|):
//   ref  vs double: (inputs + 2) * 2^-24 * mag_i        (worst-case float summation error)
//                   + the activation's bound against the true function (kernels_test_util.h)
//   avx2 vs ref:    twice the summation term + twice the activation bound (both sides err;
//                   approx-mode tansig jumps by up to that much between table entries).

#include "kernels/dense.h"

#include <gtest/gtest.h>

#include <cmath>
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

}  // namespace
}  // namespace ghostnv::kernels
