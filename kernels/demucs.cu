// kernels/demucs.cu — the glue of causal Demucs streaming on the GPU
// (models/demucs/cuda/demucs_cuda_plan.*): input window + running-variance normalisation,
// 2x sinc resamplers, a dense layer over (session, time step) pairs that serves every
// convolution (encoder Conv1d, 1x1 Conv1d + GLU, the transposed convolution's blocks), the
// transposed convolution's overlap-add with the cached partial sums, LSTM state gather/scatter,
// and the output mix. The CPU twin of every kernel is models/demucs/demucs_family.cc
// (DemucsFamily::RunFrame / ProcessHop); demucs_cuda_host_test.cc runs this file on host threads
// against it.
//
// Rows and slots: a hop processes `rows` rows; row r belongs to session slot dmx_slot(ctl, r).
// ctl = [count, 0, 0, 0, then per row: slot, strength bits, frame, hop] (int32). `hop` counts
// the slot's hops from 0; `frame` is the 1-based DemucsStreamer frame this hop completes (<= 0
// while the first frame is still filling: such rows only shift their input window and output
// zeros). Rows at or past `count` are skipped by every kernel (graph buckets are larger than
// the batch). Per-slot buffers that a hop both reads and rewrites are double-buffered: the
// copy (parity) frame & 1 (hop & 1 for the input window) is written, the other one read.
// Every kernel uses 1-D grid-stride loops, so any grid size is correct.
#include "gpu_common.cuh"

#define DMX_CTL_HEAD 4
#define DMX_CTL_ROW 4
#define DMX_DENSE_KC 32
#define DMX_MAX_THREADS 256

__device__ __forceinline__ int dmx_count(const int* ctl) { return ctl[0]; }
__device__ __forceinline__ int dmx_slot(const int* ctl, int r) {
  return ctl[DMX_CTL_HEAD + DMX_CTL_ROW * r];
}
__device__ __forceinline__ float dmx_strength(const int* ctl, int r) {
  const float s = __int_as_float(ctl[DMX_CTL_HEAD + DMX_CTL_ROW * r + 1]);
  return fminf(fmaxf(s, 0.f), 1.f);
}
__device__ __forceinline__ int dmx_frame(const int* ctl, int r) {
  return ctl[DMX_CTL_HEAD + DMX_CTL_ROW * r + 2];
}
__device__ __forceinline__ int dmx_hop(const int* ctl, int r) {
  return ctl[DMX_CTL_HEAD + DMX_CTL_ROW * r + 3];
}
// A row that runs the network this hop.
__device__ __forceinline__ bool dmx_live(const int* ctl, int r) {
  return r < dmx_count(ctl) && dmx_frame(ctl, r) > 0;
}

// Operand addressing: mode 0 = a row buffer (base + r * rs); mode 1 = the slot's current copy
// (base + slot * rs + (frame & 1) * ps); mode 2 = the slot's previous copy ((frame + 1) & 1).
__device__ __forceinline__ long long dmx_base(int mode, int rs, int ps, const int* ctl, int r) {
  if (mode == 0) return static_cast<long long>(r) * rs;
  const int f = dmx_frame(ctl, r);
  const int parity = mode == 1 ? (f & 1) : ((f + 1) & 1);
  return static_cast<long long>(dmx_slot(ctl, r)) * rs + static_cast<long long>(parity) * ps;
}

