// kernels/ultra_persistent.cu — one whole hop of the ultra family (models/ultra): analysis
// window, 384-point real DFT, 32 band energies, log features, the network (input_dense → gru1 →
// vad_output, [gru1, dense] → gru2 → gain_output), per-bin gain interpolation, inverse DFT of the
// synthesis tail, synthesis window, overlap-add and the strength mix — in ONE block, or (sm_90+)
// on a thread-block cluster of ULTRA_CLUSTER blocks that share the network.
//
// Entry points (layouts: ultra_layout.cuh):
//   ultra_persistent_f32  launched once per real-time plan; loops: polls the request sequence
//                         of a mailbox in mapped pinned host memory, runs the command (hop, zero
//                         a slot, stop), writes the answer back to the mailbox, fences
//                         (__threadfence_system) and publishes the answered sequence. Weights that
//                         fit are copied into dynamic shared memory once; the rest stay in L2.
//   ultra_hop_f32         one command per launch from a device request buffer to a device answer
//                         buffer (the graph-replay variant: H2D, this kernel, D2H).
//   ultra_persistent_cluster_f32, ultra_hop_cluster_f32
//                         the same two on a cluster (compiled for sm_90+ only; see the section
//                         at the end): block 0 runs the DSP and the output layers, blocks 1..7
//                         each own a slice of both GRUs' units, weights in their shared memory,
//                         states exchanged through distributed shared memory.
// The CPU twin is models/ultra/ultra_family.cc (ProcessHop); both DFTs are a 192-point complex
// FFT of the even/odd sample pairs with a 384-entry twiddle table — by default (UltraNet::flags
// ULTRA_NET_FAST_FFT) a radix-6 step in registers and a 32-point warp-shuffle FFT on 6 warps,
// otherwise 7 Stockham stages — so the output differs from the CPU's only by float rounding
// (checked >= 100 dB by runtime/sched/persistent/ultra_plan_test.cc and ultra_kernel_host_test.cc).
// Block: ULTRA_THREADS threads (any multiple of 32 >= 256 works; the host launches 1024).
// runtime/sched/persistent/ultra_kernel_host_test.cc compiles this file as C++ (with
// GHOSTNV_ULTRA_HOST_TEST: ultra_hop_f32 only) and checks it against the CPU family without a GPU.
#include "gpu_common.cuh"
#include "ultra_layout.cuh"

struct UltraMv {
  const float* m;  // [n][ld] row-major
  const float* x;  // [n]
  float* y;        // [cols]
  int ld;
  int n;
  int cols;
};

struct UltraSmem {
  float tb[ULTRA_TB_FLOATS];
  float part[2 * ULTRA_THREADS];
  float2 fa[ULTRA_WINDOW / 2];  // FFT ping-pong buffers (192 complex)
  float2 fb[ULTRA_WINDOW / 2];
  float hist[ULTRA_WINDOW];  // the input history
  float in[ULTRA_HOP];
  float out[ULTRA_HOP];
  float ov[ULTRA_HOP];
  float dry[ULTRA_HOP];
  float xre[ULTRA_BINS];
  float xim[ULTRA_BINS];
  float pw[ULTRA_BINS];
  float feat[ULTRA_BANDS];
  float gains[ULTRA_BANDS];
  float y[ULTRA_WINDOW - ULTRA_TAIL];
  float d[ULTRA_MAX_UNITS];
  float s1[ULTRA_MAX_UNITS];
  float s2[ULTRA_MAX_UNITS];
  float rs[ULTRA_MAX_UNITS];
  float g2in[ULTRA_MAX_INPUTS];
  float gx[3 * ULTRA_MAX_UNITS];
  float gh[3 * ULTRA_MAX_UNITS];
  float tmp[ULTRA_MAX_UNITS];
  long long ts[16];  // clock64() at the stage boundaries (thread 0; persistent mode's diagnostics;
                     // 8.. the cluster kernel's finer stages)
  unsigned long long t_ns;  // ultra_ns() when the request was seen (persistent mode)
  float vad;
  float strength;
  int cmd, slot, seq;
};

// The GPU's global nanosecond timer (same on every SM; telemetry only). 0 in the host test.
__device__ __forceinline__ unsigned long long ultra_ns() {
#ifdef GHOSTNV_ULTRA_HOST_TEST
  return 0ull;
#else
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
#endif
}
// Nanoseconds since t0 as an answer word (saturated at INT_MAX).
__device__ __forceinline__ int ultra_ns_since(unsigned long long t0) {
  const unsigned long long d = ultra_ns() - t0;
  return d > 0x7fffffffull ? 0x7fffffff : static_cast<int>(d);
}

__device__ __forceinline__ const float* ultra_ptr(unsigned long long p) {
  return reinterpret_cast<const float*>(p);
}
__device__ __forceinline__ float ultra_at(unsigned long long p, int i) {
  return p != 0ull ? ultra_ptr(p)[i] : 0.f;
}

// y_j[c] = sum_i x_j[i] * m_j[i * ld + c] for every job; rows split over up to max_slices
// slices of threads when there are few columns, with up to per_thread (1 or 2) work items per
// thread. Ends with __syncthreads.
__device__ void ultra_matvec(const UltraMv* jobs, int njobs, float* part, int max_slices = 8,
                             int per_thread = 2) {
  int total = 0;
  for (int j = 0; j < njobs; ++j) total += jobs[j].cols;
  const int threads = blockDim.x;
  // Up to 2 work items per thread: shorter serial chains, more loads in flight.
  int slices = (per_thread * ULTRA_THREADS) / (total > 0 ? total : 1);
  slices = slices < 1 ? 1 : (slices > max_slices ? max_slices : slices);
  for (int t = threadIdx.x; t < slices * total; t += threads) {
    const int s = t / total;
    int c = t - s * total;
    int j = 0;
    while (c >= jobs[j].cols) c -= jobs[j++].cols;
    const UltraMv& mv = jobs[j];
    const int i0 = mv.n * s / slices, i1 = mv.n * (s + 1) / slices;
    const float* m = mv.m + c;
    float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f;
    int i = i0;
    for (; i + 4 <= i1; i += 4) {
      a0 = fmaf(mv.x[i], m[static_cast<long long>(i) * mv.ld], a0);
      a1 = fmaf(mv.x[i + 1], m[static_cast<long long>(i + 1) * mv.ld], a1);
      a2 = fmaf(mv.x[i + 2], m[static_cast<long long>(i + 2) * mv.ld], a2);
      a3 = fmaf(mv.x[i + 3], m[static_cast<long long>(i + 3) * mv.ld], a3);
    }
    for (; i < i1; ++i) a0 = fmaf(mv.x[i], m[static_cast<long long>(i) * mv.ld], a0);
    const float acc = (a0 + a1) + (a2 + a3);
    if (slices == 1)
      mv.y[c] = acc;
    else
      part[t] = acc;
  }
  __syncthreads();
  if (slices == 1) return;
  for (int t = threadIdx.x; t < total; t += threads) {
    float acc = 0.f;
    for (int s = 0; s < slices; ++s) acc += part[s * total + t];
    int c = t, j = 0;
    while (c >= jobs[j].cols) c -= jobs[j++].cols;
    jobs[j].y[c] = acc;
  }
  __syncthreads();
}

// y = act(b + x W) for a dense layer; x and y in shared memory. Ends with __syncthreads.
__device__ void ultra_dense(const UltraLayer& l, int math, const float* x, float* y, UltraSmem& sm) {
  const UltraMv mv = {ultra_ptr(l.w), x, sm.tmp, l.units, l.inputs, l.units};
  ultra_matvec(&mv, 1, sm.part);
  for (int c = threadIdx.x; c < l.units; c += blockDim.x)
    y[c] = gnv_activate(l.act, math, ultra_at(l.b, c) + sm.tmp[c]);
  __syncthreads();
}

// One GRU step (models' convention: gates z | r | h); state s updated in place (shared memory).
__device__ void ultra_gru(const UltraLayer& l, int math, const float* x, float* s, UltraSmem& sm) {
  const int u = l.units, n3 = 3 * u;
  const UltraMv mv[2] = {{ultra_ptr(l.w), x, sm.gx, n3, l.inputs, n3},
                         {ultra_ptr(l.r), s, sm.gh, n3, u, l.reset_after ? n3 : 2 * u}};
  ultra_matvec(mv, 2, sm.part);
  for (int c = threadIdx.x; c < 2 * u; c += blockDim.x)
    sm.gx[c] = gnv_sigmoid(math, (ultra_at(l.b, c) + ultra_at(l.rb, c)) + (sm.gx[c] + sm.gh[c]));
  __syncthreads();
  if (!l.reset_after) {
    for (int i = threadIdx.x; i < u; i += blockDim.x) sm.rs[i] = sm.gx[u + i] * s[i];
    __syncthreads();
    const UltraMv mh = {ultra_ptr(l.r) + 2 * u, sm.rs, sm.gh + 2 * u, n3, u, u};
    ultra_matvec(&mh, 1, sm.part);
  }
  for (int i = threadIdx.x; i < u; i += blockDim.x) {
    float pre;
    if (l.reset_after)
      pre = (ultra_at(l.b, 2 * u + i) + sm.gx[2 * u + i]) +
            sm.gx[u + i] * (ultra_at(l.rb, 2 * u + i) + sm.gh[2 * u + i]);
    else
      pre = (ultra_at(l.b, 2 * u + i) + ultra_at(l.rb, 2 * u + i)) +
            (sm.gx[2 * u + i] + sm.gh[2 * u + i]);
    sm.rs[i] = gnv_activate(l.act, math, pre);  // candidate
  }
  __syncthreads();
  for (int i = threadIdx.x; i < u; i += blockDim.x) {
    const float z = sm.gx[i];
    s[i] = z * s[i] + (1.f - z) * sm.rs[i];
  }
  __syncthreads();
}

