// kernels/kernels_benchmark.cc — reference vs AVX2 timings for the CPU kernels.
//
//   ./ghostnv_kernels_benchmark --benchmark_filter=Gru
//
// Shapes are those of an RNNoise-style model: dense 42x24, GRU 114 inputs x 96 units (both
// reset variants), pitch cross-correlation len 240 x 354 lags, activations on 96 values.
// Each benchmark reports items_per_second = multiply-adds (or elements) per second. Not run
// by ctest: speed is reported as ratios here, never asserted.

#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/activations.h"
#include "kernels/cpu.h"
#include "kernels/dense.h"
#include "kernels/gru.h"
#include "kernels/xcorr.h"

namespace ghostnv::kernels {
namespace {

std::vector<float> Random(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(gen);
  return v;
}

bool SkipIfNoAvx2(benchmark::State& state, bool avx2) {
  if (avx2 && !CpuHasAvx2Fma()) {
    state.SkipWithError("CPU lacks AVX2/FMA");
    return true;
  }
  return false;
}

void BM_Dense(benchmark::State& state, bool avx2, int inputs, int units) {
  if (SkipIfNoAvx2(state, avx2)) return;
  const std::vector<float> w = Random(static_cast<size_t>(inputs) * units, 1, -0.2f, 0.2f);
  const std::vector<float> b = Random(units, 2);
  const std::vector<float> x = Random(inputs, 3);
  std::vector<float> y(units);
  DenseParams p;
  p.inputs = inputs;
  p.units = units;
  p.weights = w.data();
  p.bias = b.data();
  p.activation = Activation::kTanh;
  p.math = MathMode::kRnnoiseApprox;
  for (auto _ : state) {
    (avx2 ? Dense_avx2 : Dense_ref)(p, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * inputs * units);
}

void BM_Gru(benchmark::State& state, bool avx2, int inputs, int units, bool reset_after,
            MathMode math) {
  if (SkipIfNoAvx2(state, avx2)) return;
  const size_t n3 = 3 * static_cast<size_t>(units);
  const std::vector<float> w = Random(inputs * n3, 1, -0.2f, 0.2f);
  const std::vector<float> r = Random(units * n3, 2, -0.2f, 0.2f);
  const std::vector<float> b = Random(n3, 3), rb = Random(n3, 4);
  const std::vector<float> x = Random(inputs, 5);
  std::vector<float> s = Random(units, 6);
  std::vector<float> scratch(GruScratchFloats(units));
  GruParams p;
  p.inputs = inputs;
  p.units = units;
  p.weights = w.data();
  p.recurrent = r.data();
  p.bias = b.data();
  p.recurrent_bias = rb.data();
  p.activation = Activation::kTanh;
  p.math = math;
  p.reset_after = reset_after;
  for (auto _ : state) {
    (avx2 ? GruStep_avx2 : GruStep_ref)(p, x.data(), s.data(), scratch.data());
    benchmark::DoNotOptimize(s.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(inputs + units) *
                          static_cast<int64_t>(n3));
}

void BM_PitchXcorr(benchmark::State& state, bool avx2, int len, int lags) {
  if (SkipIfNoAvx2(state, avx2)) return;
  const std::vector<float> x = Random(len, 1);
  const std::vector<float> y = Random(len + lags - 1, 2);
  std::vector<float> out(lags);
  for (auto _ : state) {
    (avx2 ? PitchXcorr_avx2 : PitchXcorr_ref)(x.data(), y.data(), out.data(), len, lags);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * len * lags);
}

void BM_InnerProduct(benchmark::State& state, bool avx2, int n) {
  if (SkipIfNoAvx2(state, avx2)) return;
  const std::vector<float> x = Random(n, 1), y = Random(n, 2);
  for (auto _ : state) {
    benchmark::DoNotOptimize((avx2 ? InnerProduct_avx2 : InnerProduct_ref)(x.data(), y.data(), n));
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_Activate(benchmark::State& state, bool avx2, Activation act, MathMode math, int n) {
  if (SkipIfNoAvx2(state, avx2)) return;
  const std::vector<float> src = Random(n, 1, -6.f, 6.f);
  std::vector<float> x = src;
  for (auto _ : state) {
    // Re-activating the same buffer would drift into saturation; restore the inputs first
    // (a 384-byte copy, small next to the activation).
    x = src;
    (avx2 ? Activate_avx2 : Activate_ref)(act, math, x.data(), static_cast<size_t>(n));
    benchmark::DoNotOptimize(x.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

constexpr MathMode kExact = MathMode::kExact;
constexpr MathMode kApprox = MathMode::kRnnoiseApprox;

BENCHMARK_CAPTURE(BM_Dense, 42x24_ref, false, 42, 24);
BENCHMARK_CAPTURE(BM_Dense, 42x24_avx2, true, 42, 24);
BENCHMARK_CAPTURE(BM_Gru, 114x96_reset_before_ref, false, 114, 96, false, kApprox);
BENCHMARK_CAPTURE(BM_Gru, 114x96_reset_before_avx2, true, 114, 96, false, kApprox);
BENCHMARK_CAPTURE(BM_Gru, 114x96_reset_after_ref, false, 114, 96, true, kExact);
BENCHMARK_CAPTURE(BM_Gru, 114x96_reset_after_avx2, true, 114, 96, true, kExact);
BENCHMARK_CAPTURE(BM_Gru, 90x48_reset_before_ref, false, 90, 48, false, kApprox);
BENCHMARK_CAPTURE(BM_Gru, 90x48_reset_before_avx2, true, 90, 48, false, kApprox);
BENCHMARK_CAPTURE(BM_Gru, 24x24_reset_before_ref, false, 24, 24, false, kApprox);
BENCHMARK_CAPTURE(BM_Gru, 24x24_reset_before_avx2, true, 24, 24, false, kApprox);
BENCHMARK_CAPTURE(BM_PitchXcorr, 240x354_ref, false, 240, 354);
BENCHMARK_CAPTURE(BM_PitchXcorr, 240x354_avx2, true, 240, 354);
BENCHMARK_CAPTURE(BM_InnerProduct, 240_ref, false, 240);
BENCHMARK_CAPTURE(BM_InnerProduct, 240_avx2, true, 240);
BENCHMARK_CAPTURE(BM_Activate, tanh_exact_96_ref, false, Activation::kTanh, kExact, 96);
BENCHMARK_CAPTURE(BM_Activate, tanh_exact_96_avx2, true, Activation::kTanh, kExact, 96);
BENCHMARK_CAPTURE(BM_Activate, sigmoid_exact_96_ref, false, Activation::kSigmoid, kExact, 96);
BENCHMARK_CAPTURE(BM_Activate, sigmoid_exact_96_avx2, true, Activation::kSigmoid, kExact, 96);
BENCHMARK_CAPTURE(BM_Activate, tanh_approx_96_ref, false, Activation::kTanh, kApprox, 96);
BENCHMARK_CAPTURE(BM_Activate, tanh_approx_96_avx2, true, Activation::kTanh, kApprox, 96);
BENCHMARK_CAPTURE(BM_Activate, sigmoid_approx_96_ref, false, Activation::kSigmoid, kApprox, 96);
BENCHMARK_CAPTURE(BM_Activate, sigmoid_approx_96_avx2, true, Activation::kSigmoid, kApprox, 96);
BENCHMARK_CAPTURE(BM_Activate, relu_96_ref, false, Activation::kRelu, kExact, 96);
BENCHMARK_CAPTURE(BM_Activate, relu_96_avx2, true, Activation::kRelu, kExact, 96);

}  // namespace
}  // namespace ghostnv::kernels

BENCHMARK_MAIN();
