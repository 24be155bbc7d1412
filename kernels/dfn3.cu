// kernels/dfn3.cu — DeepFilterNet3 on the GPU (models/dfn3/cuda/dfn3_cuda_plan.*): STFT, features
// with running normalisation, the layers of the three networks (convolutions over [time,
// frequency], pointwise/grouped/dense layers, GRU steps), deep filtering with ERB gains,
// inverse STFT and overlap-add. The CPU twin of every kernel is models/dfn3/dfn3_family.cc;
// dfn3_cuda_host_test.cc runs this file on host threads against it.
//
// Rows: a hop processes `rows` sessions; a row whose run flag (pcm_in[r][481]) is 0 keeps its
// state untouched (its output row is zeros). Every per-session buffer lives in one arena row of `as`
// floats (row r at base + r·as); pointers passed to the kernels point into row 0 and the kernels
// add r·as. Weights and tables are shared by all rows. hops[r] counts the hops of row r since
// its reset; the networks run ("active") from hop `la` (the lookahead) on, as on the CPU.
// Kernels loop over their work with blockIdx.x / gridDim.x only (any grid is correct).
//
//   dfn3_input_f32     hist = [hist[480:], pcm]                        block per row
//   dfn3_dft_f32       spectrum ring slot hops%5 = rFFT(hist[-960:]·window) / 960 (double sums)
//   dfn3_features_f32  ERB dB + running mean -> erb window slot 2; bins·rsqrt(running |x|)
//                      -> spec window slot 2                           block per row
//   dfn3_conv_f32      ConvParams convolution (kt frames, one input channel per output)
//   dfn3_convt_f32     depthwise transposed convolution (kernel 3, stride 2, pad 1, out pad 1)
//   dfn3_gemv_f32      y = act(b + x·W)·scale + offset (+ add) (+ relu(aw·ax + ab)) for
//                      `groups` independent x/W/b/y slices: dense, grouped linear, pointwise.
//                      block = 256 threads (32 units × 8 input slices)
//   dfn3_gru_f32       GRU (reset_after) from precomputed gi = b + x·W and gh = rb + h·R;
//                      writes h only on active hops
//   dfn3_c0_push_f32   c0 ring slot (hops - la)%5 = c0 (active hops)
//   dfn3_convp_f32     df_convp (5 taps over the c0 ring, 2 groups of 32 channels) -> [10][96]
//   dfn3_convp_pw_f32  coefs[f][o] = lin[f][o] + relu(b[o] + Σ_ci pw[o][ci] y[ci][f])
//   dfn3_filter_f32    Y = ERB gains × X(t - la), lowest 96 bins deep-filtered (0 when inactive)
//   dfn3_idft_f32      frame = irFFT(Y) · window (double sums)
//   dfn3_output_f32    overlap-add, strength mix with the delayed input, lsnr out, window
//                      shifts (active hops), ++hops                    block per row
#include "gpu_common.cuh"

#define DFN3_FFT 960
#define DFN3_HOP 480
#define DFN3_BINS 481
#define DFN3_ERB 32
#define DFN3_DF 96
#define DFN3_CH 64
#define DFN3_RING 5
#define DFN3_HIST 2880   // 960 + 4 hops (lookahead up to 4)
#define DFN3_SPEC 964    // floats per spectrum slot (481 complex + pad)
#define DFN3_IO 484      // floats per PCM row: 480 samples + strength (in) / lsnr (out)
#define DFN3_GEMV_THREADS 256

__device__ __forceinline__ int dfn3_mod5(int v) { return ((v % 5) + 5) % 5; }
// Row r takes part in this hop (its state advances) when its run flag (pcm_in[r][481]) is not 0.
__device__ __forceinline__ bool dfn3_run(const float* pcm_in, int r) {
  return pcm_in[static_cast<long long>(r) * DFN3_IO + DFN3_HOP + 1] != 0.f;
}