// Input: win[slot][hop & 1] = [win[slot][other][H:], pcm[r]] (W floats). Live rows then build
// the network's frame: fr[r] = [rin (RB) | win[0, TL) / (floor + sqrt(variance))] with the
// running variance of the frame means of squares (DemucsStreamer's cumulative mean over the first
// norm_frames frames, then an exponential average with weight 1 / norm_frames; 0 = never
// forget: models/demucs Networks::norm_frames), scale[r] = sqrt(variance)
// (1 without normalisation), and rin[slot][frame & 1] = the normalised samples [H - RB, H).
// One block per row (blockDim a power of two <= DMX_MAX_THREADS).
extern "C" __global__ void demucs_input_f32(const int* __restrict__ ctl, const float* __restrict__ pcm,
                                            int hop, float* win, int W, int TL, int RB,
                                            float* __restrict__ variance, float* rin,
                                            float* __restrict__ fr, int fr_stride,
                                            float* __restrict__ scale, int normalize, float floor_v,
                                            int norm_frames, int rows) {
  __shared__ float red[DMX_MAX_THREADS];
  __shared__ float sdiv;
  const int count = dmx_count(ctl);
  const int n = rows < count ? rows : count;
  for (int r = blockIdx.x; r < n; r += gridDim.x) {
    const int slot = dmx_slot(ctl, r);
    const int hp = dmx_hop(ctl, r) & 1;
    const float* old = win + (static_cast<long long>(slot) * 2 + (hp ^ 1)) * W;
    float* nw = win + (static_cast<long long>(slot) * 2 + hp) * W;
    const float* pr = pcm + static_cast<long long>(r) * hop;
    for (int i = threadIdx.x; i < W; i += blockDim.x) nw[i] = i < W - hop ? old[i + hop] : pr[i - (W - hop)];
    __syncthreads();
    const int f = dmx_frame(ctl, r);
    if (f <= 0) continue;  // uniform per block
    if (normalize) {
      float acc = 0.f;
      for (int i = threadIdx.x; i < TL; i += blockDim.x) acc = fmaf(nw[i], nw[i], acc);
      red[threadIdx.x] = acc;
      __syncthreads();
      for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (static_cast<int>(threadIdx.x) < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
      }
      if (threadIdx.x == 0) {
        const float ms = red[0] / static_cast<float>(TL);
        const int fe = norm_frames > 0 && f > norm_frames ? norm_frames : f;
        const double inv = 1.0 / static_cast<double>(fe);
        const float v = __fadd_rn(__fmul_rn(ms, static_cast<float>(inv)),
                                  __fmul_rn(static_cast<float>(1.0 - inv), variance[slot]));
        variance[slot] = v;
        const float sc = static_cast<float>(sqrt(static_cast<double>(v)));
        scale[r] = sc;
        sdiv = __fadd_rn(floor_v, sc);
      }
    } else if (threadIdx.x == 0) {
      scale[r] = 1.f;
      sdiv = 1.f;
    }
    __syncthreads();
    const float div = sdiv;
    float* frow = fr + static_cast<long long>(r) * fr_stride;
    const float* ri = rin + (static_cast<long long>(slot) * 2 + ((f + 1) & 1)) * RB;
    float* ro = rin + (static_cast<long long>(slot) * 2 + (f & 1)) * RB;
    for (int i = threadIdx.x; i < RB; i += blockDim.x) {
      frow[i] = ri[i];
      ro[i] = normalize ? __fdiv_rn(nw[hop - RB + i], div) : nw[hop - RB + i];
    }
    for (int i = threadIdx.x; i < TL; i += blockDim.x)
      frow[RB + i] = normalize ? __fdiv_rn(nw[i], div) : nw[i];
    __syncthreads();  // red and sdiv are reused by the next row
  }
}

// out[r][2t] = in[r][t]; out[r][2t+1] = sum_j in[r][t + 1 + j - taps/2] * kern[j] (zeros
// outside [0, n)). Live rows only; grid-stride over rows * n.
extern "C" __global__ void demucs_upsample2_f32(const int* __restrict__ ctl, const float* __restrict__ in,
                                                int in_stride, int n, const float* __restrict__ kern,
                                                int taps, float* __restrict__ out, int out_stride,
                                                int rows) {
  const long long total = static_cast<long long>(rows) * n;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  const int z = taps / 2;
  for (long long id = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; id < total; id += step) {
    const int r = static_cast<int>(id / n);
    const int t = static_cast<int>(id - static_cast<long long>(r) * n);
    if (!dmx_live(ctl, r)) continue;
    const float* x = in + static_cast<long long>(r) * in_stride;
    const int lo = z - 1 - t > 0 ? z - 1 - t : 0;
    const int hi = n + z - 1 - t < taps ? n + z - 1 - t : taps;
    float acc = 0.f;
    for (int j = lo; j < hi; ++j) acc = fmaf(x[t + 1 + j - z], kern[j], acc);
    float* y = out + static_cast<long long>(r) * out_stride;
    y[2 * t] = x[t];
    y[2 * t + 1] = acc;
  }
}

// out[r][t] = (in[r][2t] + sum_j in[r][2(t + j - taps/2) + 1] * kern[j]) / 2, t < (n + 1) / 2
// (odd samples past n are zero). Live rows only.
extern "C" __global__ void demucs_downsample2_f32(const int* __restrict__ ctl, const float* __restrict__ in,
                                                  int in_stride, int n, const float* __restrict__ kern,
                                                  int taps, float* __restrict__ out, int out_stride,
                                                  int rows) {
  const int half = (n + 1) / 2;
  const long long total = static_cast<long long>(rows) * half;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  const int z = taps / 2;
  for (long long id = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; id < total; id += step) {
    const int r = static_cast<int>(id / half);
    const int t = static_cast<int>(id - static_cast<long long>(r) * half);
    if (!dmx_live(ctl, r)) continue;
    const float* x = in + static_cast<long long>(r) * in_stride;
    float acc = 0.f;
    for (int j = 0; j < taps; ++j) {
      const int q = t + j - z;
      if (q < 0) continue;
      const int i = 2 * q + 1;
      if (i >= n) break;
      acc = fmaf(x[i], kern[j], acc);
    }
    out[static_cast<long long>(r) * out_stride + t] = __fmul_rn(__fadd_rn(x[2 * t], acc), 0.5f);
  }
}

