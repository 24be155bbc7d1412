// Tests for kernels/gru.h: the reference against a double-precision naive GRU (both variants,
// every candidate activation, both math modes, odd sizes), the AVX2 version against the
// reference, and 50-step runs with the state carried over.
//
// Tolerance (per unit, derived from worst-case float error, see Bound()): with N = inputs +
// units + 3 terms per sum and mag = sum of |terms|, each pre-activation is within N*2^-24*mag;
// sigmoid is 1/4-Lipschitz and tanh/relu/identity 1-Lipschitz; each activation adds its own
// bound against the true function (kernels_test_util.h); the reset gate's error reaches the
// candidate through r∘s (or r∘(s·Rh)); the final blend adds z's error times |s - c|.
// The AVX2 result must be within twice that bound of the reference.

#include "kernels/gru.h"

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
using testing::ActivationDouble;
using testing::kAllActivations;
using testing::kAllMathModes;
using testing::kFloatEps;
using testing::TestRng;

struct Shape {
  int inputs;
  int units;
};
constexpr Shape kShapes[] = {{0, 1},    {1, 1},   {7, 7},   {24, 24}, {42, 24}, {90, 48},
                             {114, 96}, {113, 7}, {1, 113}, {17, 9},  {5, 65},  {31, 40}};

struct Model {
  GruParams p;
  std::vector<float> w, r, b, rb;
  uint32_t seed = 0;

  std::string Describe() const {
    return "inputs=" + std::to_string(p.inputs) + " units=" + std::to_string(p.units) +
           " act=" + ActivationName(p.activation) + " math=" + MathModeName(p.math) +
           " reset_after=" + (p.reset_after ? "true" : "false") +
           " bias=" + (p.bias != nullptr ? "yes" : "null") +
           " rbias=" + (p.recurrent_bias != nullptr ? "yes" : "null") +
           " seed=" + std::to_string(seed);
  }
};

Model MakeModel(Shape s, Activation act, MathMode math, bool reset_after, uint32_t seed,
                float weight_gain = 2.f) {
  Model m;
  m.seed = seed;
  TestRng rng(seed);
  const size_t n3 = 3 * static_cast<size_t>(s.units);
  const float ws = weight_gain / std::sqrt(static_cast<float>(std::max(s.inputs, 1)));
  const float rs = weight_gain / std::sqrt(static_cast<float>(std::max(s.units, 1)));
  m.w = rng.Uniform(static_cast<size_t>(s.inputs) * n3, -ws, ws);
  m.r = rng.Uniform(static_cast<size_t>(s.units) * n3, -rs, rs);
  m.b = rng.Uniform(n3, -0.5f, 0.5f);
  m.rb = rng.Uniform(n3, -0.5f, 0.5f);
  m.p.inputs = s.inputs;
  m.p.units = s.units;
  m.p.weights = m.w.data();
  m.p.recurrent = m.r.data();
  m.p.bias = (seed % 4 != 1) ? m.b.data() : nullptr;
  m.p.recurrent_bias = (seed % 4 != 2) ? m.rb.data() : nullptr;
  m.p.activation = act;
  m.p.math = math;
  m.p.reset_after = reset_after;
  return m;
}

// The naive double-precision step (unit-major loops) and a per-unit error bound for a float
// implementation computing the same step from the same (float) x and state.
struct NaiveResult {
  std::vector<double> state;
  std::vector<double> bound;
};

