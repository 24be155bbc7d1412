// kernels/gru.cu — one batched GRU time step, state updated in place (GPU twin of gru.h).
//
// For each stream b < batch (x rows x_stride floats apart, state rows state_stride apart):
//   z = sigmoid(x·Wz + bz + s·Rz + rbz),  r = sigmoid(x·Wr + br + s·Rr + rbr)
//   reset_after = 0:  c = act(x·Wh + bh + rbh + (r∘s)·Rh)
//   reset_after = 1:  c = act(x·Wh + bh + r∘(s·Rh + rbh))
//   s' = z∘s + (1-z)∘c
// W is [inputs][3u], R is [u][3u] (input-major, gates z|r|h), bias/rbias [3u] or null.
// The state must not overlap x.
//
// Launch (runtime/gpu_ops.cc): gru_step_f32_r<R>, grid.x = ceil(batch / R), block.x a multiple
// of 32, dynamic shared memory (inputs + 5 * units) * R floats. A block owns R streams: it stages
// their x and s in shared memory (column-major tiles), computes all 3u pre-activations with each
// weight read once per block and used R times (phase A: gates z and r complete, the candidate's
// input part, and for reset_after its recurrent part), forms r∘s (reset_after = 0), then the
// candidate and the new state (phase B). Sums start from the biases and run over inputs, then
// state, in order, like GruStep_ref; only FMA rounding differs.
#include "gpu_common.cuh"

template <int R>
__device__ __forceinline__ void gru_rows(const float* __restrict__ w, const float* __restrict__ rw,
                                         const float* __restrict__ bias,
                                         const float* __restrict__ rbias, int inputs, int units,
                                         int act, int math, int reset_after, const float* x,
                                         int x_stride, float* state, int state_stride, int batch) {
  extern __shared__ float smem[];
  float* xs = smem;                 // [inputs][R]
  float* ss = xs + inputs * R;      // [units][R]   state
  float* zs = ss + units * R;       // [units][R]   update gate
  float* rs = zs + units * R;       // [units][R]   reset gate, then r∘s
  float* pre = rs + units * R;      // [units][R]   candidate: biases + input part
  float* rec = pre + units * R;     // [units][R]   reset_after: rbh + s·Rh
  const int b0 = blockIdx.x * R;
  const int n3 = 3 * units;
  gnv_load_tile<R>(xs, x, inputs, x_stride, b0, batch);
  gnv_load_tile<R>(ss, state, units, state_stride, b0, batch);
  __syncthreads();

  for (int c = threadIdx.x; c < n3; c += blockDim.x) {
    const bool gate = c < 2 * units;
    const float bv = bias != nullptr ? bias[c] : 0.f;
    const float rbv = rbias != nullptr ? rbias[c] : 0.f;
    const float init = (gate || !reset_after) ? bv + rbv : bv;
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = init;
#pragma unroll 8
    for (int j = 0; j < inputs; ++j) {
      const float wv = __ldg(w + static_cast<long long>(j) * n3 + c);
      const float* xr = xs + j * R;
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r] = fmaf(wv, xr[r], acc[r]);
    }
    if (gate) {
#pragma unroll 8
      for (int k = 0; k < units; ++k) {
        const float rv = __ldg(rw + static_cast<long long>(k) * n3 + c);
        const float* sr = ss + k * R;
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] = fmaf(rv, sr[r], acc[r]);
      }
      float* dst = c < units ? zs + c * R : rs + (c - units) * R;
#pragma unroll
      for (int r = 0; r < R; ++r) dst[r] = gnv_sigmoid(math, acc[r]);
    } else {
      const int i = c - 2 * units;
#pragma unroll
      for (int r = 0; r < R; ++r) pre[i * R + r] = acc[r];
      if (reset_after) {
        float ra[R];
#pragma unroll
        for (int r = 0; r < R; ++r) ra[r] = rbv;
#pragma unroll 8
        for (int k = 0; k < units; ++k) {
          const float rv = __ldg(rw + static_cast<long long>(k) * n3 + c);
          const float* sr = ss + k * R;
#pragma unroll
          for (int r = 0; r < R; ++r) ra[r] = fmaf(rv, sr[r], ra[r]);
        }
#pragma unroll
        for (int r = 0; r < R; ++r) rec[i * R + r] = ra[r];
      }
    }
  }
  __syncthreads();
  if (!reset_after) {
    for (int idx = threadIdx.x; idx < units * R; idx += blockDim.x) rs[idx] *= ss[idx];
    __syncthreads();
  }
  for (int i = threadIdx.x; i < units; i += blockDim.x) {
    float cand[R];
    if (reset_after) {
#pragma unroll
      for (int r = 0; r < R; ++r) cand[r] = pre[i * R + r] + rs[i * R + r] * rec[i * R + r];
    } else {
#pragma unroll
      for (int r = 0; r < R; ++r) cand[r] = pre[i * R + r];
      const float* rh = rw + 2 * units + i;
#pragma unroll 8
      for (int k = 0; k < units; ++k) {
        const float rv = __ldg(rh + static_cast<long long>(k) * n3);
        const float* sr = rs + k * R;
#pragma unroll
        for (int r = 0; r < R; ++r) cand[r] = fmaf(rv, sr[r], cand[r]);
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int b = b0 + r;
      if (b < batch) {
        const float z = zs[i * R + r];
        const float s = ss[i * R + r];
        const float h = gnv_activate(act, math, cand[r]);
        state[static_cast<long long>(b) * state_stride + i] = z * s + (1.f - z) * h;
      }
    }
  }
}