// 192-point complex FFT (unnormalised; sign -1 forward, +1 inverse) in shared memory: Stockham
// autosort, radices 3, 2, 2, 2, 2, 2, 2, natural order in and out. Input in a, returns the buffer
// holding the result (b: seven stages). Twiddles e^{sign 2 pi i m / 192} from the 384-entry
// cos/sin table at index 2m. Ends with __syncthreads.
__device__ float2* ultra_fft192(float2* a, float2* b, float sign, const float* tb) {
  constexpr int n = ULTRA_WINDOW / 2;
#pragma unroll
  for (int stage = 0; stage < 7; ++stage) {
    // Fully unrolled: radix, ns, m and step are compile-time constants in every stage.
    const int radix = stage == 0 ? 3 : 2;
    const int ns = stage == 0 ? 1 : 3 << (stage - 1);
    const int m = n / radix, step = n / (ns * radix);
    for (int j = threadIdx.x; j < m; j += blockDim.x) {
      const int k = j % ns;
      float2 v[3];
      for (int r = 0; r < radix; ++r) {
        const float2 x = a[j + r * m];
        const int idx = 2 * ((k * r * step) % n);
        const float c = tb[ULTRA_TB_COS + idx], ws = sign * tb[ULTRA_TB_SIN + idx];
        v[r] = make_float2(x.x * c - x.y * ws, x.x * ws + x.y * c);
      }
      const int d = (j / ns) * ns * radix + k;
      if (radix == 2) {
        b[d] = make_float2(v[0].x + v[1].x, v[0].y + v[1].y);
        b[d + ns] = make_float2(v[0].x - v[1].x, v[0].y - v[1].y);
      } else {
        const float s3 = 0.866025403784438647f * sign;
        const float2 t1 = make_float2(v[1].x + v[2].x, v[1].y + v[2].y);
        const float2 t2 = make_float2(v[0].x - 0.5f * t1.x, v[0].y - 0.5f * t1.y);
        const float2 df = make_float2(v[1].x - v[2].x, v[1].y - v[2].y);
        b[d] = make_float2(v[0].x + t1.x, v[0].y + t1.y);
        b[d + ns] = make_float2(t2.x - s3 * df.y, t2.y + s3 * df.x);
        b[d + 2 * ns] = make_float2(t2.x + s3 * df.y, t2.y - s3 * df.x);
      }
    }
    __syncthreads();
    float2* t = a;
    a = b;
    b = t;
  }
  return a;
}

// In the host test (cuda_host_shim.h) a warp shuffle is a block barrier, so every thread must
// take part in the warp FFT; on the device only its 6 warps do.
#ifdef GHOSTNV_ULTRA_HOST_TEST
#define ULTRA_FFT_ALL_WARPS 1
#else
#define ULTRA_FFT_ALL_WARPS 0
#endif

// 5-bit bit reversal: the lane of ultra_fft192_warp -> its output's k2.
__device__ __forceinline__ int ultra_brev5(int x) {
  return ((x & 1) << 4) | ((x & 2) << 2) | (x & 4) | ((x & 8) >> 2) | ((x & 16) >> 4);
}

// The 192-point complex FFT of ULTRA_NET_FAST_FFT (unnormalised; sign -1 forward, +1 inverse),
// one warp per k1 in [0, 6). With n = 32 m + j and k = k1 + 6 k2 (w_N = e^{sign 2 pi i / N}):
//   Z[k] = sum_j w_32^{j k2} (w_192^{j k1} sum_m z[32 m + j] w_6^{m k1}).
// Lane j passes v[m] = z[32 m + j]; the warp of k1 returns Z[k1 + 6 ultra_brev5(j)] in lane j.
// The 6-point sums in registers, the 32-point DFT as five radix-2 decimation-in-frequency stages
// of warp shuffles (lane j ends with output brev5(j)); twiddles from the 384-entry table. No
// shared memory written, no barrier.
__device__ __forceinline__ float2 ultra_fft192_warp(const float2 (&v)[6], int k1, int lane, float sign,
                                                    const float* tb) {
  float ax = 0.f, ay = 0.f;
#pragma unroll
  for (int m = 0; m < 6; ++m) {
    const int idx = (64 * m * k1) % ULTRA_WINDOW;
    const float c = tb[ULTRA_TB_COS + idx], sn = sign * tb[ULTRA_TB_SIN + idx];
    ax += v[m].x * c - v[m].y * sn;
    ay += v[m].x * sn + v[m].y * c;
  }
  {
    const int idx = 2 * lane * k1;  // < ULTRA_WINDOW for k1 < 6
    const float c = tb[ULTRA_TB_COS + idx], sn = sign * tb[ULTRA_TB_SIN + idx];
    const float x = ax * c - ay * sn, y = ax * sn + ay * c;
    ax = x;
    ay = y;
  }
#pragma unroll
  for (int h = 16; h >= 1; h >>= 1) {
    const float px = __shfl_xor_sync(0xffffffffu, ax, h);
    const float py = __shfl_xor_sync(0xffffffffu, ay, h);
    if ((lane & h) != 0) {
      // (partner - own) w_{2h}^{lane mod h}; table index (lane mod h) * 384 / (2h).
      const int idx = (lane & (h - 1)) * (ULTRA_WINDOW / 2 / h);
      const float c = tb[ULTRA_TB_COS + idx], sn = sign * tb[ULTRA_TB_SIN + idx];
      const float dx = px - ax, dy = py - ay;
      ax = dx * c - dy * sn;
      ay = dx * sn + dy * c;
    } else {
      ax += px;
      ay += py;
    }
  }
  return make_float2(ax, ay);
}

// Copies the tables into shared memory (once per kernel). Ends with __syncthreads.
__device__ void ultra_load_tables(const UltraNet& net, UltraSmem& sm) {
  for (int i = threadIdx.x; i < ULTRA_TB_FLOATS; i += blockDim.x) sm.tb[i] = ultra_ptr(net.tables)[i];
  __syncthreads();
}

// Step 1a: slot state st into shared memory — the input history but its newest hop
// (sm.hist[0, ULTRA_WINDOW - ULTRA_HOP)), overlap, dry history, GRU states (sm.s1 / sm.s2) — by
// threads [first, blockDim.x). No barrier.
__device__ void ultra_state_in(const UltraNet& net, UltraSmem& sm, const float* st, int first) {
  const int t = static_cast<int>(threadIdx.x) - first, threads = static_cast<int>(blockDim.x) - first;
  if (t < 0) return;
  const int u1 = net.gru1.units, u2 = net.gru2.units;
  for (int i = t; i < ULTRA_WINDOW - ULTRA_HOP; i += threads) sm.hist[i] = st[ULTRA_ST_INPUT + ULTRA_HOP + i];
  for (int i = t; i < ULTRA_HOP; i += threads) {
    sm.ov[i] = st[ULTRA_ST_OVERLAP + i];
    sm.dry[i] = st[ULTRA_ST_DRY + i];
  }
  for (int i = t; i < u1; i += threads) sm.s1[i] = st[ULTRA_ST_GRU + i];
  for (int i = t; i < u2; i += threads) sm.s2[i] = st[ULTRA_ST_GRU + u1 + i];
}

// The triangular weight of bin k in band b (ultra::BandEnergies' fractions from the tables: bin k
// lies in band kb = ULTRA_TB_BIN_BAND[k] at fraction f, weighing 1 - f for band kb and f for
// band kb + 1; the last bin belongs to the last band alone). Both band-energy paths use it.
__device__ __forceinline__ float ultra_band_weight(const float* tb, int k, int b) {
  if (k == ULTRA_BINS - 1) return b == ULTRA_BANDS - 1 ? 1.f : 0.f;
  const int kb = static_cast<int>(tb[ULTRA_TB_BIN_BAND + k]);
  const float f = tb[ULTRA_TB_BIN_FRAC + k];
  if (kb == b) return 1.f - f;
  if (kb == b - 1) return f;
  return 0.f;
}

// ULTRA_NET_FAST_FFT, after the forward FFT (sm.fa) and a barrier: the warp of band b splits the
// real spectrum's bins of the band's support out of the complex one (storing the bins it owns,
// [centre b, centre b+1), into sm.xre / sm.xim) and returns the band energy in every lane
// (the same sums in the same order as the Stockham path's band loop). No barrier.
__device__ float ultra_band_energy(UltraSmem& sm, int b, int lane) {
  constexpr int n = ULTRA_WINDOW / 2;
  const float* tb = sm.tb;
  const float2* z = sm.fa;
  const int lo = b > 0 ? static_cast<int>(tb[ULTRA_TB_CENTRES + b - 1]) : 0;
  const int own = static_cast<int>(tb[ULTRA_TB_CENTRES + b]);
  const int hi = b + 1 < ULTRA_BANDS ? static_cast<int>(tb[ULTRA_TB_CENTRES + b + 1]) : ULTRA_BINS;
  float e = 0.f;
  for (int k = lo + lane; k < hi; k += 32) {
    const float2 zk = z[k % n], zn = z[(n - k) % n];
    const float ex = 0.5f * (zk.x + zn.x), ey = 0.5f * (zk.y - zn.y);
    const float ox = 0.5f * (zk.y + zn.y), oy = -0.5f * (zk.x - zn.x);
    const float c = tb[ULTRA_TB_COS + k], sn = tb[ULTRA_TB_SIN + k];
    const float re = ex + (c * ox + sn * oy), im = ey + (c * oy - sn * ox);
    if (k >= own) {  // each bin is stored by the one band that owns it
      sm.xre[k] = re;
      sm.xim[k] = im;
    }
    e += ultra_band_weight(tb, k, b) * (re * re + im * im);
  }
  for (int off = 16; off > 0; off >>= 1) e += __shfl_xor_sync(0xffffffffu, e, off);
  return e;
}

