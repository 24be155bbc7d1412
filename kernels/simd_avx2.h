// kernels/simd_avx2.h — AVX2/FMA building blocks shared by the *_avx2.cc kernels.
//
// PRIVATE to kernels/: include this ONLY from translation units compiled with
// ${GHOSTNV_AVX2_FLAGS} (the *_avx2.cc files). Everything here has internal linkage (anonymous
// namespace), so no AVX2-compiled copy of an inline function can be picked by the linker for a
// scalar translation unit (the classic "SIGILL on an old CPU" ODR trap). For the same reason
// the *_avx2.cc files avoid header-only templates from the standard library.
//
//   __m256 t = avx2::TanhExact(v);                                 // |err| <= 1e-6
//   avx2::Gemv(out, cols, {w, stride, x, n}, {r, stride, s, m});   // out += x·W + s·R
//
// Accuracy of the vectorised exact-mode functions (measured by activations_test against
// double-precision tanh / sigmoid): absolute error below 1e-6 for every finite float input
// (measured max 1.5e-7 for tanh, 9e-8 for sigmoid); NaN inputs give 0, +-inf give the limits.
#pragma once

#if !defined(__AVX2__) || !defined(__FMA__)
#error "kernels/simd_avx2.h must only be included from files compiled with GHOSTNV_AVX2_FLAGS"
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/activations.h"
#include "kernels/dense.h"

namespace ghostnv::kernels::avx2 {
namespace {

// ---------------------------------------------------------------------------------------------
// Masks for the last (n % 8) elements.

alignas(64) constexpr int32_t kMaskSource[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                 0,  0,  0,  0,  0,  0,  0,  0};

// Lanes [0, rem) set, rem in [0, 8].
inline __m256i TailMask(int rem) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskSource + 8 - rem));
}

// ---------------------------------------------------------------------------------------------
// Exponential core.

constexpr double kLn2 = 0.69314718055994530942;
constexpr float kLn2Hi = static_cast<float>(kLn2);
constexpr float kLn2Lo = static_cast<float>(kLn2 - static_cast<double>(kLn2Hi));
constexpr float kLog2e = 1.44269504088896340736f;

// For x in [-87, 0.5] (callers clamp): returns 2^n in *scale and expm1(r) in the return value,
// with x = n ln2 + r, |r| <= ln2/2, so that exp(x) = scale * (1 + q) and
// expm1(x) = scale * q + (scale - 1), both without cancellation for small |x|.
inline __m256 ExpCore(__m256 x, __m256* scale) {
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);  // x - n*ln2_hi, one rounding
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  // expm1(r) = r * (1 + r/2 + r^2/6 + ... + r^6/5040): Taylor, truncation error < 2e-8 relative
  // for |r| <= ln2/2.
  __m256 p = _mm256_set1_ps(1.f / 5040.f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 720.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 120.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 24.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 6.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  const __m256 q = _mm256_mul_ps(p, r);
  // 2^n through the exponent field; n >= -126 for the clamped inputs, so it stays normal.
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  *scale = _mm256_castsi256_ps(bits);
  return q;
}

inline __m256 AbsPs(__m256 x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), x); }

// Lanes that are NaN become 0; the others keep `v`.
inline __m256 ZeroWhereNan(__m256 x, __m256 v) {
  return _mm256_and_ps(v, _mm256_cmp_ps(x, x, _CMP_ORD_Q));
}

// tanh(x) = sign(x) * -expm1(-2|x|) / (2 + expm1(-2|x|)); |x| clamped to 9 (tanh(9) rounds to
// 1 in float). min_ps returns its second operand for NaN, so the arithmetic stays finite.
inline __m256 TanhExact(__m256 x) {
  const __m256 ax = _mm256_min_ps(AbsPs(x), _mm256_set1_ps(9.f));
  __m256 scale;
  const __m256 q = ExpCore(_mm256_mul_ps(ax, _mm256_set1_ps(-2.f)), &scale);
  const __m256 em1 = _mm256_fmadd_ps(scale, q, _mm256_sub_ps(scale, _mm256_set1_ps(1.f)));
  const __m256 t = _mm256_div_ps(_mm256_sub_ps(_mm256_setzero_ps(), em1),
                                 _mm256_add_ps(_mm256_set1_ps(2.f), em1));
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.f));
  return ZeroWhereNan(x, _mm256_or_ps(t, sign));
}

// sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, with e = exp(-|x|), |x| <= 87.
inline __m256 SigmoidExact(__m256 x) {
  const __m256 ax = _mm256_min_ps(AbsPs(x), _mm256_set1_ps(87.f));
  __m256 scale;
  const __m256 q = ExpCore(_mm256_sub_ps(_mm256_setzero_ps(), ax), &scale);
  const __m256 e = _mm256_fmadd_ps(scale, q, scale);
  const __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 num = _mm256_blendv_ps(_mm256_set1_ps(1.f), e, neg);
  return ZeroWhereNan(x, _mm256_div_ps(num, _mm256_add_ps(_mm256_set1_ps(1.f), e)));
}

