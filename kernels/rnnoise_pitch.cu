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
// 480- and 240-element inner products (xx, the coarse search's last three lags, the fine
// search, RemoveDoubling) run one warp each (rnn_inner_warp: the AVX2 code's 32 partial sums are
// the 32 lanes); avx2 | 4 keeps them on one lane each.
//
//   rnn_frontend_f32: for row b < ctl[0] (slot s = ctl[16 + b]):
//     in[b] (RNN_HOP floats) -> high-pass -> state[s] updated (RNN_ST_HP, ANALYSIS, the PITCH
//     ring and its PITCH_HEAD, LAST_GAIN, LAST_PERIOD, PERIOD);
//     frames[2b]   = window * [previous hop | this hop]           (RNN_WINDOW floats)
//     frames[2b+1] = window * pitch history delayed by the period  (RNN_WINDOW floats)
//   rnn_frontend_s16: the same with 16-bit PCM input rows (x / 32768).
//   rnn_frontend_f32_r3 / _s16_r3: the same, three rows per block of 384 threads (the one-lane
//   chains of the three rows share warp instructions; rnn_frontend's R; A/B:
//   GHOSTNV_RNN_FRONTEND_ROWS=3).
//   Launch: grid.x >= 1 (blocks loop over rows), block.x = 128 (_r3: 384; each of the 4 warps
//   runs its own chains; the launch bounds assume 128).
//   rnn_frontend_lp_* -> rnn_lpc_lanes -> rnn_frontend_tail: the same, as three kernels with the
//   autocorrelation + LPC one lane per row between them (CudaPlanOptions::lane_chains, opt-in:
//   5 % faster as one 64k-row launch, slower in the chunked hop; docs/perf/gpu.md, session 10).
//   rnn_frontend_relaxed_f32 / _s16 (/ _hp after rnn_highpass_*): the same algorithm NOT in the
//   CPU's order (CudaPlanOptions::frontend_order kRelaxed, opt-in; rnn_frontend's RELAX): the
//   high-pass as a warp scan of affine maps in double (rnn_highpass_scan), the autocorrelation
//   as block reductions, the energy tracks as windows of double prefix sums
//   (rnn_relaxed_energies); the rest as the avx2 = 1 path. Same results up to rounding, so a
//   near-tie may pick another period (H200, 64k rows: frontend stage 2172 -> 1539 us; whole
//   model worst session 57.1 dB of 2500 vs the CPU; docs/perf/gpu.md, session 12).
//   Since session 22 this order is also a CPU order: audio/pitch_parallel (the model switch
//   metadata.rnnoise.pitch_order "parallel", our shipped default) computes exactly these
//   operations, and the relaxed kernels are its bit-exact twin (rnnoise_kernels_host_test and
//   cuda_plan_test RelaxedFrontend); plans of such a model always run them. Change one, change
//   the other.
//
// Cost (ncu on the H200, 2026-11-29): the frontend is bound by the instructions it issues (IPC
// 2.65 of 4, ~22k warp instructions per row) and the shared-memory cycles next to them, not by
// one latency chain (more resident blocks did not help). A one-lane chain pays a whole
// shared-memory cycle per access, so the chains read and write four floats per access
// (rnn_ld4/rnn_st4), and the _r3 kernels let one warp instruction serve three rows' chains.
// Serial float chains must keep the CPU's order (except in the relaxed kernels): every chain runs on its own warp next to the
// parallel work, and whatever does not depend on a decision is computed ahead — the autocorrelation's terms on the old pitch history
// during the high-pass; the squares of the whitened signal once, in parallel, so that the
// energy chains (both searches' initial and running energies, RemoveDoubling's yy_lag) only add;
// those chains side by side with the coarse cross-correlation; the coarse scan as a warp-wide
// exact top-2 (rnn_coarse_best); the fine search only on its ~10 live lags (the scan skips the
// others, which are 0); RemoveDoubling's +-1 lag correlations for every candidate together with
// the candidates when a block has one row. The pitch history is a ring in the state (a hop
// writes its 480 new samples, not the whole 1728-sample buffer).
#include "gpu_common.cuh"
#include "rnnoise_layout.cuh"

#define RNN_LP_LEN (RNN_PITCH_BUF / 2)  // 864
#define RNN_LP_OLD ((RNN_PITCH_BUF - RNN_HOP) / 2)  // 624: lp0 + 5 + i that only read the history
#define RNN_AC_SPLIT (RNN_LP_OLD - 4)               // 620: autocorrelation terms known before the hop
// (RNN_LPS_STRIDE, the chained frontend's scratch row: rnnoise_layout.cuh.)
// Resident blocks per SM the frontend kernels are built for (__launch_bounds__): what 14.8 KB of
// shared memory per block and the registers allow (sm_90: 228 KB per SM -> 12 blocks of 128
// threads at <= 40 registers — 14 (32 registers, all shared memory allows) measured no faster
// on the H200, 2026-11-29; sm_80:
// 164 KB -> 10; sm_86/89: 100 KB -> 6; sm_75: 64 KB -> 4). Block b takes
// row b first, then the next row not yet taken (an atomic counter in ctl[1], which the host
// zeroes with every hop; rows past count end the loop): with static striding a grid larger
// than what is resident (the host sizes it at 16 blocks per SM) runs its rows in two rounds of
// whole blocks, and a block that finishes early idles.
#if defined(RNN_FRONTEND_BLOCKS_PER_SM)  // set by the host (GHOSTNV_RNN_FRONTEND_BLOCKS, for A/B runs)
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define RNN_FRONTEND_BLOCKS_PER_SM 4
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 800
#define RNN_FRONTEND_BLOCKS_PER_SM 10
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
#define RNN_FRONTEND_BLOCKS_PER_SM 6
#else
#define RNN_FRONTEND_BLOCKS_PER_SM 12
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

__device__ __forceinline__ float rnn_maxf(float a, float b) { return a < b ? b : a; }  // std::max

// Four consecutive floats of shared memory at a 16-byte aligned address, as one 128-bit access.
// A one-lane chain pays a whole shared-memory cycle (wavefront) per access however few lanes
// take part, and those cycles (one per SM and clock) are what the frontend ran out of: the
// one-lane chains below read (and write) four values per access. The host shim: plain accesses.
__device__ __forceinline__ float4 rnn_ld4(const float* p) {
#ifdef __CUDACC_RTC__
  return *reinterpret_cast<const float4*>(p);
#else
  float4 v;
  v.x = p[0];
  v.y = p[1];
  v.z = p[2];
  v.w = p[3];
  return v;
#endif
}
__device__ __forceinline__ void rnn_st4(float* p, float a, float b, float c, float d) {
#ifdef __CUDACC_RTC__
  float4 v;
  v.x = a;
  v.y = b;
  v.z = c;
  v.w = d;
  *reinterpret_cast<float4*>(p) = v;
#else
  p[0] = a;
  p[1] = b;
  p[2] = c;
  p[3] = d;
#endif
}

// FindBestPitch's running energy track, in place: on entry out[q] (q = 1..m) holds the step's
// difference y[q - 1 + len]^2 - y[q - 1]^2 (computed in parallel beforehand, the CPU's rounded
// products and difference); on exit out[0] = v and out[q] = max(1, out[q - 1] + difference) in
// order (the CPU's chain). out is 16-byte aligned; groups of four go through rnn_ld4/rnn_st4.
__device__ __forceinline__ void rnn_track(float* out, float v, int m) {
  const float v0 = v;
  const float4 d0 = rnn_ld4(out);
  const float r1 = v = rnn_maxf(1.f, __fadd_rn(v, d0.y));
  const float r2 = v = rnn_maxf(1.f, __fadd_rn(v, d0.z));
  const float r3 = v = rnn_maxf(1.f, __fadd_rn(v, d0.w));
  rnn_st4(out, v0, r1, r2, r3);
  const int whole = (m + 1) / 4 * 4;
#pragma unroll 2
  for (int q = 4; q < whole; q += 4) {
    const float4 d = rnn_ld4(out + q);
    const float a = v = rnn_maxf(1.f, __fadd_rn(v, d.x));
    const float b = v = rnn_maxf(1.f, __fadd_rn(v, d.y));
    const float c = v = rnn_maxf(1.f, __fadd_rn(v, d.z));
    const float e = v = rnn_maxf(1.f, __fadd_rn(v, d.w));
    rnn_st4(out + q, a, b, c, e);
  }
  for (int q = whole; q <= m; ++q) out[q] = v = rnn_maxf(1.f, __fadd_rn(v, out[q]));
}