// Steps 1b-3, after ultra_state_in, the newest hop in sm.hist[ULTRA_WINDOW - ULTRA_HOP, ...) and
// a barrier: the new input history out, analysis window, real DFT, band energies and the
// features (sm.feat); the spectrum stays in sm.xre / sm.xim. All threads; ends in step.
// fast (ULTRA_NET_FAST_FFT): warps 0-5 window and transform (ultra_fft192_warp), threads from
// 192 on store the history meanwhile; one warp per band then splits its bins out of the complex
// spectrum and sums them (ultra_band_energy; the same features, bit for bit, from the same
// spectrum). fast && !bands: returns after the FFT's barrier (the caller runs the bands).
__device__ void ultra_frontend_rest(UltraSmem& sm, float* st, bool fast, bool bands = true) {
  const int t = threadIdx.x, threads = blockDim.x;
  const float* tb = sm.tb;
  if (fast) {
    const int warp = t >> 5, lane = t & 31;
    if (ULTRA_FFT_ALL_WARPS || warp < 6) {
      const int k1 = warp % 6;
      float2 v[6];
#pragma unroll
      for (int m = 0; m < 6; ++m) {
        const int n = 32 * m + lane;
        v[m] = make_float2(sm.hist[2 * n] * tb[ULTRA_TB_ANALYSIS + 2 * n],
                           sm.hist[2 * n + 1] * tb[ULTRA_TB_ANALYSIS + 2 * n + 1]);
      }
      const float2 z = ultra_fft192_warp(v, k1, lane, -1.f, tb);
      if (warp < 6) sm.fa[k1 + 6 * ultra_brev5(lane)] = z;
    }
    const int hf = threads > 2 * 192 ? 192 : 0;
    for (int i = t - hf; i >= 0 && i < ULTRA_WINDOW; i += threads - hf) st[ULTRA_ST_INPUT + i] = sm.hist[i];
    __syncthreads();
    if (t == 0) sm.ts[9] = clock64();
    if (!bands) return;
    for (int b = warp; b < ULTRA_BANDS; b += threads >> 5) {
      const float e = ultra_band_energy(sm, b, lane);
      if (lane == 0) sm.feat[b] = log10f(e + 1e-10f);
    }
    __syncthreads();
    return;
  }
  for (int i = t; i < ULTRA_WINDOW; i += threads) st[ULTRA_ST_INPUT + i] = sm.hist[i];
  for (int m = t; m < ULTRA_WINDOW / 2; m += threads)
    sm.fa[m] = make_float2(sm.hist[2 * m] * tb[ULTRA_TB_ANALYSIS + 2 * m],
                           sm.hist[2 * m + 1] * tb[ULTRA_TB_ANALYSIS + 2 * m + 1]);
  __syncthreads();
  // 2. real FFT: 192-point complex FFT of the even/odd pairs, then the split.
  {
    const float2* z = ultra_fft192(sm.fa, sm.fb, -1.f, tb);
    constexpr int n = ULTRA_WINDOW / 2;
    for (int k = t; k < ULTRA_BINS; k += threads) {
      const float2 zk = z[k % n], zn = z[(n - k) % n];
      const float ex = 0.5f * (zk.x + zn.x), ey = 0.5f * (zk.y - zn.y);
      const float ox = 0.5f * (zk.y + zn.y), oy = -0.5f * (zk.x - zn.x);
      const float c = tb[ULTRA_TB_COS + k], sn = tb[ULTRA_TB_SIN + k];
      const float re = ex + (c * ox + sn * oy), im = ey + (c * oy - sn * ox);
      sm.xre[k] = re;
      sm.xim[k] = im;
      sm.pw[k] = re * re + im * im;
    }
  }
  __syncthreads();
  if (t == 0) sm.ts[9] = clock64();
  // 3. band energies (warp b sums band b over its bins) and features.
  {
    const int warp = t >> 5, lane = t & 31;
    for (int b = warp; b < ULTRA_BANDS; b += threads >> 5) {
      const int lo = b > 0 ? static_cast<int>(tb[ULTRA_TB_CENTRES + b - 1]) : 0;
      const int hi = b + 1 < ULTRA_BANDS ? static_cast<int>(tb[ULTRA_TB_CENTRES + b + 1]) : ULTRA_BINS;
      float e = 0.f;
      for (int k = lo + lane; k < hi; k += 32) {
        e += ultra_band_weight(tb, k, b) * sm.pw[k];
      }
      for (int off = 16; off > 0; off >>= 1) e += __shfl_xor_sync(0xffffffffu, e, off);
      if (lane == 0) sm.feat[b] = log10f(e + 1e-10f);
    }
  }
  __syncthreads();
}

// Steps 1-3 of a hop on slot state st (sm.in holds the new hop): ultra_state_in by every
// thread, then ultra_frontend_rest. All threads; ends in step.
__device__ void ultra_frontend(const UltraNet& net, UltraSmem& sm, float* st) {
  ultra_state_in(net, sm, st, 0);
  for (int i = threadIdx.x; i < ULTRA_HOP; i += blockDim.x) sm.hist[ULTRA_WINDOW - ULTRA_HOP + i] = sm.in[i];
  __syncthreads();
  ultra_frontend_rest(sm, st, (net.flags & ULTRA_NET_FAST_FFT) != 0);
}

// Step 4 on one block: the network from sm.feat and the states sm.s1 / sm.s2 (updated in place)
// to sm.gains and sm.vad. All threads; ends in step.
__device__ void ultra_network(const UltraNet& net, UltraSmem& sm) {
  const int t = threadIdx.x, threads = blockDim.x;
  const int u1 = net.gru1.units, dn = net.dense_in.units;
  ultra_dense(net.dense_in, net.math, sm.feat, sm.d, sm);
  ultra_gru(net.gru1, net.math, sm.d, sm.s1, sm);
  for (int i = t; i < u1 + dn; i += threads) sm.g2in[i] = i < u1 ? sm.s1[i] : sm.d[i - u1];
  ultra_dense(net.vad, net.math, sm.s1, &sm.vad, sm);
  ultra_gru(net.gru2, net.math, sm.g2in, sm.s2, sm);
  ultra_dense(net.gain, net.math, sm.s2, sm.gains, sm);
}

// ULTRA_NET_FAST_FFT: the inverse real FFT's packed input is linear in the two gains a bin pair
// (k, 192 - k) gets: v_k = g_k A_k + g_{192-k} B_k. Computes A_k (sm.fa) and B_k (sm.fb) from the
// spectrum (sm.xre / sm.xim) with threads [first, blockDim.x), before the gains exist (the
// cluster's rank 0 while ranks 1.. run the GRUs). No barrier.
__device__ void ultra_backend_prep(UltraSmem& sm, int first) {
  constexpr int n = ULTRA_WINDOW / 2;
  const float* tb = sm.tb;
  for (int k = static_cast<int>(threadIdx.x) - first; k >= 0 && k < n; k += static_cast<int>(blockDim.x) - first) {
    const int kn = n - k;
    const float c = tb[ULTRA_TB_COS + k], sn = tb[ULTRA_TB_SIN + k];
    const float xr = sm.xre[k], xi = k == 0 ? 0.f : sm.xim[k];
    const float yr = sm.xre[kn], yi = k == 0 ? 0.f : -sm.xim[kn];
    sm.fa[k] = make_float2(xr * (1.f - sn) - c * xi, xi * (1.f - sn) + c * xr);
    sm.fb[k] = make_float2(yr * (1.f + sn) + c * yi, yi * (1.f + sn) - c * yr);
  }
}

// Steps 5-7: sm.gains applied to the spectrum, inverse DFT, synthesis window, overlap-add and
// strength mix into sm.out; overlap, dry history and the GRU states (sm.s1 / sm.s2) out to st.
// All threads; ends in step.
// prepped (fast FFT): ultra_backend_prep ran already (and a barrier since).
__device__ void ultra_backend(const UltraNet& net, UltraSmem& sm, float* st, bool prepped = false) {
  const int t = threadIdx.x, threads = blockDim.x;
  const float* tb = sm.tb;
  const int u1 = net.gru1.units, u2 = net.gru2.units;
  if ((net.flags & ULTRA_NET_FAST_FFT) != 0) {
    if (!prepped) {
      ultra_backend_prep(sm, 0);
      __syncthreads();
    }
    // 5-6 fused: warps 0-5 pack the inverse real FFT's input with the per-bin gains
    // (ultra_backend_prep) and transform it (ultra_fft192_warp); they keep the tail.
    const int warp = t >> 5, lane = t & 31;
    if (ULTRA_FFT_ALL_WARPS || warp < 6) {
      constexpr int n = ULTRA_WINDOW / 2;
      const int k1 = warp % 6;
      float2 v[6];
#pragma unroll
      for (int m = 0; m < 6; ++m) {
        const int k = 32 * m + lane, kn = n - k;  // kn in (0, 192]
        const int b = static_cast<int>(tb[ULTRA_TB_BIN_BAND + k]), bn = static_cast<int>(tb[ULTRA_TB_BIN_BAND + kn]);
        const float f = tb[ULTRA_TB_BIN_FRAC + k], fn = tb[ULTRA_TB_BIN_FRAC + kn];
        const float g = (1.f - f) * sm.gains[b] + f * sm.gains[b + 1];
        const float gn = kn == ULTRA_BINS - 1 ? sm.gains[ULTRA_BANDS - 1]
                                              : (1.f - fn) * sm.gains[bn] + fn * sm.gains[bn + 1];
        const float2 a = sm.fa[k], bb = sm.fb[k];
        v[m] = make_float2(g * a.x + gn * bb.x, g * a.y + gn * bb.y);
      }
      const float2 z = ultra_fft192_warp(v, k1, lane, 1.f, tb);
      const int q = k1 + 6 * ultra_brev5(lane);
      if (warp < 6 && q >= n / 2) {
        sm.y[2 * q - ULTRA_TAIL] = z.x;
        sm.y[2 * q + 1 - ULTRA_TAIL] = z.y;
      }
    }
    __syncthreads();
  } else {
    // 5. per-bin gains applied to the spectrum.
    for (int k = t; k < ULTRA_BINS; k += threads) {
      const int b = static_cast<int>(tb[ULTRA_TB_BIN_BAND + k]);
      const float f = tb[ULTRA_TB_BIN_FRAC + k];
      const float g = k == ULTRA_BINS - 1 ? sm.gains[ULTRA_BANDS - 1]
                                          : (1.f - f) * sm.gains[b] + f * sm.gains[b + 1];
      sm.xre[k] *= g;
      sm.xim[k] *= g;
    }
    __syncthreads();
    // 6. inverse real FFT (unnormalised; Im(bin 0) and Im(bin N/2) ignored, as by
    // audio::RealFft::Inverse): pack, 192-point inverse FFT, keep the synthesis tail.
    {
      constexpr int n = ULTRA_WINDOW / 2;
      for (int k = t; k < n; k += threads) {
        const float ax = sm.xre[k], ay = k == 0 ? 0.f : sm.xim[k];
        const float bx = sm.xre[n - k], by = k == 0 ? 0.f : -sm.xim[n - k];
        const float dx = ax - bx, dy = ay - by;
        const float c = tb[ULTRA_TB_COS + k], sn = tb[ULTRA_TB_SIN + k];
        sm.fa[k] = make_float2((ax + bx) - (c * dy + sn * dx), (ay + by) + (c * dx - sn * dy));
      }
      __syncthreads();
      const float2* z = ultra_fft192(sm.fa, sm.fb, 1.f, tb);
      for (int m = n / 2 + t; m < n; m += threads) {
        sm.y[2 * m - ULTRA_TAIL] = z[m].x;
        sm.y[2 * m + 1 - ULTRA_TAIL] = z[m].y;
      }
    }
    __syncthreads();
  }
  // 7. synthesis window, overlap-add, strength mix; state out.
  const float scale = 1.f / ULTRA_WINDOW;
  const float str = fminf(fmaxf(sm.strength, 0.f), 1.f);
  for (int i = t; i < ULTRA_HOP; i += threads) {
    const float wet = sm.y[i] * tb[ULTRA_TB_SYNTHESIS + ULTRA_TAIL + i] * scale + sm.ov[i];
    sm.out[i] = wet * str + sm.dry[i] * (1.f - str);
    st[ULTRA_ST_OVERLAP + i] =
        sm.y[ULTRA_HOP + i] * tb[ULTRA_TB_SYNTHESIS + ULTRA_TAIL + ULTRA_HOP + i] * scale;
    st[ULTRA_ST_DRY + i] = sm.in[i];
  }
  for (int i = t; i < u1; i += threads) st[ULTRA_ST_GRU + i] = sm.s1[i];
  for (int i = t; i < u2; i += threads) st[ULTRA_ST_GRU + u1 + i] = sm.s2[i];
  __syncthreads();
}

