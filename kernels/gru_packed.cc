// kernels/gru_packed.cc — GruPacked: packing and dispatch (see gru_packed.h).

#include "kernels/gru_packed.h"

#include <cpuid.h>

#include <algorithm>
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

// ---------------------------------------------------------------------------------------------
// GruSplit

namespace {

// The split layout (gru_packed.h): the zero-padded [rows][n3p] matrix, row-major.
void PackSplit(const float* m, int rows, int n3, int n3p, float* out) {
  for (int j = 0; j < rows; ++j)
    for (int c = 0; c < n3p; ++c)
      *out++ = c < n3 ? m[static_cast<size_t>(j) * static_cast<size_t>(n3) + c] : 0.f;
}

}  // namespace

bool GruSplit::Supported(const GruParams& p) {
  return p.reset_after && p.units > 0 && p.inputs >= 0 && p.recurrent != nullptr &&
         (p.inputs == 0 || p.weights != nullptr);
}

GruSplit::GruSplit(const GruParams& p) : p_(p) {
  if (!Supported(p)) return;
  const int n3 = 3 * p.units;
  n3p_ = (n3 + 15) / 16 * 16;
  const size_t wn = static_cast<size_t>(p.inputs) * static_cast<size_t>(n3p_);
  const size_t rn = static_cast<size_t>(p.units) * static_cast<size_t>(n3p_);
  buf_.assign(wn + rn + 16, 0.f);
  // 64-byte alignment: every packed row of 16·k floats starts a cache line.
  const uintptr_t base = reinterpret_cast<uintptr_t>(buf_.data());
  float* w = buf_.data() + ((64 - base % 64) % 64) / sizeof(float);
  if (p.inputs > 0) PackSplit(p.weights, p.inputs, n3, n3p_, w);
  PackSplit(p.recurrent, p.units, n3, n3p_, w + wn);
  w_ = w;
  r_ = w + wn;
  bw_.assign(static_cast<size_t>(n3p_), 0.f);
  br_.assign(static_cast<size_t>(n3p_), 0.f);
  for (int c = 0; c < n3; ++c) {
    bw_[static_cast<size_t>(c)] = p.bias != nullptr ? p.bias[c] : 0.f;
    br_[static_cast<size_t>(c)] = p.recurrent_bias != nullptr ? p.recurrent_bias[c] : 0.f;
  }
}

GruSplit& GruSplit::operator=(GruSplit&& o) noexcept {
  if (this != &o) {
    p_ = o.p_;
    n3p_ = o.n3p_;
    buf_ = std::move(o.buf_);  // the heap block moves with it: w_ and r_ stay valid
    bw_ = std::move(o.bw_);
    br_ = std::move(o.br_);
    w_ = o.w_;
    r_ = o.r_;
    o.w_ = o.r_ = nullptr;
    o.n3p_ = 0;
  }
  return *this;
}

GruSplit::Carry GruSplit::NewCarry(bool ready_at_zero) const {
  Carry c;
  c.rh.assign(static_cast<size_t>(n3p_), 0.f);
  ResetCarry(c, ready_at_zero);
  return c;
}

void GruSplit::ResetCarry(Carry& c, bool ready_at_zero) const {
  // b_r + R·0 sums to b_r exactly (every product is a zero), so a zero state's rh is b_r.
  std::copy(br_.begin(), br_.end(), c.rh.begin());
  c.ready = ready_at_zero;
  c.pending = false;
}

PrefetchStream GruSplit::NextStream(const Carry& c) const {
  // W's rows are read only where x is not zero, which is not known yet; R's all are when the
  // step has to read it (h has no zeros in practice).
  if (w_ == nullptr || (c.ready && !c.pending)) return {};
  const size_t rn = static_cast<size_t>(p_.units) * static_cast<size_t>(n3p_);
  const char* b = reinterpret_cast<const char*>(r_);
  return {b, b + sizeof(float) * rn};
}

void GruSplitPass_ref(const float* packed, int rows, int n3p, const float* v, const float* init,
                      float* out) {
  for (int c = 0; c < n3p; ++c) out[c] = init[c];
  for (int j = 0; j < rows; ++j) {
    if (v[j] == 0.f) continue;  // adds exactly 0 to every sum: skipped, as the SIMD passes do
    const float* row = packed + static_cast<size_t>(j) * static_cast<size_t>(n3p);
    for (int c = 0; c < n3p; ++c) out[c] += v[j] * row[c];
  }
}

