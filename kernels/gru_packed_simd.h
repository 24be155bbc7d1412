// kernels/gru_packed_simd.h — the width-generic bodies of the packed GRU step (GruPacked) and of
// GruSplit's passes, written once over a small vector-ops struct and instantiated at 8 lanes
// (gru_packed_avx2.cc, AVX2) and 16 lanes (gru_packed_avx512.cc, AVX-512).
//
// PRIVATE to kernels/: include this ONLY from those two files, after their `#pragma GCC target`
// line (so the code is generated for that file's instruction set), and instantiate it only with
// an ops struct defined in the including file's anonymous namespace. Everything here has
// internal linkage as well (anonymous namespace, as in simd_avx2.h): the AVX-512 copy of a
// function can never be picked by the linker for the AVX2 file, nor the reverse.
//
//   namespace { struct Ops16 { using Vec = __m512; static constexpr int kLanes = 16; ... }; }
//   void GruSplitPass_avx512(...) { gru_simd::SplitPass<Ops16>(...); }
//
// An ops struct V provides (all static, inline):
//   Vec                        the vector type; kLanes: floats per vector (8 or 16)
//   kPackedPrefetchBytes       how far ahead of the current row the packed step prefetches
//   Load(const float*)         unaligned load; Store(float*, Vec) unaligned store
//   Set1(float), Broadcast(const float*)   one value in every lane (from a register / memory)
//   Fmadd(a, b, acc)           a·b + acc, fused
//   LoadPart(const float*, bool half), LoadPart(const uint16_t*, bool half) (binary16 widened
//   exactly), StorePart(float*, Vec, bool half): all lanes, or with `half` only the lower 8
//   (used only when kLanes is 16: a packed block of an odd number of 8-float vectors).
//
// Every sum is formed in the same order, one FMA per term, at either width: the two
// instantiations give bit-identical results (gru_packed_test checks it).
#pragma once

#if !defined(__AVX2__) || !defined(__FMA__)
#error "kernels/gru_packed_simd.h must only be included from files compiled with GHOSTNV_AVX2_FLAGS"
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/gru_packed.h"
#include "kernels/simd_avx2.h"

namespace ghostnv::kernels::gru_simd {
namespace {

inline float BiasAt(const float* b, int i) { return b != nullptr ? b[i] : 0.f; }

// ---------------------------------------------------------------------------------------------
// GruPacked's step.

// out[0 .. 8·NB) += Σ_j v[j] · w[j][·] over `rows` contiguous rows of 8·NB weights, rows in
// order; returns the position after the last row. With 16 lanes and NB odd, the last vector
// of a row is half used (its upper 8 lanes masked off).
template <class V, int NB, typename T>
const T* PackedRows(const T* w, int rows, const float* v, float* out) {
  constexpr int kVecs = (8 * NB + V::kLanes - 1) / V::kLanes;  // vectors per row
  constexpr bool kHalfLast = (8 * NB) % V::kLanes != 0;
  constexpr int kRowBytes = 8 * NB * static_cast<int>(sizeof(T));
  typename V::Vec acc[kVecs];
#pragma GCC unroll 8
  for (int k = 0; k < kVecs; ++k)
    acc[k] = V::LoadPart(out + V::kLanes * k, kHalfLast && k == kVecs - 1);
  for (int j = 0; j < rows; ++j, w += 8 * NB) {
    const uintptr_t ahead = reinterpret_cast<uintptr_t>(w) + V::kPackedPrefetchBytes;
#pragma GCC unroll 8
    for (int b = 0; b < kRowBytes; b += 64) {  // one prefetch per cache line of the row
      _mm_prefetch(reinterpret_cast<const char*>(ahead + b), _MM_HINT_T0);
    }
    const typename V::Vec x = V::Broadcast(v + j);
#pragma GCC unroll 8
    for (int k = 0; k < kVecs; ++k) {
      acc[k] = V::Fmadd(x, V::LoadPart(w + V::kLanes * k, kHalfLast && k == kVecs - 1), acc[k]);
    }
  }
#pragma GCC unroll 8
  for (int k = 0; k < kVecs; ++k)
    V::StorePart(out + V::kLanes * k, acc[k], kHalfLast && k == kVecs - 1);
  return w;
}

template <class V, typename T>
const T* PackedRowsAny(int nb, const T* w, int rows, const float* v, float* out) {
  switch (nb) {
    case 1: return PackedRows<V, 1, T>(w, rows, v, out);
    case 2: return PackedRows<V, 2, T>(w, rows, v, out);
    case 3: return PackedRows<V, 3, T>(w, rows, v, out);
    case 4: return PackedRows<V, 4, T>(w, rows, v, out);
    case 5: return PackedRows<V, 5, T>(w, rows, v, out);
    case 6: return PackedRows<V, 6, T>(w, rows, v, out);
    case 7: return PackedRows<V, 7, T>(w, rows, v, out);
    default: return PackedRows<V, 8, T>(w, rows, v, out);
  }
}

// One GRU step over GruPacked's layout (gru_packed.h); T: float or binary16 (uint16_t).
template <class V, typename T>
void PackedStep(const GruParams& p, const T* packed, const float* x, float* state,
                float* scratch) {
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
      w = PackedRowsAny<V>(nb, w, inputs, x, o);
      w = PackedRowsAny<V>(nb, w, u, state, o);
      o += 8 * nb;
    }
  }
  // Candidate: x·Wh into cand, s·Rh into extra (reset_after).
  {
    float* o = cand;
    float* e = extra;
    for (int b = 0; b < blocks; ++b) {
      const int nb = GruPackedBlockWidth(nv, b);
      w = PackedRowsAny<V>(nb, w, inputs, x, o);
      w = PackedRowsAny<V>(nb, w, u, state, e);
      o += 8 * nb;
      e += 8 * nb;
    }
  }
  // The gates, 8 lanes at a time at either width (units is a multiple of 8).
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
    const __m256 keep = _mm256_mul_ps(zv, s);
    const __m256 take = _mm256_mul_ps(_mm256_sub_ps(_mm256_set1_ps(1.f), zv), c);
    _mm256_storeu_ps(state + i, _mm256_add_ps(keep, take));
  }
}

