// kernels/lstm.h — one time step of an LSTM layer, updating h and c in place.
//
// Gates are ordered i (input), f (forget), g (cell candidate), o (output) in every weight and
// bias block (Keras/PyTorch order; the converter reorders ONNX's i, o, f, c):
//   z = b + x·W + h·R                       (W [inputs][4*units], R [units][4*units])
//   i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o)
//   c' = f∘c + i∘g,   h' = o∘tanh(c')
// W and R are input-major like dense.h; they may be the two halves of one [inputs+units][4u]
// matrix (R = W + inputs*4u), which is how .gnvm files store an LSTM (models/dtln/).
// scratch must hold LstmScratchFloats(units) floats; it is overwritten. No allocation.
//
//   LstmParams p{.inputs = 257, .units = 128, .weights = w, .recurrent = w + 257 * 512,
//                .bias = b};
//   std::vector<float> scratch(LstmScratchFloats(128));   // at create time
//   LstmStep(p, x, h, c, scratch.data());                 // per frame
//
// Reference summation order (LstmStep_ref): each pre-activation starts from its bias, adds the
// input products in input order, then the recurrent products in state order. LstmStep_avx2
// (requires CpuHasAvx2Fma()) computes the same sums with FMAs (avx2::Gemv) and the AVX2
// activations (|err| <= 1e-6); LstmStep_avx512 (requires Avx512Active(), dense.h) sums every
// column strictly in that order, one FMA per term, in blocks of up to 128 columns held in
// registers (bit-identical to LstmStep_avx2 where avx2::Gemv also sums in order: units even and
// >= 10); both differ from the reference by rounding only (lstm_test.cc states the bound).
// LstmStep picks AVX-512, then AVX2 (GHOSTNV_SIMD=avx2 keeps AVX2, =scalar the reference). For
// LSTM stacks that stream their weights from memory, kernels/lstm_split.h reads fewer bytes per
// step. Any inputs >= 0, units >= 0 (0 is a no-op). x, h, c, scratch and the weights must not
// overlap. Thread-safety: pure function of its arguments. Real-time safe.
#pragma once

#include <cstddef>

#include "kernels/activations.h"

namespace ghostnv::kernels {

struct LstmParams {
  int inputs = 0;
  int units = 0;
  const float* weights = nullptr;    // [inputs][4*units]
  const float* recurrent = nullptr;  // [units][4*units]
  const float* bias = nullptr;       // [4*units], may be nullptr (zero)
  MathMode math = MathMode::kExact;
};

constexpr size_t LstmScratchFloats(int units) { return 4 * static_cast<size_t>(units) + 16; }

void LstmStep(const LstmParams& p, const float* x, float* h, float* c, float* scratch);
void LstmStep_ref(const LstmParams& p, const float* x, float* h, float* c, float* scratch);
void LstmStep_avx2(const LstmParams& p, const float* x, float* h, float* c, float* scratch);
void LstmStep_avx512(const LstmParams& p, const float* x, float* h, float* c, float* scratch);

}  // namespace ghostnv::kernels
