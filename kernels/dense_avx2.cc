// kernels/dense_avx2.cc — AVX2/FMA dense layer (compiled with GHOSTNV_AVX2_FLAGS).
// Broadcasts x[j] and FMAs up to 96 units per pass over the rows (see avx2::Gemv); the last
// units % 8 use masked loads. Call only when CpuHasAvx2Fma() is true.

#include "kernels/dense.h"
#include "kernels/simd_avx2.h"

namespace ghostnv::kernels {

void Dense_avx2(const DenseParams& p, const float* x, float* y) {
  const int units = p.units;
  if (units <= 0) return;
  if (p.bias != nullptr) {
    for (int i = 0; i < units; ++i) y[i] = p.bias[i];
  } else {
    for (int i = 0; i < units; ++i) y[i] = 0.f;
  }
  avx2::Gemv(y, units, avx2::Segment{p.weights, units, x, p.inputs});
  avx2::ActivateAny(p.activation, p.math, y, static_cast<size_t>(units));
}

}  // namespace ghostnv::kernels