// A dense layer over virtual rows v = r * steps + t (session r, time step t < steps):
//   y[v][u] = act(bias[u] + sum_k xin[v][k] * w[k][u]),   u < c, w [inputs][wunits]
// with glu: y[v][u] = z[u] * sigmoid(z[c + u]) (z the identity outputs, wunits = 2c).
// xin[v][k] = x[xbase(r) + t * x_ts + k] (+ x2[x2base(r) + t * x2_ts + k] when x2 != 0: the
// decoder's skip connection); bases by dmx_base (x_mode, x_rs, x_ps). Streaming reuse
// (reuse_below > 0): for rows past their first frame, steps t < reuse_below are not computed but
// copied from the slot's previous copy, y[t] = yprev[t + reuse_shift] (when y_mode is 1; else
// skipped), and computed steps read x at t * x_ts + x_reuse_off. Only live rows are touched.
// Launch: block.x a multiple of 32 (<= DMX_MAX_THREADS), 1-D grid over the tiles (TS virtual
// rows x block.x units). Each thread keeps TS (2 TS with glu) accumulators, so a weight read
// feeds TS rows.
// One virtual row's descriptor: 0 skip, 1 compute, 2 copy; operand offsets.
__device__ __forceinline__ int dmx_describe(const int* __restrict__ ctl, long long v, long long nv,
                                            int steps, int x_mode, int x_rs, int x_ps, int x_ts,
                                            int x_reuse_off, const float* x2, int x2_mode,
                                            int x2_rs, int x2_ps, int x2_ts, int y_mode, int y_rs,
                                            int y_ps, int y_ts, int reuse_below, int reuse_shift,
                                            long long* xo, long long* x2o, long long* yo,
                                            long long* ypo) {
  if (v >= nv) return 0;
  const int r = static_cast<int>(v / steps);
  const int t = static_cast<int>(v - static_cast<long long>(r) * steps);
  if (!dmx_live(ctl, r)) return 0;
  const bool reuse = reuse_below > 0 && dmx_frame(ctl, r) > 1;
  const int mode = reuse && t < reuse_below ? (y_mode == 1 ? 2 : 0) : 1;
  *xo = dmx_base(x_mode, x_rs, x_ps, ctl, r) + static_cast<long long>(t) * x_ts +
        (reuse ? x_reuse_off : 0);
  *x2o = x2 != nullptr ? dmx_base(x2_mode, x2_rs, x2_ps, ctl, r) + static_cast<long long>(t) * x2_ts
                       : 0;
  *yo = dmx_base(y_mode, y_rs, y_ps, ctl, r) + static_cast<long long>(t) * y_ts;
  *ypo = mode == 2 ? dmx_base(2, y_rs, y_ps, ctl, r) + static_cast<long long>(t + reuse_shift) * y_ts
                   : 0;
  return mode;
}

// The epilogue of one output: bias, activation or GLU, accumulation into y.
__device__ __forceinline__ float dmx_finish(float acc, float acc2, const float* __restrict__ bias,
                                            int u, int c, int glu, int act, int math,
                                            int accumulate, float yold) {
  const float b = bias != nullptr ? bias[u] : 0.f;
  if (glu) {
    const float b2 = bias != nullptr ? bias[c + u] : 0.f;
    const float a = __fadd_rn(b, acc);
    const float g = __fadd_rn(b2, acc2);
    return __fmul_rn(a, gnv_sigmoid(GNV_MATH_EXACT, g));
  }
  float z = __fadd_rn(b, acc);
  if (accumulate) z = __fadd_rn(z, yold);
  return gnv_activate(act, math, z);
}