// Runs sm.cmd on sm.slot with sm.in / sm.strength; leaves sm.out, sm.vad. Returns 0, or 1 for a
// bad slot (nothing touched). Starts and ends with all threads in step.
__device__ int ultra_command(const UltraNet& net, UltraSmem& sm) {
  const int slot = sm.slot;
  if (slot < 0 || slot >= net.max_slots) return 1;
  float* st = reinterpret_cast<float*>(net.state) + static_cast<long long>(slot) * net.state_stride;
  if (sm.cmd == ULTRA_CMD_ZERO) {
    for (int i = threadIdx.x; i < net.state_stride; i += blockDim.x) st[i] = 0.f;
    __syncthreads();  // the block's own later reads see these writes; a launch boundary others
    return 0;
  }
  ultra_frontend(net, sm, st);
  if (threadIdx.x == 0) sm.ts[2] = clock64();
  ultra_network(net, sm);
  if (threadIdx.x == 0) sm.ts[3] = clock64();
  ultra_backend(net, sm, st);
  return 0;
}

// Copies a weight matrix into dynamic shared memory when it still fits; returns its address.
__device__ unsigned long long ultra_cache(unsigned long long w, int floats, float* dyn, int* used,
                                          int budget) {
  if (w == 0ull || *used + floats > budget) return w;
  float* dst = dyn + *used;
  const float* src = ultra_ptr(w);
  for (int i = threadIdx.x; i < floats; i += blockDim.x) dst[i] = src[i];
  *used += (floats + 3) & ~3;
  return reinterpret_cast<unsigned long long>(dst);
}

#ifndef GHOSTNV_ULTRA_HOST_TEST  // the host test (cuda_host_shim.h) runs ultra_hop_f32 only
// The mailbox of 2026-11-28 (single-block kernel; cluster kernel without ULTRA_FLAG_LL): thread 0
// polls the request's first 16 bytes (sequence, command, slot, strength: one PCIe transaction a
// poll) until the sequence differs from `last`, fences (the input words written before the
// sequence are then visible), and stores the fields into sm.seq / cmd / slot / strength (and
// sm.ts[0], sm.t_ns). Other threads return at once. No barrier.
__device__ void ultra_poll_request(const int* mailbox, int last, UltraSmem& sm) {
  if (threadIdx.x != 0) return;
  int seq, cmd, slot, str;
  do {
    asm volatile("ld.volatile.global.v4.s32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(seq), "=r"(cmd), "=r"(slot), "=r"(str)
                 : "l"(mailbox + ULTRA_MB_REQ)
                 : "memory");
  } while (seq == last);
  __threadfence_system();
  sm.ts[0] = clock64();
  sm.t_ns = ultra_ns();
  sm.seq = seq;
  sm.cmd = cmd;
  sm.slot = slot;
  sm.strength = __int_as_float(str);
}

// After ultra_poll_request and a barrier: threads 0 .. ULTRA_HOP / 4 - 1 read the input samples,
// 16 bytes each, into sm.in (and, with to_hist, the newest hop of sm.hist); returns whether this
// thread was one of them. No barrier.
__device__ bool ultra_read_input(const int* mailbox, UltraSmem& sm, bool to_hist) {
  if (threadIdx.x >= ULTRA_HOP / 4) return false;
  const int i = 4 * threadIdx.x;
  float4 v;
  asm volatile("ld.volatile.global.v4.f32 {%0, %1, %2, %3}, [%4];"
               : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
               : "l"(mailbox + ULTRA_MB_IN + i)
               : "memory");
  sm.in[i] = v.x;
  sm.in[i + 1] = v.y;
  sm.in[i + 2] = v.z;
  sm.in[i + 3] = v.w;
  if (to_hist) {
    float* hi = &sm.hist[ULTRA_WINDOW - ULTRA_HOP + i];
    hi[0] = v.x;
    hi[1] = v.y;
    hi[2] = v.z;
    hi[3] = v.w;
  }
  return true;
}

extern "C" __global__ void __launch_bounds__(ULTRA_THREADS, 1)
    ultra_persistent_f32(const UltraNet* net_g, int* mailbox, int start_seq) {
  __shared__ UltraSmem sm;
  __shared__ UltraNet net;
  extern __shared__ float dyn[];
  if (threadIdx.x == 0) net = *net_g;
  __syncthreads();
  ultra_load_tables(net, sm);
  // Weights into shared memory, largest users first, while they fit. Every thread computes the
  // same addresses; thread 0 publishes them.
  {
    int used = 0;
    const int budget = net.smem_floats;
    UltraLayer* ls[5] = {&net.gru2, &net.gru1, &net.dense_in, &net.gain, &net.vad};
    unsigned long long w[5], r[5], b[5], rb[5];
    for (int j = 0; j < 5; ++j) {  // biases first: small, and on every layer's critical path
      const int cols = ls[j]->r != 0ull ? 3 * ls[j]->units : ls[j]->units;
      b[j] = ultra_cache(ls[j]->b, cols, dyn, &used, budget);
      rb[j] = ultra_cache(ls[j]->rb, cols, dyn, &used, budget);
    }
    for (int j = 0; j < 5; ++j) {
      const int cols = ls[j]->r != 0ull ? 3 * ls[j]->units : ls[j]->units;
      w[j] = ultra_cache(ls[j]->w, ls[j]->inputs * cols, dyn, &used, budget);
      r[j] = ls[j]->r != 0ull ? ultra_cache(ls[j]->r, ls[j]->units * cols, dyn, &used, budget) : 0ull;
    }
    __syncthreads();
    if (threadIdx.x == 0)
      for (int j = 0; j < 5; ++j) {
        ls[j]->w = w[j];
        ls[j]->r = r[j];
        ls[j]->b = b[j];
        ls[j]->rb = rb[j];
      }
    __syncthreads();
  }
  volatile int* mb = mailbox;
  // The host may post its first request before this kernel starts: start from the sequence
  // the host had at launch, never from what the mailbox holds now.
  int last = start_seq;
  for (;;) {
    ultra_poll_request(mailbox, last, sm);
    __syncthreads();
    // The request is complete (thread 0 saw its sequence, written last): read the samples.
    ultra_read_input(mailbox, sm, false);
    last = sm.seq;
    const int cmd = sm.cmd;
    __syncthreads();
    if (threadIdx.x == 0) sm.ts[1] = clock64();
    if (cmd == ULTRA_CMD_STOP) {
      if (threadIdx.x == 0) {
        __threadfence_system();
        mb[ULTRA_MB_DONE] = last;
      }
      return;
    }
    const int status = ultra_command(net, sm);
    if (threadIdx.x == 0) sm.ts[4] = clock64();
    if (threadIdx.x < 32) {
      if (cmd == ULTRA_CMD_HOP && status == 0 && threadIdx.x < ULTRA_HOP / 4) {
        const int i = 4 * threadIdx.x;
        asm volatile("st.volatile.global.v4.f32 [%0], {%1, %2, %3, %4};"
                     :
                     : "l"(mailbox + ULTRA_MB_OUT + i), "f"(sm.out[i]), "f"(sm.out[i + 1]),
                       "f"(sm.out[i + 2]), "f"(sm.out[i + 3])
                     : "memory");
      }
      if (threadIdx.x == 0) {
        mb[ULTRA_MB_STATUS] = status;
        mb[ULTRA_MB_VAD] = __float_as_int(cmd == ULTRA_CMD_HOP ? sm.vad : 0.f);
        mb[ULTRA_MB_KERNEL_NS] = ultra_ns_since(sm.t_ns);
      }
      __threadfence_system();
      __syncwarp();
      if (threadIdx.x == 0) {
        const long long t5 = clock64();
        const long long c[6] = {sm.ts[1] - sm.ts[0], sm.ts[2] - sm.ts[1], sm.ts[3] - sm.ts[2],
                                sm.ts[4] - sm.ts[3], t5 - sm.ts[4], t5 - sm.ts[0]};
        if (cmd == ULTRA_CMD_HOP)
          for (int i = 0; i < 6; ++i) mb[ULTRA_MB_CYCLES + i] = static_cast<int>(c[i]);
        mb[ULTRA_MB_DONE] = last;
      }
    }
    __syncthreads();
  }
}

#endif  // GHOSTNV_ULTRA_HOST_TEST

// One command per launch: req = the mailbox's request words (device copy), ans = its answer
// words (ans[0] = ULTRA_MB_DONE ...).
extern "C" __global__ void __launch_bounds__(ULTRA_THREADS, 1)
    ultra_hop_f32(const UltraNet* net_g, const int* req, int* ans) {
  __shared__ UltraSmem sm;
  __shared__ UltraNet net;
  const unsigned long long t_start = ultra_ns();
  if (threadIdx.x == 0) {
    net = *net_g;
    sm.seq = req[ULTRA_MB_REQ];
    sm.cmd = req[ULTRA_MB_CMD];
    sm.slot = req[ULTRA_MB_SLOT];
    sm.strength = __int_as_float(req[ULTRA_MB_STRENGTH]);
  }
  if (threadIdx.x < ULTRA_HOP) sm.in[threadIdx.x] = __int_as_float(req[ULTRA_MB_IN + threadIdx.x]);
  __syncthreads();
  ultra_load_tables(net, sm);
  const int cmd = sm.cmd;
  const int status = cmd == ULTRA_CMD_HOP || cmd == ULTRA_CMD_ZERO ? ultra_command(net, sm) : 0;
  if (cmd == ULTRA_CMD_HOP && status == 0)
    for (int i = threadIdx.x; i < ULTRA_HOP; i += blockDim.x)
      ans[ULTRA_MB_OUT - ULTRA_MB_DONE + i] = __float_as_int(sm.out[i]);
  if (threadIdx.x == 0) {
    ans[ULTRA_MB_STATUS - ULTRA_MB_DONE] = status;
    ans[ULTRA_MB_VAD - ULTRA_MB_DONE] = __float_as_int(cmd == ULTRA_CMD_HOP ? sm.vad : 0.f);
    ans[ULTRA_MB_KERNEL_NS - ULTRA_MB_DONE] = ultra_ns_since(t_start);
    ans[0] = sm.seq;
  }
}

