// kernels/dense.h — fully connected layer: y = act(bias + x · W).
//
// W is input-major, [inputs][units] (row j holds the weights from input j to every unit), so the
// AVX2 version broadcasts x[j] and accumulates 8 units at a time. Any sizes are allowed,
// including 0 and sizes that are not multiples of 8. x and y must not overlap.
// Real-time safe: no allocation.
//
//   DenseParams p{.inputs = 42, .units = 24, .weights = w, .bias = b,
//                 .activation = Activation::kTanh, .math = MathMode::kRnnoiseApprox};
//   Dense(p, x, y);  // y[i] = tanh(b[i] + sum_j w[j*24 + i] * x[j])
//
// Dense_ref sums bias, then inputs in order (like RNNoise's compute_dense), then applies the
// activation. Dense_avx2 (requires CpuHasAvx2Fma()) uses FMAs and, for units < 40 and the last
// units % 8, interleaved partial sums over the inputs, so it differs from the reference by
// rounding only (see dense_test.cc for the bound). y[units..] is never written.
#pragma once

#include <cstddef>

#include "kernels/activations.h"

namespace ghostnv::kernels {

struct DenseParams {
  int inputs = 0;
  int units = 0;
  const float* weights = nullptr;  // [inputs][units]
  const float* bias = nullptr;     // [units], may be nullptr (zero)
  Activation activation = Activation::kIdentity;
  MathMode math = MathMode::kExact;
};

void Dense(const DenseParams& p, const float* x, float* y);
void Dense_ref(const DenseParams& p, const float* x, float* y);
void Dense_avx2(const DenseParams& p, const float* x, float* y);

}  // namespace ghostnv::kernels
