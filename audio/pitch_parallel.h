// audio/pitch_parallel.h — the RNNoise family's DC high-pass and pitch analysis in the
// *parallel* summation order: the same algorithm as audio/filters (Biquad) + audio/pitch
// (PitchDownsample, PitchSearch, RemoveDoubling), with every long float sum split the way a
// GPU block computes it, so that a GPU kernel can reproduce these results bit for bit without
// serial one-lane chains (kernels/rnnoise_pitch.cu, rnn_frontend_relaxed_*: the twin of this file).
//
// The sequential order (audio/pitch.cc) is the reference RNNoise / ffmpeg arnndn order and
// stays the one RNNoise (.rnnn) models use; this order differs from it by rounding only (a pitch
// period decided on a near-tie may differ). Unlike the sequential order, whose inner products
// follow the CPU's SIMD level, this one gives the same bits on every CPU: the AVX2/FMA build of
// this file is only faster (std::fma in both; kernels::InnerProduct_avx2 and PitchXcorr_avx2
// where their sums are this order's). The portable build is for CPUs without AVX2/FMA and slow
// (~190 us per hop: library fmaf calls; docs/perf/cpu.md).
//
// The order, per hop (n = 480 new samples, the pitch buffer of kBuf = 1728):
//   high-pass: 32 segments of 15 samples; each segment's response from a zero state, an
//     inclusive Hillis-Steele scan of the segments' affine state maps (M^15, M^30, ...), then
//     each segment filtered again from its start state — all in double, rounded to float once;
//   autocorrelation (lags 0-4) of the low-passed signal o (864): 128 partial sums (thread t sums
//     j = t, t + 128, ... with FMA), a butterfly (xor 16, 8, 4, 2, 1) per group of 32, then
//     (g0 + g1) + (g2 + g3);
//   whitening: o filtered by the 5-tap FIR as an FMA chain per sample;
//   energies: squares of the whitened signal summed in double per chunk of 8 (and of its even
//     samples), an inclusive scan per 32 chunks, prefix sums B(c); every window energy is
//     B(c1) - B(c0) at a chunk boundary, then slid by adding and removing squares in double;
//   cross-correlations: the coarse search's lags each one FMA chain in index order; the fine
//     search's and RemoveDoubling's inner products as 32 FMA partial sums (AVX2 code's order).
//
//   float mem[2] = {0, 0};
//   HighpassParallel(in, out, mem, true);            // 480 samples
//   ... shift out into buf (kBuf samples, newest last) ...
//   ParallelPitch p = AnalyseParallel(buf, last_period, last_gain);
//
// Real-time safe (stack buffers only).
#pragma once

namespace ghostnv::audio::pitch {

constexpr int kParallelHop = 480;

// The family's DC high-pass (Biquad b = {-2, 1}, a = {-1.99599, 0.99600}, transposed direct
// form II; mem as Biquad's) on kParallelHop samples; on = false copies (mem untouched).
// in and out may be the same.
void HighpassParallel(const float* in, float* out, float* mem, bool on);

struct ParallelPitch {
  int period;  // full-rate samples, >= kMinPeriod
  float gain;  // RemoveDoubling's pitch gain
};
// PitchDownsample + PitchSearch + RemoveDoubling of buf (kBuf samples, the newest last) in the
// parallel order; last_period / last_gain: the previous hop's result (0 / 0 at the start).
ParallelPitch AnalyseParallel(const float* buf, int last_period, float last_gain);

// The two builds the functions above dispatch to (for tests: they must agree bit for bit;
// parallel_avx2 only where kernels::CpuHasAvx2Fma()).
namespace parallel_generic {
void HighpassParallel(const float* in, float* out, float* mem, bool on);
ParallelPitch AnalyseParallel(const float* buf, int last_period, float last_gain);
}  // namespace parallel_generic
namespace parallel_avx2 {
void HighpassParallel(const float* in, float* out, float* mem, bool on);
ParallelPitch AnalyseParallel(const float* buf, int last_period, float last_gain);
}  // namespace parallel_avx2

}  // namespace ghostnv::audio::pitch