// ---------------------------------------------------------------------------------------------
// Thread-block cluster variant (sm_90+): the same hop on ULTRA_CLUSTER blocks of one cluster.
// Rank 0 reads the request, runs the frontend (steps 1-3), sends the features and both GRU
// states to ranks 1.., and at the end runs vad_output, gain_output and steps 5-7. Ranks 1.. run
// input_dense redundantly and each own a slice of both GRUs' units, one warp per unit, with their
// weights resident in shared memory; they send gru1's new state to every rank and gru2's to
// rank 0. Every hand-over is a store of 64-bit words {value, sequence} into the receiver's shared
// memory (distributed shared memory, single-copy atomic), which the receiver polls locally: no
// cluster barrier on the reset-after path (the Keras convention adds one per GRU, for r * h).
// Buffers are reused safely without double buffering: a sender can only be one hop ahead after
// every receiver has copied the previous hop's words out (each hop's request waits for all of
// gru2's states, which every rank sends after its last read).
#if !defined(GHOSTNV_ULTRA_HOST_TEST) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

#define ULTRA_LL_STOP 0x80000000u  // in a word's sequence half: no hop, the ranks return

__device__ __forceinline__ unsigned ultra_cluster_rank() {
  unsigned r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
  return r;
}
__device__ __forceinline__ void ultra_cluster_arrive() {
  asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory");
}
__device__ __forceinline__ void ultra_cluster_wait() {
  asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory");
}
__device__ __forceinline__ void ultra_cluster_sync() {
  ultra_cluster_arrive();
  ultra_cluster_wait();
}
// Stores v at the address that `local` (this block's shared memory) has in block `rank`.
__device__ __forceinline__ void ultra_st_remote(float* local, unsigned rank, float v) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(local));
  unsigned ra;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(ra) : "r"(a), "r"(rank));
  asm volatile("st.shared::cluster.f32 [%0], %1;" ::"r"(ra), "f"(v) : "memory");
}

// Copies floats from global (16-byte aligned) to shared memory (16-byte aligned), four 16-byte
// loads in flight per thread. No barrier.
__device__ void ultra_copy_fast(float* __restrict__ dst, const float* __restrict__ src, int floats) {
  const int n4 = floats >> 2, bd = blockDim.x;
  const float4* __restrict__ s4 = reinterpret_cast<const float4*>(src);
  float4* __restrict__ d4 = reinterpret_cast<float4*>(dst);
  int i = threadIdx.x;
  for (; i + 3 * bd < n4; i += 4 * bd) {
    const float4 a = s4[i], b = s4[i + bd], c = s4[i + 2 * bd], d = s4[i + 3 * bd];
    d4[i] = a;
    d4[i + bd] = b;
    d4[i + 2 * bd] = c;
    d4[i + 3 * bd] = d;
  }
  for (; i < n4; i += bd) d4[i] = s4[i];
  for (int k = 4 * n4 + threadIdx.x; k < floats; k += bd) dst[k] = src[k];
}

// As ultra_cache, with ultra_copy_fast (the caller synchronises).
__device__ unsigned long long ultra_cache_fast(unsigned long long w, int floats, float* dyn, int* used,
                                               int budget) {
  if (w == 0ull || floats <= 0 || *used + floats > budget) return w;
  float* dst = dyn + *used;
  ultra_copy_fast(dst, ultra_ptr(w), floats);
  *used += (floats + 3) & ~3;
  return reinterpret_cast<unsigned long long>(dst);
}

