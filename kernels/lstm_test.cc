// Tests for kernels/lstm.h: the reference against a double-precision naive LSTM at odd sizes
// and both math modes, the AVX2 version against the double LSTM and the reference, the
// combined [inputs+units][4u] weight layout, and 40-step runs with h and c carried over.
//
// Tolerance per unit, from worst-case float error: each pre-activation has N = inputs + units +
// 1 terms, so it is within N*2^-24*mag (mag = sum of |terms|, computed in double); σ is
// 1/4-Lipschitz and tanh 1-Lipschitz, and each activation adds its own bound against the true
// function (kernels_test_util.h). c' = f∘c + i∘g and h' = o∘tanh(c') propagate those errors
// (first order) plus a few roundings of c'. Multi-step runs compare against the double LSTM
// fed with the float result's own state, so the bound applies per step.

#include "kernels/lstm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/cpu.h"
#include "kernels/kernels_test_util.h"

namespace ghostnv::kernels {
namespace {

using testing::ActivationBound;
using testing::kFloatEps;
using testing::TestRng;

struct Shape {
  int inputs;
  int units;
};
constexpr Shape kShapes[] = {{0, 1},   {1, 1},   {7, 7},    {1, 113}, {113, 7}, {17, 9},
                             {5, 65},  {31, 40}, {257, 128}, {128, 128}, {256, 128}, {3, 513}};

struct Expected {
  std::vector<double> h, c, bound_h, bound_c;
};

double Sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }

Expected DoubleLstm(const LstmParams& p, const std::vector<float>& x, const std::vector<float>& h,
                    const std::vector<float>& c) {
  const int u = p.units, n4 = 4 * u;
  std::vector<double> z(n4), mag(n4);
  for (int k = 0; k < n4; ++k) {
    z[k] = p.bias != nullptr ? p.bias[k] : 0.0;
    mag[k] = std::fabs(z[k]);
  }
  for (int j = 0; j < p.inputs; ++j)
    for (int k = 0; k < n4; ++k) {
      const double t = static_cast<double>(p.weights[j * n4 + k]) * x[j];
      z[k] += t;
      mag[k] += std::fabs(t);
    }
  for (int j = 0; j < u; ++j)
    for (int k = 0; k < n4; ++k) {
      const double t = static_cast<double>(p.recurrent[j * n4 + k]) * h[j];
      z[k] += t;
      mag[k] += std::fabs(t);
    }
  const double n_terms = p.inputs + u + 1;
  const double sb = ActivationBound(Activation::kSigmoid, p.math);
  const double tb = ActivationBound(Activation::kTanh, p.math);
  Expected e;
  for (int k = 0; k < u; ++k) {
    auto pre = [&](int blk) { return n_terms * kFloatEps * mag[blk * u + k]; };
    const double gi = Sig(z[k]), gf = Sig(z[u + k]), gg = std::tanh(z[2 * u + k]),
                 go = Sig(z[3 * u + k]);
    const double ei = 0.25 * pre(0) + sb, ef = 0.25 * pre(1) + sb, eg = pre(2) + tb,
                 eo = 0.25 * pre(3) + sb;
    const double cn = gf * c[k] + gi * gg;
    const double ec = ef * std::fabs(c[k]) + ei * std::fabs(gg) + eg * std::fabs(gi) +
                      4 * kFloatEps * (std::fabs(gf * c[k]) + std::fabs(gi * gg));
    const double tc = std::tanh(cn);
    e.c.push_back(cn);
    e.h.push_back(go * tc);
    e.bound_c.push_back(ec + 1e-12);
    e.bound_h.push_back(eo * std::fabs(tc) + std::fabs(go) * (ec + tb) +
                        2 * kFloatEps * std::fabs(go * tc) + 1e-12);
  }
  return e;
}

using StepFn = void (*)(const LstmParams&, const float*, float*, float*, float*);

// One step of `fn` from the given state; checks h and c against the double LSTM (factor x bound).
void CheckStep(StepFn fn, const LstmParams& p, const std::vector<float>& x, std::vector<float>& h,
               std::vector<float>& c, double factor, const std::string& what) {
  const Expected e = DoubleLstm(p, x, h, c);
  std::vector<float> scratch(LstmScratchFloats(p.units), -7.f);
  fn(p, x.data(), h.data(), c.data(), scratch.data());
  for (int k = 0; k < p.units; ++k) {
    ASSERT_NEAR(c[k], e.c[k], factor * e.bound_c[k]) << what << " c[" << k << "]";
    ASSERT_NEAR(h[k], e.h[k], factor * e.bound_h[k]) << what << " h[" << k << "]";
  }
}

struct Weights {
  std::vector<float> w, b;  // w = [inputs + units][4u]: W then R
  LstmParams p;
};

Weights MakeWeights(TestRng& rng, Shape s, MathMode math, bool bias) {
  Weights wt;
  const int n4 = 4 * s.units;
  const float scale = 1.5f / std::sqrt(static_cast<float>(s.inputs + s.units + 1));
  wt.w = rng.Uniform(static_cast<size_t>(s.inputs + s.units) * n4, -scale, scale);
  if (bias) wt.b = rng.Uniform(n4, -0.5f, 0.5f);
  wt.p = {.inputs = s.inputs, .units = s.units, .weights = wt.w.data(),
          .recurrent = wt.w.data() + static_cast<size_t>(s.inputs) * n4,
          .bias = bias ? wt.b.data() : nullptr, .math = math};
  return wt;
}

TEST(LstmTest, ReferenceMatchesDoubleOverSteps) {
  TestRng rng(101);
  for (MathMode math : testing::kAllMathModes) {
    for (Shape s : kShapes) {
      for (bool bias : {true, false}) {
        Weights wt = MakeWeights(rng, s, math, bias);
        std::vector<float> h = rng.Uniform(s.units, -1.f, 1.f);
        std::vector<float> c = rng.Uniform(s.units, -3.f, 3.f);
        for (int step = 0; step < 40; ++step) {
          std::vector<float> x = rng.Uniform(s.inputs, -2.f, 2.f);
          CheckStep(&LstmStep_ref, wt.p, x, h, c, 1.0,
                    "ref " + std::to_string(s.inputs) + "x" + std::to_string(s.units) +
                        " step " + std::to_string(step));
        }
      }
    }
  }
}

TEST(LstmTest, Avx2MatchesDoubleAndReference) {
  GHOSTNV_SKIP_WITHOUT_AVX2();
  TestRng rng(202);
  for (MathMode math : testing::kAllMathModes) {
    for (Shape s : kShapes) {
      Weights wt = MakeWeights(rng, s, math, true);
      std::vector<float> h = rng.Uniform(s.units, -1.f, 1.f);
      std::vector<float> c = rng.Uniform(s.units, -3.f, 3.f);
      for (int step = 0; step < 40; ++step) {
        std::vector<float> x = rng.Uniform(s.inputs, -2.f, 2.f);
        std::vector<float> h_ref = h, c_ref = c;
        const std::string what = "avx2 " + std::to_string(s.inputs) + "x" +
                                 std::to_string(s.units) + " step " + std::to_string(step);
        const Expected e = DoubleLstm(wt.p, x, h, c);
        std::vector<float> scratch(LstmScratchFloats(s.units));
        LstmStep_ref(wt.p, x.data(), h_ref.data(), c_ref.data(), scratch.data());
        CheckStep(&LstmStep_avx2, wt.p, x, h, c, 1.0, what);
        for (int k = 0; k < s.units; ++k) {
          ASSERT_NEAR(h[k], h_ref[k], 2 * e.bound_h[k]) << what;
          ASSERT_NEAR(c[k], c_ref[k], 2 * e.bound_c[k]) << what;
        }
      }
    }
  }
}

TEST(LstmTest, ZeroUnitsIsANoOpAndDispatcherWorks) {
  LstmParams p{.inputs = 3, .units = 0};
  float x[3] = {1, 2, 3}, h[1] = {5}, c[1] = {6}, scratch[LstmScratchFloats(0)];
  LstmStep(p, x, h, c, scratch);
  LstmStep_ref(p, x, h, c, scratch);
  EXPECT_EQ(h[0], 5.f);
  EXPECT_EQ(c[0], 6.f);
  TestRng rng(7);
  Weights wt = MakeWeights(rng, {9, 13}, MathMode::kExact, true);
  std::vector<float> xv = rng.Uniform(9, -1.f, 1.f), hv(13, 0.f), cv(13, 0.f);
  CheckStep(&LstmStep, wt.p, xv, hv, cv, 1.0, "dispatch");
}

// Saturated gates: huge pre-activations must give the limits, not NaN.
TEST(LstmTest, SaturationStaysFinite) {
  TestRng rng(9);
  Weights wt = MakeWeights(rng, {4, 11}, MathMode::kExact, true);
  for (float& v : wt.w) v *= 1e4f;
  std::vector<float> x = rng.Uniform(4, -50.f, 50.f), h(11, 1.f), c(11, 2.f);
  std::vector<float> scratch(LstmScratchFloats(11));
  for (StepFn fn : {&LstmStep_ref, &LstmStep}) {
    std::vector<float> hh = h, cc = c;
    fn(wt.p, x.data(), hh.data(), cc.data(), scratch.data());
    for (int k = 0; k < 11; ++k) {
      EXPECT_TRUE(std::isfinite(hh[k]) && std::isfinite(cc[k]));
      EXPECT_LE(std::fabs(hh[k]), 1.f);
    }
  }
}

}  // namespace
}  // namespace ghostnv::kernels
