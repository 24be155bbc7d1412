// runtime/sched/cuda_host_shim.h — compiles the RNNoise pipeline's CUDA kernels
// (kernels/rnnoise_*.cu) as ordinary C++ and runs them on host threads, one block at a time, so
// that their arithmetic can be checked bit for bit against the CPU twins without a GPU (tests
// only; see rnnoise_kernels_host_test.cc).
//
// A launch runs `threads` std::threads as the block's threads (grid of one block: the kernels
// loop over their rows), __syncthreads is a std::barrier, __shared__ variables become function
// statics (one block at a time), and the explicitly rounded intrinsics map to the same IEEE
// operations on the host (__fmaf_rn -> std::fma). The warp intrinsics the kernels use
// (__shfl_sync, __shfl_down_sync, __shfl_up_sync, __shfl_xor_sync, __any_sync with a full mask, __syncwarp) exchange values
// through per-warp slots and a per-warp std::barrier: every lane of the warp must call them
// together (as the full mask requires on the device), and a block's size must be a multiple of 32. Compile the including file with
// -ffp-contract=off (the default of -std=c++20) so that plain float expressions round like
// the device code's.
//
//   #include "runtime/sched/cuda_host_shim.h"
//   #include "kernels/rnnoise_pitch.cu"
//   cuda_host::Launch(256, [&] { rnn_frontend_f32(...); });
//   cuda_host::LaunchGrid(5, 256, [&] { rnn_synthesis_f32(...); });   // 5 blocks in turn
#pragma once

#include <barrier>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace cuda_host {
struct Dim3 {
  unsigned x = 0, y = 0, z = 0;
};
inline thread_local Dim3 thread_idx, block_idx;
inline Dim3 block_dim, grid_dim;
inline std::barrier<>* barrier = nullptr;
// Per warp of the running block: a barrier of its 32 threads and one exchange slot per lane.
struct Warp {
  std::barrier<> bar{32};
  unsigned long long slot[32] = {};
};
inline std::vector<std::unique_ptr<Warp>>* warps = nullptr;

inline void RunBlock(int threads, unsigned b, const std::function<void()>& fn) {
  std::barrier<> bar(threads);
  std::vector<std::unique_ptr<Warp>> ws;
  for (int w = 0; w < (threads + 31) / 32; ++w) ws.push_back(std::make_unique<Warp>());
  barrier = &bar;
  warps = &ws;
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([t, b, &fn] {
      thread_idx = {static_cast<unsigned>(t), 0, 0};
      block_idx = {b, 0, 0};
      fn();
    });
  for (std::thread& t : pool) t.join();
  barrier = nullptr;
  warps = nullptr;
}

// Runs fn as one block of `threads` threads (gridDim = 1).
inline void Launch(int threads, const std::function<void()>& fn) {
  block_dim = {static_cast<unsigned>(threads), 1, 1};
  grid_dim = {1, 1, 1};
  RunBlock(threads, 0, fn);
}

// Runs fn as a grid of `blocks` blocks of `threads` threads, one block after the other
// (gridDim.x = blocks), so kernels whose blocks loop over rows take their multi-block paths.
inline void LaunchGrid(int blocks, int threads, const std::function<void()>& fn) {
  block_dim = {static_cast<unsigned>(threads), 1, 1};
  grid_dim = {static_cast<unsigned>(blocks), 1, 1};
  for (int b = 0; b < blocks; ++b) RunBlock(threads, static_cast<unsigned>(b), fn);
}

// Lane `src` of the calling thread's warp gets v's value from every lane (all 32 call it).
template <class T>
T WarpExchange(T v, int src_lane) {
  static_assert(sizeof(T) <= sizeof(unsigned long long));
  Warp& w = *(*warps)[thread_idx.x / 32];
  const unsigned lane = thread_idx.x % 32;
  unsigned long long bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  w.slot[lane] = bits;
  w.bar.arrive_and_wait();
  T r;
  std::memcpy(&r, &w.slot[src_lane], sizeof(T));
  w.bar.arrive_and_wait();
  return r;
}
}  // namespace cuda_host

#define threadIdx ::cuda_host::thread_idx
#define blockIdx ::cuda_host::block_idx
#define blockDim ::cuda_host::block_dim
#define gridDim ::cuda_host::grid_dim
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __constant__ static const
#define __launch_bounds__(...)
#define __restrict__ __restrict
inline void __syncthreads() { ::cuda_host::barrier->arrive_and_wait(); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline int __float2int_rn(float a) {  // ties to even; saturates like the device
  if (!(a > -2147483648.f)) return a != a ? 0 : -2147483647 - 1;
  if (a >= 2147483648.f) return 2147483647;
  return static_cast<int>(std::nearbyint(a));
}
template <class T>
T __ldg(const T* p) { return *p; }
struct float2 {
  float x, y;
};
inline float2 make_float2(float a, float b) { return {a, b}; }
struct alignas(16) float4 {
  float x, y, z, w;
};
#define __align__(n) __attribute__((aligned(n)))
template <class T>
T __shfl_down_sync(unsigned, T v, int d) {  // lanes past 31 keep their own value, as on the device
  const int lane = static_cast<int>(::cuda_host::thread_idx.x % 32);
  return ::cuda_host::WarpExchange(v, lane + d < 32 ? lane + d : lane);
}
template <class T>
T __shfl_up_sync(unsigned, T v, int d) {  // lanes below d keep their own value, as on the device
  const int lane = static_cast<int>(::cuda_host::thread_idx.x % 32);
  return ::cuda_host::WarpExchange(v, lane >= d ? lane - d : lane);
}
template <class T>
T __shfl_sync(unsigned, T v, int src) {
  return ::cuda_host::WarpExchange(v, src & 31);
}
template <class T>
T __shfl_xor_sync(unsigned, T v, int m) {
  return ::cuda_host::WarpExchange(v, static_cast<int>(::cuda_host::thread_idx.x % 32) ^ m);
}
inline bool __any_sync(unsigned, bool p) {
  bool any = p;
  for (int m = 16; m >= 1; m >>= 1) any = __shfl_xor_sync(0xffffffffu, any ? 1 : 0, m) != 0 || any;
  return any;
}
inline void __syncwarp() { (*::cuda_host::warps)[::cuda_host::thread_idx.x / 32]->bar.arrive_and_wait(); }
using std::abs;
using std::isfinite;
