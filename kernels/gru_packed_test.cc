// Tests for kernels/gru_packed.h: the packed AVX2 step must equal GruStep_avx2 bit for bit
// (same sums, same order; units >= 40, smaller ones within 2e-5) over 30 steps with the state carried, for packable shapes (odd input
// counts, 0 inputs, unit counts that give unequal column blocks); unpackable shapes
// (reset_after = false, units not a multiple of 8) and the scalar override must reproduce
// GruStep exactly, since they run it. Weight layout bugs show up as mismatches in single columns,
// so every element is compared. Weights on the binary16 grid are stored as halves (lossless):
// the same equality must hold. Where AVX-512 runs, its step must equal the AVX2 step on the
// same packed copy bit for bit (fp32 and halves). GruSplit: against a double-precision GRU at
// odd sizes in both carry phases (bit-identical to each other), its passes against each other
// and the scalar pass (with zero input rows), the fused two-matrix pass and the caller's
// prefetch stream at both widths, deferred look-aheads against immediate ones.

#include "kernels/gru_packed.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu.h"
#include "kernels/dense.h"
#include "kernels/kernels_test_util.h"

namespace ghostnv::kernels {
namespace {

using testing::TestRng;

// The tests that compare Step with GruStep_avx2 need Step to take a SIMD path: under
// GHOSTNV_SIMD=scalar (or ForceScalar) it runs the reference, by design.
#define GHOSTNV_SKIP_WITHOUT_SIMD_STEP()                                                  \
  do {                                                                                  \
    GHOSTNV_SKIP_WITHOUT_AVX2();                                                        \
    if (ActiveSimd() != SimdLevel::kAvx2) GTEST_SKIP() << "SIMD forced off (scalar)"; \
  } while (0)

struct Net {
  GruParams p;
  std::vector<float> w, r, b, rb;
};

Net MakeNet(int inputs, int units, bool reset_after, uint32_t seed) {
  Net n;
  TestRng rng(seed);
  const size_t n3 = 3 * static_cast<size_t>(units);
  n.w = rng.Uniform(static_cast<size_t>(inputs) * n3, -0.4f, 0.4f);
  n.r = rng.Uniform(static_cast<size_t>(units) * n3, -0.3f, 0.3f);
  n.b = rng.Uniform(n3, -0.5f, 0.5f);
  n.rb = rng.Uniform(n3, -0.5f, 0.5f);
  n.p = GruParams{.inputs = inputs, .units = units, .weights = n.w.data(),
                  .recurrent = n.r.data(), .bias = seed % 3 == 1 ? nullptr : n.b.data(),
                  .recurrent_bias = seed % 3 == 2 ? nullptr : n.rb.data(),
                  .activation = Activation::kTanh, .math = MathMode::kExact,
                  .reset_after = reset_after};
  return n;
}

// Runs `steps` steps of both and expects identical states after each.
// tol == 0: bit-equal.
void ExpectSameAsGruStep(const Net& n, uint32_t seed, int steps, bool use_avx2_directly,
                         float tol = 0.f) {
  const GruPacked g(n.p, /*keep_float=*/true);
  TestRng rng(seed * 7 + 3);
  std::vector<float> s1(static_cast<size_t>(n.p.units)), s2;
  for (float& v : s1) v = rng.Uniform(-1.f, 1.f);
  s2 = s1;
  std::vector<float> scratch1(GruScratchFloats(n.p.units)), scratch2 = scratch1;
  for (int t = 0; t < steps; ++t) {
    const std::vector<float> x = rng.Uniform(static_cast<size_t>(n.p.inputs), -2.f, 2.f);
    if (use_avx2_directly) {
      GruStep_avx2(n.p, x.data(), s1.data(), scratch1.data());
    } else {
      GruStep(n.p, x.data(), s1.data(), scratch1.data());
    }
    g.Step(x.data(), s2.data(), scratch2.data());
    for (size_t i = 0; i < s1.size(); ++i) {
      if (tol == 0.f) {
        ASSERT_EQ(s1[i], s2[i]) << "inputs=" << n.p.inputs << " units=" << n.p.units
                                << " step=" << t << " unit=" << i;
      } else {
        ASSERT_NEAR(s1[i], s2[i], tol) << "inputs=" << n.p.inputs << " units=" << n.p.units
                                       << " step=" << t << " unit=" << i;
      }
      ASSERT_TRUE(std::isfinite(s2[i]));
    }
  }
}

// Rounds every weight to a nearby binary16 value (so the packer may store halves).
void ToHalfGrid(Net& n) {
  for (std::vector<float>* v : {&n.w, &n.r}) {
    for (float& f : *v) f = static_cast<float>(static_cast<_Float16>(f));
  }
}

TEST(GruPacked, HalfConversionsMatchFloat16) {
  // Every finite binary16 value against the compiler's _Float16 (an independent conversion).
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    _Float16 ref;
    std::memcpy(&ref, &bits, sizeof ref);
    const float want = static_cast<float>(ref);
    if (!std::isfinite(want)) {
      uint16_t out = 0;
      EXPECT_FALSE(FloatToHalfExact(want, &out));
      continue;
    }
    const float got = HalfToFloat(bits);
    ASSERT_EQ(std::memcmp(&got, &want, sizeof got), 0) << "half 0x" << std::hex << h;
    uint16_t back = 0;
    ASSERT_TRUE(FloatToHalfExact(want, &back)) << "half 0x" << std::hex << h;
    ASSERT_EQ(back, bits);
  }
  // Values that binary16 cannot hold.
  uint16_t out = 0;
  for (float f : {0.1f, 1.f + 1.f / 4096.f, 65536.f, 70000.f, 1e-8f, 3.0e-8f,
                  -1.00048828125f /* 1 + 2^-11 */}) {
    EXPECT_FALSE(FloatToHalfExact(f, &out)) << f;
  }
  EXPECT_TRUE(FloatToHalfExact(65504.f, &out));
  EXPECT_TRUE(FloatToHalfExact(std::ldexp(1.f, -24), &out));
  EXPECT_EQ(out, 1);
}

TEST(GruPacked, HalfStorageBitForBit) {
  GHOSTNV_SKIP_WITHOUT_SIMD_STEP();
  if (!CpuHasF16c()) GTEST_SKIP() << "CPU lacks F16C";
  const int shapes[][2] = {{0, 40}, {113, 72}, {256, 256}, {7, 16}};
  uint32_t seed = 61;
  for (const auto& s : shapes) {
    Net n = MakeNet(s[0], s[1], true, seed);
    ToHalfGrid(n);
    const GruPacked g(n.p);
    ASSERT_TRUE(g.half_storage());
    ExpectSameAsGruStep(n, seed, 30, /*use_avx2_directly=*/true, s[1] >= 40 ? 0.f : 2e-5f);
    ++seed;
  }
  // One weight off the grid: fp32 storage.
  Net n = MakeNet(16, 48, true, 70);
  ToHalfGrid(n);
  n.r[100] = 0.1f;
  EXPECT_FALSE(GruPacked(n.p).half_storage());
  EXPECT_FALSE(GruPacked(n.p).packed());
  EXPECT_TRUE(GruPacked(n.p, /*keep_float=*/true).packed());
}

TEST(GruPacked, Layout) {
  EXPECT_EQ(GruPackedBlocks(32), 4);
  for (int nv : {1, 3, 8, 9, 13, 32, 33}) {
    int sum = 0;
    for (int b = 0; b < GruPackedBlocks(nv); ++b) {
      const int w = GruPackedBlockWidth(nv, b);
      EXPECT_GE(w, 1);
      EXPECT_LE(w, 8);
      sum += w;
    }
    EXPECT_EQ(sum, nv);
  }
}

TEST(GruPacked, EqualsAvx2StepBitForBit) {
  GHOSTNV_SKIP_WITHOUT_SIMD_STEP();
  // units >= 40: GruStep_avx2 sums every column strictly in order too.
  const int shapes[][2] = {{0, 40}, {1, 48}, {7, 56}, {113, 72}, {5, 96}, {17, 136},
                           {256, 256}, {64, 264}};
  uint32_t seed = 1;
  for (const auto& s : shapes) {
    const Net n = MakeNet(s[0], s[1], true, seed);
    ASSERT_TRUE(GruPacked::Packable(n.p));
    ASSERT_TRUE(GruPacked(n.p, /*keep_float=*/true).packed());
    ASSERT_FALSE(GruPacked(n.p).packed());  // fp32 weights: GruStep unless asked
    ExpectSameAsGruStep(n, seed, 30, /*use_avx2_directly=*/true);
    ++seed;
  }
}

TEST(GruPacked, SmallUnitsCloseToAvx2Step) {
  // units < 40: GruStep_avx2 splits the rows of its narrow blocks over partial sums (other
  // rounding); the packed step still sums in order.
  GHOSTNV_SKIP_WITHOUT_AVX2();
  const int shapes[][2] = {{0, 8}, {1, 8}, {7, 16}, {113, 24}, {9, 32}};
  uint32_t seed = 41;
  for (const auto& s : shapes) {
    const Net n = MakeNet(s[0], s[1], true, seed);
    ASSERT_TRUE(GruPacked(n.p, /*keep_float=*/true).packed());
    ExpectSameAsGruStep(n, seed, 30, /*use_avx2_directly=*/true, 2e-5f);
    ++seed;
  }
}

TEST(GruPacked, UnpackableShapesRunGruStep) {
  const Net a = MakeNet(9, 7, true, 11);     // units not a multiple of 8
  const Net b = MakeNet(16, 16, false, 12);  // reset_after = false
  const Net c = MakeNet(3, 0, true, 13);     // no units: a no-op
  for (const Net* n : {&a, &b, &c}) {
    EXPECT_FALSE(GruPacked::Packable(n->p));
    EXPECT_FALSE(GruPacked(n->p, /*keep_float=*/true).packed());
    ExpectSameAsGruStep(*n, 5, 10, /*use_avx2_directly=*/false);
  }
}

TEST(GruPacked, ScalarOverrideRunsReference) {
  const Net n = MakeNet(40, 32, true, 21);
  ForceScalar(true);
  ExpectSameAsGruStep(n, 21, 10, /*use_avx2_directly=*/false);  // both take GruStep_ref
  ForceScalar(false);
}

TEST(GruPacked, CloseToReference) {
  // An independent check of the packed path against the scalar reference (not bit-equal:
  // FMA rounding), so that a shared bug in both AVX2 steps would still be caught.
  GHOSTNV_SKIP_WITHOUT_AVX2();
  const Net n = MakeNet(256, 256, true, 31);
  const GruPacked g(n.p, /*keep_float=*/true);
  TestRng rng(99);
  std::vector<float> s1(256), s2;
  for (float& v : s1) v = rng.Uniform(-1.f, 1.f);
  s2 = s1;
  std::vector<float> scratch(GruScratchFloats(256));
  for (int t = 0; t < 20; ++t) {
    const std::vector<float> x = rng.Uniform(256, -2.f, 2.f);
    GruStep_ref(n.p, x.data(), s1.data(), scratch.data());
    g.Step(x.data(), s2.data(), scratch.data());
    for (size_t i = 0; i < 256; ++i) ASSERT_NEAR(s1[i], s2[i], 2e-5f) << "step " << t;
  }
}

// The AVX-512 step against the AVX2 step on the same packed copy, bit for bit (fp32 and
// binary16 storage), for packable shapes with even and odd block widths; and the packed bytes
// a caller may prefetch cover the whole copy.
TEST(GruPacked, Avx512EqualsAvx2PackedBitForBit) {
  GHOSTNV_SKIP_WITHOUT_AVX2();
  if (!CpuHasF16c() || !Avx512Active()) GTEST_SKIP() << "no AVX-512 (or GHOSTNV_SIMD=avx2)";
  uint32_t seed = 300;
  for (int units : {8, 16, 24, 40, 72, 136, 256}) {
    for (int inputs : {0, 1, 7, 113}) {
      for (bool half : {false, true}) {
        Net n = MakeNet(inputs, units, true, ++seed);
        if (half) ToHalfGrid(n);
        const GruPacked g(n.p, /*keep_float=*/true);
        ASSERT_TRUE(g.packed());
        ASSERT_EQ(g.half_storage(), half);
        const size_t weights = static_cast<size_t>(inputs + units) * 3 * units;
        ASSERT_EQ(g.packed_size(), weights * (half ? 2 : 4));
        ASSERT_NE(g.packed_bytes(), nullptr);
        TestRng rng(seed * 5 + 1);
        std::vector<float> s1 = rng.Uniform(static_cast<size_t>(units), -1.f, 1.f), s2 = s1;
        std::vector<float> scratch1(GruScratchFloats(units)), scratch2 = scratch1;
        for (int t = 0; t < 20; ++t) {
          const std::vector<float> x = rng.Uniform(static_cast<size_t>(inputs), -2.f, 2.f);
          if (half) {
            const auto* h = reinterpret_cast<const uint16_t*>(g.packed_bytes());
            GruPackedStepHalf_avx2(n.p, h, x.data(), s1.data(), scratch1.data());
            GruPackedStepHalf_avx512(n.p, h, x.data(), s2.data(), scratch2.data());
          } else {
            const auto* f = reinterpret_cast<const float*>(g.packed_bytes());
            GruPackedStep_avx2(n.p, f, x.data(), s1.data(), scratch1.data());
            GruPackedStep_avx512(n.p, f, x.data(), s2.data(), scratch2.data());
          }
          ASSERT_EQ(s1, s2) << "inputs=" << inputs << " units=" << units << " half=" << half
                            << " step=" << t;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// GruSplit

// A reset_after GRU step in double precision (independent of every float path).
void GruStepDouble(const GruParams& p, const std::vector<double>& x, std::vector<double>& h) {
  const size_t u = static_cast<size_t>(p.units), n3 = 3 * u;
  std::vector<double> gx(n3), gh(n3);
  for (size_t c = 0; c < n3; ++c) {
    gx[c] = p.bias != nullptr ? p.bias[c] : 0.0;
    gh[c] = p.recurrent_bias != nullptr ? p.recurrent_bias[c] : 0.0;
    for (size_t j = 0; j < x.size(); ++j) gx[c] += x[j] * p.weights[j * n3 + c];
    for (size_t j = 0; j < u; ++j) gh[c] += h[j] * p.recurrent[j * n3 + c];
  }
  for (size_t i = 0; i < u; ++i) {
    const double z = 1.0 / (1.0 + std::exp(-(gx[i] + gh[i])));
    const double r = 1.0 / (1.0 + std::exp(-(gx[u + i] + gh[u + i])));
    const double c = std::tanh(gx[2 * u + i] + r * gh[2 * u + i]);
    h[i] = z * h[i] + (1.0 - z) * c;
  }
}

// Steps of GruSplit (the active path) against the double reference, from a zero state, with
// both carry phases; the two phases must agree bit for bit (rh depends on h alone).
TEST(GruSplit, CloseToDoubleReferenceInBothPhases) {
  const int shapes[][2] = {{0, 1},   {1, 1},    {7, 5},   {3, 7},    {13, 8},  {9, 22},
                           {17, 64}, {113, 40}, {40, 113}, {5, 171}, {256, 256}};
  uint32_t seed = 500;
  for (const auto& sh : shapes) {
    const Net n = MakeNet(sh[0], sh[1], true, ++seed);
    ASSERT_TRUE(GruSplit::Supported(n.p));
    const GruSplit g(n.p);
    const size_t u = static_cast<size_t>(sh[1]);
    GruSplit::Carry c0 = g.NewCarry(false), c1 = g.NewCarry(true);
    std::vector<float> h0(u, 0.f), h1(u, 0.f), scratch(g.ScratchFloats());
    std::vector<double> hd(u, 0.0);
    TestRng rng(seed * 3);
    for (int t = 0; t < 12; ++t) {
      const std::vector<float> x = rng.Uniform(static_cast<size_t>(sh[0]), -2.f, 2.f);
      ASSERT_EQ(c0.ready, t % 2 == 1);
      ASSERT_EQ(c1.ready, t % 2 == 0);
      g.Step(x.data(), h0.data(), c0, scratch.data());
      g.Step(x.data(), h1.data(), c1, scratch.data());
      GruStepDouble(n.p, std::vector<double>(x.begin(), x.end()), hd);
      for (size_t i = 0; i < u; ++i) {
        ASSERT_EQ(h0[i], h1[i]) << "inputs=" << sh[0] << " units=" << sh[1] << " step=" << t
                                << " unit=" << i;
        // Float sums of (inputs + units) products: the error grows with their count.
        ASSERT_NEAR(h0[i], hd[i], 2e-6 + 1e-7 * (sh[0] + sh[1]))
            << "inputs=" << sh[0] << " units=" << sh[1] << " step=" << t << " unit=" << i;
      }
    }
  }
}

// The SIMD passes against each other (bit for bit) and against the scalar pass (rounding),
// at widths that leave 1, 2, 3 and 4 vectors in the last column block; the scalar override
// runs GruSplitPass_ref / GruSplitFinish_ref exactly.
TEST(GruSplit, PassesAgree) {
  GHOSTNV_SKIP_WITHOUT_SIMD_STEP();
  uint32_t seed = 600;
  for (int units : {1, 5, 16, 21, 37, 256}) {
    for (int inputs : {0, 1, 7, 113}) {
      const Net n = MakeNet(inputs, units, true, ++seed);
      const GruSplit g(n.p);
      const int n3p = g.n3p();
      ASSERT_EQ(n3p % 16, 0);
      ASSERT_GE(n3p, 3 * units);
      ASSERT_EQ(reinterpret_cast<uintptr_t>(g.packed_w()) % 64, 0u);
      TestRng rng(seed);
      // x with ReLU-like zeros (rows the passes skip), h without.
      std::vector<float> x = rng.Uniform(static_cast<size_t>(inputs), -2.f, 2.f);
      for (size_t j = 0; j < x.size(); j += 3) x[j] = 0.f;
      const std::vector<float> h = rng.Uniform(static_cast<size_t>(units), -1.f, 1.f);
      const std::vector<float> init = rng.Uniform(static_cast<size_t>(n3p), -1.f, 1.f);
      for (int m = 0; m < 2; ++m) {
        const float* packed = m == 0 ? g.packed_w() : g.packed_r();
        const int rows = m == 0 ? inputs : units;
        const float* v = m == 0 ? x.data() : h.data();
        std::vector<float> ref(static_cast<size_t>(n3p)), a2 = ref, a5 = ref;
        GruSplitPass_ref(packed, rows, n3p, v, init.data(), ref.data());
        GruSplitPass_avx2(packed, rows, n3p, v, init.data(), a2.data(), true, nullptr);
        // Column c of the padded matrix is weight (j, c) of W or R, zero past 3·units.
        for (int c = 0; c < n3p; ++c) {
          double want = init[static_cast<size_t>(c)];
          if (c < 3 * units) {
            const float* mat = m == 0 ? n.w.data() : n.r.data();
            for (int j = 0; j < rows; ++j)
              want += static_cast<double>(v[j]) * mat[static_cast<size_t>(j) * 3 * units + c];
          }
          ASSERT_NEAR(ref[static_cast<size_t>(c)], want, 1e-4) << "c=" << c;
          ASSERT_NEAR(a2[static_cast<size_t>(c)], want, 1e-4) << "c=" << c;
        }
        if (Avx512Active()) {
          std::vector<char> lines(4096);
          PrefetchStream pf{lines.data(), lines.data() + lines.size()};
          GruSplitPass_avx512(packed, rows, n3p, v, init.data(), a5.data(), false, &pf);
          ASSERT_EQ(a2, a5) << "inputs=" << inputs << " units=" << units;
          // One line per 16 columns of every chunk of up to 4 nonzero rows, never past the end.
          size_t nonzero = 0;
          for (int j = 0; j < rows; ++j) nonzero += v[j] != 0.f;
          const size_t issued = (nonzero + 3) / 4 * static_cast<size_t>(n3p / 16);
          ASSERT_EQ(pf.next, lines.data() + std::min(lines.size(), 64 * issued));
        }
      }
      // Scalar override: Step is exactly the reference passes and gates.
      const GruSplit::Carry start = g.NewCarry(false);
      GruSplit::Carry c = start;
      std::vector<float> h1 = h, h2 = h, scratch(g.ScratchFloats());
      ForceScalar(true);
      g.Step(x.data(), h1.data(), c, scratch.data());
      ForceScalar(false);
      std::vector<float> s(static_cast<size_t>(n3p)), rh = s, tmp = s;
      std::vector<float> bw(static_cast<size_t>(n3p), 0.f), br = bw;
      for (int i = 0; i < 3 * units; ++i) {
        bw[static_cast<size_t>(i)] = n.p.bias != nullptr ? n.p.bias[i] : 0.f;
        br[static_cast<size_t>(i)] = n.p.recurrent_bias != nullptr ? n.p.recurrent_bias[i] : 0.f;
      }
      ASSERT_EQ(start.rh, br);
      GruSplitPass_ref(g.packed_w(), inputs, n3p, x.data(), bw.data(), s.data());
      GruSplitPass_ref(g.packed_r(), units, n3p, h2.data(), br.data(), rh.data());
      GruSplitFinish_ref(n.p, s.data(), rh.data(), h2.data(), tmp.data());
      ASSERT_EQ(h1, h2);
      GruSplitPass_ref(g.packed_r(), units, n3p, h2.data(), br.data(), rh.data());
      ASSERT_TRUE(c.ready);
      ASSERT_EQ(c.rh, rh);
    }
  }
}

// The fused two-matrix pass at both widths against two single passes (bit for bit), and the
// caller's prefetch stream advanced alike at both widths: one line per 16 columns of every
// chunk of up to 4 nonzero rows, never past its end (a short stream stops there).
TEST(GruSplit, FusedPassAndPrefetchAgreeAtBothWidths) {
  GHOSTNV_SKIP_WITHOUT_SIMD_STEP();
  uint32_t seed = 650;
  for (int units : {1, 5, 16, 21, 37, 256}) {
    for (int inputs : {0, 1, 7, 113}) {
      const Net n = MakeNet(inputs, units, true, ++seed);
      const GruSplit g(n.p);
      const int n3p = g.n3p();
      const size_t cols = static_cast<size_t>(n3p);
      TestRng rng(seed);
      std::vector<float> x = rng.Uniform(static_cast<size_t>(inputs), -2.f, 2.f);
      for (size_t j = 1; j < x.size(); j += 3) x[j] = 0.f;  // skipped rows
      std::vector<float> h = rng.Uniform(static_cast<size_t>(units), -1.f, 1.f);
      if (units > 2) h[2] = 0.f;
      const std::vector<float> ia = rng.Uniform(cols, -1.f, 1.f), ib = rng.Uniform(cols, -1.f, 1.f);
      std::vector<float> wa(cols), wb(cols);
      GruSplitPass_avx2(g.packed_w(), inputs, n3p, x.data(), ia.data(), wa.data(), true, nullptr);
      GruSplitPass_avx2(g.packed_r(), units, n3p, h.data(), ib.data(), wb.data(), false, nullptr);
      for (int width : {8, 16}) {
        if (width == 16 && !Avx512Active()) continue;
        std::vector<float> oa(cols, -9.f), ob(cols, -9.f);
        const GruSplitPassArgs a{g.packed_w(), inputs, x.data(), ia.data(), oa.data()};
        const GruSplitPassArgs b{g.packed_r(), units, h.data(), ib.data(), ob.data()};
        if (width == 8) {
          GruSplitPass2_avx2(n3p, a, b);
        } else {
          GruSplitPass2_avx512(n3p, a, b);
        }
        ASSERT_EQ(oa, wa) << "width=" << width << " inputs=" << inputs << " units=" << units;
        ASSERT_EQ(ob, wb) << "width=" << width << " inputs=" << inputs << " units=" << units;
        size_t nonzero = 0;
        for (float f : x) nonzero += f != 0.f;
        const size_t issued = (nonzero + 3) / 4 * static_cast<size_t>(n3p / 16);
        for (size_t len : {size_t{4096}, size_t{64 * 3 + 5}}) {
          std::vector<char> lines(len);
          PrefetchStream pf{lines.data(), lines.data() + lines.size()};
          std::vector<float> o(cols, -9.f);
          if (width == 8) {
            GruSplitPass_avx2(g.packed_w(), inputs, n3p, x.data(), ia.data(), o.data(), false, &pf);
          } else {
            GruSplitPass_avx512(g.packed_w(), inputs, n3p, x.data(), ia.data(), o.data(), false,
                                &pf);
          }
          ASSERT_EQ(o, wa) << "width=" << width << " inputs=" << inputs << " units=" << units;
          // 64 bytes a line; the last one may be shorter (it ends the stream).
          const size_t want = std::min(lines.size(), 64 * issued);
          ASSERT_EQ(static_cast<size_t>(pf.next - lines.data()), want)
              << "width=" << width << " inputs=" << inputs << " units=" << units;
        }
      }
    }
  }
}

// Against GruStep (one running sum per column): rounding only. Unsupported shapes
// (reset_after = false) run GruStep itself.
TEST(GruSplit, CloseToGruStepAndFallsBack) {
  const Net n = MakeNet(256, 256, true, 701);
  const GruSplit g(n.p);
  GruSplit::Carry c = g.NewCarry();
  TestRng rng(702);
  std::vector<float> s1 = rng.Uniform(256, -1.f, 1.f), s2 = s1;
  std::vector<float> scratch1(GruScratchFloats(256)), scratch2(g.ScratchFloats());
  for (int t = 0; t < 20; ++t) {
    const std::vector<float> x = rng.Uniform(256, -2.f, 2.f);
    GruStep_ref(n.p, x.data(), s1.data(), scratch1.data());
    g.Step(x.data(), s2.data(), c, scratch2.data());
    for (size_t i = 0; i < 256; ++i) ASSERT_NEAR(s1[i], s2[i], 2e-5f) << "step " << t;
  }
  const Net b = MakeNet(16, 16, false, 703);
  EXPECT_FALSE(GruSplit::Supported(b.p));
  const GruSplit gb(b.p);
  GruSplit::Carry cb = gb.NewCarry();
  EXPECT_EQ(gb.NextStream(cb).next, nullptr);
  std::vector<float> h1(16, 0.25f), h2 = h1, sc1(GruScratchFloats(16)), sc2(gb.ScratchFloats());
  const std::vector<float> x = rng.Uniform(16, -1.f, 1.f);
  GruStep(b.p, x.data(), h1.data(), sc1.data());
  gb.Step(x.data(), h2.data(), cb, sc2.data());
  EXPECT_EQ(h1, h2);
}

// NextStream covers R when the next step reads it (the carry is not ready), else nothing;
// W then R are one contiguous buffer.
TEST(GruSplit, NextStream) {
  const Net n = MakeNet(7, 21, true, 801);
  const GruSplit g(n.p);
  const size_t w = 7 * static_cast<size_t>(g.n3p()) * sizeof(float);
  const size_t r = 21 * static_cast<size_t>(g.n3p()) * sizeof(float);
  GruSplit::Carry cold = g.NewCarry(false);
  const GruSplit::Carry warm = g.NewCarry(true);
  const PrefetchStream a = g.NextStream(cold), b = g.NextStream(warm);
  EXPECT_EQ(a.next, reinterpret_cast<const char*>(g.packed_r()));
  EXPECT_EQ(static_cast<size_t>(a.end - a.next), r);
  EXPECT_EQ(b.next, nullptr);
  EXPECT_EQ(b.end, nullptr);
  EXPECT_EQ(reinterpret_cast<const char*>(g.packed_r()),
            reinterpret_cast<const char*>(g.packed_w()) + w);
  // A deferred look-ahead still pending: the next step reads R (it runs that pass first).
  std::vector<float> h(21, 0.f), scratch(g.ScratchFloats());
  const std::vector<float> x(7, 0.5f);
  EXPECT_TRUE(g.Step(x.data(), h.data(), cold, scratch.data(), nullptr, nullptr, true));
  EXPECT_TRUE(cold.pending);
  EXPECT_FALSE(cold.ready);
  EXPECT_EQ(g.NextStream(cold).next, a.next);
}

// Deferred look-aheads run fused into the next stream's step (or, never handed on, by the
// stream's own next step) give the same states, bit for bit, as running them at once: a chain
// A -> B -> C like DeepFilterNet3's GRUs (B's input is A's state), for equal and unequal shapes.
TEST(GruSplit, DeferredLookAheadSameResult) {
  const int shapes[][4] = {{256, 256, 256, 256}, {13, 24, 24, 24}, {7, 21, 33, 16}};
  uint32_t seed = 900;
  for (const auto& sh : shapes) {
    const Net na = MakeNet(sh[0], sh[1], true, ++seed);
    const Net nb = MakeNet(sh[1], sh[2], true, ++seed);
    const Net nc = MakeNet(sh[2], sh[3], true, ++seed);
    const GruSplit ga(na.p), gb(nb.p), gc(nc.p);
    const GruSplit* g[3] = {&ga, &gb, &gc};
    for (int mode = 0; mode < 3; ++mode) {  // 0: at once; 1: fused into the next step; 2: left
      GruSplit::Carry c1[3], c2[3];
      std::vector<float> h1[3], h2[3];
      for (int k = 0; k < 3; ++k) {
        c1[k] = g[k]->NewCarry(k == 1);
        c2[k] = g[k]->NewCarry(k == 1);
        h1[k].assign(static_cast<size_t>(g[k]->params().units), 0.f);
        h2[k] = h1[k];
      }
      size_t most = 0;
      for (const GruSplit* q : g) most = std::max(most, q->ScratchFloats());
      std::vector<float> scratch(most);
      TestRng rng(seed + static_cast<uint32_t>(mode));
      int pending = -1;
      for (int t = 0; t < 9; ++t) {
        std::vector<float> x = rng.Uniform(static_cast<size_t>(sh[0]), -2.f, 2.f);
        for (size_t j = 0; j < x.size(); j += 2) x[j] = std::max(0.f, x[j]);  // ReLU-like zeros
        const float* in1[3] = {x.data(), h1[0].data(), h1[1].data()};
        const float* in2[3] = {x.data(), h2[0].data(), h2[1].data()};
        for (int k = 0; k < 3; ++k) {
          g[k]->Step(in1[k], h1[k].data(), c1[k], scratch.data());
          GruSplit::Ahead with;
          if (mode == 1 && pending >= 0) {
            with = {g[pending], h2[pending].data(), &c2[pending]};
            pending = -1;
          }
          if (g[k]->Step(in2[k], h2[k].data(), c2[k], scratch.data(), nullptr, &with, mode != 0))
            pending = k;
          ASSERT_EQ(h1[k], h2[k]) << "mode " << mode << " step " << t << " gru " << k;
        }
      }
    }
  }
}

// Moving a GruSplit (e.g. into a growing vector) keeps its packed views valid; the moved-from
// object is empty.
TEST(GruSplit, MoveKeepsPackedViews) {
  const Net n = MakeNet(9, 24, true, 950);
  GruSplit a(n.p);
  const float* w = a.packed_w();
  std::vector<GruSplit> v;
  v.push_back(std::move(a));
  for (int k = 0; k < 5; ++k) v.emplace_back(n.p);  // reallocates: moves v[0]
  EXPECT_EQ(v[0].packed_w(), w);
  EXPECT_EQ(a.packed_w(), nullptr);  // NOLINT(bugprone-use-after-move): checking the state
  GruSplit::Carry c0 = v[0].NewCarry(), c1 = v[3].NewCarry();
  std::vector<float> h0(24, 0.f), h1 = h0, scratch(v[0].ScratchFloats());
  const std::vector<float> x(9, 0.25f);
  for (int t = 0; t < 4; ++t) {
    v[0].Step(x.data(), h0.data(), c0, scratch.data());
    v[3].Step(x.data(), h1.data(), c1, scratch.data());
    ASSERT_EQ(h0, h1);
  }
}

}  // namespace
}  // namespace ghostnv::kernels
