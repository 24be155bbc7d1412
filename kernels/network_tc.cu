// kernels/network_tc.cu — the whole RNNoise network (input_dense, vad_gru, vad_output,
// noise_gru, denoise_gru, denoise_output) for a batch of streams in ONE kernel, on tensor cores:
// fp16 weights and activations, fp32 accumulation (mma.sync m16n8k16; two m16n8k8 on sm_75),
// fp32 biases, activations, gates and recurrent state. GPU twin of models/rnnoise's RunNetwork
// (kernels::Dense / kernels::GruStep in fp32) within the fp16 bound (runtime/sched/network_tc.h).
//
// Launch (runtime/sched/network_tc.cc): rnn_network_f16_t<MT> (GNV_TC_WARPS * 32 threads) or
// rnn_network_f16_g<G>w<W>_t<MT> (G groups of W warps, G * W * 32 threads), dynamic shared
// memory weight_blocks * 256 + G * 16 * MT * row_halves * 2 bytes, grid = at most one block per
// multiprocessor (persistent); or rnn_network_f16_gw<W>_t<MT>_b<B> (weights read from global
// memory: dynamic shared memory 16 * MT * row_halves * 2 bytes, grid = one block per tile, at
// least B blocks per multiprocessor). Each block of the others copies all packed weights to
// shared memory once; then each group loops over its tiles of 16 * MT rows: stages the tile's
// features and the three states as fp16 rows (kernels/network_tc_layout.cuh), runs the six
// layers with the intermediates in shared memory, and writes the new states (in place), the
// dense output and the vad copy when asked, the gains and the vad. Rows >= min(batch, *count)
// (count may be null) are skipped, so one captured graph serves every batch up to `batch`.
//
// Layers: warp w (of its group of W) takes items w, w + W, ... where an item is (16-row m-tile,
// 8-column n-tile); for a GRU an item is (m-tile, 8 units) and the warp accumulates the z, r and
// h columns of those units (the same fragment positions), so the gate math happens in registers.
//   reset_after = 1 (PyTorch): one pass (x·W and s·R in separate accumulators for h), then
//     every warp waits (the old fp16 state is still being read) and writes the new fp16 state.
//   reset_after = 0 (RNNoise/Keras): pass 1 computes z and r∘s (fp16 to the scratch columns),
//     keeping z and the old fp32 state in registers; pass 2 the candidate from x·Wh + (r∘s)·Rh.
// The fp32 state a lane updates is read from and written to global memory by that lane only.
//
// Also: three probe kernels for the benchmark's ceilings (copy bandwidth, fp32 FMA rate,
// mma.sync fp16 rate).
#include "gpu_common.cuh"
#include "network_tc_layout.cuh"

__device__ __forceinline__ unsigned short gnv_tc_half(float x) {
  unsigned short h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
  return h;
}

// fp32-grade operands (the x3 kernels, gpuspec2 2026-11-29): every fp16 operand v is the pair
// hi = fp16(v), lo = fp16((v - hi) * GNV_TC_LO_SCALE) (the weights packed so on the host, the
// activations so as they are stored), and each product is ah*bh + (ah*bl + al*bh) / GNV_TC_LO_SCALE
// (three mma, the two lo products in their own fp32 accumulator; al*bl, ~2^-22 relative, dropped).
#define GNV_TC_LO_SCALE 2048.f
#define GNV_TC_LO_INV (1.f / 2048.f)
// Stores v at act[i] (hi) and, SPLIT, its lo at act[i + lo] (lo: the tile's lo region, halves).
// lo = 0 where hi is not finite (|v| >= 65520 or NaN: the fp16 kernels' inf / NaN, not inf - inf).
template <bool SPLIT>
__device__ __forceinline__ void gnv_tc_put(unsigned short* act, int i, int lo, float v) {
  const unsigned short h = gnv_tc_half(v);
  act[i] = h;
  if (SPLIT) {
    float hf;
    asm("cvt.f32.f16 %0, %1;" : "=f"(hf) : "h"(h));
    const float d = __fsub_rn(v, hf);
    act[i + lo] = gnv_tc_half(fabsf(d) <= 16.f ? __fmul_rn(d, GNV_TC_LO_SCALE) : 0.f);
  }
}

