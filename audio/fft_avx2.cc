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

}  // namespace

#include "audio/fft_stages.inc"

}  // namespace ghostnv::audio::fft_avx2
