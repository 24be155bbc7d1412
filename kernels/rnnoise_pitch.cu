// kernels/rnnoise_pitch.cu — the RNNoise frontend up to the FFTs, one block per session: DC
// high-pass, analysis frame, pitch history, pitch downsampling with LPC whitening, coarse and
// fine pitch search, octave-error removal, and the pitch-delayed frame.
// GPU twin of models/rnnoise's Frontend (audio/filters.cc, audio/pitch.cc).
//
// The pitch period is a discrete decision taken from long float sums, so a different rounding
// can pick another period and change the output audibly. Everything on the pitch path is
// therefore computed with the CPU's exact operations in the CPU's order: explicitly rounded
// __fmul_rn/__fadd_rn (no FMA contraction) where the CPU code is scalar, and, for the inner
// products and the cross-correlation, either the scalar reference order (avx2 == 0) or the
// order of kernels/xcorr_avx2.cc (avx2 == 1: FMA, 32 interleaved partial sums, its horizontal
// sum). The host passes the level its CPU kernels use (kernels::ActiveSimd()), so the GPU takes
// exactly the pitch decisions the CPU path of the same machine takes. With the AVX2 order the
// 480-element inner products (fine search, RemoveDoubling) run one warp each (rnn_inner480_warp:
// the AVX2 code's 32 partial sums are the 32 lanes); avx2 | 4 keeps them on one lane each.
//
//   rnn_frontend_f32: for row b < ctl[0] (slot s = ctl[16 + b]):
//     in[b] (RNN_HOP floats) -> high-pass -> state[s] updated (RNN_ST_HP, ANALYSIS, PITCH,
//     LAST_GAIN, LAST_PERIOD, PERIOD);
//     frames[2b]   = window * [previous hop | this hop]           (RNN_WINDOW floats)
//     frames[2b+1] = window * pitch history delayed by the period  (RNN_WINDOW floats)
//   rnn_frontend_s16: the same with 16-bit PCM input rows (x / 32768).
//   Launch: grid.x >= 1 (blocks loop over rows), block.x = 128 (any >= 97 works; 128 gives
//   8 blocks, i.e. 8 sessions, per SM: 64 registers, 21 KB of shared memory each).
//
// Critical path (the block is latency-bound: serial float chains that must keep the CPU's
// order): every chain runs on its own warp next to the parallel work, and whatever does not
// depend on a decision is computed ahead — the autocorrelation's terms on the old pitch history
// during the high-pass, both searches' running energies (FindBestPitch's syy) before their scans,
// the fine search only on its ~10 live lags (the scan skips the others, which are 0), and
// RemoveDoubling's +-1 lag correlations for every candidate together with the candidates.
#include "gpu_common.cuh"
#include "rnnoise_layout.cuh"

#define RNN_LP_LEN (RNN_PITCH_BUF / 2)  // 864
#define RNN_LP_OLD ((RNN_PITCH_BUF - RNN_HOP) / 2)  // 624: lp0 + 5 + i that only read the history
#define RNN_AC_SPLIT (RNN_LP_OLD - 4)               // 620: autocorrelation terms known before the hop
// Resident blocks per SM the frontend kernels are built for (__launch_bounds__): what 21.7 KB of
// shared memory per block allows (sm_90: 228 KB per SM -> 10 blocks of 128 threads at <= 48
// registers; sm_80: 164 KB -> 7; sm_86/89: 100 KB -> 4; sm_75: 64 KB -> 2). Block b takes
// row b first, then the next row not yet taken (an atomic counter in ctl[1], which the host
// zeroes with every hop; rows past count end the loop): with static striding a grid larger
// than what is resident (the host sizes it at 16 blocks per SM) runs its rows in two rounds of
// whole blocks, and a block that finishes early idles.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define RNN_FRONTEND_BLOCKS_PER_SM 2
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 800
#define RNN_FRONTEND_BLOCKS_PER_SM 7
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
#define RNN_FRONTEND_BLOCKS_PER_SM 4
#else
#define RNN_FRONTEND_BLOCKS_PER_SM 10
#endif

// RemoveDoubling's second candidate multiplier per sub-multiple k.
__constant__ int rnn_second_check[16] = {0, 0, 3, 2, 3, 2, 5, 2, 3, 2, 3, 2, 5, 2, 3, 2};

// Lane l of one AVX2 accumulator over the whole 32-blocks: a[l] = sum_i x[i+off+l] y[i+off+l],
// i = 0, 32, ... < whole, FMA in index order.
__device__ __forceinline__ void rnn_lanes8(const float* x, const float* y, int whole, int off, float* a) {
#pragma unroll
  for (int l = 0; l < 8; ++l) a[l] = 0.f;
  for (int i = 0; i < whole; i += 32) {
#pragma unroll
    for (int l = 0; l < 8; ++l) a[l] = __fmaf_rn(x[i + off + l], y[i + off + l], a[l]);
  }
}

// sum_{i<n} x[i] y[i], in the order of kernels::InnerProduct_ref (avx2 == 0) or
// InnerProduct_avx2 (avx2 == 1).
__device__ float rnn_inner(const float* x, const float* y, int n, int avx2) {
  if (!avx2) {
    float s = 0.f;
#pragma unroll 8
    for (int i = 0; i < n; ++i) s = __fadd_rn(s, __fmul_rn(x[i], y[i]));
    return s;
  }
  // The AVX2 code keeps 32 partial sums in four registers a0..a3 (8 lanes each): element
  // i + 8 g + l of every whole block of 32 goes to lane l of a_g; then whole blocks of 8 go to
  // a0 and the last n % 8 elements to a1; the result is the horizontal sum of (a0 + a1) +
  // (a2 + a3). The four groups are independent, so they are summed one after the other here
  // (24 live registers instead of 32).
  const int whole = n / 32 * 32;
  float a[8], b[8], t[8];
  rnn_lanes8(x, y, whole, 0, a);
  int i = whole;
  for (; i + 8 <= n; i += 8) {
#pragma unroll
    for (int l = 0; l < 8; ++l) a[l] = __fmaf_rn(x[i + l], y[i + l], a[l]);
  }
  rnn_lanes8(x, y, whole, 8, b);
  if (i < n) {
#pragma unroll
    for (int l = 0; l < 8; ++l) {
      const bool in = i + l < n;
      b[l] = __fmaf_rn(in ? x[i + l] : 0.f, in ? y[i + l] : 0.f, b[l]);
    }
  }
#pragma unroll
  for (int l = 0; l < 8; ++l) t[l] = __fadd_rn(a[l], b[l]);
  rnn_lanes8(x, y, whole, 16, a);
  rnn_lanes8(x, y, whole, 24, b);
#pragma unroll
  for (int l = 0; l < 8; ++l) t[l] = __fadd_rn(t[l], __fadd_rn(a[l], b[l]));
  float s[4];
#pragma unroll
  for (int l = 0; l < 4; ++l) s[l] = __fadd_rn(t[l], t[l + 4]);
  return __fadd_rn(__fadd_rn(s[0], s[2]), __fadd_rn(s[1], s[3]));
}

// Lag k of kernels::PitchXcorr(x, y, out, len, lags): the AVX2 version sums the lags of whole
// groups of 8 with one FMA per step in index order, and the last lags % 8 as inner products.
__device__ float rnn_xcorr_lag(const float* x, const float* y, int len, int k, int lags, int avx2) {
  if (avx2 && k < lags / 8 * 8) {
    float s = 0.f;
#pragma unroll 8
    for (int i = 0; i < len; ++i) s = __fmaf_rn(x[i], y[i + k], s);
    return s;
  }
  return rnn_inner(x, y + k, len, avx2);
}

__device__ __forceinline__ float rnn_maxf(float a, float b) { return a < b ? b : a; }  // std::max

