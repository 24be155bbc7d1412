// kernels/activations_avx2.cc — AVX2/FMA activations (compiled with GHOSTNV_AVX2_FLAGS).
// Call only when CpuHasAvx2Fma() is true; Activate() does that check.

#include "kernels/activations.h"
#include "kernels/simd_avx2.h"

namespace ghostnv::kernels {

void Activate_avx2(Activation act, MathMode math, float* x, size_t n) {
  avx2::ActivateAny(act, math, x, n);
}

}  // namespace ghostnv::kernels
