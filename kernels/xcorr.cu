// kernels/xcorr.cu — batched pitch cross-correlation (GPU twin of xcorr.h's PitchXcorr).
//
//   out[b][k] = sum_{i<len} x[b][i] * y[b][i + k],  k < lags, b < batch
// Each y row must hold len + lags - 1 samples. Rows are x_stride / y_stride / out_stride floats
// apart.
//
// Launch: pitch_xcorr_f32, grid (ceil(lags / block.x), any y <= batch; blocks loop over rows),
// dynamic shared memory len floats (the block's x row). Each thread sums one lag in index
// order (FMA rounding differs from PitchXcorr_ref); consecutive threads read consecutive y
// samples.
#include "gpu_common.cuh"

extern "C" __global__ void pitch_xcorr_f32(const float* __restrict__ x, int x_stride,
                                           const float* __restrict__ y, int y_stride,
                                           float* __restrict__ out, int out_stride, int len,
                                           int lags, int batch) {
  extern __shared__ float xs[];
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  for (int b = blockIdx.y; b < batch; b += gridDim.y) {
    const float* xr = x + static_cast<long long>(b) * x_stride;
    for (int i = threadIdx.x; i < len; i += blockDim.x) xs[i] = xr[i];
    __syncthreads();
    if (k < lags) {
      const float* yr = y + static_cast<long long>(b) * y_stride + k;
      float sum = 0.f;
#pragma unroll 8
      for (int i = 0; i < len; ++i) sum = fmaf(xs[i], __ldg(yr + i), sum);
      out[static_cast<long long>(b) * out_stride + k] = sum;
    }
    __syncthreads();  // the next row overwrites xs
  }
}
