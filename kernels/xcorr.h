// kernels/xcorr.h — inner products and cross-correlation for pitch analysis.
//
//   InnerProduct(x, y, n)            = sum_{i<n} x[i]*y[i]
//   PitchXcorr(x, y, out, len, lags) : out[k] = sum_{i<len} x[i]*y[i+k], k in [0, lags)
//                                      (y must hold len + lags - 1 samples)
// Any sizes, including 0 and odd ones. Real-time safe.
//
//   PitchXcorr(x, y, out, 240, 354);   // RNNoise's pitch search: y holds 240 + 354 - 1 samples
//
// The references sum in index order in float. The AVX2 versions (require CpuHasAvx2Fma())
// use FMAs; InnerProduct_avx2 splits the sum over 32 lanes, PitchXcorr_avx2 computes 64 lags
// per sweep of x (each lag still summed in index order) and never reads past
// y[len + lags - 2]. Results differ from the references by rounding only (xcorr_test.cc).
#pragma once

namespace ghostnv::kernels {

float InnerProduct(const float* x, const float* y, int n);
float InnerProduct_ref(const float* x, const float* y, int n);
float InnerProduct_avx2(const float* x, const float* y, int n);

void PitchXcorr(const float* x, const float* y, float* out, int len, int lags);
void PitchXcorr_ref(const float* x, const float* y, float* out, int len, int lags);
void PitchXcorr_avx2(const float* x, const float* y, float* out, int len, int lags);

}  // namespace ghostnv::kernels
