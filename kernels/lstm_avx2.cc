// kernels/lstm_avx2.cc — AVX2/FMA LSTM step, gates and row passes (compiled with
// GHOSTNV_AVX2_FLAGS).
//
// LstmStep_avx2: z = bias, then avx2::Gemv adds x·W and h·R in one register-blocked sweep over
// the 4u gate columns; LstmGates_avx2 applies the vectorised activations and the unfused (mul,
// add) state update like the reference. RunRowPasses_avx2 is lstm_simd.h's body at 8 lanes.
// Call only when CpuHasAvx2Fma() is true.

#include "kernels/lstm.h"
#include "kernels/lstm_split.h"
#include "kernels/simd_avx2.h"
#include "kernels/lstm_simd.h"

namespace ghostnv::kernels {
namespace {

struct Ops8 {
  using Vec = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8;
  static Mask TailMask(int n) { return avx2::TailMask(n); }
  static Vec Load(const float* p) { return _mm256_loadu_ps(p); }
  static void Store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec LoadTail(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void StoreTail(float* p, Mask m, Vec v) { _mm256_maskstore_ps(p, m, v); }
  static Vec Set1(float f) { return _mm256_set1_ps(f); }
  static Vec Fmadd(Vec a, Vec b, Vec acc) { return _mm256_fmadd_ps(a, b, acc); }
};

}  // namespace

void LstmGates_avx2(int units, MathMode math, float* z, float* h, float* c) {
  if (units <= 0) return;
  const int u = units;
  const size_t su = static_cast<size_t>(u);
  avx2::ActivateAny(Activation::kSigmoid, math, z, 2 * su);
  avx2::ActivateAny(Activation::kTanh, math, z + 2 * u, su);
  avx2::ActivateAny(Activation::kSigmoid, math, z + 3 * u, su);
  const float* fi = z;
  const float* ff = z + u;
  const float* fg = z + 2 * u;
  float* t = z;  // tanh(c') overwrites i after use
  int k = 0;
  for (; k + 8 <= u; k += 8) {
    const __m256 keep = _mm256_mul_ps(_mm256_loadu_ps(ff + k), _mm256_loadu_ps(c + k));
    const __m256 take = _mm256_mul_ps(_mm256_loadu_ps(fi + k), _mm256_loadu_ps(fg + k));
    const __m256 cn = _mm256_add_ps(keep, take);
    _mm256_storeu_ps(c + k, cn);
    _mm256_storeu_ps(t + k, cn);
  }
  for (; k < u; ++k) {
    const float cn = ff[k] * c[k] + fi[k] * fg[k];
    c[k] = cn;
    t[k] = cn;
  }
  avx2::ActivateAny(Activation::kTanh, math, t, su);
  const float* fo = z + 3 * u;
  k = 0;
  for (; k + 8 <= u; k += 8) {
    _mm256_storeu_ps(h + k, _mm256_mul_ps(_mm256_loadu_ps(fo + k), _mm256_loadu_ps(t + k)));
  }
  for (; k < u; ++k) h[k] = fo[k] * t[k];
}

void LstmStep_avx2(const LstmParams& p, const float* x, float* h, float* c, float* scratch) {
  if (p.units <= 0) return;
  const int u = p.units;
  const int n4 = 4 * u;
  const int inputs = p.inputs > 0 ? p.inputs : 0;
  float* z = scratch;
  if (p.bias != nullptr) {
    for (int k = 0; k < n4; ++k) z[k] = p.bias[k];
  } else {
    for (int k = 0; k < n4; ++k) z[k] = 0.f;
  }
  avx2::Segment sx;
  if (inputs > 0) sx = {p.weights, n4, x, inputs};
  avx2::Gemv(z, n4, sx, {p.recurrent, n4, h, u});
  LstmGates_avx2(u, p.math, z, h, c);
}

void RunRowPasses_avx2(const RowPass& a, const RowPass* b) { lstm_simd::RunPasses<Ops8>(a, b); }

}  // namespace ghostnv::kernels