extern "C" __global__ void dfn3_input_f32(const float* __restrict__ pcm, float* hist, int as,
                                          int rows) {
  __shared__ float buf[DFN3_HIST];
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    if (!dfn3_run(pcm, r)) continue;  // uniform per block
    float* h = hist + static_cast<long long>(r) * as;
    const float* p = pcm + static_cast<long long>(r) * DFN3_IO;
    for (int i = threadIdx.x; i < DFN3_HIST; i += blockDim.x)
      buf[i] = i < DFN3_HIST - DFN3_HOP ? h[i + DFN3_HOP] : p[i - (DFN3_HIST - DFN3_HOP)];
    __syncthreads();
    for (int i = threadIdx.x; i < DFN3_HIST; i += blockDim.x) h[i] = buf[i];
    __syncthreads();
  }
}

// twd: [960][2] doubles, cos and sin of 2 pi j / 960.
extern "C" __global__ void dfn3_dft_f32(const float* __restrict__ hist, float* ring, int as,
                                        const int* __restrict__ hops,
                                        const double* __restrict__ twd,
                                        const float* __restrict__ window,
                                        const float* __restrict__ pcm_in, int rows) {
  const long long n = static_cast<long long>(rows) * DFN3_BINS;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; t < n;
       t += step) {
    const int r = static_cast<int>(t / DFN3_BINS);
    const int k = static_cast<int>(t - static_cast<long long>(r) * DFN3_BINS);
    if (!dfn3_run(pcm_in, r)) continue;
    const float* x = hist + static_cast<long long>(r) * as + (DFN3_HIST - DFN3_FFT);
    double re0 = 0.0, im0 = 0.0, re1 = 0.0, im1 = 0.0;
    int j0 = 0, j1 = k;  // (k·i) mod 960 for i even / odd
    const int k2 = (2 * k) % DFN3_FFT;
    for (int i = 0; i < DFN3_FFT; i += 2) {
      const double a = static_cast<double>(x[i] * window[i]);
      const double b = static_cast<double>(x[i + 1] * window[i + 1]);
      re0 += a * twd[2 * j0];
      im0 -= a * twd[2 * j0 + 1];
      re1 += b * twd[2 * j1];
      im1 -= b * twd[2 * j1 + 1];
      j0 += k2;
      if (j0 >= DFN3_FFT) j0 -= DFN3_FFT;
      j1 += k2;
      if (j1 >= DFN3_FFT) j1 -= DFN3_FFT;
    }
    float* X = ring + static_cast<long long>(r) * as + dfn3_mod5(hops[r]) * DFN3_SPEC;
    X[2 * k] = static_cast<float>((re0 + re1) / DFN3_FFT);
    X[2 * k + 1] = static_cast<float>((im0 + im1) / DFN3_FFT);
  }
}

// band_start: [33] first bin of each ERB band (and the end). norm: erb_norm[32], spec_norm[96].
// win: erb window [3][32] then spec window [3][192].
extern "C" __global__ void dfn3_features_f32(const float* __restrict__ ring, float* norm,
                                             float* win, int as, const int* __restrict__ hops,
                                             const int* __restrict__ band_start, float alpha,
                                             const float* __restrict__ pcm_in, int rows) {
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    if (!dfn3_run(pcm_in, r)) continue;
    const long long o = static_cast<long long>(r) * as;
    const float* X = ring + o + dfn3_mod5(hops[r]) * DFN3_SPEC;
    float* nr = norm + o;
    float* w = win + o;
    for (int i = threadIdx.x; i < DFN3_ERB + DFN3_DF; i += blockDim.x) {
      if (i < DFN3_ERB) {
        const int k0 = band_start[i], k1 = band_start[i + 1];
        const float inv = 1.0f / static_cast<float>(k1 - k0);
        float e = 0.f;
        for (int k = k0; k < k1; ++k)
          e += (X[2 * k] * X[2 * k] + X[2 * k + 1] * X[2 * k + 1]) * inv;
        const float db = 10.f * log10f(e + 1e-10f);
        const float s = db * (1.f - alpha) + nr[i] * alpha;
        nr[i] = s;
        w[2 * DFN3_ERB + i] = (db - s) / 40.f;
      } else {
        const int k = i - DFN3_ERB;
        const float re = X[2 * k], im = X[2 * k + 1];
        const float s = sqrtf(re * re + im * im) * (1.f - alpha) + nr[i] * alpha;
        nr[i] = s;
        const float inv = 1.f / sqrtf(s);
        float* sw = w + 3 * DFN3_ERB + 2 * (2 * DFN3_DF);
        sw[2 * k] = re * inv;
        sw[2 * k + 1] = im * inv;
      }
    }
  }
}

