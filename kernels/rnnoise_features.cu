// kernels/rnnoise_features.cu — the RNNoise frontend after the FFTs and the postprocess before
// the inverse FFT, one block per session (GPU twins of models/rnnoise's Frontend::Features and
// the gain stage of ProcessHop, with audio/bands.cc's band sums, DCT, pitch filter and gain
// interpolation). Spectra: RNN_BINS interleaved complex values per row, rows RNN_SPEC_STRIDE
// floats apart, the analysis spectrum X of row b at spec + 2b * RNN_SPEC_STRIDE and the
// pitch-delayed spectrum P right after it. Rows b >= ctl[0] are skipped; ctl[16 + b] is row b's
// slot in the state rows (layout: rnnoise_layout.cuh).
//
//   rnn_features_f32: band energies Ex, Ep, normalised correlation Exp (-> bands), the 42
//     features, the silence gate (bands[RNN_BD_STRIDE - 1] = 1 when silent: features zero,
//     cepstral memory untouched), the cepstral memory update; writes the features into both
//     network rows and gathers the slot's GRU states into them:
//       net_a row = [dense out (u0) | vad state (u1) | features]   (noise GRU input)
//       net_b row = [vad state (u1) | noise state (u2) | features] (denoise GRU input)
//       net_c row = [denoise state (u3)]
//     Launch: grid.x >= 1, block.x = 128.
//   rnn_copy_cols_f32: dst[b][j] = src[b][j], j < cols, b < ctl[0] (the new vad state into
//     net_b). Launch: grid.x * block.x >= rows * cols, any block.
//   rnn_postprocess_f32: for non-silent rows: pitch filter (strength and gain slope from the
//     control block's RNN_CTL_PF_*, rnnoise_layout.cuh; RNNoise's by default), gain smoothing against the slot's
//     last gains, per-bin gains applied to X in place, GRU states scattered back to the slot;
//     info[b] = {vad, silent}. Launch: grid.x >= 1, block.x = 256.
//   rnn_synthesis_f32: y = ifft / 960 * window, overlap-add with the slot's tail, mixed with the
//     slot's previous raw hop by strength; the slot's tail and raw history advance.
//     Launch: grid.x >= 1, block.x = 256.
//   rnn_synthesis_s16: the same with 16-bit PCM rows in and out (in: x / 32768; out: the sample
//     * 32768 rounded to the nearest, ties to even, clamped to [-32768, 32767]).
//   rnn_spec_features_f32 (fused, gpufeat 2026-11-29): both frames' forward FFTs (frames[2b],
//     frames[2b + 1] as written by rnnoise_pitch.cu) in shared memory, then rnn_features_f32's
//     work; X (and P when the pitch filter is on) go to spec for the postprocess.
//     Launch: grid.x >= 1, block.x = 128. rnn_spec_features_f32_o10: the same at 10 blocks per
//     multiprocessor (48 registers; gpuspec 2026-11-29).
//   rnn_post_synthesis_f32 / _s16 (fused): rnn_postprocess_f32 + the inverse FFT + rnn_synthesis
//     in one block per row (the filtered spectrum and y never leave shared memory).
//     Launch: grid.x >= 1, block.x = 128. _o10: at 10 blocks per multiprocessor; _o10p (and
//     rnn_spec_features_f32_o10p): operands of later steps prefetched as each row starts.
//   Both features kernels share rnn_features_tail (features from the band energies).
#include "gpu_common.cuh"
#include "rnnoise_layout.cuh"

// Minimum resident blocks per SM for the row kernels (__launch_bounds__): the host sizes their
// grids at 16 blocks per SM and the blocks stride over the rows, so a grid that is not resident
// at once runs in rounds of whole blocks (features: 36 registers gave 12 of 16 blocks, i.e. two
// rounds, the second a quarter full; postprocess: 38 registers gave 6 of 8, three rounds). At
// the SM's thread limit: 2048 threads on sm_80/90, 1536 on sm_86/89, 1024 on sm_75.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define RNN_ROW_THREADS_PER_SM 1024
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ != 800 && __CUDA_ARCH__ < 900
#define RNN_ROW_THREADS_PER_SM 1536
#else
#define RNN_ROW_THREADS_PER_SM 2048
#endif

// First bin of each band (audio::bands at 48 kHz, 960-point FFT); also rnn_make_bin_table's.
#define RNN_BAND_STARTS 0, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 136, 160, 192, 240, 312, 400
__constant__ int rnn_band_start[RNN_BANDS] = {RNN_BAND_STARTS};
#define RNN_BAND_END 400
// Bands by decreasing band-sum length (bins summed: band 20: 160, 19: 120, 18: 80, 21: 88 ...):
// the features kernel's lane 3j + q sums band rnn_band_order[j] (q: X energy, P energy, X.P),
// so the long sums share warp 0 and the other warps finish after <= 16 steps (a warp runs as
// long as its longest lane).
__constant__ int rnn_band_order[RNN_BANDS] = {20, 19, 21, 18, 17, 16, 15, 14, 13, 12, 11,
                                              10, 9,  8,  7,  6,  5,  4,  3,  2,  1,  0};

__device__ __forceinline__ float rnn_maxf_(float a, float b) { return a < b ? b : a; }  // std::max

struct RnnHopInfo {
  float vad;
  unsigned char silent;
};

// Per-bin band layout, copied once per block into shared memory: bin `start + j` of band b
// (b < 21) has band[bin] = b and frac[bin] = j / size_b (the same division as audio::bands).
struct RnnBinTable {
  float frac[RNN_BAND_END];
  unsigned char band[RNN_BAND_END];
};
static_assert(sizeof(RnnBinTable) % 4 == 0, "RnnBinTable is copied as 32-bit words");

// The table itself, computed by the compiler (constant initialisation: no code runs for it;
// IEEE division of small integers, correctly rounded as __fdiv_rn). Building it in every block
// with a search over the bands cost ~600 warp instructions per row in the batched kernels,
// whose blocks serve only about three rows each (Nsight Compute, H200, 2026-12-01).
__device__ constexpr RnnBinTable rnn_make_bin_table() {
  constexpr int start[RNN_BANDS] = {RNN_BAND_STARTS};  // (rnn_band_start is __constant__: not constexpr)
  RnnBinTable t{};
  for (int band = 0; band < RNN_BANDS - 1; ++band)
    for (int bin = start[band]; bin < start[band + 1]; ++bin) {
      t.band[bin] = static_cast<unsigned char>(band);
      t.frac[bin] = static_cast<float>(bin - start[band]) / static_cast<float>(start[band + 1] - start[band]);
    }
  return t;
}
__device__ const RnnBinTable rnn_bin_table = rnn_make_bin_table();

__device__ __forceinline__ void rnn_fill_bins(RnnBinTable* t) {
  const unsigned* src = reinterpret_cast<const unsigned*>(&rnn_bin_table);
  unsigned* dst = reinterpret_cast<unsigned*>(t);
  for (int i = threadIdx.x; i < static_cast<int>(sizeof(RnnBinTable) / 4); i += blockDim.x) dst[i] = src[i];
}

// Triangular band sum of e(bin) for band `band` (audio::bands' weights: bin start + j of band
// i has weight 1 - j/size to band i and j/size to band i + 1; first and last bands doubled).
template <typename E>
__device__ float rnn_band_sum(int band, const RnnBinTable& t, E e) {
  float sum = 0.f;
  if (band > 0) {
    const int s = rnn_band_start[band - 1], end = rnn_band_start[band];
#pragma unroll 4
    for (int i = s; i < end; ++i) sum = __fadd_rn(sum, __fmul_rn(t.frac[i], e(i)));
  }
  if (band < RNN_BANDS - 1) {
    const int s = rnn_band_start[band], end = rnn_band_start[band + 1];
#pragma unroll 4
    for (int i = s; i < end; ++i) sum = __fadd_rn(sum, __fmul_rn(__fsub_rn(1.f, t.frac[i]), e(i)));
  }
  if (band == 0 || band == RNN_BANDS - 1) sum = __fmul_rn(sum, 2.f);
  return sum;
}

// Per-bin value of 22 band values (audio::bands::InterpolateBandGains); 0 from bin 400 on.
__device__ __forceinline__ float rnn_interp(const float* g, int bin, const RnnBinTable& t) {
  if (bin >= RNN_BAND_END) return 0.f;
  const int band = t.band[bin];
  const float hi = t.frac[bin];
  const float lo = __fsub_rn(1.f, hi);
  return __fadd_rn(__fmul_rn(lo, g[band]), __fmul_rn(hi, g[band + 1]));
}

