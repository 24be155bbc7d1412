// runtime/sched/network_tc_host_test.cc — the tensor-core network's arithmetic without a GPU
// (label unit): the fp16 conversion, the weight packing (through the host emulation, which reads
// the operands back out of the fragment layout exactly as the kernel's lanes do) and the fp16
// precision bound: emulated network vs the CPU's fp32 network >= 35 dB SNR of the difference;
// the split (hi + lo, fp32-grade) packing and emulation: >= 130 dB.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <vector>

#include "runtime/sched/network_tc.h"
#include "runtime/sched/network_tc_test_util.h"

namespace ghostnv::sched {
namespace {

using tc_testing::CpuNet;
using tc_testing::kF;
using tc_testing::Snr;

constexpr double kSplitMinDb = 130.0;  // measured 133.5-151 dB (2026-11-29, Release and ASan builds)

TEST(Half, KnownValuesAndRounding) {
  EXPECT_EQ(FloatToHalf(1.f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.f), 0xc000);
  EXPECT_EQ(FloatToHalf(-0.f), 0x8000);
  EXPECT_EQ(FloatToHalf(65504.f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65519.f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.f), 0x7c00);  // rounds up to inf
  EXPECT_EQ(FloatToHalf(1.f + std::ldexp(1.f, -11)), 0x3c00);      // tie -> even
  EXPECT_EQ(FloatToHalf(1.f + 3 * std::ldexp(1.f, -11)), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(FloatToHalf(1.f + std::ldexp(1.f, -11) + std::ldexp(1.f, -20)), 0x3c01);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.f, -24)), 0x0001);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.f, -25)), 0x0000);      // tie -> even
  EXPECT_EQ(FloatToHalf(3 * std::ldexp(1.f, -25)), 0x0002);  // tie -> even
  EXPECT_EQ(FloatToHalf(std::ldexp(1.f, -14)), 0x0400);      // smallest normal
  EXPECT_EQ(FloatToHalf(std::ldexp(1023.f, -24) + std::ldexp(1.f, -26)), 0x03ff);
  EXPECT_EQ(FloatToHalf(INFINITY), 0x7c00);
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(NAN))));
  for (uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0) continue;  // NaN
    ASSERT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(h))), h) << h;
  }
  // Against double rounding to 11 significant bits for random normal-range values.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-60000.f, 60000.f);
  for (int i = 0; i < 100000; ++i) {
    const float x = u(rng) * std::ldexp(1.f, -(i % 16));
    const double back = HalfToFloat(FloatToHalf(x));
    int e = 0;
    std::frexp(static_cast<double>(x), &e);
    const double ulp = std::ldexp(1.0, std::max(e, -13) - 11);
    ASSERT_LE(std::abs(back - x), ulp / 2 * (1 + 1e-12)) << x;
  }
}