// ---------------------------------------------------------------------------------------------
// GruSplit's passes over the split layout.

// Rows of a [rows][n3p] matrix whose v[j] is not zero (a zero row adds exactly 0 to every sum,
// so it is neither read nor multiplied), up to 4 at a time: every out vector is loaded once,
// gets one FMA per row (rows in order) and is stored back; out stays in L1. self: the next
// chunk's rows are prefetched (they come from memory), one line per 16 columns per row; else
// pf (the caller's stream) advances one line per 16 columns. n3p is a multiple of 16.
template <class V>
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
    typename V::Vec x[K];
    for (int q = 0; q < K; ++q) {
      w[q] = m_ + static_cast<size_t>(cur_[q]) * static_cast<size_t>(n3p_);
      x[q] = V::Set1(v_[cur_[q]]);
    }
    const char* pre[4];
    for (int q = 0; q < nn_; ++q)
      pre[q] = reinterpret_cast<const char*>(m_ + static_cast<size_t>(nxt_[q]) *
                                                      static_cast<size_t>(n3p_));
    for (int c = 0; c < n3p_; c += V::kLanes) {
      typename V::Vec acc = V::Load(out_ + c);
#pragma GCC unroll 4
      for (int q = 0; q < K; ++q) acc = V::Fmadd(x[q], V::Load(w[q] + c), acc);
      V::Store(out_ + c, acc);
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

// GruSplitPass_* (gru_packed.h).
template <class V>
void SplitPass(const float* packed, int rows, int n3p, const float* v, const float* init,
               float* out, bool prefetch_self, PrefetchStream* pf) {
  avx2::PrefetchCursor cur(pf);
  for (int c = 0; c < n3p; ++c) out[c] = init[c];
  RowStream<V> s(packed, rows, n3p, v, out, prefetch_self, pf != nullptr ? &cur : nullptr);
  while (s.Next()) {
  }
  cur.Save(pf);
}

// GruSplitPass2_* (gru_packed.h).
template <class V>
void SplitPass2(int n3p, const GruSplitPassArgs& a, const GruSplitPassArgs& b) {
  for (int c = 0; c < n3p; ++c) {
    a.out[c] = a.init[c];
    b.out[c] = b.init[c];
  }
  RowStream<V> sa(a.packed, a.rows, n3p, a.v, a.out, true, nullptr);
  RowStream<V> sb(b.packed, b.rows, n3p, b.v, b.out, false, nullptr);
  bool more = true;
  while (more) more = sa.Next() | sb.Next();  // both advance every round
}

}  // namespace
}  // namespace ghostnv::kernels::gru_simd