// RNNoise's tansig_approx, operation for operation like TansigApprox() in activations.cc (this
// file is compiled with -ffp-contract=off, so the mul/add pairs are not fused): the results are
// bit-identical to the scalar reference. `table` is TansigTable().
inline __m256 TansigApprox(__m256 x, const float* table) {
  const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  const __m256 pos_sat = _mm256_cmp_ps(x, _mm256_set1_ps(8.f), _CMP_NLT_UQ);   // !(x < 8)
  const __m256 neg_sat = _mm256_cmp_ps(x, _mm256_set1_ps(-8.f), _CMP_NGT_UQ);  // !(x > -8)
  const __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  // Clamp keeps the table index in range for the lanes that are overwritten below anyway.
  const __m256 ax = _mm256_min_ps(AbsPs(x), _mm256_set1_ps(7.9f));
  const __m256 fi =
      _mm256_floor_ps(_mm256_add_ps(_mm256_set1_ps(.5f), _mm256_mul_ps(_mm256_set1_ps(25.f), ax)));
  const __m256i i = _mm256_cvttps_epi32(fi);
  const __m256 dx = _mm256_sub_ps(ax, _mm256_mul_ps(_mm256_set1_ps(.04f), fi));
  __m256 y = _mm256_i32gather_ps(table, i, 4);
  const __m256 dy = _mm256_sub_ps(_mm256_set1_ps(1.f), _mm256_mul_ps(y, y));
  y = _mm256_add_ps(y, _mm256_mul_ps(_mm256_mul_ps(dx, dy),
                                     _mm256_sub_ps(_mm256_set1_ps(1.f), _mm256_mul_ps(y, dx))));
  y = _mm256_xor_ps(y, _mm256_and_ps(neg, _mm256_set1_ps(-0.f)));
  y = _mm256_blendv_ps(y, _mm256_set1_ps(1.f), pos_sat);
  y = _mm256_blendv_ps(y, _mm256_set1_ps(-1.f), neg_sat);
  return _mm256_andnot_ps(nan, y);
}

inline __m256 SigmoidApprox(__m256 x, const float* table) {
  const __m256 half = _mm256_set1_ps(.5f);
  return _mm256_add_ps(half, _mm256_mul_ps(half, TansigApprox(_mm256_mul_ps(half, x), table)));
}

// max_ps returns its second operand when the first is NaN: relu(NaN) = 0, like the reference.
inline __m256 Relu(__m256 x) { return _mm256_max_ps(x, _mm256_setzero_ps()); }

template <Activation A, MathMode M>
inline __m256 Act(__m256 x, const float* table) {
  if constexpr (A == Activation::kIdentity) {
    return x;
  } else if constexpr (A == Activation::kRelu) {
    return Relu(x);
  } else if constexpr (A == Activation::kTanh) {
    if constexpr (M == MathMode::kRnnoiseApprox) return TansigApprox(x, table);
    return TanhExact(x);
  } else {
    if constexpr (M == MathMode::kRnnoiseApprox) return SigmoidApprox(x, table);
    return SigmoidExact(x);
  }
}

template <Activation A, MathMode M>
void ActivateArray(float* x, size_t n, const float* table) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i);
    const __m256 b = _mm256_loadu_ps(x + i + 8);
    _mm256_storeu_ps(x + i, Act<A, M>(a, table));
    _mm256_storeu_ps(x + i + 8, Act<A, M>(b, table));
  }
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, Act<A, M>(_mm256_loadu_ps(x + i), table));
  if (i < n) {
    const __m256i mask = TailMask(static_cast<int>(n - i));
    _mm256_maskstore_ps(x + i, mask, Act<A, M>(_mm256_maskload_ps(x + i, mask), table));
  }
}

template <MathMode M>
void ActivateArrayMode(Activation act, float* x, size_t n, const float* table) {
  switch (act) {
    case Activation::kIdentity:
      return;
    case Activation::kRelu:
      return ActivateArray<Activation::kRelu, M>(x, n, table);
    case Activation::kTanh:
      return ActivateArray<Activation::kTanh, M>(x, n, table);
    case Activation::kSigmoid:
      return ActivateArray<Activation::kSigmoid, M>(x, n, table);
  }
}

// In-place activation of x[0..n); the same contract as Activate_ref.
inline void ActivateAny(Activation act, MathMode math, float* x, size_t n) {
  if (n == 0 || act == Activation::kIdentity) return;
  if (math == MathMode::kRnnoiseApprox) {
    ActivateArrayMode<MathMode::kRnnoiseApprox>(act, x, n, TansigTable());
  } else {
    ActivateArrayMode<MathMode::kExact>(act, x, n, nullptr);
  }
}