// DCT-II with orthonormal scaling (audio::bands::BandDct); dct[k * 22 + n] from the host.
__device__ __forceinline__ float rnn_dct(const float* __restrict__ dct, const float* in, int k) {
  float sum = 0.f;
#pragma unroll
  for (int n = 0; n < RNN_BANDS; ++n) sum = __fadd_rn(sum, __fmul_rn(in[n], dct[k * RNN_BANDS + n]));
  return __fmul_rn(sum, sqrtf(2.f / RNN_BANDS));
}

// 4-byte global -> shared copy issued without waiting (cp.async on sm_80+; a plain load and
// store before, and on the host shim); rnn_copy4_wait() completes this thread's copies.
__device__ __forceinline__ void rnn_copy4(void* dst, const void* src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  unsigned sa;
  asm volatile("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(sa) : "l"(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(sa), "l"(src) : "memory");
#else
  *static_cast<unsigned*>(dst) = *static_cast<const unsigned*>(src);
#endif
}
__device__ __forceinline__ void rnn_copy4_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;" ::: "memory");
#endif
}

// Shared memory of rnn_features_tail (one per block).
struct RnnFeatScratch {
  float E[3][RNN_BANDS];  // Ex, Ep, Exp of the row (the caller's band sums)
  float tmp[RNN_BANDS], ly[RNN_BANDS];
  float f[RNN_FEATURES];
  float cm[RNN_CEPS_MEM * RNN_BANDS];  // the cepstral memory, this hop's row included
  float mind[RNN_CEPS_MEM][RNN_CEPS_MEM];
  float minv[RNN_CEPS_MEM];
  int silent, memid;
};

// The slot-state operands of rnn_features_tail loaded as the row starts (the prefetching fused
// kernel), so that their global round trips overlap the FFT: pre = false: the tail loads them
// itself (where they are used).
struct RnnTailPre {
  bool pre = false;
  int memid = 0, period = 0;  // the slot's RNN_ST_MEMID and RNN_ST_PERIOD (thread 0)
  bool gru = false;           // g0 / g1 = GRU state values tid and tid + blockDim.x (u1 + u2 + u3 of them)
  float g0 = 0.f, g1 = 0.f;
};
// (pre: s.cm already holds the slot's cepstral memory, copied with rnn_copy4 and completed.)
__device__ __forceinline__ RnnTailPre rnn_tail_prefetch(RnnFeatScratch& s, const float* __restrict__ st, int ng) {
  RnnTailPre p;
  const int tid = threadIdx.x;
  const int* sti = reinterpret_cast<const int*>(st);
  p.pre = true;
  if (tid == 0) {
    p.memid = sti[RNN_ST_MEMID];
    p.period = sti[RNN_ST_PERIOD];
  }
  p.gru = ng <= 2 * static_cast<int>(blockDim.x);
  if (p.gru) {
    if (tid < ng) p.g0 = st[RNN_ST_GRU + tid];
    if (tid + static_cast<int>(blockDim.x) < ng) p.g1 = st[RNN_ST_GRU + tid + blockDim.x];
  }
  for (int i = tid; i < RNN_CEPS_MEM * RNN_BANDS; i += blockDim.x) rnn_copy4(&s.cm[i], &st[RNN_ST_CEPS + i]);
  return p;
}

// The features of row b from its band energies (both features kernels): Exp normalised, bands
// row (Ex, Ep, Exp, silence flag), the 42 features (log clamps, cepstra, deltas, pitch period,
// spectral variability), the silence gate (silent: features zero, cepstral memory untouched),
// the cepstral memory update, and the network rows (features + the slot's GRU states). Starts
// with s.E filled (after a barrier), ends with a barrier. pre: RnnTailPre.
__device__ __forceinline__ void rnn_features_tail(RnnFeatScratch& s, int b, float* __restrict__ st,
                                                  const float* __restrict__ dct, float* __restrict__ bands,
                                                  float* __restrict__ net_a, int a_stride, float* __restrict__ net_b,
                                                  int b_stride, float* __restrict__ net_c, int c_stride, int u0, int u1,
                                                  int u2, int u3, const RnnTailPre& pre = RnnTailPre()) {
  const int tid = threadIdx.x;
  int* sti = reinterpret_cast<int*>(st);
  if (tid < RNN_BANDS) {
    s.E[2][tid] = __fdiv_rn(s.E[2][tid], __fsqrt_rn(__fadd_rn(.001f, __fmul_rn(s.E[0][tid], s.E[1][tid]))));
    s.ly[tid] = log10f(__fadd_rn(1e-2f, s.E[0][tid]));  // the logs in parallel; the clamps below are serial
  }
  __syncthreads();
  float* bd = bands + static_cast<long long>(b) * RNN_BD_STRIDE;
  if (tid < 3 * RNN_BANDS) bd[tid] = s.E[tid / RNN_BANDS][tid % RNN_BANDS];
  if (tid < RNN_DELTA_CEPS) s.tmp[tid] = rnn_dct(dct, s.E[2], tid);
  if (tid == 0) {
    float log_max = -2.f, follow = -2.f, e = 0.f;
    for (int i = 0; i < RNN_BANDS; ++i) {
      float l = s.ly[i];
      l = static_cast<float>(fmax(static_cast<double>(__fsub_rn(log_max, 7.f)),
                                  fmax(static_cast<double>(follow) - 1.5, static_cast<double>(l))));
      s.ly[i] = l;
      log_max = rnn_maxf_(log_max, l);
      follow = static_cast<float>(fmax(static_cast<double>(follow) - 1.5, static_cast<double>(l)));
      e = __fadd_rn(e, s.E[0][i]);
    }
    s.silent = e < 0.04f ? 1 : 0;
    s.memid = pre.pre ? pre.memid : sti[RNN_ST_MEMID];
  }
  __syncthreads();
  const int silent = s.silent, memid = s.memid;
  if (tid == 0) bd[RNN_BD_STRIDE - 1] = silent ? 1.f : 0.f;
  if (silent) {
    if (tid < RNN_FEATURES) s.f[tid] = 0.f;
  } else {
    // The cepstral memory, this hop's row included (computed here, written to the slot too).
    if (!pre.pre)
      for (int i = tid; i < RNN_CEPS_MEM * RNN_BANDS; i += blockDim.x)
        if (i / RNN_BANDS != memid) s.cm[i] = st[RNN_ST_CEPS + i];
    if (tid < RNN_BANDS) {
      float v = rnn_dct(dct, s.ly, tid);
      if (tid == 0) v = __fsub_rn(v, 12.f);
      if (tid == 1) v = __fsub_rn(v, 4.f);
      s.f[tid] = v;
      s.cm[memid * RNN_BANDS + tid] = v;
      st[RNN_ST_CEPS + memid * RNN_BANDS + tid] = v;
    }
    if (tid < RNN_DELTA_CEPS) {
      float v = s.tmp[tid];
      if (tid == 0) v = static_cast<float>(static_cast<double>(v) - 1.3);
      if (tid == 1) v = static_cast<float>(static_cast<double>(v) - 0.9);
      s.f[RNN_BANDS + 2 * RNN_DELTA_CEPS + tid] = v;
    }
    if (tid == 0) {
      const int period = pre.pre ? pre.period : sti[RNN_ST_PERIOD];
      s.f[RNN_BANDS + 3 * RNN_DELTA_CEPS] = static_cast<float>(.01 * (period - 300));
      sti[RNN_ST_MEMID] = (memid + 1) % RNN_CEPS_MEM;
    }
  }
  __syncthreads();
  if (!silent) {
    const float* c0 = s.cm + memid * RNN_BANDS;
    const float* c1 = s.cm + ((memid + RNN_CEPS_MEM - 1) % RNN_CEPS_MEM) * RNN_BANDS;
    const float* c2 = s.cm + ((memid + RNN_CEPS_MEM - 2) % RNN_CEPS_MEM) * RNN_BANDS;
    if (tid < RNN_DELTA_CEPS) {
      s.f[tid] = __fadd_rn(__fadd_rn(c0[tid], c1[tid]), c2[tid]);
      s.f[RNN_BANDS + tid] = __fsub_rn(c0[tid], c2[tid]);
      s.f[RNN_BANDS + RNN_DELTA_CEPS + tid] = __fadd_rn(__fsub_rn(c0[tid], __fmul_rn(2.f, c1[tid])), c2[tid]);
    }
    if (tid < RNN_CEPS_MEM * RNN_CEPS_MEM) {
      const int i = tid / RNN_CEPS_MEM, j = tid % RNN_CEPS_MEM;
      float dist = 0.f;
      if (i != j) {
        for (int k = 0; k < RNN_BANDS; ++k) {
          const float d = __fsub_rn(s.cm[i * RNN_BANDS + k], s.cm[j * RNN_BANDS + k]);
          dist = __fadd_rn(dist, __fmul_rn(d, d));
        }
      }
      s.mind[i][j] = dist;
    }
    __syncthreads();
    if (tid < RNN_CEPS_MEM) {
      float mindist = 1e15f;
      for (int j = 0; j < RNN_CEPS_MEM; ++j)
        if (j != tid) mindist = fminf(mindist, s.mind[tid][j]);
      s.minv[tid] = mindist;
    }
    __syncthreads();
    if (tid == 0) {
      float variability = 0.f;
      for (int i = 0; i < RNN_CEPS_MEM; ++i) variability = __fadd_rn(variability, s.minv[i]);
      s.f[RNN_BANDS + 3 * RNN_DELTA_CEPS + 1] =
          static_cast<float>(static_cast<double>(variability / RNN_CEPS_MEM) - 2.1);
    }
  }
  __syncthreads();
  float* ra = net_a + static_cast<long long>(b) * a_stride;
  float* rb = net_b + static_cast<long long>(b) * b_stride;
  float* rc = net_c + static_cast<long long>(b) * c_stride;
  for (int i = tid; i < RNN_FEATURES; i += blockDim.x) {
    ra[u0 + u1 + i] = s.f[i];
    rb[u1 + u2 + i] = s.f[i];
  }
  if (pre.gru) {  // GRU state j of [u1 | u2 | u3] -> ra[u0 + j] | rb[j] | rc[j - u1 - u2]
    for (int k = 0; k < 2; ++k) {
      const int j = tid + k * static_cast<int>(blockDim.x);
      const float v = k == 0 ? pre.g0 : pre.g1;
      if (j < u1) ra[u0 + j] = v;
      else if (j < u1 + u2) rb[j] = v;
      else if (j < u1 + u2 + u3) rc[j - u1 - u2] = v;
    }
  } else {
    const float* gs = st + RNN_ST_GRU;
    for (int i = tid; i < u1; i += blockDim.x) ra[u0 + i] = gs[i];
    for (int i = tid; i < u2; i += blockDim.x) rb[u1 + i] = gs[u1 + i];
    for (int i = tid; i < u3; i += blockDim.x) rc[i] = gs[u1 + u2 + i];
  }
  __syncthreads();
}

