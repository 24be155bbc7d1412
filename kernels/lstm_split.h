// kernels/lstm_split.h — an LSTM step as separate passes over W and R, and the row passes it is
// built from, for LSTM stacks too large for L2 (DTLN: 3.9 MB of weights per 8 ms hop).
//
// A stack whose weights do not fit L2 streams them from L3 every step at the one-core stream
// rate (~25-30 GB/s), whatever the arithmetic costs. LstmSplit cuts the bytes like GruSplit
// (gru_packed.h), with the same sums in another grouping:
//  - The recurrent half one step ahead: rh = R·h is its own pass. Step n: s = b + W·x; if rh
//    is not ready, rh = R·h (R read from memory); z = s + rh, then the gates and the update.
//    A step that had to read R computes the next step's rh = R·h' right after (the
//    "look-ahead", R again, now from L2), so the next step reads only W. Per two steps: W, R, W
//    from memory instead of W, R, W, R. rh depends on h alone: the output does not depend on
//    the phase.
//  - The look-ahead hidden behind the next memory-bound pass: with `defer`, Step leaves it
//    pending; the caller runs it fused with the next pass it makes (another LSTM's Step `with`,
//    or RunRowPasses(next, &ahead.Pass())): one loop, the rows from memory interleaved with
//    the rows from L2.
// Every pre-activation is (b + Σ_j W[j]·x[j], inputs in order) + (Σ_j R[j]·h[j], in order):
// one FMA per term on the SIMD paths (AVX2 and AVX-512 bit-identical, fused or not), mul then
// add on the scalar path. This differs from LstmStep's single running sum by rounding only.
//
// RowMatrix: a [rows][cols] matrix copied into a 64-byte-aligned [rows][cols_p] buffer (cols_p
// = cols rounded up to 16, zero padding), so that every row is whole cache lines and a pass
// reads the copy front to back. Dense layers packed the same way run as row passes too, so a
// pending look-ahead can ride along their stream (models/dtln/).
//
//   LstmSplit l(params);                               // at create time: allocates, copies
//   LstmSplit::Carry carry = l.NewCarry();             // per stream (h and c zeroed)
//   std::vector<float> scratch(l.ScratchFloats());
//   l.Step(x, h, c, carry, scratch.data());            // per frame: no allocation
//
// Any inputs >= 0 and units >= 1. Real-time safe (Step, RunAhead, RunRowPasses). Thread-safety:
// LstmSplit and RowMatrix are immutable after construction; a Carry belongs to one stream,
// like its h and c.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "kernels/lstm.h"

namespace ghostnv::kernels {

// The first bytes the caller will read from memory after a pass: a pass that prefetches its
// own next rows keeps its prefetch stream going into these once its own rows run out, so the
// next pass does not start on cold misses (about 8 KB: the last group's worth of lines).
struct NextRead {
  const float* data = nullptr;
  size_t bytes = 0;
};

class RowMatrix {
 public:
  RowMatrix() = default;
  // Copies rows × cols floats of m (row r at m + r·stride, stride >= cols); m may be nullptr
  // when rows == 0.
  RowMatrix(const float* m, int rows, int cols, int stride);
  RowMatrix(const RowMatrix&) = delete;
  RowMatrix& operator=(const RowMatrix&) = delete;
  RowMatrix(RowMatrix&& o) noexcept { *this = std::move(o); }
  RowMatrix& operator=(RowMatrix&& o) noexcept;

  const float* data() const { return m_; }
  int rows() const { return rows_; }
  int cols() const { return cols_; }
  int cols_p() const { return cols_p_; }
  size_t bytes() const { return static_cast<size_t>(rows_) * cols_p_ * sizeof(float); }
  NextRead Head() const { return {m_, bytes()}; }

