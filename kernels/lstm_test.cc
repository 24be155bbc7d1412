// Tests for kernels/lstm.h and kernels/lstm_split.h: the reference against a double-precision
// naive LSTM at odd sizes and both math modes, the AVX2 and AVX-512 versions against the double
// LSTM and the reference (AVX-512 bit-identical to AVX2 where both sum in order), the combined
// [inputs+units][4u] weight layout, and 40-step runs with h and c carried over; the row passes
// (every SIMD level against a double product, fused = alone, AVX2 = AVX-512 bit for bit) and
// LstmSplit (against the double LSTM at every SIMD level, both phases and deferred / fused
// look-aheads bit-identical to immediate ones). ctest also runs this binary with
// GHOSTNV_SIMD=avx2 and =scalar, so the dispatchers take each level.
//
// Tolerance per unit, from worst-case float error: each pre-activation has N = inputs + units +
// 1 terms, so it is within N*2^-24*mag (mag = sum of |terms|, computed in double); σ is
// 1/4-Lipschitz and tanh 1-Lipschitz, and each activation adds its own bound against the true
// function (kernels_test_util.h). c' = f∘c + i∘g and h' = o∘tanh(c') propagate those errors
// (first order) plus a few roundings of c'. Multi-step runs compare against the double LSTM
// fed with the float result's own state, so the bound applies per step.

#include "kernels/lstm.h"

#include <gtest/gtest.h>

#include <cstring>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/cpu.h"
#include "kernels/dense.h"
#include "kernels/kernels_test_util.h"
#include "kernels/lstm_split.h"

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

