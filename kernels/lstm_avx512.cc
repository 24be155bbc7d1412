// kernels/lstm_avx512.cc — the LSTM step and the row passes (lstm_split.h) with AVX-512
// (compiled with GHOSTNV_AVX2_FLAGS and -ffp-contract=off, AVX-512 F/VL/BW enabled below).
//
// LstmStep_avx512: the 4u gate columns in blocks of up to 128 (8 zmm accumulators, the last
// vector masked), each block summing its bias, the inputs in order, then the recurrent state
// in order, one FMA per term, in registers; the rows four ahead are prefetched (they stream
// from memory when the weights do not fit L2). RunRowPasses_avx512 is lstm_simd.h's body at 16
// lanes (bit-identical to RunRowPasses_avx2). The gates use the AVX2 activations. Call only
// when Avx512Active().

#include <cstdint>

#include "kernels/dense.h"
#include "kernels/lstm.h"
#include "kernels/lstm_split.h"
#include "kernels/simd_avx2.h"

#pragma GCC target("avx512f,avx512vl,avx512bw")

// After the target line: the shared bodies are generated for AVX-512 here.
#include "kernels/lstm_simd.h"

namespace ghostnv::kernels {
namespace {

struct Ops16 {
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static Mask TailMask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static Vec Load(const float* p) { return _mm512_loadu_ps(p); }
  static void Store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec LoadTail(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void StoreTail(float* p, Mask m, Vec v) { _mm512_mask_storeu_ps(p, m, v); }
  static Vec Set1(float f) { return _mm512_set1_ps(f); }
  static Vec Fmadd(Vec a, Vec b, Vec acc) { return _mm512_fmadd_ps(a, b, acc); }
};

// acc[0 .. NV) += Σ_j v[j] · m[j][c0 ..] over `rows` rows of `stride` floats, rows in order.
// PF: prefetch the block's lines 4 rows ahead (worth it when the weights stream from memory;
// it only costs load slots when they sit in L1/L2).
template <int NV, bool PF>
inline void AccumulateRows(__m512 (&acc)[NV], const float* m, int rows, size_t stride,
                           const float* v, __mmask16 last) {
  // Prefetch addresses as integers: they may lie past the end (prefetches never fault).
  const uintptr_t ahead = 4 * stride * sizeof(float);
  for (int j = 0; j < rows; ++j, m += stride) {
    if constexpr (PF) {
      const uintptr_t pf = reinterpret_cast<uintptr_t>(m) + ahead;
#pragma GCC unroll 8
      for (int k = 0; k < NV; ++k) {
        _mm_prefetch(reinterpret_cast<const char*>(pf + 64 * k), _MM_HINT_T0);
      }
    }
    const __m512 b = _mm512_set1_ps(v[j]);
#pragma GCC unroll 8
    for (int k = 0; k < NV; ++k) {
      const __m512 w =
          k == NV - 1 ? _mm512_maskz_loadu_ps(last, m + 16 * k) : _mm512_loadu_ps(m + 16 * k);
      acc[k] = _mm512_fmadd_ps(b, w, acc[k]);
    }
  }
}

// z[c0 .. c0 + 16·NV) (the last vector masked) = bias + x·W + h·R for those gate columns.
template <int NV, bool PF>
void StepBlock(const LstmParams& p, const float* x, const float* h, float* z, int c0,
               __mmask16 last) {
  const size_t stride = static_cast<size_t>(4 * p.units);
  __m512 acc[NV];
#pragma GCC unroll 8
  for (int k = 0; k < NV; ++k) {
    const __mmask16 m = k == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
    acc[k] = p.bias != nullptr ? _mm512_maskz_loadu_ps(m, p.bias + c0 + 16 * k)
                               : _mm512_setzero_ps();
  }
  if (p.inputs > 0) AccumulateRows<NV, PF>(acc, p.weights + c0, p.inputs, stride, x, last);
  AccumulateRows<NV, PF>(acc, p.recurrent + c0, p.units, stride, h, last);
#pragma GCC unroll 8
  for (int k = 0; k < NV; ++k) {
    if (k == NV - 1) {
      _mm512_mask_storeu_ps(z + c0 + 16 * k, last, acc[k]);
    } else {
      _mm512_storeu_ps(z + c0 + 16 * k, acc[k]);
    }
  }
}

template <bool PF>
void Block(int nv, const LstmParams& p, const float* x, const float* h, float* z, int c0,
           __mmask16 last) {
  switch (nv) {
    case 1: StepBlock<1, PF>(p, x, h, z, c0, last); break;
    case 2: StepBlock<2, PF>(p, x, h, z, c0, last); break;
    case 3: StepBlock<3, PF>(p, x, h, z, c0, last); break;
    case 4: StepBlock<4, PF>(p, x, h, z, c0, last); break;
    case 5: StepBlock<5, PF>(p, x, h, z, c0, last); break;
    case 6: StepBlock<6, PF>(p, x, h, z, c0, last); break;
    case 7: StepBlock<7, PF>(p, x, h, z, c0, last); break;
    default: StepBlock<8, PF>(p, x, h, z, c0, last); break;
  }
}

}  // namespace

void LstmStep_avx512(const LstmParams& p, const float* x, float* h, float* c, float* scratch) {
  if (p.units <= 0) return;
  const int u = p.units;
  const int n4 = 4 * u;
  float* z = scratch;
  const size_t rows = static_cast<size_t>(p.inputs > 0 ? p.inputs : 0) + static_cast<size_t>(u);
  const bool big = rows * static_cast<size_t>(n4) * sizeof(float) > (size_t{1} << 20);
  for (int c0 = 0; c0 < n4; c0 += 128) {
    const int n = n4 - c0 < 128 ? n4 - c0 : 128;
    const int nv = (n + 15) / 16;
    const __mmask16 last = Ops16::TailMask(n - 16 * (nv - 1));
    if (big) {
      Block<true>(nv, p, x, h, z, c0, last);
    } else {
      Block<false>(nv, p, x, h, z, c0, last);
    }
  }
  LstmGates_avx2(u, p.math, z, h, c);
}

void RunRowPasses_avx512(const RowPass& a, const RowPass* b) {
  lstm_simd::RunPasses<Ops16>(a, b);
}

}  // namespace ghostnv::kernels
