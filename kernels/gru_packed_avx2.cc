// kernels/gru_packed_avx2.cc — the AVX2/FMA step over GruPacked's layout (compiled with
// GHOSTNV_AVX2_FLAGS). Same sums and operation order as GruStep_avx2 (reset_after, wide
// blocks): bit-identical results for units >= 40. The binary16 variant widens the weights with
// F16C (exact) and is otherwise the same code. Call only when CpuHasAvx2Fma() and CpuHasF16c()
// are true (the whole file is compiled for F16C on top of GHOSTNV_AVX2_FLAGS).

#include <cstdint>

#include "kernels/gru_packed.h"
#include "kernels/simd_avx2.h"

#pragma GCC target("f16c")

namespace ghostnv::kernels {
namespace {

inline float BiasAt(const float* b, int i) { return b != nullptr ? b[i] : 0.f; }

// Bytes ahead of the current row that are software-prefetched (the matrix streams from L3).
constexpr int kPrefetchBytes = 1024;

inline __m256 Load8(const float* w) { return _mm256_loadu_ps(w); }
inline __m256 Load8(const uint16_t* w) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
}

// out[0 .. 8·NB) += Σ_j v[j] · w[j][·] over `rows` contiguous rows of 8·NB weights, rows in
// order; returns the position after the last row.
template <int NB, typename T>
const T* Rows(const T* w, int rows, const float* v, float* out) {
  __m256 acc[NB];
#pragma GCC unroll 8
  for (int k = 0; k < NB; ++k) acc[k] = _mm256_loadu_ps(out + 8 * k);
  for (int j = 0; j < rows; ++j, w += 8 * NB) {
    const uintptr_t ahead = reinterpret_cast<uintptr_t>(w) + kPrefetchBytes;
#pragma GCC unroll 8
    for (int k = 0; k < NB; k += 64 / (8 * static_cast<int>(sizeof(T)))) {
      _mm_prefetch(reinterpret_cast<const char*>(ahead + 8 * sizeof(T) * k), _MM_HINT_T0);
    }
    const __m256 b = _mm256_broadcast_ss(v + j);
#pragma GCC unroll 8
    for (int k = 0; k < NB; ++k) acc[k] = _mm256_fmadd_ps(b, Load8(w + 8 * k), acc[k]);
  }
#pragma GCC unroll 8
  for (int k = 0; k < NB; ++k) _mm256_storeu_ps(out + 8 * k, acc[k]);
  return w;
}

template <typename T>
const T* RowsAny(int nb, const T* w, int rows, const float* v, float* out) {
  switch (nb) {
    case 1: return Rows<1, T>(w, rows, v, out);
    case 2: return Rows<2, T>(w, rows, v, out);
    case 3: return Rows<3, T>(w, rows, v, out);
    case 4: return Rows<4, T>(w, rows, v, out);
    case 5: return Rows<5, T>(w, rows, v, out);
    case 6: return Rows<6, T>(w, rows, v, out);
    case 7: return Rows<7, T>(w, rows, v, out);
    default: return Rows<8, T>(w, rows, v, out);
  }
}

template <typename T>
void Step(const GruParams& p, const T* packed, const float* x, float* state, float* scratch) {
  const int u = p.units;
  const int inputs = p.inputs > 0 ? p.inputs : 0;
  const int nv = u / 8;
  const int blocks = GruPackedBlocks(nv);
  float* sum = scratch;              // [3u]: z | r | candidate (input part)
  float* extra = scratch + 3 * u;    // [u]: the recurrent candidate part
  float* cand = sum + 2 * u;
  for (int c = 0; c < 2 * u; ++c) sum[c] = BiasAt(p.bias, c) + BiasAt(p.recurrent_bias, c);
  for (int i = 0; i < u; ++i) {
    cand[i] = BiasAt(p.bias, 2 * u + i);
    extra[i] = BiasAt(p.recurrent_bias, 2 * u + i);
  }
  const T* w = packed;
  // z and r: inputs, then state, into the same sums.
  for (int g = 0; g < 2; ++g) {
    float* o = sum + g * u;
    for (int b = 0; b < blocks; ++b) {
      const int nb = GruPackedBlockWidth(nv, b);
      w = RowsAny(nb, w, inputs, x, o);
      w = RowsAny(nb, w, u, state, o);
      o += 8 * nb;
    }
  }
  // Candidate: x·Wh into cand, s·Rh into extra (reset_after).
  {
    float* o = cand;
    float* e = extra;
    for (int b = 0; b < blocks; ++b) {
      const int nb = GruPackedBlockWidth(nv, b);
      w = RowsAny(nb, w, inputs, x, o);
      w = RowsAny(nb, w, u, state, e);
      o += 8 * nb;
      e += 8 * nb;
    }
  }
  avx2::ActivateAny(Activation::kSigmoid, p.math, sum, static_cast<size_t>(2 * u));
  const float* z = sum;
  const float* r = sum + u;
  for (int i = 0; i < u; i += 8) {
    // cand += r * extra (multiply, then add), activation, then s' = z s + (1 - z) c.
    const __m256 prod = _mm256_mul_ps(_mm256_loadu_ps(r + i), _mm256_loadu_ps(extra + i));
    _mm256_storeu_ps(cand + i, _mm256_add_ps(_mm256_loadu_ps(cand + i), prod));
  }
  avx2::ActivateAny(p.activation, p.math, cand, static_cast<size_t>(u));
  for (int i = 0; i < u; i += 8) {
    const __m256 zv = _mm256_loadu_ps(z + i);
    const __m256 c = _mm256_loadu_ps(cand + i);
    const __m256 s = _mm256_loadu_ps(state + i);
    _mm256_storeu_ps(state + i, _mm256_add_ps(_mm256_mul_ps(zv, s),
                                              _mm256_mul_ps(_mm256_sub_ps(_mm256_set1_ps(1.f), zv), c)));
  }
}

}  // namespace

void GruPackedStep_avx2(const GruParams& p, const float* packed, const float* x, float* state,
                        float* scratch) {
  Step(p, packed, x, state, scratch);
}

void GruPackedStepHalf_avx2(const GruParams& p, const uint16_t* packed, const float* x,
                            float* state, float* scratch) {
  Step(p, packed, x, state, scratch);
}

}  // namespace ghostnv::kernels