// Every math mode x shape (x bias on and off when both_biases): a random cell and 40 random steps;
// check(wt, s, x, h, c, what) advances h and c by one step and checks it. Stops at the first
// fatal failure.
template <class Check>
void ForEveryCell(TestRng& rng, const std::string& name, bool both_biases, Check check) {
  for (MathMode math : testing::kAllMathModes) {
    for (Shape s : kShapes) {
      for (bool bias : {true, false}) {
        if (!bias && !both_biases) continue;
        Weights wt = MakeWeights(rng, s, math, bias);
        std::vector<float> h = rng.Uniform(s.units, -1.f, 1.f);
        std::vector<float> c = rng.Uniform(s.units, -3.f, 3.f);
        for (int step = 0; step < 40; ++step) {
          std::vector<float> x = rng.Uniform(s.inputs, -2.f, 2.f);
          check(wt, s, x, h, c,
                name + " " + std::to_string(s.inputs) + "x" + std::to_string(s.units) + " step " +
                    std::to_string(step));
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(LstmTest, ReferenceMatchesDoubleOverSteps) {
  TestRng rng(101);
  ForEveryCell(rng, "ref", true, [](const Weights& wt, Shape, const std::vector<float>& x,
                                    std::vector<float>& h, std::vector<float>& c,
                                    const std::string& what) {
    CheckStep(&LstmStep_ref, wt.p, x, h, c, 1.0, what);
  });
}

TEST(LstmTest, Avx2MatchesDoubleAndReference) {
  GHOSTNV_SKIP_WITHOUT_AVX2();
  TestRng rng(202);
  ForEveryCell(rng, "avx2", false, [](const Weights& wt, Shape s, const std::vector<float>& x,
                                      std::vector<float>& h, std::vector<float>& c,
                                      const std::string& what) {
    std::vector<float> h_ref = h, c_ref = c;
    const Expected e = DoubleLstm(wt.p, x, h, c);
    std::vector<float> scratch(LstmScratchFloats(s.units));
    LstmStep_ref(wt.p, x.data(), h_ref.data(), c_ref.data(), scratch.data());
    CheckStep(&LstmStep_avx2, wt.p, x, h, c, 1.0, what);
    for (int k = 0; k < s.units; ++k) {
      ASSERT_NEAR(h[k], h_ref[k], 2 * e.bound_h[k]) << what;
      ASSERT_NEAR(c[k], c_ref[k], 2 * e.bound_c[k]) << what;
    }
  });
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


// ---------------------------------------------------------------------------------------------
// AVX-512.

#define GHOSTNV_SKIP_WITHOUT_AVX512()                                                   \
  do {                                                                                  \
    GHOSTNV_SKIP_WITHOUT_AVX2();                                                        \
    if (!Avx512Active()) GTEST_SKIP() << "AVX-512 not available or not selected";       \
  } while (0)

TEST(LstmTest, Avx512MatchesDoubleAndAvx2) {
  GHOSTNV_SKIP_WITHOUT_AVX512();
  TestRng rng(303);
  ForEveryCell(rng, "avx512", true, [](const Weights& wt, Shape s, const std::vector<float>& x,
                                       std::vector<float>& h, std::vector<float>& c,
                                       const std::string& what) {
    // avx2::Gemv sums every column in order (one FMA per term) when 4u is a multiple of 8
    // and its blocks are wide (>= 5 vectors): then the two agree bit for bit.
    const bool same_order = s.units % 2 == 0 && s.units >= 10;
    std::vector<float> h2 = h, c2 = c;
    std::vector<float> scratch(LstmScratchFloats(s.units));
    LstmStep_avx2(wt.p, x.data(), h2.data(), c2.data(), scratch.data());
    CheckStep(&LstmStep_avx512, wt.p, x, h, c, 1.0, what);
    if (same_order) {
      for (int k = 0; k < s.units; ++k) {
        ASSERT_EQ(h[k], h2[k]) << what << " h[" << k << "]";
        ASSERT_EQ(c[k], c2[k]) << what << " c[" << k << "]";
      }
    }
  });
}

TEST(LstmTest, DispatcherTakesTheActiveLevel) {
  TestRng rng(404);
  Weights wt = MakeWeights(rng, {113, 21}, MathMode::kExact, true);
  std::vector<float> x = rng.Uniform(113, -2.f, 2.f), h = rng.Uniform(21, -1.f, 1.f),
                     c = rng.Uniform(21, -2.f, 2.f);
  StepFn want = &LstmStep_ref;
  if (Avx512Active()) {
    want = &LstmStep_avx512;
  } else if (ActiveSimd() == SimdLevel::kAvx2) {
    want = &LstmStep_avx2;
  }
  std::vector<float> h1 = h, c1 = c, h2 = h, c2 = c, scratch(LstmScratchFloats(21));
  LstmStep(wt.p, x.data(), h1.data(), c1.data(), scratch.data());
  want(wt.p, x.data(), h2.data(), c2.data(), scratch.data());
  EXPECT_EQ(std::memcmp(h1.data(), h2.data(), h1.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)), 0);
  RecordProperty("simd", Avx512Active() ? "avx512" : SimdName(ActiveSimd()));
}

// ---------------------------------------------------------------------------------------------
// Row passes (lstm_split.h).

using PassFn = void (*)(const RowPass&, const RowPass*);

struct PassLevel {
  const char* name;
  PassFn fn;
  bool available;
};

std::vector<PassLevel> PassLevels() {
  return {{"ref", &RunRowPasses_ref, true},
          {"avx2", &RunRowPasses_avx2, CpuHasAvx2Fma()},
          {"avx512", &RunRowPasses_avx512, CpuHasAvx2Fma() && Avx512Active()},
          {"dispatch", &RunRowPasses, true}};
}

// out = init + v·M in double, with the worst-case float bound (rows + 1 terms).
void CheckPass(const std::vector<float>& m, int rows, int cols, const std::vector<float>& v,
               const std::vector<float>& init, const float* out, const std::string& what) {
  for (int k = 0; k < cols; ++k) {
    double z = init[k], mag = std::fabs(init[k]);
    for (int j = 0; j < rows; ++j) {
      const double t = static_cast<double>(m[static_cast<size_t>(j) * cols + k]) * v[j];
      z += t;
      mag += std::fabs(t);
    }
    ASSERT_NEAR(out[k], z, (rows + 1) * kFloatEps * mag + 1e-30) << what << " col " << k;
  }
}

TEST(LstmSplitTest, RowPassesMatchDoubleAtEveryLevel) {
  TestRng rng(505);
  const int sizes[][2] = {{0, 1},  {1, 1},    {7, 7},   {1, 113}, {113, 7},
                          {5, 16}, {17, 513}, {513, 3}, {4, 64},  {257, 512}};
  for (const auto& sz : sizes) {
    const int rows = sz[0], cols = sz[1];
    std::vector<float> m = rng.Uniform(static_cast<size_t>(rows) * cols, -1.f, 1.f);
    const RowMatrix rm(m.data(), rows, cols, cols);
    ASSERT_EQ(rm.cols_p() % 16, 0);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(rm.data()) % 64, 0u);
    const int np = rm.cols_p();
    std::vector<float> v = rng.Uniform(rows, -2.f, 2.f);
    std::vector<float> init = rng.Uniform(np, -1.f, 1.f);
    for (int k = cols; k < np; ++k) init[k] = 0.f;
    // A second pass (fused) over another matrix of another width.
    const int rows2 = rows / 2 + 3, cols2 = cols + 5;
    std::vector<float> m2 = rng.Uniform(static_cast<size_t>(rows2) * cols2, -1.f, 1.f);
    const RowMatrix rm2(m2.data(), rows2, cols2, cols2);
    std::vector<float> v2 = rng.Uniform(rows2, -2.f, 2.f), init2(rm2.cols_p(), 0.25f);
    std::vector<float> first, first2;
    for (const PassLevel& lvl : PassLevels()) {
      if (!lvl.available) continue;
      const std::string what = std::string(lvl.name) + " " + std::to_string(rows) + "x" +
                               std::to_string(cols);
      std::vector<float> out(np, -9.f), out2(rm2.cols_p(), -9.f);
      lvl.fn({&rm, v.data(), init.data(), out.data()}, nullptr);
      CheckPass(m, rows, cols, v, init, out.data(), what);
      for (int k = cols; k < np; ++k) ASSERT_EQ(out[k], 0.f) << what << " padding";
      // Fused with a second pass: the same sums as alone; in place (init == out) too.
      std::vector<float> fo(np, -9.f), fo2 = init2;
      const RowPass b{&rm2, v2.data(), fo2.data(), fo2.data()};
      lvl.fn({&rm, v.data(), init.data(), fo.data()}, &b);
      ASSERT_EQ(std::memcmp(fo.data(), out.data(), np * sizeof(float)), 0) << what << " fused";
      lvl.fn({&rm2, v2.data(), init2.data(), out2.data()}, nullptr);
      ASSERT_EQ(std::memcmp(fo2.data(), out2.data(), out2.size() * sizeof(float)), 0)
          << what << " fused b";
      CheckPass(m2, rows2, cols2, v2, init2, out2.data(), what + " b");
      // AVX2 and AVX-512 form every sum alike (init, rows in order, one FMA each).
      if (std::string(lvl.name) == "avx2") first = out, first2 = out2;
      if (std::string(lvl.name) == "avx512" && !first.empty()) {
        ASSERT_EQ(std::memcmp(first.data(), out.data(), np * sizeof(float)), 0) << what;
        ASSERT_EQ(std::memcmp(first2.data(), out2.data(), out2.size() * sizeof(float)), 0)
            << what;
      }
    }
  }
}

// A split step's bound: the double LSTM's, plus one rounding of (s + rh) per pre-activation
// (within the same N·eps·mag budget), so the factor 1.5 covers the regrouping.
TEST(LstmSplitTest, StepsMatchDoubleBothPhasesAndFused) {
  TestRng rng(606);
  for (bool scalar : {false, true}) {
    ForceScalar(scalar);
    for (MathMode math : testing::kAllMathModes) {
      for (Shape s : kShapes) {
        Weights wt = MakeWeights(rng, s, math, s.units % 2 == 1);
        const LstmSplit ls(wt.p);
        ASSERT_EQ(ls.n4p() % 16, 0);
        // Three streams from h = c = 0: phase 0, phase 1 and phase 0 with deferred look-aheads
        // run fused with another LSTM's step (a second stream of the same layer).
        LstmSplit::Carry c0 = ls.NewCarry(false), c1 = ls.NewCarry(true), c2 = ls.NewCarry(false),
                         c3 = ls.NewCarry(true);
        const int u = s.units;
        std::vector<float> h0(u, 0.f), s0(u, 0.f), h1 = h0, s1 = s0, h2 = h0, s2 = s0, h3 = h0,
                           s3 = s0;
        std::vector<float> scratch(ls.ScratchFloats(), -3.f);
        for (int step = 0; step < 40; ++step) {
          const std::string what = std::string(scalar ? "scalar " : "simd ") +
                                   std::to_string(s.inputs) + "x" + std::to_string(u) +
                                   " step " + std::to_string(step);
          std::vector<float> x = rng.Uniform(s.inputs, -2.f, 2.f);
          std::vector<float> hb = h0, cb = s0;
          const Expected e = DoubleLstm(wt.p, x, hb, cb);
          ls.Step(x.data(), h0.data(), s0.data(), c0, scratch.data());
          ls.Step(x.data(), h1.data(), s1.data(), c1, scratch.data());
          // Stream 2 defers; stream 3's step runs stream 2's look-ahead fused, then defers its
          // own, which stream 2's next step runs first (its own pending carry).
          const bool p2 = ls.Step(x.data(), h2.data(), s2.data(), c2, scratch.data(), nullptr,
                                  true);
          const LstmSplit::Ahead a2 = ls.PendingAhead(h2.data(), c2);
          ls.Step(x.data(), h3.data(), s3.data(), c3, scratch.data(), p2 ? &a2 : nullptr, true);
          ASSERT_FALSE(c2.pending) << what;
          if (c3.pending) ls.RunAhead(h3.data(), c3);
          for (int k = 0; k < u; ++k) {
            ASSERT_NEAR(s0[k], e.c[k], 1.5 * e.bound_c[k]) << what << " c[" << k << "]";
            ASSERT_NEAR(h0[k], e.h[k], 1.5 * e.bound_h[k]) << what << " h[" << k << "]";
          }
          for (const auto* o : {&h1, &h2, &h3})
            ASSERT_EQ(std::memcmp(o->data(), h0.data(), u * sizeof(float)), 0) << what;
          for (const auto* o : {&s1, &s2, &s3})
            ASSERT_EQ(std::memcmp(o->data(), s0.data(), u * sizeof(float)), 0) << what;
        }
      }
    }
  }
  ForceScalar(false);
}

TEST(LstmSplitTest, ResetCarryRestartsAndMovesKeepData) {
  TestRng rng(707);
  Weights wt = MakeWeights(rng, {7, 13}, MathMode::kExact, true);
  LstmSplit a(wt.p);
  LstmSplit b = std::move(a);  // the packed copies move with it
  std::vector<float> scratch(b.ScratchFloats());
  LstmSplit::Carry carry = b.NewCarry();
  std::vector<std::vector<float>> xs;
  for (int i = 0; i < 5; ++i) xs.push_back(rng.Uniform(7, -1.f, 1.f));
  auto run = [&](std::vector<float>& h, std::vector<float>& c) {
    for (const auto& x : xs) b.Step(x.data(), h.data(), c.data(), carry, scratch.data());
  };
  std::vector<float> h1(13, 0.f), c1(13, 0.f), h2 = h1, c2 = c1;
  run(h1, c1);
  b.ResetCarry(carry);
  run(h2, c2);
  EXPECT_EQ(h1, h2);
  EXPECT_EQ(c1, c2);
  // The copies do not depend on the caller's arrays.
  std::vector<float> h3(13, 0.f), c3(13, 0.f);
  std::fill(wt.w.begin(), wt.w.end(), 0.f);
  b.ResetCarry(carry);
  run(h3, c3);
  EXPECT_EQ(h1, h3);
}

}  // namespace
}  // namespace ghostnv::kernels