// hi + lo / kTcLoScale reproduces x to ~22 significant bits (normal range), and the split
// packing's lo blocks hold exactly LoHalf of the weights the hi blocks round.
TEST(Half, LoPartCarriesTheRoundingError) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int i = 0; i < 200000; ++i) {
    const float x = u(rng) * std::ldexp(1.f, (i % 24) - 12);
    const double back = double(HalfToFloat(FloatToHalf(x))) + double(HalfToFloat(LoHalf(x))) / kTcLoScale;
    ASSERT_LE(std::abs(back - x), std::abs(double(x)) * std::ldexp(1.0, -21) + std::ldexp(1.0, -35)) << x;
  }
  EXPECT_EQ(LoHalf(1.f), 0);
  EXPECT_EQ(LoHalf(0.f), 0);
  // Where hi is inf or NaN, lo is 0 (hi alone carries it, as in the fp16 kernels).
  EXPECT_EQ(LoHalf(65520.f), 0);
  EXPECT_EQ(LoHalf(-1e6f), 0);
  EXPECT_EQ(LoHalf(INFINITY), 0);
  EXPECT_EQ(LoHalf(NAN), 0);
  // The largest finite hi: 65519 -> 65504 + 15 (lo = 15 * 2048 = 30720, exact in fp16).
  EXPECT_EQ(HalfToFloat(LoHalf(65519.f)), 30720.f);
  // 1 + 2^-12 rounds to 1 (tie to even): lo = 2^-12 * 2048 = 0.5.
  EXPECT_EQ(HalfToFloat(LoHalf(1.f + std::ldexp(1.f, -12))), 0.5f);
  std::shared_ptr<const models::Model> m = tc_testing::RandomModel(false, kernels::MathMode::kExact);
  absl::StatusOr<TcPackedNetwork> plain = PackTcNetwork(*m), split = PackTcNetwork(*m, true);
  ASSERT_TRUE(plain.ok() && split.ok());
  EXPECT_EQ(plain->desc.lo_block, 0);
  const int blocks = plain->desc.weight_blocks;
  ASSERT_EQ(split->desc.weight_blocks, blocks);
  ASSERT_EQ(split->desc.lo_block, blocks);
  ASSERT_EQ(split->words.size(), 2 * plain->words.size());
  for (size_t i = 0; i < plain->words.size(); ++i) ASSERT_EQ(split->words[i], plain->words[i]) << i;
  // The input dense layer's W: lo of the CPU weight at (k, n) where the fragment says.
  const models::Layer* d = m->FindLayer("input_dense");
  const GnvTcLayer& L = split->desc.layer[GNV_TC_INPUT_DENSE];
  int nonzero = 0;
  for (int k = 0; k < d->inputs; ++k)
    for (int n = 0; n < d->units; ++n) {
      const int k16 = k / 16, kk = k % 16, j = kk / 8, t = (kk % 8) / 2, hi = kk % 2, lane = 4 * (n % 8) + t;
      const size_t word = (size_t(blocks) + L.w_block + size_t(n / 8) * (L.kx / 16) + k16) * GNV_TC_BLOCK_WORDS + 2 * lane + j;
      const uint16_t lo = static_cast<uint16_t>(hi ? split->words[word] >> 16 : split->words[word] & 0xffffu);
      ASSERT_EQ(lo, LoHalf(d->weights[size_t(k) * d->units + n])) << k << " " << n;
      nonzero += lo != 0;
    }
  EXPECT_GT(nonzero, d->inputs * d->units / 2);  // random weights: most are not fp16 values
}

TEST(Pack, RejectsModelsThatAreNotRnnoise) {
  auto m = std::make_shared<models::Model>(*tc_testing::RandomModel(true, kernels::MathMode::kExact));
  m->layers.pop_back();
  EXPECT_TRUE(absl::IsInvalidArgument(PackTcNetwork(*m).status()));
}

