// kernels/dense.cu — batched fully connected layer (GPU twin of dense.h).
//
//   y[b][i] = act(bias[i] + sum_j x[b][j] * w[j][i]),  b < batch, i < units
// x rows are x_stride floats apart, y rows y_stride apart (so x and y may be slices of wider
// per-stream buffers). w is [inputs][units] (input-major, as on the CPU); bias may be null.
//
// Launch (runtime/gpu_ops.cc): dense_f32_r<R>, grid.x = ceil(batch / R), block.x threads
// (a multiple of 32), dynamic shared memory inputs * R floats. Each block stages R rows of x in
// shared memory (column-major, see gnv_load_tile) and each thread computes R outputs of one
// unit, so every weight read from memory feeds R fused multiply-adds. The sum runs over inputs
// in order, starting from the bias, like Dense_ref (FMA rounding differs).
#include "gpu_common.cuh"

template <int R>
__device__ __forceinline__ void dense_rows(const float* __restrict__ w, const float* __restrict__ bias,
                                           int inputs, int units, int act, int math,
                                           const float* __restrict__ x, int x_stride,
                                           float* __restrict__ y, int y_stride, int batch) {
  extern __shared__ float xs[];  // [inputs][R]
  const int b0 = blockIdx.x * R;
  gnv_load_tile<R>(xs, x, inputs, x_stride, b0, batch);
  __syncthreads();
  for (int c = threadIdx.x; c < units; c += blockDim.x) {
    float acc[R];
    const float b = bias != nullptr ? bias[c] : 0.f;
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = b;
#pragma unroll 8
    for (int j = 0; j < inputs; ++j) {
      const float wv = __ldg(w + static_cast<long long>(j) * units + c);
      const float* xr = xs + j * R;
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r] = fmaf(wv, xr[r], acc[r]);
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (b0 + r < batch) y[static_cast<long long>(b0 + r) * y_stride + c] = gnv_activate(act, math, acc[r]);
    }
  }
}

#define GNV_DENSE_KERNEL(R)                                                                     \
  extern "C" __global__ void dense_f32_r##R(const float* __restrict__ w,                        \
                                            const float* __restrict__ bias, int inputs,         \
                                            int units, int act, int math, const float* x,       \
                                            int x_stride, float* y, int y_stride, int batch) {  \
    dense_rows<R>(w, bias, inputs, units, act, math, x, x_stride, y, y_stride, batch);          \
  }
GNV_DENSE_KERNEL(1)
GNV_DENSE_KERNEL(2)
GNV_DENSE_KERNEL(4)
GNV_DENSE_KERNEL(8)
GNV_DENSE_KERNEL(16)
