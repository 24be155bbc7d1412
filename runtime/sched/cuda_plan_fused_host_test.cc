// runtime/sched/cuda_plan_fused_host_test.cc — the fused kernels of kernels/rnnoise_features.cu
// (CudaPlanOptions::fused_spectra) compiled as C++ and run on host threads (cuda_host_shim.h),
// without a GPU (label unit), against their twins:
//  - rnn_spec_features_f32 vs a double-precision DFT of both frames + rnn_features_f32 (itself
//    checked against the CPU family in rnnoise_kernels_host_test.cc): spectra, band energies,
//    features, silence decisions and the slot state, on random frames (loud, quiet, silent rows),
//    1, 7 and 113 rows, permuted slots, several hops; the _o10p kernel (slot state prefetched)
//    bit for bit against the plain one;
//  - rnn_post_synthesis_f32 vs rnn_postprocess_f32 + a double inverse DFT + rnn_synthesis_f32,
//    with random gains and every pitch-filter switch (RNNoise's, strength 0.5 + gain slope,
//    off); rnn_post_synthesis_s16 vs the float kernel (output rounded to int16); the _o10p
//    kernels (synthesis operands prefetched) bit for bit against the plain ones;
//  - the whole pipeline (frontend -> fused -> CPU network -> fused) vs models::Family::ProcessHop.
#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "audio/filters.h"
#include "gtest/gtest.h"
#include "kernels/cpu.h"
#include "kernels/dense.h"
#include "kernels/gru.h"
#include "models/family.h"
#include "models/model_loader.h"
#include "runtime/sched/cuda_plan.h"

// Last: the kernels on host threads (the shim's macros must not reach other headers).
#include "runtime/sched/rnnoise_host_kernels.h"

