// kernels/gpu_common.cuh — device helpers shared by the CUDA kernels (compiled by NVRTC).
//
// Every kernels/*.cu program may include this header ("gpu_common.cuh"); the runtime passes it
// to NVRTC with the program. It holds the activations in both math modes, matching the CPU
// twins in activations.h:
//   kExact:         tanhf / 1/(1+expf(-x)) (CUDA's accuracy: a couple of ulp).
//   kRnnoiseApprox: RNNoise's table tansig, written with explicitly rounded operations
//                   (__fmul_rn/__fadd_rn, no FMA contraction) so that for the same input it
//                   returns exactly the float that kernels::TansigApprox returns.
//   NaN -> 0 for tanh/sigmoid(exact)/relu, 0.5 for the approximate sigmoid (as on the CPU).
// The tansig table is a __device__ array in each module; the runtime copies
// kernels::TansigTable() into it right after loading the module (runtime/gpu_ops.cc).
// Codes: activation 0 identity, 1 tanh, 2 sigmoid, 3 relu; math 0 exact, 1 rnnoise_approx
// (the values of kernels::Activation and kernels::MathMode).
#ifndef GHOSTNV_KERNELS_GPU_COMMON_CUH_
#define GHOSTNV_KERNELS_GPU_COMMON_CUH_

#define GNV_ACT_IDENTITY 0
#define GNV_ACT_TANH 1
#define GNV_ACT_SIGMOID 2
#define GNV_ACT_RELU 3
#define GNV_MATH_EXACT 0
#define GNV_MATH_APPROX 1
#define GNV_TANSIG_TABLE_SIZE 201

__device__ float ghostnv_tansig_table[GNV_TANSIG_TABLE_SIZE];

__device__ __forceinline__ bool gnv_isnan(float x) { return x != x; }

__device__ __forceinline__ float gnv_tansig_approx(float x) {
  if (gnv_isnan(x)) return 0.f;
  if (!(x < 8.f)) return 1.f;
  if (!(x > -8.f)) return -1.f;
  float sign = 1.f;
  if (x < 0.f) {
    x = -x;
    sign = -1.f;
  }
  const int i = static_cast<int>(floorf(__fadd_rn(.5f, __fmul_rn(25.f, x))));
  x = __fsub_rn(x, __fmul_rn(.04f, static_cast<float>(i)));
  float y = ghostnv_tansig_table[i];
  const float dy = __fsub_rn(1.f, __fmul_rn(y, y));
  y = __fadd_rn(y, __fmul_rn(__fmul_rn(x, dy), __fsub_rn(1.f, __fmul_rn(y, x))));
  return sign * y;
}

__device__ __forceinline__ float gnv_sigmoid(int math, float x) {
  if (math == GNV_MATH_APPROX) {
    return __fadd_rn(.5f, __fmul_rn(.5f, gnv_tansig_approx(__fmul_rn(.5f, x))));
  }
  if (gnv_isnan(x)) return 0.f;
  return 1.f / (1.f + expf(-x));
}

__device__ __forceinline__ float gnv_tanh(int math, float x) {
  if (math == GNV_MATH_APPROX) return gnv_tansig_approx(x);
  if (gnv_isnan(x)) return 0.f;
  return tanhf(x);
}

__device__ __forceinline__ float gnv_activate(int act, int math, float x) {
  switch (act) {
    case GNV_ACT_TANH:
      return gnv_tanh(math, x);
    case GNV_ACT_SIGMOID:
      return gnv_sigmoid(math, x);
    case GNV_ACT_RELU:
      return x > 0.f ? x : 0.f;
    default:
      return x;
  }
}

// Copies rows [b0, b0 + R) of a row-major [batch][stride] matrix, columns [0, n), into a
// column-major tile dst[j * R + r] (rows past `batch` become 0), so that one column's R values
// are contiguous and can be read with vector loads.
template <int R>
__device__ __forceinline__ void gnv_load_tile(float* dst, const float* src, int n, int stride,
                                              int b0, int batch) {
  for (int idx = threadIdx.x; idx < n * R; idx += blockDim.x) {
    const int r = idx / n;
    const int j = idx - r * n;
    const int b = b0 + r;
    dst[j * R + r] = b < batch ? src[static_cast<long long>(b) * stride + j] : 0.f;
  }
}

#endif  // GHOSTNV_KERNELS_GPU_COMMON_CUH_
