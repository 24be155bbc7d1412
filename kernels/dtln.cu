// kernels/dtln.cu — the glue of the DTLN pipeline on the GPU (models/dtln/cuda/dtln_cuda_plan.*):
// framing with per-session state gather, magnitude, mask application, instant layer norm,
// element-wise product, overlap-add with state scatter, and a small-batch LSTM step. The CPU twin
// of every kernel is models/dtln/dtln_family.cc (ProcessHop / Networks::RunStage2) and
// kernels/lstm.h; dtln_cuda_host_test.cc runs this file on host threads against them.
//
// Rows and slots: a hop processes `rows` sessions; row r belongs to session slot ctl_slot(r).
// ctl = [count, 0, slot_0, strength_bits_0, slot_1, strength_bits_1, ...] (int32). Rows at or
// past `count` (graph buckets are larger than the batch) are zero-filled by dtln_frame_f32 and
// skipped by dtln_ola_f32, so the kernels between them compute on zeros.
// Per slot: in_buf[512] (the last 512 input samples), out_buf[512] (overlap-add), state[S]
// (stage 1 then stage 2 LSTM h/c). Per row: frame, spectra, masks..., state rows of S floats.
//
//   dtln_frame_f32:  in_buf[slot] = [in_buf[slot][hop:], pcm[r]]; frame[r] = in_buf[slot];
//                    st_rows[r] = state[slot].             grid: any (blocks loop over rows)
//   dtln_magnitude_f32: mag[r][k] = |X[r][k]|.              grid-stride over rows*bins
//   dtln_apply_mask_f32: X[r][k] *= mask[r][k] * scale.     grid-stride over rows*bins
//   dtln_layer_norm_f32: y = (x - mean) / sqrt(mean((x - mean)^2) + eps) * gamma + beta, per row
//                    (the CPU's two-pass order). block.x a power of two <= 256, blocks loop rows
//   dtln_mul_f32:    out[r][i] = a[r][i] * b[r][i].         grid-stride over rows*n
//   dtln_ola_f32:    out_buf[slot] = [out_buf[slot][hop:], 0] + y[r]; out[r] = s * out_buf[:hop]
//                    + (1 - s) * in_buf[slot][:hop]; state[slot] = st_rows[r]. grid: any
//   dtln_lstm_split_f32: one LSTM step reading h/c from (h_old, c_old) and writing (h_new,
//                    c_new) (distinct buffers, so blocks never race); block b owns kDtlnSplitUnits
//                    units (their 4 gate columns), its threads split the dot products over the
//                    inputs. grid (ceil(units / kDtlnSplitUnits), any), block kDtlnSplitThreads.
#include "gpu_common.cuh"

#define DTLN_FRAME 512
#define DTLN_HOP 128
#define DTLN_SPLIT_UNITS 8
#define DTLN_SPLIT_THREADS 256
#define DTLN_NORM_MAX_THREADS 256

__device__ __forceinline__ int dtln_count(const int* ctl) { return ctl[0]; }
__device__ __forceinline__ int dtln_slot(const int* ctl, int r) { return ctl[2 + 2 * r]; }
__device__ __forceinline__ float dtln_strength(const int* ctl, int r) {
  const float s = __int_as_float(ctl[3 + 2 * r]);
  return fminf(fmaxf(s, 0.f), 1.f);
}

extern "C" __global__ void dtln_frame_f32(const int* __restrict__ ctl, const float* __restrict__ pcm,
                                          float* in_buf, float* __restrict__ frame,
                                          int frame_stride, const float* __restrict__ state,
                                          float* __restrict__ st_rows, int state_stride, int rows) {
  __shared__ float buf[DTLN_FRAME];
  const int count = dtln_count(ctl);
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    float* fr = frame + static_cast<long long>(r) * frame_stride;
    float* sr = st_rows + static_cast<long long>(r) * state_stride;
    if (r >= count) {
      for (int i = threadIdx.x; i < DTLN_FRAME; i += blockDim.x) fr[i] = 0.f;
      for (int i = threadIdx.x; i < state_stride; i += blockDim.x) sr[i] = 0.f;
      continue;  // uniform per block
    }
    const int slot = dtln_slot(ctl, r);
    float* ib = in_buf + static_cast<long long>(slot) * DTLN_FRAME;
    const float* pr = pcm + static_cast<long long>(r) * DTLN_HOP;
    for (int i = threadIdx.x; i < DTLN_FRAME; i += blockDim.x)
      buf[i] = i < DTLN_FRAME - DTLN_HOP ? ib[i + DTLN_HOP] : pr[i - (DTLN_FRAME - DTLN_HOP)];
    const float* ss = state + static_cast<long long>(slot) * state_stride;
    for (int i = threadIdx.x; i < state_stride; i += blockDim.x) sr[i] = ss[i];
    __syncthreads();  // every read of in_buf precedes its update
    for (int i = threadIdx.x; i < DTLN_FRAME; i += blockDim.x) {
      ib[i] = buf[i];
      fr[i] = buf[i];
    }
    __syncthreads();  // buf is reused by the next row
  }
}