// The activations as calls (not inlined at each of the many call sites): the fully inlined
// kernel was ~300 KB of straight-line code per variant and ran from the instruction cache's
// misses (measured on the H200: ~45 µs per 32-row tile).
__device__ __noinline__ float gnv_tc_act(int act, int math, float x) {
  return gnv_activate(act, math, x);
}
__device__ __noinline__ float gnv_tc_sigmoid(int math, float x) { return gnv_sigmoid(math, x); }

// math = exact: fast sigmoid/tanh (ex2.approx + approximate reciprocal, ~1e-7 absolute error,
// far below the fp16 rounding of the operands), inlined; NaN -> 0 like gpu_common.cuh. The
// accurate tanhf/expf + IEEE division cost ~4x the instructions of the whole GRU epilogue and
// the kernel is issue-bound (H200, 2026-11-28). math = rnnoise_approx keeps RNNoise's table
// (a call).
__device__ __forceinline__ float gnv_tc_fast_sigmoid(float x) {
  if (x != x) return 0.f;
  return __fdividef(1.f, 1.f + __expf(-x));
}
__device__ __forceinline__ float gnv_tc_fast_tanh(float x) {
  if (x != x) return 0.f;
  const float t = 1.f - __fdividef(2.f, __expf(2.f * fabsf(x)) + 1.f);
  return copysignf(t, x);
}
__device__ __forceinline__ float gnv_tc_activation(int act, int math, float x) {
  if (math == GNV_MATH_APPROX) return gnv_tc_act(act, math, x);
  switch (act) {
    case GNV_ACT_TANH:
      return gnv_tc_fast_tanh(x);
    case GNV_ACT_SIGMOID:
      return gnv_tc_fast_sigmoid(x);
    case GNV_ACT_RELU:
      return x > 0.f ? x : 0.f;
    default:
      return x;
  }
}
__device__ __forceinline__ float gnv_tc_gate(int math, float x) {
  return math == GNV_MATH_APPROX ? gnv_tc_sigmoid(math, x) : gnv_tc_fast_sigmoid(x);
}

// Barrier of one warp group: 0 = the whole block (__syncthreads), else the named barrier `id`
// for `threads` threads (the group's). bar.sync orders shared-memory accesses of the
// participating threads like __syncthreads.
__device__ __forceinline__ void gnv_tc_bar(int id, int threads) {
  if (id == 0) {
    __syncthreads();
  } else {
    asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
  }
}