 private:
  std::vector<float> buf_;
  const float* m_ = nullptr;
  int rows_ = 0, cols_ = 0, cols_p_ = 0;
};

// out[c] = init[c] + Σ_j v[j]·M[j][c] for c < M.cols_p(), rows in order (init and out hold
// cols_p floats; they may be the same array). then: see NextRead (optional).
struct RowPass {
  const RowMatrix* m = nullptr;
  const float* v = nullptr;
  const float* init = nullptr;
  float* out = nullptr;
  NextRead then;
};

// Runs pass a (its matrix comes from memory: the next rows are prefetched) and, when b is not
// null, pass b in the same loop (a group of up to 4 rows of each in turn; b is expected in L2
// and is not prefetched). The sums are those of running each alone. Dispatch: AVX-512 when
// Avx512Active() (dense.h), AVX2 when ActiveSimd() is kAvx2, else the scalar _ref.
void RunRowPasses(const RowPass& a, const RowPass* b = nullptr);
void RunRowPasses_ref(const RowPass& a, const RowPass* b);
void RunRowPasses_avx2(const RowPass& a, const RowPass* b);    // requires CpuHasAvx2Fma()
void RunRowPasses_avx512(const RowPass& a, const RowPass* b);  // requires Avx512Active()

class LstmSplit {
 public:
  // Per-stream carry: rh = R·h for the stream's current h, valid when `ready`; `pending`: the
  // last Step read R and left that pass to the caller (Step's `defer`).
  struct Carry {
    std::vector<float> rh;  // [n4p]
    bool ready = false;
    bool pending = false;
  };
  // A look-ahead to run: carry->rh = R·h with lstm's R.
  struct Ahead {
    const LstmSplit* lstm = nullptr;
    const float* h = nullptr;
    Carry* carry = nullptr;
    RowPass Pass() const;  // the pass itself (for RunRowPasses' b)
    void Done() const;     // marks carry ready (call after running Pass())
  };

  LstmSplit() = default;
  explicit LstmSplit(const LstmParams& p);
  LstmSplit(const LstmSplit&) = delete;
  LstmSplit& operator=(const LstmSplit&) = delete;
  LstmSplit(LstmSplit&&) noexcept = default;
  LstmSplit& operator=(LstmSplit&&) noexcept = default;

  // A carry for a stream whose h is all zeros. ready_at_zero: rh = 0 (= R·0, exactly), so the
  // first Step reads only W; else the first Step reads R. Streams (or layers) in opposite
  // phases spread the R reads evenly over the steps.
  Carry NewCarry(bool ready_at_zero = false) const;
  void ResetCarry(Carry& c, bool ready_at_zero = false) const;  // no allocation; h must be 0
  size_t ScratchFloats() const { return static_cast<size_t>(n4p_) + 16; }

  // One step: h and c ([units]) updated in place, x [inputs]. with (optional): another
  // stream's or layer's pending look-ahead, run fused with this step's W pass; it becomes
  // ready. defer: when this step reads R, leave its look-ahead pending in c (returns true)
  // for the caller to run fused with its next pass; a Step whose own carry is still pending
  // runs that pass first. x, h, c, scratch must not overlap.
  // then: what the caller reads from memory after this step (prefetched at its end).
  bool Step(const float* x, float* h, float* c, Carry& carry, float* scratch,
            const Ahead* with = nullptr, bool defer = false, NextRead then = {}) const;
  // What the next Step of this stream reads from memory first (W).
  NextRead FirstRead() const { return w_.Head(); }
  // The pending look-ahead of carry alone (h: the state, unchanged since the Step).
  void RunAhead(const float* h, Carry& carry) const;
  Ahead PendingAhead(const float* h, Carry& carry) const { return {this, h, &carry}; }

  const LstmParams& params() const { return p_; }
  int n4p() const { return n4p_; }
  const RowMatrix& w() const { return w_; }
  const RowMatrix& r() const { return r_; }

 private:
  LstmParams p_;
  int n4p_ = 0;
  RowMatrix w_, r_;
  std::vector<float> bias_, zeros_;  // [n4p]
};

// The gates and the state update from pre-activations z ([4u], gates i f g o; overwritten):
// the same arithmetic as the end of LstmStep_ref / LstmStep_avx2. _avx2 requires
// CpuHasAvx2Fma().
void LstmGates_ref(int units, MathMode math, float* z, float* h, float* c);
void LstmGates_avx2(int units, MathMode math, float* z, float* h, float* c);

}  // namespace ghostnv::kernels