// Lags k0, k0 + 1, k0 + 2 of kernels::PitchXcorr for k0 + 2 < lags / 8 * 8: with either order
// each of them is one sequential chain over i (AVX2: one FMA per step; scalar: multiply, add),
// so one thread runs the three chains side by side, loading x[i] once and sliding y[i + k]
// through registers (the same operations per lag as rnn_xcorr_lag, so the same bits).
__device__ __forceinline__ void rnn_xcorr_lag3(const float* x, const float* y, int len, int k0, int avx2, float* out) {
  float s0 = 0.f, s1 = 0.f, s2 = 0.f;
  float y0 = y[k0], y1 = y[k0 + 1];
  if (avx2) {
#pragma unroll 4
    for (int i = 0; i < len; ++i) {
      const float xi = x[i], y2 = y[i + k0 + 2];
      s0 = __fmaf_rn(xi, y0, s0);
      s1 = __fmaf_rn(xi, y1, s1);
      s2 = __fmaf_rn(xi, y2, s2);
      y0 = y1;
      y1 = y2;
    }
  } else {
#pragma unroll 4
    for (int i = 0; i < len; ++i) {
      const float xi = x[i], y2 = y[i + k0 + 2];
      s0 = __fadd_rn(s0, __fmul_rn(xi, y0));
      s1 = __fadd_rn(s1, __fmul_rn(xi, y1));
      s2 = __fadd_rn(s2, __fmul_rn(xi, y2));
      y0 = y1;
      y1 = y2;
    }
  }
  out[k0] = s0;
  out[k0 + 1] = s1;
  out[k0 + 2] = s2;
}

// rnn_inner(x, y, 480, avx2 = 1) computed by a whole warp (every lane calls it; the result is
// in lane 0): lane l holds the AVX2 code's partial sum l (elements 32q + l, q in order: 480 has
// no tails), and the shuffles add them in the AVX2 code's order — (a0 + a1) + (a2 + a3) per lane
// of 8, then lanes l + 4, then (s0 + s2) + (s1 + s3). Same sums, so the same bits; ~55 warp
// instructions instead of ~1500 for one lane. Host shim (tests): the one-lane version.
__device__ __forceinline__ float rnn_inner480_warp(const float* x, const float* y, int lane) {
#ifdef __CUDACC_RTC__
  float a = 0.f;
#pragma unroll
  for (int q = 0; q < 15; ++q) a = __fmaf_rn(x[32 * q + lane], y[32 * q + lane], a);
  a = __fadd_rn(a, __shfl_down_sync(0xffffffffu, a, 8));   // lanes 0-7: a0 + a1; 16-23: a2 + a3
  a = __fadd_rn(a, __shfl_down_sync(0xffffffffu, a, 16));  // lanes 0-7: t = (a0 + a1) + (a2 + a3)
  a = __fadd_rn(a, __shfl_down_sync(0xffffffffu, a, 4));   // lanes 0-3: s = t[l] + t[l + 4]
  a = __fadd_rn(a, __shfl_down_sync(0xffffffffu, a, 2));   // s0 + s2, s1 + s3
  return __fadd_rn(a, __shfl_down_sync(0xffffffffu, a, 1));
#else
  (void)lane;
  return rnn_inner(x, y, 480, 1);
#endif
}

// audio::pitch FindBestPitch, split in two so that the scan's serial chain is short:
// rnn_syy_track writes the running energy the CPU loop holds at step i (syy[0] = syy0,
// syy[i + 1] = max(1, syy[i] + (y[i + len]^2 - y[i]^2)), the CPU's operations in its order; it
// depends only on y, so another thread computes it ahead), and rnn_best_step is one step of
// the scan (the CPU's comparisons, in index order). Indices whose xcorr is not > 0 change
// nothing, so a scan may skip them (the fine search visits only its ~10 computed lags).
// syy0: 1 + sum_{j<len} y[j]^2 summed in index order (rnn_energy1).
__device__ void rnn_syy_track(const float* y, int len, int max_pitch, float syy0, float* syy) {
  float v = syy0;
  syy[0] = v;
#pragma unroll 4
  for (int i = 0; i + 1 < max_pitch; ++i) {
    v = __fadd_rn(v, __fsub_rn(__fmul_rn(y[i + len], y[i + len]), __fmul_rn(y[i], y[i])));
    v = rnn_maxf(1.f, v);
    syy[i + 1] = v;
  }
}

struct RnnBest {
  float num0, num1, den0, den1;
  int b0, b1;
};

__device__ __forceinline__ void rnn_best_init(RnnBest& r) {
  r.num0 = -1.f;
  r.num1 = -1.f;
  r.den0 = 0.f;
  r.den1 = 0.f;
  r.b0 = 0;
  r.b1 = 1;
}

__device__ __forceinline__ void rnn_best_step(RnnBest& r, float xcorr, float syy, int i) {
  if (xcorr > 0.f) {
    const float c = __fmul_rn(xcorr, 1e-12f);
    const float c2 = __fmul_rn(c, c);
    if (__fmul_rn(c2, r.den1) > __fmul_rn(r.num1, syy)) {
      if (__fmul_rn(c2, r.den0) > __fmul_rn(r.num0, syy)) {
        r.num1 = r.num0;
        r.den1 = r.den0;
        r.b1 = r.b0;
        r.num0 = c2;
        r.den0 = syy;
        r.b0 = i;
      } else {
        r.num1 = c2;
        r.den1 = syy;
        r.b1 = i;
      }
    }
  }
}

__device__ float rnn_energy1(const float* y, int len) {
  float syy = 1.f;
#pragma unroll 8
  for (int j = 0; j < len; ++j) syy = __fadd_rn(syy, __fmul_rn(y[j], y[j]));
  return syy;
}

__device__ __forceinline__ float rnn_pitch_gain(float xy, float xx, float yy) {
  return __fdiv_rn(xy, __fsqrt_rn(__fadd_rn(1.f, __fmul_rn(xx, yy))));
}

// PitchDownsample's low-pass at decimated index i of a pitch buffer p (the CPU's operations).
__device__ __forceinline__ float rnn_lowpass(const float* p, int i) {
  if (i == 0) return __fmul_rn(.5f, __fadd_rn(__fmul_rn(.5f, p[1]), p[0]));
  return __fmul_rn(.5f, __fadd_rn(__fmul_rn(.5f, __fadd_rn(p[2 * i - 1], p[2 * i + 1])), p[2 * i]));
}

// RemoveDoubling's last step: the period from the correlations at best_t - 1, best_t,
// best_t + 1 (the CPU's operations); stored as the state's last and current period.
__device__ __forceinline__ int rnn_final_period(float c0, float c1, float c2, int best_t, int* sti) {
  int offset = 0;
  if (__fsub_rn(c2, c0) > __fmul_rn(.7f, __fsub_rn(c1, c0))) offset = 1;
  else if (__fsub_rn(c0, c2) > __fmul_rn(.7f, __fsub_rn(c1, c2))) offset = -1;
  int period = 2 * best_t + offset;
  if (period < RNN_PITCH_MIN) period = RNN_PITCH_MIN;
  sti[RNN_ST_LAST_PERIOD] = period;
  sti[RNN_ST_PERIOD] = period;
  return period;
}

// 16-bit PCM rows (rnn_frontend_s16) become floats x / 32768 (exact: a power-of-two scale).
__device__ __forceinline__ float rnn_pcm_in(float v) { return v; }
__device__ __forceinline__ float rnn_pcm_in(short v) { return __fmul_rn(static_cast<float>(v), 1.f / 32768.f); }