extern "C" __global__ void __launch_bounds__(128, RNN_ROW_THREADS_PER_SM / 128)
rnn_features_f32(const float* __restrict__ spec, const int* __restrict__ ctl,
                 float* __restrict__ state, int state_stride, const float* __restrict__ dct,
                 float* __restrict__ bands, float* __restrict__ net_a, int a_stride,
                 float* __restrict__ net_b, int b_stride, float* __restrict__ net_c,
                 int c_stride, int u0, int u1, int u2, int u3) {
  __shared__ RnnFeatScratch fs;
  float (&E)[3][RNN_BANDS] = fs.E;
  __shared__ RnnBinTable bins;
  __shared__ float2 Xs[RNN_BAND_END], Ps[RNN_BAND_END];  // the bins the band sums read
  const int count = ctl[0];
  const int tid = threadIdx.x;
  rnn_fill_bins(&bins);
  __syncthreads();
  for (int b = blockIdx.x; b < count; b += gridDim.x) {
    const int slot = ctl[16 + b];
    float* st = state + static_cast<long long>(slot) * state_stride;
    const float2* X = reinterpret_cast<const float2*>(spec + static_cast<long long>(2 * b) * RNN_SPEC_STRIDE);
    const float2* P = reinterpret_cast<const float2*>(spec + static_cast<long long>(2 * b + 1) * RNN_SPEC_STRIDE);
    // The band sums are serial loops per band: staged in shared memory, coalesced, their loads
    // cost shared-memory latency instead of a global round trip per group of bins.
    for (int i = tid; i < RNN_BAND_END; i += blockDim.x) {
      Xs[i] = X[i];
      Ps[i] = P[i];
    }
    __syncthreads();
    if (tid < 3 * RNN_BANDS) {
      // q = 0: |X|^2, 1: |P|^2, 2: Re(X conj P), all as a.x b.x + a.y b.y (one code path for
      // the whole warp; divergent lambdas ran one after the other).
      const int q = tid % 3, band = rnn_band_order[tid / 3];
      const float2* A = q == 1 ? Ps : Xs;
      const float2* B = q == 0 ? Xs : Ps;
      E[q][band] = rnn_band_sum(band, bins, [&](int i) {
        const float2 z = A[i], p = B[i];
        return __fadd_rn(__fmul_rn(z.x, p.x), __fmul_rn(z.y, p.y));
      });
    }
    __syncthreads();
    rnn_features_tail(fs, b, st, dct, bands, net_a, a_stride, net_b, b_stride, net_c, c_stride, u0, u1, u2, u3);
  }
}

extern "C" __global__ void rnn_copy_cols_f32(const float* __restrict__ src, int src_stride,
                                             float* __restrict__ dst, int dst_stride, int cols,
                                             const int* __restrict__ ctl) {
  const long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (cols <= 0) return;
  const long long b = t / cols;
  if (b >= ctl[0]) return;
  const int j = static_cast<int>(t - b * cols);
  dst[b * dst_stride + j] = src[b * src_stride + j];
}

extern "C" __global__ void __launch_bounds__(256, RNN_ROW_THREADS_PER_SM / 256)
rnn_postprocess_f32(float* __restrict__ spec, const int* __restrict__ ctl,
                    float* __restrict__ state, int state_stride,
                    const float* __restrict__ bands, const float* __restrict__ gains,
                    const float* __restrict__ vad, const float* __restrict__ net_a, int a_stride,
                    const float* __restrict__ net_b, int b_stride, const float* __restrict__ net_c,
                    int c_stride, int u0, int u1, int u2, int u3, RnnHopInfo* __restrict__ info) {
  __shared__ float g[RNN_BANDS], r[RNN_BANDS], norm[RNN_BANDS];
  __shared__ float Ex[RNN_BANDS], Ep[RNN_BANDS], Exp[RNN_BANDS];
  __shared__ RnnBinTable bins;
  __shared__ float2 Xs[RNN_BAND_END];  // the pitch-filtered bins the norm band sums read
  const int count = ctl[0];
  const int tid = threadIdx.x;
  // The model's pitch filter switches (RNN_CTL_PF_*; defaults: strength 1, no gain slope).
  const bool pf_custom = (ctl[RNN_CTL_FLAGS] & RNN_CTL_PF_CUSTOM) != 0;
  const float pf_strength = pf_custom ? reinterpret_cast<const float*>(ctl)[RNN_CTL_PF_STRENGTH] : 1.f;
  const float pf_slope = pf_custom ? reinterpret_cast<const float*>(ctl)[RNN_CTL_PF_SLOPE] : 0.f;
  const bool pf_on = pf_strength > 0.f;  // (off: no mixing and no renormalisation, as the CPU)
  rnn_fill_bins(&bins);
  __syncthreads();
  for (int b = blockIdx.x; b < count; b += gridDim.x) {
    const float* bd = bands + static_cast<long long>(b) * RNN_BD_STRIDE;
    const bool silent = bd[RNN_BD_STRIDE - 1] != 0.f;
    if (silent) {
      if (tid == 0) {
        info[b].vad = 0.f;
        info[b].silent = 1;
      }
      float2* Xz = reinterpret_cast<float2*>(spec + static_cast<long long>(2 * b) * RNN_SPEC_STRIDE);
      for (int i = tid; i < ctl[RNN_CTL_LOW_CUT] && i < RNN_BINS; i += blockDim.x) Xz[i] = make_float2(0.f, 0.f);
      continue;  // uniform across the block
    }
    const int slot = ctl[16 + b];
    float* st = state + static_cast<long long>(slot) * state_stride;
    float2* X = reinterpret_cast<float2*>(spec + static_cast<long long>(2 * b) * RNN_SPEC_STRIDE);
    const float2* P = reinterpret_cast<const float2*>(spec + static_cast<long long>(2 * b + 1) * RNN_SPEC_STRIDE);
    if (tid < RNN_BANDS) {
      Ex[tid] = bd[RNN_BD_EX + tid];
      Ep[tid] = bd[RNN_BD_EP + tid];
      Exp[tid] = bd[RNN_BD_EXP + tid];
      const float gi = gains[static_cast<long long>(b) * RNN_BANDS + tid];
      g[tid] = gi;
      const float e = Exp[tid];
      float ri;
      if (e > gi) {
        ri = 1.f;
      } else {
        const float e2 = __fmul_rn(e, e), g2 = __fmul_rn(gi, gi);
        ri = static_cast<float>(static_cast<double>(__fmul_rn(e2, __fsub_rn(1.f, g2))) /
                                (.001 + static_cast<double>(__fmul_rn(g2, __fsub_rn(1.f, e2)))));
      }
      ri = __fsqrt_rn(fminf(fmaxf(ri, 0.f), 1.f));
      ri = __fmul_rn(ri, __fsqrt_rn(static_cast<float>(static_cast<double>(Ex[tid]) / (1e-8 + static_cast<double>(Ep[tid])))));
      if (pf_strength != 1.f) ri = __fmul_rn(ri, pf_strength);
      if (pf_slope > 0.f) {  // std::min(1.f, slope * (1 - g))
        const float q = __fmul_rn(pf_slope, __fsub_rn(1.f, gi));
        ri = __fmul_rn(ri, q < 1.f ? q : 1.f);
      }
      r[tid] = ri;
    }
    __syncthreads();
    for (int i = tid; pf_on && i < RNN_BINS; i += blockDim.x) {
      const float rf = rnn_interp(r, i, bins);
      float2 z = X[i];
      const float2 p = P[i];
      z.x = __fadd_rn(z.x, __fmul_rn(rf, p.x));
      z.y = __fadd_rn(z.y, __fmul_rn(rf, p.y));
      X[i] = z;
      if (i < RNN_BAND_END) Xs[i] = z;
    }
    __syncthreads();
    if (tid < RNN_BANDS && pf_on) {
      const float ne = rnn_band_sum(tid, bins, [&](int i) { const float2 z = Xs[i]; return __fadd_rn(__fmul_rn(z.x, z.x), __fmul_rn(z.y, z.y)); });
      norm[tid] = __fsqrt_rn(static_cast<float>(static_cast<double>(Ex[tid]) / (1e-8 + static_cast<double>(ne))));
    }
    if (tid < RNN_BANDS) {
      float* lastg = st + RNN_ST_LASTG;
      const float gs = rnn_maxf_(g[tid], __fmul_rn(.6f, lastg[tid]));
      g[tid] = gs;
      lastg[tid] = gs;
    }
    __syncthreads();
    for (int i = tid; i < RNN_BINS; i += blockDim.x) {
      const float gf = rnn_interp(g, i, bins);
      float2 z = X[i];
      if (pf_on) {
        const float nf = rnn_interp(norm, i, bins);
        z.x = __fmul_rn(__fmul_rn(z.x, nf), gf);
        z.y = __fmul_rn(__fmul_rn(z.y, nf), gf);
      } else {
        z.x = __fmul_rn(z.x, gf);
        z.y = __fmul_rn(z.y, gf);
      }
      if (i < ctl[RNN_CTL_LOW_CUT]) z = make_float2(0.f, 0.f);  // metadata.rnnoise.low_cut_hz
      X[i] = z;
    }
    float* gsd = st + RNN_ST_GRU;
    const float* ra = net_a + static_cast<long long>(b) * a_stride;
    const float* rb = net_b + static_cast<long long>(b) * b_stride;
    const float* rc = net_c + static_cast<long long>(b) * c_stride;
    for (int i = tid; i < u1; i += blockDim.x) gsd[i] = ra[u0 + i];
    for (int i = tid; i < u2; i += blockDim.x) gsd[u1 + i] = rb[u1 + i];
    for (int i = tid; i < u3; i += blockDim.x) gsd[u1 + u2 + i] = rc[i];
    if (tid == 0) {
      info[b].vad = vad[b];
      info[b].silent = 0;
    }
    __syncthreads();
  }
}