// c += A (16x16, rows of a) * B (16x8, fragment b), fp32 accumulation.
__device__ __forceinline__ void gnv_tc_mma(float* c, const unsigned* a, uint2 b) {
#if __CUDA_ARCH__ >= 800
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b.x), "r"(b.y));
#else
  asm("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, "
      "{%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(b.x));
  asm("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, "
      "{%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[2]), "r"(a[3]), "r"(b.y));
#endif
}

// The A fragment of k-tile k: rows m0 + g and m0 + g + 8, columns col + 16k + 2t (+1, +8, +9).
__device__ __forceinline__ void gnv_tc_load_a(unsigned* a, const unsigned* p0, const unsigned* p1,
                                              int k) {
  a[0] = p0[8 * k];
  a[1] = p1[8 * k];
  a[2] = p0[8 * k + 4];
  a[3] = p1[8 * k + 4];
}

// Up to three accumulators sharing the A operand: acc_i += A[:, col..col+16kt) * B_i.
// SPLIT: A and B_i are hi + lo pairs (gnv_tc_put; the lo activations `lo_a` halves and the lo
// weight fragments `lo_w` uint2 further): the lo products go to their own accumulators, added
// to acc_i (scaled back) at the end.
template <int N, bool SPLIT = false>
__device__ __forceinline__ void gnv_tc_accumulate(float (*acc)[4], const unsigned short* act,
                                                  int row_halves, int m0, int col, int kt,
                                                  const uint2* b0, const uint2* b1,
                                                  const uint2* b2, int lo_a = 0, int lo_w = 0) {
  const int lane = threadIdx.x & 31;
  const unsigned* p0 =
      reinterpret_cast<const unsigned*>(act + (m0 + (lane >> 2)) * row_halves + col) + (lane & 3);
  const unsigned* p1 = p0 + 4 * row_halves;  // 8 rows further (row_halves / 2 words per row)
  float lo[N][4];
  if (SPLIT) {
#pragma unroll
    for (int n = 0; n < N; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) lo[n][e] = 0.f;
  }
  const int lo_aw = lo_a / 2;  // words
#pragma unroll 2
  for (int k = 0; k < kt; ++k) {
    unsigned a[4];
    gnv_tc_load_a(a, p0, p1, k);
    const uint2 w0 = b0[32 * k];
    gnv_tc_mma(acc[0], a, w0);
    if (SPLIT) {
      unsigned al[4];
      gnv_tc_load_a(al, p0 + lo_aw, p1 + lo_aw, k);
      gnv_tc_mma(lo[0], a, b0[32 * k + lo_w]);
      gnv_tc_mma(lo[0], al, w0);
      if (N > 1) {
        const uint2 w1 = b1[32 * k];
        gnv_tc_mma(acc[1], a, w1);
        gnv_tc_mma(lo[1], a, b1[32 * k + lo_w]);
        gnv_tc_mma(lo[1], al, w1);
      }
      if (N > 2) {
        const uint2 w2 = b2[32 * k];
        gnv_tc_mma(acc[2], a, w2);
        gnv_tc_mma(lo[2], a, b2[32 * k + lo_w]);
        gnv_tc_mma(lo[2], al, w2);
      }
    } else {
      if (N > 1) gnv_tc_mma(acc[1], a, b1[32 * k]);
      if (N > 2) gnv_tc_mma(acc[2], a, b2[32 * k]);
    }
  }
  if (SPLIT) {
#pragma unroll
    for (int n = 0; n < N; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[n][e] = __fadd_rn(acc[n][e], __fmul_rn(lo[n][e], GNV_TC_LO_INV));
  }
}

template <int MT, int W, bool SPLIT = false>
__device__ __noinline__ void gnv_tc_dense(const GnvTcLayer L, const uint2* w,
                                             unsigned short* act, int rh,
                                             const float* __restrict__ bias, int math, int r0,
                                             int n, float* out, int out_stride, int warp, int lo_a = 0,
                                             int lo_w = 0) {
  const int lane = threadIdx.x & 31;
  const int nt = L.upad / 8, kt = L.kx / 16, items = MT * nt;
  for (int item = warp; item < items; item += W) {
    const int m0 = (item / nt) * 16, j = item % nt;
    const int c0 = 8 * j + 2 * (lane & 3);
    const float b0 = __ldg(bias + L.bias + c0), b1 = __ldg(bias + L.bias + c0 + 1);
    float acc[1][4] = {{b0, b1, b0, b1}};
    gnv_tc_accumulate<1, SPLIT>(acc, act, rh, m0, L.x_col, kt, w + (L.w_block + j * kt) * 32 + lane,
                                nullptr, nullptr, lo_a, lo_w);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int row = m0 + (lane >> 2) + (e >> 1) * 8, c = c0 + (e & 1);
      if (c >= L.units) continue;
      const float y = gnv_tc_activation(L.act, math, acc[0][e]);
      if (L.s_col >= 0) gnv_tc_put<SPLIT>(act, row * rh + L.s_col + c, lo_a, y);
      if (out != nullptr && r0 + row < n) out[static_cast<long long>(r0 + row) * out_stride + c] = y;
    }
  }
}

// One GRU step for the tile; ends after every warp wrote its part of the new fp16 state (the
// caller synchronises before the next reader). `warp` is the warp's index in its group of W
// warps and `bar` the group's barrier (gnv_tc_bar).
template <int MT, int W, bool SPLIT = false>
__device__ __noinline__ void gnv_tc_gru(const GnvTcLayer L, const uint2* w,
                                           unsigned short* act, int rh, int rs_col,
                                           const float* __restrict__ bias, int math, int r0, int n,
                                           float* state, int state_stride, float* copy,
                                           int copy_stride, int warp, int bar, int lo_a = 0,
                                           int lo_w = 0) {
  const int lane = threadIdx.x & 31;
  const int ug = L.upad / 8, ktx = L.kx / 16, kts = L.ks / 16, items = MT * ug;
  const float* bz = bias + L.bias;
  const float* br = bz + L.upad;
  const float* bh = br + L.upad;
  const float* rbh = bh + L.upad;
  float keep_z[GNV_TC_MAXIT][4], keep_s[GNV_TC_MAXIT][4];
#pragma unroll
  for (int i = 0; i < GNV_TC_MAXIT; ++i) {
    const int item = warp + i * W;
    if (item < items) {
      const int m0 = (item / ug) * 16, j = item % ug;
      const int c0 = 8 * j + 2 * (lane & 3);
      // The old fp32 state of this lane's 4 outputs, loaded first so that the global-memory
      // latency overlaps the matrix products.
      float s_in[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = m0 + (lane >> 2) + (e >> 1) * 8, c = c0 + (e & 1);
        s_in[e] = c < L.units && r0 + row < n
                      ? state[static_cast<long long>(r0 + row) * state_stride + c]
                      : 0.f;
      }
      float acc[4][4];  // z, r, h (x part), h (state part, reset_after)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        acc[0][e] = __ldg(bz + c0 + (e & 1));
        acc[1][e] = __ldg(br + c0 + (e & 1));
        acc[2][e] = __ldg(bh + c0 + (e & 1));
        acc[3][e] = __ldg(rbh + c0 + (e & 1));
      }
      const uint2* wz = w + (L.w_block + j * ktx) * 32 + lane;
      const uint2* wr = w + (L.w_block + (ug + j) * ktx) * 32 + lane;
      const uint2* wh = w + (L.w_block + (2 * ug + j) * ktx) * 32 + lane;
      const uint2* rz = w + (L.r_block + j * kts) * 32 + lane;
      const uint2* rr = w + (L.r_block + (ug + j) * kts) * 32 + lane;
      const uint2* rhh = w + (L.r_block + (2 * ug + j) * kts) * 32 + lane;
      if (L.reset_after) {
        gnv_tc_accumulate<3, SPLIT>(acc, act, rh, m0, L.x_col, ktx, wz, wr, wh, lo_a, lo_w);
        float sacc[3][4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          sacc[0][e] = acc[0][e];
          sacc[1][e] = acc[1][e];
          sacc[2][e] = acc[3][e];
        }
        gnv_tc_accumulate<3, SPLIT>(sacc, act, rh, m0, L.s_col, kts, rz, rr, rhh, lo_a, lo_w);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          acc[0][e] = sacc[0][e];
          acc[1][e] = sacc[1][e];
          acc[3][e] = sacc[2][e];
        }
      } else {
        gnv_tc_accumulate<2, SPLIT>(acc, act, rh, m0, L.x_col, ktx, wz, wr, nullptr, lo_a, lo_w);
        gnv_tc_accumulate<2, SPLIT>(acc, act, rh, m0, L.s_col, kts, rz, rr, nullptr, lo_a, lo_w);
      }
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = m0 + (lane >> 2) + (e >> 1) * 8, c = c0 + (e & 1);
        const bool real = c < L.units;
        const bool ok = real && r0 + row < n;
        const long long at = static_cast<long long>(r0 + row) * state_stride + c;
        const float s = s_in[e];
        const float z = gnv_tc_gate(math, acc[0][e]);
        const float r = gnv_tc_gate(math, acc[1][e]);
        if (L.reset_after) {
          const float h = gnv_tc_activation(L.act, math, acc[2][e] + r * acc[3][e]);
          const float s2 = z * s + (1.f - z) * h;
          keep_s[i][e] = s2;
          if (ok) {
            state[at] = s2;
            if (copy != nullptr) copy[static_cast<long long>(r0 + row) * copy_stride + c] = s2;
          }
        } else {
          keep_z[i][e] = z;
          keep_s[i][e] = s;
          if (real) gnv_tc_put<SPLIT>(act, row * rh + rs_col + c, lo_a, r * s);
        }
      }
    }
  }
  gnv_tc_bar(bar, W * 32);