template <int TS>
__device__ __forceinline__ void dmx_dense(const int* __restrict__ ctl, int rows, int steps,
                                          const float* __restrict__ w, const float* __restrict__ bias,
                                          int inputs, int wunits, int c, int glu, int act, int math,
                                          const float* x, int x_mode, int x_rs, int x_ps, int x_ts,
                                          int x_reuse_off, const float* x2, int x2_mode, int x2_rs,
                                          int x2_ps, int x2_ts, float* y, int y_mode, int y_rs,
                                          int y_ps, int y_ts, int reuse_below, int reuse_shift,
                                          int accumulate) {
  __shared__ float xs[DMX_DENSE_KC * TS];
  __shared__ long long xo[TS], x2o[TS], yo[TS], ypo[TS];
  __shared__ int todo[TS];  // 0 skip, 1 compute, 2 copy
  const long long nv = static_cast<long long>(rows) * steps;
  const long long vtiles = (nv + TS - 1) / TS;
  const int utiles = (c + blockDim.x - 1) / blockDim.x;
  const long long tiles = vtiles * utiles;
  for (long long tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const long long tv = tile / utiles;
    const int tu = static_cast<int>(tile - tv * utiles);
    __syncthreads();  // every thread is done with the previous tile's descriptors
    if (static_cast<int>(threadIdx.x) < TS) {
      const int q = threadIdx.x;
      todo[q] = dmx_describe(ctl, tv * TS + q, nv, steps, x_mode, x_rs, x_ps, x_ts, x_reuse_off,
                             x2, x2_mode, x2_rs, x2_ps, x2_ts, y_mode, y_rs, y_ps, y_ts,
                             reuse_below, reuse_shift, &xo[q], &x2o[q], &yo[q], &ypo[q]);
    }
    __syncthreads();
    bool any = false;
    for (int q = 0; q < TS; ++q) any = any || todo[q] != 0;
    if (!any) continue;  // uniform per block
    const int u = tu * blockDim.x + threadIdx.x;
    float acc[TS], acc2[TS];
#pragma unroll
    for (int q = 0; q < TS; ++q) {
      acc[q] = 0.f;
      acc2[q] = 0.f;
    }
    for (int k0 = 0; k0 < inputs; k0 += DMX_DENSE_KC) {
      const int kc = inputs - k0 < DMX_DENSE_KC ? inputs - k0 : DMX_DENSE_KC;
      for (int idx = threadIdx.x; idx < kc * TS; idx += blockDim.x) {
        const int q = idx / kc;
        const int kk = idx - q * kc;
        float v = 0.f;
        if (todo[q] == 1) {
          v = x[xo[q] + k0 + kk];
          if (x2 != nullptr) v = __fadd_rn(v, x2[x2o[q] + k0 + kk]);
        }
        xs[kk * TS + q] = v;
      }
      __syncthreads();
      if (u < c) {
        const float* wp = w + static_cast<long long>(k0) * wunits + u;
        if (kc == DMX_DENSE_KC) {  // full chunk: unrolled, the weight loads issued together
          if (glu) {
#pragma unroll 8
            for (int kk = 0; kk < DMX_DENSE_KC; ++kk) {
              const float wv = __ldg(wp + static_cast<long long>(kk) * wunits);
              const float wg = __ldg(wp + static_cast<long long>(kk) * wunits + c);
              const float* xr = xs + kk * TS;
#pragma unroll
              for (int q = 0; q < TS; ++q) {
                acc[q] = fmaf(wv, xr[q], acc[q]);
                acc2[q] = fmaf(wg, xr[q], acc2[q]);
              }
            }
          } else {
#pragma unroll 16
            for (int kk = 0; kk < DMX_DENSE_KC; ++kk) {
              const float wv = __ldg(wp + static_cast<long long>(kk) * wunits);
              const float* xr = xs + kk * TS;
#pragma unroll
              for (int q = 0; q < TS; ++q) acc[q] = fmaf(wv, xr[q], acc[q]);
            }
          }
        } else {
          for (int kk = 0; kk < kc; ++kk) {
            const float wv = __ldg(wp + static_cast<long long>(kk) * wunits);
            const float* xr = xs + kk * TS;
#pragma unroll
            for (int q = 0; q < TS; ++q) acc[q] = fmaf(wv, xr[q], acc[q]);
            if (glu) {
              const float wg = __ldg(wp + static_cast<long long>(kk) * wunits + c);
#pragma unroll
              for (int q = 0; q < TS; ++q) acc2[q] = fmaf(wg, xr[q], acc2[q]);
            }
          }
        }
      }
      __syncthreads();
    }
    if (u < c) {
#pragma unroll
      for (int q = 0; q < TS; ++q) {
        if (todo[q] == 1) {
          const float yold = accumulate ? y[yo[q] + u] : 0.f;
          y[yo[q] + u] = dmx_finish(acc[q], acc2[q], bias, u, c, glu, act, math, accumulate, yold);
        } else if (todo[q] == 2) {
          y[yo[q] + u] = y[ypo[q] + u];
        }
      }
    }
  }
}

