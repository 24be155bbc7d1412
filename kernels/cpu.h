// kernels/cpu.h — which SIMD level the kernels use, decided once at run time.
//
// The AVX2/FMA path is used when the CPU reports both and GHOSTNV_SIMD is not "scalar".
// Setting GHOSTNV_SIMD=scalar in the environment (or calling ForceScalar(true)) selects the
// `_ref` kernels everywhere, which tests and benchmarks use to compare the two.
#pragma once

namespace ghostnv::kernels {

enum class SimdLevel { kScalar, kAvx2 };

SimdLevel ActiveSimd();              // what the dispatchers use now
bool CpuHasAvx2Fma();                // what the hardware offers
void ForceScalar(bool force);        // test hook; not real-time safe to flip mid-stream
const char* SimdName(SimdLevel level);  // "scalar" | "avx2"

}  // namespace ghostnv::kernels