#pragma unroll
  for (int i = 0; i < GNV_TC_MAXIT; ++i) {
    const int item = warp + i * W;
    if (item < items) {
      const int m0 = (item / ug) * 16, j = item % ug;
      const int c0 = 8 * j + 2 * (lane & 3);
      if (L.reset_after) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int row = m0 + (lane >> 2) + (e >> 1) * 8, c = c0 + (e & 1);
          if (c < L.units) gnv_tc_put<SPLIT>(act, row * rh + L.s_col + c, lo_a, keep_s[i][e]);
        }
      } else {
        float acc[1][4];
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[0][e] = __ldg(bh + c0 + (e & 1));
        gnv_tc_accumulate<1, SPLIT>(acc, act, rh, m0, L.x_col, ktx,
                                    w + (L.w_block + (2 * ug + j) * ktx) * 32 + lane, nullptr, nullptr, lo_a, lo_w);
        gnv_tc_accumulate<1, SPLIT>(acc, act, rh, m0, rs_col, kts,
                                    w + (L.r_block + (2 * ug + j) * kts) * 32 + lane, nullptr, nullptr, lo_a, lo_w);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int row = m0 + (lane >> 2) + (e >> 1) * 8, c = c0 + (e & 1);
          if (c >= L.units) continue;
          const float h = gnv_tc_activation(L.act, math, acc[0][e]);
          const float z = keep_z[i][e];
          const float s2 = z * keep_s[i][e] + (1.f - z) * h;
          gnv_tc_put<SPLIT>(act, row * rh + L.s_col + c, lo_a, s2);
          if (r0 + row < n) {
            state[static_cast<long long>(r0 + row) * state_stride + c] = s2;
            if (copy != nullptr) copy[static_cast<long long>(r0 + row) * copy_stride + c] = s2;
          }
        }
      }
    }
  }
}