// Lags k0, k0 + 1, k0 + 2 of kernels::PitchXcorr: the AVX2 version sums the lags of whole
// groups of 8 (k0 + 2 < lags / 8 * 8) with one FMA per step in index order, and the last
// lags % 8 as inner products (rnn_inner); the scalar version every lag as rnn_inner, i.e. one
// multiply-add chain. Either way each lag here is one sequential chain over i, so one thread
// runs the three side by side, loading x[i] once and sliding y[i + k] through registers. x is
// 16-byte aligned and len a multiple of 4: x (the same for every lane) is read four values at a
// time (rnn_ld4).
__device__ __forceinline__ void rnn_xcorr_lag3(const float* x, const float* y, int len, int k0, int avx2, float* out) {
  float s0 = 0.f, s1 = 0.f, s2 = 0.f;
  float y0 = y[k0], y1 = y[k0 + 1];
  const float* yk = y + k0 + 2;
  if (avx2) {
    const auto step = [&](float xi, float y2) {
      s0 = __fmaf_rn(xi, y0, s0);
      s1 = __fmaf_rn(xi, y1, s1);
      s2 = __fmaf_rn(xi, y2, s2);
      y0 = y1;
      y1 = y2;
    };
#pragma unroll 2
    for (int i = 0; i < len; i += 4) {
      const float4 xv = rnn_ld4(x + i);
      step(xv.x, yk[i]);
      step(xv.y, yk[i + 1]);
      step(xv.z, yk[i + 2]);
      step(xv.w, yk[i + 3]);
    }
  } else {
    const auto step = [&](float xi, float y2) {
      s0 = __fadd_rn(s0, __fmul_rn(xi, y0));
      s1 = __fadd_rn(s1, __fmul_rn(xi, y1));
      s2 = __fadd_rn(s2, __fmul_rn(xi, y2));
      y0 = y1;
      y1 = y2;
    };
#pragma unroll 2
    for (int i = 0; i < len; i += 4) {
      const float4 xv = rnn_ld4(x + i);
      step(xv.x, yk[i]);
      step(xv.y, yk[i + 1]);
      step(xv.z, yk[i + 2]);
      step(xv.w, yk[i + 3]);
    }
  }
  out[k0] = s0;
  out[k0 + 1] = s1;
  out[k0 + 2] = s2;
}

// rnn_inner(x, y, n, avx2 = 1) computed by a whole warp, for n = 32 m or 32 m + 8 j (every lane
// calls it; the result is in lane 0): lane l holds the AVX2 code's partial sum l (elements
// 32q + l, q in order; then the whole 8-blocks past the last 32-block go to a0, i.e. lanes 0-7,
// in order — n = 240: elements 224 + l, then 232 + l), and the shuffles add them in the AVX2
// code's order — (a0 + a1) + (a2 + a3) per lane of 8, then lanes l + 4, then (s0 + s2) +
// (s1 + s3). Same sums, so the same bits; ~55 warp instructions instead of ~1500 on one lane.
__device__ __forceinline__ float rnn_inner_warp_shfl(const float* x, const float* y, int n, int lane) {
  const int whole = n / 32 * 32;
  float a = 0.f;
#pragma unroll 5
  for (int i = 0; i < whole; i += 32) a = __fmaf_rn(x[i + lane], y[i + lane], a);
  for (int i = whole; i + 8 <= n; i += 8)
    if (lane < 8) a = __fmaf_rn(x[i + lane], y[i + lane], a);
  a = __fadd_rn(a, __shfl_down_sync(0xffffffffu, a, 8));   // lanes 0-7: a0 + a1; 16-23: a2 + a3
  a = __fadd_rn(a, __shfl_down_sync(0xffffffffu, a, 16));  // lanes 0-7: t = (a0 + a1) + (a2 + a3)
  a = __fadd_rn(a, __shfl_down_sync(0xffffffffu, a, 4));   // lanes 0-3: s = t[l] + t[l + 4]
  a = __fadd_rn(a, __shfl_down_sync(0xffffffffu, a, 2));   // s0 + s2, s1 + s3
  return __fadd_rn(a, __shfl_down_sync(0xffffffffu, a, 1));
}
// Host shim (tests): the one-lane order, the same sums (the shim's shuffles are slow; the
// shuffle version is checked against it on the host by HostWarp.InnerProductIsTheAvx2Order).
__device__ __forceinline__ float rnn_inner_warp(const float* x, const float* y, int n, int lane) {
#ifdef __CUDACC_RTC__
  return rnn_inner_warp_shfl(x, y, n, lane);
#else
  (void)lane;
  return rnn_inner(x, y, n, 1);
#endif
}

// FindBestPitch's scan state and step (the CPU's comparisons, in index order). Indices whose
// xcorr is not > 0 change nothing, so a scan may skip them (the fine search visits only its ~10
// computed lags).
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

// The coarse search's scan (rnn_best_step over i < n in order, n <= 160) by a whole warp (every
// lane calls it; every lane gets best[0..1]). Element i is live when xc[i] > 0; with c2_i =
// (xc[i] 1e-12)^2 and d_i = syy[i] the scan lets i displace j when fl(c2_i d_j) > fl(c2_j d_i).
// In exact arithmetic that relation is the order of c2/d (ties: the earlier index stays), so the
// scan would end with the two greatest live elements (T1, T2) of the order (key, then lower
// index). Every comparison the scan makes that can decide whether T1 and T2 enter and stay has
// T1 or T2 on one side, and the products of two floats are exact in double: so the warp picks
// T1, T2 in double, then checks that for every live j the rounded comparison of j against T1
// and T2 (both ways) says what the exact one says. When it does, (T1, T2) is what the scan
// returns; otherwise (near-ties, non-finite values) lane 0 runs the scan itself. Fewer than two
// live elements: the scan's own leftovers ((i, 0) for one live i, (0, 1) for none). Returns
// whether lane 0 had to scan (for tests).
__device__ __forceinline__ float rnn_c2(float xc) {
  const float c = __fmul_rn(xc, 1e-12f);
  return __fmul_rn(c, c);
}
__device__ __forceinline__ bool rnn_beats_exact(float ca, float da, int a, float cb, float db, int b) {
  const double p = static_cast<double>(ca) * static_cast<double>(db), q = static_cast<double>(cb) * static_cast<double>(da);
  return p > q || (p == q && a < b);
}
__device__ __forceinline__ bool rnn_gt_exact(float ca, float da, float cb, float db) {  // c2_a / d_a > c2_b / d_b
  return static_cast<double>(ca) * static_cast<double>(db) > static_cast<double>(cb) * static_cast<double>(da);
}
__device__ __forceinline__ void rnn_top2_insert(const float* xc, const float* syy, int i, int& t1, int& t2) {
  if (i < 0 || i == t1 || i == t2) return;
  const float ci = rnn_c2(xc[i]), di = syy[i];
  if (t1 < 0 || rnn_beats_exact(ci, di, i, rnn_c2(xc[t1]), syy[t1], t1)) {
    t2 = t1;
    t1 = i;
  } else if (t2 < 0 || rnn_beats_exact(ci, di, i, rnn_c2(xc[t2]), syy[t2], t2)) {
    t2 = i;
  }
}
__device__ bool rnn_coarse_best(const float* xc, const float* syy, int n, int lane, int* best) {
  int t1 = -1, t2 = -1;
  for (int i = lane; i < n; i += 32)
    if (xc[i] > 0.f) rnn_top2_insert(xc, syy, i, t1, t2);
#pragma unroll
  for (int m = 16; m >= 1; m >>= 1) {
    const int u1 = __shfl_xor_sync(0xffffffffu, t1, m), u2 = __shfl_xor_sync(0xffffffffu, t2, m);
    rnn_top2_insert(xc, syy, u1, t1, t2);
    rnn_top2_insert(xc, syy, u2, t1, t2);
  }
  bool bad = false;
  if (t2 >= 0) {
    const float c1 = rnn_c2(xc[t1]), d1 = syy[t1], c2 = rnn_c2(xc[t2]), d2 = syy[t2];
    for (int j = lane; j < n; j += 32) {
      if (!(xc[j] > 0.f)) continue;
      const float cj = rnn_c2(xc[j]), dj = syy[j];
      bad = bad || !isfinite(cj) || !isfinite(dj);
      if (j != t1) {
        bad = bad || ((__fmul_rn(cj, d1) > __fmul_rn(c1, dj)) != rnn_gt_exact(cj, dj, c1, d1));
        bad = bad || ((__fmul_rn(c1, dj) > __fmul_rn(cj, d1)) != rnn_gt_exact(c1, d1, cj, dj));
      }
      if (j != t2) {
        bad = bad || ((__fmul_rn(cj, d2) > __fmul_rn(c2, dj)) != rnn_gt_exact(cj, dj, c2, d2));
        bad = bad || ((__fmul_rn(c2, dj) > __fmul_rn(cj, d2)) != rnn_gt_exact(c2, d2, cj, dj));
      }
    }
  }
  const bool scan = __any_sync(0xffffffffu, bad);
  if (scan) {
    if (lane == 0) {
      RnnBest r;
      rnn_best_init(r);
      for (int i = 0; i < n; ++i) rnn_best_step(r, xc[i], syy[i], i);
      t1 = r.b0;
      t2 = r.b1;
    }
  } else if (t1 < 0) {
    t1 = 0;
    t2 = 1;
  } else if (t2 < 0) {
    t2 = 0;
  }
  if (lane == 0) {
    best[0] = t1;
    best[1] = t2;
  }
  return scan;
}

// The frontend's call: on the host shim (tests) lane 0 runs the scan itself (the shim's warp
// exchanges are slow; HostCoarseBest checks rnn_coarse_best against the scan directly).
__device__ __forceinline__ void rnn_coarse_best_call(const float* xc, const float* syy, int n, int lane, int* best) {
#ifdef __CUDACC_RTC__
  rnn_coarse_best(xc, syy, n, lane, best);
#else
  if (lane == 0) {
    RnnBest r;
    rnn_best_init(r);
    for (int i = 0; i < n; ++i) rnn_best_step(r, xc[i], syy[i], i);
    best[0] = r.b0;
    best[1] = r.b1;
  }
#endif
}

