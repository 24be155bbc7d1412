// kernels/gru.h — one time step of a GRU layer, updating its state in place.
//
// Gates are ordered z (update), r (reset), h (candidate) in every weight and bias block.
//   z = sigmoid(x·Wz + bz + s·Rz + rbz)
//   r = sigmoid(x·Wr + br + s·Rr + rbr)
//   reset_after = false (RNNoise / Keras):   c = act(x·Wh + bh + (r∘s)·Rh + rbh)
//   reset_after = true  (PyTorch, ONNX linear_before_reset=1):
//                                            c = act(x·Wh + bh + r∘(s·Rh + rbh))
//   s' = z∘s + (1-z)∘c
// W is [inputs][3*units], R is [units][3*units] (input-major, like dense.h).
// `act` is the candidate activation (tanh for PyTorch GRUs; RNNoise models may use relu).
// Gates always use sigmoid in the same MathMode.
// scratch must hold GruScratchFloats(units) floats; it is overwritten. No allocation.
//
//   GruParams p{.inputs = 114, .units = 96, .weights = w, .recurrent = r, .bias = b,
//               .recurrent_bias = rb, .activation = Activation::kTanh};
//   std::vector<float> scratch(GruScratchFloats(96));   // at create time, never per frame
//   GruStep(p, x, state, scratch.data());               // per frame: state updated in place
//
// Reference summation order (GruStep_ref): each pre-activation starts from its bias (b + rb,
// except the reset_after candidate whose rb is inside r∘(...)), adds the input products in
// input order, then the recurrent products in state order; the activation sees the final sum.
// GruStep_avx2 (requires CpuHasAvx2Fma()) computes the same sums with FMAs (narrow column
// blocks use interleaved partial sums, see simd_avx2.h); it differs from the reference by
// rounding only (gru_test.cc states the bound). Any inputs >= 0 and units >= 0
// (units == 0 is a no-op; tested up to 1024); scratch need not be aligned. x, state, scratch and
// the weights must not overlap. Thread-safety: pure function of its arguments.
#pragma once

#include <cstddef>

#include "kernels/activations.h"

namespace ghostnv::kernels {

struct GruParams {
  int inputs = 0;
  int units = 0;
  const float* weights = nullptr;         // [inputs][3*units]
  const float* recurrent = nullptr;       // [units][3*units]
  const float* bias = nullptr;            // [3*units], may be nullptr
  const float* recurrent_bias = nullptr;  // [3*units], may be nullptr
  Activation activation = Activation::kTanh;
  MathMode math = MathMode::kExact;
  bool reset_after = false;
};

constexpr size_t GruScratchFloats(int units) { return 8 * static_cast<size_t>(units) + 32; }

void GruStep(const GruParams& p, const float* x, float* state, float* scratch);
void GruStep_ref(const GruParams& p, const float* x, float* state, float* scratch);
void GruStep_avx2(const GruParams& p, const float* x, float* state, float* scratch);

}  // namespace ghostnv::kernels
