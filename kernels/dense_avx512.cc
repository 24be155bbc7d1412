// kernels/dense_avx512.cc — AVX-512 dense layers over several input rows (DenseRows) and
// grouped layers (DenseGroups); compiled with GHOSTNV_AVX2_FLAGS and -ffp-contract=off,
// AVX-512 F/VL/BW enabled below.
//
// A block of up to 4 rows × 64 units lives in 16 zmm accumulators; for each input j the 4
// weight vectors of row j are loaded once and feed one FMA per row. Every output sums bias,
// then inputs in order, one FMA each, exactly as Dense_avx2's wide blocks do, so the results
// are bit-identical to Dense on each row (units % 8 == 0, units >= 40). Call only when
// Avx512Active().

#include <cstddef>
#include <cstdint>

#include "kernels/dense.h"
#include "kernels/simd_avx2.h"

#pragma GCC target("avx512f,avx512vl,avx512bw")

namespace ghostnv::kernels {
namespace {

using Pf = avx2::PrefetchCursor;

// Lanes [0, n) of a 16-lane mask, n in [0, 16].
inline __mmask16 LaneMask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }

// y rows [0, R) × vectors [0, NV) of 16 units (the last one masked by `last`).
template <int R, int NV>
inline void Block(const DenseParams& p, const float* x, int x_stride, float* y, int c0,
                  __mmask16 last, Pf& pf) {
  const int units = p.units;
  __m512 acc[R][NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    const __mmask16 m = v == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
    const __m512 b = p.bias != nullptr ? _mm512_maskz_loadu_ps(m, p.bias + c0 + 16 * v)
                                       : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[r][v] = b;
  }
  const float* w = p.inputs > 0 ? p.weights + c0 : nullptr;  // weights may be null when empty
  for (int j = 0; j < p.inputs; ++j, w += units) {
    // R·NV FMAs per input: about one prefetched line per 8 FMAs keeps the stream near the
    // rate one core reads from L3 without starving the arithmetic of load slots.
#pragma GCC unroll 2
    for (int k = 0; k < (R * NV + 7) / 8; ++k) pf.Step();
    __m512 wv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      wv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, w + 16 * v) : _mm512_loadu_ps(w + 16 * v);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 xb = _mm512_set1_ps(x[static_cast<size_t>(r) * x_stride + j]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(xb, wv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    float* yr = y + static_cast<size_t>(r) * units + c0;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (v == NV - 1) {
        _mm512_mask_storeu_ps(yr + 16 * v, last, acc[r][v]);
      } else {
        _mm512_storeu_ps(yr + 16 * v, acc[r][v]);
      }
    }
  }
}

template <int R>
inline void Columns(const DenseParams& p, const float* x, int x_stride, float* y, Pf& pf) {
  const int units = p.units;
  for (int c0 = 0; c0 < units; c0 += 64) {
    const int n = units - c0 < 64 ? units - c0 : 64;
    const int nv = (n + 15) / 16;
    const __mmask16 last = LaneMask(n - 16 * (nv - 1));
    switch (nv) {
      case 1: Block<R, 1>(p, x, x_stride, y, c0, last, pf); break;
      case 2: Block<R, 2>(p, x, x_stride, y, c0, last, pf); break;
      case 3: Block<R, 3>(p, x, x_stride, y, c0, last, pf); break;
      default: Block<R, 4>(p, x, x_stride, y, c0, last, pf); break;
    }
  }
}

// G groups × NV vectors of 16 units (the last masked by `last`) in flight: G·NV independent
// FMA chains, each output summing bias, then its inputs in order.
template <int G, int NV>
inline void Groups(const DenseParams& p, int g0, const float* x, float* y, __mmask16 last,
                   Pf& pf) {
  const size_t in = static_cast<size_t>(p.inputs > 0 ? p.inputs : 0);
  const size_t units = static_cast<size_t>(p.units);
  __m512 acc[G][NV];
  const float* w[G];
  const float* xg[G];
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) {
    const size_t gi = static_cast<size_t>(g0 + g);
    w[g] = p.weights + gi * in * units;
    xg[g] = x + gi * in;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
      acc[g][v] = p.bias != nullptr ? _mm512_maskz_loadu_ps(m, p.bias + gi * units + 16 * v)
                                    : _mm512_setzero_ps();
    }
  }
  for (size_t j = 0; j < in; ++j) {
    pf.Step();
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const __m512 xb = _mm512_set1_ps(xg[g][j]);
      const float* wr = w[g] + j * units;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const __m512 wv = v == NV - 1 ? _mm512_maskz_loadu_ps(last, wr + 16 * v)
                                      : _mm512_loadu_ps(wr + 16 * v);
        acc[g][v] = _mm512_fmadd_ps(xb, wv, acc[g][v]);
      }
    }
  }
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) {
    float* yg = y + static_cast<size_t>(g0 + g) * units;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (v == NV - 1) {
        _mm512_mask_storeu_ps(yg + 16 * v, last, acc[g][v]);
      } else {
        _mm512_storeu_ps(yg + 16 * v, acc[g][v]);
      }
    }
  }
}

// All groups, G at a time (8 / NV: about 8 FMA chains), then the rest one by one.
template <int NV>
void GroupsAll(const DenseParams& p, int groups, const float* x, float* y, __mmask16 last,
               Pf& pf) {
  constexpr int kG = 8 / NV;
  int g = 0;
  for (; g + kG <= groups; g += kG) Groups<kG, NV>(p, g, x, y, last, pf);
  for (; g < groups; ++g) Groups<1, NV>(p, g, x, y, last, pf);
}

}  // namespace

void DenseGroups_avx512(const DenseParams& p, int groups, const float* x, float* y,
                        PrefetchStream* stream) {
  Pf pf(stream);
  const int nv = (p.units + 15) / 16;
  const __mmask16 last = LaneMask(p.units - 16 * (nv - 1));
  switch (nv) {
    case 1: GroupsAll<1>(p, groups, x, y, last, pf); break;
    case 2: GroupsAll<2>(p, groups, x, y, last, pf); break;
    case 3: GroupsAll<3>(p, groups, x, y, last, pf); break;
    default: GroupsAll<4>(p, groups, x, y, last, pf); break;
  }
  pf.Save(stream);
  avx2::ActivateAny(p.activation, p.math, y,
                    static_cast<size_t>(groups) * static_cast<size_t>(p.units));
}

void DenseRows_avx512(const DenseParams& p, const float* x, int rows, int x_stride, float* y,
                      PrefetchStream* stream) {
  Pf pf(stream);
  const size_t units = static_cast<size_t>(p.units);
  const size_t xs = static_cast<size_t>(x_stride);
  int r = 0;
  for (; r + 4 <= rows; r += 4) Columns<4>(p, x + r * xs, x_stride, y + r * units, pf);
  switch (rows - r) {
    case 3: Columns<3>(p, x + r * xs, x_stride, y + r * units, pf); break;
    case 2: Columns<2>(p, x + r * xs, x_stride, y + r * units, pf); break;
    case 1: Columns<1>(p, x + r * xs, x_stride, y + r * units, pf); break;
    default: break;
  }
  pf.Save(stream);
  avx2::ActivateAny(p.activation, p.math, y, static_cast<size_t>(rows) * units);
}

}  // namespace ghostnv::kernels
