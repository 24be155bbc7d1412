// kernels/gru_packed.cc — GruPacked: packing and dispatch (see gru_packed.h).

#include "kernels/gru_packed.h"

#include <cpuid.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <utility>

#include "kernels/cpu.h"
#include "kernels/dense.h"

namespace ghostnv::kernels {

float HalfToFloat(uint16_t h) {
  const int e = (h >> 10) & 31;
  const int m = h & 1023;
  float v;
  if (e == 0) {
    v = std::ldexp(static_cast<float>(m), -24);
  } else if (e == 31) {
    v = m == 0 ? INFINITY : NAN;
  } else {
    v = std::ldexp(static_cast<float>(1024 + m), e - 25);
  }
  return (h & 0x8000) != 0 ? -v : v;
}

bool FloatToHalfExact(float f, uint16_t* h) {
  if (!std::isfinite(f)) return false;
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const float a = std::fabs(f);
  uint16_t bits = 0;
  if (a == 0.f) {
    bits = 0;
  } else if (a < std::ldexp(1.f, -14)) {  // binary16 subnormal: m · 2^-24
    const float t = std::ldexp(a, 24);
    if (t != std::floor(t) || t >= 1024.f) return false;
    bits = static_cast<uint16_t>(t);
  } else {
    int ex = 0;
    std::frexp(a, &ex);  // a = mant · 2^ex, mant in [0.5, 1)
    const int e = ex + 14;  // biased binary16 exponent
    if (e > 30) return false;
    const float t = std::ldexp(a, 11 - ex);  // in [1024, 2048)
    if (t != std::floor(t)) return false;
    bits = static_cast<uint16_t>((e << 10) | (static_cast<int>(t) - 1024));
  }
  bits = static_cast<uint16_t>(bits | sign);
  const float back = HalfToFloat(bits);
  if (std::memcmp(&back, &f, sizeof f) != 0) return false;
  *h = bits;
  return true;
}

bool CpuHasF16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return false;
  return (c & bit_F16C) != 0;
}

int GruPackedBlocks(int vectors) { return (vectors + 7) / 8; }

int GruPackedBlockWidth(int vectors, int block) {
  const int blocks = GruPackedBlocks(vectors);
  return vectors / blocks + (block < vectors % blocks ? 1 : 0);
}

bool GruPacked::Packable(const GruParams& p) {
  return p.reset_after && p.units > 0 && p.units % 8 == 0 && p.inputs >= 0 &&
         p.recurrent != nullptr && (p.inputs == 0 || p.weights != nullptr);
}

GruPacked::GruPacked(const GruParams& p, bool keep_float) : p_(p), has_f16c_(CpuHasF16c()) {
  if (!Packable(p)) return;
  const size_t u = static_cast<size_t>(p.units), n3 = 3 * u;
  const size_t in = static_cast<size_t>(p.inputs);
  packed_.reserve((in + u) * n3);
  const int nv = p.units / 8;
  for (size_t g = 0; g < 3; ++g) {
    size_t c0 = g * u;
    for (int b = 0; b < GruPackedBlocks(nv); ++b) {
      const size_t width = 8 * static_cast<size_t>(GruPackedBlockWidth(nv, b));
      for (size_t j = 0; j < in; ++j)
        for (size_t c = 0; c < width; ++c) packed_.push_back(p.weights[j * n3 + c0 + c]);
      for (size_t j = 0; j < u; ++j)
        for (size_t c = 0; c < width; ++c) packed_.push_back(p.recurrent[j * n3 + c0 + c]);
      c0 += width;
    }
  }
  // Lossless half storage when every weight round-trips through binary16.
  std::vector<uint16_t> half(packed_.size());
  for (size_t i = 0; i < packed_.size(); ++i) {
    if (!FloatToHalfExact(packed_[i], &half[i])) {
      if (!keep_float) {
        packed_.clear();
        packed_.shrink_to_fit();
      }
      return;
    }
  }
  packed16_ = std::move(half);
  packed_.clear();
  packed_.shrink_to_fit();
}

const char* GruPacked::packed_bytes() const {
  if (!packed_.empty()) return reinterpret_cast<const char*>(packed_.data());
  if (!packed16_.empty()) return reinterpret_cast<const char*>(packed16_.data());
  return nullptr;
}

size_t GruPacked::packed_size() const {
  return packed_.size() * sizeof(float) + packed16_.size() * sizeof(uint16_t);
}

void GruPacked::Step(const float* x, float* state, float* scratch) const {
  if (has_f16c_ && (!packed_.empty() || !packed16_.empty()) && Avx512Active()) {
    if (!packed_.empty()) {
      GruPackedStep_avx512(p_, packed_.data(), x, state, scratch);
    } else {
      GruPackedStepHalf_avx512(p_, packed16_.data(), x, state, scratch);
    }
  } else if (!packed_.empty() && ActiveSimd() == SimdLevel::kAvx2 && has_f16c_) {
    GruPackedStep_avx2(p_, packed_.data(), x, state, scratch);
  } else if (!packed16_.empty() && ActiveSimd() == SimdLevel::kAvx2 && has_f16c_) {
    GruPackedStepHalf_avx2(p_, packed16_.data(), x, state, scratch);
  } else {
    GruStep(p_, x, state, scratch);
  }
}

}  // namespace ghostnv::kernels