// y[fo][co] = act(b[co] + Σ_t Σ_k w[t·kf + k][co] x_t[fo·stride + k - pad][co / (cout/cin)]),
// x_t = x + t·frame_stride (oldest first), each [fin][cin].
extern "C" __global__ void dfn3_conv_f32(const float* __restrict__ x, int frame_stride, int fin,
                                         int kt, int kf, int stride, int pad, int cin, int cout,
                                         const float* __restrict__ w,
                                         const float* __restrict__ bias, int act,
                                         float* __restrict__ y, int as, int rows) {
  const int fout = (fin + 2 * pad - kf) / stride + 1;
  const int per = cout / cin;
  const long long n = static_cast<long long>(rows) * fout * cout;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; t < n;
       t += step) {
    const int r = static_cast<int>(t / (fout * cout));
    const int rem = static_cast<int>(t - static_cast<long long>(r) * fout * cout);
    const int fo = rem / cout, co = rem - fo * cout;
    const int ci = co / per;
    const float* xr = x + static_cast<long long>(r) * as;
    float acc = bias != nullptr ? bias[co] : 0.f;
    for (int tt = 0; tt < kt; ++tt) {
      for (int k = 0; k < kf; ++k) {
        const int fi = fo * stride + k - pad;
        if (fi < 0 || fi >= fin) continue;
        acc += w[(tt * kf + k) * cout + co] * xr[tt * frame_stride + fi * cin + ci];
      }
    }
    y[static_cast<long long>(r) * as + rem] = gnv_activate(act, GNV_MATH_EXACT, acc);
  }
}

extern "C" __global__ void dfn3_convt_f32(const float* __restrict__ x, int fin,
                                          const float* __restrict__ w, float* __restrict__ y,
                                          int as, int rows) {
  const int fout = 2 * fin;
  const long long n = static_cast<long long>(rows) * fout * DFN3_CH;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; t < n;
       t += step) {
    const int r = static_cast<int>(t / (fout * DFN3_CH));
    const int rem = static_cast<int>(t - static_cast<long long>(r) * fout * DFN3_CH);
    const int o = rem / DFN3_CH, c = rem - o * DFN3_CH;
    const float* xr = x + static_cast<long long>(r) * as;
    float acc = 0.f;
    for (int k = 0; k < 3; ++k) {  // o = 2i - 1 + k
      const int v = o + 1 - k;
      if (v < 0 || (v & 1) != 0) continue;
      const int i = v / 2;
      if (i >= fin) continue;
      acc += w[k * DFN3_CH + c] * xr[i * DFN3_CH + c];
    }
    y[static_cast<long long>(r) * as + rem] = acc;
  }
}