__device__ __forceinline__ float rnn_pcm_in_(float v) { return v; }
__device__ __forceinline__ float rnn_pcm_in_(short v) { return __fmul_rn(static_cast<float>(v), 1.f / 32768.f); }
__device__ __forceinline__ void rnn_pcm_out(float* o, float v) { *o = v; }
// 16-bit output: round(v * 32768) to the nearest (ties to even), clamped to the int16 range.
__device__ __forceinline__ void rnn_pcm_out(short* o, float v) {
  const int q = __float2int_rn(__fmul_rn(v, 32768.f));
  *o = static_cast<short>(q < -32768 ? -32768 : (q > 32767 ? 32767 : q));
}

template <typename T>
__device__ __forceinline__ void rnn_synthesis(const float* __restrict__ y, int y_stride, const T* __restrict__ in,
                                              int in_stride, const int* __restrict__ ctl,
                                              const float* __restrict__ strengths, float* __restrict__ state,
                                              int state_stride, const float* __restrict__ window,
                                              T* __restrict__ out, int out_stride) {
  const int count = ctl[0];
  for (int b = blockIdx.x; b < count; b += gridDim.x) {
    const int slot = ctl[16 + b];
    float* st = state + static_cast<long long>(slot) * state_stride;
    const float* yr = y + static_cast<long long>(b) * y_stride;
    const T* inr = in + static_cast<long long>(b) * in_stride;
    T* outr = out + static_cast<long long>(b) * out_stride;
    float s = strengths[b];
    s = s < 0.f ? 0.f : (1.f < s ? 1.f : s);
    const float dry = __fsub_rn(1.f, s);
    for (int i = threadIdx.x; i < RNN_HOP; i += blockDim.x) {
      const float y0 = __fmul_rn(__fdiv_rn(yr[i], static_cast<float>(RNN_WINDOW)), window[i]);
      const float y1 = __fmul_rn(__fdiv_rn(yr[RNN_HOP + i], static_cast<float>(RNN_WINDOW)), window[RNN_HOP + i]);
      const float wet = __fadd_rn(y0, st[RNN_ST_SYNTH + i]);
      rnn_pcm_out(&outr[i], __fadd_rn(__fmul_rn(wet, s), __fmul_rn(st[RNN_ST_HISTORY + i], dry)));
      st[RNN_ST_SYNTH + i] = y1;
      st[RNN_ST_HISTORY + i] = rnn_pcm_in_(inr[i]);
    }
  }
}

extern "C" __global__ void __launch_bounds__(256)
rnn_synthesis_f32(const float* __restrict__ y, int y_stride, const float* __restrict__ in,
                  int in_stride, const int* __restrict__ ctl, const float* __restrict__ strengths,
                  float* __restrict__ state, int state_stride, const float* __restrict__ window,
                  float* __restrict__ out, int out_stride) {
  rnn_synthesis(y, y_stride, in, in_stride, ctl, strengths, state, state_stride, window, out, out_stride);
}

extern "C" __global__ void __launch_bounds__(256)
rnn_synthesis_s16(const float* __restrict__ y, int y_stride, const short* __restrict__ in,
                  int in_stride, const int* __restrict__ ctl, const float* __restrict__ strengths,
                  float* __restrict__ state, int state_stride, const float* __restrict__ window,
                  short* __restrict__ out, int out_stride) {
  rnn_synthesis(y, y_stride, in, in_stride, ctl, strengths, state, state_stride, window, out, out_stride);
}

// ---- Fused kernels (gpufeat, 2026-11-29): the forward FFTs + features, and the postprocess +
// inverse FFT + synthesis, one block per row with the spectra in shared memory. Same operations
// as the kernels above for everything after the FFTs, except the band sums, which add 4-bin
// partial sums per band segment (not one serial loop per band), and the FFTs: the two real
// frames of a row are one 960-point complex FFT (z = x + i p, X and P untangled from Z[k] and
// Z[960 - k]), the inverse a 480-point complex FFT of the packed spectrum as in kernels/fft.cu;
// both mixed-radix Stockham (8 x 12 x 10 and 8 x 6 x 10) with each stage's small DFT in
// registers (pairs r, R - r share their products; the DFT's roots are constant-bank operands)
// and shared buffers padded one float2 in 8 (no 16-way bank conflicts in the radix-8 stores).
// Twiddles tw[t] = exp(-2 pi i t / 960), t < 960 (kernels/fft.cu's table for n = 960).

#define RNN_FFT_PAD(i) ((i) + ((i) >> 3))
#define RNN_FFT_BUF RNN_FFT_PAD(RNN_WINDOW)  // 1080 float2
#define RNN_BAND_CHUNKS (RNN_BAND_END / 4)   // 100 chunks of 4 bins; every band start is a multiple of 4

