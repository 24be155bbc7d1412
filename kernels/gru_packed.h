// kernels/gru_packed.h — a GRU step over weights repacked for one sequential pass, stored as
// binary16 when that is lossless.
//
// A 256-unit GRU step streams 1.5 MB of fp32 weights; DeepFilterNet3 runs five per 10 ms hop
// (7.9 MB) and is bound by memory bandwidth there, not by arithmetic. GruPacked copies W and R
// once (at create time) into the order its AVX2 step consumes them: per gate (z, r, h), per
// column block of up to 64 columns, the block's W rows then its R rows, each row contiguous, so
// the step reads the copy front to back exactly once.
//
// Lossless half storage: when every weight of W and R is exactly a binary16 value (models stored
// with --precision fp16 dequantise to such values), the copy holds 16-bit halves and the step
// widens them with F16C (an exact conversion): half the bytes, the same sums, the same result.
// Otherwise the fp32 copy is kept only on request (keep_float): with AVX2 it reads the same
// bytes as GruStep_avx2 and measured no faster; the AVX-512 step over it (selected at run time
// when Avx512Active(), dense.h) streams ~7 % faster from L3, and its single sequential stream
// is what a caller can prefetch ahead of the step (packed_bytes()). By default such a GRU runs
// GruStep on the original weights and costs no extra memory.
//
// For units >= 40 the packed step is bit-identical to GruStep_avx2 (every column sums bias,
// inputs in order, then recurrent state in order, with FMAs, as GruStep_avx2 does in its wide
// blocks; gru_packed_test checks equality). Below 40 units GruStep_avx2 interleaves partial sums
// in its narrow blocks, so the two differ by rounding only.
// Packable: reset_after = true (PyTorch / ONNX GRUs) and units a multiple of 8. Any other shape,
// or a CPU without AVX2/FMA/F16C (or GHOSTNV_SIMD=scalar), runs GruStep on the original
// weights, which must therefore outlive the GruPacked. The AVX-512 step (GHOSTNV_SIMD=avx2
// keeps the AVX2 one) gives bit-identical results to the AVX2 step.
//
// GruSplit (further below) is the fp32 alternative for such GRUs: W and R packed apart, the
// recurrent half computed a step ahead while R is in L2, zero inputs skipped: ~40 % fewer
// bytes from memory per step, the same sums in another grouping (rounding-level difference).
//
//   GruPacked g(params);                               // at create time: allocates, copies
//   std::vector<float> scratch(GruScratchFloats(params.units));
//   g.Step(x, state, scratch.data());                  // per frame: no allocation
//
// Thread-safety: Step is const and touches only its arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/dense.h"
#include "kernels/gru.h"

namespace ghostnv::kernels {

class GruPacked {
 public:
  GruPacked() = default;
  // keep_float: keep an fp32 packed copy when the weights are not all binary16 values (it reads
  // the same bytes as GruStep_avx2, so it is not faster there; by default such GRUs run GruStep
  // on the original weights and cost no extra memory).
  explicit GruPacked(const GruParams& p, bool keep_float = false);

  // True when the packed AVX2 path can run this shape (independent of the CPU).
  static bool Packable(const GruParams& p);

  void Step(const float* x, float* state, float* scratch) const;
  const GruParams& params() const { return p_; }
  bool packed() const { return !packed_.empty() || !packed16_.empty(); }
  bool half_storage() const { return !packed16_.empty(); }
  // The packed copy as bytes, in the order Step reads them (nullptr / 0 when not packed): what
  // a caller may prefetch ahead of Step (dense.h's PrefetchStream).
  const char* packed_bytes() const;
  size_t packed_size() const;

