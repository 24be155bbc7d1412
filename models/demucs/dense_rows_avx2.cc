// models/demucs/dense_rows_avx2.cc — DenseRows with AVX2/FMA: 4 rows x 16 units per block.
// Compiled with -mavx2 -mfma; called only when kernels::ActiveSimd() is kAvx2.

#include <immintrin.h>

#include <initializer_list>

#include "models/demucs/dense_rows.h"

namespace ghostnv::models::demucs {
namespace {

void Rows4(const kernels::DenseParams& p, const float* x, size_t xs, float* y, size_t ys) {
  const int units = p.units, inputs = p.inputs;
  const float* x0 = x;
  const float* x1 = x + xs;
  const float* x2 = x + 2 * xs;
  const float* x3 = x + 3 * xs;
  float* y0 = y;
  float* y1 = y + ys;
  float* y2 = y + 2 * ys;
  float* y3 = y + 3 * ys;
  const size_t stride = static_cast<size_t>(units);
  int u = 0;
  for (; u + 16 <= units; u += 16) {
    const __m256 b0 = p.bias ? _mm256_loadu_ps(p.bias + u) : _mm256_setzero_ps();
    const __m256 b1 = p.bias ? _mm256_loadu_ps(p.bias + u + 8) : _mm256_setzero_ps();
    __m256 a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1, a30 = b0, a31 = b1;
    const float* w = p.weights + u;
    for (int j = 0; j < inputs; ++j, w += stride) {
      const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
      __m256 v = _mm256_broadcast_ss(x0 + j);
      a00 = _mm256_fmadd_ps(v, w0, a00);
      a01 = _mm256_fmadd_ps(v, w1, a01);
      v = _mm256_broadcast_ss(x1 + j);
      a10 = _mm256_fmadd_ps(v, w0, a10);
      a11 = _mm256_fmadd_ps(v, w1, a11);
      v = _mm256_broadcast_ss(x2 + j);
      a20 = _mm256_fmadd_ps(v, w0, a20);
      a21 = _mm256_fmadd_ps(v, w1, a21);
      v = _mm256_broadcast_ss(x3 + j);
      a30 = _mm256_fmadd_ps(v, w0, a30);
      a31 = _mm256_fmadd_ps(v, w1, a31);
    }
    _mm256_storeu_ps(y0 + u, a00);
    _mm256_storeu_ps(y0 + u + 8, a01);
    _mm256_storeu_ps(y1 + u, a10);
    _mm256_storeu_ps(y1 + u + 8, a11);
    _mm256_storeu_ps(y2 + u, a20);
    _mm256_storeu_ps(y2 + u + 8, a21);
    _mm256_storeu_ps(y3 + u, a30);
    _mm256_storeu_ps(y3 + u + 8, a31);
  }
  for (; u + 8 <= units; u += 8) {
    const __m256 b0 = p.bias ? _mm256_loadu_ps(p.bias + u) : _mm256_setzero_ps();
    __m256 a0 = b0, a1 = b0, a2 = b0, a3 = b0;
    const float* w = p.weights + u;
    for (int j = 0; j < inputs; ++j, w += stride) {
      const __m256 w0 = _mm256_loadu_ps(w);
      a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(x0 + j), w0, a0);
      a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(x1 + j), w0, a1);
      a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(x2 + j), w0, a2);
      a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(x3 + j), w0, a3);
    }
    _mm256_storeu_ps(y0 + u, a0);
    _mm256_storeu_ps(y1 + u, a1);
    _mm256_storeu_ps(y2 + u, a2);
    _mm256_storeu_ps(y3 + u, a3);
  }
  for (; u < units; ++u) {
    const float b = p.bias ? p.bias[u] : 0.f;
    float s0 = b, s1 = b, s2 = b, s3 = b;
    const float* w = p.weights + u;
    for (int j = 0; j < inputs; ++j, w += stride) {
      s0 += *w * x0[j];
      s1 += *w * x1[j];
      s2 += *w * x2[j];
      s3 += *w * x3[j];
    }
    y0[u] = s0;
    y1[u] = s1;
    y2[u] = s2;
    y3[u] = s3;
  }
  const size_t n = static_cast<size_t>(units);
  for (float* yr : {y0, y1, y2, y3}) kernels::Activate(p.activation, p.math, yr, n);
}

}  // namespace

void DenseRows_avx2(const kernels::DenseParams& p, const float* x, size_t x_stride, int rows,
                    float* y, size_t y_stride) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) Rows4(p, x + r * x_stride, x_stride, y + r * y_stride, y_stride);
  for (; r < rows; ++r) kernels::Dense_avx2(p, x + r * x_stride, y + r * y_stride);
}

}  // namespace ghostnv::models::demucs