extern "C" __global__ void dtln_magnitude_f32(const float* __restrict__ X, int X_stride,
                                              float* __restrict__ mag, int mag_stride, int bins,
                                              int rows) {
  const long long n = static_cast<long long>(rows) * bins;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; t < n; t += step) {
    const long long r = t / bins;
    const int k = static_cast<int>(t - r * bins);
    const float* x = X + r * X_stride + 2 * k;
    mag[r * mag_stride + k] = hypotf(x[0], x[1]);
  }
}

extern "C" __global__ void dtln_apply_mask_f32(float* __restrict__ X, int X_stride,
                                               const float* __restrict__ mask, int mask_stride,
                                               float scale, int bins, int rows) {
  const long long n = static_cast<long long>(rows) * bins;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; t < n; t += step) {
    const long long r = t / bins;
    const int k = static_cast<int>(t - r * bins);
    float* x = X + r * X_stride + 2 * k;
    const float m = mask[r * mask_stride + k];
    // (x m) * 2^-k: the power-of-two scale is exact, so this equals scaling after the iFFT.
    x[0] = __fmul_rn(__fmul_rn(x[0], m), scale);
    x[1] = __fmul_rn(__fmul_rn(x[1], m), scale);
  }
}

// Sum of v over the block (blockDim.x a power of two <= DTLN_NORM_MAX_THREADS); all threads
// get the result.
__device__ __forceinline__ float dtln_block_sum(float* red, float v) {
  red[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) red[threadIdx.x] = red[threadIdx.x] + red[threadIdx.x + s];
    __syncthreads();
  }
  const float total = red[0];
  __syncthreads();
  return total;
}

extern "C" __global__ void dtln_layer_norm_f32(const float* __restrict__ x, int x_stride,
                                               const float* __restrict__ gamma,
                                               const float* __restrict__ beta, float eps,
                                               float* __restrict__ y, int y_stride, int n,
                                               int rows) {
  __shared__ float red[DTLN_NORM_MAX_THREADS];
  const float inv_n = 1.f / static_cast<float>(n);
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + static_cast<long long>(r) * x_stride;
    float* yr = y + static_cast<long long>(r) * y_stride;
    float part = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) part += xr[i];
    const float mean = dtln_block_sum(red, part) * inv_n;
    part = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      const float d = xr[i] - mean;
      part = fmaf(d, d, part);
    }
    const float sd = sqrtf(dtln_block_sum(red, part) * inv_n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) yr[i] = (xr[i] - mean) / sd * gamma[i] + beta[i];
  }
}

extern "C" __global__ void dtln_mul_f32(const float* __restrict__ a, int a_stride,
                                        const float* __restrict__ b, int b_stride,
                                        float* __restrict__ out, int out_stride, int n, int rows) {
  const long long total = static_cast<long long>(rows) * n;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; t < total; t += step) {
    const long long r = t / n;
    const int i = static_cast<int>(t - r * n);
    out[r * out_stride + i] = __fmul_rn(a[r * a_stride + i], b[r * b_stride + i]);
  }
}