// The same layer for few virtual rows (batch 1's deep levels, the LSTM): a block owns
// DMX_SK_UNITS consecutive units and DMX_SK_ROWS virtual rows; its blockDim.x / DMX_SK_UNITS
// thread slices split the dot products over the inputs, then the first slice reduces (in slice
// order) and finishes. Launch: block.x a multiple of DMX_SK_UNITS (<= DMX_MAX_THREADS), 1-D grid.
#define DMX_SK_UNITS 32
#define DMX_SK_ROWS 4
extern "C" __global__ void demucs_dense_sk_f32(
    const int* __restrict__ ctl, int rows, int steps, const float* __restrict__ w,
    const float* __restrict__ bias, int inputs, int wunits, int c, int glu, int act, int math,
    const float* x, int x_mode, int x_rs, int x_ps, int x_ts, int x_reuse_off, const float* x2,
    int x2_mode, int x2_rs, int x2_ps, int x2_ts, float* y, int y_mode, int y_rs, int y_ps,
    int y_ts, int reuse_below, int reuse_shift, int accumulate) {
  __shared__ float part[DMX_MAX_THREADS * DMX_SK_ROWS * 2];
  __shared__ long long xo[DMX_SK_ROWS], x2o[DMX_SK_ROWS], yo[DMX_SK_ROWS], ypo[DMX_SK_ROWS];
  __shared__ int todo[DMX_SK_ROWS];
  const long long nv = static_cast<long long>(rows) * steps;
  const long long vtiles = (nv + DMX_SK_ROWS - 1) / DMX_SK_ROWS;
  const int utiles = (c + DMX_SK_UNITS - 1) / DMX_SK_UNITS;
  const long long tiles = vtiles * utiles;
  const int lane = threadIdx.x % DMX_SK_UNITS;
  const int slice = threadIdx.x / DMX_SK_UNITS;
  const int slices = blockDim.x / DMX_SK_UNITS;
  for (long long tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const long long tv = tile / utiles;
    const int tu = static_cast<int>(tile - tv * utiles);
    __syncthreads();
    if (static_cast<int>(threadIdx.x) < DMX_SK_ROWS) {
      const int q = threadIdx.x;
      todo[q] = dmx_describe(ctl, tv * DMX_SK_ROWS + q, nv, steps, x_mode, x_rs, x_ps, x_ts,
                             x_reuse_off, x2, x2_mode, x2_rs, x2_ps, x2_ts, y_mode, y_rs, y_ps,
                             y_ts, reuse_below, reuse_shift, &xo[q], &x2o[q], &yo[q], &ypo[q]);
    }
    __syncthreads();
    bool any = false;
    for (int q = 0; q < DMX_SK_ROWS; ++q) any = any || todo[q] != 0;
    if (!any) continue;
    const int u = tu * DMX_SK_UNITS + lane;
    float acc[DMX_SK_ROWS], acc2[DMX_SK_ROWS];
#pragma unroll
    for (int q = 0; q < DMX_SK_ROWS; ++q) {
      acc[q] = 0.f;
      acc2[q] = 0.f;
    }
    if (u < c) {
      for (int k = slice; k < inputs; k += slices) {
        const float wv = __ldg(w + static_cast<long long>(k) * wunits + u);
        const float wg = glu ? __ldg(w + static_cast<long long>(k) * wunits + c + u) : 0.f;
#pragma unroll
        for (int q = 0; q < DMX_SK_ROWS; ++q) {
          if (todo[q] != 1) continue;
          float xv = x[xo[q] + k];
          if (x2 != nullptr) xv = __fadd_rn(xv, x2[x2o[q] + k]);
          acc[q] = fmaf(wv, xv, acc[q]);
          acc2[q] = fmaf(wg, xv, acc2[q]);
        }
      }
    }
#pragma unroll
    for (int q = 0; q < DMX_SK_ROWS; ++q) {
      part[(q * 2) * DMX_MAX_THREADS + threadIdx.x] = acc[q];
      part[(q * 2 + 1) * DMX_MAX_THREADS + threadIdx.x] = acc2[q];
    }
    __syncthreads();
    if (slice == 0 && u < c) {
#pragma unroll
      for (int q = 0; q < DMX_SK_ROWS; ++q) {
        if (todo[q] == 1) {
          float a = 0.f, a2 = 0.f;
          for (int sl = 0; sl < slices; ++sl) {
            a += part[(q * 2) * DMX_MAX_THREADS + sl * DMX_SK_UNITS + lane];
            a2 += part[(q * 2 + 1) * DMX_MAX_THREADS + sl * DMX_SK_UNITS + lane];
          }
          const float yold = accumulate ? y[yo[q] + u] : 0.f;
          y[yo[q] + u] = dmx_finish(a, a2, bias, u, c, glu, act, math, accumulate, yold);
        } else if (todo[q] == 2) {
          y[yo[q] + u] = y[ypo[q] + u];
        }
      }
    }
  }
}

