// runtime/sched/cuda_plan_highpass_host_test.cc — CudaPlanOptions::lane_highpass without a GPU
// (label unit): kernels/rnnoise_pitch.cu compiled as C++ and run on host threads
// (cuda_host_shim.h). The split frontend (rnn_highpass_f32/_s16, one lane per row, then
// rnn_frontend_hp) must give the fused frontend's frames and state bit for bit — the fused
// kernel is itself bit-identical to the CPU's audio/filters + audio/pitch
// (rnnoise_kernels_host_test.cc) — at odd row counts (1, 5, 7, 113, 129: partial warps and
// blocks), with permuted slots, float and 16-bit PCM rows, over many hops (the high-pass memory
// and the pitch history carry over), and rows past the count untouched.
// Both summation orders (avx2 = 0 / 1) and the one-lane inner products (avx2 | 4) in the split
// path. The pitch history is a ring (RNN_ST_PITCH_HEAD): read in order, its newest hop is the
// (high-passed) input.
// Also CudaPlanOptions::lane_chains, alone and with lane_highpass: rnn_frontend_lp_f32/_s16 (or
// rnn_highpass_* + rnn_frontend_lp_hp) -> rnn_lpc_lanes -> rnn_frontend_tail through the scratch,
// against the fused frontend, the same way.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "audio/filters.h"
#include "gtest/gtest.h"
#include "kernels/cpu.h"

// Last: the shim's macros (threadIdx, __shared__, ...) must not reach other headers.
#include "runtime/sched/rnnoise_host_kernels.h"

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

