// kernels/activations.h — element-wise activations, scalar reference and AVX2/FMA versions.
//
// Two math modes. kExact uses tanh/sigmoid of <cmath> precision (the AVX2 version may differ
// from the reference by a few ulp-scale amounts; see the tests for the tolerance). kRnnoiseApprox
// reproduces the table-based tansig approximation that RNNoise and ffmpeg's arnndn use (a
// 201-entry table of tanh(0.04 i) with a first-order correction; |x| >= 8 saturates; NaN -> 0),
// so that RNNoise models give the same output as those implementations.
//
//   ghostnv::kernels::Activate(Activation::kSigmoid, MathMode::kExact, x, n);  // in place
//
// Accuracy and special values (checked by activations_test.cc):
//   kExact, reference: std::tanh and 1/(1+exp(-x)) in float (about 1 ulp).
//   kExact, AVX2: a vectorised expm1 (Cody-Waite range reduction + degree-7 Taylor polynomial)
//     gives tanh and sigmoid within 1e-6 absolute of the true value for every float input
//     (measured max: 1.5e-7 for tanh, 9e-8 for sigmoid; tanh keeps ~1e-7 relative accuracy
//     near 0). For x < -87 the AVX2 sigmoid returns exp(-87) ~ 1.6e-38 instead of 0.
//   kRnnoiseApprox: |TansigApprox(x) - tanh(x)| < 3e-6; the AVX2 version is bit-identical to
//     the reference (same operations, no FMA contraction, the table read with a gather).
//     RNNoise's tansig_approx(NaN) returns 1 (its first test is !(x < 8)); here the NaN test
//     comes first, so NaN -> 0 as promised above, and SigmoidApprox(NaN) = 0.5.
//   NaN never escapes tanh, sigmoid or relu: tanh(NaN) = 0; sigmoid(NaN) = 0 (exact) or 0.5
//     (approx); relu(NaN) = 0. +-inf give the limits (relu(+inf) = +inf: relu is max(0, x)).
//     kIdentity does nothing at all, so it passes NaN through.
//
// Thread-safety: pure functions. Real-time safe: no allocation, no locks.
// The *_avx2 functions require CpuHasAvx2Fma() (cpu.h); the plain names dispatch.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ghostnv::kernels {

enum class Activation : uint8_t { kIdentity, kTanh, kSigmoid, kRelu };
enum class MathMode : uint8_t { kExact, kRnnoiseApprox };

// Scalar building blocks (also used by the reference kernels).
float TansigApprox(float x);   // RNNoise's tansig_approx
float SigmoidApprox(float x);  // 0.5 + 0.5 * TansigApprox(0.5 x)

// The table behind TansigApprox: kTansigTableSize floats, entry i = tanh(0.04 i) rounded to
// 6 decimal places (computed once at static-initialisation time, never written afterwards).
// Exposed so that other implementations (the CUDA twin) can use exactly the same numbers.
inline constexpr int kTansigTableSize = 201;
const float* TansigTable();

// In-place activation of x[0..n). Dispatches to AVX2 when the CPU has it (see cpu.h).
void Activate(Activation act, MathMode math, float* x, size_t n);
void Activate_ref(Activation act, MathMode math, float* x, size_t n);
void Activate_avx2(Activation act, MathMode math, float* x, size_t n);

// Parse/print names used in model files: "identity", "tanh", "sigmoid", "relu";
// math modes "exact", "rnnoise_approx". Parse returns false for unknown names.
const char* ActivationName(Activation act);
bool ParseActivation(const char* name, Activation* out);
const char* MathModeName(MathMode m);
bool ParseMathMode(const char* name, MathMode* out);

}  // namespace ghostnv::kernels
