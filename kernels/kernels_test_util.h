// kernels/kernels_test_util.h — helpers shared by the kernels/ unit tests (test-only).
//
//   TestRng rng(1234);
//   std::vector<float> x = rng.Uniform(113, -2.f, 2.f);
//   double t = ActivationDouble(Activation::kTanh, 0.3);
//   GHOSTNV_SKIP_WITHOUT_AVX2();
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/activations.h"
#include "kernels/cpu.h"

namespace ghostnv::kernels::testing {

// Unit roundoff of float.
inline constexpr double kFloatEps = 5.9604644775390625e-08;  // 2^-24

// Max |TansigApprox(x) - tanh(x)| over all floats is about 2.6e-6 (activations_test sweeps it);
// this bound is what the model-level tests allow for kRnnoiseApprox activations.
inline constexpr double kApproxTanhBound = 4e-6;
// Documented accuracy of the AVX2 exact-mode tanh/sigmoid (activations.h).
inline constexpr double kAvx2ExactBound = 1e-6;
// float std::tanh / exp-based sigmoid against the true value: about one ulp of the result.
inline constexpr double kRefExactBound = 2e-7;

// Per-activation error bound against the true (double) function, for ref or AVX2 code.
inline double ActivationBound(Activation act, MathMode math) {
  if (act == Activation::kIdentity || act == Activation::kRelu) return 0.0;
  if (math == MathMode::kRnnoiseApprox) {
    return act == Activation::kSigmoid ? 0.5 * kApproxTanhBound : kApproxTanhBound;
  }
  return kAvx2ExactBound;
}

class TestRng {
 public:
  explicit TestRng(uint32_t seed) : gen_(seed) {}
  float Uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen_); }
  std::vector<float> Uniform(size_t n, float lo, float hi) {
    std::vector<float> v(n);
    for (float& f : v) f = Uniform(lo, hi);
    return v;
  }
  uint32_t Bits() { return static_cast<uint32_t>(gen_()); }

 private:
  std::mt19937 gen_;
};

// The true functions, in double. NaN -> 0 as in the kernels' contract.
inline double ActivationDouble(Activation act, double x) {
  if (act == Activation::kIdentity) return x;
  if (std::isnan(x)) return 0.0;
  switch (act) {
    case Activation::kTanh:
      return std::tanh(x);
    case Activation::kSigmoid:
      return 1.0 / (1.0 + std::exp(-x));
    case Activation::kRelu:
      return x > 0 ? x : 0.0;
    case Activation::kIdentity:
      break;
  }
  return x;
}

inline const Activation kAllActivations[] = {Activation::kIdentity, Activation::kTanh,
                                             Activation::kSigmoid, Activation::kRelu};
inline const MathMode kAllMathModes[] = {MathMode::kExact, MathMode::kRnnoiseApprox};

}  // namespace ghostnv::kernels::testing

#define GHOSTNV_SKIP_WITHOUT_AVX2()                                                 \
  do {                                                                              \
    if (!::ghostnv::kernels::CpuHasAvx2Fma()) GTEST_SKIP() << "CPU lacks AVX2/FMA"; \
  } while (0)