namespace ghostnv::sched {
namespace {

constexpr int kHop = RNN_HOP;
constexpr int kN = RNN_WINDOW;

// Real DFT of 960 points in double (the reference of both fused FFTs).
struct DoubleDft {
  std::vector<double> c, s;
  DoubleDft() : c(kN), s(kN) {
    for (int t = 0; t < kN; ++t) {
      c[t] = std::cos(2 * M_PI * t / kN);
      s[t] = std::sin(2 * M_PI * t / kN);
    }
  }
  void Forward(const float* x, float* X) const {  // interleaved, bins 0..480
    for (int k = 0; k <= kN / 2; ++k) {
      double re = 0, im = 0;
      for (int t = 0; t < kN; ++t) {
        const int j = (k * t) % kN;
        re += x[t] * c[j];
        im -= x[t] * s[j];
      }
      X[2 * k] = static_cast<float>(re);
      X[2 * k + 1] = static_cast<float>(im);
    }
  }
  // y = 960 * inverse real DFT (imaginary parts of bins 0 and 480 ignored).
  void Inverse(const float* X, float* y) const {
    for (int t = 0; t < kN; ++t) {
      double v = X[0] + ((t % 2) ? -1.0 : 1.0) * X[kN];
      for (int k = 1; k < kN / 2; ++k) {
        const int j = (k * t) % kN;
        v += 2 * (X[2 * k] * c[j] - X[2 * k + 1] * s[j]);
      }
      y[t] = static_cast<float>(v);
    }
  }
};

// kernels/fft.cu's twiddle table for n = 960 (runtime::MakeFftPlan's, computed in double).
std::vector<float2> Twiddles() {
  std::vector<float2> tw(kN);
  for (int t = 0; t < kN; ++t) {
    const double a = -2.0 * M_PI * t / kN;
    tw[t] = make_float2(static_cast<float>(std::cos(a)), static_cast<float>(std::sin(a)));
  }
  return tw;
}

std::vector<float> DctTable() {  // audio::bands::BandDct's (cuda_plan.cc's DctTable)
  std::vector<float> dct(RNN_BANDS * RNN_BANDS);
  for (int k = 0; k < RNN_BANDS; ++k)
    for (int n = 0; n < RNN_BANDS; ++n) {
      dct[k * RNN_BANDS + n] = std::cos((n + .5f) * k * static_cast<float>(M_PI) / RNN_BANDS);
      if (k == 0) dct[k * RNN_BANDS + n] *= std::sqrt(.5f);
    }
  return dct;
}

// SNR (dB) of b against the reference a; 999 when equal.
double Snr(const float* a, const float* b, int n) {
  double e = 0, d = 0;
  for (int i = 0; i < n; ++i) {
    e += static_cast<double>(a[i]) * a[i];
    d += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
  }
  if (d == 0) return 999;
  return e > 0 ? 10 * std::log10(e / d) : -999;
}

// Row b's frames at hop `hop`: loud (noise + tone), quiet, digital silence or near-silence by
// (b + hop) % 5.
void FillFrames(std::mt19937& rng, int rows, int hop, std::vector<float>& frames) {
  std::normal_distribution<float> g;
  for (int b = 0; b < rows; ++b)
    for (int f = 0; f < 2; ++f) {
      float* x = &frames[(2 * b + f) * static_cast<size_t>(kN)];
      const int kind = (b + hop) % 5;
      const float amp = kind == 0 ? 0.3f : kind == 1 ? 0.02f : kind == 2 ? 1.5f : kind == 3 ? 0.f : 1e-4f;
      for (int i = 0; i < kN; ++i)
        x[i] = amp * (0.5f * g(rng) + std::sin(0.037f * (i + 13 * b + 7 * hop) * (1 + f)));
    }
}

struct Net {
  int u0 = 5, u1 = 6, u2 = 7, u3 = 9;
  int A = u0 + u1 + RNN_FEATURES + 1, B = u1 + u2 + RNN_FEATURES + 3, C = u3 + 1;  // odd strides
  int S = RNN_ST_GRU + u1 + u2 + u3 + 3;
};

// Slots: permuted and distinct, from a pool two larger than the rows.
std::vector<int> Ctl(int rows) {
  std::vector<int> ctl(16 + rows, 0);
  ctl[0] = rows;
  const int slots = rows + 2;
  for (int b = 0; b < rows; ++b) ctl[16 + b] = slots - 1 - ((b * 3) % rows);
  return ctl;
}

class HostFusedFeatures : public ::testing::TestWithParam<int> {};

TEST_P(HostFusedFeatures, MatchesDoubleDftAndTheSplitKernel) {
  const int rows = GetParam();
  const Net n;
  const std::vector<int> ctl = Ctl(rows);
  const int slots = rows + 2, grid = std::min(rows, 3), hops = rows > 100 ? 3 : 8;
  std::mt19937 rng(rows);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> st_ref(static_cast<size_t>(slots) * n.S), st_fu;
  for (int s = 0; s < slots; ++s) {
    float* st = &st_ref[static_cast<size_t>(s) * n.S];
    for (int i = RNN_ST_GRU; i < n.S; ++i) st[i] = u(rng);
    reinterpret_cast<int*>(st)[RNN_ST_PERIOD] = 60 + s * 37 % 700;
  }
  std::vector<float> frames(2 * static_cast<size_t>(rows) * kN), spec_ref(2 * static_cast<size_t>(rows) * RNN_SPEC_STRIDE, 0.f),
      spec_fu = spec_ref, bd_ref(static_cast<size_t>(rows) * RNN_BD_STRIDE), bd_fu = bd_ref,
      na_ref(static_cast<size_t>(rows) * n.A, 3.f), na_fu = na_ref, nb_ref(static_cast<size_t>(rows) * n.B, 3.f),
      nb_fu = nb_ref, nc_ref(static_cast<size_t>(rows) * n.C, 3.f), nc_fu = nc_ref;
  const std::vector<float> dct = DctTable();
  const std::vector<float2> tw = Twiddles();
  const DoubleDft dft;
  int silent_rows = 0, loud_rows = 0;
  double worst_spec = 999;
  for (int t = 0; t < hops; ++t) {
    FillFrames(rng, rows, t, frames);
    st_fu = st_ref;
    for (int f = 0; f < 2 * rows; ++f) dft.Forward(&frames[f * static_cast<size_t>(kN)], &spec_ref[f * static_cast<size_t>(RNN_SPEC_STRIDE)]);
    cuda_host::LaunchGrid(grid, 128, [&] {
      rnn_features_f32(spec_ref.data(), ctl.data(), st_ref.data(), n.S, dct.data(), bd_ref.data(), na_ref.data(), n.A,
                       nb_ref.data(), n.B, nc_ref.data(), n.C, n.u0, n.u1, n.u2, n.u3);
    });
    std::vector<float> st_pre = st_fu, spec_pre = spec_fu, bd_pre = bd_fu, na_pre = na_fu, nb_pre = nb_fu,
                       nc_pre = nc_fu;
    cuda_host::LaunchGrid(grid, 128, [&] {
      rnn_spec_features_f32(frames.data(), ctl.data(), st_fu.data(), n.S, tw.data(), dct.data(), spec_fu.data(),
                            bd_fu.data(), na_fu.data(), n.A, nb_fu.data(), n.B, nc_fu.data(), n.C, n.u0, n.u1, n.u2,
                            n.u3);
    });
    // The _o10p kernel (the tail's slot-state operands loaded as the row starts): the same bits.
    cuda_host::LaunchGrid(grid, 128, [&] {
      rnn_spec_features_f32_o10p(frames.data(), ctl.data(), st_pre.data(), n.S, tw.data(), dct.data(),
                                 spec_pre.data(), bd_pre.data(), na_pre.data(), n.A, nb_pre.data(), n.B,
                                 nc_pre.data(), n.C, n.u0, n.u1, n.u2, n.u3);
    });
    ASSERT_EQ(0, std::memcmp(st_pre.data(), st_fu.data(), st_fu.size() * 4)) << "hop " << t;
    ASSERT_EQ(0, std::memcmp(spec_pre.data(), spec_fu.data(), spec_fu.size() * 4)) << "hop " << t;
    ASSERT_EQ(0, std::memcmp(bd_pre.data(), bd_fu.data(), bd_fu.size() * 4)) << "hop " << t;
    ASSERT_EQ(0, std::memcmp(na_pre.data(), na_fu.data(), na_fu.size() * 4)) << "hop " << t;
    ASSERT_EQ(0, std::memcmp(nb_pre.data(), nb_fu.data(), nb_fu.size() * 4)) << "hop " << t;
    ASSERT_EQ(0, std::memcmp(nc_pre.data(), nc_fu.data(), nc_fu.size() * 4)) << "hop " << t;
    for (int b = 0; b < rows; ++b) {
      const float* xr = &spec_ref[2 * b * static_cast<size_t>(RNN_SPEC_STRIDE)];
      const float* xf = &spec_fu[2 * b * static_cast<size_t>(RNN_SPEC_STRIDE)];
      const double sx = Snr(xr, xf, 2 * RNN_BINS), sp = Snr(xr + RNN_SPEC_STRIDE, xf + RNN_SPEC_STRIDE, 2 * RNN_BAND_END);
      if ((b + t) % 5 != 3) worst_spec = std::min({worst_spec, sx, sp});
      ASSERT_GE(sx, 100.0) << "X, hop " << t << " row " << b;
      ASSERT_GE(sp, 100.0) << "P, hop " << t << " row " << b;
      const float* br = &bd_ref[b * static_cast<size_t>(RNN_BD_STRIDE)];
      const float* bf = &bd_fu[b * static_cast<size_t>(RNN_BD_STRIDE)];
      ASSERT_EQ(br[RNN_BD_STRIDE - 1], bf[RNN_BD_STRIDE - 1]) << "silence, hop " << t << " row " << b;
      const bool silent = br[RNN_BD_STRIDE - 1] != 0.f;
      silent_rows += silent ? 1 : 0;
      loud_rows += (b + t) % 5 == 2 ? 1 : 0;
      for (int i = 0; i < 2 * RNN_BANDS; ++i)  // Ex, Ep
        ASSERT_NEAR(br[i], bf[i], 2e-5 * std::abs(br[i]) + 1e-12) << "band energy " << i << ", hop " << t << " row " << b;
      for (int i = 2 * RNN_BANDS; i < 3 * RNN_BANDS; ++i)  // normalised correlation
        ASSERT_NEAR(br[i], bf[i], 2e-5) << "band correlation " << i - 2 * RNN_BANDS << ", hop " << t << " row " << b;
      for (int i = 0; i < n.A; ++i)
        ASSERT_NEAR(na_ref[b * static_cast<size_t>(n.A) + i], na_fu[b * static_cast<size_t>(n.A) + i], 2e-4)
            << "net_a col " << i << ", hop " << t << " row " << b;
      for (int i = 0; i < n.B; ++i)
        ASSERT_NEAR(nb_ref[b * static_cast<size_t>(n.B) + i], nb_fu[b * static_cast<size_t>(n.B) + i], 2e-4)
            << "net_b col " << i << ", hop " << t << " row " << b;
      for (int i = 0; i < n.C; ++i)
        ASSERT_EQ(nc_ref[b * static_cast<size_t>(n.C) + i], nc_fu[b * static_cast<size_t>(n.C) + i]) << "net_c col " << i;
    }
    for (size_t i = 0; i < st_ref.size(); ++i) {
      const size_t k = i % n.S;
      if (k >= RNN_ST_CEPS && k < RNN_ST_CEPS + RNN_CEPS_MEM * RNN_BANDS)
        ASSERT_NEAR(st_ref[i], st_fu[i], 2e-4) << "cepstral memory, hop " << t;
      else
        ASSERT_EQ(std::memcmp(&st_ref[i], &st_fu[i], 4), 0) << "state word " << k << " of slot " << i / n.S;
    }
  }
  std::printf("rows %d: %d silent row-hops, %d loud; worst spectrum SNR vs the double DFT %.1f dB\n", rows, silent_rows,
              loud_rows, worst_spec);
  EXPECT_GT(silent_rows, 0);
  EXPECT_GT(loud_rows, 0);
}

INSTANTIATE_TEST_SUITE_P(Rows, HostFusedFeatures, ::testing::Values(1, 7, 113));

// Pitch-filter switches: 0 = RNNoise's, 1 = strength 0.5 + gain slope 3, 2 = pitch filter off,
// 3 = RNNoise's with the output's bins below 3 zeroed (metadata.rnnoise.low_cut_hz 150).
class HostFusedPost : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(HostFusedPost, MatchesPostprocessDoubleInverseDftAndSynthesis) {
  const auto [rows, pf] = GetParam();
  const Net n;
  std::vector<int> ctl = Ctl(rows);
  if (pf == 3) ctl[RNN_CTL_LOW_CUT] = 3;
  if (pf == 1 || pf == 2) {
    const float strength = pf == 1 ? 0.5f : 0.f, slope = pf == 1 ? 3.f : 0.f;
    ctl[RNN_CTL_FLAGS] = RNN_CTL_PF_CUSTOM;
    std::memcpy(&ctl[RNN_CTL_PF_STRENGTH], &strength, 4);
    std::memcpy(&ctl[RNN_CTL_PF_SLOPE], &slope, 4);
  }
  const int slots = rows + 2, grid = std::min(rows, 3), hops = rows > 100 ? 3 : 6;
  std::mt19937 rng(100 + rows + pf);
  std::uniform_real_distribution<float> u(-1.f, 1.f), u01(0.f, 1.f);
  std::vector<float> st_ref(static_cast<size_t>(slots) * n.S), st_fu, st_s16;
  for (float& v : st_ref) v = 0.1f * u(rng);
  for (int s = 0; s < slots; ++s) {
    float* st = &st_ref[static_cast<size_t>(s) * n.S];
    reinterpret_cast<int*>(st)[RNN_ST_MEMID] = s % RNN_CEPS_MEM;
    reinterpret_cast<int*>(st)[RNN_ST_PERIOD] = 100 + s;
    for (int i = 0; i < RNN_BANDS; ++i) st[RNN_ST_LASTG + i] = u01(rng);
  }
  const size_t R = static_cast<size_t>(rows);
  std::vector<float> frames(2 * R * kN), spec(2 * R * RNN_SPEC_STRIDE, 0.f), spec_ref, bd(R * RNN_BD_STRIDE),
      na(R * n.A), nb(R * n.B), nc(R * n.C), gains(R * RNN_BANDS), vad(R), y(R * kN), in(R * kHop), str(R),
      out_ref(R * kHop), out_fu(R * kHop);
  std::vector<int16_t> in16(R * kHop), out16(R * kHop);
  std::vector<RnnHopInfo> info_ref(R), info_fu(R), info_s16(R);
  const std::vector<float> dct = DctTable(), w = audio::PowerComplementaryWindow(kN);
  const std::vector<float2> tw = Twiddles();
  const DoubleDft dft;
  double worst = 999;
  int silent_rows = 0;
  for (int t = 0; t < hops; ++t) {
    // Spectra, bands and net rows from the split features path; random gains, vad, strengths.
    FillFrames(rng, rows, t, frames);
    for (size_t f = 0; f < 2 * R; ++f) dft.Forward(&frames[f * kN], &spec[f * RNN_SPEC_STRIDE]);
    cuda_host::LaunchGrid(grid, 128, [&] {
      rnn_features_f32(spec.data(), ctl.data(), st_ref.data(), n.S, dct.data(), bd.data(), na.data(), n.A, nb.data(),
                       n.B, nc.data(), n.C, n.u0, n.u1, n.u2, n.u3);
    });
    for (float& v : gains) v = u01(rng);
    for (float& v : vad) v = u01(rng);
    for (float& v : na) v = u(rng);
    for (float& v : nb) v = u(rng);
    for (float& v : nc) v = u(rng);
    for (size_t b = 0; b < R; ++b) str[b] = b % 3 == 1 ? 0.7f : 1.f;
    for (size_t i = 0; i < in.size(); ++i) {
      in16[i] = static_cast<int16_t>(std::lrint(20000.f * u(rng)));
      in[i] = in16[i] / 32768.f;
    }
    st_fu = st_ref;
    st_s16 = st_ref;
    std::vector<float> st_pre = st_ref, st_pre16 = st_ref;
    spec_ref = spec;
    cuda_host::LaunchGrid(grid, 256, [&] {
      rnn_postprocess_f32(spec_ref.data(), ctl.data(), st_ref.data(), n.S, bd.data(), gains.data(), vad.data(),
                          na.data(), n.A, nb.data(), n.B, nc.data(), n.C, n.u0, n.u1, n.u2, n.u3, info_ref.data());
    });
    for (size_t b = 0; b < R; ++b) dft.Inverse(&spec_ref[2 * b * RNN_SPEC_STRIDE], &y[b * kN]);
    cuda_host::LaunchGrid(grid, 256, [&] {
      rnn_synthesis_f32(y.data(), kN, in.data(), kHop, ctl.data(), str.data(), st_ref.data(), n.S, w.data(),
                        out_ref.data(), kHop);
    });
    cuda_host::LaunchGrid(grid, 128, [&] {
      rnn_post_synthesis_f32(spec.data(), ctl.data(), st_fu.data(), n.S, bd.data(), gains.data(), vad.data(), na.data(),
                             n.A, nb.data(), n.B, nc.data(), n.C, n.u0, n.u1, n.u2, n.u3, info_fu.data(), tw.data(),
                             in.data(), kHop, str.data(), w.data(), out_fu.data(), kHop);
    });
    cuda_host::LaunchGrid(grid, 128, [&] {
      rnn_post_synthesis_s16(spec.data(), ctl.data(), st_s16.data(), n.S, bd.data(), gains.data(), vad.data(),
                             na.data(), n.A, nb.data(), n.B, nc.data(), n.C, n.u0, n.u1, n.u2, n.u3, info_s16.data(),
                             tw.data(), in16.data(), kHop, str.data(), w.data(), out16.data(), kHop);
    });
    ASSERT_EQ(st_fu, st_s16) << "hop " << t;
    // The _o10p kernels (the synthesis operands prefetched to shared memory): the same bits.
    std::vector<float> out_pre(R * kHop);
    std::vector<int16_t> out_pre16(R * kHop);
    std::vector<RnnHopInfo> info_pre(R), info_pre16(R);
    cuda_host::LaunchGrid(grid, 128, [&] {
      rnn_post_synthesis_f32_o10p(spec.data(), ctl.data(), st_pre.data(), n.S, bd.data(), gains.data(), vad.data(),
                                  na.data(), n.A, nb.data(), n.B, nc.data(), n.C, n.u0, n.u1, n.u2, n.u3,
                                  info_pre.data(), tw.data(), in.data(), kHop, str.data(), w.data(), out_pre.data(),
                                  kHop);
    });
    cuda_host::LaunchGrid(grid, 128, [&] {
      rnn_post_synthesis_s16_o10p(spec.data(), ctl.data(), st_pre16.data(), n.S, bd.data(), gains.data(), vad.data(),
                                  na.data(), n.A, nb.data(), n.B, nc.data(), n.C, n.u0, n.u1, n.u2, n.u3,
                                  info_pre16.data(), tw.data(), in16.data(), kHop, str.data(), w.data(),
                                  out_pre16.data(), kHop);
    });
    ASSERT_EQ(st_pre, st_fu) << "hop " << t;
    ASSERT_EQ(st_pre16, st_fu) << "hop " << t;
    ASSERT_EQ(out_pre, out_fu) << "hop " << t;
    ASSERT_EQ(out_pre16, out16) << "hop " << t;
    for (size_t b = 0; b < R; ++b) {
      ASSERT_EQ(info_pre[b].vad, info_fu[b].vad);
      ASSERT_EQ(info_pre16[b].silent, info_fu[b].silent);
    }
    for (size_t b = 0; b < R; ++b) {
      ASSERT_EQ(info_ref[b].silent, info_fu[b].silent) << "hop " << t << " row " << b;
      ASSERT_EQ(info_ref[b].vad, info_fu[b].vad) << "hop " << t << " row " << b;
      ASSERT_EQ(info_fu[b].silent, info_s16[b].silent);
      ASSERT_EQ(info_fu[b].vad, info_s16[b].vad);
      silent_rows += info_ref[b].silent;
      const double snr = Snr(&out_ref[b * kHop], &out_fu[b * kHop], kHop);
      worst = std::min(worst, snr);
      ASSERT_GE(snr, 100.0) << "output, hop " << t << " row " << b;
      for (int i = 0; i < kHop; ++i) {
        const double q = std::nearbyint(static_cast<double>(out_fu[b * kHop + i]) * 32768.0);
        ASSERT_EQ(out16[b * kHop + i], static_cast<int16_t>(std::clamp(q, -32768.0, 32767.0))) << "row " << b;
      }
    }
    // The slot state: the overlap-add tail to float rounding, everything else exactly.
    for (size_t i = 0; i < st_ref.size(); ++i) {
      const size_t k = i % n.S;
      if (k >= RNN_ST_SYNTH && k < RNN_ST_SYNTH + kHop)
        ASSERT_NEAR(st_ref[i], st_fu[i], 1e-5 * (1 + std::abs(st_ref[i]))) << "synthesis tail, hop " << t;
      else
        ASSERT_EQ(std::memcmp(&st_ref[i], &st_fu[i], 4), 0) << "state word " << k << " of slot " << i / n.S;
    }
  }
  std::printf("rows %d, pitch filter %d: worst output SNR vs the split kernels + double DFT %.1f dB, %d silent row-hops\n",
              rows, pf, worst, silent_rows);
  EXPECT_GT(silent_rows, 0);
}

// (113 rows with RNNoise's pitch filter only: the switches change no row logic; keeps the test short.)
INSTANTIATE_TEST_SUITE_P(RowsAndPitchFilter, HostFusedPost,
                         ::testing::Values(std::tuple{1, 0}, std::tuple{1, 1}, std::tuple{1, 2}, std::tuple{7, 0},
                                           std::tuple{7, 1}, std::tuple{7, 2}, std::tuple{7, 3},
                                           std::tuple{113, 0}));

std::vector<float> SpeechLike(size_t n, uint32_t seed, double f0) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    const double t = double(i) / 48000;
    const double env = std::max(0.0, std::sin(2 * M_PI * 3 * t));
    x[i] = static_cast<float>(0.2 * env * (std::sin(2 * M_PI * f0 * t) + 0.5 * std::sin(4 * M_PI * f0 * t + 1))) +
           0.01f * g(rng);
    if (std::fmod(t, 0.5) > 0.4) x[i] = 0.f;  // pauses: silent hops
  }
  return x;
}