NaiveResult NaiveStep(const Model& m, const std::vector<double>& x, const std::vector<double>& s) {
  const GruParams& p = m.p;
  const int u = p.units;
  const size_t n3 = 3 * static_cast<size_t>(u);
  auto w = [&](int j, int col) { return static_cast<double>(m.w[j * n3 + col]); };
  auto rr = [&](int k, int col) { return static_cast<double>(m.r[k * n3 + col]); };
  auto b = [&](int col) { return p.bias != nullptr ? static_cast<double>(p.bias[col]) : 0.0; };
  auto rb = [&](int col) {
    return p.recurrent_bias != nullptr ? static_cast<double>(p.recurrent_bias[col]) : 0.0;
  };
  const double n_terms = p.inputs + u + 3;
  const double sig_bound = ActivationBound(Activation::kSigmoid, p.math);
  const double act_bound = ActivationBound(p.activation, p.math);

  std::vector<double> z(u), r(u), ez(u), er(u);
  for (int gate = 0; gate < 2; ++gate) {
    for (int i = 0; i < u; ++i) {
      const int col = gate * u + i;
      double sum = b(col) + rb(col);
      double mag = std::fabs(b(col)) + std::fabs(rb(col));
      for (int j = 0; j < p.inputs; ++j) {
        sum += w(j, col) * x[j];
        mag += std::fabs(w(j, col) * x[j]);
      }
      for (int k = 0; k < u; ++k) {
        sum += rr(k, col) * s[k];
        mag += std::fabs(rr(k, col) * s[k]);
      }
      const double g = ActivationDouble(Activation::kSigmoid, sum);
      const double e = 0.25 * n_terms * kFloatEps * mag + sig_bound;
      (gate == 0 ? z : r)[i] = g;
      (gate == 0 ? ez : er)[i] = e;
    }
  }
  const double er_max = u > 0 ? *std::max_element(er.begin(), er.end()) : 0.0;

  NaiveResult out;
  out.state.resize(u);
  out.bound.resize(u);
  for (int i = 0; i < u; ++i) {
    const int col = 2 * u + i;
    double in_sum = b(col), in_mag = std::fabs(b(col));
    for (int j = 0; j < p.inputs; ++j) {
      in_sum += w(j, col) * x[j];
      in_mag += std::fabs(w(j, col) * x[j]);
    }
    double pre, e_pre;
    if (!p.reset_after) {
      double sum = in_sum + rb(col), mag = in_mag + std::fabs(rb(col)), smag = 0;
      for (int k = 0; k < u; ++k) {
        sum += rr(k, col) * (r[k] * s[k]);
        mag += std::fabs(rr(k, col) * s[k]);
        smag += std::fabs(rr(k, col) * s[k]);
      }
      pre = sum;
      e_pre = n_terms * kFloatEps * mag + er_max * smag;
    } else {
      double rec = rb(col), rec_mag = std::fabs(rb(col));
      for (int k = 0; k < u; ++k) {
        rec += rr(k, col) * s[k];
        rec_mag += std::fabs(rr(k, col) * s[k]);
      }
      pre = in_sum + r[i] * rec;
      e_pre = n_terms * kFloatEps * (in_mag + rec_mag) + er[i] * std::fabs(rec) +
              2 * kFloatEps * std::fabs(pre);
    }
    const double c = ActivationDouble(p.activation, pre);
    const double e_c = e_pre + act_bound;
    out.state[i] = z[i] * s[i] + (1 - z[i]) * c;
    out.bound[i] = ez[i] * std::fabs(s[i] - c) + (1 - z[i] + ez[i]) * e_c +
                   4 * kFloatEps * (std::fabs(s[i]) + std::fabs(c)) + 1e-30;
  }
  return out;
}

std::vector<double> ToDouble(const std::vector<float>& v) { return {v.begin(), v.end()}; }

constexpr float kCanary = 98765.f;

// Runs one step on a copy of `state`; checks canaries after state and scratch, that x is
// untouched, and passes a deliberately misaligned scratch pointer.
std::vector<float> Step(void (*fn)(const GruParams&, const float*, float*, float*), const Model& m,
                        const std::vector<float>& x, const std::vector<float>& state) {
  const size_t u = static_cast<size_t>(m.p.units);
  std::vector<float> s = state;
  s.push_back(kCanary);
  const size_t scratch_n = GruScratchFloats(m.p.units);
  std::vector<float> scratch(scratch_n + 1 + 4, kCanary);
  const std::vector<float> x_before = x;
  fn(m.p, x.data(), s.data(), scratch.data() + 1);
  EXPECT_EQ(x, x_before) << "x modified: " << m.Describe();
  EXPECT_EQ(s[u], kCanary) << "wrote past state: " << m.Describe();
  EXPECT_EQ(scratch[0], kCanary) << "wrote before scratch: " << m.Describe();
  for (size_t k = scratch_n + 1; k < scratch.size(); ++k) {
    EXPECT_EQ(scratch[k], kCanary) << "wrote past scratch: " << m.Describe();
  }
  s.pop_back();
  return s;
}

void CheckOneStep(const Model& m, bool check_avx2) {
  TestRng rng(m.seed + 7);
  const std::vector<float> x = rng.Uniform(static_cast<size_t>(m.p.inputs), -1.5f, 1.5f);
  const std::vector<float> s0 = rng.Uniform(static_cast<size_t>(m.p.units), -1.f, 1.f);
  const NaiveResult want = NaiveStep(m, ToDouble(x), ToDouble(s0));
  const std::vector<float> ref = Step(&GruStep_ref, m, x, s0);
  for (int i = 0; i < m.p.units; ++i) {
    ASSERT_LE(std::fabs(ref[i] - want.state[i]), want.bound[i])
        << "ref vs double: " << m.Describe() << " unit=" << i;
  }
  if (!check_avx2) return;
  const std::vector<float> simd = Step(&GruStep_avx2, m, x, s0);
  for (int i = 0; i < m.p.units; ++i) {
    ASSERT_LE(std::fabs(simd[i] - ref[i]), 2 * want.bound[i])
        << "avx2 vs ref: " << m.Describe() << " unit=" << i;
    ASSERT_LE(std::fabs(simd[i] - want.state[i]), want.bound[i])
        << "avx2 vs double: " << m.Describe() << " unit=" << i;
  }
}