// `steps` chained steps of `streams` rows: emulation vs CPU fp32 network.
void CompareWithCpu(const models::Model& m, int streams, int steps, double min_db, bool split = false) {
  absl::StatusOr<TcPackedNetwork> p = PackTcNetwork(m, split);
  ASSERT_TRUE(p.ok()) << p.status();
  const CpuNet cpu(m);
  const int u1 = cpu.u1(), u2 = cpu.u2(), u3 = cpu.u3(), nb = cpu.bands();
  const std::vector<float> feats = tc_testing::RealisticFeatures(streams, steps + 20, 7);
  ASSERT_GE(feats.size(), size_t(streams) * steps * kF);
  std::vector<float> s1(streams * u1, 0.f), s2(streams * u2, 0.f), s3(streams * u3, 0.f);
  std::vector<float> c1 = s1, c2 = s2, c3 = s3;
  std::vector<float> d(streams * cpu.u0()), vad(streams), gains(streams * nb), copy(streams * u1);
  std::vector<float> cd(cpu.u0()), cvad(1), cgains(nb);
  Snr g, v, st, dn;
  for (int t = 0; t < steps; ++t) {
    const float* f = &feats[size_t(t) * streams * kF];
    GnvTcIo io{};
    auto a = [](const float* x) { return static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(x)); };
    io.features = a(f);
    io.features_stride = kF;
    io.dense_out = a(d.data());
    io.dense_stride = cpu.u0();
    io.vad_state = a(s1.data());
    io.vad_stride = u1;
    io.vad_copy = a(copy.data());
    io.vad_copy_stride = u1;
    io.noise_state = a(s2.data());
    io.noise_stride = u2;
    io.denoise_state = a(s3.data());
    io.denoise_stride = u3;
    io.gains = a(gains.data());
    io.gains_stride = nb;
    io.vad = a(vad.data());
    io.vad_out_stride = 1;
    RunTcNetworkOnHost(*p, io, streams);
    for (int b = 0; b < streams; ++b) {
      cpu.Step(f + b * kF, &c1[b * u1], &c2[b * u2], &c3[b * u3], cd.data(), cvad.data(), cgains.data());
      g.Add(cgains.data(), &gains[b * nb], nb);
      v.Add(cvad[0], vad[b]);
      dn.Add(cd.data(), &d[b * cpu.u0()], cpu.u0());
      for (int i = 0; i < u1; ++i) ASSERT_EQ(copy[b * u1 + i], s1[b * u1 + i]);
    }
  }
  st.Add(c1.data(), s1.data(), c1.size());
  st.Add(c2.data(), s2.data(), c2.size());
  st.Add(c3.data(), s3.data(), c3.size());
  std::printf("%s (reset_after %d, math %d): %d streams x %d steps, %s emulation vs CPU fp32: "
              "SNR gains %.1f dB (max |diff| %.2g), vad %.1f dB, dense %.1f dB, final states %.1f dB\n",
              m.name.c_str(), m.FindLayer("vad_gru")->reset_after ? 1 : 0, static_cast<int>(m.math), streams, steps,
              split ? "fp16x3 (split)" : "fp16", g.db(), g.max_abs, v.db(), dn.db(), st.db());
  EXPECT_GE(g.db(), min_db);
  EXPECT_GE(v.db(), min_db);
  EXPECT_GE(dn.db(), min_db);
  EXPECT_GE(st.db(), min_db);
}

TEST(Emulation, DefaultModelWithinTheFp16Bound) {
  std::shared_ptr<const models::Model> m = tc_testing::DefaultModel();
  if (m == nullptr) GTEST_SKIP() << "models/weights/default.gnvm not found (GHOSTNV_SOURCE_DIR)";
  CompareWithCpu(*m, 7, 200, 35.0);
}

TEST(Emulation, RandomModelsBothVariantsAndMathModesOddSizes) {
  for (bool reset_after : {false, true})
    for (auto math : {kernels::MathMode::kExact, kernels::MathMode::kRnnoiseApprox}) {
      SCOPED_TRACE(::testing::Message() << "reset_after " << reset_after << " math " << int(math));
      CompareWithCpu(*tc_testing::RandomModel(reset_after, math), 5, 100, 35.0);
      CompareWithCpu(*tc_testing::RandomModel(reset_after, math, 19, 13, 37, 70, 5), 3, 60, 35.0);
    }
}

// The split (hi + lo) operands: fp32-grade, >= 130 dB against the CPU's fp32 network (the
// gap to fp32 is the dropped lo * lo term and the lo parts' own rounding, ~2^-22 relative).
TEST(Emulation, SplitDefaultModelIsFp32Grade) {
  std::shared_ptr<const models::Model> m = tc_testing::DefaultModel();
  if (m == nullptr) GTEST_SKIP() << "models/weights/default.gnvm not found (GHOSTNV_SOURCE_DIR)";
  CompareWithCpu(*m, 7, 200, kSplitMinDb, true);
}

TEST(Emulation, SplitRandomModelsBothVariantsAndMathModesOddSizes) {
  for (bool reset_after : {false, true})
    for (auto math : {kernels::MathMode::kExact, kernels::MathMode::kRnnoiseApprox}) {
      SCOPED_TRACE(::testing::Message() << "reset_after " << reset_after << " math " << int(math));
      CompareWithCpu(*tc_testing::RandomModel(reset_after, math), 5, 100, kSplitMinDb, true);
      CompareWithCpu(*tc_testing::RandomModel(reset_after, math, 19, 13, 37, 70, 5), 3, 60, kSplitMinDb, true);
    }
}

