// kernels/xcorr_avx2.cc — AVX2/FMA inner product and pitch cross-correlation (compiled with
// GHOSTNV_AVX2_FLAGS). Call only when CpuHasAvx2Fma() is true.
//
// PitchXcorr vectorises over lags: lane l of accumulator m holds out[k + 8m + l], and each step
// i adds x[i] (broadcast) times the unaligned load y[i + k + 8m ..]. Each lag therefore sums its
// products in index order, like the reference; eight accumulators (64 lags) per sweep of x hide
// the FMA latency. The last lags % 8 are plain dot products (InnerProduct_avx2, which splits the
// sum over four accumulators: a different but equally accurate order). y is never read past
// y[len + lags - 2].

#include "kernels/xcorr.h"

#include "kernels/simd_avx2.h"

namespace ghostnv::kernels {
namespace {

template <int NB>
void XcorrBlock(const float* x, const float* y, float* out, int len) {
  __m256 acc[NB];
#pragma GCC unroll 8
  for (int m = 0; m < NB; ++m) acc[m] = _mm256_setzero_ps();
  for (int i = 0; i < len; ++i) {
    const __m256 b = _mm256_broadcast_ss(x + i);
#pragma GCC unroll 8
    for (int m = 0; m < NB; ++m)
      acc[m] = _mm256_fmadd_ps(b, _mm256_loadu_ps(y + i + 8 * m), acc[m]);
  }
#pragma GCC unroll 8
  for (int m = 0; m < NB; ++m) _mm256_storeu_ps(out + 8 * m, acc[m]);
}

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace

float InnerProduct_avx2(const float* x, const float* y, int n) {
  __m256 a0 = _mm256_setzero_ps();
  __m256 a1 = _mm256_setzero_ps();
  __m256 a2 = _mm256_setzero_ps();
  __m256 a3 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
  }
  for (; i + 8 <= n; i += 8) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
  }
  if (i < n) {
    const __m256i m = avx2::TailMask(n - i);
    a1 = _mm256_fmadd_ps(_mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m), a1);
  }
  return HorizontalSum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

void PitchXcorr_avx2(const float* x, const float* y, float* out, int len, int lags) {
  if (lags <= 0) return;
  if (len < 0) len = 0;
  int k = 0;
  for (; k + 64 <= lags; k += 64) XcorrBlock<8>(x, y + k, out + k, len);
  // clang-format off
  switch ((lags - k) / 8) {
    case 7: XcorrBlock<7>(x, y + k, out + k, len); break;
    case 6: XcorrBlock<6>(x, y + k, out + k, len); break;
    case 5: XcorrBlock<5>(x, y + k, out + k, len); break;
    case 4: XcorrBlock<4>(x, y + k, out + k, len); break;
    case 3: XcorrBlock<3>(x, y + k, out + k, len); break;
    case 2: XcorrBlock<2>(x, y + k, out + k, len); break;
    case 1: XcorrBlock<1>(x, y + k, out + k, len); break;
    default: break;
  }
  // clang-format on
  k += (lags - k) / 8 * 8;
  for (; k < lags; ++k) out[k] = InnerProduct_avx2(x, y + k, len);
}

}  // namespace ghostnv::kernels