// A {value, sequence} word and its remote store / local wait.
__device__ __forceinline__ unsigned long long ultra_ll(float v, unsigned seq) {
  return (static_cast<unsigned long long>(seq) << 32) | __float_as_uint(v);
}
__device__ __forceinline__ void ultra_st_remote_ll(unsigned long long* local, unsigned rank, unsigned long long w) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(local));
  unsigned ra;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(ra) : "r"(a), "r"(rank));
  asm volatile("st.shared::cluster.u64 [%0], %1;" ::"r"(ra), "l"(w) : "memory");
}
// Spins until the word at p carries sequence seq (the stop bit aside); returns the word.
__device__ __forceinline__ unsigned long long ultra_ll_wait(const unsigned long long* p, unsigned seq) {
  unsigned long long w;
  do {
    w = *reinterpret_cast<const volatile unsigned long long*>(p);
  } while ((static_cast<unsigned>(w >> 32) & ~ULTRA_LL_STOP) != seq);
  return w;
}
// The next sequence number: 1 .. 2^31 - 1 (0 is a zeroed word; the top bit is ULTRA_LL_STOP).
__device__ __forceinline__ unsigned ultra_ll_next(unsigned seq) { return seq >= 0x7fffffffu ? 1u : seq + 1u; }
__device__ __forceinline__ float ultra_ll_value(unsigned long long w) {
  return __uint_as_float(static_cast<unsigned>(w));
}
__device__ __forceinline__ float ultra_warp_sum(float v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// The LL request (ULTRA_LL_REQ; persistent cluster kernel, block 0): threads 0 ..
// ULTRA_LL_WORDS / 2 - 1 each poll two words (16 bytes over PCIe) until both carry sequence
// `want`, then store their values: the header into sm.cmd / sm.slot / sm.strength, the samples
// into sm.in and the newest hop of sm.hist (whatever the command: a hop reloads the rest of
// sm.hist from the slot state). Thread 0 also sets sm.seq, sm.ts[0], sm.t_ns. No barrier.
__device__ void ultra_ll_request(const int* mailbox, unsigned want, UltraSmem& sm) {
  const int t = threadIdx.x;
  if (t >= ULTRA_LL_WORDS / 2) return;
  const unsigned long long* rq = reinterpret_cast<const unsigned long long*>(mailbox + ULTRA_LL_REQ) + 2 * t;
  unsigned long long a, b;
  do {
    asm volatile("ld.volatile.global.v2.u64 {%0, %1}, [%2];" : "=l"(a), "=l"(b) : "l"(rq) : "memory");
  } while (static_cast<unsigned>(a >> 32) != want || static_cast<unsigned>(b >> 32) != want);
  const unsigned long long w[2] = {a, b};
  for (int j = 0; j < 2; ++j) {
    const int k = 2 * t + j;
    const unsigned v = static_cast<unsigned>(w[j]);
    if (k >= ULTRA_LL_HEAD) {
      const float x = __uint_as_float(v);
      sm.in[k - ULTRA_LL_HEAD] = x;
      sm.hist[ULTRA_WINDOW - ULTRA_HOP + k - ULTRA_LL_HEAD] = x;
    } else if (k == 0) {
      sm.cmd = static_cast<int>(v);
    } else if (k == 1) {
      sm.slot = static_cast<int>(v);
    } else if (k == 2) {
      sm.strength = __uint_as_float(v);
    }
  }
  if (t == 0) {
    sm.ts[0] = clock64();
    sm.t_ns = ultra_ns();
    sm.seq = static_cast<int>(want);
  }
}

// The LL answer (ULTRA_LL_ANS) with sequence seq: the header (status, vad, kernel ns) and, for a
// hop, sm.out; two words per thread, one 16-byte store each, no fence. No barrier.
__device__ void ultra_ll_answer(int* mailbox, unsigned seq, int status, float vad, int kernel_ns,
                                const UltraSmem& sm, bool hop) {
  const int t = threadIdx.x;
  if (2 * t >= (hop ? ULTRA_LL_WORDS : ULTRA_LL_HEAD)) return;
  unsigned long long w[2];
  for (int j = 0; j < 2; ++j) {
    const int k = 2 * t + j;
    const unsigned v = k >= ULTRA_LL_HEAD ? __float_as_uint(sm.out[k - ULTRA_LL_HEAD])
                       : k == 0           ? static_cast<unsigned>(status)
                       : k == 1           ? __float_as_uint(vad)
                       : k == 2           ? static_cast<unsigned>(kernel_ns)
                                          : 0u;
    w[j] = (static_cast<unsigned long long>(seq) << 32) | v;
  }
  asm volatile("st.volatile.global.v2.u64 [%0], {%1, %2};"
               :
               : "l"(reinterpret_cast<unsigned long long*>(mailbox + ULTRA_LL_ANS) + 2 * t), "l"(w[0]), "l"(w[1])
               : "memory");
}

// Loads the network descriptor and this rank's slices; rank 0 also the tables; zeroes this
// block's words (no stale sequence can match). Ends in step.
__device__ void ultra_cl_load(const UltraNet* net_g, const UltraSlice* sl_g, unsigned rank, UltraNet& net,
                              UltraCl& cl, UltraSmem& sm) {
  if (threadIdx.x == 0) {
    net = *net_g;
    cl.sl[0] = sl_g[rank];
    cl.sl[1] = sl_g[ULTRA_CLUSTER + rank];
    cl.dense_t = sl_g[2 * ULTRA_CLUSTER].w;
    cl.gain_t = sl_g[2 * ULTRA_CLUSTER].r;
  }
  for (int i = threadIdx.x; i < ULTRA_BANDS + 2 * ULTRA_MAX_UNITS; i += blockDim.x) cl.req[i] = 0ull;
  for (int i = threadIdx.x; i < ULTRA_MAX_UNITS; i += blockDim.x) cl.h1[i] = cl.h2[i] = 0ull;
  __syncthreads();
  if (rank == 0) ultra_load_tables(net, sm);
}

// Weights this rank uses into dynamic shared memory while they fit (budget net.smem_floats):
// rank 0 the output layers, ranks 1.. input_dense and their GRU slices. Ends in step.
__device__ void ultra_cl_cache(unsigned rank, UltraNet& net, UltraCl& cl, float* dyn) {
  int used = 0;
  const int budget = net.smem_floats;
  if (rank == 0) {
    const unsigned long long gb = ultra_cache_fast(net.gain.b, net.gain.units, dyn, &used, budget);
    const unsigned long long vb = ultra_cache_fast(net.vad.b, net.vad.units, dyn, &used, budget);
    const unsigned long long gw = ultra_cache_fast(cl.gain_t, net.gain.inputs * net.gain.units, dyn, &used, budget);
    const unsigned long long vw = ultra_cache_fast(net.vad.w, net.vad.inputs * net.vad.units, dyn, &used, budget);
    __syncthreads();
    if (threadIdx.x == 0) {
      net.gain.b = gb;
      net.vad.b = vb;
      cl.gain_t = gw;
      net.vad.w = vw;
    }
  } else {
    const UltraLayer* gl[2] = {&net.gru1, &net.gru2};
    unsigned long long w[2], r[2], b[2], rb[2];
    const unsigned long long db = ultra_cache_fast(net.dense_in.b, net.dense_in.units, dyn, &used, budget);
    for (int j = 0; j < 2; ++j) {
      const int n3 = 3 * cl.sl[j].units;
      b[j] = ultra_cache_fast(cl.sl[j].b, n3, dyn, &used, budget);
      rb[j] = ultra_cache_fast(cl.sl[j].rb, n3, dyn, &used, budget);
    }
    const unsigned long long dw =
        ultra_cache_fast(cl.dense_t, net.dense_in.inputs * net.dense_in.units, dyn, &used, budget);
    for (int j = 0; j < 2; ++j) {
      const int n3 = 3 * cl.sl[j].units;
      w[j] = ultra_cache_fast(cl.sl[j].w, gl[j]->inputs * n3, dyn, &used, budget);
      r[j] = ultra_cache_fast(cl.sl[j].r, gl[j]->units * n3, dyn, &used, budget);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      cl.dense_t = dw;
      net.dense_in.b = db;
      for (int j = 0; j < 2; ++j) {
        cl.sl[j].w = w[j];
        cl.sl[j].r = r[j];
        cl.sl[j].b = b[j];
        cl.sl[j].rb = rb[j];
      }
    }
  }
  __syncthreads();
}

// y[o] = act(b[o] + sum_i x[i] wt[o * inputs + i]), one warp per output, warps from first_warp
// on. No barrier.
__device__ void ultra_cl_dense_t(const float* wt, unsigned long long b, int inputs, int units, int act, int math,
                                 const float* x, float* y, int first_warp = 0) {
  const int warp = static_cast<int>(threadIdx.x >> 5) - first_warp, lane = threadIdx.x & 31;
  const int warps = static_cast<int>(blockDim.x >> 5) - first_warp;
  if (warp < 0) return;
  for (int o = warp; o < units; o += warps) {
    const float* w = wt + static_cast<long long>(o) * inputs;
    float a = 0.f;
    for (int i = lane; i < inputs; i += 32) a = fmaf(x[i], w[i], a);
    a = ultra_warp_sum(a);
    if (lane == 0) y[o] = gnv_activate(act, math, ultra_at(b, o) + a);
  }
}

// One GRU step on this rank's slice s of layer l, one warp per unit: x (l.inputs) and h (the old
// state, l.units) in this block; the new state of unit u0 + i goes as a word with sequence seq
// to hout[u0 + i] in every rank (to_all) or in rank 0. Weights unit-major: w [units][3][inputs],
// r [units][3][l.units], b / rb [units][3]. Every rank calls it (rank 0 with 0 units): with the
// Keras convention it contains a cluster barrier.
__device__ void ultra_cl_gru(const UltraLayer& l, const UltraSlice& s, int math, const float* x, const float* h,
                             unsigned long long* hout, bool to_all, unsigned seq, UltraSmem& sm, UltraCl& cl,
                             const float* pre = nullptr) {
  const int u = l.units, n = s.units, u0 = s.u0, in = l.inputs;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  const bool ra = l.reset_after != 0;
  for (int i = warp; i < n; i += warps) {
    const float* w = ultra_ptr(s.w) + static_cast<long long>(i) * 3 * in;
    const float* r = ultra_ptr(s.r) + static_cast<long long>(i) * 3 * u;
    float xz = 0.f, xr = 0.f, xh = 0.f, hz = 0.f, hr = 0.f, hh = 0.f;
    for (int k = lane; k < in; k += 32) {
      const float v = x[k];
      xz = fmaf(v, w[k], xz);
      xr = fmaf(v, w[in + k], xr);
      xh = fmaf(v, w[2 * in + k], xh);
    }
    if (pre == nullptr) {
      for (int k = lane; k < u; k += 32) {
        const float v = h[k];
        hz = fmaf(v, r[k], hz);
        hr = fmaf(v, r[u + k], hr);
        if (ra) hh = fmaf(v, r[2 * u + k], hh);
      }
    }
    xz = ultra_warp_sum(xz);
    xr = ultra_warp_sum(xr);
    xh = ultra_warp_sum(xh);
    if (pre == nullptr) {
      hz = ultra_warp_sum(hz);
      hr = ultra_warp_sum(hr);
      if (ra) hh = ultra_warp_sum(hh);
    } else {
      hz = pre[3 * i];
      hr = pre[3 * i + 1];
      hh = pre[3 * i + 2];
    }
    const float z = gnv_sigmoid(math, (ultra_at(s.b, 3 * i) + ultra_at(s.rb, 3 * i)) + (xz + hz));
    const float rr = gnv_sigmoid(math, (ultra_at(s.b, 3 * i + 1) + ultra_at(s.rb, 3 * i + 1)) + (xr + hr));
    if (ra) {
      const float pre = (ultra_at(s.b, 3 * i + 2) + xh) + rr * (ultra_at(s.rb, 3 * i + 2) + hh);
      const float hn = z * h[u0 + i] + (1.f - z) * gnv_activate(l.act, math, pre);
      if (to_all ? lane < ULTRA_CLUSTER : lane == 0)
        ultra_st_remote_ll(&hout[u0 + i], static_cast<unsigned>(lane), ultra_ll(hn, seq));
    } else {
      if (lane == 0) {
        sm.gx[i] = z;
        sm.gx[n + i] = xh;
      }
      if (lane >= 1 && lane < ULTRA_CLUSTER)
        ultra_st_remote(&cl.rsx[u0 + i], static_cast<unsigned>(lane), rr * h[u0 + i]);
    }
  }
  if (ra) return;
  ultra_cluster_sync();  // every rank has r * h of every unit in rsx
  for (int i = warp; i < n; i += warps) {
    const float* rh = ultra_ptr(s.r) + (static_cast<long long>(i) * 3 + 2) * u;
    float a = 0.f;
    for (int k = lane; k < u; k += 32) a = fmaf(cl.rsx[k], rh[k], a);
    a = ultra_warp_sum(a);
    const float z = sm.gx[i];
    const float pre = (ultra_at(s.b, 3 * i + 2) + ultra_at(s.rb, 3 * i + 2)) + (sm.gx[n + i] + a);
    const float hn = z * h[u0 + i] + (1.f - z) * gnv_activate(l.act, math, pre);
    if (to_all ? lane < ULTRA_CLUSTER : lane == 0)
      ultra_st_remote_ll(&hout[u0 + i], static_cast<unsigned>(lane), ultra_ll(hn, seq));
  }
}

// The recurrent half of ultra_cl_gru for this rank's slice (U_z h, U_r h and, reset-after,
// U_h h; the same sums in the same order), into pre[3 i ..] for unit u0 + i: it needs only the
// old state, so the ranks run it while rank 0 still runs the DFT (early states). No barrier.
__device__ void ultra_cl_gru_hpart(const UltraLayer& l, const UltraSlice& s, const float* h, float* pre) {
  const int u = l.units, n = s.units;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  const bool ra = l.reset_after != 0;
  for (int i = warp; i < n; i += warps) {
    const float* r = ultra_ptr(s.r) + static_cast<long long>(i) * 3 * u;
    float hz = 0.f, hr = 0.f, hh = 0.f;
    for (int k = lane; k < u; k += 32) {
      const float v = h[k];
      hz = fmaf(v, r[k], hz);
      hr = fmaf(v, r[u + k], hr);
      if (ra) hh = fmaf(v, r[2 * u + k], hh);
    }
    hz = ultra_warp_sum(hz);
    hr = ultra_warp_sum(hr);
    if (ra) hh = ultra_warp_sum(hh);
    if (lane == 0) {
      pre[3 * i] = hz;
      pre[3 * i + 1] = hr;
      pre[3 * i + 2] = hh;
    }
  }
}

// As ultra_cl_dense_t (all warps), one half-warp per output: two outputs per warp at once
// (ULTRA_FLAG_HALF_DENSE: input_dense's 64 outputs in one round on 32 warps). No barrier.
__device__ void ultra_cl_dense_t_half(const float* wt, unsigned long long b, int inputs, int units, int act, int math,
                                      const float* x, float* y) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  const int half = lane >> 4, hl = lane & 15;
  for (int base = 2 * warp; base < units; base += 2 * warps) {  // the same trip count for both halves
    const int o = base + half;
    float a = 0.f;
    if (o < units) {
      const float* w = wt + static_cast<long long>(o) * inputs;
      for (int i = hl; i < inputs; i += 16) a = fmaf(x[i], w[i], a);
    }
    for (int off = 8; off > 0; off >>= 1) a += __shfl_xor_sync(0xffffffffu, a, off);
    if (hl == 0 && o < units) y[o] = gnv_activate(act, math, ultra_at(b, o) + a);
  }
}

// Rank 0 (early states): request words [from, to) only (features [0, ULTRA_BANDS), then the
// states) with sequence seq to ranks 1... No barrier.
// Threads [first, blockDim.x) send (first > 0: the warps that the fast FFT leaves idle).
__device__ void ultra_cl_send_part(const UltraNet& net, UltraSmem& sm, UltraCl& cl, unsigned seq, int from, int to,
                                   int first = 0) {
  const int u1 = net.gru1.units;
  const int t = static_cast<int>(threadIdx.x) - first, threads = static_cast<int>(blockDim.x) - first;
  for (int j = from + t; t >= 0 && j < to; j += threads) {
    const float v = j < ULTRA_BANDS ? sm.feat[j] : (j < ULTRA_BANDS + u1 ? sm.s1[j - ULTRA_BANDS] : sm.s2[j - ULTRA_BANDS - u1]);
    const unsigned long long w = ultra_ll(v, seq);
    for (unsigned r = 1; r < ULTRA_CLUSTER; ++r) ultra_st_remote_ll(&cl.req[j], r, w);
  }
}

// Rank 0 (ULTRA_FLAG_BAND_SEND, after ultra_frontend_rest(..., fast, false)): the warp of band b
// computes its feature (ultra_band_energy) and lanes 1..ULTRA_CLUSTER-1 send it with sequence seq
// straight to their rank (no barrier, no separate send loop); lane 0 keeps it in sm.feat. No
// barrier.
__device__ void ultra_cl_bands_send(UltraSmem& sm, UltraCl& cl, unsigned seq) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  for (int b = warp; b < ULTRA_BANDS; b += warps) {
    const float f = log10f(ultra_band_energy(sm, b, lane) + 1e-10f);
    if (lane == 0)
      sm.feat[b] = f;
    else if (lane < ULTRA_CLUSTER)
      ultra_st_remote_ll(&cl.req[b], static_cast<unsigned>(lane), ultra_ll(f, seq));
  }
}