// Slice g: x + g·x_gs (inputs floats), W + g·w_gs ([inputs][units]), b + g·b_gs, y + g·y_gs.
// Output index o = g·y_gs + u (relative to y); add[o] and relu(aw[o%64]·ax[o] + ab[o%64]) are
// added after the activation when add / aw are not null.
extern "C" __global__ void __launch_bounds__(DFN3_GEMV_THREADS) dfn3_gemv_f32(
    const float* __restrict__ x, int x_gs, const float* __restrict__ w, int w_gs,
    const float* __restrict__ bias, int b_gs, float* __restrict__ y, int y_gs, int inputs,
    int units, int groups, int act, float scale, float offset, const float* __restrict__ add,
    const float* __restrict__ aw, const float* __restrict__ ab, const float* __restrict__ ax,
    int as, int rows) {
  __shared__ float red[8][33];
  const int tiles = (units + 31) / 32;
  const long long total = static_cast<long long>(rows) * groups * tiles;
  const int lane = threadIdx.x & 31, sl = threadIdx.x >> 5;
  for (long long blk = blockIdx.x; blk < total; blk += gridDim.x) {
    const int tile = static_cast<int>(blk % tiles);
    const long long rg = blk / tiles;
    const int g = static_cast<int>(rg % groups);
    const int r = static_cast<int>(rg / groups);
    const int u = tile * 32 + lane;
    const long long ro = static_cast<long long>(r) * as;
    const float* xg = x + ro + static_cast<long long>(g) * x_gs;
    const float* wg = w + static_cast<long long>(g) * w_gs;
    float acc = 0.f;
    if (u < units) {
      for (int i = sl; i < inputs; i += 8) acc += xg[i] * wg[static_cast<long long>(i) * units + u];
    }
    red[sl][lane] = acc;
    __syncthreads();
    if (sl == 0 && u < units) {
      float s = bias != nullptr ? bias[static_cast<long long>(g) * b_gs + u] : 0.f;
      float p = 0.f;
      for (int j = 0; j < 8; ++j) p += red[j][lane];
      s += p;
      float v = gnv_activate(act, GNV_MATH_EXACT, s) * scale + offset;
      const long long o = static_cast<long long>(g) * y_gs + u;
      if (add != nullptr) v += add[ro + o];
      if (aw != nullptr) {
        const int c = static_cast<int>(o % DFN3_CH);
        const float a = aw[c] * ax[ro + o] + ab[c];
        v += a > 0.f ? a : 0.f;
      }
      y[ro + o] = v;
    }
    __syncthreads();
  }
}

// gi = b + x·W, gh = rb + h·R ([3 units]: z, r, n); h' = z h + (1 - z) tanh(gi_n + r gh_n).
extern "C" __global__ void dfn3_gru_f32(const float* __restrict__ gi, const float* __restrict__ gh,
                                        float* h, int units, const int* __restrict__ hops, int la,
                                        const float* __restrict__ pcm_in, int as, int rows) {
  const long long n = static_cast<long long>(rows) * units;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; t < n;
       t += step) {
    const int r = static_cast<int>(t / units);
    const int i = static_cast<int>(t - static_cast<long long>(r) * units);
    if (hops[r] < la || !dfn3_run(pcm_in, r)) continue;
    const long long o = static_cast<long long>(r) * as;
    const float z = gnv_sigmoid(GNV_MATH_EXACT, gi[o + i] + gh[o + i]);
    const float rr = gnv_sigmoid(GNV_MATH_EXACT, gi[o + units + i] + gh[o + units + i]);
    const float c = gnv_tanh(GNV_MATH_EXACT, gi[o + 2 * units + i] + rr * gh[o + 2 * units + i]);
    const float s = h[o + i];
    h[o + i] = z * s + (1.f - z) * c;
  }
}

extern "C" __global__ void dfn3_c0_push_f32(const float* __restrict__ c0, float* c0ring,
                                            const int* __restrict__ hops, int la,
                                            const float* __restrict__ pcm_in, int as, int rows) {
  constexpr int kMap = DFN3_DF * DFN3_CH;
  const long long n = static_cast<long long>(rows) * kMap;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; t < n;
       t += step) {
    const int r = static_cast<int>(t / kMap);
    const int i = static_cast<int>(t - static_cast<long long>(r) * kMap);
    const int h = hops[r];
    if (h < la || !dfn3_run(pcm_in, r)) continue;
    const long long o = static_cast<long long>(r) * as;
    c0ring[o + static_cast<long long>(dfn3_mod5(h - la)) * kMap + i] = c0[o + i];
  }
}

// ct: [10 outputs][5 taps · 32 channels]. y: [10][96].
extern "C" __global__ void dfn3_convp_f32(const float* __restrict__ c0ring,
                                          const float* __restrict__ ct,
                                          const int* __restrict__ hops, int la,
                                          float* __restrict__ y, int as, int rows) {
  constexpr int kMap = DFN3_DF * DFN3_CH;
  const long long n = static_cast<long long>(rows) * 10 * DFN3_DF;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; t < n;
       t += step) {
    const int r = static_cast<int>(t / (10 * DFN3_DF));
    const int rem = static_cast<int>(t - static_cast<long long>(r) * 10 * DFN3_DF);
    const int oc = rem / DFN3_DF, f = rem - oc * DFN3_DF;
    const int gr = oc / 5;
    const long long o = static_cast<long long>(r) * as;
    const int cur = hops[r] - la;
    float acc = 0.f;
    for (int tap = 0; tap < 5; ++tap) {
      const float* c = c0ring + o + static_cast<long long>(dfn3_mod5(cur - 4 + tap)) * kMap +
                       f * DFN3_CH + gr * 32;
      const float* wk = ct + oc * 160 + tap * 32;
      for (int k = 0; k < 32; ++k) acc += wk[k] * c[k];
    }
    y[o + rem] = acc;
  }
}

