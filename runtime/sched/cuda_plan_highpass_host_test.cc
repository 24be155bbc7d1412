// runtime/sched/cuda_plan_highpass_host_test.cc — CudaPlanOptions::lane_highpass without a GPU
// (label unit): kernels/rnnoise_pitch.cu compiled as C++ and run on host threads
// (cuda_host_shim.h). The split frontend (rnn_highpass_f32/_s16, one lane per row, then
// rnn_frontend_hp) must give the fused frontend's frames and state bit for bit — the fused
// kernel is itself bit-identical to the CPU's audio/filters + audio/pitch
// (rnnoise_kernels_host_test.cc) — at odd row counts (1, 5, 7, 113, 129: partial warps and
// blocks), with permuted slots, float and 16-bit PCM rows, over many hops (the high-pass memory
// and the pitch history carry over), and rows past the count untouched.
// CudaPlanOptions::lane_pitch the same way: rnn_pitch_lanes_f32/_s16 (every serial chain one
// lane per row, into the pitch scratch) then rnn_frontend_pre, against the fused frontend, with
// the scalar and the AVX2 summation orders (avx2 = 0 / 1) both.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "audio/filters.h"
#include "gtest/gtest.h"
#include "kernels/cpu.h"

// Last: the shim's macros (threadIdx, __shared__, ...) must not reach other headers.
#include "runtime/sched/cuda_host_shim.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpedantic"
#include "kernels/rnnoise_pitch.cu"
#pragma GCC diagnostic pop