// Rank 0: sends the request words (features, gru1 and gru2 states; or, with stop, words that
// only say "return") with sequence seq to ranks 1... No barrier.
__device__ void ultra_cl_send_request(const UltraNet& net, UltraSmem& sm, UltraCl& cl, unsigned seq, bool stop) {
  const int u1 = net.gru1.units, u2 = net.gru2.units, m = ULTRA_BANDS + u1 + u2;
  for (int j = threadIdx.x; j < m; j += blockDim.x) {
    const float v = j < ULTRA_BANDS ? sm.feat[j] : (j < ULTRA_BANDS + u1 ? sm.s1[j - ULTRA_BANDS] : sm.s2[j - ULTRA_BANDS - u1]);
    const unsigned long long w = ultra_ll(stop ? 0.f : v, stop ? (seq | ULTRA_LL_STOP) : seq);
    for (unsigned r = 1; r < ULTRA_CLUSTER; ++r) ultra_st_remote_ll(&cl.req[j], r, w);
  }
  if (threadIdx.x == 0) sm.ts[11] = clock64();
}

// Ranks 1..: one hop's work after waiting for request seq. Returns false for a stop request.
// diag (persistent kernel, rank 1): the mailbox, for its ULTRA_MB_RANK1 words.
// flags: ULTRA_FLAG_EARLY, ULTRA_FLAG_PRE2, ULTRA_FLAG_HALF_DENSE.
__device__ bool ultra_cl_gru_rank(const UltraNet& net, UltraSmem& sm, UltraCl& cl, unsigned seq, int flags = 0,
                                  int* diag = nullptr) {
  const int u1 = net.gru1.units, u2 = net.gru2.units, m = ULTRA_BANDS + u1 + u2;
  const int t = threadIdx.x;
  const bool early = (flags & ULTRA_FLAG_EARLY) != 0, pre2 = early && (flags & ULTRA_FLAG_PRE2) != 0;
  // sm.gh: gru1's recurrent half [0, 3 n), gru2's [384, 384 + 3 n) (n <= ceil(ULTRA_MAX_UNITS / 7)
  // = 37 units a rank).
  float* pre2h = sm.gh + 384;
  long long c[6] = {};
  if (t == 0) c[0] = clock64();
  if (early) {
    // The states come first (rank 0 sends them before its DFT): gru1's recurrent half now.
    for (int j = ULTRA_BANDS + t; j < m; j += blockDim.x) {
      const float v = ultra_ll_value(ultra_ll_wait(&cl.req[j], seq));
      if (j < ULTRA_BANDS + u1)
        sm.s1[j - ULTRA_BANDS] = v;
      else
        sm.s2[j - ULTRA_BANDS - u1] = v;
    }
    __syncthreads();
    if (t == 0) c[0] = clock64();
    ultra_cl_gru_hpart(net.gru1, cl.sl[0], sm.s1, sm.gh);
    if (pre2) ultra_cl_gru_hpart(net.gru2, cl.sl[1], sm.s2, pre2h);
  }
  for (int j = t; j < (early ? ULTRA_BANDS : m); j += blockDim.x) {
    const float v = ultra_ll_value(ultra_ll_wait(&cl.req[j], seq));
    if (j < ULTRA_BANDS)
      sm.feat[j] = v;
    else if (j < ULTRA_BANDS + u1)
      sm.s1[j - ULTRA_BANDS] = v;
    else
      sm.s2[j - ULTRA_BANDS - u1] = v;
  }
  __syncthreads();
  if (t == 0) c[1] = clock64();
  if ((static_cast<unsigned>(reinterpret_cast<volatile unsigned long long*>(cl.req)[0] >> 32) & ULTRA_LL_STOP) != 0)
    return false;
  if ((flags & ULTRA_FLAG_HALF_DENSE) != 0)
    ultra_cl_dense_t_half(ultra_ptr(cl.dense_t), net.dense_in.b, net.dense_in.inputs, net.dense_in.units,
                          net.dense_in.act, net.math, sm.feat, cl.g2in + u1);
  else
    ultra_cl_dense_t(ultra_ptr(cl.dense_t), net.dense_in.b, net.dense_in.inputs, net.dense_in.units,
                     net.dense_in.act, net.math, sm.feat, cl.g2in + u1);
  __syncthreads();
  if (t == 0) c[2] = clock64();
  ultra_cl_gru(net.gru1, cl.sl[0], net.math, cl.g2in + u1, sm.s1, cl.h1, true, seq, sm, cl,
               early ? sm.gh : nullptr);
  if (t == 0) c[3] = clock64();
  // Every thread waits (also on a rank without gru2 units: the graph kernel's ranks return after
  // this, and no block may return while words for it are in flight).
  for (int j = t; j < u1; j += blockDim.x) cl.g2in[j] = ultra_ll_value(ultra_ll_wait(&cl.h1[j], seq));
  __syncthreads();
  if (t == 0) c[4] = clock64();
  ultra_cl_gru(net.gru2, cl.sl[1], net.math, cl.g2in, sm.s2, cl.h2, false, seq, sm, cl, pre2 ? pre2h : nullptr);
  if (t == 0 && diag != nullptr) {
    // Diagnostics (thread 0's view; its warp runs unit 0 of each slice).
    volatile int* d = diag + ULTRA_MB_RANK1;
    const long long c5 = clock64();
    d[0] = static_cast<int>(c[2] - c[1]);
    d[1] = static_cast<int>(c[3] - c[1]);
    d[2] = static_cast<int>(c[4] - c[1]);
    d[3] = static_cast<int>(c5 - c[1]);
    d[4] = static_cast<int>(c[1] - c[0]);
    d[5] = static_cast<int>(c5 - c[0]);
  }
  return true;
}

// Rank 0, after ultra_cl_send_request(seq): takes part in the GRUs' barriers (Keras convention),
// waits for both new states (into sm.s1 / sm.s2) and runs vad_output and gain_output (sm.vad,
// sm.gains). Ends in step.
__device__ void ultra_cl_rank0(const UltraNet& net, UltraSmem& sm, UltraCl& cl, unsigned seq) {
  const int u1 = net.gru1.units, u2 = net.gru2.units;
  const int t = threadIdx.x;
  __syncthreads();  // the request was built from sm.s1 / sm.s2, which the new states overwrite
  // The inverse FFT's gain-free part while ranks 1.. run the GRUs (threads clear of the waits
  // below; the barrier after the gru1 wait orders it before ultra_backend(..., true)).
  if ((net.flags & ULTRA_NET_FAST_FFT) != 0) ultra_backend_prep(sm, 256);
  ultra_cl_gru(net.gru1, cl.sl[0], net.math, nullptr, nullptr, cl.h1, true, seq, sm, cl);
  ultra_cl_gru(net.gru2, cl.sl[1], net.math, nullptr, nullptr, cl.h2, false, seq, sm, cl);
  for (int j = t; j < u1; j += blockDim.x) sm.s1[j] = ultra_ll_value(ultra_ll_wait(&cl.h1[j], seq));
  if (t == 0) sm.ts[12] = clock64();
  // vad_output needs only gru1's state: the last warps run it while ranks 1.. run gru2 (and
  // the first warps wait for gru2's state), off the critical path.
  __syncthreads();
  const int vad_warp = static_cast<int>(blockDim.x >> 5) - 1;
  ultra_cl_dense_t(ultra_ptr(net.vad.w), net.vad.b, net.vad.inputs, net.vad.units, net.vad.act, net.math, sm.s1,
                   &sm.vad, vad_warp);
  // (Measured 2026-11-29, session 7: letting each gain warp wait for gru2's words itself, all 32
  // warps polling, made this 1-3.5k cycles slower than three warps waiting and a barrier.)
  for (int j = t; j < u2; j += blockDim.x) sm.s2[j] = ultra_ll_value(ultra_ll_wait(&cl.h2[j], seq));
  __syncthreads();
  if (t == 0) sm.ts[13] = clock64();
  ultra_cl_dense_t(ultra_ptr(cl.gain_t), net.gain.b, net.gain.inputs, net.gain.units, net.gain.act, net.math,
                   sm.s2, sm.gains);
  __syncthreads();
  if (t == 0) sm.ts[15] = clock64();
}

