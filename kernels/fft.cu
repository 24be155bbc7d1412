// kernels/fft.cu — batched real FFT of an even size n (GPU twin of audio/fft.h's RealFft).
//
//   rfft_forward_f32: X[b][k] = sum_t x[b][t] exp(-2 pi i k t / n), k = 0..n/2 (interleaved
//     complex, n/2 + 1 bins).
//   rfft_inverse_f32: y[b] = n * (inverse real DFT of X[b]) (unnormalised, like RealFft::Inverse;
//     the imaginary parts of bins 0 and n/2 are ignored).
// Both pack the n reals as n/2 complex values, run an n/2-point complex FFT and untangle the
// result, as RealFft does. The complex FFT is a mixed-radix Stockham autosort FFT in shared
// memory: stage s with radix R (plan nibble s: 2, 3, 4 or 5; the product must be n/2) and span
// Ns (product of the earlier radices) maps a[j + r * n/2/R], twiddled by W^(r (j mod Ns)), through
// an R-point DFT to b[(j / Ns) Ns R + (j mod Ns) + q Ns].
// tw[t] = exp(-2 pi i t / n), t < n, as float2 (computed in double on the host); the n/2-point
// transform uses tw[2t].
//
// Launch: grid.x >= 1 (blocks loop over frames), block.x any multiple of 32, dynamic shared
// memory n * sizeof(float2) (two n/2-point buffers).
#include "gpu_common.cuh"

__device__ __forceinline__ float2 gnv_cmul(float2 a, float2 b) {
  return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

// One Stockham stage of radix R (2..5, a compile-time constant: the DFT's index arithmetic
// folds away; the generic loop over a run-time radix spent most of its instructions on integer
// remainders). Same operations and twiddles as before: r * jm * span_step < m needs no
// reduction (r < R, jm < ns, span_step = m / (ns R)).
template <int R>
__device__ __forceinline__ void gnv_stockham_stage(const float2* a, float2* b, const float2* __restrict__ tw,
                                                   int tw_step, int m, int ns) {
  const int t_count = m / R;
  const int span_step = m / (ns * R);  // W_{ns*R}^u = W_m^(u * span_step)
  const int dft_step = t_count;        // W_R^u = W_m^(u * dft_step)
  for (int j = threadIdx.x; j < t_count; j += blockDim.x) {
    const int jm = j % ns;
    float2 v[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float2 in = a[j + r * t_count];
      v[r] = r == 0 ? in : gnv_cmul(in, __ldg(&tw[tw_step * (r * jm * span_step)]));
    }
    const int out0 = (j - jm) * R + jm;  // (j / ns) * ns * R + j mod ns
#pragma unroll
    for (int q = 0; q < R; ++q) {
      float2 acc = v[0];
#pragma unroll
      for (int r = 1; r < R; ++r) {
        const float2 w = __ldg(&tw[tw_step * (((r * q) % R) * dft_step)]);
        acc.x += v[r].x * w.x - v[r].y * w.y;
        acc.y += v[r].x * w.y + v[r].y * w.x;
      }
      b[out0 + q * ns] = acc;
    }
  }
}

// Forward m-point complex FFT of a (in shared memory), using b as scratch; returns the buffer
// holding the result. tw_step: tw holds W_{m * tw_step}.
__device__ float2* gnv_stockham(float2* a, float2* b, const float2* __restrict__ tw, int tw_step,
                                int m, unsigned long long plan) {
  int ns = 1;
  for (int s = 0; s < 16; ++s) {
    const int radix = static_cast<int>((plan >> (4 * s)) & 15ull);
    if (radix == 0) break;
    switch (radix) {
      case 2:
        gnv_stockham_stage<2>(a, b, tw, tw_step, m, ns);
        break;
      case 3:
        gnv_stockham_stage<3>(a, b, tw, tw_step, m, ns);
        break;
      case 4:
        gnv_stockham_stage<4>(a, b, tw, tw_step, m, ns);
        break;
      default:
        gnv_stockham_stage<5>(a, b, tw, tw_step, m, ns);
        break;
    }
    __syncthreads();
    float2* t = a;
    a = b;
    b = t;
    ns *= radix;
  }
  return a;
}

extern "C" __global__ void rfft_forward_f32(const float* __restrict__ x, int x_stride,
                                            float* __restrict__ X, int X_stride,
                                            const float2* __restrict__ tw, int n,
                                            unsigned long long plan, int batch) {
  extern __shared__ float2 cbuf[];
  const int m = n / 2;
  for (int f = blockIdx.x; f < batch; f += gridDim.x) {
    const float* xr = x + static_cast<long long>(f) * x_stride;
    for (int i = threadIdx.x; i < m; i += blockDim.x) cbuf[i] = make_float2(xr[2 * i], xr[2 * i + 1]);
    __syncthreads();
    const float2* z = gnv_stockham(cbuf, cbuf + m, tw, 2, m, plan);
    float* out = X + static_cast<long long>(f) * X_stride;
    for (int k = threadIdx.x; k <= m; k += blockDim.x) {
      const float2 zk = z[k == m ? 0 : k];
      const float2 zm = z[k == 0 ? 0 : m - k];
      const float ar = zk.x, ai = zk.y, br = zm.x, bi = -zm.y;
      const float er = 0.5f * (ar + br), ei = 0.5f * (ai + bi);
      const float o_r = 0.5f * (ai - bi), o_i = -0.5f * (ar - br);
      const float2 w = __ldg(&tw[k]);
      out[2 * k] = er + w.x * o_r - w.y * o_i;
      out[2 * k + 1] = ei + w.x * o_i + w.y * o_r;
    }
    __syncthreads();
  }
}

extern "C" __global__ void rfft_inverse_f32(const float* __restrict__ X, int X_stride,
                                            float* __restrict__ y, int y_stride,
                                            const float2* __restrict__ tw, int n,
                                            unsigned long long plan, int batch) {
  extern __shared__ float2 cbuf[];
  const int m = n / 2;
  for (int f = blockIdx.x; f < batch; f += gridDim.x) {
    const float* in = X + static_cast<long long>(f) * X_stride;
    for (int k = threadIdx.x; k < m; k += blockDim.x) {
      float xr = in[2 * k], xi = in[2 * k + 1], yr = in[2 * (m - k)], yi = -in[2 * (m - k) + 1];
      if (k == 0) xi = yi = 0.f;
      const float er = xr + yr, ei = xi + yi, dr = xr - yr, di = xi - yi;
      const float2 w = __ldg(&tw[k]);
      const float odr = dr * w.x + di * w.y, odi = di * w.x - dr * w.y;
      cbuf[k] = make_float2(er - odi, -(ei + odr));
    }
    __syncthreads();
    const float2* z = gnv_stockham(cbuf, cbuf + m, tw, 2, m, plan);
    float* out = y + static_cast<long long>(f) * y_stride;
    for (int i = threadIdx.x; i < m; i += blockDim.x) {
      out[2 * i] = z[i].x;
      out[2 * i + 1] = -z[i].y;
    }
    __syncthreads();
  }
}