namespace ghostnv::sched {
namespace {

constexpr int kHop = RNN_HOP;
constexpr int kStride = RNN_ST_GRU + 8;

// Rows of voiced-like signal with a per-row pitch and level, pauses and a DC offset.
float Sample(int row, long long t, std::mt19937& rng) {
  std::normal_distribution<float> g;
  const double f0 = 90 + 23 * (row % 11), sec = double(t) / 48000;
  const double env = std::max(0.0, std::sin(2 * M_PI * (2 + row % 3) * sec));
  float x = static_cast<float>(0.3 * env * (std::sin(2 * M_PI * f0 * sec) + 0.4 * std::sin(4 * M_PI * f0 * sec + 1)) +
                               0.02 + 0.01 * g(rng));
  if (std::fmod(sec + 0.1 * row, 0.5) > 0.42) x = 0.f;
  return x;
}

// lane_pitch = false: rnn_highpass_* + rnn_frontend_hp; true: rnn_pitch_lanes_* + rnn_frontend_pre.
// ctl_flags: the control block's RNN_CTL_FLAGS (the model's DSP switches). b_bits: OR'ed into
// the split path's avx2 argument (4: inner products one lane each, 8: rnn_xcorr_lag3).
void RunCase(int rows, bool pcm16, bool lane_pitch = false, int avx2_override = -1, int ctl_flags = 0,
             int b_bits = 0) {
  SCOPED_TRACE(::testing::Message() << rows << " rows, " << (pcm16 ? "pcm16" : "float")
                                    << (lane_pitch ? ", lane pitch" : ", lane high-pass") << ", flags " << ctl_flags);
  const int slots = rows + 3, hops = 10;
  const int avx2 =
      avx2_override >= 0 ? avx2_override : kernels::ActiveSimd() == kernels::SimdLevel::kAvx2 ? 1 : 0;
  const std::vector<float> w = audio::PowerComplementaryWindow(RNN_WINDOW);
  std::vector<int> ctl(16 + rows + 4, 0);
  ctl[0] = rows;
  ctl[RNN_CTL_FLAGS] = ctl_flags;
  for (int b = 0; b < rows; ++b) ctl[16 + b] = (b * 5 + 2) % slots;  // permuted, distinct (5 and slots coprime)
  if (slots % 5 == 0)
    for (int b = 0; b < rows; ++b) ctl[16 + b] = slots - 1 - b;
  std::vector<float> st_a(size_t(slots) * kStride, 0.f), st_b = st_a;
  // One row more than the count in the frame buffers: it must stay untouched (sentinel).
  std::vector<float> fr_a(size_t(2 * (rows + 1)) * RNN_WINDOW, 7.f), fr_b = fr_a;
  std::vector<float> in_f(size_t(rows + 1) * kHop);
  std::vector<int16_t> in_s(in_f.size());
  std::mt19937 rng(rows * 2 + pcm16);
  const int blocks = (rows + 127) / 128, fe_blocks = std::min(rows, 3);
  const int lane_blocks = (rows + 32 * RNN_LANE_WARPS - 1) / (32 * RNN_LANE_WARPS);
  std::vector<float> ps(size_t(rows + 1) * RNN_PS_STRIDE, 5.f);
  for (int t = 0; t < hops; ++t) {
    for (int b = 0; b <= rows; ++b)
      for (int i = 0; i < kHop; ++i) {
        const float x = Sample(b, static_cast<long long>(t) * kHop + i, rng) * (b % 4 == 1 ? 4.f : 1.f);
        in_s[size_t(b) * kHop + i] = static_cast<int16_t>(std::clamp(std::lrint(x * 32768.f), -32768L, 32767L));
        in_f[size_t(b) * kHop + i] = pcm16 ? in_s[size_t(b) * kHop + i] / 32768.f : x;
      }
    if (pcm16) {
      cuda_host::LaunchGrid(fe_blocks, 128, [&] {
        rnn_frontend_s16(in_s.data(), kHop, ctl.data(), st_a.data(), kStride, w.data(), fr_a.data(), avx2);
      });
      if (lane_pitch)
        cuda_host::LaunchGrid(lane_blocks, 32 * RNN_LANE_WARPS, [&] {
          rnn_pitch_lanes_s16(in_s.data(), kHop, ctl.data(), st_b.data(), kStride, fr_b.data(), ps.data(), avx2);
        });
      else
        cuda_host::LaunchGrid(blocks, 128,
                              [&] { rnn_highpass_s16(in_s.data(), kHop, ctl.data(), st_b.data(), kStride, fr_b.data()); });
    } else {
      cuda_host::LaunchGrid(fe_blocks, 128, [&] {
        rnn_frontend_f32(in_f.data(), kHop, ctl.data(), st_a.data(), kStride, w.data(), fr_a.data(), avx2);
      });
      if (lane_pitch)
        cuda_host::LaunchGrid(lane_blocks, 32 * RNN_LANE_WARPS, [&] {
          rnn_pitch_lanes_f32(in_f.data(), kHop, ctl.data(), st_b.data(), kStride, fr_b.data(), ps.data(), avx2);
        });
      else
        cuda_host::LaunchGrid(blocks, 128,
                              [&] { rnn_highpass_f32(in_f.data(), kHop, ctl.data(), st_b.data(), kStride, fr_b.data()); });
    }
    // rnn_frontend_hp / _pre do not read `in` (any valid pointer).
    if (lane_pitch) {
      for (size_t i = size_t(rows) * RNN_PS_STRIDE; i < ps.size(); ++i) ASSERT_EQ(ps[i], 5.f) << "scratch past the count";
      cuda_host::LaunchGrid(fe_blocks, 128, [&] {
        rnn_frontend_pre(in_f.data(), kHop, ctl.data(), st_b.data(), kStride, w.data(), fr_b.data(), avx2 | b_bits,
                         ps.data());
      });
    } else {
      cuda_host::LaunchGrid(fe_blocks, 128, [&] {
        rnn_frontend_hp(in_f.data(), kHop, ctl.data(), st_b.data(), kStride, w.data(), fr_b.data(), avx2 | b_bits);
      });
    }
    ASSERT_EQ(fr_a, fr_b) << "hop " << t;
    ASSERT_EQ(st_a, st_b) << "hop " << t;
    if (ctl_flags & RNN_CTL_NO_HIGHPASS) {  // the raw hop is the pitch history's newest part
      for (int b = 0; b < rows; ++b) {
        const float* st = &st_b[size_t(ctl[16 + b]) * kStride];
        ASSERT_EQ(st[RNN_ST_HP], 0.f);
        ASSERT_EQ(st[RNN_ST_HP + 1], 0.f);
        for (int i = 0; i < kHop; i += 37)
          ASSERT_EQ(st[RNN_ST_PITCH + RNN_PITCH_BUF - kHop + i], in_f[size_t(b) * kHop + i]) << "row " << b;
      }
    }
    for (size_t i = size_t(2 * rows) * RNN_WINDOW; i < fr_b.size(); ++i) ASSERT_EQ(fr_b[i], 7.f) << "past the count";
  }
  // The pitch path really ran: some period differs from the initial one somewhere.
  bool moved = false;
  for (int s = 0; s < slots; ++s)
    moved = moved || reinterpret_cast<const int*>(&st_b[size_t(s) * kStride])[RNN_ST_PERIOD] != 0;
  EXPECT_TRUE(moved);
}

TEST(HostLaneHighpass, SplitFrontendMatchesTheFusedOneBitForBit) {
  for (int rows : {1, 7, 129}) RunCase(rows, false);
  for (int rows : {5, 113}) RunCase(rows, true);
}

TEST(HostLanePitch, LaneChainsThenSearchMatchTheFusedFrontendBitForBit) {
  for (int avx2 : {1, 0}) {
    SCOPED_TRACE(::testing::Message() << "avx2 " << avx2);
    for (int rows : {1, 7, 65}) RunCase(rows, false, true, avx2);
    for (int rows : {5, 33}) RunCase(rows, true, true, avx2);
  }
}

// A model without the input high-pass (metadata.rnnoise.highpass = false -> RNN_CTL_NO_HIGHPASS):
// all three frontends use the raw hop, leave the high-pass state alone, and agree bit for bit.
// GHOSTNV_CUDA_PLAN_XCORR3 (three coarse lags per thread) and GHOSTNV_CUDA_PLAN_WARP_INNER=0
// (inner products one lane each) in the split frontends: the fused frontend's bits.
TEST(HostLanePitch, XcorrThreeLagsAndOneLaneInnerProducts) {
  for (int avx2 : {1, 0}) {
    RunCase(7, false, false, avx2, 0, 8);
    RunCase(33, true, true, avx2, 0, 8 | 4);
  }
}

TEST(HostLanePitch, NoHighpassFlagInEveryFrontend) {
  RunCase(65, false, true, 1, RNN_CTL_NO_HIGHPASS);
  RunCase(7, true, true, 0, RNN_CTL_NO_HIGHPASS);
  RunCase(33, true, false, -1, RNN_CTL_NO_HIGHPASS);
}

}  // namespace
}  // namespace ghostnv::sched
