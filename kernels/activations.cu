// kernels/activations.cu — in-place element-wise activation (GPU twin of activations.h).
//
//   activate_f32(x, n, act, math): x[i] = act(x[i]) for i < n; grid-stride, any grid.
#include "gpu_common.cuh"

extern "C" __global__ void activate_f32(float* x, long long n, int act, int math) {
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n; i += step) {
    x[i] = gnv_activate(act, math, x[i]);
  }
}