 private:
  GruParams p_;
  std::vector<float> packed_;        // fp32 layout, or empty
  std::vector<uint16_t> packed16_;   // the same layout as binary16, or empty
  bool has_f16c_ = false;
};

// GruSplit: a reset_after GRU step as separate passes over W and R, built so that a GRU too
// large for L2 reads fewer bytes from memory per step.
//
// A 256-unit GRU's W and R are 0.79 MB each; DeepFilterNet3 runs five per hop, ~8 MB that do
// not fit L2, so every step streams them from L3 and runs at that rate (~25 GB/s on one
// core). Three things cut the bytes, none changes a sum:
//  - The recurrent half one step ahead: rh = b_r + R·h (all three gates) is its own pass.
//    Step n: s = b_w + W·x; if rh is not ready, rh = b_r + R·h (R read from memory); then
//      z = σ(s_z + rh_z), r = σ(s_r + rh_r), c = act(s_c + r∘rh_c), h' = z∘h + (1-z)∘c;
//    a step that had to read R computes the next step's rh = b_r + R·h' right after (the
//    "look-ahead", R again, now from L2), so the next step reads only W. Per two steps: W, R,
//    W from memory instead of W, R, W, R (-25 %). rh is a function of h alone, so the output
//    does not depend on which step computed it (the phase).
//  - The look-ahead hidden behind the next GRU's W stream: with `defer`, Step leaves it pending
//    and the caller hands it to the next Step of another GRU (`with`), which runs it in the
//    same loop as its own W pass (L2 reads interleaved with the memory stream).
//  - Zero inputs skipped: a row j with v[j] == 0 adds exactly 0 to every sum (finite weights),
//    so it is neither read nor multiplied; ReLU outputs feeding a GRU are often 30-45 % zeros.
// Every pre-activation is (b_w + Σ_j W x, inputs in order) + (b_r + Σ_j R h, in order): FMAs
// on the SIMD paths (AVX2 and AVX-512 bit-identical, fused or not), plain mul/add in the _ref
// passes; this differs from GruStep's single running sum by rounding only.
//
// Layout: W and R each as the zero-padded [rows][n3p] matrix, row-major (n3 = 3·units, n3p =
// n3 rounded up to 16: a row is whole cache lines), W then R in one 64-byte-aligned buffer. A
// pass walks the rows with v[j] != 0 in order, up to 4 at a time, accumulating into out (n3p
// floats, L1), and prefetches the next rows it will read.
//
//   GruSplit g(params);                                // at create time: allocates, copies
//   GruSplit::Carry c = g.NewCarry();                  // per stream (state h zeroed)
//   std::vector<float> scratch(g.ScratchFloats());
//   g.Step(x, h, c, scratch.data());                   // per frame: no allocation
//
// Supported: reset_after = true, any inputs >= 0, units >= 1 (Supported(); other shapes run
// GruStep). Finite weights (a skipped 0 · inf would have been NaN). Real-time safe.
// Thread-safety: Step is const; a Carry belongs to one stream, like its h.
class GruSplit {
 public:
  // Per-stream carry: rh = b_r + R·h for the current h, valid when `ready`. `pending`: the
  // last Step read R and left computing that rh to the caller (Step's `defer`).
  struct Carry {
    std::vector<float> rh;  // [n3p]
    bool ready = false;
    bool pending = false;
  };
  // A look-ahead pass to run: carry->rh = b_r + R·h with this GRU's R (gru->RunAhead).
  struct Ahead {
    const GruSplit* gru = nullptr;
    const float* h = nullptr;
    Carry* carry = nullptr;
  };

  GruSplit() = default;
  explicit GruSplit(const GruParams& p);
  // Move-only: the packed views point into the object's own (aligned) buffer.
  GruSplit(const GruSplit&) = delete;
  GruSplit& operator=(const GruSplit&) = delete;
  GruSplit(GruSplit&& o) noexcept { *this = std::move(o); }
  GruSplit& operator=(GruSplit&& o) noexcept;
  static bool Supported(const GruParams& p);

  // A carry for a stream whose h is all zeros. ready_at_zero: rh = b_r (= b_r + R·0, exactly),
  // so the first Step reads only W; else the first Step reads R (and computes the next rh).
  // Streams that alternate in opposite phases spread the R reads evenly over the steps.
  Carry NewCarry(bool ready_at_zero = false) const;
  // The same for an existing carry (no allocation); h must be zero too.
  void ResetCarry(Carry& c, bool ready_at_zero = false) const;

  size_t ScratchFloats() const {
    const size_t own = 3 * static_cast<size_t>(n3p_) + 16;
    return own > GruScratchFloats(p_.units) ? own : GruScratchFloats(p_.units);
  }
  // One step. pf (optional): lines issued while the step reads from L2 only (the look-ahead
  // pass it runs itself), the caller's next memory-bound weights (dense.h's PrefetchStream).
  // with (optional): another stream's pending look-ahead (its R was just read, so it is in
  // L2), run fused with this step's W pass: one loop over both matrices, W's rows from memory
  // and R's from L2 interleaved, so the L2 pass hides behind the memory stream (the sums are
  // the same as run alone). Its carry becomes ready and stops pending.
  // defer: when this step reads R, leave its look-ahead pass pending in c (c.pending; returns
  // true) for the caller to pass as `with` to the next Step of another stream (or RunAhead);
  // a Step of a stream whose own carry is still pending runs that pass first.
  bool Step(const float* x, float* state, Carry& c, float* scratch, PrefetchStream* pf = nullptr,
            const Ahead* with = nullptr, bool defer = false) const;
  // The pending look-ahead of c alone (h: the stream's state, unchanged since its Step).
  void RunAhead(const float* h, Carry& c, PrefetchStream* pf = nullptr) const;
  // The bytes the next Step of this stream reads from memory: W, then R unless c.ready.
  PrefetchStream NextStream(const Carry& c) const;