// HP = true (rnn_frontend_hp): the high-pass already ran (rnn_highpass_*, one lane per row)
// and left this hop's filtered samples in frames[2b+1][0, RNN_HOP) (the pitch frame, written
// by this kernel only at the end of the row); `in` is not read and the state's high-pass
// memory is not touched. Same operations otherwise, so the same bits.
// PRE = true (rnn_frontend_pre, needs HP): rnn_pitch_lanes_* also computed PitchDownsample
// (lp) and every serial energy chain (both searches' running energies, xx, yy_lag) one lane
// per row into the pitch scratch ps (RNN_PS_*); this kernel loads them and runs only the
// block-parallel part (cross-correlations) and the decisions. Same values, so the same bits.
template <bool HP, typename T, bool PRE = false>
__device__ __forceinline__ void rnn_frontend(const T* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                                             float* __restrict__ state, int state_stride,
                                             const float* __restrict__ window, float* __restrict__ frames,
                                             int avx2, const float* __restrict__ ps = nullptr) {
  __shared__ float xs[RNN_HOP];
  __shared__ float pb[RNN_PITCH_BUF];
  __shared__ float lp0[RNN_LP_LEN + 5];  // 5 zeros, then the unwhitened low-passed signal
  __shared__ float lp[RNN_LP_LEN];
  __shared__ float x4[RNN_PITCH_FRAME / 4];
  __shared__ float y4[(RNN_PITCH_FRAME + RNN_PITCH_MAX - 3 * RNN_PITCH_MIN) / 4];
  __shared__ float xc[(RNN_PITCH_MAX - 3 * RNN_PITCH_MIN) / 2];
  __shared__ float ac[5];
  __shared__ float fir[5];
  __shared__ float ips[40];
  __shared__ float ipm[16], ipp[16];  // correlations at lag - 1 / + 1 of RemoveDoubling's candidates
  __shared__ float yy_lag[RNN_PITCH_MAX / 2 + 1];
  __shared__ float rd_xy[16], rd_yy[16], rd_g[16];  // RemoveDoubling's candidate k
  __shared__ int rd_t[16], rd_ok[16];
  __shared__ int best[2];
  __shared__ int fine_lag[10], fine_n;
  __shared__ int t0s;
  __shared__ int prev_period_s;  // last hop's period / 2 and pitch gain (state, read ahead)
  __shared__ float prev_gain_s;
  __shared__ float syy0f;

  const int avx2_in = avx2;  // bit 0: the summation order; bit 2: see wcoop; bit 3: rnn_xcorr_lag3
  avx2 &= 1;
  const int count = ctl[0];
  const int tid = threadIdx.x;
  const int len = RNN_PITCH_FRAME;                             // 960
  const int max_pitch = RNN_PITCH_MAX - 3 * RNN_PITCH_MIN;    // 588
  const int grid = static_cast<int>(gridDim.x);
  // Latency mode (every block has at most one row): RemoveDoubling's +-1 lag correlations are
  // computed speculatively for every candidate, next to the candidates (one serial phase less).
  // Throughput mode (blocks loop over rows, the SMs are busy): only the chosen lag's two, after
  // the decision (30 inner products of 480 fewer per row). The same calls either way.
  const bool speculate = count <= grid;
  __shared__ int next_row[2];  // by iteration parity: taken in phase 0, read after the last barrier
  int it = 0;
  for (int b = blockIdx.x; b < count; b = next_row[it++ & 1]) {
    if (tid == 0) {
#ifdef __CUDACC_RTC__
      next_row[it & 1] = count > grid ? grid + atomicAdd(const_cast<int*>(ctl) + 1, 1) : count;
#else
      next_row[it & 1] = b + grid;  // host shim (tests): static striding
#endif
    }
    const int slot = ctl[16 + b];
    float* st = state + static_cast<long long>(slot) * state_stride;
    int* sti = reinterpret_cast<int*>(st);
    const T* inr = in + static_cast<long long>(b) * in_stride;
    float* fx = frames + static_cast<long long>(2 * b) * RNN_WINDOW;
    float* fp = fx + RNN_WINDOW;

    // Phase 0: the input, the pitch history shifted by a hop (read before anything writes it
    // back), and PitchDownsample's low-pass of the part of it that does not depend on this hop
    // (lp0 + 5 + i for i < RNN_LP_OLD reads pb[2i - 1 .. 2i + 1] < RNN_PITCH_BUF - RNN_HOP),
    // computed from the same values as below.
    const float* hist = st + RNN_ST_PITCH + RNN_HOP;
    for (int i = tid; i < RNN_HOP; i += blockDim.x) xs[i] = HP ? fp[i] : rnn_pcm_in(inr[i]);
    for (int i = tid; i < RNN_PITCH_BUF - RNN_HOP; i += blockDim.x) pb[i] = hist[i];
    if (PRE) {  // lp, the running energies (syy_c at lp0, syy_f at lp0 + 160), yy_lag and xx
      const float* psr = ps + static_cast<long long>(b) * RNN_PS_STRIDE;
      for (int i = tid; i < RNN_LP_LEN; i += blockDim.x) lp[i] = psr[RNN_PS_LP + i];
      for (int i = tid; i < (RNN_PITCH_MAX - 3 * RNN_PITCH_MIN) / 4; i += blockDim.x) lp0[i] = psr[RNN_PS_SYYC + i];
      for (int i = tid; i < (RNN_PITCH_MAX - 3 * RNN_PITCH_MIN) / 2; i += blockDim.x)
        lp0[160 + i] = psr[RNN_PS_SYYF + i];
      for (int i = tid; i <= RNN_PITCH_MAX / 2; i += blockDim.x) yy_lag[i] = psr[RNN_PS_YY + RNN_PITCH_MAX / 2 - i];
      if (tid == 2) ips[0] = psr[RNN_PS_YY + RNN_PITCH_MAX / 2];
    } else {
      for (int i = tid; i < RNN_LP_OLD; i += blockDim.x) lp0[5 + i] = rnn_lowpass(hist, i);
      if (tid < 5) lp0[tid] = 0.f;
    }
    // The analysis frame's first half (the previous hop) and what RemoveDoubling reads from the
    // state, loaded now rather than on the serial path.
    for (int i = tid; i < RNN_HOP; i += blockDim.x) fx[i] = __fmul_rn(st[RNN_ST_ANALYSIS + i], window[i]);
    if (tid == 1) {
      prev_period_s = sti[RNN_ST_LAST_PERIOD] / 2;
      prev_gain_s = st[RNN_ST_LAST_GAIN];
    }
    float m0 = 0.f, m1 = 0.f;  // the high-pass memory (thread 0)
    if (!HP && tid == 0) {
      m0 = st[RNN_ST_HP];
      m1 = st[RNN_ST_HP + 1];
    }
    __syncthreads();
    // Phase 1: the high-pass (audio::Biquad with b = {-2, 1}, a = {-1.99599, 0.99600}) on
    // thread 0, a serial chain; meanwhile warp 1's lanes 0-4 start the autocorrelation lags on
    // the old part (the CPU's bulk loop sums j in index order; its first RNN_AC_SPLIT terms,
    // o[j] o[j + k] with j + k < RNN_LP_OLD, are known already).
    const float* o = lp0 + 5;
    float ac_bulk = 0.f;  // warp 1, lanes 0-4: lag tid - 32, carried to the second half below
    if (!HP && tid == 0) {
      if (!(ctl[RNN_CTL_FLAGS] & RNN_CTL_NO_HIGHPASS)) {  // (else: the input as is, the state unused)
#pragma unroll 8
        for (int i = 0; i < RNN_HOP; ++i) {
          const float x = xs[i];
          const float y = __fadd_rn(x, m0);
          m0 = __fadd_rn(m1, __fsub_rn(__fmul_rn(-2.f, x), __fmul_rn(-1.99599f, y)));
          m1 = __fsub_rn(__fmul_rn(1.f, x), __fmul_rn(0.99600f, y));
          xs[i] = y;
        }
        st[RNN_ST_HP] = m0;
        st[RNN_ST_HP + 1] = m1;
      }
    } else if (!PRE && tid >= 32 && tid < 37) {
      const int k = tid - 32;
#pragma unroll 8
      for (int j = 0; j < RNN_AC_SPLIT; ++j) ac_bulk = __fadd_rn(ac_bulk, __fmul_rn(o[j], o[j + k]));
    }
    __syncthreads();
    for (int i = tid; i < RNN_HOP; i += blockDim.x) {
      pb[RNN_PITCH_BUF - RNN_HOP + i] = xs[i];
      fx[RNN_HOP + i] = __fmul_rn(xs[i], window[RNN_HOP + i]);
    }
    __syncthreads();
    for (int i = tid; i < RNN_HOP; i += blockDim.x) st[RNN_ST_ANALYSIS + i] = xs[i];
    for (int i = tid; i < RNN_PITCH_BUF; i += blockDim.x) st[RNN_ST_PITCH + i] = pb[i];

    // PitchDownsample: low-pass and decimate by 2 (the rest, which reads this hop).
    if (!PRE) {  // (rnn_frontend_pre: lp came from the scratch; the next barrier orders it)
      for (int i = RNN_LP_OLD + tid; i < RNN_LP_LEN; i += blockDim.x) lp0[5 + i] = rnn_lowpass(pb, i);
      __syncthreads();
      if (tid >= 32 && tid < 37) {  // autocorrelation lag k: the bulk, then the tail, as the CPU sums them
        const int k = tid - 32, fast = RNN_LP_LEN - 4;
#pragma unroll 8
        for (int j = RNN_AC_SPLIT; j < fast; ++j) ac_bulk = __fadd_rn(ac_bulk, __fmul_rn(o[j], o[j + k]));
        float tail = 0.f;
        for (int i = k + fast; i < RNN_LP_LEN; ++i) tail = __fadd_rn(tail, __fmul_rn(o[i], o[i - k]));
        ac[k] = __fadd_rn(ac_bulk, tail);
      }
      __syncthreads();
      if (tid == 0) {
        float a[5];
        a[0] = __fmul_rn(ac[0], 1.0001f);
        for (int i = 1; i <= 4; ++i) {
          const float w = __fmul_rn(.008f, static_cast<float>(i));
          a[i] = __fsub_rn(ac[i], __fmul_rn(__fmul_rn(ac[i], w), w));
        }
        float lpc[4] = {0.f, 0.f, 0.f, 0.f};
        float err = a[0];
        if (a[0] != 0.f) {
          for (int i = 0; i < 4; ++i) {
            float acc = 0.f;
            for (int j = 0; j < i; ++j) acc = __fadd_rn(acc, __fmul_rn(lpc[j], a[i - j]));
            acc = __fadd_rn(acc, a[i + 1]);
            const float k = __fdiv_rn(-acc, err);
            lpc[i] = k;
            for (int j = 0; j < (i + 1) >> 1; ++j) {
              const float p = lpc[j], q = lpc[i - 1 - j];
              lpc[j] = __fadd_rn(p, __fmul_rn(k, q));
              lpc[i - 1 - j] = __fadd_rn(q, __fmul_rn(k, p));
            }
            err = __fsub_rn(err, __fmul_rn(__fmul_rn(k, k), err));
            if (err < __fmul_rn(.001f, a[0])) break;
          }
        }
        float bw = 1.f;
        for (int i = 0; i < 4; ++i) {
          bw = __fmul_rn(bw, .9f);
          lpc[i] = __fmul_rn(lpc[i], bw);
        }
        const float c1 = .8f;
        fir[0] = __fadd_rn(lpc[0], .8f);
        fir[1] = __fadd_rn(lpc[1], __fmul_rn(c1, lpc[0]));
        fir[2] = __fadd_rn(lpc[2], __fmul_rn(c1, lpc[1]));
        fir[3] = __fadd_rn(lpc[3], __fmul_rn(c1, lpc[2]));
        fir[4] = __fmul_rn(c1, lpc[3]);
      }
      __syncthreads();
      for (int i = tid; i < RNN_LP_LEN; i += blockDim.x) {
        float v = __fadd_rn(o[i], __fmul_rn(fir[0], o[i - 1]));
        v = __fadd_rn(v, __fmul_rn(fir[1], o[i - 2]));
        v = __fadd_rn(v, __fmul_rn(fir[2], o[i - 3]));
        v = __fadd_rn(v, __fmul_rn(fir[3], o[i - 4]));
        lp[i] = __fadd_rn(v, __fmul_rn(fir[4], o[i - 5]));
      }
    }  // !PRE
    __syncthreads();

    // PitchSearch(lp + kMaxPeriod / 2, lp, 960, 588): coarse at 4x decimation.
    const float* xlp = lp + RNN_PITCH_MAX / 2;
    for (int j = tid; j < len >> 2; j += blockDim.x) x4[j] = xlp[2 * j];
    for (int j = tid; j < (len + max_pitch) >> 2; j += blockDim.x) y4[j] = lp[2 * j];
    __syncthreads();
    // Every serial chain runs on its own warp, next to the parallel work (divergent lanes of
    // one warp would run one after the other).
    // Phase 1: the coarse cross-correlation on warps 0-1; warp 2: the coarse search's initial
    // energy and its running energies (rnn_syy_track); warp 3: the fine search's initial energy.
    const int maxp = RNN_PITCH_MAX / 2, minp = RNN_PITCH_MIN / 2, n = RNN_PITCH_FRAME / 2;
    const float* x = lp + maxp;
    float* syy_c = lp0;        // lp0 is dead once lp is built: the two searches' running
    float* syy_f = lp0 + 160;  // energies (147 and 294 floats) live there
    // avx2 bit 3 (GHOSTNV_CUDA_PLAN_XCORR3=1): three lags per thread (rnn_xcorr_lag3) for the
    // 144 lags below the AVX2 tail, one each for the last 3: 51 threads, one round.
    const int whole3 = (max_pitch >> 2) / 8 * 8;  // 144
    if (avx2_in & 8) {
      if (tid < whole3 / 3) {
        rnn_xcorr_lag3(x4, y4, len >> 2, 3 * tid, avx2, xc);
      } else if (tid < whole3 / 3 + (max_pitch >> 2) - whole3) {
        const int k = whole3 + tid - whole3 / 3;
        xc[k] = rnn_xcorr_lag(x4, y4, len >> 2, k, max_pitch >> 2, avx2);
      } else if (!PRE && tid == 64) {
        rnn_syy_track(y4, len >> 2, max_pitch >> 2, rnn_energy1(y4, len >> 2), syy_c);
      } else if (!PRE && tid == 96) {
        syy0f = rnn_energy1(lp, len >> 1);
      }
    } else if (PRE) {  // the energies are loaded: every warp on the cross-correlation
      for (int k = tid; k < max_pitch >> 2; k += blockDim.x)
        xc[k] = rnn_xcorr_lag(x4, y4, len >> 2, k, max_pitch >> 2, avx2);
    } else if (tid < 64) {
      for (int k = tid; k < max_pitch >> 2; k += 64)
        xc[k] = rnn_xcorr_lag(x4, y4, len >> 2, k, max_pitch >> 2, avx2);
    } else if (tid == 64) {
      rnn_syy_track(y4, len >> 2, max_pitch >> 2, rnn_energy1(y4, len >> 2), syy_c);
    } else if (tid == 96) {
      syy0f = rnn_energy1(lp, len >> 1);
    }
    __syncthreads();
    // Phase 2: thread 0 scans the coarse correlation and lists the fine search's lags (within 2
    // of twice a coarse candidate, increasing: the only ones the CPU computes, all others are 0);
    // warp 1: the fine search's running energies; warp 2: RemoveDoubling's xx and delayed-window
    // energies yy_lag (decimated domain, x = lp + 384); they depend only on lp.
    if (tid == 0) {
      RnnBest r;
      rnn_best_init(r);
#pragma unroll 4
      for (int i = 0; i < max_pitch >> 2; ++i) rnn_best_step(r, xc[i], syy_c[i], i);
      best[0] = r.b0;
      best[1] = r.b1;
      const int lo = r.b0 < r.b1 ? r.b0 : r.b1, hi = r.b0 < r.b1 ? r.b1 : r.b0;
      int m = 0;
      for (int i = 2 * lo - 2 < 0 ? 0 : 2 * lo - 2; i <= 2 * lo + 2 && i < max_pitch >> 1; ++i) fine_lag[m++] = i;
      for (int i = 2 * hi - 2 < 2 * lo + 3 ? 2 * lo + 3 : 2 * hi - 2; i <= 2 * hi + 2 && i < max_pitch >> 1; ++i)
        fine_lag[m++] = i;
      fine_n = m;
    } else if (!PRE && tid == 32) {
      rnn_syy_track(lp, len >> 1, max_pitch >> 1, syy0f, syy_f);
    } else if (!PRE && tid == 64) {
      const float xx = rnn_inner(x, x, n, avx2);
      ips[0] = xx;
      float yy = xx;
      yy_lag[0] = xx;
#pragma unroll 4
      for (int i = 1; i <= maxp; ++i) {
        yy = __fsub_rn(__fadd_rn(yy, __fmul_rn(x[-i], x[-i])), __fmul_rn(x[n - i], x[n - i]));
        yy_lag[i] = rnn_maxf(0.f, yy);
      }
    }
    __syncthreads();
    const int b0 = best[0], b1 = best[1];
    // Phase 3: the fine search's lags, one thread each (at most 10); with the AVX2 order: one
    // warp each (rnn_inner480_warp; so are RemoveDoubling's inner products below).
    const bool wcoop = avx2 && !(avx2_in & 4);  // (avx2 bit 2: one lane each, for A/B runs)
    const int warp = tid >> 5, lane = tid & 31, warps = static_cast<int>(blockDim.x) >> 5;
    if (wcoop) {
      for (int q = warp; q < fine_n; q += warps) {
        const int i = fine_lag[q];
        const float v = rnn_inner480_warp(xlp, lp + i, lane);
        if (lane == 0) xc[i] = rnn_maxf(-1.f, v);
      }
    } else if (tid < fine_n) {
      const int i = fine_lag[tid];
      xc[i] = rnn_maxf(-1.f, rnn_inner(xlp, lp + i, len >> 1, avx2));
    }
    __syncthreads();
    if (tid == 0) {
      RnnBest r;
      rnn_best_init(r);
      for (int q = 0; q < fine_n; ++q) rnn_best_step(r, xc[fine_lag[q]], syy_f[fine_lag[q]], fine_lag[q]);
      // The fine correlation at i: computed for the listed lags, 0 for all others (as the CPU).
      auto fine = [&](int i) { return (abs(i - 2 * b0) <= 2 || abs(i - 2 * b1) <= 2) ? xc[i] : 0.f; };
      int offset = 0;
      const int bb = r.b0;
      if (bb > 0 && bb < (max_pitch >> 1) - 1) {
        const float a = fine(bb - 1), bm = fine(bb), c = fine(bb + 1);
        if (__fsub_rn(c, a) > __fmul_rn(.7f, __fsub_rn(bm, a))) offset = 1;
        else if (__fsub_rn(a, c) > __fmul_rn(.7f, __fsub_rn(bm, c))) offset = -1;
      }
      int t0 = RNN_PITCH_MAX - (2 * bb - offset);
      // RemoveDoubling's rescaling to the decimated domain.
      t0 /= 2;
      if (t0 >= RNN_PITCH_MAX / 2) t0 = RNN_PITCH_MAX / 2 - 1;
      t0s = t0;
    }
    __syncthreads();

    // RemoveDoubling(lp, 768, 60, 960, ...): x = lp + 384, n = 480, in the decimated domain.
    const int t0 = t0s;
    // ips[0] = xx (above), ips[1] = xy(t0), ips[2k-2] = xy(t1_k), ips[2k-1] = xy(t1b_k), k = 2..15.
    const auto rd_lag = [&](int q) {
      int lag = 0;
      if (q == 1) {
        lag = t0;
      } else if (q >= 2) {
        const int k = q / 2 + 1;
        const int t1 = (2 * t0 + k) / (2 * k);
        if (q % 2 == 0) {
          lag = t1;
        } else {
          lag = k == 2 ? ((t1 + t0 > maxp) ? t0 : t0 + t1) : (2 * rnn_second_check[k] * t0 + k) / (2 * k);
        }
        if (t1 < minp) lag = -1;
      }
      return lag;
    };
    if (wcoop) {  // one warp per inner product: the 29 candidates, then (speculating) the 30 +-1 lags
      const int items = speculate ? 59 : 29;
      for (int w = warp; w < items; w += warps) {
        if (w < 29) {
          const int lag = rd_lag(w + 1);
          const float v = lag >= 0 ? rnn_inner480_warp(x, x - lag, lane) : 0.f;
          if (lane == 0) ips[w + 1] = v;
        } else {
          const int j = (w - 29) % 15 + 1, side = w - 29 < 15 ? -1 : 1;
          const int t1 = j == 1 ? t0 : (2 * t0 + j) / (2 * j);
          const float v = t1 >= minp ? rnn_inner480_warp(x, x - (t1 + side), lane) : 0.f;
          if (lane == 0) (side < 0 ? ipm : ipp)[j] = v;
        }
      }
    } else if (tid >= 1 && tid < 30) {
      const int lag = rd_lag(tid);
      ips[tid] = lag >= 0 ? rnn_inner(x, x - lag, n, avx2) : 0.f;
    } else if (speculate && ((tid >= 33 && tid < 48) || (tid >= 65 && tid < 80))) {
      // Speculatively, the correlations one lag either side of every candidate (t0 at index 1,
      // t1_k at index k): the final period refinement needs them around the chosen one. Same
      // call as the CPU's for that lag, so the same value; runs next to warp 0 (warps 1, 2).
      const int j = tid & 31, side = tid < 64 ? -1 : 1;
      const int t1 = j == 1 ? t0 : (2 * t0 + j) / (2 * j);
      const float v = t1 >= minp ? rnn_inner(x, x - (t1 + side), n, avx2) : 0.f;
      (side < 0 ? ipm : ipp)[j] = v;
    }
    __syncthreads();
    // RemoveDoubling's candidates k = 2..15 do not depend on each other (each one that passes
    // its threshold overwrites the choice, so the last passing k wins): thread k evaluates k with
    // the CPU's operations, thread 0 then takes the last that passed. The CPU loop's break at
    // the first t1 < minp is the same as skipping every such k: t1 = floor(t0 / k + 1/2) only
    // decreases with k.
    if (tid >= 2 && tid <= 15) {
      const int k = tid;
      const int t1 = (2 * t0 + k) / (2 * k);
      int pass = 0;
      if (t1 >= minp) {
        const int prev_period = prev_period_s;
        const float prev_gain = prev_gain_s;
        const float g0 = rnn_pitch_gain(ips[1], ips[0], yy_lag[t0]);
        const int t1b = k == 2 ? ((t1 + t0 > maxp) ? t0 : t0 + t1) : (2 * rnn_second_check[k] * t0 + k) / (2 * k);
        const float xy1 = ips[2 * k - 2], xy2 = ips[2 * k - 1];
        const float cxy = __fmul_rn(.5f, __fadd_rn(xy1, xy2));
        const float cyy = __fmul_rn(.5f, __fadd_rn(yy_lag[t1], yy_lag[t1b]));
        const float g1 = rnn_pitch_gain(cxy, ips[0], cyy);
        float cont;
        if (abs(t1 - prev_period) <= 1) cont = prev_gain;
        else if (abs(t1 - prev_period) <= 2 && 5 * k * k < t0) cont = __fmul_rn(prev_gain, .5f);
        else cont = 0.f;
        float thresh = rnn_maxf(.3f, __fsub_rn(__fmul_rn(.7f, g0), cont));
        if (t1 < 3 * minp) thresh = rnn_maxf(.4f, __fsub_rn(__fmul_rn(.85f, g0), cont));
        else if (t1 < 2 * minp) thresh = rnn_maxf(.5f, __fsub_rn(__fmul_rn(.9f, g0), cont));
        pass = g1 > thresh ? 1 : 0;
        rd_xy[k] = cxy;
        rd_yy[k] = cyy;
        rd_g[k] = g1;
        rd_t[k] = t1;
      }
      rd_ok[k] = pass;
    }
    __syncthreads();
    if (tid == 0) {
      const float xx = ips[0], xy = ips[1];
      int best_t = t0, best_k = 1;
      const float yy = yy_lag[t0];
      float best_xy = xy, best_yy = yy;
      float g = rnn_pitch_gain(xy, xx, yy);
      for (int k = 2; k <= 15; ++k) {
        if (rd_ok[k]) {
          best_xy = rd_xy[k];
          best_yy = rd_yy[k];
          best_t = rd_t[k];
          best_k = k;
          g = rd_g[k];
        }
      }
      best_xy = rnn_maxf(0.f, best_xy);
      float pg = (best_yy <= best_xy) ? 1.f : __fdiv_rn(best_xy, __fadd_rn(best_yy, 1.f));
      if (pg > g) pg = g;
      st[RNN_ST_LAST_GAIN] = pg;
      // Correlations at best_t - 1, best_t, best_t + 1 (the +-1 ones computed above when
      // speculating, else in the next phase).
      const float c1v = best_k == 1 ? ips[1] : ips[2 * best_k - 2];
      if (speculate) {
        t0s = rnn_final_period(ipm[best_k], c1v, ipp[best_k], best_t, sti);
      } else {
        rd_xy[0] = c1v;
        rd_t[0] = best_t;
      }
    }
    __syncthreads();
    if (!speculate) {
      if (wcoop) {  // warps 0 and 1
        if (warp < 2) {
          const float v = rnn_inner480_warp(x, x - (rd_t[0] + (warp == 0 ? -1 : 1)), lane);
          if (lane == 0) (warp == 0 ? ipm : ipp)[0] = v;
        }
      } else if (tid < 2) {  // lanes of one warp: the two inner products issue as one
        const int lag = rd_t[0] + (tid == 0 ? -1 : 1);
        (tid == 0 ? ipm : ipp)[0] = rnn_inner(x, x - lag, n, avx2);
      }
      __syncthreads();
      if (tid == 0) t0s = rnn_final_period(ipm[0], rd_xy[0], ipp[0], rd_t[0], sti);
      __syncthreads();
    }
    // The window one pitch period in the past.
    const float* src = pb + RNN_PITCH_BUF - RNN_WINDOW - t0s;
    for (int i = tid; i < RNN_WINDOW; i += blockDim.x) fp[i] = __fmul_rn(src[i], window[i]);
    __syncthreads();  // shared buffers are reused by the next row
  }
}