__device__ __forceinline__ float rnn_pitch_gain(float xy, float xx, float yy) {
  return __fdiv_rn(xy, __fsqrt_rn(__fadd_rn(1.f, __fmul_rn(xx, yy))));
}

// Sample i (0 = oldest) of the pitch history ring st + RNN_ST_PITCH whose sample 0 sits at
// base (< RNN_PITCH_BUF), for i < RNN_PITCH_BUF.
__device__ __forceinline__ float rnn_ring(const float* ring, int base, int i) {
  int p = base + i;
  if (p >= RNN_PITCH_BUF) p -= RNN_PITCH_BUF;
  return ring[p];
}

// PitchDownsample's low-pass at decimated index i of the pitch buffer whose samples [0, 1248)
// are the ring's from base on (the CPU's operations).
__device__ __forceinline__ float rnn_lowpass_ring(const float* ring, int base, int i) {
  if (i == 0) return __fmul_rn(.5f, __fadd_rn(__fmul_rn(.5f, rnn_ring(ring, base, 1)), rnn_ring(ring, base, 0)));
  return __fmul_rn(.5f, __fadd_rn(__fmul_rn(.5f, __fadd_rn(rnn_ring(ring, base, 2 * i - 1), rnn_ring(ring, base, 2 * i + 1))),
                                  rnn_ring(ring, base, 2 * i)));
}
// The same on a pitch buffer p in shared memory (i > 0).
__device__ __forceinline__ float rnn_lowpass(const float* p, int i) {
  return __fmul_rn(.5f, __fadd_rn(__fmul_rn(.5f, __fadd_rn(p[2 * i - 1], p[2 * i + 1])), p[2 * i]));
}

// PitchDownsample's whitening filter from the low-passed signal's autocorrelation ac[0..4]:
// lag window, 4th-order Levinson recursion, bandwidth expansion (0.9^k) and the 0.8
// pre-emphasis folded in: fir[0..4] (the CPU's operations in its order).
__device__ __forceinline__ void rnn_lpc_fir(const float* ac, float* fir) {
  float a[5];
  a[0] = __fmul_rn(ac[0], 1.0001f);
#pragma unroll
  for (int i = 1; i <= 4; ++i) {
    const float w = __fmul_rn(.008f, static_cast<float>(i));
    a[i] = __fsub_rn(ac[i], __fmul_rn(__fmul_rn(ac[i], w), w));
  }
  float lpc[4] = {0.f, 0.f, 0.f, 0.f};
  float err = a[0];
  if (a[0] != 0.f) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      float acc = 0.f;
#pragma unroll
      for (int j = 0; j < i; ++j) acc = __fadd_rn(acc, __fmul_rn(lpc[j], a[i - j]));
      acc = __fadd_rn(acc, a[i + 1]);
      const float k = __fdiv_rn(-acc, err);
      lpc[i] = k;
#pragma unroll
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
#pragma unroll
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

// 16-bit PCM rows (rnn_frontend_s16) become floats x / 32768 (exact: a power-of-two scale).
__device__ __forceinline__ float rnn_pcm_in(float v) { return v; }
__device__ __forceinline__ float rnn_pcm_in(short v) { return __fmul_rn(static_cast<float>(v), 1.f / 32768.f); }

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

// ---- The relaxed-order frontend (rnn_frontend's RELAX; rnn_frontend_relaxed_*) ----
// The same algorithm as the CPU frontend with every serial float chain computed in parallel,
// in another order (same results up to rounding, not the same bits; the pitch decisions follow
// the CPU's on >= 99 % of hops and the whole model stays >= 60 dB from the CPU: tests).
#define RNN_RX_CHUNKS (RNN_LP_LEN / 8)  // 108 chunks of 8 whitened samples
#define RNN_RX_SEG (RNN_HOP / 32)       // 15 samples of the hop per lane of the high-pass warp

// The DC high-pass (audio::Biquad b = {-2, 1}, a = {-1.99599, 0.99600}, transposed direct form
// II) of one hop by one warp, in double: with s = (m0, m1) and y = x + m0 the filter is the
// linear recurrence s' = M s + x g, M = [[a1, 1], [-a2, 0]], g = (a1 - 2, 1 - a2). Lane l owns
// samples [15 l, 15 l + 15): (1) its segment's end state from a zero start, c_l (lane 0 adds
// M^15 s0, the row's state); (2) an inclusive scan of the affine maps s -> M^15 s + c_l over the
// lanes (Hillis-Steele with M^15, M^30, M^60, ... : E_l = M^15 E_{l-1} + c_l, the state after
// segment l); (3) each lane filters its segment again from E_{l-1} and writes y = x + m0 (rounded
// once to float) over its input in xs; lane 31's E is the new state. In double the result is the
// exact recurrence's to ~1e-15 (the CPU's float chain is within its own rounding of it). Every
// lane calls it; hp_on = false copies the input (the state unused).
// (rnn_highpass_scan below.) Explicitly rounded double operations (no FMA contraction under
// --fmad=true), so that the host shim computes the device's bits. (The energies' double sums need none: their products are of
// floats, exact in double, so a contracted and an uncontracted sum round alike.)
__device__ __forceinline__ double rnn_dmad(double a, double b, double c) { return __dadd_rn(__dmul_rn(a, b), c); }
// One biquad step in double: y = x + m0; m0 = m1 - 2 x + a1 y; m1 = x - a2 y.
__device__ __forceinline__ double rnn_hp_step(double x, double& m0, double& m1, double a1, double a2) {
  const double y = __dadd_rn(x, m0);
  m0 = rnn_dmad(a1, y, __dsub_rn(m1, __dmul_rn(2.0, x)));
  m1 = __dsub_rn(x, __dmul_rn(a2, y));
  return y;
}
template <typename T>
__device__ __forceinline__ void rnn_highpass_scan(const T* in, float* xs, float* st, bool hp_on, int lane) {
  const int i0 = RNN_RX_SEG * lane;
  for (int i = 0; i < RNN_RX_SEG; ++i) xs[i0 + i] = rnn_pcm_in(in[i0 + i]);
  if (!hp_on) return;
  const double a1 = static_cast<double>(1.99599f), a2 = static_cast<double>(0.99600f);
  double c0 = 0.0, c1 = 0.0;  // (1): segment response from a zero state
  for (int i = 0; i < RNN_RX_SEG; ++i) rnn_hp_step(xs[i0 + i], c0, c1, a1, a2);
  // P = M^15 (every lane, the same operations: the same constants).
  double p00 = 1.0, p01 = 0.0, p10 = 0.0, p11 = 1.0;
  for (int i = 0; i < RNN_RX_SEG; ++i) {  // P <- M P
    const double q00 = rnn_dmad(a1, p00, p10), q01 = rnn_dmad(a1, p01, p11);
    p10 = __dmul_rn(-a2, p00);
    p11 = __dmul_rn(-a2, p01);
    p00 = q00;
    p01 = q01;
  }
  const double s0 = st[RNN_ST_HP], s1 = st[RNN_ST_HP + 1];
  if (lane == 0) {
    c0 = __dadd_rn(c0, rnn_dmad(p00, s0, __dmul_rn(p01, s1)));
    c1 = __dadd_rn(c1, rnn_dmad(p10, s0, __dmul_rn(p11, s1)));
  }
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {  // (2): P = M^(15 d) at offset d
    const double u0 = __shfl_up_sync(0xffffffffu, c0, d), u1 = __shfl_up_sync(0xffffffffu, c1, d);
    if (lane >= d) {
      c0 = __dadd_rn(c0, rnn_dmad(p00, u0, __dmul_rn(p01, u1)));
      c1 = __dadd_rn(c1, rnn_dmad(p10, u0, __dmul_rn(p11, u1)));
    }
    const double q00 = rnn_dmad(p00, p00, __dmul_rn(p01, p10)), q01 = rnn_dmad(p00, p01, __dmul_rn(p01, p11));
    const double q10 = rnn_dmad(p10, p00, __dmul_rn(p11, p10)), q11 = rnn_dmad(p10, p01, __dmul_rn(p11, p11));
    p00 = q00;
    p01 = q01;
    p10 = q10;
    p11 = q11;
  }
  double m0 = __shfl_up_sync(0xffffffffu, c0, 1), m1 = __shfl_up_sync(0xffffffffu, c1, 1);
  if (lane == 0) {
    m0 = s0;
    m1 = s1;
  }
  for (int i = 0; i < RNN_RX_SEG; ++i) xs[i0 + i] = static_cast<float>(rnn_hp_step(xs[i0 + i], m0, m1, a1, a2));  // (3)
  if (lane == 31) {
    st[RNN_ST_HP] = static_cast<float>(m0);
    st[RNN_ST_HP + 1] = static_cast<float>(m1);
  }
}

// Inclusive scan over the warp of (a, e) (doubles; every lane calls it).
__device__ __forceinline__ void rnn_warp_scan2(double& a, double& e, int lane) {
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const double ua = __shfl_up_sync(0xffffffffu, a, d), ue = __shfl_up_sync(0xffffffffu, e, d);
    if (lane >= d) {
      a += ua;
      e += ue;
    }
  }
}

