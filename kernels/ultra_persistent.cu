// kernels/ultra_persistent.cu — one whole hop of the ultra family (models/ultra) in ONE block:
// analysis window, 384-point real DFT, 32 band energies, log features, the network (input_dense
// → gru1 → vad_output, [gru1, dense] → gru2 → gain_output), per-bin gain interpolation, inverse
// DFT of the synthesis tail, synthesis window, overlap-add and the strength mix.
//
// Two entry points around the same __device__ hop (layouts: ultra_layout.cuh):
//   ultra_persistent_f32  launched once per real-time plan; loops: polls the request sequence
//                         of a mailbox in mapped pinned host memory, runs the command (hop, zero
//                         a slot, stop), writes the answer back to the mailbox, fences
//                         (__threadfence_system) and publishes the answered sequence. Weights that
//                         fit are copied into dynamic shared memory once; the rest stay in L2.
//   ultra_hop_f32         one command per launch from a device request buffer to a device answer
//                         buffer (the graph-replay variant: H2D, this kernel, D2H).
// The CPU twin is models/ultra/ultra_family.cc (ProcessHop); the DFTs are direct sums with a
// 384-entry twiddle table (each output split over a few threads), so the output differs from the
// CPU's only by float rounding (checked >= 60 dB by runtime/sched/persistent/ultra_plan_test.cc).
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
  long long ts[8];  // clock64() at the stage boundaries (thread 0; persistent mode's diagnostics)
  float vad;
  float strength;
  int cmd, slot, seq;
};

__device__ __forceinline__ const float* ultra_ptr(unsigned long long p) {
  return reinterpret_cast<const float*>(p);
}
__device__ __forceinline__ float ultra_at(unsigned long long p, int i) {
  return p != 0ull ? ultra_ptr(p)[i] : 0.f;
}