// (cos, sin)(2 pi t / 120): the roots of the 4-, 6-, 8-, 10-, 12- and 15-point DFTs.
__constant__ float2 rnn_cs120[120] = {
    {1.0f, 0.0f}, {0.998629535f, 0.0523359562f}, {0.994521895f, 0.104528463f},
    {0.987688341f, 0.156434465f}, {0.978147601f, 0.207911691f}, {0.965925826f, 0.258819045f},
    {0.951056516f, 0.309016994f}, {0.933580426f, 0.35836795f}, {0.913545458f, 0.406736643f},
    {0.891006524f, 0.4539905f}, {0.866025404f, 0.5f}, {0.838670568f, 0.544639035f},
    {0.809016994f, 0.587785252f}, {0.777145961f, 0.629320391f}, {0.743144825f, 0.669130606f},
    {0.707106781f, 0.707106781f}, {0.669130606f, 0.743144825f}, {0.629320391f, 0.777145961f},
    {0.587785252f, 0.809016994f}, {0.544639035f, 0.838670568f}, {0.5f, 0.866025404f},
    {0.4539905f, 0.891006524f}, {0.406736643f, 0.913545458f}, {0.35836795f, 0.933580426f},
    {0.309016994f, 0.951056516f}, {0.258819045f, 0.965925826f}, {0.207911691f, 0.978147601f},
    {0.156434465f, 0.987688341f}, {0.104528463f, 0.994521895f}, {0.0523359562f, 0.998629535f},
    {0.0f, 1.0f}, {-0.0523359562f, 0.998629535f}, {-0.104528463f, 0.994521895f},
    {-0.156434465f, 0.987688341f}, {-0.207911691f, 0.978147601f}, {-0.258819045f, 0.965925826f},
    {-0.309016994f, 0.951056516f}, {-0.35836795f, 0.933580426f}, {-0.406736643f, 0.913545458f},
    {-0.4539905f, 0.891006524f}, {-0.5f, 0.866025404f}, {-0.544639035f, 0.838670568f},
    {-0.587785252f, 0.809016994f}, {-0.629320391f, 0.777145961f}, {-0.669130606f, 0.743144825f},
    {-0.707106781f, 0.707106781f}, {-0.743144825f, 0.669130606f}, {-0.777145961f, 0.629320391f},
    {-0.809016994f, 0.587785252f}, {-0.838670568f, 0.544639035f}, {-0.866025404f, 0.5f},
    {-0.891006524f, 0.4539905f}, {-0.913545458f, 0.406736643f}, {-0.933580426f, 0.35836795f},
    {-0.951056516f, 0.309016994f}, {-0.965925826f, 0.258819045f}, {-0.978147601f, 0.207911691f},
    {-0.987688341f, 0.156434465f}, {-0.994521895f, 0.104528463f}, {-0.998629535f, 0.0523359562f},
    {-1.0f, 0.0f}, {-0.998629535f, -0.0523359562f}, {-0.994521895f, -0.104528463f},
    {-0.987688341f, -0.156434465f}, {-0.978147601f, -0.207911691f}, {-0.965925826f, -0.258819045f},
    {-0.951056516f, -0.309016994f}, {-0.933580426f, -0.35836795f}, {-0.913545458f, -0.406736643f},
    {-0.891006524f, -0.4539905f}, {-0.866025404f, -0.5f}, {-0.838670568f, -0.544639035f},
    {-0.809016994f, -0.587785252f}, {-0.777145961f, -0.629320391f}, {-0.743144825f, -0.669130606f},
    {-0.707106781f, -0.707106781f}, {-0.669130606f, -0.743144825f}, {-0.629320391f, -0.777145961f},
    {-0.587785252f, -0.809016994f}, {-0.544639035f, -0.838670568f}, {-0.5f, -0.866025404f},
    {-0.4539905f, -0.891006524f}, {-0.406736643f, -0.913545458f}, {-0.35836795f, -0.933580426f},
    {-0.309016994f, -0.951056516f}, {-0.258819045f, -0.965925826f}, {-0.207911691f, -0.978147601f},
    {-0.156434465f, -0.987688341f}, {-0.104528463f, -0.994521895f}, {-0.0523359562f, -0.998629535f},
    {0.0f, -1.0f}, {0.0523359562f, -0.998629535f}, {0.104528463f, -0.994521895f},
    {0.156434465f, -0.987688341f}, {0.207911691f, -0.978147601f}, {0.258819045f, -0.965925826f},
    {0.309016994f, -0.951056516f}, {0.35836795f, -0.933580426f}, {0.406736643f, -0.913545458f},
    {0.4539905f, -0.891006524f}, {0.5f, -0.866025404f}, {0.544639035f, -0.838670568f},
    {0.587785252f, -0.809016994f}, {0.629320391f, -0.777145961f}, {0.669130606f, -0.743144825f},
    {0.707106781f, -0.707106781f}, {0.743144825f, -0.669130606f}, {0.777145961f, -0.629320391f},
    {0.809016994f, -0.587785252f}, {0.838670568f, -0.544639035f}, {0.866025404f, -0.5f},
    {0.891006524f, -0.4539905f}, {0.913545458f, -0.406736643f}, {0.933580426f, -0.35836795f},
    {0.951056516f, -0.309016994f}, {0.965925826f, -0.258819045f}, {0.978147601f, -0.207911691f},
    {0.987688341f, -0.156434465f}, {0.994521895f, -0.104528463f}, {0.998629535f, -0.0523359562f},
};

__device__ __forceinline__ float2 rnn_cmul_(float2 a, float2 b) {
  return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

// Forward R-point DFT of v (destroyed), outputs handed to st(q, value) (R divides 120).
// For q and R - q: A = v0 + sum_r (v_r + v_{R-r}) cos(2 pi r q / R) [+ (-1)^q v_{R/2}],
// B = -i sum_r (v_r - v_{R-r}) sin(2 pi r q / R); X[q] = A + B, X[R - q] = A - B.
template <int R, class St>
__device__ __forceinline__ void rnn_dft(float2 (&v)[R], St st) {
  constexpr int H = R % 2 != 0 ? (R - 1) / 2 : R / 2 - 1;
  constexpr int M = R / 2;  // the middle term (even R only)
  float2 sum = v[0];
#pragma unroll
  for (int r = 1; r <= H; ++r) {
    const float2 a = v[r], b = v[R - r];
    v[r] = make_float2(a.x + b.x, a.y + b.y);
    v[R - r] = make_float2(a.x - b.x, a.y - b.y);
    sum.x += v[r].x;
    sum.y += v[r].y;
  }
  if (R % 2 == 0) {
    sum.x += v[M].x;
    sum.y += v[M].y;
  }
  st(0, sum);
#pragma unroll
  for (int q = 1; q <= H; ++q) {
    float2 a = v[0], bb = make_float2(0.f, 0.f);
    if (R % 2 == 0) {
      const float sg = (q & 1) ? -1.f : 1.f;
      a.x += sg * v[M].x;
      a.y += sg * v[M].y;
    }
#pragma unroll
    for (int r = 1; r <= H; ++r) {
      const float2 w = rnn_cs120[((r * q) % R) * (120 / R)];
      a.x += v[r].x * w.x;
      a.y += v[r].y * w.x;
      bb.x += v[R - r].y * w.y;
      bb.y -= v[R - r].x * w.y;
    }
    st(q, make_float2(a.x + bb.x, a.y + bb.y));
    st(R - q, make_float2(a.x - bb.x, a.y - bb.y));
  }
  if (R % 2 == 0) {
    float2 h = v[0];
#pragma unroll
    for (int r = 1; r <= H; ++r) {
      const float sg = (r & 1) ? -1.f : 1.f;
      h.x += sg * v[r].x;
      h.y += sg * v[r].y;
    }
    const float sm = (M & 1) ? -1.f : 1.f;
    h.x += sm * v[M].x;
    h.y += sm * v[M].y;
    st(M, h);
  }
}

// One Stockham stage of an m-point forward FFT (kernels/fft.cu's mapping): a[j + r m/R],
// twiddled by W_{ns R}^(r (j mod ns)), through an R-point DFT to b[(j / ns) ns R + j mod ns + q ns].
// `load(i)` gives a[i] (a stage may read global memory or compute its input); b is padded.
template <int R, class Load>
__device__ __forceinline__ void rnn_fft_stage(Load load, float2* b, const float2* __restrict__ tw, int tw_step, int m,
                                              int ns) {
  const int tc = m / R, span = m / (ns * R);
  for (int j = threadIdx.x; j < tc; j += blockDim.x) {
    const int jm = j % ns;
    float2 v[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float2 x = load(j + r * tc);
      v[r] = (r == 0 || jm == 0) ? x : rnn_cmul_(x, __ldg(&tw[tw_step * r * jm * span]));
    }
    const int o = (j - jm) * R + jm;
    rnn_dft<R>(v, [&](int q, float2 z) { b[RNN_FFT_PAD(o + q * ns)] = z; });
  }
}

// Segment partial sums of the triangular band sums: chunk c (bins 4c..4c+3, in band segment
// s = band[4c]) gives lo = sum (1 - frac) e and hi = sum frac e; E[b] = hi of segment b - 1 plus
// lo of segment b, doubled for the first and the last band (audio::bands' weights).
template <typename E>
__device__ __forceinline__ float2 rnn_chunk_sum(int c, const RnnBinTable& t, E e) {
  float lo = 0.f, hi = 0.f;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const int i = 4 * c + k;
    const float v = e(i), fr = t.frac[i];
    lo = __fadd_rn(lo, __fmul_rn(__fsub_rn(1.f, fr), v));
    hi = __fadd_rn(hi, __fmul_rn(fr, v));
  }
  return make_float2(lo, hi);
}
// seg[s] = the sum of the chunk partials of segment s (s < RNN_BANDS - 1).
__device__ __forceinline__ float2 rnn_segment_sum(int s, const float2* part) {
  float lo = 0.f, hi = 0.f;
  for (int c = rnn_band_start[s] / 4; c < rnn_band_start[s + 1] / 4; ++c) {
    lo = __fadd_rn(lo, part[c].x);
    hi = __fadd_rn(hi, part[c].y);
  }
  return make_float2(lo, hi);
}
__device__ __forceinline__ float rnn_band_from_segments(int band, const float2* seg) {
  float e = 0.f;
  if (band > 0) e = seg[band - 1].y;
  if (band < RNN_BANDS - 1) e = __fadd_rn(e, seg[band].x);
  if (band == 0 || band == RNN_BANDS - 1) e = __fmul_rn(e, 2.f);
  return e;
}

