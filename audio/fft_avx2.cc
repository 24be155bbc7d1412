// audio/fft_avx2.cc — the FFT stage kernels, 8 butterflies at a time with AVX2 (see
// fft_stages.inc). Only called when kernels::ActiveSimd() says the CPU has AVX2 and FMA.
#include <immintrin.h>

#include <cmath>

#include "audio/fft_internal.h"

namespace ghostnv::audio::fft_avx2 {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kLanes = 8;

struct Vec {
  __m256 v;
  Vec() : v(_mm256_setzero_ps()) {}
  explicit Vec(float x) : v(_mm256_set1_ps(x)) {}
  explicit Vec(__m256 x) : v(x) {}
};
inline Vec operator+(Vec a, Vec b) { return Vec(_mm256_add_ps(a.v, b.v)); }
inline Vec operator-(Vec a, Vec b) { return Vec(_mm256_sub_ps(a.v, b.v)); }
inline Vec operator*(Vec a, Vec b) { return Vec(_mm256_mul_ps(a.v, b.v)); }
inline Vec Load(const float* p, Vec) { return Vec(_mm256_loadu_ps(p)); }
inline void Store(float* p, Vec x) { _mm256_storeu_ps(p, x.v); }

// Four lanes, for stages whose inner loop is 4 long (e.g. radix 2 after a first radix 4).
struct Vec4 {
  __m128 v;
  Vec4() : v(_mm_setzero_ps()) {}
  explicit Vec4(float x) : v(_mm_set1_ps(x)) {}
  explicit Vec4(__m128 x) : v(x) {}
};
inline Vec4 operator+(Vec4 a, Vec4 b) { return Vec4(_mm_add_ps(a.v, b.v)); }
inline Vec4 operator-(Vec4 a, Vec4 b) { return Vec4(_mm_sub_ps(a.v, b.v)); }
inline Vec4 operator*(Vec4 a, Vec4 b) { return Vec4(_mm_mul_ps(a.v, b.v)); }
inline Vec4 Load(const float* p, Vec4) { return Vec4(_mm_loadu_ps(p)); }
inline void Store(float* p, Vec4 x) { _mm_storeu_ps(p, x.v); }
#define GHOSTNV_FFT_HAS_VEC4 1

// First radix-4 stage for 8 consecutive j: butterflies in registers, then a 4x8 transpose so
// that dst[4 j + r] is written with four contiguous stores per component.
inline void Transpose4x8Store(__m256 y0, __m256 y1, __m256 y2, __m256 y3, float* dst) {
  const __m256 t0 = _mm256_unpacklo_ps(y0, y1), t1 = _mm256_unpackhi_ps(y0, y1);
  const __m256 t2 = _mm256_unpacklo_ps(y2, y3), t3 = _mm256_unpackhi_ps(y2, y3);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u1, 0x20));
  _mm256_storeu_ps(dst + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
  _mm256_storeu_ps(dst + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
  _mm256_storeu_ps(dst + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
}

inline void FirstRadix4Lanes(const StageArgs& a, int j, int stride) {
  const __m256 x0r = _mm256_loadu_ps(a.sr + j), x0i = _mm256_loadu_ps(a.si + j);
  const __m256 x1r = _mm256_loadu_ps(a.sr + j + stride), x1i = _mm256_loadu_ps(a.si + j + stride);
  const __m256 x2r = _mm256_loadu_ps(a.sr + j + 2 * stride), x2i = _mm256_loadu_ps(a.si + j + 2 * stride);
  const __m256 x3r = _mm256_loadu_ps(a.sr + j + 3 * stride), x3i = _mm256_loadu_ps(a.si + j + 3 * stride);
  const __m256 t0r = _mm256_add_ps(x0r, x2r), t0i = _mm256_add_ps(x0i, x2i);
  const __m256 t1r = _mm256_sub_ps(x0r, x2r), t1i = _mm256_sub_ps(x0i, x2i);
  const __m256 t2r = _mm256_add_ps(x1r, x3r), t2i = _mm256_add_ps(x1i, x3i);
  const __m256 t3r = _mm256_sub_ps(x1i, x3i), t3i = _mm256_sub_ps(x3r, x1r);
  Transpose4x8Store(_mm256_add_ps(t0r, t2r), _mm256_add_ps(t1r, t3r), _mm256_sub_ps(t0r, t2r),
                    _mm256_sub_ps(t1r, t3r), a.dr + 4 * j);
  Transpose4x8Store(_mm256_add_ps(t0i, t2i), _mm256_add_ps(t1i, t3i), _mm256_sub_ps(t0i, t2i),
                    _mm256_sub_ps(t1i, t3i), a.di + 4 * j);
}
#define GHOSTNV_FFT_HAS_FIRST_RADIX4_LANES 1

}  // namespace

#include "audio/fft_stages.inc"

}  // namespace ghostnv::audio::fft_avx2