// y_j[c] = sum_i x_j[i] * m_j[i * ld + c] for every job; rows split over up to 8 slices of
// threads when there are few columns. Ends with __syncthreads.
__device__ void ultra_matvec(const UltraMv* jobs, int njobs, float* part) {
  int total = 0;
  for (int j = 0; j < njobs; ++j) total += jobs[j].cols;
  const int threads = blockDim.x;
  // Up to 2 work items per thread: shorter serial chains, more loads in flight.
  int slices = (2 * ULTRA_THREADS) / (total > 0 ? total : 1);
  slices = slices < 1 ? 1 : (slices > 8 ? 8 : slices);
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

// Copies the tables into shared memory (once per kernel). Ends with __syncthreads.
__device__ void ultra_load_tables(const UltraNet& net, UltraSmem& sm) {
  for (int i = threadIdx.x; i < ULTRA_TB_FLOATS; i += blockDim.x) sm.tb[i] = ultra_ptr(net.tables)[i];
  __syncthreads();
}

// Runs sm.cmd on sm.slot with sm.in / sm.strength; leaves sm.out, sm.vad. Returns 0, or 1 for a
// bad slot (nothing touched). Starts and ends with all threads in step.
__device__ int ultra_command(const UltraNet& net, UltraSmem& sm) {
  const int slot = sm.slot;
  if (slot < 0 || slot >= net.max_slots) return 1;
  float* st = reinterpret_cast<float*>(net.state) + static_cast<long long>(slot) * net.state_stride;
  const int t = threadIdx.x, threads = blockDim.x;
  if (sm.cmd == ULTRA_CMD_ZERO) {
    for (int i = t; i < net.state_stride; i += threads) st[i] = 0.f;
    __syncthreads();  // the block's own later reads see these writes; a launch boundary others
    return 0;
  }
  const float* tb = sm.tb;
  const int u1 = net.gru1.units, u2 = net.gru2.units, dn = net.dense_in.units;
  // 1. state in; the new input history and the windowed frame.
  for (int i = t; i < ULTRA_WINDOW; i += threads)
    sm.hist[i] = i < ULTRA_WINDOW - ULTRA_HOP ? st[ULTRA_ST_INPUT + ULTRA_HOP + i]
                                              : sm.in[i - (ULTRA_WINDOW - ULTRA_HOP)];
  for (int i = t; i < ULTRA_HOP; i += threads) {
    sm.ov[i] = st[ULTRA_ST_OVERLAP + i];
    sm.dry[i] = st[ULTRA_ST_DRY + i];
  }
  for (int i = t; i < u1; i += threads) sm.s1[i] = st[ULTRA_ST_GRU + i];
  for (int i = t; i < u2; i += threads) sm.s2[i] = st[ULTRA_ST_GRU + u1 + i];
  __syncthreads();
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
  // 3. band energies (warp b sums band b over its bins) and features.
  {
    const int warp = t >> 5, lane = t & 31;
    for (int b = warp; b < ULTRA_BANDS; b += threads >> 5) {
      const int lo = b > 0 ? static_cast<int>(tb[ULTRA_TB_CENTRES + b - 1]) : 0;
      const int hi = b + 1 < ULTRA_BANDS ? static_cast<int>(tb[ULTRA_TB_CENTRES + b + 1]) : ULTRA_BINS;
      float e = 0.f;
      for (int k = lo + lane; k < hi; k += 32) {
        const int kb = static_cast<int>(tb[ULTRA_TB_BIN_BAND + k]);
        const float f = tb[ULTRA_TB_BIN_FRAC + k];
        float w = 0.f;
        if (k == ULTRA_BINS - 1) w = b == ULTRA_BANDS - 1 ? 1.f : 0.f;
        else if (kb == b) w = 1.f - f;
        else if (kb == b - 1) w = f;
        e += w * sm.pw[k];
      }
      for (int off = 16; off > 0; off >>= 1) e += __shfl_xor_sync(0xffffffffu, e, off);
      if (lane == 0) sm.feat[b] = log10f(e + 1e-10f);
    }
  }
  __syncthreads();
  if (t == 0) sm.ts[2] = clock64();
  // 4. the network.
  ultra_dense(net.dense_in, net.math, sm.feat, sm.d, sm);
  ultra_gru(net.gru1, net.math, sm.d, sm.s1, sm);
  for (int i = t; i < u1 + dn; i += threads) sm.g2in[i] = i < u1 ? sm.s1[i] : sm.d[i - u1];
  ultra_dense(net.vad, net.math, sm.s1, &sm.vad, sm);
  ultra_gru(net.gru2, net.math, sm.g2in, sm.s2, sm);
  ultra_dense(net.gain, net.math, sm.s2, sm.gains, sm);
  if (t == 0) sm.ts[3] = clock64();
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
    if (threadIdx.x == 0) {
      // One 16-byte read per poll: sequence, command, slot, strength (one PCIe transaction).
      int seq, cmd, slot, str;
      do {
        asm volatile("ld.volatile.global.v4.s32 {%0, %1, %2, %3}, [%4];"
                     : "=r"(seq), "=r"(cmd), "=r"(slot), "=r"(str)
                     : "l"(mailbox + ULTRA_MB_REQ)
                     : "memory");
      } while (seq == last);
      __threadfence_system();
      sm.ts[0] = clock64();
      sm.seq = seq;
      sm.cmd = cmd;
      sm.slot = slot;
      sm.strength = __int_as_float(str);
    }
    __syncthreads();
    // The request is complete (thread 0 saw its sequence, written last): read the samples,
    // 16 bytes per thread.
    if (threadIdx.x < ULTRA_HOP / 4) {
      float4 v;
      asm volatile("ld.volatile.global.v4.f32 {%0, %1, %2, %3}, [%4];"
                   : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
                   : "l"(mailbox + ULTRA_MB_IN + 4 * threadIdx.x)
                   : "memory");
      sm.in[4 * threadIdx.x] = v.x;
      sm.in[4 * threadIdx.x + 1] = v.y;
      sm.in[4 * threadIdx.x + 2] = v.z;
      sm.in[4 * threadIdx.x + 3] = v.w;
    }
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
    ans[0] = sm.seq;
  }
}