// RELAX, from the low-passed signal o (o[-5..-1] = 0) to the searches' inputs, 128 threads:
//   autocorrelation (5 lags): per-thread partial sums (j = tid, tid + 128, ...), warp shuffles,
//     the four warps' sums in rx_ac; thread 0 adds them and runs the LPC (rnn_lpc_fir) -> fir;
//   whitening: thread c < 108 filters lp[8 c, 8 c + 8) (and writes x4 / y4 from it) and sums
//     the squares of its 8 samples and of its 4 even ones in double; warp inclusive scans ->
//     rx_pa / rx_pe, warp totals -> rx_wt. B(c) = the sum of the squares of chunks < c.
//   phase 3: warps 0-1 the coarse cross-correlation (three lags per lane, rnn_xcorr_lag3, FMA
//     order); warps 2-3 every energy as a window of the prefix sums: W(s) = sum_{t=s}^{s+479}
//     lp[t]^2 for s = 0..384 gives syy_f[s] = 1 + W(s) (s <= 293), yy_lag[384 - s] = W(s) and
//     xx = W(384) (ips[0]); Wc(i) = sum_{j=i}^{i+239} lp[2 j]^2 gives syy_c[i] = 1 + Wc(i). A
//     thread starts at a chunk boundary (W(16 u) = B(2 u + 60) - B(2 u)) and slides 16 (8) steps
//     by adding and removing squares, all in double (products of floats are exact in double;
//     the window sums then carry ~1e-16 relative error of the prefix, no float cancellation).
// Leaves every output behind a barrier.
__device__ __forceinline__ double rnn_rx_prefix(const double* incl, const double* wt, int c) {  // B(c), c <= 108
  if (c == 0) return 0.0;
  double v = incl[c - 1];
  for (int w = 0; w < (c - 1) >> 5; ++w) v += wt[w];
  return v;
}
__device__ __forceinline__ void rnn_relaxed_energies(const float* o, float* lp, float* x4, float* y4, float* xc,
                                                     float* syy_c, float* syy_f, float* yy_lag, float* ips, float* fir,
                                                     float (*acw)[5], double* pa, double* pe, double* wt, int tid,
                                                     int warp, int lane) {
  {
    float a[5] = {0.f, 0.f, 0.f, 0.f, 0.f};
    for (int j = tid; j < RNN_LP_LEN; j += 128) {
      const float v = o[j];
#pragma unroll
      for (int k = 0; k < 5; ++k)
        if (j + k < RNN_LP_LEN) a[k] = __fmaf_rn(v, o[j + k], a[k]);
    }
#pragma unroll
    for (int k = 0; k < 5; ++k) {
#pragma unroll
      for (int m = 16; m >= 1; m >>= 1) a[k] += __shfl_xor_sync(0xffffffffu, a[k], m);
    }
    if (lane == 0) {
#pragma unroll
      for (int k = 0; k < 5; ++k) acw[warp][k] = a[k];
    }
  }
  __syncthreads();
  if (tid == 0) {
    float ac[5];
    for (int k = 0; k < 5; ++k) ac[k] = (acw[0][k] + acw[1][k]) + (acw[2][k] + acw[3][k]);
    rnn_lpc_fir(ac, fir);
  }
  __syncthreads();
  {
    double sa = 0.0, se = 0.0;
    const int c = tid;
    if (c < RNN_RX_CHUNKS) {
      const int i0 = 8 * c;
      const float4 q0 = rnn_ld4(o + i0 - 8), q1 = rnn_ld4(o + i0 - 4), q2 = rnn_ld4(o + i0), q3 = rnn_ld4(o + i0 + 4);
      const float v[16] = {q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w, q2.x, q2.y, q2.z, q2.w, q3.x, q3.y, q3.z, q3.w};
      const float f0 = fir[0], f1 = fir[1], f2 = fir[2], f3 = fir[3], f4 = fir[4];
      float w[8];
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        float t = __fmaf_rn(f0, v[7 + u], v[8 + u]);
        t = __fmaf_rn(f1, v[6 + u], t);
        t = __fmaf_rn(f2, v[5 + u], t);
        t = __fmaf_rn(f3, v[4 + u], t);
        w[u] = __fmaf_rn(f4, v[3 + u], t);
        const double d2 = static_cast<double>(w[u]) * static_cast<double>(w[u]);
        sa += d2;
        if ((u & 1) == 0) se += d2;
      }
      rnn_st4(lp + i0, w[0], w[1], w[2], w[3]);
      rnn_st4(lp + i0 + 4, w[4], w[5], w[6], w[7]);
#pragma unroll
      for (int u = 0; u < 8; u += 2) {  // y4[j] = lp[2 j] (j < 387), x4[j] = lp[384 + 2 j] (j < 240)
        const int i = i0 + u;
        if ((i >> 1) < (RNN_PITCH_FRAME + RNN_PITCH_MAX - 3 * RNN_PITCH_MIN) / 4) y4[i >> 1] = w[u];
        if (i >= RNN_PITCH_MAX / 2 && ((i - RNN_PITCH_MAX / 2) >> 1) < RNN_PITCH_FRAME / 4)
          x4[(i - RNN_PITCH_MAX / 2) >> 1] = w[u];
      }
    }
    rnn_warp_scan2(sa, se, lane);
    if (c < RNN_RX_CHUNKS) {
      pa[c] = sa;
      pe[c] = se;
    }
    if (lane == 31) {
      wt[warp] = sa;
      wt[4 + warp] = se;
    }
  }
  __syncthreads();
  const int len4 = RNN_PITCH_FRAME / 4, max_pitch = RNN_PITCH_MAX - 3 * RNN_PITCH_MIN;  // 240, 588
  if (warp == 0) {
    rnn_xcorr_lag3(x4, y4, len4, 3 * lane, 1, xc);  // lags 0-95
  } else if (warp == 1) {
    if (lane < 17) rnn_xcorr_lag3(x4, y4, len4, 96 + 3 * lane, 1, xc);  // lags 96-146
  } else {
    const int t = tid - 64;
    const int nf = RNN_PITCH_MAX / 2;  // W(s) for s = 0..384
    if (t < 25) {
      const int s0 = 16 * t;
      double w = rnn_rx_prefix(pa, wt, 2 * t + 60) - rnn_rx_prefix(pa, wt, 2 * t);
      for (int s = s0; s < s0 + 16 && s <= nf; ++s) {
        const double wc = w > 0.0 ? w : 0.0;
        if (s < max_pitch >> 1) syy_f[s] = static_cast<float>(1.0 + wc);
        yy_lag[nf - s] = static_cast<float>(wc);
        if (s == nf) ips[0] = static_cast<float>(wc);
        if (s < nf) {
          const double a = lp[s + RNN_PITCH_FRAME / 2], b = lp[s];
          w += a * a - b * b;
        }
      }
    } else if (t < 25 + 19) {
      const int v = t - 25, i0 = 8 * v;
      double w = rnn_rx_prefix(pe, wt + 4, 2 * v + 60) - rnn_rx_prefix(pe, wt + 4, 2 * v);
      for (int i = i0; i < i0 + 8 && i < max_pitch >> 2; ++i) {
        syy_c[i] = static_cast<float>(1.0 + (w > 0.0 ? w : 0.0));
        const double a = lp[2 * (i + len4)], b = lp[2 * i];
        w += a * a - b * b;
      }
    }
  }
  __syncthreads();
}

