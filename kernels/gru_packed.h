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
//   GruPacked g(params);                               // at create time: allocates, copies
//   std::vector<float> scratch(GruScratchFloats(params.units));
//   g.Step(x, state, scratch.data());                  // per frame: no allocation
//
// Thread-safety: Step is const and touches only its arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

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
