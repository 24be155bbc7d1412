// kernels/lstm_simd.h — the width-generic body of the row passes (lstm_split.h), written
// once over a small vector-ops struct and instantiated at 8 lanes (lstm_avx2.cc) and 16 lanes
// (lstm_avx512.cc).
//
// PRIVATE to kernels/: include this ONLY from those two files, after their instruction-set
// setup, and instantiate it only with an ops struct from the including file's anonymous
// namespace; everything here has internal linkage, so neither file's copy can be picked by the
// linker for the other.
//
// An ops struct V provides (static, inline): Vec, kLanes (8 or 16), Mask (a tail mask type),
// TailMask(n) (lanes [0, n)), Load / Store (unaligned), LoadTail / StoreTail (masked), Set1,
// Fmadd(a, b, acc) = a·b + acc fused.
//
// Every output column sums its init (the bias), then the rows in order, one FMA per row, at
// either width: the two instantiations give bit-identical results.
#pragma once

#if !defined(__AVX2__) || !defined(__FMA__)
#error "kernels/lstm_simd.h must only be included from files compiled with GHOSTNV_AVX2_FLAGS"
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/lstm.h"
#include "kernels/lstm_split.h"
#include "kernels/simd_avx2.h"

namespace ghostnv::kernels::lstm_simd {
namespace {

// The rows of one pass, up to 4 at a time: each out vector is loaded once per group, gets one
// FMA per row (rows in order) and is stored back, so out stays in L1 and the matrix is read
// front to back. Columns [0, cols): full vectors, then one masked vector for cols % kLanes.
// prefetch: the next group's rows are prefetched while this group is computed (one line per
// 64 bytes of every row).
template <class V>
class Rows {
 public:
  Rows(const float* m, int rows, int cols, size_t stride, const float* v, float* out,
       bool prefetch, NextRead then = {})
      : m_(m), rows_(rows), cols_(cols), stride_(stride), v_(v), out_(out), prefetch_(prefetch) {
    full_ = cols / V::kLanes * V::kLanes;
    tail_ = V::TailMask(cols - full_);
    if (prefetch && then.data != nullptr) {
      then_ = reinterpret_cast<uintptr_t>(then.data);
      then_end_ = then_ + then.bytes;
    }
  }
  // One group of rows; false when none was left.
  bool Next() {
    const int left = rows_ - j_;
    if (left <= 0) return false;
    switch (left >= 4 ? 4 : left) {
      case 1: Group<1>(); break;
      case 2: Group<2>(); break;
      case 3: Group<3>(); break;
      default: Group<4>(); break;
    }
    return true;
  }

 private:
  template <int K>
  void Group() {
    const float* w[K];
    typename V::Vec x[K];
#pragma GCC unroll 4
    for (int q = 0; q < K; ++q) {
      w[q] = m_ + static_cast<size_t>(j_ + q) * stride_;
      x[q] = V::Set1(v_[j_ + q]);
    }
    j_ += K;
    // The next group's rows, as integers: they may lie past the end (prefetches never fault).
    const uintptr_t ahead = reinterpret_cast<uintptr_t>(m_ + static_cast<size_t>(j_) * stride_);
    const uintptr_t row_bytes = stride_ * sizeof(float);
    int nxt = rows_ - j_;
    nxt = prefetch_ ? (nxt < 4 ? nxt : 4) : 0;
    int c = 0;
    for (; c < full_; c += V::kLanes) {
      typename V::Vec acc = V::Load(out_ + c);
#pragma GCC unroll 4
      for (int q = 0; q < K; ++q) acc = V::Fmadd(x[q], V::Load(w[q] + c), acc);
      V::Store(out_ + c, acc);
      if ((c * sizeof(float)) % 64 == 0) {
        for (int q = 0; q < nxt; ++q) {
          _mm_prefetch(reinterpret_cast<const char*>(ahead + q * row_bytes + c * sizeof(float)),
                       _MM_HINT_T0);
        }
        // Rows running out: the same number of lines from the caller's next read instead.
        for (int q = nxt; q < 4 && then_ < then_end_; ++q, then_ += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(then_), _MM_HINT_T0);
        }
      }
    }
    if (c < cols_) {
      typename V::Vec acc = V::LoadTail(out_ + c, tail_);
#pragma GCC unroll 4
      for (int q = 0; q < K; ++q) acc = V::Fmadd(x[q], V::LoadTail(w[q] + c, tail_), acc);
      V::StoreTail(out_ + c, tail_, acc);
    }
  }

  const float* m_;
  int rows_, cols_;
  size_t stride_;
  const float* v_;
  float* out_;
  bool prefetch_;
  int full_ = 0;
  typename V::Mask tail_;
  int j_ = 0;
  uintptr_t then_ = 0, then_end_ = 0;
};

inline void CopyInit(const RowPass& p) {
  const int n = p.m->cols_p();
  if (p.out == p.init) return;
  for (int c = 0; c < n; ++c) p.out[c] = p.init[c];
}

// RunRowPasses_* (lstm_split.h).
template <class V>
void RunPasses(const RowPass& a, const RowPass* b) {
  CopyInit(a);
  Rows<V> ra(a.m->data(), a.m->rows(), a.m->cols_p(), static_cast<size_t>(a.m->cols_p()), a.v,
             a.out, true, a.then);
  if (b == nullptr) {
    while (ra.Next()) {
    }
    return;
  }
  CopyInit(*b);
  Rows<V> rb(b->m->data(), b->m->rows(), b->m->cols_p(), static_cast<size_t>(b->m->cols_p()),
             b->v, b->out, false);
  bool more = true;
  while (more) more = ra.Next() | rb.Next();  // both advance every round
}

}  // namespace
}  // namespace ghostnv::kernels::lstm_simd
