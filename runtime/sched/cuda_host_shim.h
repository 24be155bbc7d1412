// runtime/sched/cuda_host_shim.h — compiles the RNNoise pipeline's CUDA kernels
// (kernels/rnnoise_*.cu) as ordinary C++ and runs them on host threads, one block at a time, so
// that their arithmetic can be checked bit for bit against the CPU twins without a GPU (tests
// only; see rnnoise_kernels_host_test.cc).
//
// A launch runs `threads` std::threads as the block's threads (grid of one block: the kernels
// loop over their rows), __syncthreads is a std::barrier, __shared__ variables become function
// statics (one block at a time), and the explicitly rounded intrinsics map to the same IEEE
// operations on the host (__fmaf_rn -> std::fma). Compile the including file with
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
#include <functional>
#include <thread>
#include <vector>

namespace cuda_host {
struct Dim3 {
  unsigned x = 0, y = 0, z = 0;
};
inline thread_local Dim3 thread_idx, block_idx;
inline Dim3 block_dim, grid_dim;
inline std::barrier<>* barrier = nullptr;

// Runs fn as one block of `threads` threads (gridDim = 1).
inline void Launch(int threads, const std::function<void()>& fn) {
  std::barrier<> bar(threads);
  barrier = &bar;
  block_dim = {static_cast<unsigned>(threads), 1, 1};
  grid_dim = {1, 1, 1};
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([t, &fn] {
      thread_idx = {static_cast<unsigned>(t), 0, 0};
      block_idx = {0, 0, 0};
      fn();
    });
  for (std::thread& t : pool) t.join();
  barrier = nullptr;
}

// Runs fn as a grid of `blocks` blocks of `threads` threads, one block after the other
// (gridDim.x = blocks), so kernels whose blocks loop over rows take their multi-block paths.
inline void LaunchGrid(int blocks, int threads, const std::function<void()>& fn) {
  for (int b = 0; b < blocks; ++b) {
    std::barrier<> bar(threads);
    barrier = &bar;
    block_dim = {static_cast<unsigned>(threads), 1, 1};
    grid_dim = {static_cast<unsigned>(blocks), 1, 1};
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([t, b, &fn] {
        thread_idx = {static_cast<unsigned>(t), 0, 0};
        block_idx = {static_cast<unsigned>(b), 0, 0};
        fn();
      });
    for (std::thread& t : pool) t.join();
    barrier = nullptr;
  }
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
using std::abs;