#define GNV_GRU_KERNEL(R)                                                                       \
  extern "C" __global__ void gru_step_f32_r##R(                                                 \
      const float* __restrict__ w, const float* __restrict__ rw, const float* __restrict__ bias, \
      const float* __restrict__ rbias, int inputs, int units, int act, int math,                 \
      int reset_after, const float* x, int x_stride, float* state, int state_stride,            \
      int batch) {                                                                              \
    gru_rows<R>(w, rw, bias, rbias, inputs, units, act, math, reset_after, x, x_stride, state,  \
                state_stride, batch);                                                           \
  }
GNV_GRU_KERNEL(1)
GNV_GRU_KERNEL(2)
GNV_GRU_KERNEL(4)
GNV_GRU_KERNEL(8)
GNV_GRU_KERNEL(16)

// ---- Small batches: one stream's step spread over many blocks (latency) ----
//
// The row-tiled kernel above runs a batch of 1 on one multiprocessor, which then has to pull all
// the weights from L2 by itself. The split path uses two launches whose blocks each take a few
// columns, with a warp per column and the dot product split across its lanes (shuffle-reduced):
//   gru_gates_split_f32:  grid (ceil(3u / warps), batch), dynamic shared (inputs + units) floats.
//     scratch row b (5u floats) = z | r | candidate input part + biases | reset_after:
//     rbh + s·Rh | the old state.
//   gru_update_split_f32: grid (ceil(u / warps), batch), dynamic shared units floats.
//     Candidate and new state (reset_after = 0 needs r∘s of the old state: every block reads it
//     from the scratch copy, so writing the state in place is safe).
// wt is the column-major copy of the weights: row c (c < 3u) = W[:, c] then R[:, c] (inputs +
// units floats), so a warp reads a column with consecutive addresses. Sums are split 32 ways
// and added pairwise (rounding differs from GruStep_ref, the bound does not).

__device__ __forceinline__ float gnv_warp_sum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

extern "C" __global__ void gru_gates_split_f32(const float* __restrict__ wt,
                                               const float* __restrict__ bias,
                                               const float* __restrict__ rbias, int inputs,
                                               int units, int math, int reset_after,
                                               const float* x, int x_stride, const float* state,
                                               int state_stride, float* __restrict__ scratch,
                                               int batch) {
  extern __shared__ float sh[];  // x row | state row
  const int b = blockIdx.y;
  if (b >= batch) return;
  float* xs = sh;
  float* ss = sh + inputs;
  const float* xr = x + static_cast<long long>(b) * x_stride;
  const float* sr = state + static_cast<long long>(b) * state_stride;
  for (int i = threadIdx.x; i < inputs; i += blockDim.x) xs[i] = xr[i];
  for (int i = threadIdx.x; i < units; i += blockDim.x) ss[i] = sr[i];
  __syncthreads();
  float* scr = scratch + static_cast<long long>(b) * 5 * units;
  if (blockIdx.x == 0) {
    for (int i = threadIdx.x; i < units; i += blockDim.x) scr[4 * units + i] = ss[i];
  }
  const int lane = threadIdx.x & 31;
  const int c = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (c >= 3 * units) return;
  const bool gate = c < 2 * units;
  const float* col = wt + static_cast<long long>(c) * (inputs + units);
  float in = 0.f, rec = 0.f;
#pragma unroll 4
  for (int j = lane; j < inputs; j += 32) in = fmaf(__ldg(col + j), xs[j], in);
  if (gate || reset_after) {
#pragma unroll 4
    for (int k = lane; k < units; k += 32) rec = fmaf(__ldg(col + inputs + k), ss[k], rec);
  }
  in = gnv_warp_sum(in);
  rec = gnv_warp_sum(rec);
  if (lane == 0) {
    const float bv = bias != nullptr ? bias[c] : 0.f;
    const float rbv = rbias != nullptr ? rbias[c] : 0.f;
    if (gate) {
      scr[c] = gnv_sigmoid(math, (bv + rbv) + in + rec);
    } else if (reset_after) {
      scr[c] = bv + in;                // 2u + i
      scr[c + units] = rbv + rec;      // 3u + i
    } else {
      scr[c] = (bv + rbv) + in;
    }
  }
}

extern "C" __global__ void gru_update_split_f32(const float* __restrict__ wt, int inputs,
                                                int units, int act, int math, int reset_after,
                                                const float* __restrict__ scratch, float* state,
                                                int state_stride, int batch) {
  extern __shared__ float rs[];  // r∘s of the old state (reset_after = 0)
  const int b = blockIdx.y;
  if (b >= batch) return;
  const float* scr = scratch + static_cast<long long>(b) * 5 * units;
  if (!reset_after) {
    for (int k = threadIdx.x; k < units; k += blockDim.x) rs[k] = scr[units + k] * scr[4 * units + k];
    __syncthreads();
  }
  const int lane = threadIdx.x & 31;
  const int i = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (i >= units) return;
  float cand;
  if (reset_after) {
    cand = scr[2 * units + i] + scr[units + i] * scr[3 * units + i];
  } else {
    const float* col = wt + static_cast<long long>(2 * units + i) * (inputs + units) + inputs;
    float acc = 0.f;
#pragma unroll 4
    for (int k = lane; k < units; k += 32) acc = fmaf(__ldg(col + k), rs[k], acc);
    cand = scr[2 * units + i] + gnv_warp_sum(acc);
  }
  if (lane == 0) {
    const float z = scr[i];
    const float s = scr[4 * units + i];
    const float h = gnv_activate(act, math, cand);
    state[static_cast<long long>(b) * state_stride + i] = z * s + (1.f - z) * h;
  }
}
