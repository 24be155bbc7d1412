// kernels/gru_avx2.cc — AVX2/FMA GRU step (compiled with GHOSTNV_AVX2_FLAGS).
//
// The same sums as GruStep_ref (bias, inputs, recurrent; see avx2::Gemv for when the rows are
// split over partial sums), with FMAs:
//   pass 1: z and r columns of W (with x) and R (with s) in one register-blocked sweep;
//   pass 2: the candidate columns, after r is known.
// Call only when CpuHasAvx2Fma() is true.

#include "kernels/gru.h"
#include "kernels/simd_avx2.h"

namespace ghostnv::kernels {
namespace {

inline float BiasAt(const float* b, int i) { return b != nullptr ? b[i] : 0.f; }

// dst[i] = a[i] * b[i] for i in [0, n).
void MulArrays(float* dst, const float* a, const float* b, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  }
  if (i < n) {
    const __m256i m = avx2::TailMask(n - i);
    _mm256_maskstore_ps(dst + i, m,
                        _mm256_mul_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m)));
  }
}

// dst[i] += a[i] * b[i] (multiply, then add: the reference's rounding).
void AddProducts(float* dst, const float* a, const float* b, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 prod = _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), prod));
  }
  if (i < n) {
    const __m256i m = avx2::TailMask(n - i);
    const __m256 prod = _mm256_mul_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
    _mm256_maskstore_ps(dst + i, m, _mm256_add_ps(_mm256_maskload_ps(dst + i, m), prod));
  }
}

inline __m256 Blend(__m256 z, __m256 s, __m256 c) {
  // z*s + (1-z)*c, unfused like the reference.
  return _mm256_add_ps(_mm256_mul_ps(z, s),
                       _mm256_mul_ps(_mm256_sub_ps(_mm256_set1_ps(1.f), z), c));
}

// state[i] = z[i]*state[i] + (1 - z[i])*c[i].
void UpdateState(float* state, const float* z, const float* c, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(state + i, Blend(_mm256_loadu_ps(z + i), _mm256_loadu_ps(state + i),
                                      _mm256_loadu_ps(c + i)));
  }
  if (i < n) {
    const __m256i m = avx2::TailMask(n - i);
    _mm256_maskstore_ps(state + i, m,
                        Blend(_mm256_maskload_ps(z + i, m), _mm256_maskload_ps(state + i, m),
                              _mm256_maskload_ps(c + i, m)));
  }
}

}  // namespace

void GruStep_avx2(const GruParams& p, const float* x, float* state, float* scratch) {
  if (p.units <= 0) return;
  const int u = p.units;
  const int n3 = 3 * u;
  const int inputs = p.inputs > 0 ? p.inputs : 0;
  float* sum = scratch;         // [3u]: z | r | candidate
  float* extra = scratch + n3;  // [u]:  r∘s, or the recurrent candidate part (reset_after)
  float* cand = sum + 2 * u;
  const float* wh = inputs > 0 ? p.weights + 2 * u : nullptr;

  for (int c = 0; c < 2 * u; ++c) sum[c] = BiasAt(p.bias, c) + BiasAt(p.recurrent_bias, c);
  for (int i = 0; i < u; ++i) {
    cand[i] = p.reset_after ? BiasAt(p.bias, 2 * u + i)
                            : BiasAt(p.bias, 2 * u + i) + BiasAt(p.recurrent_bias, 2 * u + i);
  }

  // Pass 1: z and r.
  avx2::Gemv(sum, 2 * u, avx2::Segment{p.weights, n3, x, inputs},
             avx2::Segment{p.recurrent, n3, state, u});
  avx2::ActivateAny(Activation::kSigmoid, p.math, sum, static_cast<size_t>(2 * u));
  const float* z = sum;
  const float* r = sum + u;

  // Pass 2: the candidate.
  if (p.reset_after) {
    avx2::Gemv(cand, u, avx2::Segment{wh, n3, x, inputs});
    for (int i = 0; i < u; ++i) extra[i] = BiasAt(p.recurrent_bias, 2 * u + i);
    avx2::Gemv(extra, u, avx2::Segment{p.recurrent + 2 * u, n3, state, u});
    AddProducts(cand, r, extra, u);
  } else {
    MulArrays(extra, r, state, u);
    avx2::Gemv(cand, u, avx2::Segment{wh, n3, x, inputs},
               avx2::Segment{p.recurrent + 2 * u, n3, extra, u});
  }
  avx2::ActivateAny(p.activation, p.math, cand, static_cast<size_t>(u));
  UpdateState(state, z, cand, u);
}

}  // namespace ghostnv::kernels