  const GruParams& params() const { return p_; }
  int n3p() const { return n3p_; }
  const float* packed_w() const { return w_; }
  const float* packed_r() const { return r_; }

 private:
  GruParams p_;
  int n3p_ = 0;
  std::vector<float> buf_;           // W copy, R copy (64-byte aligned inside)
  std::vector<float> bw_, br_;       // [n3p] biases, zero-padded
  const float* w_ = nullptr;
  const float* r_ = nullptr;
};

// One pass of the split layout: out[c] = init[c] + Σ_j v[j] · M[j][c] for c < n3p over the
// rows with v[j] != 0, in order (init and out [n3p], may not overlap). prefetch_self: prefetch
// the next rows (they come from memory); pf: the caller's stream, one line per 16 columns of
// every group of up to 4 rows (see GruSplit::Step). _avx2 requires CpuHasAvx2Fma(), _avx512
// Avx512Active(); both use FMAs (bit-identical).
void GruSplitPass_ref(const float* packed, int rows, int n3p, const float* v, const float* init,
                      float* out);
void GruSplitPass_avx2(const float* packed, int rows, int n3p, const float* v,
                       const float* init, float* out, bool prefetch_self, PrefetchStream* pf);
void GruSplitPass_avx512(const float* packed, int rows, int n3p, const float* v,
                         const float* init, float* out, bool prefetch_self, PrefetchStream* pf);
// Two passes in one loop, a group of rows of A then one of B, in turn (the same sums as two
// Pass calls): A is prefetched (it comes from memory), B is not (L2). _avx2 requires
// CpuHasAvx2Fma(), _avx512 Avx512Active().
struct GruSplitPassArgs {
  const float* packed;
  int rows;
  const float* v;
  const float* init;
  float* out;
};
void GruSplitPass2_avx2(int n3p, const GruSplitPassArgs& a, const GruSplitPassArgs& b);
void GruSplitPass2_avx512(int n3p, const GruSplitPassArgs& a, const GruSplitPassArgs& b);
// The gates from s = b_w + W·x and rh (both [n3p], gates z | r | c at 0, units, 2·units), into
// state; scratch [n3p]. _avx2 requires CpuHasAvx2Fma().
void GruSplitFinish_ref(const GruParams& p, const float* s, const float* rh, float* state,
                        float* scratch);
void GruSplitFinish_avx2(const GruParams& p, const float* s, const float* rh, float* state,
                         float* scratch);

// Exact binary16 <-> float conversions (portable; no F16C needed). FloatToHalfExact returns
// false when f is not exactly representable (or not finite).
float HalfToFloat(uint16_t h);
bool FloatToHalfExact(float f, uint16_t* h);
bool CpuHasF16c();

// The layout (shared by the packer and the AVX2 step): the gate's units/8 vectors are split into
// ceil(n/8) blocks of near-equal width (widths differ by at most one vector, wider first).
int GruPackedBlocks(int vectors);
int GruPackedBlockWidth(int vectors, int block);

// Require CpuHasAvx2Fma(), CpuHasF16c() and GruPacked::Packable(p).
void GruPackedStep_avx2(const GruParams& p, const float* packed, const float* x, float* state,
                        float* scratch);
// Requires CpuHasAvx2Fma() and CpuHasF16c(); packed as binary16.
void GruPackedStepHalf_avx2(const GruParams& p, const uint16_t* packed, const float* x,
                            float* state, float* scratch);
// The same two steps with AVX-512 (bit-identical results); require Avx512Active() (dense.h)
// and CpuHasF16c().
void GruPackedStep_avx512(const GruParams& p, const float* packed, const float* x, float* state,
                          float* scratch);
void GruPackedStepHalf_avx512(const GruParams& p, const uint16_t* packed, const float* x,
                              float* state, float* scratch);

}  // namespace ghostnv::kernels