#define DMX_DENSE_KERNEL(TS)                                                                      \
  extern "C" __global__ void demucs_dense_f32_t##TS(                                              \
      const int* __restrict__ ctl, int rows, int steps, const float* __restrict__ w,              \
      const float* __restrict__ bias, int inputs, int wunits, int c, int glu, int act, int math,  \
      const float* x, int x_mode, int x_rs, int x_ps, int x_ts, int x_reuse_off, const float* x2, \
      int x2_mode, int x2_rs, int x2_ps, int x2_ts, float* y, int y_mode, int y_rs, int y_ps,     \
      int y_ts, int reuse_below, int reuse_shift, int accumulate) {                               \
    dmx_dense<TS>(ctl, rows, steps, w, bias, inputs, wunits, c, glu, act, math, x, x_mode, x_rs,  \
                  x_ps, x_ts, x_reuse_off, x2, x2_mode, x2_rs, x2_ps, x2_ts, y, y_mode, y_rs,     \
                  y_ps, y_ts, reuse_below, reuse_shift, accumulate);                              \
  }
DMX_DENSE_KERNEL(4)
DMX_DENSE_KERNEL(16)

// One LSTM cell update from the gate pre-activations z[r] (i, f, g, o blocks of C, from two
// demucs_dense launches: x·W + b, then += h·R): c' = σ(f)c + σ(i)tanh(g), h' = σ(o)tanh(c'),
// reading c at cs[r][t], writing h at hs[r][t + 1] and c at cs[r][t + 1] (rows seq_rs apart).
// Live rows only.
extern "C" __global__ void demucs_lstm_cell_f32(const int* __restrict__ ctl, int rows,
                                                const float* __restrict__ z, int z_rs, int C,
                                                int math, float* hs, float* cs, int seq_rs, int t) {
  const long long total = static_cast<long long>(rows) * C;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long id = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; id < total; id += step) {
    const int r = static_cast<int>(id / C);
    if (!dmx_live(ctl, r)) continue;
    const int k = static_cast<int>(id - static_cast<long long>(r) * C);
    const float* zr = z + static_cast<long long>(r) * z_rs;
    const float gi = gnv_sigmoid(math, zr[k]);
    const float gf = gnv_sigmoid(math, zr[C + k]);
    const float gg = gnv_tanh(math, zr[2 * C + k]);
    const float go = gnv_sigmoid(math, zr[3 * C + k]);
    const long long o = static_cast<long long>(r) * seq_rs + static_cast<long long>(t) * C + k;
    const float cn = __fadd_rn(__fmul_rn(gf, cs[o]), __fmul_rn(gi, gg));
    cs[o + C] = cn;
    hs[o + C] = __fmul_rn(go, gnv_tanh(math, cn));
  }
}

// Transposed convolution (K = 2S) overlap-add of one decoder level, from the per-step blocks
// blk[r][t][K * c] (t < tx: the complete steps x, then te "extra" steps e):
//   vx(p) = bias + blk[p/S - 1][p%S + S] + blk[p/S][p%S]   (terms with t outside [0, tx) absent)
//   out[p] = vx(p) (+ tail_prev[p] for p < S),             p < tx*S   (the next level's x)
//   tail_cur[q] = vx(tx*S + q) - bias,                      q < S      (partial sums, cached)
//   out[tx*S + p] = te == 0 ? vx(tx*S + p) (p < S)
//                           : ve(p) (+ tail_cur[p] for p < S),  p < te*S + S (the next e)
// then ReLU when relu != 0. Tails: slot buffers [slot][2][S * c]. Live rows only.
extern "C" __global__ void demucs_dec_ola_f32(const int* __restrict__ ctl, int rows,
                                              const float* __restrict__ blk, int blk_rs,
                                              const float* __restrict__ bias, int c, int S, int tx,
                                              int te, float* tail, int tail_rs, float* __restrict__ out,
                                              int out_rs, int relu) {
  const int K = 2 * S;
  const int e_len = te > 0 ? te * S + S : S;
  const int per_row = (tx * S + S + e_len) * c;  // x part, tail, e part
  const long long total = static_cast<long long>(rows) * per_row;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long id = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; id < total; id += step) {
    const int r = static_cast<int>(id / per_row);
    if (!dmx_live(ctl, r)) continue;
    int idx = static_cast<int>(id - static_cast<long long>(r) * per_row);
    const float* br = blk + static_cast<long long>(r) * blk_rs;
    const int f = dmx_frame(ctl, r);
    const int slot = dmx_slot(ctl, r);
    const float* tprev = tail + static_cast<long long>(slot) * tail_rs + ((f + 1) & 1) * (S * c);
    float* tcur = tail + static_cast<long long>(slot) * tail_rs + (f & 1) * (S * c);
    float* orow = out + static_cast<long long>(r) * out_rs;
    int part = 0;  // 0 x, 1 tail, 2 e
    if (idx >= tx * S * c) {
      idx -= tx * S * c;
      part = 1;
      if (idx >= S * c) {
        idx -= S * c;
        part = 2;
      }
    }
    const int p = idx / c;
    const int o = idx - p * c;
    const float bo = bias[o];
    // vx at position pos of the x sequence (steps [0, tx) of blk) or of e (steps [tx, tx + te)).
    auto conv_at = [&](int pos, int t_first, int t_count) {
      float acc = bo;
      const int t1 = pos / S - 1, t2 = pos / S;
      if (t1 >= 0 && t1 < t_count)
        acc = __fadd_rn(acc, br[static_cast<long long>(t_first + t1) * K * c + (pos - t1 * S) * c + o]);
      if (t2 < t_count)
        acc = __fadd_rn(acc, br[static_cast<long long>(t_first + t2) * K * c + (pos - t2 * S) * c + o]);
      return acc;
    };
    float v;
    if (part == 0) {
      v = conv_at(p, 0, tx);
      if (p < S) v = __fadd_rn(v, tprev[p * c + o]);
      if (relu) v = v > 0.f ? v : 0.f;
      orow[p * c + o] = v;
    } else if (part == 1) {
      tcur[p * c + o] = __fsub_rn(conv_at(tx * S + p, 0, tx), bo);
    } else {
      if (te == 0) {
        v = conv_at(tx * S + p, 0, tx);
      } else {
        v = conv_at(p, tx, te);
        if (p < S) v = __fadd_rn(v, __fsub_rn(conv_at(tx * S + p, 0, tx), bo));
      }
      if (relu) v = v > 0.f ? v : 0.f;
      orow[(tx * S + p) * c + o] = v;
    }
  }
}

