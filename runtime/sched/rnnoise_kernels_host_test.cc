// runtime/sched/rnnoise_kernels_host_test.cc — the RNNoise pipeline's CUDA kernels compiled as
// C++ and run on host threads (cuda_host_shim.h), against the CPU family, without a GPU
// (label unit). It checks the kernels' arithmetic and logic everywhere CI runs; the GPU tests
// (cuda_plan_test.cc) check the same on the device.
//  - the frontend (high-pass, pitch analysis, frames) is bit-identical to audio/filters +
//    audio/pitch in both summation orders (AVX2 and scalar);
//  - frontend -> CPU FFT -> features -> CPU network -> postprocess -> CPU iFFT -> synthesis
//    reproduces models::Family::ProcessHop (only the band sums round differently): >= 100 dB.
#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "audio/fft.h"
#include "audio/filters.h"
#include "audio/pitch.h"
#include "gtest/gtest.h"
#include "kernels/cpu.h"
#include "kernels/dense.h"
#include "kernels/gru.h"
#include "models/family.h"
#include "models/model_loader.h"

// Last: the shim's macros (threadIdx, __shared__, ...) must not reach other headers.
#include "runtime/sched/cuda_host_shim.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpedantic"
#include "kernels/rnnoise_pitch.cu"
#include "kernels/rnnoise_features.cu"
#pragma GCC diagnostic pop