// pwt: [10 out][10 in]; pwb: [10].
extern "C" __global__ void dfn3_convp_pw_f32(const float* __restrict__ yin,
                                             const float* __restrict__ lin,
                                             const float* __restrict__ pwt,
                                             const float* __restrict__ pwb,
                                             float* __restrict__ coefs, int as, int rows) {
  const long long n = static_cast<long long>(rows) * DFN3_DF * 10;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; t < n;
       t += step) {
    const int r = static_cast<int>(t / (10 * DFN3_DF));
    const int rem = static_cast<int>(t - static_cast<long long>(r) * 10 * DFN3_DF);
    const int f = rem / 10, oc = rem - f * 10;
    const long long o = static_cast<long long>(r) * as;
    float z = 0.f;
    for (int ci = 0; ci < 10; ++ci) z += pwt[oc * 10 + ci] * yin[o + ci * DFN3_DF + f];
    const float v = z + pwb[oc];
    coefs[o + rem] = lin[o + rem] + (v > 0.f ? v : 0.f);
  }
}

// band_of: [481] ERB band of each bin. Y: [481] complex.
extern "C" __global__ void dfn3_filter_f32(const float* __restrict__ ring,
                                           const float* __restrict__ m,
                                           const float* __restrict__ coefs,
                                           const int* __restrict__ band_of,
                                           const int* __restrict__ hops, int la,
                                           float* __restrict__ Y, int as, int rows) {
  const long long n = static_cast<long long>(rows) * DFN3_BINS;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; t < n;
       t += step) {
    const int r = static_cast<int>(t / DFN3_BINS);
    const int k = static_cast<int>(t - static_cast<long long>(r) * DFN3_BINS);
    const long long o = static_cast<long long>(r) * as;
    float* y = Y + o + 2 * k;
    const int h = hops[r];
    if (h < la) {
      y[0] = 0.f;
      y[1] = 0.f;
      continue;
    }
    if (k >= DFN3_DF) {
      const float* xt = ring + o + dfn3_mod5(h - la) * DFN3_SPEC + 2 * k;
      const float g = m[o + band_of[k]];
      y[0] = xt[0] * g;
      y[1] = xt[1] * g;
      continue;
    }
    float re = 0.f, im = 0.f;
    const float* cf = coefs + o + k * 10;
    for (int tap = 0; tap < 5; ++tap) {
      const float* v = ring + o + dfn3_mod5(h - 4 + tap) * DFN3_SPEC + 2 * k;
      const float cr = cf[2 * tap], ci = cf[2 * tap + 1];
      re += v[0] * cr - v[1] * ci;
      im += v[0] * ci + v[1] * cr;
    }
    y[0] = re;
    y[1] = im;
  }
}

