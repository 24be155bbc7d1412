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
// exactly the pitch decisions the CPU path of the same machine takes.
//
//   rnn_frontend_f32: for row b < ctl[0] (slot s = ctl[16 + b]):
//     in[b] (RNN_HOP floats) -> high-pass -> state[s] updated (RNN_ST_HP, ANALYSIS, PITCH,
//     LAST_GAIN, LAST_PERIOD, PERIOD);
//     frames[2b]   = window * [previous hop | this hop]           (RNN_WINDOW floats)
//     frames[2b+1] = window * pitch history delayed by the period  (RNN_WINDOW floats)
//   Launch: grid.x >= 1 (blocks loop over rows), block.x = 128 (any >= 97 works; 128 gives
//   8 blocks, i.e. 8 sessions, per SM: 64 registers, 21 KB of shared memory each).
#include "gpu_common.cuh"
#include "rnnoise_layout.cuh"

#define RNN_LP_LEN (RNN_PITCH_BUF / 2)  // 864

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

// audio::pitch FindBestPitch, sequential (one thread).
// syy0: 1 + sum_{j<len} y[j]^2 summed in index order (rnn_energy1), computed ahead by another
// thread.
__device__ void rnn_find_best_pitch(const float* xcorr, const float* y, int len, int max_pitch,
                                    float syy0, int* best) {
  float num0 = -1.f, num1 = -1.f, den0 = 0.f, den1 = 0.f;
  best[0] = 0;
  best[1] = 1;
  float syy = syy0;
#pragma unroll 4
  for (int i = 0; i < max_pitch; ++i) {
    if (xcorr[i] > 0.f) {
      const float c = __fmul_rn(xcorr[i], 1e-12f);
      const float c2 = __fmul_rn(c, c);
      if (__fmul_rn(c2, den1) > __fmul_rn(num1, syy)) {
        if (__fmul_rn(c2, den0) > __fmul_rn(num0, syy)) {
          num1 = num0;
          den1 = den0;
          best[1] = best[0];
          num0 = c2;
          den0 = syy;
          best[0] = i;
        } else {
          num1 = c2;
          den1 = syy;
          best[1] = i;
        }
      }
    }
    syy = __fadd_rn(syy, __fsub_rn(__fmul_rn(y[i + len], y[i + len]), __fmul_rn(y[i], y[i])));
    syy = rnn_maxf(1.f, syy);
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

extern "C" __global__ void __launch_bounds__(128, 8)
rnn_frontend_f32(const float* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                 float* __restrict__ state, int state_stride, const float* __restrict__ window,
                 float* __restrict__ frames, int avx2) {
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
  __shared__ float yy_lag[RNN_PITCH_MAX / 2 + 1];
  __shared__ int best[2];
  __shared__ int t0s, best_ts;
  __shared__ float syy0c, syy0f;

  const int count = ctl[0];
  const int tid = threadIdx.x;
  const int len = RNN_PITCH_FRAME;                             // 960
  const int max_pitch = RNN_PITCH_MAX - 3 * RNN_PITCH_MIN;    // 588
  for (int b = blockIdx.x; b < count; b += gridDim.x) {
    const int slot = ctl[16 + b];
    float* st = state + static_cast<long long>(slot) * state_stride;
    int* sti = reinterpret_cast<int*>(st);
    const float* inr = in + static_cast<long long>(b) * in_stride;
    float* fx = frames + static_cast<long long>(2 * b) * RNN_WINDOW;
    float* fp = fx + RNN_WINDOW;

    // High-pass (audio::Biquad with b = {-2, 1}, a = {-1.99599, 0.99600}); one thread.
    for (int i = tid; i < RNN_HOP; i += blockDim.x) xs[i] = inr[i];
    __syncthreads();
    if (tid == 0) {
      float m0 = st[RNN_ST_HP], m1 = st[RNN_ST_HP + 1];
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
    // Pitch history shifted by a hop (read before anything writes it back).
    for (int i = tid; i < RNN_PITCH_BUF - RNN_HOP; i += blockDim.x) pb[i] = st[RNN_ST_PITCH + RNN_HOP + i];
    __syncthreads();
    for (int i = tid; i < RNN_HOP; i += blockDim.x) {
      pb[RNN_PITCH_BUF - RNN_HOP + i] = xs[i];
      fx[i] = __fmul_rn(st[RNN_ST_ANALYSIS + i], window[i]);
      fx[RNN_HOP + i] = __fmul_rn(xs[i], window[RNN_HOP + i]);
    }
    __syncthreads();
    for (int i = tid; i < RNN_HOP; i += blockDim.x) st[RNN_ST_ANALYSIS + i] = xs[i];
    for (int i = tid; i < RNN_PITCH_BUF; i += blockDim.x) st[RNN_ST_PITCH + i] = pb[i];

    // PitchDownsample: low-pass and decimate by 2.
    for (int i = tid; i < RNN_LP_LEN; i += blockDim.x) {
      float v;
      if (i == 0) v = __fmul_rn(.5f, __fadd_rn(__fmul_rn(.5f, pb[1]), pb[0]));
      else v = __fmul_rn(.5f, __fadd_rn(__fmul_rn(.5f, __fadd_rn(pb[2 * i - 1], pb[2 * i + 1])), pb[2 * i]));
      lp0[5 + i] = v;
    }
    if (tid < 5) lp0[tid] = 0.f;
    __syncthreads();
    const float* o = lp0 + 5;
    if (tid < 5) {  // autocorrelation lag tid: the bulk, then the tail, as the CPU sums them
      const int k = tid, fast = RNN_LP_LEN - 4;
      float bulk = 0.f;
#pragma unroll 8
      for (int j = 0; j < fast; ++j) bulk = __fadd_rn(bulk, __fmul_rn(o[j], o[j + k]));
      float tail = 0.f;
      for (int i = k + fast; i < RNN_LP_LEN; ++i) tail = __fadd_rn(tail, __fmul_rn(o[i], o[i - k]));
      ac[k] = __fadd_rn(bulk, tail);
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
    __syncthreads();

    // PitchSearch(lp + kMaxPeriod / 2, lp, 960, 588): coarse at 4x decimation.
    const float* xlp = lp + RNN_PITCH_MAX / 2;
    for (int j = tid; j < len >> 2; j += blockDim.x) x4[j] = xlp[2 * j];
    for (int j = tid; j < (len + max_pitch) >> 2; j += blockDim.x) y4[j] = lp[2 * j];
    __syncthreads();
    // Coarse cross-correlation on warps 0-1; meanwhile warps 2-3 compute what later sequential
    // steps need and what depends only on lp: both searches' initial energies (warp 2), and
    // RemoveDoubling's xx and delayed-window energies yy_lag (warp 3; decimated domain,
    // x = lp + 384).
    const int maxp = RNN_PITCH_MAX / 2, minp = RNN_PITCH_MIN / 2, n = RNN_PITCH_FRAME / 2;
    const float* x = lp + maxp;
    if (tid < 64) {
      for (int k = tid; k < max_pitch >> 2; k += 64)
        xc[k] = rnn_xcorr_lag(x4, y4, len >> 2, k, max_pitch >> 2, avx2);
    } else if (tid == 64) {
      syy0c = rnn_energy1(y4, len >> 2);
      syy0f = rnn_energy1(lp, len >> 1);
    } else if (tid == 96) {
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
    if (tid == 0) rnn_find_best_pitch(xc, y4, len >> 2, max_pitch >> 2, syy0c, best);
    __syncthreads();
    const int b0 = best[0], b1 = best[1];
    __syncthreads();
    // Fine search at 2x, around the two coarse candidates.
    for (int i = tid; i < max_pitch >> 1; i += blockDim.x) {
      float v = 0.f;
      if (!(abs(i - 2 * b0) > 2 && abs(i - 2 * b1) > 2))
        v = rnn_maxf(-1.f, rnn_inner(xlp, lp + i, len >> 1, avx2));
      xc[i] = v;
    }
    __syncthreads();
    if (tid == 0) {
      rnn_find_best_pitch(xc, lp, len >> 1, max_pitch >> 1, syy0f, best);
      int offset = 0;
      const int bb = best[0];
      if (bb > 0 && bb < (max_pitch >> 1) - 1) {
        const float a = xc[bb - 1], bm = xc[bb], c = xc[bb + 1];
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
    if (tid >= 1 && tid < 30) {
      // ips[0] = xx (above), ips[1] = xy(t0), ips[2k-2] = xy(t1_k), ips[2k-1] = xy(t1b_k), k = 2..15.
      const int q = tid;
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
      ips[q] = lag >= 0 ? rnn_inner(x, x - lag, n, avx2) : 0.f;
    }
    __syncthreads();
    if (tid == 0) {
      const int prev_period = sti[RNN_ST_LAST_PERIOD] / 2;
      const float prev_gain = st[RNN_ST_LAST_GAIN];
      const float xx = ips[0], xy = ips[1];
      int best_t = t0;
      const float yy = yy_lag[t0];
      float best_xy = xy, best_yy = yy;
      const float g0 = rnn_pitch_gain(xy, xx, yy);
      float g = g0;
      for (int k = 2; k <= 15; ++k) {
        const int t1 = (2 * t0 + k) / (2 * k);
        if (t1 < minp) break;
        const int t1b = k == 2 ? ((t1 + t0 > maxp) ? t0 : t0 + t1) : (2 * rnn_second_check[k] * t0 + k) / (2 * k);
        const float xy1 = ips[2 * k - 2], xy2 = ips[2 * k - 1];
        const float cxy = __fmul_rn(.5f, __fadd_rn(xy1, xy2));
        const float cyy = __fmul_rn(.5f, __fadd_rn(yy_lag[t1], yy_lag[t1b]));
        const float g1 = rnn_pitch_gain(cxy, xx, cyy);
        float cont;
        if (abs(t1 - prev_period) <= 1) cont = prev_gain;
        else if (abs(t1 - prev_period) <= 2 && 5 * k * k < t0) cont = __fmul_rn(prev_gain, .5f);
        else cont = 0.f;
        float thresh = rnn_maxf(.3f, __fsub_rn(__fmul_rn(.7f, g0), cont));
        if (t1 < 3 * minp) thresh = rnn_maxf(.4f, __fsub_rn(__fmul_rn(.85f, g0), cont));
        else if (t1 < 2 * minp) thresh = rnn_maxf(.5f, __fsub_rn(__fmul_rn(.9f, g0), cont));
        if (g1 > thresh) {
          best_xy = cxy;
          best_yy = cyy;
          best_t = t1;
          g = g1;
        }
      }
      best_xy = rnn_maxf(0.f, best_xy);
      float pg = (best_yy <= best_xy) ? 1.f : __fdiv_rn(best_xy, __fadd_rn(best_yy, 1.f));
      if (pg > g) pg = g;
      st[RNN_ST_LAST_GAIN] = pg;
      best_ts = best_t;
    }
    __syncthreads();
    if (tid < 3) ips[32 + tid] = rnn_inner(x, x - (best_ts + tid - 1), n, avx2);
    __syncthreads();
    if (tid == 0) {
      const float c0 = ips[32], c1v = ips[33], c2 = ips[34];
      int offset = 0;
      if (__fsub_rn(c2, c0) > __fmul_rn(.7f, __fsub_rn(c1v, c0))) offset = 1;
      else if (__fsub_rn(c0, c2) > __fmul_rn(.7f, __fsub_rn(c1v, c2))) offset = -1;
      int period = 2 * best_ts + offset;
      if (period < RNN_PITCH_MIN) period = RNN_PITCH_MIN;
      sti[RNN_ST_LAST_PERIOD] = period;
      sti[RNN_ST_PERIOD] = period;
      t0s = period;
    }
    __syncthreads();
    // The window one pitch period in the past.
    const float* src = pb + RNN_PITCH_BUF - RNN_WINDOW - t0s;
    for (int i = tid; i < RNN_WINDOW; i += blockDim.x) fp[i] = __fmul_rn(src[i], window[i]);
    __syncthreads();  // shared buffers are reused by the next row
  }
}