extern "C" __global__ void __launch_bounds__(128, RNN_FRONTEND_BLOCKS_PER_SM)
rnn_frontend_f32(const float* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                 float* __restrict__ state, int state_stride, const float* __restrict__ window,
                 float* __restrict__ frames, int avx2) {
  rnn_frontend<false>(in, in_stride, ctl, state, state_stride, window, frames, avx2);
}

extern "C" __global__ void __launch_bounds__(128, RNN_FRONTEND_BLOCKS_PER_SM)
rnn_frontend_s16(const short* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                 float* __restrict__ state, int state_stride, const float* __restrict__ window,
                 float* __restrict__ frames, int avx2) {
  rnn_frontend<false>(in, in_stride, ctl, state, state_stride, window, frames, avx2);
}

// The frontend after rnn_highpass_* (same arguments; `in` is not read).
extern "C" __global__ void __launch_bounds__(128, RNN_FRONTEND_BLOCKS_PER_SM)
rnn_frontend_hp(const float* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                float* __restrict__ state, int state_stride, const float* __restrict__ window,
                float* __restrict__ frames, int avx2) {
  rnn_frontend<true>(in, in_stride, ctl, state, state_stride, window, frames, avx2);
}

// The DC high-pass of every row, one lane per row (the serial biquad chain of 480 steps is the
// longest single-lane chain of rnn_frontend: here 32 rows share one warp's issue slots).
//   rows b < ctl[0] (slot s = ctl[16 + b]): in[b] (RNN_HOP samples; float or 16-bit PCM / 32768)
//   -> frames[2b+1][0, RNN_HOP) (floats, for rnn_frontend_hp), state[s] RNN_ST_HP updated.
//   Launch: block.x = 128 (4 warps, 32 rows each), grid.x = ceil(rows / 128).
// The hop goes through shared memory in 15 tiles of 32 rows x 32 samples: the warp loads a tile
// row by row (coalesced), each lane filters its row's 32 samples in order (the CPU's operations,
// as rnn_frontend's thread 0), and the warp stores the tile row by row.
#define RNN_HP_TILE 32
template <typename T>
__device__ __forceinline__ void rnn_highpass(const T* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                                             float* __restrict__ state, int state_stride,
                                             float* __restrict__ frames) {
  __shared__ float tile[4][RNN_HP_TILE][RNN_HP_TILE + 1];
  const int count = ctl[0];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int base = (static_cast<int>(blockIdx.x) * 4 + warp) * RNN_HP_TILE;  // this warp's first row
  if (static_cast<int>(blockIdx.x) * 4 * RNN_HP_TILE >= count) return;       // the whole block
  const int b = base + lane;  // this lane's row
  const bool live = b < count;
  float* st = live ? state + static_cast<long long>(ctl[16 + b]) * state_stride : nullptr;
  float m0 = 0.f, m1 = 0.f;
  if (live) {
    m0 = st[RNN_ST_HP];
    m1 = st[RNN_ST_HP + 1];
  }
  float (*t)[RNN_HP_TILE + 1] = tile[warp];
  const bool hp_on = !(ctl[RNN_CTL_FLAGS] & RNN_CTL_NO_HIGHPASS);  // (off: a copy, the state unused)
  for (int c0 = 0; c0 < RNN_HOP; c0 += RNN_HP_TILE) {
    for (int j = 0; j < RNN_HP_TILE; ++j) {
      const int r = base + j;
      t[j][lane] = r < count ? rnn_pcm_in(in[static_cast<long long>(r) * in_stride + c0 + lane]) : 0.f;
    }
    __syncthreads();
    if (hp_on) {
#pragma unroll 8
      for (int i = 0; i < RNN_HP_TILE; ++i) {
        const float x = t[lane][i];
        const float y = __fadd_rn(x, m0);
        m0 = __fadd_rn(m1, __fsub_rn(__fmul_rn(-2.f, x), __fmul_rn(-1.99599f, y)));
        m1 = __fsub_rn(__fmul_rn(1.f, x), __fmul_rn(0.99600f, y));
        t[lane][i] = y;
      }
    }
    __syncthreads();
    for (int j = 0; j < RNN_HP_TILE; ++j) {
      const int r = base + j;
      if (r < count) frames[static_cast<long long>(2 * r + 1) * RNN_WINDOW + c0 + lane] = t[j][lane];
    }
    __syncthreads();  // the tile is reused
  }
  if (live && hp_on) {
    st[RNN_ST_HP] = m0;
    st[RNN_ST_HP + 1] = m1;
  }
}

