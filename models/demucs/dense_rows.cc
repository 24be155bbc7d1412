// models/demucs/dense_rows.cc — scalar reference and dispatcher of DenseRows.

#include "models/demucs/dense_rows.h"

#include "kernels/cpu.h"

namespace ghostnv::models::demucs {

void DenseRows_ref(const kernels::DenseParams& p, const float* x, size_t x_stride, int rows,
                   float* y, size_t y_stride) {
  for (int r = 0; r < rows; ++r) kernels::Dense_ref(p, x + r * x_stride, y + r * y_stride);
}

void DenseRows(const kernels::DenseParams& p, const float* x, size_t x_stride, int rows,
               float* y, size_t y_stride) {
  if (kernels::ActiveSimd() == kernels::SimdLevel::kAvx2) {
    DenseRows_avx2(p, x, x_stride, rows, y, y_stride);
  } else {
    DenseRows_ref(p, x, x_stride, rows, y, y_stride);
  }
}

}  // namespace ghostnv::models::demucs