// rnn_spec_features_f32: for row b < ctl[0]: Z = FFT960(frames[2b] + i frames[2b + 1]); X and P
// (bins 0..480 of both frames' spectra) -> spec rows 2b and 2b + 1 (P: bins < RNN_BAND_END, all
// the postprocess reads, and only when the pitch filter is on); then rnn_features_f32's work on
// them (rnn_features_tail: bands, features, silence gate, cepstral memory, net rows).
// Launch: grid.x >= 1 (blocks loop over rows), block.x = 128. (The body is a device function:
// the _o10 kernel is the same code at 10 blocks per multiprocessor; RNN_FUSED_BLOCKS_CAP.)
#define RNN_SPEC_FEATURES_ARGS                                                                                     \
  const float *__restrict__ frames, const int *__restrict__ ctl, float *__restrict__ state, int state_stride,       \
      const float2 *__restrict__ tw, const float *__restrict__ dct, float *__restrict__ spec,                      \
      float *__restrict__ bands, float *__restrict__ net_a, int a_stride, float *__restrict__ net_b, int b_stride,  \
      float *__restrict__ net_c, int c_stride, int u0, int u1, int u2, int u3
template <int V, bool PRE = false>
__device__ __forceinline__ void rnn_spec_features(RNN_SPEC_FEATURES_ARGS) {
  __shared__ float2 za[RNN_FFT_BUF], zb[RNN_FFT_BUF];
  __shared__ float2 seg[3][RNN_BANDS];
  __shared__ RnnFeatScratch fs;
  float (&E)[3][RNN_BANDS] = fs.E;
  __shared__ RnnBinTable bins;
  const int count = ctl[0];
  const int tid = threadIdx.x;
  float2* const Xs = zb;        // X bins 0..480 after the untangle
  float2* const Ps = zb + 488;  // P bins 0..480
  float2* const part = za;      // [3][RNN_BAND_CHUNKS] chunk partials (Z is dead by then)
  // P goes to global memory only for the pitch filter (rnn_post_synthesis reads it iff the
  // filter's strength is > 0: the default model has it off, 3.2 KB less per row).
  const bool pf_custom = (ctl[RNN_CTL_FLAGS] & RNN_CTL_PF_CUSTOM) != 0;
  const bool store_p = !pf_custom || reinterpret_cast<const float*>(ctl)[RNN_CTL_PF_STRENGTH] > 0.f;
  rnn_fill_bins(&bins);
  __syncthreads();
  for (int b = blockIdx.x; b < count; b += gridDim.x) {
    const int slot = ctl[16 + b];
    float* st = state + static_cast<long long>(slot) * state_stride;
    RnnTailPre pre;
    if (PRE) pre = rnn_tail_prefetch(fs, st, u1 + u2 + u3);
    const float* fx = frames + static_cast<long long>(2 * b) * RNN_WINDOW;
    const float* fp = fx + RNN_WINDOW;
    // The 960-point FFT of z = x + i p: 8 x 12 x 10 (120, 80 and 96 threads).
    rnn_fft_stage<8>([&](int i) { return make_float2(fx[i], fp[i]); }, za, tw, 1, RNN_WINDOW, 1);
    __syncthreads();
    rnn_fft_stage<12>([&](int i) { return za[RNN_FFT_PAD(i)]; }, zb, tw, 1, RNN_WINDOW, 8);
    __syncthreads();
    rnn_fft_stage<10>([&](int i) { return zb[RNN_FFT_PAD(i)]; }, za, tw, 1, RNN_WINDOW, 96);
    __syncthreads();
    float2* X = reinterpret_cast<float2*>(spec + static_cast<long long>(2 * b) * RNN_SPEC_STRIDE);
    float2* P = reinterpret_cast<float2*>(spec + static_cast<long long>(2 * b + 1) * RNN_SPEC_STRIDE);
    for (int k = tid; k < RNN_BINS; k += blockDim.x) {
      const float2 zk = za[RNN_FFT_PAD(k)], zn = za[RNN_FFT_PAD(k == 0 ? 0 : RNN_WINDOW - k)];
      const float2 x = make_float2(0.5f * (zk.x + zn.x), 0.5f * (zk.y - zn.y));
      const float2 p = make_float2(0.5f * (zk.y + zn.y), 0.5f * (zn.x - zk.x));
      Xs[k] = x;
      Ps[k] = p;
      X[k] = x;
      if (store_p && k < RNN_BAND_END) P[k] = p;
    }
    __syncthreads();
    // Band sums: chunk partials (3 x 100 tasks), segment sums (3 x 21), bands (3 x 22).
    for (int t = tid; t < 3 * RNN_BAND_CHUNKS; t += blockDim.x) {
      const int q = t / RNN_BAND_CHUNKS, c = t - q * RNN_BAND_CHUNKS;
      const float2* A = q == 1 ? Ps : Xs;
      const float2* B = q == 0 ? Xs : Ps;
      part[t] = rnn_chunk_sum(c, bins, [&](int i) {
        const float2 z = A[i], p = B[i];
        return __fadd_rn(__fmul_rn(z.x, p.x), __fmul_rn(z.y, p.y));
      });
    }
    __syncthreads();
    if (tid < 3 * (RNN_BANDS - 1)) {
      const int q = tid / (RNN_BANDS - 1), s = tid - q * (RNN_BANDS - 1);
      seg[q][s] = rnn_segment_sum(s, part + q * RNN_BAND_CHUNKS);
    }
    __syncthreads();
    if (tid < 3 * RNN_BANDS) {
      const int q = tid / RNN_BANDS, band = tid - q * RNN_BANDS;
      E[q][band] = rnn_band_from_segments(band, seg[q]);
    }
    if (PRE) rnn_copy4_wait();
    __syncthreads();
    rnn_features_tail(fs, b, st, dct, bands, net_a, a_stride, net_b, b_stride, net_c, c_stride, u0, u1, u2, u3, pre);
  }
}

// Blocks per multiprocessor of the fused kernels: 8 (64 registers, the whole register file at
// 128 threads) or, for the _o10 / _o10p kernels, 10 (48 registers; sm_90: at most 22 bytes of
// spills; 21.4 / 15.9 / 20.7 KB of shared memory, 10 fit), capped at the SM's thread limit
// (sm_75: 8).
#define RNN_FUSED_BLOCKS_CAP(n) (RNN_ROW_THREADS_PER_SM / 128 < (n) ? RNN_ROW_THREADS_PER_SM / 128 : (n))
#define RNN_SPEC_FEATURES_CALL(V) \
  rnn_spec_features<V>(frames, ctl, state, state_stride, tw, dct, spec, bands, net_a, a_stride, net_b, b_stride, \
                       net_c, c_stride, u0, u1, u2, u3)
extern "C" __global__ void __launch_bounds__(128, 8) rnn_spec_features_f32(RNN_SPEC_FEATURES_ARGS) {
  RNN_SPEC_FEATURES_CALL(8);
}
extern "C" __global__ void __launch_bounds__(128, RNN_FUSED_BLOCKS_CAP(10))
    rnn_spec_features_f32_o10(RNN_SPEC_FEATURES_ARGS) {
  RNN_SPEC_FEATURES_CALL(10);
}
// _o10p: the slot-state operands of the tail (cepstral memory, memid, period, GRU states)
// loaded as the row starts (rnn_tail_prefetch).
extern "C" __global__ void __launch_bounds__(128, RNN_FUSED_BLOCKS_CAP(10))
    rnn_spec_features_f32_o10p(RNN_SPEC_FEATURES_ARGS) {
  rnn_spec_features<10, true>(frames, ctl, state, state_stride, tw, dct, spec, bands, net_a, a_stride, net_b, b_stride,
                              net_c, c_stride, u0, u1, u2, u3);
}