extern "C" __global__ void __launch_bounds__(128)
rnn_highpass_f32(const float* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                 float* __restrict__ state, int state_stride, float* __restrict__ frames) {
  rnn_highpass(in, in_stride, ctl, state, state_stride, frames);
}

extern "C" __global__ void __launch_bounds__(128)
rnn_highpass_s16(const short* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                 float* __restrict__ state, int state_stride, float* __restrict__ frames) {
  rnn_highpass(in, in_stride, ctl, state, state_stride, frames);
}

// rnn_frontend_pre: rnn_frontend after rnn_pitch_lanes_* (ps = its pitch scratch, RNN_PS_STRIDE
// floats per row b; `in` is not read). Same launch as rnn_frontend_f32.
extern "C" __global__ void __launch_bounds__(128, RNN_FRONTEND_BLOCKS_PER_SM)
rnn_frontend_pre(const float* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                 float* __restrict__ state, int state_stride, const float* __restrict__ window,
                 float* __restrict__ frames, int avx2, const float* __restrict__ ps) {
  rnn_frontend<true, float, true>(in, in_stride, ctl, state, state_stride, window, frames, avx2, ps);
}

// ---------------------------------------------------------------------------------------------
// The lane-per-row frontend (CudaPlanOptions::lane_pitch): every serial float chain of a row —
// the high-pass, PitchDownsample's low-pass, autocorrelation, LPC and whitening filter, the
// coarse and fine searches' initial and running energies, RemoveDoubling's xx and yy_lag — on one
// lane, 32 rows per warp, so that one warp instruction advances 32 rows' chains instead of one
// (rnn_frontend runs each on a single lane of a 128-thread block per row: the kernel was
// issue-bound on them). Same operations in the same order as rnn_frontend, so the same bits.
//   rnn_pitch_lanes_f32/_s16: rows b < ctl[0] (slot s = ctl[16 + b]): in[b] -> high-pass ->
//     frames[2b+1][0, RNN_HOP) (for rnn_frontend_pre), state[s] RNN_ST_HP updated; the pitch
//     history state[s][RNN_ST_PITCH + RNN_HOP, +1248) is read (rnn_frontend_pre shifts it);
//     ps[b] = lp, syy_c, syy_f, yy_lag reversed (RNN_PS_*).
//   Launch: block.x = 32 * RNN_LANE_WARPS (64), grid.x = ceil(rows / 64). Then rnn_frontend_pre.
// Every global access goes through a 32 x 32 shared tile per warp (rows x positions, rotated
// so that a row and a column both touch 32 banks): the warp loads or stores one row's 32
// consecutive floats per instruction (coalesced), and each lane reads its own row's column.
// Control flow is the same on every lane (rows past the count run on zeros and store nothing).
// RNN_LANE_WARPS (rnnoise_layout.cuh): 2 warps of 4 tiles each = 32 KiB of shared memory per block.
#ifdef __CUDACC_RTC__
#define RNN_WARP_SYNC() __syncwarp()
#else
#define RNN_WARP_SYNC() __syncthreads()  // host shim (tests): the block's barrier (uniform control flow)
#endif