void GruSplitFinish_ref(const GruParams& p, const float* s, const float* rh, float* state,
                        float* scratch) {
  const size_t u = static_cast<size_t>(p.units);
  for (size_t i = 0; i < 2 * u; ++i) scratch[i] = s[i] + rh[i];
  Activate_ref(Activation::kSigmoid, p.math, scratch, 2 * u);
  for (size_t i = 0; i < u; ++i) scratch[2 * u + i] = s[2 * u + i] + scratch[u + i] * rh[2 * u + i];
  Activate_ref(p.activation, p.math, scratch + 2 * u, u);
  for (size_t i = 0; i < u; ++i) {
    const float z = scratch[i];
    state[i] = z * state[i] + (1.f - z) * scratch[2 * u + i];
  }
}

namespace {

void Pass(bool avx512, bool avx2, const float* m, int rows, int n3p, const float* v,
          const float* init, float* out, bool self, PrefetchStream* pf) {
  if (avx512) {
    GruSplitPass_avx512(m, rows, n3p, v, init, out, self, pf);
  } else if (avx2) {
    GruSplitPass_avx2(m, rows, n3p, v, init, out, self, pf);
  } else {
    GruSplitPass_ref(m, rows, n3p, v, init, out);
  }
}

}  // namespace

void GruSplit::RunAhead(const float* h, Carry& c, PrefetchStream* pf) const {
  if (w_ == nullptr) return;
  const bool avx512 = Avx512Active();
  const bool avx2 = !avx512 && ActiveSimd() == SimdLevel::kAvx2;
  Pass(avx512, avx2, r_, p_.units, n3p_, h, br_.data(), c.rh.data(), false, pf);
  c.ready = true;
  c.pending = false;
}

bool GruSplit::Step(const float* x, float* state, Carry& c, float* scratch, PrefetchStream* pf,
                    const Ahead* with, bool defer) const {
  if (w_ == nullptr) {  // unsupported shape: the plain step (its carry stays unused)
    GruStep(p_, x, state, scratch);
    return false;
  }
  if (c.pending) RunAhead(state, c);  // the caller never ran it: h is still the one it needs
  const bool avx512 = Avx512Active();
  const bool avx2 = !avx512 && ActiveSimd() == SimdLevel::kAvx2;
  float* s = scratch;
  float* tmp = scratch + n3p_;
  const bool fuse = with != nullptr && with->gru != nullptr && with->carry != nullptr &&
                    with->carry != &c && with->carry->pending;
  if (fuse && (avx512 || avx2)) {
    const GruSplit& g = *with->gru;
    const GruSplitPassArgs wa{w_, p_.inputs, x, bw_.data(), s};
    const GruSplitPassArgs rb{g.r_, g.p_.units, with->h, g.br_.data(), with->carry->rh.data()};
    if (g.n3p_ == n3p_) {
      if (avx512) {
        GruSplitPass2_avx512(n3p_, wa, rb);
      } else {
        GruSplitPass2_avx2(n3p_, wa, rb);
      }
      with->carry->ready = true;
      with->carry->pending = false;
    } else {
      Pass(avx512, avx2, w_, p_.inputs, n3p_, x, bw_.data(), s, true, nullptr);
      g.RunAhead(with->h, *with->carry);
    }
  } else {
    if (fuse) with->gru->RunAhead(with->h, *with->carry);
    Pass(avx512, avx2, w_, p_.inputs, n3p_, x, bw_.data(), s, true, nullptr);
  }
  const bool cold = !c.ready;
  if (cold) Pass(avx512, avx2, r_, p_.units, n3p_, state, br_.data(), c.rh.data(), true, nullptr);
  if (avx512 || avx2) {
    GruSplitFinish_avx2(p_, s, c.rh.data(), state, tmp);
  } else {
    GruSplitFinish_ref(p_, s, c.rh.data(), state, tmp);
  }
  c.ready = false;
  if (!cold) return false;
  // R was just read: the next step's recurrent half, from L2, now (while the caller's next
  // weights stream in) or fused into the caller's next Step.
  c.pending = true;
  if (defer) return true;
  RunAhead(state, c, pf);
  return false;
}

}  // namespace ghostnv::kernels
