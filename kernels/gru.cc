// kernels/gru.cc — scalar reference GRU step and the dispatcher.

#include "kernels/gru.h"

#include <cstddef>

#include "kernels/cpu.h"

namespace ghostnv::kernels {
namespace {

inline float BiasAt(const float* b, size_t i) { return b != nullptr ? b[i] : 0.f; }

// acc[c] += sum_j v[j] * m[j*stride + c] for c in [0, cols), rows in order.
void AccumulateRows(float* acc, size_t cols, const float* m, size_t stride, const float* v,
                    size_t rows) {
  for (size_t j = 0; j < rows; ++j) {
    const float* row = m + j * stride;
    const float vj = v[j];
    for (size_t c = 0; c < cols; ++c) acc[c] += row[c] * vj;
  }
}

}  // namespace

// Every pre-activation sums, in this order: its bias(es), the input products (inputs in order),
// then the recurrent products (state index in order); the activation sees the final sum.
// Scratch layout: sum[3u] (z | r | candidate) + extra[u] (r∘s, or the recurrent part of the
// candidate when reset_after).
void GruStep_ref(const GruParams& p, const float* x, float* state, float* scratch) {
  if (p.units <= 0) return;
  const size_t u = static_cast<size_t>(p.units);
  const size_t n3 = 3 * u;
  const size_t inputs = p.inputs > 0 ? static_cast<size_t>(p.inputs) : 0;
  float* sum = scratch;         // [3u]
  float* extra = scratch + n3;  // [u]
  float* cand = sum + 2 * u;

  for (size_t c = 0; c < 2 * u; ++c) sum[c] = BiasAt(p.bias, c) + BiasAt(p.recurrent_bias, c);
  for (size_t i = 0; i < u; ++i) {
    cand[i] = p.reset_after ? BiasAt(p.bias, 2 * u + i)
                            : BiasAt(p.bias, 2 * u + i) + BiasAt(p.recurrent_bias, 2 * u + i);
  }
  if (inputs > 0) AccumulateRows(sum, n3, p.weights, n3, x, inputs);
  AccumulateRows(sum, 2 * u, p.recurrent, n3, state, u);
  Activate_ref(Activation::kSigmoid, p.math, sum, 2 * u);
  const float* z = sum;
  const float* r = sum + u;

  if (p.reset_after) {
    for (size_t i = 0; i < u; ++i) extra[i] = BiasAt(p.recurrent_bias, 2 * u + i);
    AccumulateRows(extra, u, p.recurrent + 2 * u, n3, state, u);
    for (size_t i = 0; i < u; ++i) cand[i] += r[i] * extra[i];
  } else {
    for (size_t i = 0; i < u; ++i) extra[i] = r[i] * state[i];
    AccumulateRows(cand, u, p.recurrent + 2 * u, n3, extra, u);
  }
  Activate_ref(p.activation, p.math, cand, u);
  for (size_t i = 0; i < u; ++i) state[i] = z[i] * state[i] + (1.f - z[i]) * cand[i];
}

void GruStep(const GruParams& p, const float* x, float* state, float* scratch) {
  if (ActiveSimd() == SimdLevel::kAvx2) {
    GruStep_avx2(p, x, state, scratch);
  } else {
    GruStep_ref(p, x, state, scratch);
  }
}

}  // namespace ghostnv::kernels
