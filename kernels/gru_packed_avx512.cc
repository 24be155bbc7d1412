// kernels/gru_packed_avx512.cc — the AVX-512 step over GruPacked's layout (compiled with
// GHOSTNV_AVX2_FLAGS and -ffp-contract=off, AVX-512 F/VL/BW and F16C enabled below).
//
// The same layout, sums and operation order as GruPackedStep_avx2 (gru_packed_avx2.cc), with
// 16-float vectors: a block of nb 8-float vectors is nb/2 zmm plus, when nb is odd, one zmm
// whose upper 8 lanes are masked off. Every column still sums bias, inputs in order, then the
// recurrent state in order, one FMA each, so the results are bit-identical to the AVX2 step
// (and to GruStep_avx2 for units >= 40). Call only when Avx512Active() and CpuHasF16c().

#include <cstdint>

#include "kernels/dense.h"
#include "kernels/gru_packed.h"
#include "kernels/simd_avx2.h"

#pragma GCC target("avx512f,avx512vl,avx512bw,f16c")

namespace ghostnv::kernels {
namespace {

inline float BiasAt(const float* b, int i) { return b != nullptr ? b[i] : 0.f; }

// Bytes ahead of the current row that are software-prefetched (the matrix streams from L3).
constexpr int kPrefetchBytes = 2048;

inline __m512 Load16(const float* w, __mmask16 m) { return _mm512_maskz_loadu_ps(m, w); }
inline __m512 Load16(const uint16_t* w, __mmask16 m) {
  return _mm512_maskz_cvtph_ps(m, _mm256_maskz_loadu_epi16(m, w));
}

// out[0 .. 8·NB) += Σ_j v[j] · w[j][·] over `rows` contiguous rows of 8·NB weights, rows in
// order; returns the position after the last row.
template <int NB, typename T>
const T* Rows(const T* w, int rows, const float* v, float* out) {
  constexpr int kZ = (NB + 1) / 2;                  // zmm per row
  constexpr __mmask16 kLast = NB % 2 == 1 ? 0x00FF : 0xFFFF;
  constexpr int kRowBytes = 8 * NB * static_cast<int>(sizeof(T));
  __m512 acc[kZ];
#pragma GCC unroll 4
  for (int k = 0; k < kZ; ++k) acc[k] = Load16(out + 16 * k, k == kZ - 1 ? kLast : 0xFFFF);
  for (int j = 0; j < rows; ++j, w += 8 * NB) {
    const uintptr_t ahead = reinterpret_cast<uintptr_t>(w) + kPrefetchBytes;
#pragma GCC unroll 8
    for (int b = 0; b < kRowBytes; b += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(ahead + b), _MM_HINT_T0);
    }
    const __m512 x = _mm512_set1_ps(v[j]);
#pragma GCC unroll 4
    for (int k = 0; k < kZ; ++k) {
      acc[k] = _mm512_fmadd_ps(x, Load16(w + 16 * k, k == kZ - 1 ? kLast : 0xFFFF), acc[k]);
    }
  }
#pragma GCC unroll 4
  for (int k = 0; k < kZ; ++k) {
    _mm512_mask_storeu_ps(out + 16 * k, k == kZ - 1 ? kLast : 0xFFFF, acc[k]);
  }
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
  for (int g = 0; g < 2; ++g) {
    float* o = sum + g * u;
    for (int b = 0; b < blocks; ++b) {
      const int nb = GruPackedBlockWidth(nv, b);
      w = RowsAny(nb, w, inputs, x, o);
      w = RowsAny(nb, w, u, state, o);
      o += 8 * nb;
    }
  }
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
    const __m256 prod = _mm256_mul_ps(_mm256_loadu_ps(r + i), _mm256_loadu_ps(extra + i));
    _mm256_storeu_ps(cand + i, _mm256_add_ps(_mm256_loadu_ps(cand + i), prod));
  }
  avx2::ActivateAny(p.activation, p.math, cand, static_cast<size_t>(u));
  for (int i = 0; i < u; i += 8) {
    const __m256 zv = _mm256_loadu_ps(z + i);
    const __m256 c = _mm256_loadu_ps(cand + i);
    const __m256 s = _mm256_loadu_ps(state + i);
    const __m256 keep = _mm256_mul_ps(zv, s);
    const __m256 take = _mm256_mul_ps(_mm256_sub_ps(_mm256_set1_ps(1.f), zv), c);
    _mm256_storeu_ps(state + i, _mm256_add_ps(keep, take));
  }
}

}  // namespace

void GruPackedStep_avx512(const GruParams& p, const float* packed, const float* x, float* state,
                          float* scratch) {
  Step(p, packed, x, state, scratch);
}

void GruPackedStepHalf_avx512(const GruParams& p, const uint16_t* packed, const float* x,
                              float* state, float* scratch) {
  Step(p, packed, x, state, scratch);
}

// ---------------------------------------------------------------------------------------------
// GruSplit: passes over the split layout (the same sums as GruSplitPass_avx2, 16 lanes).

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
    __m512 x[K];
    for (int q = 0; q < K; ++q) {
      w[q] = m_ + static_cast<size_t>(cur_[q]) * static_cast<size_t>(n3p_);
      x[q] = _mm512_set1_ps(v_[cur_[q]]);
    }
    const char* pre[4];
    for (int q = 0; q < nn_; ++q)
      pre[q] = reinterpret_cast<const char*>(m_ + static_cast<size_t>(nxt_[q]) *
                                                      static_cast<size_t>(n3p_));
    for (int c = 0; c < n3p_; c += 16) {
      __m512 acc = _mm512_loadu_ps(out_ + c);
#pragma GCC unroll 4
      for (int q = 0; q < K; ++q) acc = _mm512_fmadd_ps(x[q], _mm512_loadu_ps(w[q] + c), acc);
      _mm512_storeu_ps(out_ + c, acc);
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

void GruSplitPass_avx512(const float* packed, int rows, int n3p, const float* v,
                         const float* init, float* out, bool prefetch_self,
                         PrefetchStream* pf) {
  avx2::PrefetchCursor cur(pf);
  for (int c = 0; c < n3p; ++c) out[c] = init[c];
  RowStream s(packed, rows, n3p, v, out, prefetch_self, pf != nullptr ? &cur : nullptr);
  while (s.Next()) {
  }
  cur.Save(pf);
}

void GruSplitPass2_avx512(int n3p, const GruSplitPassArgs& a, const GruSplitPassArgs& b) {
  for (int c = 0; c < n3p; ++c) {
    a.out[c] = a.init[c];
    b.out[c] = b.init[c];
  }
  RowStream sa(a.packed, a.rows, n3p, a.v, a.out, true, nullptr);
  RowStream sb(b.packed, b.rows, n3p, b.v, b.out, false, nullptr);
  bool more = true;
  while (more) more = sa.Next() | sb.Next();  // both advance every round
}

}  // namespace ghostnv::kernels