// Stages rows [r0, r0 + rows) of the features and the three states (fp32, row-strided in
// global memory) as fp16 columns of the tile; rows past n become 0. The four sources are one
// row of `cols` = features + u1 + u2 + u3 values; warp w takes rows w, w + warps, ... (two at a
// time) and its lanes the columns, 2 * GNV_TC_STAGE loads in flight per lane before any is
// converted and stored.
#define GNV_TC_STAGE 8
template <bool SPLIT = false>
__device__ __noinline__ void gnv_tc_stage(unsigned short* act, const GnvTcNet& net,
                                          const GnvTcIo& io, int rows, int r0, int n, int warp,
                                          int warps, int lo_a = 0) {
  const GnvTcLayer& vg = net.layer[GNV_TC_VAD_GRU];
  const GnvTcLayer& ng = net.layer[GNV_TC_NOISE_GRU];
  const GnvTcLayer& dg = net.layer[GNV_TC_DENOISE_GRU];
  const int e1 = net.features, e2 = e1 + vg.units, e3 = e2 + ng.units, cols = e3 + dg.units;
  const int rh = net.row_halves, lane = threadIdx.x & 31;
  const float* fs = reinterpret_cast<const float*>(io.features);
  const float* v1 = reinterpret_cast<const float*>(io.vad_state);
  const float* v2 = reinterpret_cast<const float*>(io.noise_state);
  const float* v3 = reinterpret_cast<const float*>(io.denoise_state);
  // Two rows per pass (r and r + warps): their 2 * GNV_TC_STAGE loads are in flight together.
  for (int rp = warp; rp < rows; rp += 2 * warps) {
    for (int base = lane; base < cols; base += 32 * GNV_TC_STAGE) {
      float v[2][GNV_TC_STAGE];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = rp + h * warps;
        const bool live = r < rows && r0 + r < n;
        const long long b = r0 + r;
#pragma unroll
        for (int j = 0; j < GNV_TC_STAGE; ++j) {
          const int c = base + 32 * j;
          v[h][j] = 0.f;
          if (live && c < cols) {
            if (c < e1) v[h][j] = fs[b * io.features_stride + c];
            else if (c < e2) v[h][j] = v1[b * io.vad_stride + (c - e1)];
            else if (c < e3) v[h][j] = v2[b * io.noise_stride + (c - e2)];
            else v[h][j] = v3[b * io.denoise_stride + (c - e3)];
          }
        }
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = rp + h * warps;
        if (r >= rows) continue;
        unsigned short* dst_row = act + r * rh;
#pragma unroll
        for (int j = 0; j < GNV_TC_STAGE; ++j) {
          const int c = base + 32 * j;
          if (c < cols) {
            const int col = c < e1 ? net.feat_col + c
                            : c < e2 ? vg.s_col + (c - e1)
                            : c < e3 ? ng.s_col + (c - e2)
                                     : dg.s_col + (c - e3);
            gnv_tc_put<SPLIT>(dst_row, col, lo_a, v[h][j]);
          }
        }
      }
    }
  }
}