// One step of the packed network from zero states on the host emulation for 4 rows of realistic
// features, against the CPU twin: the SNR (dB) of the denoise GRU's new state.
double OneStepDenoiseStateDb(const TcPackedNetwork& p, const models::Model& m) {
  const CpuNet cpu(m);
  const int n = 4;
  const std::vector<float> f = tc_testing::RealisticFeatures(n, 30, 9);
  std::vector<float> s1(n * 24, 0.f), s2(n * 48, 0.f), s3(n * 96, 0.f), gains(n * 22), vad(n);
  std::vector<float> c1(24), c2(48), c3(96), cd(24), cv(1), cg(22);
  auto a = [](const float* x) { return static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(x)); };
  const GnvTcIo io = {a(&f[20 * n * kF]), 0, a(s1.data()), 0, a(s2.data()), a(s3.data()), a(gains.data()),
                      a(vad.data()), kF, 0, 24, 0, 48, 96, 22, 1};
  RunTcNetworkOnHost(p, io, n);
  Snr st;
  for (int b = 0; b < n; ++b) {
    std::fill(c1.begin(), c1.end(), 0.f);
    std::fill(c2.begin(), c2.end(), 0.f);
    std::fill(c3.begin(), c3.end(), 0.f);
    cpu.Step(&f[(20 * n + b) * kF], c1.data(), c2.data(), c3.data(), cd.data(), cv.data(), cg.data());
    st.Add(c3.data(), &s3[b * 96], 96);
  }
  return st.db();
}

// The test can fail: the split emulation without its lo weights (lo blocks zeroed) is only
// fp16-grade.
TEST(Emulation, SplitWithoutLoWeightsFallsBelowTheBound) {
  std::shared_ptr<const models::Model> m = tc_testing::RandomModel(true, kernels::MathMode::kExact);
  absl::StatusOr<TcPackedNetwork> p = PackTcNetwork(*m, true);
  ASSERT_TRUE(p.ok());
  const double whole = OneStepDenoiseStateDb(*p, *m);
  std::fill(p->words.begin() + size_t(p->desc.lo_block) * GNV_TC_BLOCK_WORDS, p->words.end(), 0u);
  const double db = OneStepDenoiseStateDb(*p, *m);
  std::printf("split emulation, one step: denoise state %.1f dB, without lo weights %.1f dB\n", whole, db);
  EXPECT_GE(whole, kSplitMinDb);
  EXPECT_LT(db, kSplitMinDb - 20);
}

// The test can fail: a wrongly packed weight (one fragment row off) is caught.
TEST(Emulation, DetectsAPackingError) {
  std::shared_ptr<const models::Model> m = tc_testing::RandomModel(true, kernels::MathMode::kExact);
  absl::StatusOr<TcPackedNetwork> p = PackTcNetwork(*m);
  ASSERT_TRUE(p.ok());
  const double whole = OneStepDenoiseStateDb(*p, *m);
  const GnvTcLayer& L = p->desc.layer[GNV_TC_DENOISE_GRU];
  // Every block of the denoise GRU's W with lanes t and t+1 exchanged (the k order of a
  // fragment off by two rows).
  for (size_t blk = L.w_block; blk < size_t(L.r_block); ++blk)
    for (int lane = 0; lane < 32; lane += 2)
      for (int j = 0; j < 2; ++j)
        std::swap(p->words[blk * GNV_TC_BLOCK_WORDS + 2 * lane + j], p->words[blk * GNV_TC_BLOCK_WORDS + 2 * lane + 2 + j]);
  const double db = OneStepDenoiseStateDb(*p, *m);
  std::printf("fp16 emulation, one step: denoise state %.1f dB, with a packing error %.1f dB\n", whole, db);
  EXPECT_GE(whole, 35.0);
  EXPECT_LT(db, 35.0);
}

}  // namespace
}  // namespace ghostnv::sched
