// kernels/dense.cc — scalar reference dense layer and the dispatcher.

#include "kernels/dense.h"

#include "kernels/cpu.h"

namespace ghostnv::kernels {

void Dense_ref(const DenseParams& p, const float* x, float* y) {
  const int units = p.units;
  // y[i] = bias[i] + W[0][i] x[0] + W[1][i] x[1] + ... (inputs in order), then act. Walking W
  // row by row keeps the reads sequential; each y[i] still sums in the documented order.
  for (int i = 0; i < units; ++i) y[i] = p.bias != nullptr ? p.bias[i] : 0.f;
  for (int j = 0; j < p.inputs; ++j) {
    const float* w = p.weights + static_cast<size_t>(j) * static_cast<size_t>(units);
    const float xj = x[j];
    for (int i = 0; i < units; ++i) y[i] += w[i] * xj;
  }
  Activate_ref(p.activation, p.math, y, static_cast<size_t>(units > 0 ? units : 0));
}

void Dense(const DenseParams& p, const float* x, float* y) {
  if (ActiveSimd() == SimdLevel::kAvx2) {
    Dense_avx2(p, x, y);
  } else {
    Dense_ref(p, x, y);
  }
}

}  // namespace ghostnv::kernels