// frame[i] = window[i] · (Re Y0 + (-1)^i Re Y480 + 2 Σ_{k=1..479} Re(Y_k e^{+2πi k i / 960})).
extern "C" __global__ void dfn3_idft_f32(const float* __restrict__ Y,
                                         const double* __restrict__ twd,
                                         const float* __restrict__ window,
                                         float* __restrict__ frame, int as, int rows) {
  const long long n = static_cast<long long>(rows) * DFN3_FFT;
  const long long step = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; t < n;
       t += step) {
    const int r = static_cast<int>(t / DFN3_FFT);
    const int i = static_cast<int>(t - static_cast<long long>(r) * DFN3_FFT);
    const float* y = Y + static_cast<long long>(r) * as;
    double acc0 = 0.0, acc1 = 0.0;
    int j = i;  // (k·i) mod 960 for k = 1
    for (int k = 1; k < DFN3_BINS - 1; ++k) {
      const double v = static_cast<double>(y[2 * k]) * twd[2 * j] -
                       static_cast<double>(y[2 * k + 1]) * twd[2 * j + 1];
      if (k & 1) {
        acc1 += v;
      } else {
        acc0 += v;
      }
      j += i;
      if (j >= DFN3_FFT) j -= DFN3_FFT;
    }
    const double nyq = (i & 1) ? -static_cast<double>(y[2 * (DFN3_BINS - 1)])
                               : static_cast<double>(y[2 * (DFN3_BINS - 1)]);
    const double v = static_cast<double>(y[0]) + nyq + 2.0 * (acc0 + acc1);
    frame[static_cast<long long>(r) * as + i] = static_cast<float>(v) * window[i];
  }
}

// ola [960], hist (dry = hist[dry_off .. + 480)), pcm_in (strength at 480), pcm_out (lsnr at 480).
extern "C" __global__ void dfn3_output_f32(const float* __restrict__ frame, float* ola,
                                           const float* __restrict__ hist, int dry_off,
                                           const float* __restrict__ lsnr, float* win,
                                           int* hops, int la, const float* __restrict__ pcm_in,
                                           float* __restrict__ pcm_out, int as, int rows) {
  constexpr int kWin = DFN3_ERB + 2 * DFN3_DF;  // floats per window slot pair (erb + spec)
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const long long o = static_cast<long long>(r) * as;
    if (!dfn3_run(pcm_in, r)) {  // uniform per block: the row's state stays as it is
      float* out = pcm_out + static_cast<long long>(r) * DFN3_IO;
      for (int i = threadIdx.x; i <= DFN3_HOP; i += blockDim.x) out[i] = 0.f;
      continue;
    }
    const int h = hops[r];
    const float s = fminf(fmaxf(pcm_in[static_cast<long long>(r) * DFN3_IO + DFN3_HOP], 0.f), 1.f);
    float* out = pcm_out + static_cast<long long>(r) * DFN3_IO;
    float a[2] = {0.f, 0.f}, b[2] = {0.f, 0.f};
    float w1[2] = {0.f, 0.f}, w2[2] = {0.f, 0.f};
    for (int q = 0; q < 2; ++q) {
      const int i = threadIdx.x + q * static_cast<int>(blockDim.x);
      if (i < DFN3_HOP) {
        a[q] = ola[o + i] + frame[o + i];
        b[q] = ola[o + DFN3_HOP + i] + frame[o + DFN3_HOP + i];
      }
      if (i < kWin) {  // erb window [3][32] at 0, spec window [3][192] at 96
        const int slot1 = i < DFN3_ERB ? DFN3_ERB + i : 3 * DFN3_ERB + 2 * DFN3_DF + (i - DFN3_ERB);
        const int stride = i < DFN3_ERB ? DFN3_ERB : 2 * DFN3_DF;
        w1[q] = win[o + slot1];
        w2[q] = win[o + slot1 + stride];
      }
    }
    __syncthreads();
    for (int q = 0; q < 2; ++q) {
      const int i = threadIdx.x + q * static_cast<int>(blockDim.x);
      if (i < DFN3_HOP) {
        out[i] = s * a[q] + (1.f - s) * hist[o + dry_off + i];
        ola[o + i] = b[q];
        ola[o + DFN3_HOP + i] = 0.f;
      }
      if (i < kWin && h >= la) {
        const int slot1 = i < DFN3_ERB ? DFN3_ERB + i : 3 * DFN3_ERB + 2 * DFN3_DF + (i - DFN3_ERB);
        const int stride = i < DFN3_ERB ? DFN3_ERB : 2 * DFN3_DF;
        win[o + slot1 - stride] = w1[q];
        win[o + slot1] = w2[q];
      }
    }
    if (threadIdx.x == 0) {
      out[DFN3_HOP] = lsnr[o];
      hops[r] = h >= 1500000000 ? h - 1000000000 + 1 : h + 1;
    }
    __syncthreads();
  }
}