// rnn_post_synthesis_f32 / _s16: for row b < ctl[0]: rnn_postprocess_f32's work on the row's
// spectrum X in shared memory (non-silent rows: pitch filter with P, renormalisation, gain
// smoothing and per-bin gains; GRU states scattered; info[b]), then the inverse FFT (y = 960 *
// the inverse real DFT of X, as rfft_inverse_f32) and rnn_synthesis's window, overlap-add and
// strength mix into out[b] (the slot's tail and dry history advance). Silent rows: X as it is.
// Launch: grid.x >= 1 (blocks loop over rows), block.x = 128.
// PRE (the _p kernels, gpuspec): the synthesis' operands (the slot's overlap tail and dry
// history, the input row) are copied to shared memory as the row starts, so their global
// round trip overlaps the spectrum's instead of following the inverse FFT; the gain stage's
// operands and the GRU states likewise (registers).
template <typename T, bool PRE = false>
__device__ __forceinline__ void rnn_post_synthesis(
    const float* __restrict__ spec, const int* __restrict__ ctl, float* __restrict__ state, int state_stride,
    const float* __restrict__ bands, const float* __restrict__ gains, const float* __restrict__ vad,
    const float* __restrict__ net_a, int a_stride, const float* __restrict__ net_b, int b_stride,
    const float* __restrict__ net_c, int c_stride, int u0, int u1, int u2, int u3, RnnHopInfo* __restrict__ info,
    const float2* __restrict__ tw, const T* __restrict__ in, int in_stride, const float* __restrict__ strengths,
    const float* __restrict__ window, T* __restrict__ out, int out_stride) {
  __shared__ float2 Xs[RNN_BINS + 3];
  __shared__ float2 fa[RNN_FFT_BUF / 2 + 4], fb[RNN_FFT_BUF / 2 + 4];
  __shared__ float2 part[RNN_BAND_CHUNKS], seg[RNN_BANDS];
  __shared__ float g[RNN_BANDS], r[RNN_BANDS], norm[RNN_BANDS], Ex[RNN_BANDS];
  __shared__ RnnBinTable bins;
  __shared__ float pre_syn[PRE ? RNN_HOP : 1], pre_his[PRE ? RNN_HOP : 1];
  __shared__ T pre_in[PRE ? RNN_HOP : 2];
  const int count = ctl[0];
  const int tid = threadIdx.x;
  const bool pf_custom = (ctl[RNN_CTL_FLAGS] & RNN_CTL_PF_CUSTOM) != 0;
  const float pf_strength = pf_custom ? reinterpret_cast<const float*>(ctl)[RNN_CTL_PF_STRENGTH] : 1.f;
  const float pf_slope = pf_custom ? reinterpret_cast<const float*>(ctl)[RNN_CTL_PF_SLOPE] : 0.f;
  const bool pf_on = pf_strength > 0.f;
  const int low_cut = ctl[RNN_CTL_LOW_CUT] < RNN_BINS ? ctl[RNN_CTL_LOW_CUT] : RNN_BINS;
  rnn_fill_bins(&bins);
  __syncthreads();
  for (int b = blockIdx.x; b < count; b += gridDim.x) {
    const float* bd = bands + static_cast<long long>(b) * RNN_BD_STRIDE;
    const bool silent = bd[RNN_BD_STRIDE - 1] != 0.f;
    const int slot = ctl[16 + b];
    float* st = state + static_cast<long long>(slot) * state_stride;
    const float2* X = reinterpret_cast<const float2*>(spec + static_cast<long long>(2 * b) * RNN_SPEC_STRIDE);
    const float2* P = reinterpret_cast<const float2*>(spec + static_cast<long long>(2 * b + 1) * RNN_SPEC_STRIDE);
    const T* inr = in + static_cast<long long>(b) * in_stride;
    if (PRE) {
      for (int i = tid; i < RNN_HOP; i += blockDim.x) {
        rnn_copy4(&pre_syn[i], &st[RNN_ST_SYNTH + i]);
        rnn_copy4(&pre_his[i], &st[RNN_ST_HISTORY + i]);
      }
      constexpr int kInWords = RNN_HOP * static_cast<int>(sizeof(T)) / 4;  // in_stride * sizeof(T) % 4 == 0
      for (int i = tid; i < kInWords; i += blockDim.x)
        rnn_copy4(reinterpret_cast<unsigned*>(pre_in) + i, reinterpret_cast<const unsigned*>(inr) + i);
    }
    const float* ra = net_a + static_cast<long long>(b) * a_stride;
    const float* rb = net_b + static_cast<long long>(b) * b_stride;
    const float* rc = net_c + static_cast<long long>(b) * c_stride;
    // PRE: the per-band operands (bands row, gains, the slot's last gains) and this thread's GRU
    // states from the net rows (j = tid, tid + blockDim.x of [u1 | u2 | u3]) loaded now, next to
    // the silence flag (silent rows do not use them), instead of one round trip after another.
    const int ng = u1 + u2 + u3;
    const bool pre_gru = PRE && ng <= 2 * static_cast<int>(blockDim.x);
    float p_ex = 0.f, p_ep = 0.f, p_e = 0.f, p_g = 0.f, p_lg = 0.f, p_s[2] = {0.f, 0.f};
    if (PRE) {
      if (tid < RNN_BANDS) {
        p_ex = bd[RNN_BD_EX + tid];
        p_ep = bd[RNN_BD_EP + tid];
        p_e = bd[RNN_BD_EXP + tid];
        p_g = gains[static_cast<long long>(b) * RNN_BANDS + tid];
        p_lg = st[RNN_ST_LASTG + tid];
      }
      if (pre_gru)
        for (int k = 0; k < 2; ++k) {
          const int j = tid + k * static_cast<int>(blockDim.x);
          if (j < u1) p_s[k] = ra[u0 + j];
          else if (j < u1 + u2) p_s[k] = rb[j];
          else if (j < ng) p_s[k] = rc[j - u1 - u2];
        }
    }
    for (int i = tid; i < RNN_BINS; i += blockDim.x) Xs[i] = X[i];
    if (!silent) {  // uniform across the block
      if (tid < RNN_BANDS) {
        Ex[tid] = PRE ? p_ex : bd[RNN_BD_EX + tid];
        const float ep = PRE ? p_ep : bd[RNN_BD_EP + tid], e = PRE ? p_e : bd[RNN_BD_EXP + tid];
        const float gi = PRE ? p_g : gains[static_cast<long long>(b) * RNN_BANDS + tid];
        g[tid] = gi;
        float ri;
        if (e > gi) {
          ri = 1.f;
        } else {
          const float e2 = __fmul_rn(e, e), g2 = __fmul_rn(gi, gi);
          ri = static_cast<float>(static_cast<double>(__fmul_rn(e2, __fsub_rn(1.f, g2))) /
                                  (.001 + static_cast<double>(__fmul_rn(g2, __fsub_rn(1.f, e2)))));
        }
        ri = __fsqrt_rn(fminf(fmaxf(ri, 0.f), 1.f));
        ri = __fmul_rn(ri, __fsqrt_rn(static_cast<float>(static_cast<double>(Ex[tid]) /
                                                         (1e-8 + static_cast<double>(ep)))));
        if (pf_strength != 1.f) ri = __fmul_rn(ri, pf_strength);
        if (pf_slope > 0.f) {
          const float q = __fmul_rn(pf_slope, __fsub_rn(1.f, gi));
          ri = __fmul_rn(ri, q < 1.f ? q : 1.f);
        }
        r[tid] = ri;
      }
      __syncthreads();
      if (pf_on) {
        // rnn_interp(r) is 0 from bin RNN_BAND_END on: those bins keep X (z + 0 * p).
        for (int i = tid; i < RNN_BAND_END; i += blockDim.x) {
          const float rf = rnn_interp(r, i, bins);
          float2 z = Xs[i];
          const float2 p = P[i];
          z.x = __fadd_rn(z.x, __fmul_rn(rf, p.x));
          z.y = __fadd_rn(z.y, __fmul_rn(rf, p.y));
          Xs[i] = z;
        }
        __syncthreads();
        for (int c = tid; c < RNN_BAND_CHUNKS; c += blockDim.x)
          part[c] = rnn_chunk_sum(c, bins, [&](int i) {
            const float2 z = Xs[i];
            return __fadd_rn(__fmul_rn(z.x, z.x), __fmul_rn(z.y, z.y));
          });
        __syncthreads();
        if (tid < RNN_BANDS - 1) seg[tid] = rnn_segment_sum(tid, part);
        __syncthreads();
        if (tid < RNN_BANDS) {
          const float ne = rnn_band_from_segments(tid, seg);
          norm[tid] = __fsqrt_rn(static_cast<float>(static_cast<double>(Ex[tid]) / (1e-8 + static_cast<double>(ne))));
        }
      }
      if (tid < RNN_BANDS) {
        float* lastg = st + RNN_ST_LASTG;
        const float gs = rnn_maxf_(g[tid], __fmul_rn(.6f, PRE ? p_lg : lastg[tid]));
        g[tid] = gs;
        lastg[tid] = gs;
      }
      __syncthreads();
      for (int i = tid; i < RNN_BINS; i += blockDim.x) {
        const float gf = rnn_interp(g, i, bins);
        float2 z = Xs[i];
        if (pf_on) {
          const float nf = rnn_interp(norm, i, bins);
          z.x = __fmul_rn(__fmul_rn(z.x, nf), gf);
          z.y = __fmul_rn(__fmul_rn(z.y, nf), gf);
        } else {
          z.x = __fmul_rn(z.x, gf);
          z.y = __fmul_rn(z.y, gf);
        }
        Xs[i] = z;
      }
      float* gsd = st + RNN_ST_GRU;
      if (pre_gru) {
        for (int k = 0; k < 2; ++k) {
          const int j = tid + k * static_cast<int>(blockDim.x);
          if (j < ng) gsd[j] = p_s[k];
        }
      } else {
        for (int i = tid; i < u1; i += blockDim.x) gsd[i] = ra[u0 + i];
        for (int i = tid; i < u2; i += blockDim.x) gsd[u1 + i] = rb[u1 + i];
        for (int i = tid; i < u3; i += blockDim.x) gsd[u1 + u2 + i] = rc[i];
      }
    }
    if (tid == 0) {
      info[b].vad = silent ? 0.f : vad[b];
      info[b].silent = silent ? 1 : 0;
    }
    for (int i = tid; i < low_cut; i += blockDim.x) Xs[i] = make_float2(0.f, 0.f);  // silent rows too
    __syncthreads();
    // The inverse real FFT: the packed 480-point spectrum (rfft_inverse_f32's), computed as the
    // first stage loads it, then a forward 480-point FFT (8 x 6 x 10: 60, 80 and 48 threads);
    // y[2i] = z[i].x, y[2i + 1] = -z[i].y.
    constexpr int m = RNN_WINDOW / 2;
    rnn_fft_stage<8>(
        [&](int k) {
          const float2 a = Xs[k], c = Xs[m - k];
          float xr = a.x, xi = a.y, yr = c.x, yi = -c.y;
          if (k == 0) xi = yi = 0.f;
          const float er = xr + yr, ei = xi + yi, dr = xr - yr, di = xi - yi;
          const float2 w = __ldg(&tw[k]);
          const float odr = dr * w.x + di * w.y, odi = di * w.x - dr * w.y;
          return make_float2(er - odi, -(ei + odr));
        },
        fa, tw, 2, m, 1);
    __syncthreads();
    rnn_fft_stage<6>([&](int i) { return fa[RNN_FFT_PAD(i)]; }, fb, tw, 2, m, 8);
    __syncthreads();
    rnn_fft_stage<10>([&](int i) { return fb[RNN_FFT_PAD(i)]; }, fa, tw, 2, m, 48);
    if (PRE) rnn_copy4_wait();
    __syncthreads();
    T* outr = out + static_cast<long long>(b) * out_stride;
    float s = strengths[b];
    s = s < 0.f ? 0.f : (1.f < s ? 1.f : s);
    const float dry = __fsub_rn(1.f, s);
    for (int i = tid; i < RNN_HOP; i += blockDim.x) {
      const float2 z0 = fa[RNN_FFT_PAD(i >> 1)], z1 = fa[RNN_FFT_PAD((RNN_HOP + i) >> 1)];
      const float ya = (i & 1) ? -z0.y : z0.x, yb = (i & 1) ? -z1.y : z1.x;  // RNN_HOP is even
      // y / 960 as y * (1 / 960): within an ulp of the CPU's division (the fused kernels are held
      // to the CPU within rounding, not bit for bit); two IEEE divisions per sample were 7 % of
      // this kernel's instructions (Nsight Compute, H200, 2026-12-01).
      constexpr float kInvWindow = 1.f / static_cast<float>(RNN_WINDOW);
      const float y0 = __fmul_rn(__fmul_rn(ya, kInvWindow), window[i]);
      const float y1 = __fmul_rn(__fmul_rn(yb, kInvWindow), window[RNN_HOP + i]);
      const float wet = __fadd_rn(y0, PRE ? pre_syn[i] : st[RNN_ST_SYNTH + i]);
      const float hist = PRE ? pre_his[i] : st[RNN_ST_HISTORY + i];
      rnn_pcm_out(&outr[i], __fadd_rn(__fmul_rn(wet, s), __fmul_rn(hist, dry)));
      st[RNN_ST_SYNTH + i] = y1;
      st[RNN_ST_HISTORY + i] = rnn_pcm_in_(PRE ? pre_in[i] : inr[i]);
    }
    __syncthreads();
  }
}