__device__ __forceinline__ int rnn_tix(int r, int c) { return (r << 5) | ((c + r) & 31); }

// PitchDownsample's low-pass at m from the pitch buffer values p[2m-1], p[2m], p[2m+1] (rnn_lowpass).
__device__ __forceinline__ float rnn_lowpass3(int m, float pm1, float p0, float p1) {
  if (m == 0) return __fmul_rn(.5f, __fadd_rn(__fmul_rn(.5f, p1), p0));
  return __fmul_rn(.5f, __fadd_rn(__fmul_rn(.5f, __fadd_rn(pm1, p1)), p0));
}

template <typename T>
__device__ __forceinline__ void rnn_pitch_lanes(const T* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                                                float* __restrict__ state, int state_stride,
                                                float* __restrict__ frames, float* __restrict__ ps, int avx2) {
  __shared__ float tiles[RNN_LANE_WARPS][4][32 * 32];
  __shared__ long long st_off[RNN_LANE_WARPS][32];
  const int count = ctl[0];
  avx2 &= 1;  // (bits 2, 3 are rnn_frontend's)
  if (static_cast<int>(blockIdx.x) * RNN_LANE_WARPS * 32 >= count) return;  // the whole block
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int base = (static_cast<int>(blockIdx.x) * RNN_LANE_WARPS + warp) * 32;  // the warp's first row
  const bool live = base + lane < count;
  long long* so = st_off[warp];
  so[lane] = live ? static_cast<long long>(ctl[16 + base + lane]) * state_stride : 0;
  float* ta = tiles[warp][0];
  float* tb = tiles[warp][1];
  float* tc = tiles[warp][2];
  float* td = tiles[warp][3];
  const auto fr = [&](int j) { return frames + static_cast<long long>(2 * (base + j) + 1) * RNN_WINDOW; };
  const auto pr = [&](int j) { return ps + static_cast<long long>(base + j) * RNN_PS_STRIDE; };
  // Tile loads/stores: row j of the tile <-> row base + j, positions [c0, c0 + 32) (n: end of the data).
  const auto load_pb = [&](float* t, int c0) {  // the pitch buffer: history (state), then this hop (frames)
    for (int j = 0; j < 32; ++j) {
      float v = 0.f;
      if (base + j < count)
        v = c0 < RNN_PITCH_BUF - RNN_HOP ? state[so[j] + RNN_ST_PITCH + RNN_HOP + c0 + lane] : fr(j)[c0 - (RNN_PITCH_BUF - RNN_HOP) + lane];
      t[rnn_tix(j, lane)] = v;
    }
  };
  const auto load_ps = [&](float* t, int off) {
    for (int j = 0; j < 32; ++j) t[rnn_tix(j, lane)] = base + j < count ? pr(j)[off + lane] : 0.f;
  };
  const auto store_ps = [&](const float* t, int off, int n) {  // positions off + lane < off + n
    for (int j = 0; j < 32; ++j)
      if (base + j < count && lane < n) pr(j)[off + lane] = t[rnn_tix(j, lane)];
  };
  RNN_WARP_SYNC();

  // 1. The high-pass (rnn_highpass's operations), this hop -> frames[2b+1][0, RNN_HOP).
  float* st = state + so[lane];
  const bool hp_on = !(ctl[RNN_CTL_FLAGS] & RNN_CTL_NO_HIGHPASS);  // (off: a copy, the state unused)
  float m0 = 0.f, m1 = 0.f;
  if (live && hp_on) {
    m0 = st[RNN_ST_HP];
    m1 = st[RNN_ST_HP + 1];
  }
  for (int c0 = 0; c0 < RNN_HOP; c0 += 32) {
    for (int j = 0; j < 32; ++j)
      ta[rnn_tix(j, lane)] = base + j < count ? rnn_pcm_in(in[static_cast<long long>(base + j) * in_stride + c0 + lane]) : 0.f;
    RNN_WARP_SYNC();
    if (hp_on) {
#pragma unroll 8
      for (int i = 0; i < 32; ++i) {
        const float x = ta[rnn_tix(lane, i)];
        const float y = __fadd_rn(x, m0);
        m0 = __fadd_rn(m1, __fsub_rn(__fmul_rn(-2.f, x), __fmul_rn(-1.99599f, y)));
        m1 = __fsub_rn(__fmul_rn(1.f, x), __fmul_rn(0.99600f, y));
        ta[rnn_tix(lane, i)] = y;
      }
    }
    RNN_WARP_SYNC();
    for (int j = 0; j < 32; ++j)
      if (base + j < count) fr(j)[c0 + lane] = ta[rnn_tix(j, lane)];
    RNN_WARP_SYNC();
  }
  if (live && hp_on) {
    st[RNN_ST_HP] = m0;
    st[RNN_ST_HP + 1] = m1;
  }

  // 2. Low-pass o[m] (m < 864, from the pitch buffer in 54 chunks of 32 samples = 16 outputs)
  // and the autocorrelation: o[j] o[j + k] added to lag k's bulk (j < 860) or tail (the rest)
  // when o[j + k] is produced, i.e. in j order as rnn_frontend sums them.
  constexpr int kFast = RNN_LP_LEN - 4;
  float bulk[5], tail[5], w[5];
#pragma unroll
  for (int k = 0; k < 5; ++k) bulk[k] = tail[k] = w[k] = 0.f;
  float carry = 0.f;  // p[32c - 1]
  for (int c = 0; c < RNN_PITCH_BUF / 32; ++c) {
    load_pb(ta, 32 * c);
    RNN_WARP_SYNC();
    if (c > 0 && c < RNN_PITCH_BUF / 32 - 1) {  // 16 <= m < 848: every lag's term is a bulk term
#pragma unroll
      for (int t = 0; t < 16; ++t) {
        const float o = rnn_lowpass3(1, t == 0 ? carry : ta[rnn_tix(lane, 2 * t - 1)], ta[rnn_tix(lane, 2 * t)],
                                     ta[rnn_tix(lane, 2 * t + 1)]);
        bulk[0] = __fadd_rn(bulk[0], __fmul_rn(o, o));
#pragma unroll
        for (int k = 1; k < 5; ++k) bulk[k] = __fadd_rn(bulk[k], __fmul_rn(w[k], o));
        w[4] = w[3], w[3] = w[2], w[2] = w[1], w[1] = o;
      }
    } else {
#pragma unroll
      for (int t = 0; t < 16; ++t) {
        const int m = 16 * c + t;
        const float o = rnn_lowpass3(m, t == 0 ? carry : ta[rnn_tix(lane, 2 * t - 1)], ta[rnn_tix(lane, 2 * t)],
                                     ta[rnn_tix(lane, 2 * t + 1)]);
#pragma unroll
        for (int k = 0; k < 5; ++k) {
          if (m < k) continue;
          const float prod = __fmul_rn(k == 0 ? o : w[k], o);
          if (m - k < kFast) bulk[k] = __fadd_rn(bulk[k], prod);
          else tail[k] = __fadd_rn(tail[k], prod);
        }
        w[4] = w[3], w[3] = w[2], w[2] = w[1], w[1] = o;
      }
    }
    carry = ta[rnn_tix(lane, 31)];
    RNN_WARP_SYNC();
  }
  // LPC (rnn_frontend's thread 0, per lane).
  float fir[5];
  {
    float a[5];
    a[0] = __fmul_rn(__fadd_rn(bulk[0], tail[0]), 1.0001f);
    for (int i = 1; i <= 4; ++i) {
      const float aci = __fadd_rn(bulk[i], tail[i]);
      const float wi = __fmul_rn(.008f, static_cast<float>(i));
      a[i] = __fsub_rn(aci, __fmul_rn(__fmul_rn(aci, wi), wi));
    }
    float lpc[4] = {0.f, 0.f, 0.f, 0.f};
    float err = a[0];
    if (a[0] != 0.f) {
      for (int i = 0; i < 4; ++i) {
        float acc = 0.f;
        for (int j = 0; j < i; ++j) acc = __fadd_rn(acc, __fmul_rn(lpc[j], a[i - j]));
        acc = __fadd_rn(acc, a[i + 1]);
        const float k = __fdiv_rn(-acc, err);
        lpc[i] = k;
        for (int j = 0; j < (i + 1) >> 1; ++j) {
          const float p = lpc[j], q = lpc[i - 1 - j];
          lpc[j] = __fadd_rn(p, __fmul_rn(k, q));
          lpc[i - 1 - j] = __fadd_rn(q, __fmul_rn(k, p));
        }
        err = __fsub_rn(err, __fmul_rn(__fmul_rn(k, k), err));
        if (err < __fmul_rn(.001f, a[0])) break;
      }
    }
    float bw = 1.f;
    for (int i = 0; i < 4; ++i) {
      bw = __fmul_rn(bw, .9f);
      lpc[i] = __fmul_rn(lpc[i], bw);
    }
    const float c1 = .8f;
    fir[0] = __fadd_rn(lpc[0], .8f);
    fir[1] = __fadd_rn(lpc[1], __fmul_rn(c1, lpc[0]));
    fir[2] = __fadd_rn(lpc[2], __fmul_rn(c1, lpc[1]));
    fir[3] = __fadd_rn(lpc[3], __fmul_rn(c1, lpc[2]));
    fir[4] = __fmul_rn(c1, lpc[3]);
  }

  // 3. The whitening filter: the low-pass again (same operations, same values), lp[m] into the
  // scratch (tile tb, flushed every 32 outputs), and both searches' initial energies (1 + the sum
  // of squares of lp[2j], j < 240, and of lp[j], j < 480, in index order).
  float ec = 1.f, ef = 1.f;
#pragma unroll
  for (int k = 0; k < 5; ++k) w[k] = 0.f;
  float w5 = 0.f;
  carry = 0.f;
  for (int c = 0; c < RNN_PITCH_BUF / 32; ++c) {
    load_pb(ta, 32 * c);
    RNN_WARP_SYNC();
    const int h = 16 * (c & 1);
#pragma unroll
    for (int t = 0; t < 16; ++t) {
      const int m = 16 * c + t;
      const float o = rnn_lowpass3(m, t == 0 ? carry : ta[rnn_tix(lane, 2 * t - 1)], ta[rnn_tix(lane, 2 * t)],
                                   ta[rnn_tix(lane, 2 * t + 1)]);
      float v = __fadd_rn(o, __fmul_rn(fir[0], w[1]));
      v = __fadd_rn(v, __fmul_rn(fir[1], w[2]));
      v = __fadd_rn(v, __fmul_rn(fir[2], w[3]));
      v = __fadd_rn(v, __fmul_rn(fir[3], w[4]));
      v = __fadd_rn(v, __fmul_rn(fir[4], w5));
      w5 = w[4], w[4] = w[3], w[3] = w[2], w[2] = w[1], w[1] = o;
      tb[rnn_tix(lane, h + t)] = v;
      if (m < RNN_PITCH_FRAME / 2) {
        const float v2 = __fmul_rn(v, v);
        ef = __fadd_rn(ef, v2);
        if ((t & 1) == 0) ec = __fadd_rn(ec, v2);
      }
    }
    carry = ta[rnn_tix(lane, 31)];
    RNN_WARP_SYNC();
    if (c & 1) {
      store_ps(tb, RNN_PS_LP + 32 * (c >> 1), 32);
      RNN_WARP_SYNC();
    }
  }

  // 4. xx = rnn_inner(x, x, 480) with x = lp + 384 (32 partial sums, element e to sum e % 32, in
  // block order: x's first 96 elements are lp[384, 480), read first), and the running energies:
  // coarse syy_c[i] (steps i < 146 at p = 2i), fine syy_f[i] (steps i < 293 at p = i), each step
  // lp[p + 480]^2 - lp[p]^2 (rnn_syy_track). Tile tc / td collect syy_f / syy_c.
  float acc[32];
#pragma unroll
  for (int l = 0; l < 32; ++l) acc[l] = 0.f;
  float sx = 0.f;
  const auto xx_block = [&](const float* t) {
#pragma unroll
    for (int l = 0; l < 32; ++l) {
      const float v = t[rnn_tix(lane, l)];
      if (avx2) acc[l] = __fmaf_rn(v, v, acc[l]);
      else sx = __fadd_rn(sx, __fmul_rn(v, v));
    }
  };
  for (int c0 = RNN_PITCH_MAX / 2; c0 < RNN_PITCH_FRAME / 2; c0 += 32) {
    load_ps(ta, RNN_PS_LP + c0);
    RNN_WARP_SYNC();
    xx_block(ta);
    RNN_WARP_SYNC();
  }
  constexpr int kCoarse = (RNN_PITCH_MAX - 3 * RNN_PITCH_MIN) / 4 - 1;  // 146 steps
  constexpr int kFine = (RNN_PITCH_MAX - 3 * RNN_PITCH_MIN) / 2 - 1;    // 293 steps
  float vc = ec, vf = ef;
  for (int c0 = 0; c0 < RNN_PITCH_MAX / 2; c0 += 32) {
    load_ps(ta, RNN_PS_LP + c0);
    load_ps(tb, RNN_PS_LP + RNN_PITCH_FRAME / 2 + c0);
    RNN_WARP_SYNC();
    if (c0 <= kFine) {
#pragma unroll
      for (int t = 0; t < 32; ++t) {
        const int p = c0 + t;
        const float y0 = ta[rnn_tix(lane, t)], y1 = tb[rnn_tix(lane, t)];
        const float d = __fsub_rn(__fmul_rn(y1, y1), __fmul_rn(y0, y0));
        if (p <= kFine) {
          tc[rnn_tix(lane, t)] = vf;
          if (p < kFine) vf = rnn_maxf(1.f, __fadd_rn(vf, d));
        }
        if ((t & 1) == 0 && p / 2 <= kCoarse) {
          td[rnn_tix(lane, ((c0 >> 1) & 31) + (t >> 1))] = vc;
          if (p / 2 < kCoarse) vc = rnn_maxf(1.f, __fadd_rn(vc, d));
        }
      }
    }
    xx_block(tb);
    RNN_WARP_SYNC();
    if (c0 <= kFine) {
      store_ps(tc, RNN_PS_SYYF + c0, kFine + 1 - c0);
      if (((c0 >> 5) & 1) || c0 + 32 > kFine) {
        const int i0 = (c0 >> 1) & ~31;
        store_ps(td, RNN_PS_SYYC + i0, kCoarse + 1 - i0);
      }
      RNN_WARP_SYNC();
    }
  }
  float xx = sx;
  if (avx2) {  // rnn_inner's final sums (whole = n = 480: no tails)
    float t8[8], s4[4];
#pragma unroll
    for (int l = 0; l < 8; ++l) t8[l] = __fadd_rn(acc[l], acc[8 + l]);
#pragma unroll
    for (int l = 0; l < 8; ++l) t8[l] = __fadd_rn(t8[l], __fadd_rn(acc[16 + l], acc[24 + l]));
#pragma unroll
    for (int l = 0; l < 4; ++l) s4[l] = __fadd_rn(t8[l], t8[l + 4]);
    xx = __fadd_rn(__fadd_rn(s4[0], s4[2]), __fadd_rn(s4[1], s4[3]));
  }

  // 5. yy_lag[i] (i = 1..384: + lp[384 - i]^2 - lp[864 - i]^2, then max(0, .)), stored at
  // RNN_PS_YY + 384 - i, chunks of a = 384 - i in decreasing order; yy_lag[0] = xx.
  if (live) pr(lane)[RNN_PS_YY + RNN_PITCH_MAX / 2] = xx;
  float yy = xx;
  for (int c0 = RNN_PITCH_MAX / 2 - 32; c0 >= 0; c0 -= 32) {
    load_ps(ta, RNN_PS_LP + c0);
    load_ps(tb, RNN_PS_LP + RNN_PITCH_FRAME / 2 + c0);
    RNN_WARP_SYNC();
#pragma unroll
    for (int t = 31; t >= 0; --t) {
      const float xa = ta[rnn_tix(lane, t)], xb = tb[rnn_tix(lane, t)];
      yy = __fsub_rn(__fadd_rn(yy, __fmul_rn(xa, xa)), __fmul_rn(xb, xb));
      tc[rnn_tix(lane, t)] = rnn_maxf(0.f, yy);
    }
    RNN_WARP_SYNC();
    store_ps(tc, RNN_PS_YY + c0, 32);
    RNN_WARP_SYNC();
  }
}

extern "C" __global__ void __launch_bounds__(32 * RNN_LANE_WARPS)
rnn_pitch_lanes_f32(const float* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                    float* __restrict__ state, int state_stride, float* __restrict__ frames,
                    float* __restrict__ ps, int avx2) {
  rnn_pitch_lanes(in, in_stride, ctl, state, state_stride, frames, ps, avx2);
}

extern "C" __global__ void __launch_bounds__(32 * RNN_LANE_WARPS)
rnn_pitch_lanes_s16(const short* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                    float* __restrict__ state, int state_stride, float* __restrict__ frames,
                    float* __restrict__ ps, int avx2) {
  rnn_pitch_lanes(in, in_stride, ctl, state, state_stride, frames, ps, avx2);
}