TEST(GruTest, OneStepAllVariants) {
  const bool avx2 = CpuHasAvx2Fma();
  uint32_t seed = 300;
  for (Shape s : kShapes) {
    for (bool reset_after : {false, true}) {
      for (Activation act : kAllActivations) {
        for (MathMode math : kAllMathModes) {
          CheckOneStep(MakeModel(s, act, math, reset_after, seed++), avx2);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
  if (!avx2) GTEST_SKIP() << "CPU lacks AVX2/FMA: only the reference was checked";
}

// Large weights push gates and candidates into saturation (and approx mode's |x| >= 8 branch).
TEST(GruTest, OneStepSaturated) {
  const bool avx2 = CpuHasAvx2Fma();
  uint32_t seed = 900;
  for (bool reset_after : {false, true}) {
    for (MathMode math : kAllMathModes) {
      CheckOneStep(MakeModel({24, 24}, Activation::kTanh, math, reset_after, seed++, 20.f), avx2);
      CheckOneStep(MakeModel({13, 17}, Activation::kRelu, math, reset_after, seed++, 20.f), avx2);
    }
  }
}

TEST(GruTest, OneStepLargeUnits) {
  const bool avx2 = CpuHasAvx2Fma();
  uint32_t seed = 950;
  for (bool reset_after : {false, true}) {
    for (MathMode math : kAllMathModes) {
      CheckOneStep(MakeModel({16, 1024}, Activation::kTanh, math, reset_after, seed++), avx2);
      CheckOneStep(MakeModel({513, 130}, Activation::kRelu, math, reset_after, seed++), avx2);
    }
  }
}

// 50 steps with the state carried over: the float reference against the double model, and
// the AVX2 version against the reference. Rounding errors may accumulate across steps, so the
// bounds here are empirical with ~10x headroom (max observed is printed).
TEST(GruTest, FiftyStepsCarriedState) {
  const bool avx2 = CpuHasAvx2Fma();
  constexpr int kSteps = 50;
  uint32_t seed = 1200;
  for (Shape s : {Shape{42, 24}, Shape{114, 96}, Shape{7, 13}}) {
    for (bool reset_after : {false, true}) {
      for (MathMode math : kAllMathModes) {
        const Model m = MakeModel(s, Activation::kTanh, math, reset_after, seed++);
        // Exact: float rounding only. Approx: plus the tansig approximation, compared with
        // the true functions every step.
        // Observed (114x96, seeds below): exact ~1e-6, approx ~3e-6, avx2 vs ref ~5e-7.
        const double tol_double = math == MathMode::kExact ? 1e-5 : 3e-5;
        const double tol_avx2 = 5e-6;
        TestRng rng(m.seed + 11);
        std::vector<float> s_ref(static_cast<size_t>(s.units), 0.f), s_simd = s_ref;
        std::vector<double> s_double(static_cast<size_t>(s.units), 0.0);
        double max_double = 0, max_avx2 = 0;
        for (int t = 0; t < kSteps; ++t) {
          const std::vector<float> x = rng.Uniform(static_cast<size_t>(s.inputs), -1.5f, 1.5f);
          s_double = NaiveStep(m, ToDouble(x), s_double).state;
          s_ref = Step(&GruStep_ref, m, x, s_ref);
          if (avx2) s_simd = Step(&GruStep_avx2, m, x, s_simd);
          for (int i = 0; i < s.units; ++i) {
            max_double = std::max(max_double, std::fabs(s_ref[i] - s_double[i]));
            ASSERT_LE(std::fabs(s_ref[i] - s_double[i]), tol_double)
                << m.Describe() << " step=" << t << " unit=" << i;
            if (avx2) {
              max_avx2 = std::max(max_avx2, static_cast<double>(std::fabs(s_simd[i] - s_ref[i])));
              ASSERT_LE(std::fabs(s_simd[i] - s_ref[i]), tol_avx2)
                  << m.Describe() << " step=" << t << " unit=" << i;
            }
          }
        }
        std::printf("%s: max |ref-double| = %.3g, max |avx2-ref| = %.3g\n", m.Describe().c_str(),
                    max_double, max_avx2);
      }
    }
  }
}

TEST(GruTest, DispatchFollowsForceScalar) {
  const Model m = MakeModel({42, 48}, Activation::kTanh, MathMode::kRnnoiseApprox, false, 77);
  TestRng rng(78);
  const std::vector<float> x = rng.Uniform(42, -1.f, 1.f);
  const std::vector<float> s0 = rng.Uniform(48, -1.f, 1.f);
  ForceScalar(true);
  const std::vector<float> forced = Step(&GruStep, m, x, s0);
  ForceScalar(false);
  EXPECT_EQ(forced, Step(&GruStep_ref, m, x, s0));
}

TEST(GruTest, ScratchSize) {
  EXPECT_GE(GruScratchFloats(1), 5u);
  EXPECT_GE(GruScratchFloats(1024), 5u * 1024u);
}

}  // namespace
}  // namespace ghostnv::kernels