// LSTM states between the slots and the per-layer sequence rows: seq[k][r][pos * C + i].
// gather: hseq[k][r][0] = state[slot][k][0], cseq[k][r][0] = state[slot][k][1];
// scatter: the reverse from position `pos`. state: [slot][L][2][C]. Live rows only.
extern "C" __global__ void demucs_lstm_state_f32(const int* __restrict__ ctl, int rows, int L, int C,
                                                 float* state, float* hseq, float* cseq,
                                                 long long layer_stride, int seq_rs, int pos,
                                                 int scatter) {
  const long long per_row = static_cast<long long>(L) * 2 * C;
  const long long total = static_cast<long long>(rows) * per_row;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long id = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; id < total; id += step) {
    const int r = static_cast<int>(id / per_row);
    if (!dmx_live(ctl, r)) continue;
    const int idx = static_cast<int>(id - r * per_row);
    const int k = idx / (2 * C);
    const int which = (idx / C) & 1;
    const int i = idx % C;
    float* st = state + static_cast<long long>(dmx_slot(ctl, r)) * per_row + idx;
    float* sq = (which ? cseq : hseq) + k * layer_stride + static_cast<long long>(r) * seq_rs +
                static_cast<long long>(pos) * C + i;
    if (scatter) {
      *st = *sq;
    } else {
      *sq = *st;
    }
  }
}

// Skip delay lines (metadata.demucs.skip_delay; the CPU twin: the history in front of each
// level's window in DemucsFamily's Channel::enc). A level's skip reaches the decoder k steps late:
// h[slot][2][H][c] keeps per parity the k steps before the frame's window; full = 1 (the deepest
// level, whose window is a row buffer) keeps the window as well (H = k + len), the other levels
// find their previous window in the encoder buffer (win, mode 2). This hop writes copy frame & 1:
// the history moved on by nn steps (zeros on the first frame; the window part = this frame's
// window), and d[r][0, steps) = (history ++ window)[0, steps), the decoder's delayed skip. Rows
// that run the network only. Each value is a copy (exact).
__device__ __forceinline__ float dmx_skip_at(int t, int k, int nn, int c, int ch, int f, int full,
                                             const float* hp, const float* wp, const float* wc) {
  if (t >= k) return wc[static_cast<long long>(t - k) * c + ch];
  if (f <= 1) return 0.f;
  const int s = t + nn;
  if (full || s < k) return hp[static_cast<long long>(s) * c + ch];
  return wp[static_cast<long long>(s - k) * c + ch];
}

