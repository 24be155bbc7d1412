// kernels/lstm_avx2.cc — AVX2/FMA LSTM step (compiled with GHOSTNV_AVX2_FLAGS).
//
// z = bias, then avx2::Gemv adds x·W and h·R in one register-blocked sweep over the 4u gate
// columns; the gates use the vectorised activations; the state update is unfused (mul, add)
// like the reference. Call only when CpuHasAvx2Fma() is true.

#include "kernels/lstm.h"
#include "kernels/simd_avx2.h"

namespace ghostnv::kernels {

void LstmStep_avx2(const LstmParams& p, const float* x, float* h, float* c, float* scratch) {
  if (p.units <= 0) return;
  const int u = p.units;
  const int n4 = 4 * u;
  const int inputs = p.inputs > 0 ? p.inputs : 0;
  float* z = scratch;
  if (p.bias != nullptr) {
    for (int k = 0; k < n4; ++k) z[k] = p.bias[k];
  } else {
    for (int k = 0; k < n4; ++k) z[k] = 0.f;
  }
  avx2::Segment sx;
  if (inputs > 0) sx = {p.weights, n4, x, inputs};
  avx2::Gemv(z, n4, sx, {p.recurrent, n4, h, u});
  const size_t su = static_cast<size_t>(u);
  avx2::ActivateAny(Activation::kSigmoid, p.math, z, 2 * su);
  avx2::ActivateAny(Activation::kTanh, p.math, z + 2 * u, su);
  avx2::ActivateAny(Activation::kSigmoid, p.math, z + 3 * u, su);
  const float* fi = z;
  const float* ff = z + u;
  const float* fg = z + 2 * u;
  float* t = z;  // tanh(c') overwrites i after use
  int k = 0;
  for (; k + 8 <= u; k += 8) {
    const __m256 cn = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(ff + k), _mm256_loadu_ps(c + k)),
                                    _mm256_mul_ps(_mm256_loadu_ps(fi + k), _mm256_loadu_ps(fg + k)));
    _mm256_storeu_ps(c + k, cn);
    _mm256_storeu_ps(t + k, cn);
  }
  for (; k < u; ++k) {
    const float cn = ff[k] * c[k] + fi[k] * fg[k];
    c[k] = cn;
    t[k] = cn;
  }
  avx2::ActivateAny(Activation::kTanh, p.math, t, su);
  const float* fo = z + 3 * u;
  k = 0;
  for (; k + 8 <= u; k += 8) {
    _mm256_storeu_ps(h + k, _mm256_mul_ps(_mm256_loadu_ps(fo + k), _mm256_loadu_ps(t + k)));
  }
  for (; k < u; ++k) h[k] = fo[k] * t[k];
}

}  // namespace ghostnv::kernels
