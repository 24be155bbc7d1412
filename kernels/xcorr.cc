// kernels/xcorr.cc — scalar reference inner product / pitch cross-correlation, dispatchers.

#include "kernels/xcorr.h"

#include "kernels/cpu.h"

namespace ghostnv::kernels {

float InnerProduct_ref(const float* x, const float* y, int n) {
  float sum = 0.f;
  for (int i = 0; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

void PitchXcorr_ref(const float* x, const float* y, float* out, int len, int lags) {
  for (int k = 0; k < lags; ++k) out[k] = InnerProduct_ref(x, y + k, len);
}

float InnerProduct(const float* x, const float* y, int n) {
  return ActiveSimd() == SimdLevel::kAvx2 ? InnerProduct_avx2(x, y, n) : InnerProduct_ref(x, y, n);
}

void PitchXcorr(const float* x, const float* y, float* out, int len, int lags) {
  if (ActiveSimd() == SimdLevel::kAvx2) {
    PitchXcorr_avx2(x, y, out, len, lags);
  } else {
    PitchXcorr_ref(x, y, out, len, lags);
  }
}

}  // namespace ghostnv::kernels