// HP = true (rnn_frontend_hp): the high-pass already ran (rnn_highpass_*, one lane per row)
// and left this hop's filtered samples in frames[2b+1][0, RNN_HOP) (the pitch frame, written
// by this kernel only at the end of the row); `in` is not read and the state's high-pass
// memory is not touched. Same operations otherwise, so the same bits.
//
// R rows per block (block.x = 128 R; R = 1: the kernels above): sub-block r (threads 128 r ..)
// runs row r of the block's group of R rows with its own shared arrays, as one block per row
// does, except for the one-lane chains (high-pass, autocorrelation, the energy tracks, yy_lag):
// those run on sub-block 0 only, lane q (lane 5 q + k for autocorrelation lag k) for row q, so
// that one warp instruction serves R rows. Rows are taken R at a time; the last group's missing
// rows repeat its first row (the same inputs and the same operations, so they write the same
// values to the same places, and every write of a row is separated by a barrier from every
// read of it).
//
// SPLIT (the chained frontend, rnn_frontend_lp_* -> rnn_lpc_lanes -> rnn_frontend_tail; R = 1):
// 1 runs phases 0-2 only (input, high-pass, state, analysis frame, PitchDownsample's low-pass)
// and stores the row's low-passed signal o = lp0 + 5 in scratch row b (RNN_LPS_STRIDE floats);
// 2 starts from there: o from scratch row b, the whitening filter from scratch row b +
// RNN_LP_LEN (rnn_lpc_lanes: the autocorrelation and the LPC, one lane per row), the ring's head
// as SPLIT 1 left it, and then everything from the whitening on; its row counter is
// ctl[RNN_CTL_ROWS2] (ctl[1] is SPLIT 1's). Same operations in the same order, so the same bits.
template <bool HP, typename T, int R = 1, int SPLIT = 0, bool RELAX = false>
__device__ __forceinline__ void rnn_frontend(const T* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                                             float* __restrict__ state, int state_stride,
                                             const float* __restrict__ window, float* __restrict__ frames,
                                             int avx2, float* __restrict__ scratch = nullptr) {
  static_assert(SPLIT == 0 || R == 1, "the chained frontend runs one row per block");
  static_assert(!RELAX || (R == 1 && SPLIT == 0), "the relaxed frontend is one row per block");
  // Shared memory is what limits the resident rows (blocks) per SM, so the big arrays are reused:
  // pa: the pitch buffer pb (only its last history sample and this hop, high-passed in place; the
  //     low-pass of the older part reads the ring) until the low-pass has read it; then the
  //     whitened low-passed signal lp [0, 864) and its squares sq.
  // pc: lp0 (5 zeros, then the unwhitened low-passed signal) until the whitening filter has
  //     read it; then the two searches' running energies syy_c, syy_f and yy_lag.
  // The pitch-delayed frame is read from the state's ring at the end.
  // (Per row of the block: [R] arrays; pa, pc, ... are this thread's row's.)
  __shared__ __align__(16) float pa_r[R][RNN_PITCH_BUF];
  __shared__ __align__(16) float pc_r[R][RNN_LP_LEN + 8];
  __shared__ __align__(16) float x4_r[R][RNN_PITCH_FRAME / 4];
  __shared__ float y4_r[R][(RNN_PITCH_FRAME + RNN_PITCH_MAX - 3 * RNN_PITCH_MIN) / 4];
  __shared__ float xc_r[R][(RNN_PITCH_MAX - 3 * RNN_PITCH_MIN) / 2];
  __shared__ float ac_r[R][5], fir_r[R][5], ips_r[R][40], ipm_r[R][16], ipp_r[R][16];
  __shared__ float rd_xy_r[R][16], rd_yy_r[R][16], rd_g_r[R][16], prev_gain_r[R];
  __shared__ int rd_t_r[R][16], rd_ok_r[R][16], best_r[R][2], fine_lag_r[R][10], fine_n_r[R], t0s_r[R], prev_period_r[R];
  // RELAX: the autocorrelation's per-warp partial sums, and the energies' prefix sums in double
  // (RNN_RX_CHUNKS chunks of 8 whitened samples: in-warp inclusive sums of all / of the even
  // samples' squares, and the four warps' totals).
  __shared__ float rx_ac[RELAX ? 4 : 1][5];
  __shared__ double rx_pa[RELAX ? RNN_RX_CHUNKS : 1], rx_pe[RELAX ? RNN_RX_CHUNKS : 1], rx_wt[RELAX ? 8 : 1];
  const int r = R == 1 ? 0 : static_cast<int>(threadIdx.x) >> 7;  // this thread's row of the group
  float* const pa = pa_r[r];
  float* const pc = pc_r[r];
  float* const x4 = x4_r[r];
  float* const y4 = y4_r[r];
  float* const xc = xc_r[r];
  float* const pb = pa;
  float* const lp = pa;
  float* const sq = pa + RNN_LP_LEN;
  // 16-byte aligned for rnn_ld4/rnn_st4: o = lp0 + 5, sq, syy_c, syy_f and yy_lag + 1.
  float* const lp0 = pc + 3;
  float* const syy_c = pc;         // 147 floats
  float* const syy_f = pc + 148;   // 294
  float* const yy_lag = pc + 447;  // RNN_PITCH_MAX / 2 + 1 = 385
  float* const ac = ac_r[r];
  float* const fir = fir_r[r];
  float* const ips = ips_r[r];
  float* const ipm = ipm_r[r];  // correlations at lag - 1 / + 1 of RemoveDoubling's candidates
  float* const ipp = ipp_r[r];
  float* const rd_xy = rd_xy_r[r];  // RemoveDoubling's candidate k
  float* const rd_yy = rd_yy_r[r];
  float* const rd_g = rd_g_r[r];
  int* const rd_t = rd_t_r[r];
  int* const rd_ok = rd_ok_r[r];
  int* const best = best_r[r];
  int* const fine_lag = fine_lag_r[r];
  int& fine_n = fine_n_r[r];
  int& t0s = t0s_r[r];
  int& prev_period_s = prev_period_r[r];  // last hop's period / 2 and pitch gain (state, read ahead)
  float& prev_gain_s = prev_gain_r[r];
  // Row q's arrays, for the chains that sub-block 0 runs for every row.
  const auto o_of = [&](int q) -> const float* { return pc_r[q] + 8; };  // lp0 + 5
  const auto sq_of = [&](int q) -> const float* { return pa_r[q] + RNN_LP_LEN; };

  const int avx2_in = avx2;  // bit 0: the summation order; bit 2: see wcoop (bit 3, once rnn_xcorr_lag3's switch, is ignored)
  avx2 &= 1;
  const int count = ctl[0];
  const int tid = static_cast<int>(threadIdx.x) & (R == 1 ? ~0 : 127);  // among the row's 128 threads
  const int warp = tid >> 5, lane = tid & 31, warps = R == 1 ? static_cast<int>(blockDim.x) >> 5 : 4;
  // The row's threads (the loops' stride; unsigned like blockDim.x, so R = 1 compiles as before).
  const unsigned nthr = R == 1 ? blockDim.x : 128u;
  const int len = RNN_PITCH_FRAME;                             // 960
  const int max_pitch = RNN_PITCH_MAX - 3 * RNN_PITCH_MIN;    // 588
  const int grid = static_cast<int>(gridDim.x);
  // With the AVX2 order the 480- and 240-element inner products run one warp each
  // (rnn_inner_warp); avx2 bit 2 keeps them on one lane each (for A/B runs).
  const bool wcoop = RELAX || (avx2 && !(avx2_in & 4));
  // Latency mode (every block has at most one row): RemoveDoubling's +-1 lag correlations are
  // computed speculatively for every candidate, next to the candidates (one serial phase less).
  // Throughput mode (blocks loop over rows, the SMs are busy): only the chosen lag's two, after
  // the decision (30 inner products of 480 fewer per row). The same calls either way.
  const int groups = (count + R - 1) / R;  // of R rows
  const bool speculate = groups <= grid;
  __shared__ int next_row[2];  // (the next group) by iteration parity: taken in phase 0, read after the last barrier
  int it = 0;
  for (int g = blockIdx.x; g < groups; g = next_row[it++ & 1]) {
    if (threadIdx.x == 0) {
#ifdef __CUDACC_RTC__
      next_row[it & 1] = groups > grid ? grid + atomicAdd(const_cast<int*>(ctl) + (SPLIT == 2 ? RNN_CTL_ROWS2 : 1), 1) : groups;
#else
      next_row[it & 1] = g + grid;  // host shim (tests): static striding
#endif
    }
    const auto row_of = [&](int q) { return g * R + q < count ? g * R + q : g * R; };  // (missing rows: the first)
    const int b = row_of(r);
    const auto state_of = [&](int q) { return state + static_cast<long long>(ctl[16 + row_of(q)]) * state_stride; };
    const int slot = ctl[16 + b];
    float* st = state + static_cast<long long>(slot) * state_stride;
    int* sti = reinterpret_cast<int*>(st);
    const T* inr = in + static_cast<long long>(b) * in_stride;
    float* fx = frames + static_cast<long long>(2 * b) * RNN_WINDOW;
    float* fp = fx + RNN_WINDOW;
    float* ring = st + RNN_ST_PITCH;
    const int head = sti[RNN_ST_PITCH_HEAD];  // the oldest sample's ring position: this hop overwrites [head, +480)
    // (SPLIT 2: SPLIT 1 has already advanced the head in this hop.)
    const int base = SPLIT == 2 ? head : head + RNN_HOP < RNN_PITCH_BUF ? head + RNN_HOP : head + RNN_HOP - RNN_PITCH_BUF;
    [[maybe_unused]] float* const srow = SPLIT != 0 ? scratch + static_cast<long long>(b) * RNN_LPS_STRIDE : nullptr;
    if constexpr (SPLIT == 2) {  // o and the whitening filter from scratch (rnn_frontend_lp_*, rnn_lpc_lanes)
      for (int i = tid; i < RNN_LP_LEN; i += nthr) lp0[5 + i] = srow[i];
      if (tid < 5) {
        lp0[tid] = 0.f;
        fir[tid] = srow[RNN_LP_LEN + tid];
      }
      if (tid == 5) {
        prev_period_s = sti[RNN_ST_LAST_PERIOD] / 2;
        prev_gain_s = st[RNN_ST_LAST_GAIN];
      }
      __syncthreads();
    } else {

    // Phase 0: the input (into the pitch buffer's tail), the pitch history (the ring's 1248
    // newest samples, read before anything writes the ring), and PitchDownsample's low-pass of
    // the part that does not depend on this hop (lp0 + 5 + i for i < RNN_LP_OLD reads history
    // samples 2i - 1 .. 2i + 1 < RNN_PITCH_BUF - RNN_HOP), from the same values.
    float* xs = pb + RNN_PITCH_BUF - RNN_HOP;
    if (!RELAX || HP)
      for (int i = tid; i < RNN_HOP; i += nthr) xs[i] = HP ? fp[i] : rnn_pcm_in(inr[i]);
    // (Of the history only its newest sample is read from pb, by the low-pass of this hop's part.)
    if (tid == 0) pb[RNN_PITCH_BUF - RNN_HOP - 1] = rnn_ring(ring, base, RNN_PITCH_BUF - RNN_HOP - 1);
    for (int i = tid; i < RNN_LP_OLD; i += nthr) lp0[5 + i] = rnn_lowpass_ring(ring, base, i);
    if (tid < 5) lp0[tid] = 0.f;
    // The analysis frame's first half (the previous hop) and what RemoveDoubling reads from the
    // state, loaded now rather than on the serial path.
    for (int i = tid; i < RNN_HOP; i += nthr) fx[i] = __fmul_rn(st[RNN_ST_ANALYSIS + i], window[i]);
    if (tid == 1) {
      prev_period_s = sti[RNN_ST_LAST_PERIOD] / 2;
      prev_gain_s = st[RNN_ST_LAST_GAIN];
    }
    if constexpr (RELAX && !HP) {
      // RELAX: warp 0 loads the hop and high-passes it as a parallel recurrence (rnn_highpass_scan).
      if (warp == 0) rnn_highpass_scan(inr, xs, st, !(ctl[RNN_CTL_FLAGS] & RNN_CTL_NO_HIGHPASS), lane);
    }
    // The high-pass memory: lane q of sub-block 0's warp 0 filters row q.
    const bool hp_lane = !RELAX && !HP && r == 0 && warp == 0 && lane < R;
    float* const st_hp = R == 1 ? st : hp_lane ? state_of(lane) : st;
    float m0 = 0.f, m1 = 0.f;
    if (hp_lane) {
      m0 = st_hp[RNN_ST_HP];
      m1 = st_hp[RNN_ST_HP + 1];
    }
    if (!RELAX) __syncthreads();  // (RELAX: warp 0 wrote xs itself, or HP: nothing reads xs before phase 2)
    // Phase 1: the high-pass (audio::Biquad with b = {-2, 1}, a = {-1.99599, 0.99600}) on
    // one lane per row, a serial chain, in place; meanwhile warp 1's lanes 0-4 (5 q .. 5 q + 4:
    // row q) start the autocorrelation lags on the old part (the CPU's bulk loop sums j in
    // index order; its first RNN_AC_SPLIT terms, o[j] o[j + k] with j + k < RNN_LP_OLD, are
    // known already).
    const float* o = lp0 + 5;
    const bool ac_lane = !RELAX && SPLIT == 0 && r == 0 && warp == 1 && lane < 5 * R;
    float ac_bulk = 0.f;  // carried to the second half below
    if (hp_lane) {
      if (!(ctl[RNN_CTL_FLAGS] & RNN_CTL_NO_HIGHPASS)) {  // (else: the input as is, the state unused)
        float* const xq = pa_r[R == 1 ? 0 : lane] + RNN_PITCH_BUF - RNN_HOP;
#pragma unroll 8
        for (int i = 0; i < RNN_HOP; ++i) {
          const float x = xq[i];
          const float y = __fadd_rn(x, m0);
          m0 = __fadd_rn(m1, __fsub_rn(__fmul_rn(-2.f, x), __fmul_rn(-1.99599f, y)));
          m1 = __fsub_rn(x, __fmul_rn(0.99600f, y));  // (b[1] = 1: 1 * x == x)
          xq[i] = y;
        }
        st_hp[RNN_ST_HP] = m0;
        st_hp[RNN_ST_HP + 1] = m1;
      }
    } else if (ac_lane) {
      const int ac_q = R == 1 ? 0 : lane / 5, k = lane - 5 * ac_q;  // row, lag
      const float* const oq = o_of(ac_q);
#pragma unroll 2
      for (int j = 0; j < RNN_AC_SPLIT; j += 4) {  // o[j..j+3]: one 128-bit access for the 5 lanes
        const float4 a = rnn_ld4(oq + j);
        ac_bulk = __fadd_rn(ac_bulk, __fmul_rn(a.x, oq[j + k]));
        ac_bulk = __fadd_rn(ac_bulk, __fmul_rn(a.y, oq[j + 1 + k]));
        ac_bulk = __fadd_rn(ac_bulk, __fmul_rn(a.z, oq[j + 2 + k]));
        ac_bulk = __fadd_rn(ac_bulk, __fmul_rn(a.w, oq[j + 3 + k]));
      }
    }
    __syncthreads();
    // Phase 2: this hop into the analysis frame, the state (analysis half, the ring's oldest
    // 480 samples) and the rest of PitchDownsample's low-pass.
    for (int i = tid; i < RNN_HOP; i += nthr) {
      const float v = xs[i];
      fx[RNN_HOP + i] = __fmul_rn(v, window[RNN_HOP + i]);
      st[RNN_ST_ANALYSIS + i] = v;
      ring[head + i < RNN_PITCH_BUF ? head + i : head + i - RNN_PITCH_BUF] = v;
    }
    if (tid == 0) sti[RNN_ST_PITCH_HEAD] = base;  // every thread read head in phase 0
    for (int i = RNN_LP_OLD + tid; i < RNN_LP_LEN; i += nthr) lp0[5 + i] = rnn_lowpass(pb, i);
    __syncthreads();
    if constexpr (SPLIT == 1) {  // o to scratch; the rest after rnn_lpc_lanes (rnn_frontend_tail)
      for (int i = tid; i < RNN_LP_LEN; i += nthr) srow[i] = o[i];
      __syncthreads();  // shared buffers are reused by the next row
      continue;
    }
    if constexpr (RELAX) {
      rnn_relaxed_energies(o, pa, x4, y4, xc, syy_c, syy_f, yy_lag, ips, fir, rx_ac, rx_pa, rx_pe, rx_wt, tid, warp,
                           lane);
    } else {
    if (ac_lane) {  // autocorrelation lag k: the bulk, then the tail, as the CPU sums them
      const int ac_q = R == 1 ? 0 : lane / 5, k = lane - 5 * ac_q, fast = RNN_LP_LEN - 4;
      const float* const oq = o_of(ac_q);
#pragma unroll 2
      for (int j = RNN_AC_SPLIT; j < fast; j += 4) {  // (RNN_AC_SPLIT and fast are multiples of 4)
        const float4 a = rnn_ld4(oq + j);
        ac_bulk = __fadd_rn(ac_bulk, __fmul_rn(a.x, oq[j + k]));
        ac_bulk = __fadd_rn(ac_bulk, __fmul_rn(a.y, oq[j + 1 + k]));
        ac_bulk = __fadd_rn(ac_bulk, __fmul_rn(a.z, oq[j + 2 + k]));
        ac_bulk = __fadd_rn(ac_bulk, __fmul_rn(a.w, oq[j + 3 + k]));
      }
      float tail = 0.f;
      for (int i = k + fast; i < RNN_LP_LEN; ++i) tail = __fadd_rn(tail, __fmul_rn(oq[i], oq[i - k]));
      ac_r[ac_q][k] = __fadd_rn(ac_bulk, tail);
    }
    __syncthreads();
    if (tid == 0) rnn_lpc_fir(ac, fir);
    __syncthreads();
    }  // (RELAX: phase 3's end)
    }  // (SPLIT 2: from here on)
    const float* xlp = lp + RNN_PITCH_MAX / 2;
    const int maxp = RNN_PITCH_MAX / 2, minp = RNN_PITCH_MIN / 2, n = RNN_PITCH_FRAME / 2;
    const float* x = lp + maxp;
    if constexpr (!RELAX) {
    const float* o = lp0 + 5;
    for (int i = tid; i < RNN_LP_LEN; i += nthr) {
      float v = __fadd_rn(o[i], __fmul_rn(fir[0], o[i - 1]));
      v = __fadd_rn(v, __fmul_rn(fir[1], o[i - 2]));
      v = __fadd_rn(v, __fmul_rn(fir[2], o[i - 3]));
      v = __fadd_rn(v, __fmul_rn(fir[3], o[i - 4]));
      lp[i] = __fadd_rn(v, __fmul_rn(fir[4], o[i - 5]));
    }
    __syncthreads();

    // PitchSearch(lp + kMaxPeriod / 2, lp, 960, 588): coarse at 4x decimation. The squares
    // sq[j] = lp[j]^2 (the CPU's products) are computed once, in parallel: every energy chain
    // below sums them, so the serial chains only add. So are the two running energy tracks'
    // differences y[i + len]^2 - y[i]^2 (the CPU's rounded difference of those products), into
    // the tracks' own arrays at i + 1 (rnn_track).
    for (int j = tid; j < RNN_LP_LEN; j += nthr) sq[j] = __fmul_rn(lp[j], lp[j]);
    for (int j = tid; j < len >> 2; j += nthr) x4[j] = xlp[2 * j];
    for (int j = tid; j < (len + max_pitch) >> 2; j += nthr) y4[j] = lp[2 * j];
    for (int i = tid; i + 1 < max_pitch >> 2; i += nthr) {  // coarse: y = lp[2 j], len / 4
      const float a = lp[2 * (i + (len >> 2))], b = lp[2 * i];
      syy_c[i + 1] = __fsub_rn(__fmul_rn(a, a), __fmul_rn(b, b));
    }
    for (int i = tid; i + 1 < max_pitch >> 1; i += nthr) {  // fine: y = lp, len / 2
      const float a = lp[i + (len >> 1)], b = lp[i];
      syy_f[i + 1] = __fsub_rn(__fmul_rn(a, a), __fmul_rn(b, b));
    }
    __syncthreads();
    // Phase 3, every serial chain on its own warp next to the parallel work (divergent lanes of
    // one warp would run one after the other):
    //   warp 0: coarse cross-correlation lags 0-95, three per lane (rnn_xcorr_lag3: each lag
    //           one sequential chain, as the CPU sums it), then the coarse search's initial
    //           energy (1 + sum of y4^2 in order) and running energies (FindBestPitch's syy:
    //           syy[i + 1] = max(1, syy[i] + (y[i + len]^2 - y[i]^2)));
    //   warp 1: lags 96-143 (and with the scalar order 144-146) three per lane, the AVX2 order's
    //           last three lags as inner products (one warp each), and xx = <x, x>;
    //   warp 2: the fine search's initial and running energies (len 480, 293 steps);
    //   warp 3: RemoveDoubling's delayed-window energies yy_lag (xx from warp 1's own sum:
    //           computed again here, the same call) — they depend only on lp.
    // The one-lane chains (warps 0, 2, 3) run on sub-block 0, lane q for row q.
    const bool chain_lane = r == 0 && lane < R;
    const int cq = R == 1 ? 0 : lane;  // a chain lane's row
    if (warp == 0) {
      rnn_xcorr_lag3(x4, y4, len >> 2, 3 * lane, avx2, xc);
      if (chain_lane) {
        const float* const sqq = sq_of(cq);
        float v = 1.f;
#pragma unroll 4
        for (int j = 0; j < len >> 1; j += 4) {  // sq[2 j'] for j' < len / 4, two per access
          const float4 q = rnn_ld4(sqq + j);
          v = __fadd_rn(v, q.x);
          v = __fadd_rn(v, q.z);
        }
        rnn_track(pc_r[cq], v, (max_pitch >> 2) - 1);  // syy_c of row lane
      }
    } else if (warp == 1) {
      if (lane < (avx2 ? 16 : 17)) rnn_xcorr_lag3(x4, y4, len >> 2, 96 + 3 * lane, avx2, xc);
      if (avx2) {
        for (int k = 144; k < max_pitch >> 2; ++k) {
          if (wcoop) {
            const float v = rnn_inner_warp(x4, y4 + k, len >> 2, lane);
            if (lane == 0) xc[k] = v;
          } else if (lane == 16 + k - 144) {
            xc[k] = rnn_inner(x4, y4 + k, len >> 2, 1);
          }
        }
      }
    } else if (warp == 2) {
      if (chain_lane) {
        const float* const sqq = sq_of(cq);
        float v = 1.f;
#pragma unroll 4
        for (int j = 0; j < len >> 1; j += 4) {
          const float4 q = rnn_ld4(sqq + j);
          v = __fadd_rn(v, q.x);
          v = __fadd_rn(v, q.y);
          v = __fadd_rn(v, q.z);
          v = __fadd_rn(v, q.w);
        }
        rnn_track(pc_r[cq] + 148, v, (max_pitch >> 1) - 1);  // syy_f of row lane
      }
    } else if (warp == 3 && r == 0) {
      // xx of every row (ips[0]; one warp each with the AVX2 order), then the yy_lag chains.
      float xx = 0.f;
      if (wcoop) {
        for (int q = 0; q < R; ++q) {
          const float* const xq = pa_r[q] + maxp;
          const float v = rnn_inner_warp(xq, xq, n, lane);
          if (R == 1) xx = v;  // (lane 0's)
          else if (lane == 0) ips_r[q][0] = v;
        }
        if (R > 1) {
          __syncwarp();
          if (chain_lane) xx = ips_r[cq][0];
        }
      } else if (chain_lane) {
        const float* const xq = pa_r[cq] + maxp;
        xx = rnn_inner(xq, xq, n, avx2);
      }
      if (chain_lane) {
        ips_r[cq][0] = xx;
        const float* const sqq = sq_of(cq);
        float* const yyq = pc_r[cq] + 447;  // yy_lag of row lane
        float yy = xx;
        yyq[0] = xx;
        // i = 4 m + 1 .. 4 m + 4 read sq[maxp - i] = sq[maxp - 4 - 4 m + 3 .. + 0] and
        // sq[maxp + n - i] likewise (maxp, n multiples of 4), and write yy_lag[4 m + 1 ..]
        // (aligned): one access each per four steps.
#pragma unroll 2
        for (int i = 1; i <= maxp; i += 4) {
          const float4 a = rnn_ld4(sqq + maxp - i - 3), b = rnn_ld4(sqq + maxp + n - i - 3);
          yy = __fsub_rn(__fadd_rn(yy, a.w), b.w);
          const float r0 = rnn_maxf(0.f, yy);
          yy = __fsub_rn(__fadd_rn(yy, a.z), b.z);
          const float r1 = rnn_maxf(0.f, yy);
          yy = __fsub_rn(__fadd_rn(yy, a.y), b.y);
          const float r2 = rnn_maxf(0.f, yy);
          yy = __fsub_rn(__fadd_rn(yy, a.x), b.x);
          rnn_st4(yyq + i, r0, r1, r2, rnn_maxf(0.f, yy));
        }
      }
    }
    __syncthreads();
    }  // (!RELAX)
    // Phase 4: warp 0 finds the coarse search's two best lags (rnn_coarse_best: the scan's
    // result, in parallel) and lists the fine search's lags (within 2 of twice a coarse
    // candidate, increasing: the only ones the CPU computes, all others are 0).
    if (warp == 0) {
      rnn_coarse_best_call(xc, syy_c, max_pitch >> 2, lane, best);
      __syncwarp();
      if (lane == 0) {
        const int lo = best[0] < best[1] ? best[0] : best[1], hi = best[0] < best[1] ? best[1] : best[0];
        int m = 0;
        for (int i = 2 * lo - 2 < 0 ? 0 : 2 * lo - 2; i <= 2 * lo + 2 && i < max_pitch >> 1; ++i) fine_lag[m++] = i;
        for (int i = 2 * hi - 2 < 2 * lo + 3 ? 2 * lo + 3 : 2 * hi - 2; i <= 2 * hi + 2 && i < max_pitch >> 1; ++i)
          fine_lag[m++] = i;
        fine_n = m;
      }
    }
    __syncthreads();
    const int b0 = best[0], b1 = best[1];
    // Phase 5: the fine search's lags, one thread each (at most 10); with the AVX2 order: one
    // warp each (rnn_inner_warp; so are RemoveDoubling's inner products below).
    if (wcoop) {
      for (int q = warp; q < fine_n; q += warps) {
        const int i = fine_lag[q];
        const float v = rnn_inner_warp(xlp, lp + i, len >> 1, lane);
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
      // The warp's items are w = warp + l * warps (l < 15): lane l works out item l's lag (or
      // t1) once, with its integer divisions, and the loop takes it by a shuffle (the whole warp
      // dividing for every item was ~1k warp instructions per row; Nsight Compute, 2026-12-01).
      int lane_lag = 0;
      if (const int wl = warp + lane * warps; wl < 29) {
        lane_lag = rd_lag(wl + 1);
      } else if (wl < items) {
        const int j = (wl - 29) % 15 + 1;
        lane_lag = j == 1 ? t0 : (2 * t0 + j) / (2 * j);
      }
      for (int w = warp, l = 0; w < items; w += warps, ++l) {
        const int lw = __shfl_sync(0xffffffffu, lane_lag, l);
        if (w < 29) {
          const int lag = lw;
          const float v = lag >= 0 ? rnn_inner_warp(x, x - lag, n, lane) : 0.f;
          if (lane == 0) ips[w + 1] = v;
        } else {
          const int j = (w - 29) % 15 + 1, side = w - 29 < 15 ? -1 : 1;
          const int t1 = lw;
          const float v = t1 >= minp ? rnn_inner_warp(x, x - (t1 + side), n, lane) : 0.f;
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
          const float v = rnn_inner_warp(x, x - (rd_t[0] + (warp == 0 ? -1 : 1)), n, lane);
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
    // The window one pitch period in the past, from the ring (written in phase 2; the barriers
    // since order it): pitch buffer sample j is the ring's base + j.
    const int src = RNN_PITCH_BUF - RNN_WINDOW - t0s;
    for (int i = tid; i < RNN_WINDOW; i += nthr) fp[i] = __fmul_rn(rnn_ring(ring, base, src + i), window[i]);
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

// The relaxed-order frontend (CudaPlanOptions::relaxed_frontend): rnn_frontend's RELAX, same
// arguments and launch as rnn_frontend_f32 / _s16 (block.x = 128; avx2 is not read).
extern "C" __global__ void __launch_bounds__(128, RNN_FRONTEND_BLOCKS_PER_SM)
rnn_frontend_relaxed_f32(const float* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                         float* __restrict__ state, int state_stride, const float* __restrict__ window,
                         float* __restrict__ frames, int avx2) {
  rnn_frontend<false, float, 1, 0, true>(in, in_stride, ctl, state, state_stride, window, frames, avx2);
}

// The relaxed frontend after rnn_highpass_* (the CPU's own high-pass chain, 32 rows per warp;
// CudaPlanOptions::lane_highpass with kRelaxed): `in` is not read.
extern "C" __global__ void __launch_bounds__(128, RNN_FRONTEND_BLOCKS_PER_SM)
rnn_frontend_relaxed_hp(const float* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                        float* __restrict__ state, int state_stride, const float* __restrict__ window,
                        float* __restrict__ frames, int avx2) {
  rnn_frontend<true, float, 1, 0, true>(in, in_stride, ctl, state, state_stride, window, frames, avx2);
}

extern "C" __global__ void __launch_bounds__(128, RNN_FRONTEND_BLOCKS_PER_SM)
rnn_frontend_relaxed_s16(const short* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                         float* __restrict__ state, int state_stride, const float* __restrict__ window,
                         float* __restrict__ frames, int avx2) {
  rnn_frontend<false, short, 1, 0, true>(in, in_stride, ctl, state, state_stride, window, frames, avx2);
}

// Three rows per block (block.x = 384; rnn_frontend's R): the one-lane chains serve three rows
// per warp instruction. 3 x 14.8 KB of static shared memory (below the 48 KB limit); the same
// resident rows per SM as the one-row kernels (RNN_FRONTEND_BLOCKS_PER_SM / 3 blocks).
extern "C" __global__ void __launch_bounds__(384, RNN_FRONTEND_BLOCKS_PER_SM / 3)
rnn_frontend_f32_r3(const float* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                    float* __restrict__ state, int state_stride, const float* __restrict__ window,
                    float* __restrict__ frames, int avx2) {
  rnn_frontend<false, float, 3>(in, in_stride, ctl, state, state_stride, window, frames, avx2);
}

extern "C" __global__ void __launch_bounds__(384, RNN_FRONTEND_BLOCKS_PER_SM / 3)
rnn_frontend_s16_r3(const short* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                    float* __restrict__ state, int state_stride, const float* __restrict__ window,
                    float* __restrict__ frames, int avx2) {
  rnn_frontend<false, short, 3>(in, in_stride, ctl, state, state_stride, window, frames, avx2);
}

// The chained frontend (rnn_frontend's SPLIT; launched by CudaPlan with CudaPlanOptions::lane_chains):
//   rnn_frontend_lp_f32 / _s16 / _hp: phases 0-2 (the _hp one after rnn_highpass_*, `in` not
//     read); row b's low-passed signal o -> scratch[b][0, RNN_LP_LEN). Row counter ctl[1].
//   rnn_lpc_lanes: one lane per row (block.x <= 64, grid.x = ceil(rows / block.x)): scratch[b]'s
//     autocorrelation (5 lags, the CPU's order: rnn_lpc_row) and whitening filter ->
//     scratch[b][RNN_LP_LEN, + 5).
//   rnn_frontend_tail: the rest of the frontend from scratch[b] (same arguments as
//     rnn_frontend_f32 plus scratch; `in` not read). Row counter ctl[RNN_CTL_ROWS2].
// scratch is RNN_LPS_STRIDE floats per row (16-byte aligned rows), indexed by the chunk's row b.
// Why: the autocorrelation is rnn_frontend's biggest one-lane chain (5 lanes x 864 steps, ~3.7k
// of its ~22k warp instructions per row, one row per warp instruction); here one warp
// instruction advances the chains of 32 rows.
extern "C" __global__ void __launch_bounds__(128, RNN_FRONTEND_BLOCKS_PER_SM)
rnn_frontend_lp_f32(const float* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                    float* __restrict__ state, int state_stride, const float* __restrict__ window,
                    float* __restrict__ frames, int avx2, float* __restrict__ scratch) {
  rnn_frontend<false, float, 1, 1>(in, in_stride, ctl, state, state_stride, window, frames, avx2, scratch);
}

extern "C" __global__ void __launch_bounds__(128, RNN_FRONTEND_BLOCKS_PER_SM)
rnn_frontend_lp_s16(const short* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                    float* __restrict__ state, int state_stride, const float* __restrict__ window,
                    float* __restrict__ frames, int avx2, float* __restrict__ scratch) {
  rnn_frontend<false, short, 1, 1>(in, in_stride, ctl, state, state_stride, window, frames, avx2, scratch);
}

extern "C" __global__ void __launch_bounds__(128, RNN_FRONTEND_BLOCKS_PER_SM)
rnn_frontend_lp_hp(const float* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                   float* __restrict__ state, int state_stride, const float* __restrict__ window,
                   float* __restrict__ frames, int avx2, float* __restrict__ scratch) {
  rnn_frontend<true, float, 1, 1>(in, in_stride, ctl, state, state_stride, window, frames, avx2, scratch);
}

extern "C" __global__ void __launch_bounds__(128, RNN_FRONTEND_BLOCKS_PER_SM)
rnn_frontend_tail(const float* __restrict__ in, int in_stride, const int* __restrict__ ctl,
                  float* __restrict__ state, int state_stride, const float* __restrict__ window,
                  float* __restrict__ frames, int avx2, float* __restrict__ scratch) {
  rnn_frontend<false, float, 1, 2>(in, in_stride, ctl, state, state_stride, window, frames, avx2, scratch);
}

// PitchDownsample's autocorrelation of one row's o[0, RNN_LP_LEN) (16-byte aligned) and its
// whitening filter -> fir[0..4], on one lane: lag k = the bulk sum_{j < RNN_LP_LEN - 4} o[j]
// o[j + k] in j order, then the tail sum_{i = k + RNN_LP_LEN - 4}^{RNN_LP_LEN - 1} o[i] o[i - k],
// then bulk + tail — rnn_frontend's ac lanes' (and the CPU's) operations. The five lags run
// side by side over blocks of 20 samples; the next block's five 128-bit loads are issued before
// this block's 100 multiply-adds (a chunk's rows are few warps per SM: the loads' latency, not
// the issue, is what a lane waits for).
#define RNN_LPC_BLK 20  // RNN_LP_LEN - 4 = 860 = 43 blocks
__device__ __forceinline__ void rnn_lpc_row(const float* o, float* fir) {
  constexpr int fast = RNN_LP_LEN - 4;  // 860
  static_assert(fast % RNN_LPC_BLK == 0, "whole blocks");
  float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f, a4 = 0.f;
  float4 cur[RNN_LPC_BLK / 4];
#pragma unroll
  for (int q = 0; q < RNN_LPC_BLK / 4; ++q) cur[q] = rnn_ld4(o + 4 * q);
  for (int j = 0; j < fast; j += RNN_LPC_BLK) {
    // The next block: its first four samples always (this block's last lags read them; at the
    // end o[860..863]), the rest while there is a next block.
    float4 nxt[RNN_LPC_BLK / 4];
    nxt[0] = rnn_ld4(o + j + RNN_LPC_BLK);
    const bool more = j + RNN_LPC_BLK < fast;
#pragma unroll
    for (int q = 1; q < RNN_LPC_BLK / 4; ++q) nxt[q] = more ? rnn_ld4(o + j + RNN_LPC_BLK + 4 * q) : nxt[0];
    float v[RNN_LPC_BLK + 4];
#pragma unroll
    for (int q = 0; q < RNN_LPC_BLK / 4; ++q) {
      v[4 * q] = cur[q].x;
      v[4 * q + 1] = cur[q].y;
      v[4 * q + 2] = cur[q].z;
      v[4 * q + 3] = cur[q].w;
    }
    v[RNN_LPC_BLK] = nxt[0].x;
    v[RNN_LPC_BLK + 1] = nxt[0].y;
    v[RNN_LPC_BLK + 2] = nxt[0].z;
    v[RNN_LPC_BLK + 3] = nxt[0].w;
#pragma unroll
    for (int u = 0; u < RNN_LPC_BLK; ++u) {
      a0 = __fadd_rn(a0, __fmul_rn(v[u], v[u]));
      a1 = __fadd_rn(a1, __fmul_rn(v[u], v[u + 1]));
      a2 = __fadd_rn(a2, __fmul_rn(v[u], v[u + 2]));
      a3 = __fadd_rn(a3, __fmul_rn(v[u], v[u + 3]));
      a4 = __fadd_rn(a4, __fmul_rn(v[u], v[u + 4]));
    }
#pragma unroll
    for (int q = 0; q < RNN_LPC_BLK / 4; ++q) cur[q] = nxt[q];
  }
  float ac[5] = {a0, a1, a2, a3, a4};
#pragma unroll
  for (int k = 0; k < 5; ++k) {
    float tail = 0.f;
    for (int i = k + fast; i < RNN_LP_LEN; ++i) tail = __fadd_rn(tail, __fmul_rn(o[i], o[i - k]));
    ac[k] = __fadd_rn(ac[k], tail);
  }
  rnn_lpc_fir(ac, fir);
}

extern "C" __global__ void __launch_bounds__(64)
rnn_lpc_lanes(const int* __restrict__ ctl, float* __restrict__ scratch) {
  const int b = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (b >= ctl[0]) return;
  float* const row = scratch + static_cast<long long>(b) * RNN_LPS_STRIDE;
  float fir[5];
  rnn_lpc_row(row, fir);
#pragma unroll
  for (int k = 0; k < 5; ++k) row[RNN_LP_LEN + k] = fir[k];
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
        m1 = __fsub_rn(x, __fmul_rn(0.99600f, y));  // (b[1] = 1: 1 * x == x)
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
