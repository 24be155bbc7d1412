// runtime/sched/frontend_test_util.h — the CPU frontend (high-pass, analysis frame, pitch
// analysis, pitch-delayed frame) one hop at a time, as the frontend kernels' tests compare it:
// rnnoise_kernels_host_test.cc (the kernels on the host shim) and cuda_plan_test.cc (on the
// GPU). Sequential order: audio/filters + audio/pitch (the rnn_frontend_* kernels' twin);
// parallel order: audio/pitch_parallel (rnn_frontend_relaxed_*'s twin), either build.
#pragma once

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "audio/filters.h"
#include "audio/pitch.h"
#include "audio/pitch_parallel.h"

namespace ghostnv::sched::testing_frontend {

constexpr int kFrontendHop = 480;
constexpr int kFrontendWindow = 960;

struct CpuFrontend {
  // kParallelAvx2: audio/pitch_parallel's AVX2/FMA build (only where kernels::CpuHasAvx2Fma()),
  // kParallel its portable build.
  enum class Order { kSequential, kParallel, kParallelAvx2 };
  Order order = Order::kSequential;
  bool hp_on = true;  // false: no high-pass (the kernels' RNN_CTL_NO_HIGHPASS)
  audio::Biquad hp{std::array<float, 2>{-2.f, 1.f}.data(), std::array<float, 2>{-1.99599f, 0.99600f}.data()};
  float mem[2] = {0.f, 0.f};  // the parallel order's high-pass memory
  float analysis[kFrontendHop] = {};
  float pitch_buf[audio::pitch::kBuf] = {};
  int last_period = 0;
  float last_gain = 0;

  // One hop: the windowed analysis frame and pitch frame (kFrontendWindow each); the period and
  // the gain in last_period / last_gain (and *period / *gain when given).
  void Hop(const float* in, const std::vector<float>& w, float* frame, float* pframe, int* period = nullptr,
           float* gain = nullptr) {
    namespace pitch = audio::pitch;
    float x[kFrontendHop];
    if (order == Order::kParallelAvx2) pitch::parallel_avx2::HighpassParallel(in, x, mem, hp_on);
    else if (order == Order::kParallel) pitch::parallel_generic::HighpassParallel(in, x, mem, hp_on);
    else if (hp_on) hp.Process(in, x, kFrontendHop);
    else std::copy(in, in + kFrontendHop, x);
    for (int i = 0; i < kFrontendHop; ++i) {
      frame[i] = analysis[i] * w[i];
      frame[kFrontendHop + i] = x[i] * w[kFrontendHop + i];
    }
    std::copy(x, x + kFrontendHop, analysis);
    std::memmove(pitch_buf, pitch_buf + kFrontendHop, (pitch::kBuf - kFrontendHop) * sizeof(float));
    std::copy(x, x + kFrontendHop, pitch_buf + pitch::kBuf - kFrontendHop);
    if (order == Order::kSequential) {
      float lp[pitch::kBuf / 2];
      pitch::PitchDownsample(pitch_buf, lp, pitch::kBuf);
      int p;
      pitch::PitchSearch(lp + pitch::kMaxPeriod / 2, lp, pitch::kFrame, pitch::kMaxPeriod - 3 * pitch::kMinPeriod, &p);
      p = pitch::kMaxPeriod - p;
      last_gain = pitch::RemoveDoubling(lp, pitch::kMaxPeriod, pitch::kMinPeriod, pitch::kFrame, &p, last_period,
                                        last_gain);
      last_period = p;
    } else {
      const pitch::ParallelPitch p = order == Order::kParallelAvx2
                                         ? pitch::parallel_avx2::AnalyseParallel(pitch_buf, last_period, last_gain)
                                         : pitch::parallel_generic::AnalyseParallel(pitch_buf, last_period, last_gain);
      last_period = p.period;
      last_gain = p.gain;
    }
    const float* src = pitch_buf + pitch::kBuf - kFrontendWindow - last_period;
    for (int i = 0; i < kFrontendWindow; ++i) pframe[i] = src[i] * w[i];
    if (period != nullptr) *period = last_period;
    if (gain != nullptr) *gain = last_gain;
  }
};

}  // namespace ghostnv::sched::testing_frontend
