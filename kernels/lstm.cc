// kernels/lstm.cc — scalar reference LSTM step and the dispatcher.

#include "kernels/lstm.h"

#include <cmath>
#include <cstddef>

#include "kernels/cpu.h"
#include "kernels/dense.h"
#include "kernels/lstm_split.h"

namespace ghostnv::kernels {

void LstmStep_ref(const LstmParams& p, const float* x, float* h, float* c, float* scratch) {
  if (p.units <= 0) return;
  const size_t u = static_cast<size_t>(p.units);
  const size_t n4 = 4 * u;
  const size_t inputs = p.inputs > 0 ? static_cast<size_t>(p.inputs) : 0;
  float* z = scratch;  // [4u]
  for (size_t k = 0; k < n4; ++k) z[k] = p.bias != nullptr ? p.bias[k] : 0.f;
  for (size_t j = 0; j < inputs; ++j) {
    const float* row = p.weights + j * n4;
    const float v = x[j];
    for (size_t k = 0; k < n4; ++k) z[k] += row[k] * v;
  }
  for (size_t j = 0; j < u; ++j) {
    const float* row = p.recurrent + j * n4;
    const float v = h[j];
    for (size_t k = 0; k < n4; ++k) z[k] += row[k] * v;
  }
  LstmGates_ref(p.units, p.math, z, h, c);
}

void LstmGates_ref(int units, MathMode math, float* z, float* h, float* c) {
  if (units <= 0) return;
  const size_t u = static_cast<size_t>(units);
  Activate_ref(Activation::kSigmoid, math, z, 2 * u);         // i, f
  Activate_ref(Activation::kTanh, math, z + 2 * u, u);        // g
  Activate_ref(Activation::kSigmoid, math, z + 3 * u, u);     // o
  for (size_t k = 0; k < u; ++k) {
    const float cn = z[u + k] * c[k] + z[k] * z[2 * u + k];
    c[k] = cn;
    z[k] = cn;  // reuse the i block for tanh(c')
  }
  Activate_ref(Activation::kTanh, math, z, u);
  for (size_t k = 0; k < u; ++k) h[k] = z[3 * u + k] * z[k];
}

void LstmStep(const LstmParams& p, const float* x, float* h, float* c, float* scratch) {
  if (Avx512Active()) {
    LstmStep_avx512(p, x, h, c, scratch);
  } else if (ActiveSimd() == SimdLevel::kAvx2) {
    LstmStep_avx2(p, x, h, c, scratch);
  } else {
    LstmStep_ref(p, x, h, c, scratch);
  }
}

}  // namespace ghostnv::kernels
