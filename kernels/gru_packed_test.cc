// Tests for kernels/gru_packed.h: the packed AVX2 step must equal GruStep_avx2 bit for bit
// (same sums, same order; units >= 40, smaller ones within 2e-5) over 30 steps with the state carried, for packable shapes (odd input
// counts, 0 inputs, unit counts that give unequal column blocks); unpackable shapes
// (reset_after = false, units not a multiple of 8) and the scalar override must reproduce
// GruStep exactly, since they run it. Weight layout bugs show up as mismatches in single columns,
// so every element is compared. Weights on the binary16 grid are stored as halves (lossless):
// the same equality must hold. Where AVX-512 runs, its step must equal the AVX2 step on the
// same packed copy bit for bit (fp32 and halves).

#include "kernels/gru_packed.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
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

}  // namespace
}  // namespace ghostnv::kernels