// ---------------------------------------------------------------------------------------------
// Matrix-vector products on input-major weights.

// One product term: sum_j x[j] * w[j*stride + c] for the columns c a kernel handles.
struct Segment {
  const float* w = nullptr;  // column 0 of row 0 for the caller's column range
  int stride = 0;            // floats between rows
  const float* x = nullptr;
  int n = 0;  // rows
};

// Rows are dealt round-robin to SPLIT independent sets of NB accumulators, so that narrow
// blocks (few columns, hence few independent FMA chains) are not bound by the FMA latency.
// With SPLIT == 1 every column sums its rows strictly in order. PF: software-prefetch the block's
// cache lines kPrefetchRows rows ahead (worth it when the matrix streams from L2; it only costs
// load-port slots when the matrix already sits in L1).
constexpr int kPrefetchRows = 4;

template <int NB, int SPLIT, bool PF>
inline void AccumulateRows(__m256 (&acc)[SPLIT][NB], const Segment& s) {
  const float* w = s.w;
  // Prefetch addresses are formed as integers: they may lie past the end of the matrix
  // (prefetches never fault), and pointer arithmetic there would be undefined.
  const uintptr_t pf_ahead =
      static_cast<uintptr_t>(kPrefetchRows) * static_cast<uintptr_t>(s.stride) * sizeof(float);
  int j = 0;
  for (; j + SPLIT <= s.n; j += SPLIT) {
#pragma GCC unroll 4
    for (int q = 0; q < SPLIT; ++q, w += s.stride) {
      if constexpr (PF) {
        const uintptr_t ahead = reinterpret_cast<uintptr_t>(w) + pf_ahead;
#pragma GCC unroll 16
        for (int k = 0; k < NB; k += 2) {
          _mm_prefetch(reinterpret_cast<const char*>(ahead + 32 * k), _MM_HINT_T0);
        }
      }
      const __m256 b = _mm256_broadcast_ss(s.x + j + q);
#pragma GCC unroll 16
      for (int k = 0; k < NB; ++k) {
        acc[q][k] = _mm256_fmadd_ps(b, _mm256_loadu_ps(w + 8 * k), acc[q][k]);
      }
    }
  }
  for (; j < s.n; ++j, w += s.stride) {
    const __m256 b = _mm256_broadcast_ss(s.x + j);
#pragma GCC unroll 16
    for (int k = 0; k < NB; ++k) {
      acc[0][k] = _mm256_fmadd_ps(b, _mm256_loadu_ps(w + 8 * k), acc[0][k]);
    }
  }
}

// Accumulates NB*8 consecutive columns of up to two segments in registers:
// out[c] = out[c] + sum_j s1.x[j]*s1.w[j*s1.stride + c] + sum_j s2.x[j]*s2.w[...]
// (all of s1's rows, then all of s2's), one FMA per row and column.
template <int NB, int SPLIT, bool PF>
inline void GemvBlock(float* out, const Segment& s1, const Segment& s2) {
  __m256 acc[SPLIT][NB];
#pragma GCC unroll 16
  for (int k = 0; k < NB; ++k) {
    acc[0][k] = _mm256_loadu_ps(out + 8 * k);
#pragma GCC unroll 4
    for (int q = 1; q < SPLIT; ++q) acc[q][k] = _mm256_setzero_ps();
  }
  AccumulateRows<NB, SPLIT, PF>(acc, s1);
  AccumulateRows<NB, SPLIT, PF>(acc, s2);
#pragma GCC unroll 16
  for (int k = 0; k < NB; ++k) {
    __m256 v = acc[0][k];
    if constexpr (SPLIT == 4) {
      v = _mm256_add_ps(_mm256_add_ps(v, acc[1][k]), _mm256_add_ps(acc[2][k], acc[3][k]));
    } else if constexpr (SPLIT == 2) {
      v = _mm256_add_ps(v, acc[1][k]);
    }
    _mm256_storeu_ps(out + 8 * k, v);
  }
}

inline void AccumulateRowsMasked(__m256 (&acc)[4], __m256i mask, const Segment& s) {
  const float* w = s.w;
  int j = 0;
  for (; j + 4 <= s.n; j += 4) {
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q, w += s.stride) {
      acc[q] =
          _mm256_fmadd_ps(_mm256_broadcast_ss(s.x + j + q), _mm256_maskload_ps(w, mask), acc[q]);
    }
  }
  for (; j < s.n; ++j, w += s.stride) {
    acc[0] = _mm256_fmadd_ps(_mm256_broadcast_ss(s.x + j), _mm256_maskload_ps(w, mask), acc[0]);
  }
}

