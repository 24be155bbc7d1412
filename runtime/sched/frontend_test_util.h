// runtime/sched/frontend_test_util.h — the parallel-order CPU frontend (audio/pitch_parallel:
// the CPU twin of kernels/rnnoise_pitch.cu's rnn_frontend_relaxed_*) one hop at a time, as the
// frontend kernels' tests compare it: rnnoise_kernels_host_test.cc (the kernels on the host
// shim) and cuda_plan_test.cc (on the GPU).
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#include "audio/pitch.h"
#include "audio/pitch_parallel.h"

namespace ghostnv::sched::testing_frontend {

constexpr int kFrontendHop = 480;
constexpr int kFrontendWindow = 960;

// avx2: the AVX2/FMA build (parallel_avx2; only where kernels::CpuHasAvx2Fma()), else the
// portable one. hp_on = false: no high-pass (the kernels' RNN_CTL_NO_HIGHPASS).
struct ParallelCpuFrontend {
  bool avx2 = false, hp_on = true;
  float mem[2] = {0.f, 0.f};
  float analysis[kFrontendHop] = {};
  float pitch_buf[audio::pitch::kBuf] = {};
  int last_period = 0;
  float last_gain = 0;
  // One hop: the windowed analysis frame and pitch frame (kFrontendWindow each); the period and
  // gain in last_period / last_gain.
  void Hop(const float* in, const std::vector<float>& w, float* frame, float* pframe) {
    namespace pitch = audio::pitch;
    float x[kFrontendHop];
    if (avx2) pitch::parallel_avx2::HighpassParallel(in, x, mem, hp_on);
    else pitch::parallel_generic::HighpassParallel(in, x, mem, hp_on);
    for (int i = 0; i < kFrontendHop; ++i) {
      frame[i] = analysis[i] * w[i];
      frame[kFrontendHop + i] = x[i] * w[kFrontendHop + i];
    }
    std::copy(x, x + kFrontendHop, analysis);
    std::memmove(pitch_buf, pitch_buf + kFrontendHop, (pitch::kBuf - kFrontendHop) * sizeof(float));
    std::copy(x, x + kFrontendHop, pitch_buf + pitch::kBuf - kFrontendHop);
    const pitch::ParallelPitch p = avx2 ? pitch::parallel_avx2::AnalyseParallel(pitch_buf, last_period, last_gain)
                                        : pitch::parallel_generic::AnalyseParallel(pitch_buf, last_period, last_gain);
    last_period = p.period;
    last_gain = p.gain;
    const float* src = pitch_buf + pitch::kBuf - kFrontendWindow - p.period;
    for (int i = 0; i < kFrontendWindow; ++i) pframe[i] = src[i] * w[i];
  }
};

}  // namespace ghostnv::sched::testing_frontend