namespace ghostnv::sched {
namespace {

namespace pitch = audio::pitch;
constexpr int kHop = RNN_HOP;

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

struct CpuFrontend {
  audio::Biquad hp{std::array<float, 2>{-2.f, 1.f}.data(), std::array<float, 2>{-1.99599f, 0.99600f}.data()};
  float analysis[kHop] = {};
  float pitch_buf[pitch::kBuf] = {};
  int last_period = 0;
  float last_gain = 0;
  void Hop(const float* in, const std::vector<float>& w, float* frame, float* pframe, int* period, float* gain) {
    float x[kHop];
    hp.Process(in, x, kHop);
    for (int i = 0; i < kHop; ++i) {
      frame[i] = analysis[i] * w[i];
      frame[kHop + i] = x[i] * w[kHop + i];
    }
    std::copy(x, x + kHop, analysis);
    std::memmove(pitch_buf, pitch_buf + kHop, (pitch::kBuf - kHop) * sizeof(float));
    std::copy(x, x + kHop, pitch_buf + pitch::kBuf - kHop);
    float lp[pitch::kBuf / 2];
    pitch::PitchDownsample(pitch_buf, lp, pitch::kBuf);
    int p;
    pitch::PitchSearch(lp + pitch::kMaxPeriod / 2, lp, pitch::kFrame, pitch::kMaxPeriod - 3 * pitch::kMinPeriod, &p);
    p = pitch::kMaxPeriod - p;
    const float g = pitch::RemoveDoubling(lp, pitch::kMaxPeriod, pitch::kMinPeriod, pitch::kFrame, &p, last_period,
                                          last_gain);
    last_period = p;
    last_gain = g;
    const float* src = pitch_buf + pitch::kBuf - RNN_WINDOW - p;
    for (int i = 0; i < RNN_WINDOW; ++i) pframe[i] = src[i] * w[i];
    *period = p;
    *gain = g;
  }
};

class HostFrontend : public ::testing::TestWithParam<bool> {};

TEST_P(HostFrontend, MatchesTheCpuBitForBit) {
  const bool scalar = GetParam();
  if (!scalar && !kernels::CpuHasAvx2Fma()) GTEST_SKIP() << "this CPU has no AVX2/FMA";
  kernels::ForceScalar(scalar);
  constexpr int kRows = 3, kStride = RNN_ST_GRU + 5, kHops = 30;
  std::vector<std::vector<float>> sig = {SpeechLike(kHop * kHops, 1, 110), SpeechLike(kHop * kHops, 2, 230)};
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  sig.emplace_back(kHop * kHops);
  for (float& v : sig.back()) v = u(rng);  // white noise
  const std::vector<float> w = audio::PowerComplementaryWindow(RNN_WINDOW);
  std::vector<int> ctl(16 + kRows, 0);
  ctl[0] = kRows;
  for (int b = 0; b < kRows; ++b) ctl[16 + b] = kRows - 1 - b;
  std::vector<float> state(kRows * kStride, 0.f), in(kRows * kHop), frames(2 * kRows * RNN_WINDOW);
  std::vector<CpuFrontend> cpu(kRows);
  const int avx2 = scalar ? 0 : 1;
  for (int t = 0; t < kHops; ++t) {
    for (int b = 0; b < kRows; ++b) std::copy_n(&sig[b][t * kHop], kHop, &in[b * kHop]);
    cuda_host::Launch(128, [&] {
      rnn_frontend_f32(in.data(), kHop, ctl.data(), state.data(), kStride, w.data(), frames.data(), avx2);
    });
    for (int b = 0; b < kRows; ++b) {
      SCOPED_TRACE(::testing::Message() << "hop " << t << " row " << b);
      float frame[RNN_WINDOW], pframe[RNN_WINDOW], gain;
      int period;
      cpu[b].Hop(&in[b * kHop], w, frame, pframe, &period, &gain);
      const float* st = &state[(kRows - 1 - b) * kStride];
      int host_period;
      std::memcpy(&host_period, &st[RNN_ST_PERIOD], 4);
      ASSERT_EQ(host_period, period);
      ASSERT_EQ(st[RNN_ST_LAST_GAIN], gain);
      ASSERT_EQ(std::memcmp(&frames[2 * b * RNN_WINDOW], frame, sizeof frame), 0);
      ASSERT_EQ(std::memcmp(&frames[(2 * b + 1) * RNN_WINDOW], pframe, sizeof pframe), 0);
    }
  }
  kernels::ForceScalar(false);
}

INSTANTIATE_TEST_SUITE_P(SumOrder, HostFrontend, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "scalar" : "avx2"; });

kernels::DenseParams DenseOf(const models::Layer& l, kernels::MathMode m) {
  kernels::DenseParams p;
  p.inputs = l.inputs;
  p.units = l.units;
  p.weights = l.weights;
  p.bias = l.bias;
  p.activation = l.activation;
  p.math = m;
  return p;
}
kernels::GruParams GruOf(const models::Layer& l, kernels::MathMode m) {
  kernels::GruParams p;
  p.inputs = l.inputs;
  p.units = l.units;
  p.weights = l.weights;
  p.recurrent = l.recurrent;
  p.bias = l.bias;
  p.recurrent_bias = l.recurrent_bias;
  p.activation = l.activation;
  p.math = m;
  p.reset_after = l.reset_after;
  return p;
}

TEST(HostPipeline, DefaultModelMatchesProcessHop) {
  const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
  if (src == nullptr) GTEST_SKIP() << "GHOSTNV_SOURCE_DIR not set";
  absl::StatusOr<std::shared_ptr<const models::Model>> model =
      models::LoadModel(std::string(src) + "/models/weights/default.gnvm");
  ASSERT_TRUE(model.ok()) << model.status();
  const models::Model& m = **model;
  absl::StatusOr<std::unique_ptr<models::Family>> fam = models::CreateFamily(*model);
  ASSERT_TRUE(fam.ok()) << fam.status();
  auto ch = (*fam)->NewChannel();
  const kernels::DenseParams in_d = DenseOf(*m.FindLayer("input_dense"), m.math),
                             vad_d = DenseOf(*m.FindLayer("vad_output"), m.math),
                             out_d = DenseOf(*m.FindLayer("denoise_output"), m.math);
  const kernels::GruParams vg = GruOf(*m.FindLayer("vad_gru"), m.math), ng = GruOf(*m.FindLayer("noise_gru"), m.math),
                           dg = GruOf(*m.FindLayer("denoise_gru"), m.math);
  const int u0 = in_d.units, u1 = vg.units, u2 = ng.units, u3 = dg.units;
  const int A = u0 + u1 + RNN_FEATURES + 1, B = u1 + u2 + RNN_FEATURES + 3, C = u3 + 1;  // odd strides
  const int S = RNN_ST_GRU + u1 + u2 + u3;
  std::vector<float> state(S, 0.f), frames(2 * RNN_WINDOW), spec(2 * RNN_SPEC_STRIDE), bands(RNN_BD_STRIDE),
      na(A), nb(B), nc(C), gains(RNN_BANDS), vad(1), y(RNN_WINDOW), out(kHop), ref(kHop);
  std::vector<RnnHopInfo> info(1);
  const std::vector<float> w = audio::PowerComplementaryWindow(RNN_WINDOW);
  std::vector<float> dct(RNN_BANDS * RNN_BANDS);
  for (int k = 0; k < RNN_BANDS; ++k)
    for (int n = 0; n < RNN_BANDS; ++n) {
      dct[k * RNN_BANDS + n] = std::cos((n + .5f) * k * static_cast<float>(M_PI) / RNN_BANDS);
      if (k == 0) dct[k * RNN_BANDS + n] *= std::sqrt(.5f);
    }
  std::vector<int> ctl(17, 0);
  ctl[0] = 1;
  const float strength = 0.9f;
  audio::RealFft fft(RNN_WINDOW);
  std::vector<float> scratch(kernels::GruScratchFloats(std::max({u1, u2, u3})));
  const int avx2 = kernels::ActiveSimd() == kernels::SimdLevel::kAvx2 ? 1 : 0;
  const std::vector<float> x = SpeechLike(kHop * 60, 9, 140);
  auto* X = reinterpret_cast<std::complex<float>*>(spec.data());
  auto* P = reinterpret_cast<std::complex<float>*>(spec.data() + RNN_SPEC_STRIDE);
  double e = 0, d = 0;
  int silent = 0;
  for (size_t t = 0; t + kHop <= x.size(); t += kHop) {
    const float* in = &x[t];
    cuda_host::Launch(128, [&] { rnn_frontend_f32(in, kHop, ctl.data(), state.data(), S, w.data(), frames.data(), avx2); });
    fft.Forward(&frames[0], X);
    fft.Forward(&frames[RNN_WINDOW], P);
    cuda_host::Launch(128, [&] {
      rnn_features_f32(spec.data(), ctl.data(), state.data(), S, dct.data(), bands.data(), na.data(), A, nb.data(), B,
                       nc.data(), C, u0, u1, u2, u3);
    });
    kernels::Dense(in_d, &na[u0 + u1], &na[0]);
    kernels::GruStep(vg, &na[0], &na[u0], scratch.data());
    kernels::Dense(vad_d, &na[u0], vad.data());
    std::copy_n(&na[u0], u1, &nb[0]);  // rnn_copy_cols_f32
    kernels::GruStep(ng, &na[0], &nb[u1], scratch.data());
    kernels::GruStep(dg, &nb[0], &nc[0], scratch.data());
    kernels::Dense(out_d, &nc[0], gains.data());
    cuda_host::Launch(256, [&] {
      rnn_postprocess_f32(spec.data(), ctl.data(), state.data(), S, bands.data(), gains.data(), vad.data(), na.data(),
                          A, nb.data(), B, nc.data(), C, u0, u1, u2, u3, info.data());
    });
    fft.Inverse(X, y.data());
    cuda_host::Launch(256, [&] {
      rnn_synthesis_f32(y.data(), RNN_WINDOW, in, kHop, ctl.data(), &strength, state.data(), S, w.data(), out.data(),
                        kHop);
    });
    const models::HopInfo hi = (*fam)->ProcessHop(*ch, in, ref.data(), strength);
    ASSERT_EQ(info[0].silent != 0, hi.silent) << "hop " << t / kHop;
    silent += hi.silent ? 1 : 0;
    for (int i = 0; i < kHop; ++i) {
      e += static_cast<double>(ref[i]) * ref[i];
      d += (static_cast<double>(out[i]) - ref[i]) * (static_cast<double>(out[i]) - ref[i]);
    }
  }
  EXPECT_GT(silent, 0);
  EXPECT_LT(silent, 60);
  const double snr = d == 0 ? 999 : 10 * std::log10(e / d);
  std::printf("host-emulated kernels vs ProcessHop: SNR of the difference %.1f dB (%d silent hops)\n", snr, silent);
  EXPECT_GE(snr, 100.0);
}

}  // namespace
}  // namespace ghostnv::sched