// The last rem (1..7) columns, with masked loads (masked-off lanes are never read) and four
// interleaved partial sums.
inline void GemvTail(float* out, int rem, const Segment& s1, const Segment& s2) {
  const __m256i mask = TailMask(rem);
  __m256 acc[4] = {_mm256_maskload_ps(out, mask), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  AccumulateRowsMasked(acc, mask, s1);
  AccumulateRowsMasked(acc, mask, s2);
  const __m256 v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
  _mm256_maskstore_ps(out, mask, v);
}

// The segment restricted to the columns from c on (an empty segment may hold null pointers).
inline Segment Offset(Segment s, int c) {
  if (s.n > 0) s.w += c;
  return s;
}

// Up to 12 accumulators (96 columns) per pass over the rows: 12 FMAs per broadcast keep both
// FMA ports busy and leave registers for the broadcast and the loads.
constexpr int kMaxBlock = 12;

// Matrices spanning more than this many bytes are assumed to stream from L2 (prefetched).
constexpr size_t kPrefetchAboveBytes = 32 * 1024;

template <bool PF>
void GemvBlocks(float* out, int nv, const Segment& s1, const Segment& s2) {
  // Split into blocks of equal size (e.g. 36 vectors -> 3 x 12, 18 -> 2 x 9).
  const int blocks = (nv + kMaxBlock - 1) / kMaxBlock;
  const int per = nv / blocks;
  const int extra = nv % blocks;
  int c = 0;
  for (int b = 0; b < blocks; ++b) {
    const int width = per + (b < extra ? 1 : 0);
    float* o = out + c;
    const Segment a = Offset(s1, c);
    const Segment d = Offset(s2, c);
    // Narrow blocks split their rows over 2 or 4 accumulator sets (>= 8 FMA chains).
    // clang-format off
    switch (width) {
      case 1: GemvBlock<1, 4, false>(o, a, d); break;
      case 2: GemvBlock<2, 4, false>(o, a, d); break;
      case 3: GemvBlock<3, 2, false>(o, a, d); break;
      case 4: GemvBlock<4, 2, false>(o, a, d); break;
      case 5: GemvBlock<5, 1, PF>(o, a, d); break;
      case 6: GemvBlock<6, 1, PF>(o, a, d); break;
      case 7: GemvBlock<7, 1, PF>(o, a, d); break;
      case 8: GemvBlock<8, 1, PF>(o, a, d); break;
      case 9: GemvBlock<9, 1, PF>(o, a, d); break;
      case 10: GemvBlock<10, 1, PF>(o, a, d); break;
      case 11: GemvBlock<11, 1, PF>(o, a, d); break;
      default: GemvBlock<12, 1, PF>(o, a, d); break;
    }
    // clang-format on
    c += 8 * width;
  }
}

// out[c] += s1 and s2 products for c in [0, cols). s2 may be empty (n = 0).
// Blocks of 40+ columns sum each column's rows strictly in order (bias already in out, then
// s1, then s2), like the references; narrower blocks and the masked tail sum interleaved
// partial sums (rows j, j+SPLIT, ...) and add them at the end: same accuracy class, different
// rounding.
inline void Gemv(float* out, int cols, Segment s1, Segment s2 = {}) {
  const int nv = cols / 8;
  if (nv > 0) {
    auto bytes = [](const Segment& s) {
      return s.n > 0 ? static_cast<size_t>(s.n) * static_cast<size_t>(s.stride) * sizeof(float)
                     : size_t{0};
    };
    const size_t span = bytes(s1) + bytes(s2);
    if (span > kPrefetchAboveBytes) {
      GemvBlocks<true>(out, nv, s1, s2);
    } else {
      GemvBlocks<false>(out, nv, s1, s2);
    }
  }
  const int c = 8 * nv;
  if (c < cols) GemvTail(out + c, cols - c, Offset(s1, c), Offset(s2, c));
}

// ---------------------------------------------------------------------------------------------
// A PrefetchStream (dense.h) being issued: Step() prefetches its next line into L2 and
// advances. Addresses are handled as integers: they never leave [next, end), which the
// caller's buffer spans. Save() writes the position back.

struct PrefetchCursor {
  uintptr_t next = 0, end = 0;
  explicit PrefetchCursor(const PrefetchStream* s)
      : next(s != nullptr ? reinterpret_cast<uintptr_t>(s->next) : 0),
        end(s != nullptr ? reinterpret_cast<uintptr_t>(s->end) : 0) {}
  inline void Step() {
    if (next < end) {
      _mm_prefetch(reinterpret_cast<const char*>(next), _MM_HINT_T1);
      next = end - next > 64 ? next + 64 : end;
    }
  }
  void Save(PrefetchStream* s) const {
    if (s != nullptr) s->next = reinterpret_cast<const char*>(next);
  }
};

}  // namespace
}  // namespace ghostnv::kernels::avx2
