// kernels/lstm.cu — one batched LSTM time step, h and c updated in place (GPU twin of lstm.h).
//
// For each stream b < batch (x rows x_stride floats apart, h and c rows state_stride apart):
//   z = bias + x·W + h·R,  gates i f g o (blocks of `units`),  W [inputs][4u], R [units][4u]
//   c' = σ(f)∘c + σ(i)∘tanh(g),   h' = σ(o)∘tanh(c')
// bias may be null. h and c must not overlap x.
//
// Launch: lstm_step_f32_r<R>, grid.x = ceil(batch / R), block.x a multiple of 32, dynamic
// shared memory (inputs + 5 * units) * R floats. A block owns R streams: it stages their x and
// h in shared memory (column-major tiles, gnv_load_tile), computes all 4u activated gates with
// each weight read once per block and used R times, then the new c and h. Sums start from the
// bias and run over inputs, then state, in order, like LstmStep_ref; only FMA rounding differs.
#include "gpu_common.cuh"

template <int R>
__device__ __forceinline__ void lstm_rows(const float* __restrict__ w, const float* __restrict__ rw,
                                          const float* __restrict__ bias, int inputs, int units,
                                          int math, const float* x, int x_stride, float* h,
                                          float* c, int state_stride, int batch) {
  extern __shared__ float smem[];
  float* xs = smem;              // [inputs][R]
  float* hs = xs + inputs * R;   // [units][R]
  float* zs = hs + units * R;    // [4 units][R] activated gates
  const int b0 = blockIdx.x * R;
  const int n4 = 4 * units;
  gnv_load_tile<R>(xs, x, inputs, x_stride, b0, batch);
  gnv_load_tile<R>(hs, h, units, state_stride, b0, batch);
  __syncthreads();
  for (int col = threadIdx.x; col < n4; col += blockDim.x) {
    const float bv = bias != nullptr ? bias[col] : 0.f;
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = bv;
#pragma unroll 8
    for (int j = 0; j < inputs; ++j) {
      const float wv = __ldg(w + static_cast<long long>(j) * n4 + col);
      const float* xr = xs + j * R;
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r] = fmaf(wv, xr[r], acc[r]);
    }
#pragma unroll 8
    for (int j = 0; j < units; ++j) {
      const float wv = __ldg(rw + static_cast<long long>(j) * n4 + col);
      const float* hr = hs + j * R;
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r] = fmaf(wv, hr[r], acc[r]);
    }
    const bool cand = col >= 2 * units && col < 3 * units;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      zs[col * R + r] = cand ? gnv_tanh(math, acc[r]) : gnv_sigmoid(math, acc[r]);
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < units * R; idx += blockDim.x) {
    const int r = idx / units;
    const int k = idx - r * units;
    const int b = b0 + r;
    if (b >= batch) continue;
    const long long o = static_cast<long long>(b) * state_stride + k;
    const float gi = zs[k * R + r];
    const float gf = zs[(units + k) * R + r];
    const float gg = zs[(2 * units + k) * R + r];
    const float go = zs[(3 * units + k) * R + r];
    const float cn = gf * c[o] + gi * gg;
    c[o] = cn;
    h[o] = go * gnv_tanh(math, cn);
  }
}

#define GNV_LSTM_KERNEL(R)                                                                       \
  extern "C" __global__ void lstm_step_f32_r##R(                                                 \
      const float* __restrict__ w, const float* __restrict__ rw, const float* __restrict__ bias, \
      int inputs, int units, int math, const float* x, int x_stride, float* h, float* c,         \
      int state_stride, int batch) {                                                             \
    lstm_rows<R>(w, rw, bias, inputs, units, math, x, x_stride, h, c, state_stride, batch);     \
  }
GNV_LSTM_KERNEL(1)
GNV_LSTM_KERNEL(2)
GNV_LSTM_KERNEL(4)
GNV_LSTM_KERNEL(8)