#define RNN_POST_SYNTHESIS_ARGS(T)                                                                                  \
  const float *__restrict__ spec, const int *__restrict__ ctl, float *__restrict__ state, int state_stride,          \
      const float *__restrict__ bands, const float *__restrict__ gains, const float *__restrict__ vad,              \
      const float *__restrict__ net_a, int a_stride, const float *__restrict__ net_b, int b_stride,                 \
      const float *__restrict__ net_c, int c_stride, int u0, int u1, int u2, int u3,                               \
      RnnHopInfo *__restrict__ info, const float2 *__restrict__ tw, const T *__restrict__ in, int in_stride,        \
      const float *__restrict__ strengths, const float *__restrict__ window, T *__restrict__ out, int out_stride
#define RNN_POST_SYNTHESIS_CALL                                                                                      \
  rnn_post_synthesis(spec, ctl, state, state_stride, bands, gains, vad, net_a, a_stride, net_b, b_stride, net_c,    \
                     c_stride, u0, u1, u2, u3, info, tw, in, in_stride, strengths, window, out, out_stride)

extern "C" __global__ void __launch_bounds__(128, 8) rnn_post_synthesis_f32(RNN_POST_SYNTHESIS_ARGS(float)) {
  RNN_POST_SYNTHESIS_CALL;
}
extern "C" __global__ void __launch_bounds__(128, 8) rnn_post_synthesis_s16(RNN_POST_SYNTHESIS_ARGS(short)) {
  RNN_POST_SYNTHESIS_CALL;
}
// The same at 10 blocks per multiprocessor (RNN_FUSED_BLOCKS_CAP; 12, at 40 registers with
// spills, was slower on the H200: 787 vs 675 us at 64k rows).
extern "C" __global__ void __launch_bounds__(128, RNN_FUSED_BLOCKS_CAP(10))
    rnn_post_synthesis_f32_o10(RNN_POST_SYNTHESIS_ARGS(float)) {
  RNN_POST_SYNTHESIS_CALL;
}
extern "C" __global__ void __launch_bounds__(128, RNN_FUSED_BLOCKS_CAP(10))
    rnn_post_synthesis_s16_o10(RNN_POST_SYNTHESIS_ARGS(short)) {
  RNN_POST_SYNTHESIS_CALL;
}
// _o10p: 10 blocks per multiprocessor with the synthesis operands prefetched (PRE above).
#define RNN_POST_SYNTHESIS_CALL_PRE(T)                                                                               \
  rnn_post_synthesis<T, true>(spec, ctl, state, state_stride, bands, gains, vad, net_a, a_stride, net_b, b_stride,  \
                              net_c, c_stride, u0, u1, u2, u3, info, tw, in, in_stride, strengths, window, out,     \
                              out_stride)
extern "C" __global__ void __launch_bounds__(128, RNN_FUSED_BLOCKS_CAP(10))
    rnn_post_synthesis_f32_o10p(RNN_POST_SYNTHESIS_ARGS(float)) {
  RNN_POST_SYNTHESIS_CALL_PRE(float);
}
extern "C" __global__ void __launch_bounds__(128, RNN_FUSED_BLOCKS_CAP(10))
    rnn_post_synthesis_s16_o10p(RNN_POST_SYNTHESIS_ARGS(short)) {
  RNN_POST_SYNTHESIS_CALL_PRE(short);
}