// frontend -> rnn_spec_features_f32 -> CPU network -> rnn_post_synthesis_f32, 3 sessions of the
// default model, against ProcessHop.
TEST(HostFusedPipeline, DefaultModelMatchesProcessHop) {
  RnnoiseHostModel hm;
  if (const absl::Status st = LoadRnnoiseHostModel(&hm); absl::IsFailedPrecondition(st)) GTEST_SKIP() << st;
  else ASSERT_TRUE(st.ok()) << st;
  const models::Model& m = *hm.model;
  const std::unique_ptr<models::Family>* fam = &hm.fam;
  const kernels::DenseParams &in_d = hm.in_d, &vad_d = hm.vad_d, &out_d = hm.out_d;
  const kernels::GruParams &vg = hm.vg, &ng = hm.ng, &dg = hm.dg;
  const int u0 = hm.u0, u1 = hm.u1, u2 = hm.u2, u3 = hm.u3, A = hm.A, B = hm.B, C = hm.C, S = hm.S;
  constexpr int R = 3, kHops = 48;
  std::vector<int> ctl(16 + R, 0);
  ctl[0] = R;
  // The model's DSP switches (metadata.rnnoise), as CudaPlan puts them in every control block.
  const absl::Status dsp = WriteRnnoiseDspHeader(m, ctl.data());
  ASSERT_TRUE(dsp.ok()) << dsp;
  for (int b = 0; b < R; ++b) ctl[16 + b] = R - 1 - b;
  std::vector<float> state(R * S, 0.f), frames(2 * R * kN), spec(2 * R * RNN_SPEC_STRIDE), bands(R * RNN_BD_STRIDE),
      na(R * A), nb(R * B), nc(R * C), gains(R * RNN_BANDS), vad(R), in(R * kHop), out(R * kHop), ref(kHop);
  std::vector<RnnHopInfo> info(R);
  const std::vector<float> w = audio::PowerComplementaryWindow(kN), dct = DctTable();
  const std::vector<float2> tw = Twiddles();
  const float str[R] = {1.f, 0.8f, 1.f};
  std::vector<float> scratch(kernels::GruScratchFloats(std::max({u1, u2, u3})));
  const int avx2 = kernels::ActiveSimd() == kernels::SimdLevel::kAvx2 ? 1 : 0;
  std::vector<std::vector<float>> sig = {SpeechLike(kHop * kHops, 9, 140), SpeechLike(kHop * kHops, 10, 210),
                                         SpeechLike(kHop * kHops, 11, 95)};
  std::vector<std::unique_ptr<models::ChannelState>> ch;
  for (int s = 0; s < R; ++s) ch.push_back((*fam)->NewChannel());
  std::vector<double> e(R, 0), d(R, 0);
  int silent = 0;
  for (int t = 0; t < kHops; ++t) {
    for (int b = 0; b < R; ++b) std::copy_n(&sig[b][t * kHop], kHop, &in[b * kHop]);
    cuda_host::LaunchGrid(2, 128, [&] { rnn_frontend_f32(in.data(), kHop, ctl.data(), state.data(), S, w.data(), frames.data(), avx2); });
    cuda_host::LaunchGrid(2, 128, [&] {
      rnn_spec_features_f32(frames.data(), ctl.data(), state.data(), S, tw.data(), dct.data(), spec.data(), bands.data(),
                            na.data(), A, nb.data(), B, nc.data(), C, u0, u1, u2, u3);
    });
    for (int b = 0; b < R; ++b) {
      float *a = &na[b * A], *bb = &nb[b * B], *c = &nc[b * C];
      kernels::Dense(in_d, &a[u0 + u1], &a[0]);
      kernels::GruStep(vg, &a[0], &a[u0], scratch.data());
      kernels::Dense(vad_d, &a[u0], &vad[b]);
      std::copy_n(&a[u0], u1, &bb[0]);
      kernels::GruStep(ng, &a[0], &bb[u1], scratch.data());
      kernels::GruStep(dg, &bb[0], &c[0], scratch.data());
      kernels::Dense(out_d, &c[0], &gains[b * RNN_BANDS]);
    }
    cuda_host::LaunchGrid(2, 128, [&] {
      rnn_post_synthesis_f32(spec.data(), ctl.data(), state.data(), S, bands.data(), gains.data(), vad.data(), na.data(),
                             A, nb.data(), B, nc.data(), C, u0, u1, u2, u3, info.data(), tw.data(), in.data(), kHop, str,
                             w.data(), out.data(), kHop);
    });
    for (int b = 0; b < R; ++b) {
      const models::HopInfo hi = (*fam)->ProcessHop(*ch[b], &in[b * kHop], ref.data(), str[b]);
      ASSERT_EQ(info[b].silent != 0, hi.silent) << "hop " << t << " session " << b;
      silent += hi.silent ? 1 : 0;
      for (int i = 0; i < kHop; ++i) {
        e[b] += static_cast<double>(ref[i]) * ref[i];
        d[b] += (static_cast<double>(out[b * kHop + i]) - ref[i]) * (static_cast<double>(out[b * kHop + i]) - ref[i]);
      }
    }
  }
  EXPECT_GT(silent, 0);
  for (int b = 0; b < R; ++b) {
    const double snr = d[b] == 0 ? 999 : 10 * std::log10(e[b] / d[b]);
    std::printf("fused kernels vs ProcessHop, session %d: SNR of the difference %.1f dB\n", b, snr);
    EXPECT_GE(snr, 90.0) << "session " << b;
  }
}

}  // namespace
}  // namespace ghostnv::sched
