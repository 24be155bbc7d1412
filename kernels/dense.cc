// kernels/dense.cc — scalar reference dense layer and the dispatcher.

#include "kernels/dense.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu.h"

namespace ghostnv::kernels {
namespace {

bool DetectAvx512() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512vl") ||
      !__builtin_cpu_supports("avx512bw") || !CpuHasAvx2Fma()) {
    return false;
  }
  const char* env = std::getenv("GHOSTNV_SIMD");
  return env == nullptr || (std::strcmp(env, "avx2") != 0 && std::strcmp(env, "scalar") != 0);
}

// -1 = not detected yet, else 0/1. Constant-initialised; racing first callers compute the same
// answer (relaxed loads: plain configuration, nothing else is published through it).
std::atomic<int> g_avx512{-1};

bool CpuAvx512() {
  int v = g_avx512.load(std::memory_order_relaxed);
  if (v < 0) {
    v = DetectAvx512() ? 1 : 0;
    g_avx512.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

// Detect at load time so that the first call on a real-time thread finds the answer cached.
[[maybe_unused]] const bool g_avx512_at_load = CpuAvx512();

}  // namespace

bool Avx512Active() { return ActiveSimd() == SimdLevel::kAvx2 && CpuAvx512(); }

void Dense_ref(const DenseParams& p, const float* x, float* y) {
  const int units = p.units;
  // y[i] = bias[i] + W[0][i] x[0] + W[1][i] x[1] + ... (inputs in order), then act. Walking W
  // row by row keeps the reads sequential; each y[i] still sums in the documented order.
  for (int i = 0; i < units; ++i) y[i] = p.bias != nullptr ? p.bias[i] : 0.f;
  for (int j = 0; j < p.inputs; ++j) {
    const float* w = p.weights + static_cast<size_t>(j) * static_cast<size_t>(units);
    const float xj = x[j];
    for (int i = 0; i < units; ++i) y[i] += w[i] * xj;
  }
  Activate_ref(p.activation, p.math, y, static_cast<size_t>(units > 0 ? units : 0));
}

void Dense(const DenseParams& p, const float* x, float* y) {
  if (ActiveSimd() == SimdLevel::kAvx2) {
    Dense_avx2(p, x, y);
  } else {
    Dense_ref(p, x, y);
  }
}

void DenseRows(const DenseParams& p, const float* x, int rows, int x_stride, float* y,
               PrefetchStream* pf) {
  if (rows <= 0 || p.units <= 0) return;
  if (p.units % 8 == 0 && p.units >= 40 && Avx512Active()) {
    DenseRows_avx512(p, x, rows, x_stride, y, pf);
    return;
  }
  for (int r = 0; r < rows; ++r) {
    Dense(p, x + static_cast<size_t>(r) * static_cast<size_t>(x_stride),
          y + static_cast<size_t>(r) * static_cast<size_t>(p.units));
  }
}

void DenseGroups(const DenseParams& p, int groups, const float* x, float* y,
                 PrefetchStream* pf) {
  if (groups <= 0 || p.units <= 0) return;
  if (p.units <= 64 && Avx512Active()) {
    DenseGroups_avx512(p, groups, x, y, pf);
    return;
  }
  const size_t in = static_cast<size_t>(p.inputs > 0 ? p.inputs : 0);
  const size_t out = static_cast<size_t>(p.units);
  DenseParams q = p;
  for (int g = 0; g < groups; ++g) {
    q.weights = p.weights + static_cast<size_t>(g) * in * out;
    q.bias = p.bias != nullptr ? p.bias + static_cast<size_t>(g) * out : nullptr;
    Dense(q, x + static_cast<size_t>(g) * in, y + static_cast<size_t>(g) * out);
  }
}

}  // namespace ghostnv::kernels
