// kernels/cpu.cc — run-time SIMD selection for the kernel dispatchers.

#include "kernels/cpu.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ghostnv::kernels {
namespace {

// Both flags are constant-initialised (no static-init-order hazard) and read with relaxed
// loads: they are plain configuration, nothing else is published through them.
std::atomic<bool> g_force_scalar{false};
// -1 = not detected yet, otherwise a SimdLevel value.
std::atomic<int> g_detected{-1};

bool DetectAvx2Fma() {
  __builtin_cpu_init();  // needed when called before libgcc's constructors have run
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool EnvForcesScalar() {
  const char* env = std::getenv("GHOSTNV_SIMD");
  return env != nullptr && std::strcmp(env, "scalar") == 0;
}

SimdLevel Detect() {
  int level = g_detected.load(std::memory_order_relaxed);
  if (level < 0) {
    // Idempotent and lock-free: racing first callers compute the same answer.
    level = static_cast<int>((DetectAvx2Fma() && !EnvForcesScalar()) ? SimdLevel::kAvx2
                                                                     : SimdLevel::kScalar);
    g_detected.store(level, std::memory_order_relaxed);
  }
  return static_cast<SimdLevel>(level);
}

// Detect at load time so that the first call on a real-time thread finds the answer cached.
[[maybe_unused]] const SimdLevel g_detect_at_load = Detect();

}  // namespace

SimdLevel ActiveSimd() {
  if (g_force_scalar.load(std::memory_order_relaxed)) return SimdLevel::kScalar;
  return Detect();
}

bool CpuHasAvx2Fma() { return DetectAvx2Fma(); }

void ForceScalar(bool force) { g_force_scalar.store(force, std::memory_order_relaxed); }

const char* SimdName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return "scalar";
    case SimdLevel::kAvx2:
      return "avx2";
  }
  return "unknown";
}

}  // namespace ghostnv::kernels