extern "C" __global__ void __cluster_dims__(ULTRA_CLUSTER, 1, 1) __launch_bounds__(ULTRA_THREADS, 1)
    ultra_persistent_cluster_f32(const UltraNet* net_g, const UltraSlice* sl_g, int* mailbox, int start_seq,
                                 int flags) {
  // flags: ULTRA_FLAG_LL (the LL mailbox), ULTRA_FLAG_EARLY (states sent before the DFT).
  const bool ll = (flags & ULTRA_FLAG_LL) != 0, early = (flags & ULTRA_FLAG_EARLY) != 0;
  __shared__ UltraSmem sm;
  __shared__ UltraNet net;
  extern __shared__ float4 dyn4[];  // UltraCl, then the weights
  UltraCl& cl = *reinterpret_cast<UltraCl*>(dyn4);
  float* dyn = reinterpret_cast<float*>(dyn4) + sizeof(UltraCl) / sizeof(float);
  const unsigned rank = ultra_cluster_rank();
  ultra_cl_load(net_g, sl_g, rank, net, cl, sm);
  ultra_cl_cache(rank, net, cl, dyn);
  ultra_cluster_sync();  // every block of the cluster runs, its words zeroed
  unsigned seq = 0;      // hops (and the stop) sent to ranks 1..; the same count on every rank
  if (rank != 0) {
    while (ultra_cl_gru_rank(net, sm, cl, seq = ultra_ll_next(seq), flags, rank == 1 ? mailbox : nullptr)) {
    }
    ultra_cluster_sync();  // nobody stores into a block that has returned
    return;
  }
  volatile int* mb = mailbox;
  int last = start_seq;
  int pre_slot = -1;  // LL mode: the slot of the last hop, whose state is loaded during the poll
  static_assert(ULTRA_LL_WORDS / 2 <= 64, "the LL poll runs on warps 0-1");
  for (;;) {
    int cmd, slot;
    bool valid, hop;
    float* st;
    if (ll) {
      // LL request: threads 0..ULTRA_LL_WORDS/2-1 each poll two words (16 bytes over PCIe) until
      // both carry the next sequence; the values come with them. Meanwhile warps 2.. load the
      // state of the last hop's slot (the usual next request; nothing else writes it while the
      // kernel waits); a hop on another slot loads its state after the poll.
      if (pre_slot >= 0)
        ultra_state_in(net, sm, reinterpret_cast<const float*>(net.state) + static_cast<long long>(pre_slot) * net.state_stride, 64);
      ultra_ll_request(mailbox, static_cast<unsigned>(last) + 1u, sm);
      __syncthreads();
      cmd = sm.cmd;
      slot = sm.slot;
      valid = slot >= 0 && slot < net.max_slots;
      hop = cmd == ULTRA_CMD_HOP && valid;
      st = valid ? reinterpret_cast<float*>(net.state) + static_cast<long long>(slot) * net.state_stride : nullptr;
      if (hop && slot != pre_slot) ultra_state_in(net, sm, st, 0);
      if (hop) pre_slot = slot;
    } else {
      ultra_poll_request(mailbox, last, sm);
      __syncthreads();
      // The input samples (warp 0, over PCIe) and, for a hop, the slot's state (the other warps,
      // from L2) at the same time.
      cmd = sm.cmd;
      slot = sm.slot;
      valid = slot >= 0 && slot < net.max_slots;
      hop = cmd == ULTRA_CMD_HOP && valid;
      st = valid ? reinterpret_cast<float*>(net.state) + static_cast<long long>(slot) * net.state_stride : nullptr;
      if (!ultra_read_input(mailbox, sm, hop) && hop) ultra_state_in(net, sm, st, 32);
    }
    last = sm.seq;
    __syncthreads();
    if (threadIdx.x == 0) sm.ts[1] = clock64();
    int status = 0;
    if (cmd == ULTRA_CMD_STOP) {
      ultra_cl_send_request(net, sm, cl, seq = ultra_ll_next(seq), true);
      if (ll) {
        ultra_ll_answer(mailbox, static_cast<unsigned>(last), 0, 0.f, 0, sm, false);
      } else if (threadIdx.x == 0) {
        __threadfence_system();
        mb[ULTRA_MB_DONE] = last;
      }
      ultra_cluster_sync();
      return;
    }
    if (hop) {
      seq = ultra_ll_next(seq);
      // Early states: ranks 1.. start gru1's recurrent half while this block runs the DFT.
      // With the fast FFT the states go from warps 8.. while warps 0-5 transform.
      const bool fast = (net.flags & ULTRA_NET_FAST_FFT) != 0;
      if (early)
        ultra_cl_send_part(net, sm, cl, seq, ULTRA_BANDS, ULTRA_BANDS + net.gru1.units + net.gru2.units,
                           fast ? 256 : 0);
      // The features straight from the band warps (early states and the fast FFT).
      const bool band_send = early && fast && (flags & ULTRA_FLAG_BAND_SEND) != 0;
      ultra_frontend_rest(sm, st, fast, !band_send);
      if (band_send) {
        ultra_cl_bands_send(sm, cl, seq);
        if (threadIdx.x == 0) sm.ts[2] = sm.ts[11] = clock64();  // thread 0's band sent
      } else {
        if (threadIdx.x == 0) sm.ts[2] = clock64();
        if (early) {
          ultra_cl_send_part(net, sm, cl, seq, 0, ULTRA_BANDS);
          if (threadIdx.x == 0) sm.ts[11] = clock64();
        } else {
          ultra_cl_send_request(net, sm, cl, seq, false);
        }
      }
      ultra_cl_rank0(net, sm, cl, seq);
      if (threadIdx.x == 0) sm.ts[3] = clock64();
      ultra_backend(net, sm, st, true);
    } else if (cmd == ULTRA_CMD_ZERO && valid) {
      for (int i = threadIdx.x; i < net.state_stride; i += blockDim.x) st[i] = 0.f;
      __syncthreads();
      if (threadIdx.x == 0) sm.ts[2] = sm.ts[3] = clock64();
    } else {
      status = valid ? 0 : 1;
      if (threadIdx.x == 0) sm.ts[2] = sm.ts[3] = clock64();
    }
    if (threadIdx.x == 0) sm.ts[4] = clock64();
    if (ll) {
      if (threadIdx.x == 0 && hop) {
        // Diagnostics (plain words, unordered with the answer: may lag by a hop).
        const long long t5 = clock64();
        const long long c[6] = {sm.ts[1] - sm.ts[0], sm.ts[2] - sm.ts[1], sm.ts[3] - sm.ts[2],
                                sm.ts[4] - sm.ts[3], t5 - sm.ts[4], t5 - sm.ts[0]};
        for (int i = 0; i < 6; ++i) mb[ULTRA_MB_CYCLES + i] = static_cast<int>(c[i]);
        const long long f[ULTRA_MB_FINE_WORDS] = {sm.ts[9], sm.ts[2], sm.ts[11], sm.ts[12],
                                                  sm.ts[13], sm.ts[15], sm.ts[4]};
        for (int i = 0; i < ULTRA_MB_FINE_WORDS; ++i) mb[ULTRA_MB_FINE + i] = static_cast<int>(f[i] - sm.ts[1]);
      }
      // A hop command answers every word, valid slot or not (the host waits for all of them).
      ultra_ll_answer(mailbox, static_cast<unsigned>(last), status, hop ? sm.vad : 0.f, ultra_ns_since(sm.t_ns),
                      sm, cmd == ULTRA_CMD_HOP);
    } else if (threadIdx.x < 32) {
      if (hop && threadIdx.x < ULTRA_HOP / 4) {
        const int i = 4 * threadIdx.x;
        asm volatile("st.volatile.global.v4.f32 [%0], {%1, %2, %3, %4};"
                     :
                     : "l"(mailbox + ULTRA_MB_OUT + i), "f"(sm.out[i]), "f"(sm.out[i + 1]),
                       "f"(sm.out[i + 2]), "f"(sm.out[i + 3])
                     : "memory");
      }
      if (threadIdx.x == 0) {
        mb[ULTRA_MB_STATUS] = status;
        mb[ULTRA_MB_VAD] = __float_as_int(hop ? sm.vad : 0.f);
        mb[ULTRA_MB_KERNEL_NS] = ultra_ns_since(sm.t_ns);
      }
      __threadfence_system();
      __syncwarp();
      if (threadIdx.x == 0) {
        const long long t5 = clock64();
        const long long c[6] = {sm.ts[1] - sm.ts[0], sm.ts[2] - sm.ts[1], sm.ts[3] - sm.ts[2],
                                sm.ts[4] - sm.ts[3], t5 - sm.ts[4], t5 - sm.ts[0]};
        if (hop) {
          for (int i = 0; i < 6; ++i) mb[ULTRA_MB_CYCLES + i] = static_cast<int>(c[i]);
          const long long f[ULTRA_MB_FINE_WORDS] = {sm.ts[9], sm.ts[2], sm.ts[11], sm.ts[12],
                                                    sm.ts[13], sm.ts[15], sm.ts[4]};
          for (int i = 0; i < ULTRA_MB_FINE_WORDS; ++i) mb[ULTRA_MB_FINE + i] = static_cast<int>(f[i] - sm.ts[1]);
        }
        mb[ULTRA_MB_DONE] = last;
      }
    }
    __syncthreads();
  }
}

// The graph-replay variant: one command per launch (req / ans as ultra_hop_f32). Ranks 1.. copy their weights into shared memory while
// rank 0 runs the frontend; rank 0 copies the output layers' weights while the others work.
extern "C" __global__ void __cluster_dims__(ULTRA_CLUSTER, 1, 1) __launch_bounds__(ULTRA_THREADS, 1)
    ultra_hop_cluster_f32(const UltraNet* net_g, const UltraSlice* sl_g, const int* req, int* ans) {
  __shared__ UltraSmem sm;
  __shared__ UltraNet net;
  extern __shared__ float4 dyn4[];  // UltraCl, then the weights
  UltraCl& cl = *reinterpret_cast<UltraCl*>(dyn4);
  float* dyn = reinterpret_cast<float*>(dyn4) + sizeof(UltraCl) / sizeof(float);
  const unsigned rank = ultra_cluster_rank();
  const unsigned seq = 1;  // every block zeroes its words before the start barrier
  const unsigned long long t_start = ultra_ns();
  if (rank == 0 && threadIdx.x == 0) {
    sm.seq = req[ULTRA_MB_REQ];
    sm.cmd = req[ULTRA_MB_CMD];
    sm.slot = req[ULTRA_MB_SLOT];
    sm.strength = __int_as_float(req[ULTRA_MB_STRENGTH]);
  }
  if (rank == 0 && threadIdx.x < ULTRA_HOP) sm.in[threadIdx.x] = __int_as_float(req[ULTRA_MB_IN + threadIdx.x]);
  ultra_cl_load(net_g, sl_g, rank, net, cl, sm);
  ultra_cluster_arrive();  // this block runs and its words are zeroed; waited for before any remote store
  if (rank != 0) {
    ultra_cl_cache(rank, net, cl, dyn);
    ultra_cluster_wait();
    ultra_cl_gru_rank(net, sm, cl, seq);
    return;  // every word addressed to this block has been read
  }
  const int cmd = sm.cmd, slot = sm.slot;
  const bool valid = slot >= 0 && slot < net.max_slots;
  const bool hop = cmd == ULTRA_CMD_HOP && valid;
  float* st = valid ? reinterpret_cast<float*>(net.state) + static_cast<long long>(slot) * net.state_stride : nullptr;
  int status = 0;
  if (hop) ultra_frontend(net, sm, st);
  ultra_cluster_wait();
  ultra_cl_send_request(net, sm, cl, seq, !hop);
  if (hop) {
    ultra_cl_cache(0, net, cl, dyn);  // the output layers, while ranks 1.. work
    ultra_cl_rank0(net, sm, cl, seq);
    ultra_backend(net, sm, st, true);
    for (int i = threadIdx.x; i < ULTRA_HOP; i += blockDim.x)
      ans[ULTRA_MB_OUT - ULTRA_MB_DONE + i] = __float_as_int(sm.out[i]);
  } else if (cmd == ULTRA_CMD_ZERO && valid) {
    for (int i = threadIdx.x; i < net.state_stride; i += blockDim.x) st[i] = 0.f;
  } else {
    status = valid ? 0 : 1;
  }
  if (threadIdx.x == 0) {
    ans[ULTRA_MB_STATUS - ULTRA_MB_DONE] = status;
    ans[ULTRA_MB_VAD - ULTRA_MB_DONE] = __float_as_int(hop ? sm.vad : 0.f);
    ans[ULTRA_MB_KERNEL_NS - ULTRA_MB_DONE] = ultra_ns_since(t_start);
    ans[0] = sm.seq;
  }
}

#endif  // cluster variant