extern "C" __global__ void demucs_skip_delay_f32(const int* __restrict__ ctl, int rows, float* h,
                                                 int h_rs, int h_ps, int k, int nn, int c, int full,
                                                 const float* __restrict__ win, int win_mode,
                                                 int win_rs, int win_ps, float* __restrict__ d,
                                                 int d_rs, int steps) {
  const int H = h_ps / c;
  const long long per = static_cast<long long>(H + steps) * c;
  const long long total = static_cast<long long>(rows) * per;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long id = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; id < total; id += step) {
    const int r = static_cast<int>(id / per);
    if (!dmx_live(ctl, r)) continue;
    const int q = static_cast<int>(id - static_cast<long long>(r) * per);
    const int j = q / c, ch = q - j * c;
    const int f = dmx_frame(ctl, r);
    const float* hp = h + dmx_base(2, h_rs, h_ps, ctl, r);
    const float* wc = win + dmx_base(win_mode, win_rs, win_ps, ctl, r);
    const float* wp = full ? wc : win + dmx_base(2, win_rs, win_ps, ctl, r);
    if (j < H) {
      h[dmx_base(1, h_rs, h_ps, ctl, r) + static_cast<long long>(j) * c + ch] =
          dmx_skip_at(j, k, nn, c, ch, f, full, hp, wp, wc);
    } else {
      const int t = j - H;
      d[static_cast<long long>(r) * d_rs + static_cast<long long>(t) * c + ch] =
          dmx_skip_at(t, k, nn, c, ch, f, full, hp, wp, wc);
    }
  }
}

// The output resampler's history: po[r][0, RB) = rout[slot][prev]; rout[slot][cur] =
// po[r][RB + out_x - RB, RB + out_x) (po[r][RB...] holds the network output). Live rows only.
extern "C" __global__ void demucs_out_history_f32(const int* __restrict__ ctl, int rows, float* po,
                                                  int po_rs, float* rout, int RB, int out_x) {
  const long long total = static_cast<long long>(rows) * RB;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long id = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; id < total; id += step) {
    const int r = static_cast<int>(id / RB);
    if (!dmx_live(ctl, r)) continue;
    const int i = static_cast<int>(id - static_cast<long long>(r) * RB);
    const int f = dmx_frame(ctl, r);
    const long long sb = static_cast<long long>(dmx_slot(ctl, r)) * 2 * RB;
    float* prow = po + static_cast<long long>(r) * po_rs;
    prow[i] = rout[sb + ((f + 1) & 1) * RB + i];
    rout[sb + (f & 1) * RB + i] = prow[RB + out_x - RB + i];
  }
}

// out[r][i] = s * y + (1 - s) * dry, y = d[r][d_off + i] * scale[r] (normalize) or d[...],
// dry = win[slot][hop & 1][i] (the input TL... samples back); 0 for rows still filling the first
// frame; rows past count untouched. D > 0 (a model trained on a target delayed by D samples,
// metadata.demucs.output_delay): the dry signal goes through D more samples of delay, a line
// dl[slot][2][D] holding the dry stream's last D samples (copy frame & 1 written this hop, the
// other read): dry = (line ++ win[..][0, hop))[i], the new line its last D samples.
extern "C" __global__ void demucs_finish_f32(const int* __restrict__ ctl, int rows,
                                             const float* __restrict__ d, int d_rs, int d_off,
                                             const float* __restrict__ scale, int normalize,
                                             const float* __restrict__ win, int W, int hop,
                                             float* __restrict__ out, float* dl, int D) {
  const long long total = static_cast<long long>(rows) * hop;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  const int count = dmx_count(ctl);
  for (long long id = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; id < total; id += step) {
    const int r = static_cast<int>(id / hop);
    if (r >= count) continue;
    const int i = static_cast<int>(id - static_cast<long long>(r) * hop);
    float* o = out + static_cast<long long>(r) * hop + i;
    if (dmx_frame(ctl, r) <= 0) {
      *o = 0.f;
      continue;
    }
    const float s = dmx_strength(ctl, r);
    const float dv = d[static_cast<long long>(r) * d_rs + d_off + i];
    const float y = normalize ? __fmul_rn(dv, scale[r]) : dv;
    const float* cur = win + (static_cast<long long>(dmx_slot(ctl, r)) * 2 + (dmx_hop(ctl, r) & 1)) * W;
    float dry;
    if (D > 0) {
      const int f = dmx_frame(ctl, r);
      const float* prev = dl + (static_cast<long long>(dmx_slot(ctl, r)) * 2 + ((f + 1) & 1)) * D;
      float* next = dl + (static_cast<long long>(dmx_slot(ctl, r)) * 2 + (f & 1)) * D;
      dry = i < D ? prev[i] : cur[i - D];
      for (int k = i; k < D; k += hop) next[k] = hop + k < D ? prev[hop + k] : cur[hop + k - D];
    } else {
      dry = cur[i];
    }
    *o = __fadd_rn(__fmul_rn(s, y), __fmul_rn(__fsub_rn(1.f, s), dry));
  }
}
