// kernels/dense.h — fully connected layer: y = act(bias + x · W).
//
// W is input-major, [inputs][units] (row j holds the weights from input j to every unit), so the
// AVX2 version broadcasts x[j] and accumulates 8 units at a time. Any sizes are allowed,
// including 0 and sizes that are not multiples of 8. x and y must not overlap.
// Real-time safe: no allocation.
//
//   DenseParams p{.inputs = 42, .units = 24, .weights = w, .bias = b,
//                 .activation = Activation::kTanh, .math = MathMode::kRnnoiseApprox};
//   Dense(p, x, y);  // y[i] = tanh(b[i] + sum_j w[j*24 + i] * x[j])
//
// Dense_ref sums bias, then inputs in order (like RNNoise's compute_dense), then applies the
// activation. Dense_avx2 (requires CpuHasAvx2Fma()) uses FMAs and, for units < 40 and the last
// units % 8, interleaved partial sums over the inputs, so it differs from the reference by
// rounding only (see dense_test.cc for the bound). y[units..] is never written.
#pragma once

#include <cstddef>

#include "kernels/activations.h"

namespace ghostnv::kernels {

struct DenseParams {
  int inputs = 0;
  int units = 0;
  const float* weights = nullptr;  // [inputs][units]
  const float* bias = nullptr;     // [units], may be nullptr (zero)
  Activation activation = Activation::kIdentity;
  MathMode math = MathMode::kExact;
};

void Dense(const DenseParams& p, const float* x, float* y);
void Dense_ref(const DenseParams& p, const float* x, float* y);
void Dense_avx2(const DenseParams& p, const float* x, float* y);

// The same layer over `rows` input vectors (a pointwise convolution, or one layer applied at
// every frequency position): y[r·units + i] = Dense(x + r·x_stride)[i] for r in [0, rows).
// x_stride >= inputs (rows may overlap in x; they must not overlap y). The result is
// bit-identical to calling Dense on each row, on every SIMD path: the AVX-512 kernel (used when
// Avx512Active() and the shape is one where Dense_avx2 sums each output strictly in order,
// units % 8 == 0 and units >= 40) keeps a block of up to 4 rows × 64 units in registers, so
// each weight load feeds 4 FMAs; any other case loops over Dense.
//
//   DenseRows(p, x, /*rows=*/96, /*x_stride=*/p.inputs, y);   // y is [96][p.units]
//
// pf (optional): cache lines to prefetch into L2 while the kernel computes, one line per inner
// iteration of the AVX-512 kernels (about one per 8 cycles, the rate one core streams from
// L3); the caller passes the weights its next memory-bound layer reads, so that they stream in
// behind this layer's arithmetic. Advanced as lines are issued; ignored by the other paths.
struct PrefetchStream {
  const char* next = nullptr;
  const char* end = nullptr;
};
void DenseRows(const DenseParams& p, const float* x, int rows, int x_stride, float* y,
               PrefetchStream* pf = nullptr);
// Requires Avx512Active(), units % 8 == 0 and units >= 40 (see DenseRows).
void DenseRows_avx512(const DenseParams& p, const float* x, int rows, int x_stride, float* y,
                      PrefetchStream* pf);

// `groups` dense layers side by side (a grouped linear layer): group g reads
// x[g·inputs ..], writes y[g·units ..] and uses the weights at p.weights + g·inputs·units (and
// the bias at p.bias + g·units when p.bias is set). With Avx512Active() and units <= 64 an
// AVX-512 kernel keeps several groups' accumulators in flight (each output sums bias, then its
// inputs in order, one FMA each: the reference's order, fused); otherwise it loops over Dense.
// Either way the result differs from Dense per group by rounding only.
//
//   DenseGroups(p, /*groups=*/16, x, y);   // x [16][p.inputs] -> y [16][p.units]
void DenseGroups(const DenseParams& p, int groups, const float* x, float* y,
                 PrefetchStream* pf = nullptr);
// Requires Avx512Active() and 1 <= units <= 64.
void DenseGroups_avx512(const DenseParams& p, int groups, const float* x, float* y,
                        PrefetchStream* pf);

// True when the AVX-512 kernels may run: the AVX2 path is active (cpu.h: not forced scalar),
// the CPU reports AVX-512 F/VL/BW, and GHOSTNV_SIMD is not "avx2" (which keeps AVX2 only).
// Decided once (at load time); ForceScalar(true) still wins at every call.
bool Avx512Active();

}  // namespace ghostnv::kernels
