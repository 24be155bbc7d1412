// models/demucs/dense_rows.h — one dense layer applied to several rows (time steps) at once.
//
// y[r] = act(bias + x[r] · W) for r in [0, rows), x rows `x_stride` floats apart (they may
// overlap: a strided Conv1d over a time-major signal is DenseRows over windows S*Cin apart),
// y rows `y_stride` floats apart. The AVX2 version reads each weight once per 4 rows instead of
// once per row (the GEMV kernels/dense.h does), which is what makes Demucs' many-step encoder
// and decoder levels cheap. Real-time safe: no allocation. x and y must not overlap.
//
//   DenseRows(conv, signal, /*x_stride=*/S * cin, steps, out, /*y_stride=*/cout);
#pragma once

#include <cstddef>

#include "kernels/dense.h"

namespace ghostnv::models::demucs {

void DenseRows(const kernels::DenseParams& p, const float* x, size_t x_stride, int rows,
               float* y, size_t y_stride);
void DenseRows_ref(const kernels::DenseParams& p, const float* x, size_t x_stride, int rows,
                   float* y, size_t y_stride);
void DenseRows_avx2(const kernels::DenseParams& p, const float* x, size_t x_stride, int rows,
                    float* y, size_t y_stride);

}  // namespace ghostnv::models::demucs