// Copies the packed weights (16-byte units) to shared memory: cp.async on sm_80+ (all copies in
// flight at once, completed by gnv_tc_weights_wait), batched loads before.
__device__ __forceinline__ void gnv_tc_weights_start(uint4* dst, const uint4* __restrict__ src, int n) {
#if __CUDA_ARCH__ >= 800
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    unsigned sa;
    asm volatile("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(sa) : "l"(dst + i));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(sa), "l"(src + i) : "memory");
  }
  asm volatile("cp.async.commit_group;" ::: "memory");
#else
  for (int base = threadIdx.x; base < n; base += GNV_TC_STAGE * blockDim.x) {
    uint4 v[GNV_TC_STAGE];
#pragma unroll
    for (int j = 0; j < GNV_TC_STAGE; ++j)
      if (base + j * static_cast<int>(blockDim.x) < n) v[j] = src[base + j * blockDim.x];
#pragma unroll
    for (int j = 0; j < GNV_TC_STAGE; ++j)
      if (base + j * static_cast<int>(blockDim.x) < n) dst[base + j * blockDim.x] = v[j];
  }
#endif
}

__device__ __forceinline__ void gnv_tc_weights_wait() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;" ::: "memory");
#endif
}

// G groups of W warps per block; each group runs its own tiles of 16 * MT rows with its own
// activation buffer and barrier, all groups sharing the block's copy of the weights (G > 1: the
// memory latency of one group's staging and state loads overlaps another group's matrix
// products, like two blocks per multiprocessor without a second copy of the weights).
// Tile t of the batch goes to group t % G of block (t / G) % grid.
// GW (global weights, gpuspec 2026-11-29): the layers read the weight fragments straight from
// global memory (L1/L2: 174 KiB shared by every block) instead of a per-block shared-memory copy,
// so a block needs only its activation tile (~12 KiB) and few registers and shares a
// multiprocessor with other kernels (the chunk pipeline's FFT/postprocess kernels on the other
// streams); one tile per block, grid = tiles.
// SPLIT (the x3 kernels): hi + lo operands (gnv_tc_put): the lo activations follow the G hi
// tiles in shared memory (lo_a halves after each), the lo weight fragments are net.lo_block
// blocks after the hi ones.
template <int MT, int G, int W, bool GW = false, bool SPLIT = false>
__device__ __forceinline__ void gnv_tc_network(const GnvTcNet& net, const GnvTcIo& io,
                                               const uint4* __restrict__ weights,
                                               const float* __restrict__ bias, const int* count,
                                               int batch) {
  extern __shared__ uint4 gnv_tc_smem[];
  const int tm = 16 * MT;
  const int n = count != nullptr ? min(batch, *count) : batch;
  const int tiles = (n + tm - 1) / tm;
  if (static_cast<int>(blockIdx.x) * G >= tiles) return;  // the whole block
  const int group = G == 1 ? 0 : static_cast<int>(threadIdx.x >> 5) / W;
  const int warp = static_cast<int>(threadIdx.x >> 5) - group * W;
  const int bar = G == 1 ? 0 : 1 + group;
  const uint2* w = reinterpret_cast<const uint2*>(GW ? weights : gnv_tc_smem);
  unsigned short* act_all = reinterpret_cast<unsigned short*>(gnv_tc_smem + (GW ? 0 : net.weight_blocks * 16));
  unsigned short* act = act_all + group * tm * net.row_halves;
  if (!GW) gnv_tc_weights_start(gnv_tc_smem, weights, net.weight_blocks * 16);
  unsigned* actw = reinterpret_cast<unsigned*>(act_all);
  const int lo_a = SPLIT ? G * tm * net.row_halves : 0, lo_w = SPLIT ? net.lo_block * 32 : 0;
  for (int i = threadIdx.x; i < (SPLIT ? 2 : 1) * G * tm * net.row_halves / 2; i += blockDim.x) actw[i] = 0u;
  const int rh = net.row_halves, math = net.math;
  const GnvTcLayer& vg = net.layer[GNV_TC_VAD_GRU];
  const GnvTcLayer& ng = net.layer[GNV_TC_NOISE_GRU];
  const GnvTcLayer& dg = net.layer[GNV_TC_DENOISE_GRU];
  float* vs = reinterpret_cast<float*>(io.vad_state);
  float* ns = reinterpret_cast<float*>(io.noise_state);
  float* ds = reinterpret_cast<float*>(io.denoise_state);
  const int first_tile = static_cast<int>(blockIdx.x) * G + group;
  const int stride = static_cast<int>(gridDim.x) * G;
  if (G > 1) {
    // Every group reads weights that other groups' threads copied: the whole block waits once.
    __syncthreads();  // the zeroed activations
    if (first_tile < tiles) gnv_tc_stage<SPLIT>(act, net, io, tm, first_tile * tm, n, warp, W, lo_a);
    if (!GW) gnv_tc_weights_wait();
    __syncthreads();
  }
  bool first = true;
  for (int tile = first_tile; tile < tiles; tile += stride) {
    const int r0 = tile * tm;
    if (G == 1 || !first) {
      gnv_tc_bar(bar, W * 32);  // the previous tile is done with the activations
      gnv_tc_stage<SPLIT>(act, net, io, tm, r0, n, warp, W, lo_a);
      if (G == 1 && first && !GW) gnv_tc_weights_wait();  // this thread's weight copies have landed
    }
    first = false;
    // (The r∘s scratch is not re-zeroed per tile: its columns past a layer's units meet zero
    // weights, and every value ever written there is finite.)
    gnv_tc_bar(bar, W * 32);
    gnv_tc_dense<MT, W, SPLIT>(net.layer[GNV_TC_INPUT_DENSE], w, act, rh, bias, math, r0, n,
                               reinterpret_cast<float*>(io.dense_out), io.dense_stride, warp, lo_a, lo_w);
    gnv_tc_bar(bar, W * 32);
    gnv_tc_gru<MT, W, SPLIT>(vg, w, act, rh, net.rs_col, bias, math, r0, n, vs, io.vad_stride,
                             reinterpret_cast<float*>(io.vad_copy), io.vad_copy_stride, warp, bar, lo_a, lo_w);
    gnv_tc_bar(bar, W * 32);
    gnv_tc_dense<MT, W, SPLIT>(net.layer[GNV_TC_VAD_OUTPUT], w, act, rh, bias, math, r0, n,
                               reinterpret_cast<float*>(io.vad), io.vad_out_stride, warp, lo_a, lo_w);
    gnv_tc_gru<MT, W, SPLIT>(ng, w, act, rh, net.rs_col, bias, math, r0, n, ns, io.noise_stride, nullptr,
                             0, warp, bar, lo_a, lo_w);
    gnv_tc_bar(bar, W * 32);
    gnv_tc_gru<MT, W, SPLIT>(dg, w, act, rh, net.rs_col, bias, math, r0, n, ds, io.denoise_stride,
                             nullptr, 0, warp, bar, lo_a, lo_w);
    gnv_tc_bar(bar, W * 32);
    gnv_tc_dense<MT, W, SPLIT>(net.layer[GNV_TC_DENOISE_OUTPUT], w, act, rh, bias, math, r0, n,
                               reinterpret_cast<float*>(io.gains), io.gains_stride, warp, lo_a, lo_w);
  }
}

