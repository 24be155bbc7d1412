// kernels/gru_packed_avx512.cc — GruPacked's step and GruSplit's passes with AVX-512 (compiled
// with GHOSTNV_AVX2_FLAGS and -ffp-contract=off, AVX-512 F/VL/BW and F16C enabled below).
//
// gru_packed_simd.h's width-generic bodies at 16 lanes, the same layout, sums and operation
// order as the AVX2 file's 8-lane instantiation: a packed block of nb 8-float vectors is nb/2
// zmm plus, when nb is odd, one zmm whose upper 8 lanes are masked off. Every column still sums
// bias, inputs in order, then the recurrent state in order, one FMA each, so the results are
// bit-identical to the AVX2 step (and to GruStep_avx2 for units >= 40) and passes. Call only
// when Avx512Active() and CpuHasF16c().

#include <cstdint>

#include "kernels/dense.h"
#include "kernels/gru_packed.h"
#include "kernels/simd_avx2.h"

#pragma GCC target("avx512f,avx512vl,avx512bw,f16c")

// After the target line: the shared bodies are generated for AVX-512 here.
#include "kernels/gru_packed_simd.h"

namespace ghostnv::kernels {
namespace {

// 16 lanes (gru_packed_simd.h's ops struct).
struct Ops16 {
  using Vec = __m512;
  static constexpr int kLanes = 16;
  // Bytes ahead of the current row that the packed step prefetches (it streams from L3).
  static constexpr int kPackedPrefetchBytes = 2048;
  static Vec Load(const float* p) { return _mm512_loadu_ps(p); }
  static void Store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec Set1(float f) { return _mm512_set1_ps(f); }
  static Vec Broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static Vec Fmadd(Vec a, Vec b, Vec acc) { return _mm512_fmadd_ps(a, b, acc); }
  static __mmask16 Mask(bool half) { return half ? 0x00FF : 0xFFFF; }
  static Vec LoadPart(const float* p, bool half) { return _mm512_maskz_loadu_ps(Mask(half), p); }
  static Vec LoadPart(const uint16_t* p, bool half) {
    return _mm512_maskz_cvtph_ps(Mask(half), _mm256_maskz_loadu_epi16(Mask(half), p));
  }
  static void StorePart(float* p, Vec v, bool half) { _mm512_mask_storeu_ps(p, Mask(half), v); }
};

}  // namespace

void GruPackedStep_avx512(const GruParams& p, const float* packed, const float* x, float* state,
                          float* scratch) {
  gru_simd::PackedStep<Ops16>(p, packed, x, state, scratch);
}

void GruPackedStepHalf_avx512(const GruParams& p, const uint16_t* packed, const float* x,
                              float* state, float* scratch) {
  gru_simd::PackedStep<Ops16>(p, packed, x, state, scratch);
}

// ---------------------------------------------------------------------------------------------
// GruSplit: passes over the split layout (the same sums as GruSplitPass_avx2, 16 lanes).

void GruSplitPass_avx512(const float* packed, int rows, int n3p, const float* v,
                         const float* init, float* out, bool prefetch_self,
                         PrefetchStream* pf) {
  gru_simd::SplitPass<Ops16>(packed, rows, n3p, v, init, out, prefetch_self, pf);
}

void GruSplitPass2_avx512(int n3p, const GruSplitPassArgs& a, const GruSplitPassArgs& b) {
  gru_simd::SplitPass2<Ops16>(n3p, a, b);
}

}  // namespace ghostnv::kernels
