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

// ---------------------------------------------------------------------------------------------
// GruSplit: passes over the split layout, and the gates.

namespace {

// Rows of a [rows][n3p] matrix whose v[j] is not zero (a zero row adds exactly 0 to every sum,
// so it is neither read nor multiplied), up to 4 at a time: every out vector is loaded once,
// gets one FMA per row (rows in order) and is stored back; out stays in L1. self: the next
// chunk's rows are prefetched (they come from memory), one line per vector per row; else pf
// (the caller's stream) advances one line per vector.
class RowStream {
 public:
  RowStream(const float* m, int rows, int n3p, const float* v, float* out, bool self,
            avx2::PrefetchCursor* pf)
      : m_(m), rows_(rows), n3p_(n3p), v_(v), out_(out), self_(self), pf_(pf) {
    nc_ = Gather(cur_);
    nn_ = Gather(nxt_);
  }
  // Processes one chunk; false when none was left.
  bool Next() {
    switch (nc_) {
      case 0: return false;
      case 1: Chunk<1>(); break;
      case 2: Chunk<2>(); break;
      case 3: Chunk<3>(); break;
      default: Chunk<4>(); break;
    }
    for (int q = 0; q < nn_; ++q) cur_[q] = nxt_[q];
    nc_ = nn_;
    nn_ = Gather(nxt_);
    return true;
  }

 private:
  int Gather(int* r) {
    int k = 0;
    while (k < 4 && j_ < rows_) {  // branch-free: ReLU zeros fall at random
      r[k] = j_;
      k += v_[j_] != 0.f ? 1 : 0;
      ++j_;
    }
    return k;
  }
  template <int K>
  void Chunk() {
    const float* w[K];
    __m256 x[K];
    for (int q = 0; q < K; ++q) {
      w[q] = m_ + static_cast<size_t>(cur_[q]) * static_cast<size_t>(n3p_);
      x[q] = _mm256_set1_ps(v_[cur_[q]]);
    }
    const char* pre[4];
    for (int q = 0; q < nn_; ++q)
      pre[q] = reinterpret_cast<const char*>(m_ + static_cast<size_t>(nxt_[q]) *
                                                      static_cast<size_t>(n3p_));
    for (int c = 0; c < n3p_; c += 8) {
      __m256 acc = _mm256_loadu_ps(out_ + c);
#pragma GCC unroll 4
      for (int q = 0; q < K; ++q) acc = _mm256_fmadd_ps(x[q], _mm256_loadu_ps(w[q] + c), acc);
      _mm256_storeu_ps(out_ + c, acc);
      if ((c * 4) % 64 == 0) {  // once per cache line of a row
        if (self_) {
          for (int q = 0; q < nn_; ++q) _mm_prefetch(pre[q] + 4 * c, _MM_HINT_T0);
        } else if (pf_ != nullptr) {
          pf_->Step();
        }
      }
    }
  }

  const float* m_;
  int rows_, n3p_;
  const float* v_;
  float* out_;
  bool self_;
  avx2::PrefetchCursor* pf_;
  int j_ = 0, nc_ = 0, nn_ = 0;
  int cur_[4] = {}, nxt_[4] = {};
};

}  // namespace

void GruSplitPass_avx2(const float* packed, int rows, int n3p, const float* v,
                       const float* init, float* out, bool prefetch_self, PrefetchStream* pf) {
  avx2::PrefetchCursor cur(pf);
  for (int c = 0; c < n3p; ++c) out[c] = init[c];
  RowStream s(packed, rows, n3p, v, out, prefetch_self, pf != nullptr ? &cur : nullptr);
  while (s.Next()) {
  }
  cur.Save(pf);
}

void GruSplitPass2_avx2(int n3p, const GruSplitPassArgs& a, const GruSplitPassArgs& b) {
  for (int c = 0; c < n3p; ++c) {
    a.out[c] = a.init[c];
    b.out[c] = b.init[c];
  }
  RowStream sa(a.packed, a.rows, n3p, a.v, a.out, true, nullptr);
  RowStream sb(b.packed, b.rows, n3p, b.v, b.out, false, nullptr);
  bool more = true;
  while (more) more = sa.Next() | sb.Next();  // both advance every round
}

void GruSplitFinish_avx2(const GruParams& p, const float* s, const float* rh, float* state,
                         float* scratch) {
  // The same operations as GruSplitFinish_ref, 8 lanes at a time (this file is compiled with
  // -ffp-contract=off: the scalar tails round exactly like the vector lanes).
  const int u = p.units;
  int i = 0;
  for (; i + 8 <= 2 * u; i += 8)
    _mm256_storeu_ps(scratch + i, _mm256_add_ps(_mm256_loadu_ps(s + i), _mm256_loadu_ps(rh + i)));
  for (; i < 2 * u; ++i) scratch[i] = s[i] + rh[i];
  avx2::ActivateAny(Activation::kSigmoid, p.math, scratch, static_cast<size_t>(2 * u));
  float* c = scratch + 2 * u;
  for (i = 0; i + 8 <= u; i += 8) {
    const __m256 prod =
        _mm256_mul_ps(_mm256_loadu_ps(scratch + u + i), _mm256_loadu_ps(rh + 2 * u + i));
    _mm256_storeu_ps(c + i, _mm256_add_ps(_mm256_loadu_ps(s + 2 * u + i), prod));
  }
  for (; i < u; ++i) c[i] = s[2 * u + i] + scratch[u + i] * rh[2 * u + i];
  avx2::ActivateAny(p.activation, p.math, c, static_cast<size_t>(u));
  const __m256 one = _mm256_set1_ps(1.f);
  for (i = 0; i + 8 <= u; i += 8) {
    const __m256 z = _mm256_loadu_ps(scratch + i);
    const __m256 keep = _mm256_mul_ps(z, _mm256_loadu_ps(state + i));
    const __m256 take = _mm256_mul_ps(_mm256_sub_ps(one, z), _mm256_loadu_ps(c + i));
    _mm256_storeu_ps(state + i, _mm256_add_ps(keep, take));
  }
  for (; i < u; ++i) {
    const float z = scratch[i];
    state[i] = z * state[i] + (1.f - z) * c[i];
  }
}

}  // namespace ghostnv::kernels