// The kernels: rnn_network_f16_t<MT> (one group of GNV_TC_WARPS warps, the original layout) and
// rnn_network_f16_g<G>w<W>_t<MT> (G groups of W warps). The host's table of variants
// (runtime/sched/network_tc.cc, TcVariantAt) must list the same (MT, G, W).
// The two descriptors are __grid_constant__: their fields are read where they are (the
// parameter space) by reference. Passed as plain by-value parameters, the compiler copied both
// (416 bytes) to every thread's local memory, 208 KiB per multiprocessor next to 210 KiB of
// shared memory, so the layer calls read them from L2 (H200, 2026-11-29, with the two-row
// staging: 394 -> 304 us at 64k rows).
#define GNV_TC_NETWORK_KERNEL(NAME, MT, G, W)                                                  \
  extern "C" __global__ void __launch_bounds__(G * W * 32, 1)                                  \
      NAME(const __grid_constant__ GnvTcNet net, const __grid_constant__ GnvTcIo io,           \
           const uint4* __restrict__ weights,                                                  \
           const float* __restrict__ bias, const int* count, int batch) {                      \
    gnv_tc_network<MT, G, W>(net, io, weights, bias, count, batch);                            \
  }
GNV_TC_NETWORK_KERNEL(rnn_network_f16_t1, 1, 1, GNV_TC_WARPS)
GNV_TC_NETWORK_KERNEL(rnn_network_f16_t2, 2, 1, GNV_TC_WARPS)
GNV_TC_NETWORK_KERNEL(rnn_network_f16_g2w8_t1, 1, 2, 8)
// Global-weights variants (GW above): W warps on one tile of 16 * MT rows per block, at least
// MINB blocks per multiprocessor (caps the registers so that the blocks co-reside).
#define GNV_TC_NETWORK_GW_KERNEL(NAME, MT, W, MINB)                                           \
  extern "C" __global__ void __launch_bounds__(W * 32, MINB)                                   \
      NAME(const __grid_constant__ GnvTcNet net, const __grid_constant__ GnvTcIo io,           \
           const uint4* __restrict__ weights,                                                  \
           const float* __restrict__ bias, const int* count, int batch) {                      \
    gnv_tc_network<MT, 1, W, true>(net, io, weights, bias, count, batch);                      \
  }
