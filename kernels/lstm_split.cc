// kernels/lstm_split.cc — RowMatrix, the scalar row passes and their dispatcher, LstmSplit.

#include "kernels/lstm_split.h"

#include <cstdint>
#include <cstring>

#include "kernels/cpu.h"
#include "kernels/dense.h"

namespace ghostnv::kernels {
namespace {

constexpr int kAlignFloats = 16;  // 64 bytes

int RoundUp16(int n) { return (n + 15) / 16 * 16; }

// The first 64-byte-aligned float of buf (which has kAlignFloats spare floats).
float* Aligned(std::vector<float>& buf) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(buf.data());
  const uintptr_t pad = (64 - a % 64) % 64;
  return buf.data() + pad / sizeof(float);
}

void OnePass_ref(const RowPass& p) {
  const int n = p.m->cols_p();
  const size_t stride = static_cast<size_t>(n);
  if (p.out != p.init) std::memcpy(p.out, p.init, static_cast<size_t>(n) * sizeof(float));
  for (int j = 0; j < p.m->rows(); ++j) {
    const float* row = p.m->data() + static_cast<size_t>(j) * stride;
    const float v = p.v[j];
    for (int k = 0; k < n; ++k) p.out[k] += row[k] * v;
  }
}

}  // namespace

RowMatrix::RowMatrix(const float* m, int rows, int cols, int stride)
    : rows_(rows > 0 ? rows : 0), cols_(cols > 0 ? cols : 0), cols_p_(RoundUp16(cols_)) {
  buf_.assign(static_cast<size_t>(rows_) * cols_p_ + kAlignFloats, 0.f);
  float* dst = Aligned(buf_);
  for (int r = 0; r < rows_; ++r) {
    std::memcpy(dst + static_cast<size_t>(r) * cols_p_, m + static_cast<size_t>(r) * stride,
                static_cast<size_t>(cols_) * sizeof(float));
  }
  m_ = dst;
}

RowMatrix& RowMatrix::operator=(RowMatrix&& o) noexcept {
  if (this != &o) {
    // A moved std::vector keeps its heap block, so m_ stays valid.
    buf_ = std::move(o.buf_);
    m_ = o.m_;
    rows_ = o.rows_;
    cols_ = o.cols_;
    cols_p_ = o.cols_p_;
    o.m_ = nullptr;
    o.rows_ = o.cols_ = o.cols_p_ = 0;
  }
  return *this;
}

void RunRowPasses_ref(const RowPass& a, const RowPass* b) {
  OnePass_ref(a);
  if (b != nullptr) OnePass_ref(*b);
}

void RunRowPasses(const RowPass& a, const RowPass* b) {
  if (Avx512Active()) {
    RunRowPasses_avx512(a, b);
  } else if (ActiveSimd() == SimdLevel::kAvx2) {
    RunRowPasses_avx2(a, b);
  } else {
    RunRowPasses_ref(a, b);
  }
}

// ---------------------------------------------------------------------------------------------
// LstmSplit.

RowPass LstmSplit::Ahead::Pass() const {
  return {&lstm->r_, h, lstm->zeros_.data(), carry->rh.data()};
}

void LstmSplit::Ahead::Done() const {
  carry->ready = true;
  carry->pending = false;
}

LstmSplit::LstmSplit(const LstmParams& p) : p_(p) {
  const int u = p.units > 0 ? p.units : 0;
  const int inputs = p.inputs > 0 ? p.inputs : 0;
  const int n4 = 4 * u;
  n4p_ = RoundUp16(n4);
  w_ = RowMatrix(p.weights, inputs, n4, n4);
  r_ = RowMatrix(p.recurrent, u, n4, n4);
  bias_.assign(static_cast<size_t>(n4p_), 0.f);
  if (p.bias != nullptr) std::memcpy(bias_.data(), p.bias, static_cast<size_t>(n4) * sizeof(float));
  zeros_.assign(static_cast<size_t>(n4p_), 0.f);
  p_.weights = nullptr;  // the copies are used; the caller's arrays may go
  p_.recurrent = nullptr;
  p_.bias = nullptr;
}

LstmSplit::Carry LstmSplit::NewCarry(bool ready_at_zero) const {
  Carry c;
  c.rh.assign(static_cast<size_t>(n4p_), 0.f);
  ResetCarry(c, ready_at_zero);
  return c;
}

void LstmSplit::ResetCarry(Carry& c, bool ready_at_zero) const {
  for (float& v : c.rh) v = 0.f;  // R·0 = 0 exactly
  c.ready = ready_at_zero;
  c.pending = false;
}

void LstmSplit::RunAhead(const float* h, Carry& carry) const {
  const Ahead a{this, h, &carry};
  // R was just read by the Step, so it is in L2; the pass is still "a" (the only one).
  RunRowPasses(a.Pass());
  a.Done();
}

bool LstmSplit::Step(const float* x, float* h, float* c, Carry& carry, float* scratch,
                     const Ahead* with, bool defer, NextRead then) const {
  if (p_.units <= 0) return false;
  if (carry.pending) RunAhead(h, carry);
  float* z = scratch;  // [n4p]
  const bool read_r = !carry.ready;
  const RowPass wp{&w_, x, bias_.data(), z, read_r ? r_.Head() : then};
  if (with != nullptr) {
    const RowPass b = with->Pass();
    RunRowPasses(wp, &b);
    with->Done();
  } else {
    RunRowPasses(wp);
  }
  if (read_r) {
    const RowPass rp{&r_, h, zeros_.data(), carry.rh.data(), then};
    RunRowPasses(rp);
  }
  const int n4 = 4 * p_.units;
  const float* rh = carry.rh.data();
  for (int k = 0; k < n4; ++k) z[k] += rh[k];
  if (ActiveSimd() == SimdLevel::kAvx2) {
    LstmGates_avx2(p_.units, p_.math, z, h, c);
  } else {
    LstmGates_ref(p_.units, p_.math, z, h, c);
  }
  carry.ready = false;
  if (!read_r) return false;
  if (defer) {
    carry.pending = true;
    return true;
  }
  RunAhead(h, carry);
  return false;
}

}  // namespace ghostnv::kernels
