// kernels/gru_packed_avx2.cc — GruPacked's step and GruSplit's passes with AVX2/FMA (compiled
// with GHOSTNV_AVX2_FLAGS and -ffp-contract=off, F16C enabled below), and GruSplit's gates.
// The step and the passes are gru_packed_simd.h's width-generic bodies at 8 lanes; the
// AVX-512 file instantiates the same bodies at 16 lanes (bit-identical results).
//
// The packed step has the same sums and operation order as GruStep_avx2 (reset_after, wide
// blocks): bit-identical results for units >= 40. The binary16 variant widens the weights with
// F16C (exact) and is otherwise the same code. Call only when CpuHasAvx2Fma() and CpuHasF16c()
// are true (the whole file is compiled for F16C on top of GHOSTNV_AVX2_FLAGS).

#include <cstdint>

#include "kernels/gru_packed.h"
#include "kernels/simd_avx2.h"

#pragma GCC target("f16c")

// After the target line: the shared bodies are generated for AVX2 + F16C here.
#include "kernels/gru_packed_simd.h"

namespace ghostnv::kernels {
namespace {

// 8 lanes (gru_packed_simd.h's ops struct).
struct Ops8 {
  using Vec = __m256;
  static constexpr int kLanes = 8;
  // Bytes ahead of the current row that the packed step prefetches (it streams from L3).
  static constexpr int kPackedPrefetchBytes = 1024;
  static Vec Load(const float* p) { return _mm256_loadu_ps(p); }
  static void Store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec Set1(float f) { return _mm256_set1_ps(f); }
  static Vec Broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static Vec Fmadd(Vec a, Vec b, Vec acc) { return _mm256_fmadd_ps(a, b, acc); }
  // Packed blocks are whole 8-float vectors: `half` is never set at 8 lanes.
  static Vec LoadPart(const float* p, bool /*half*/) { return _mm256_loadu_ps(p); }
  static Vec LoadPart(const uint16_t* p, bool /*half*/) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static void StorePart(float* p, Vec v, bool /*half*/) { _mm256_storeu_ps(p, v); }
};

}  // namespace

void GruPackedStep_avx2(const GruParams& p, const float* packed, const float* x, float* state,
                        float* scratch) {
  gru_simd::PackedStep<Ops8>(p, packed, x, state, scratch);
}

void GruPackedStepHalf_avx2(const GruParams& p, const uint16_t* packed, const float* x,
                            float* state, float* scratch) {
  gru_simd::PackedStep<Ops8>(p, packed, x, state, scratch);
}

// ---------------------------------------------------------------------------------------------
// GruSplit: passes over the split layout, and the gates.

void GruSplitPass_avx2(const float* packed, int rows, int n3p, const float* v,
                       const float* init, float* out, bool prefetch_self, PrefetchStream* pf) {
  gru_simd::SplitPass<Ops8>(packed, rows, n3p, v, init, out, prefetch_self, pf);
}

void GruSplitPass2_avx2(int n3p, const GruSplitPassArgs& a, const GruSplitPassArgs& b) {
  gru_simd::SplitPass2<Ops8>(n3p, a, b);
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