// rnn_highpass_* + rnn_frontend_hp against rnn_frontend_*. ctl_flags: the control block's
// RNN_CTL_FLAGS (the model's DSP switches). b_bits: OR'ed into the split path's avx2 argument
// (4: inner products one lane each). Split path: kHp (above), kChain (lane_chains: lp_f32/_s16,
// lpc_lanes, tail), kHpChain (lane_highpass + lane_chains: highpass, lp_hp, lpc_lanes, tail).
enum class Split { kHp, kChain, kHpChain };
void RunCase(int rows, bool pcm16, int avx2_override = -1, int ctl_flags = 0, int b_bits = 0,
             Split split = Split::kHp) {
  SCOPED_TRACE(::testing::Message() << rows << " rows, " << (pcm16 ? "pcm16" : "float") << ", flags " << ctl_flags
                                    << ", bits " << b_bits << ", split " << static_cast<int>(split));
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
  std::vector<float> scratch(size_t(rows) * RNN_LPS_STRIDE);
  // One row more than the count in the frame buffers: it must stay untouched (sentinel).
  std::vector<float> fr_a(size_t(2 * (rows + 1)) * RNN_WINDOW, 7.f), fr_b = fr_a;
  std::vector<float> in_f(size_t(rows + 1) * kHop);
  std::vector<int16_t> in_s(in_f.size());
  std::mt19937 rng(rows * 2 + pcm16);
  const int blocks = (rows + 127) / 128, fe_blocks = std::min(rows, 3);
  for (int t = 0; t < hops; ++t) {
    for (int b = 0; b <= rows; ++b)
      for (int i = 0; i < kHop; ++i) {
        const float x = Sample(b, static_cast<long long>(t) * kHop + i, rng) * (b % 4 == 1 ? 4.f : 1.f);
        in_s[size_t(b) * kHop + i] = static_cast<int16_t>(std::clamp(std::lrint(x * 32768.f), -32768L, 32767L));
        in_f[size_t(b) * kHop + i] = pcm16 ? in_s[size_t(b) * kHop + i] / 32768.f : x;
      }
    const bool lane_hp = split != Split::kChain;
    if (pcm16) {
      cuda_host::LaunchGrid(fe_blocks, 128, [&] {
        rnn_frontend_s16(in_s.data(), kHop, ctl.data(), st_a.data(), kStride, w.data(), fr_a.data(), avx2);
      });
      if (lane_hp)
        cuda_host::LaunchGrid(blocks, 128,
                              [&] { rnn_highpass_s16(in_s.data(), kHop, ctl.data(), st_b.data(), kStride, fr_b.data()); });
    } else {
      cuda_host::LaunchGrid(fe_blocks, 128, [&] {
        rnn_frontend_f32(in_f.data(), kHop, ctl.data(), st_a.data(), kStride, w.data(), fr_a.data(), avx2);
      });
      if (lane_hp)
        cuda_host::LaunchGrid(blocks, 128,
                              [&] { rnn_highpass_f32(in_f.data(), kHop, ctl.data(), st_b.data(), kStride, fr_b.data()); });
    }
    const int ab = avx2 | b_bits;
    if (split == Split::kHp) {
      // rnn_frontend_hp does not read `in` (any valid pointer).
      cuda_host::LaunchGrid(fe_blocks, 128, [&] {
        rnn_frontend_hp(in_f.data(), kHop, ctl.data(), st_b.data(), kStride, w.data(), fr_b.data(), ab);
      });
    } else {
      std::fill(scratch.begin(), scratch.end(), std::nanf(""));  // what the tail reads, this hop wrote
      cuda_host::LaunchGrid(fe_blocks, 128, [&] {
        if (split == Split::kHpChain)
          rnn_frontend_lp_hp(in_f.data(), kHop, ctl.data(), st_b.data(), kStride, w.data(), fr_b.data(), ab,
                             scratch.data());
        else if (pcm16)
          rnn_frontend_lp_s16(in_s.data(), kHop, ctl.data(), st_b.data(), kStride, w.data(), fr_b.data(), ab,
                              scratch.data());
        else
          rnn_frontend_lp_f32(in_f.data(), kHop, ctl.data(), st_b.data(), kStride, w.data(), fr_b.data(), ab,
                              scratch.data());
      });
      cuda_host::LaunchGrid((rows + 63) / 64, 64, [&] { rnn_lpc_lanes(ctl.data(), scratch.data()); });
      cuda_host::LaunchGrid(fe_blocks, 128, [&] {
        rnn_frontend_tail(in_f.data(), kHop, ctl.data(), st_b.data(), kStride, w.data(), fr_b.data(), ab,
                          scratch.data());
      });
    }
    ASSERT_EQ(fr_a, fr_b) << "hop " << t;
    ASSERT_EQ(st_a, st_b) << "hop " << t;
    // The ring's head moved by a hop; its newest hop is the analysis half (the high-passed input)
    // and, without the high-pass, the raw input.
    for (int b = 0; b < rows; ++b) {
      const float* st = &st_b[size_t(ctl[16 + b]) * kStride];
      int head;
      std::memcpy(&head, &st[RNN_ST_PITCH_HEAD], sizeof head);
      ASSERT_EQ(head, (t + 1) * kHop % RNN_PITCH_BUF) << "row " << b;
      for (int i = 0; i < kHop; ++i) {
        const float v = st[RNN_ST_PITCH + (head + RNN_PITCH_BUF - kHop + i) % RNN_PITCH_BUF];
        ASSERT_EQ(v, st[RNN_ST_ANALYSIS + i]) << "row " << b;
        if (ctl_flags & RNN_CTL_NO_HIGHPASS) {
          ASSERT_EQ(v, in_f[size_t(b) * kHop + i]) << "row " << b;
        }
      }
      if (ctl_flags & RNN_CTL_NO_HIGHPASS) {
        ASSERT_EQ(st[RNN_ST_HP], 0.f);
        ASSERT_EQ(st[RNN_ST_HP + 1], 0.f);
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

// Both summation orders, and the inner products one lane each (avx2 | 4, the A/B switch
// GHOSTNV_CUDA_PLAN_WARP_INNER=0) in the split path.
TEST(HostLaneHighpass, BothSummationOrdersAndOneLaneInnerProducts) {
  for (int avx2 : {1, 0}) {
    RunCase(7, false, avx2);
    RunCase(33, true, avx2, 0, 4);
  }
}

// lane_chains (the autocorrelation + LPC one lane per row between two block-per-row kernels),
// alone and after the lane high-pass; float and PCM rows, both orders, odd row counts (65, 129:
// a partial block of rnn_lpc_lanes' 64 lanes), the no-high-pass flag.
TEST(HostLaneChains, ChainedFrontendMatchesTheFusedOneBitForBit) {
  RunCase(7, false, -1, 0, 0, Split::kChain);
  RunCase(65, true, -1, 0, 0, Split::kChain);
  RunCase(129, true, -1, 0, 0, Split::kHpChain);
  RunCase(5, false, -1, 0, 0, Split::kHpChain);
}

TEST(HostLaneChains, BothSummationOrdersAndFlags) {
  for (int avx2 : {1, 0}) {
    RunCase(9, true, avx2, 0, 0, Split::kChain);
    RunCase(33, false, avx2, 0, 4, Split::kHpChain);
  }
  RunCase(11, false, 1, RNN_CTL_NO_HIGHPASS, 0, Split::kChain);
  RunCase(7, true, 0, RNN_CTL_NO_HIGHPASS, 0, Split::kHpChain);
}

// A model without the input high-pass (metadata.rnnoise.highpass = false -> RNN_CTL_NO_HIGHPASS):
// both frontends use the raw hop, leave the high-pass state alone, and agree bit for bit.
TEST(HostLaneHighpass, NoHighpassFlag) {
  RunCase(65, false, 1, RNN_CTL_NO_HIGHPASS);
  RunCase(7, true, 0, RNN_CTL_NO_HIGHPASS);
}

}  // namespace
}  // namespace ghostnv::sched