// (sm_90, default model: gw8 b2 124 registers, no spills; b4 and gw16 b2 64 registers, the GRU
// spills ~0.8 KB.)
GNV_TC_NETWORK_GW_KERNEL(rnn_network_f16_gw8_t1_b2, 1, 8, 2)
GNV_TC_NETWORK_GW_KERNEL(rnn_network_f16_gw8_t1_b4, 1, 8, 4)
GNV_TC_NETWORK_GW_KERNEL(rnn_network_f16_gw16_t2_b2, 2, 16, 2)
// fp32-grade global-weights variants (SPLIT above, gpuspec2 2026-11-29): three mma per product.
#define GNV_TC_NETWORK_X3_KERNEL(NAME, MT, W, MINB)                                           \
  extern "C" __global__ void __launch_bounds__(W * 32, MINB)                                   \
      NAME(const __grid_constant__ GnvTcNet net, const __grid_constant__ GnvTcIo io,           \
           const uint4* __restrict__ weights,                                                  \
           const float* __restrict__ bias, const int* count, int batch) {                      \
    gnv_tc_network<MT, 1, W, true, true>(net, io, weights, bias, count, batch);                \
  }
GNV_TC_NETWORK_X3_KERNEL(rnn_network_f16x3_gw8_t1_b2, 1, 8, 2)
GNV_TC_NETWORK_X3_KERNEL(rnn_network_f16x3_gw8_t1_b4, 1, 8, 4)
GNV_TC_NETWORK_X3_KERNEL(rnn_network_f16x3_gw16_t2_b1, 2, 16, 1)  // half the weight reads per row
// (sm_90, default model: b2 128 registers, the GRU spills 80 bytes; b4 64 registers, ~0.6 KB of
// GRU spills; gw16_t2_b1 128 registers.)

// ---- Ceiling probes (benchmark only) ----
// Copy bandwidth: dst[i] = src[i], n float4s, grid-stride.
extern "C" __global__ void gnv_probe_copy(const float4* __restrict__ src, float4* __restrict__ dst,
                                          long long n) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    dst[i] = src[i];
}

// fp32 FMA rate: 8 independent chains of `iters` FMAs per thread (16 * iters FLOP per thread).
extern "C" __global__ void gnv_probe_fma(float* out, int iters, float seed) {
  float a[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) a[j] = seed + j + threadIdx.x;
  const float m = 0.999999f, c = 1e-7f;
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int j = 0; j < 8; ++j) a[j] = fmaf(a[j], m, c);
  }
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < 8; ++j) s += a[j];
  if (s == 12345.f) out[threadIdx.x] = s;  // keeps the chains alive
}

// mma.sync fp16 rate: 4 independent accumulators per warp, `iters` steps
// (4 * 2 * 16 * 8 * 16 * iters FLOP per warp).
extern "C" __global__ void gnv_probe_mma(float* out, int iters, unsigned seed) {
  unsigned a[4] = {seed, seed ^ 0x3c003c00u, seed + 7u, seed * 3u};
  const uint2 b = make_uint2(seed ^ 0x3c00u, seed + 0x1000u);
  float acc[4][4] = {};
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int j = 0; j < 4; ++j) gnv_tc_mma(acc[j], a, b);
  }
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < 4; ++j) s += acc[j][0] + acc[j][1] + acc[j][2] + acc[j][3];
  if (s == 12345.f) out[threadIdx.x] = s;
}