extern "C" __global__ void dtln_ola_f32(const int* __restrict__ ctl, const float* __restrict__ y,
                                        int y_stride, float* out_buf, const float* __restrict__ in_buf,
                                        float* __restrict__ out, const float* __restrict__ st_rows,
                                        float* __restrict__ state, int state_stride, int rows) {
  __shared__ float buf[DTLN_FRAME];
  const int count = dtln_count(ctl);
  const int n = rows < count ? rows : count;
  for (int r = blockIdx.x; r < n; r += gridDim.x) {
    const int slot = dtln_slot(ctl, r);
    const float s = dtln_strength(ctl, r);
    float* ob = out_buf + static_cast<long long>(slot) * DTLN_FRAME;
    const float* yr = y + static_cast<long long>(r) * y_stride;
    for (int i = threadIdx.x; i < DTLN_FRAME; i += blockDim.x)
      buf[i] = __fadd_rn(i < DTLN_FRAME - DTLN_HOP ? ob[i + DTLN_HOP] : 0.f, yr[i]);
    const float* sr = st_rows + static_cast<long long>(r) * state_stride;
    float* ss = state + static_cast<long long>(slot) * state_stride;
    for (int i = threadIdx.x; i < state_stride; i += blockDim.x) ss[i] = sr[i];
    __syncthreads();  // every read of out_buf precedes its update
    const float* ib = in_buf + static_cast<long long>(slot) * DTLN_FRAME;
    float* orow = out + static_cast<long long>(r) * DTLN_HOP;
    for (int i = threadIdx.x; i < DTLN_FRAME; i += blockDim.x) {
      ob[i] = buf[i];
      if (i < DTLN_HOP)
        orow[i] = __fadd_rn(__fmul_rn(s, buf[i]), __fmul_rn(__fsub_rn(1.f, s), ib[i]));
    }
    __syncthreads();
  }
}

extern "C" __global__ void dtln_lstm_split_f32(const float* __restrict__ w,
                                               const float* __restrict__ rw,
                                               const float* __restrict__ bias, int inputs,
                                               int units, int math, const float* __restrict__ x,
                                               int x_stride, const float* __restrict__ h_old,
                                               const float* __restrict__ c_old,
                                               float* __restrict__ h_new, float* __restrict__ c_new,
                                               int state_stride, int rows) {
  constexpr int kCols = 4 * DTLN_SPLIT_UNITS;
  constexpr int kSlices = DTLN_SPLIT_THREADS / kCols;
  __shared__ float part[DTLN_SPLIT_THREADS];
  __shared__ float gate[kCols];
  const int n4 = 4 * units;
  const int u0 = blockIdx.x * DTLN_SPLIT_UNITS;
  const int lc = threadIdx.x % kCols;     // local column: gate lc / 8, unit u0 + lc % 8
  const int slice = threadIdx.x / kCols;  // which part of the dot product
  const int unit = u0 + lc % DTLN_SPLIT_UNITS;
  const int col = (lc / DTLN_SPLIT_UNITS) * units + unit;
  const bool live = unit < units && static_cast<int>(threadIdx.x) < kCols * kSlices;
  for (int r = blockIdx.y; r < rows; r += gridDim.y) {
    const float* xr = x + static_cast<long long>(r) * x_stride;
    const float* hr = h_old + static_cast<long long>(r) * state_stride;
    float acc = 0.f;
    if (live) {
      for (int j = slice; j < inputs; j += kSlices)
        acc = fmaf(__ldg(w + static_cast<long long>(j) * n4 + col), xr[j], acc);
      for (int j = slice; j < units; j += kSlices)
        acc = fmaf(__ldg(rw + static_cast<long long>(j) * n4 + col), hr[j], acc);
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    if (static_cast<int>(threadIdx.x) < kCols && live) {
      float z = bias != nullptr ? bias[col] : 0.f;
      for (int s = 0; s < kSlices; ++s) z += part[s * kCols + threadIdx.x];
      const bool cand = lc / DTLN_SPLIT_UNITS == 2;
      gate[lc] = cand ? gnv_tanh(math, z) : gnv_sigmoid(math, z);
    }
    __syncthreads();
    if (static_cast<int>(threadIdx.x) < DTLN_SPLIT_UNITS && u0 + static_cast<int>(threadIdx.x) < units) {
      const int k = threadIdx.x;
      const long long o = static_cast<long long>(r) * state_stride + u0 + k;
      const float gi = gate[k], gf = gate[DTLN_SPLIT_UNITS + k], gg = gate[2 * DTLN_SPLIT_UNITS + k],
                  go = gate[3 * DTLN_SPLIT_UNITS + k];
      const float cn = gf * c_old[o] + gi * gg;
      c_new[o] = cn;
      h_new[o] = go * gnv_tanh(math, cn);
    }
    __syncthreads();
  }
}
