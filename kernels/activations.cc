// kernels/activations.cc — scalar reference activations, the tansig table and name parsing.

#include "kernels/activations.h"

#include <cmath>
#include <cstring>

#include "kernels/cpu.h"

namespace ghostnv::kernels {
namespace {

struct TansigTableData {
  float v[kTansigTableSize];
};

TansigTableData MakeTansigTable() {
  TansigTableData t{};
  for (int i = 0; i < kTansigTableSize; ++i) {
    t.v[i] = static_cast<float>(std::round(std::tanh(0.04 * i) * 1e6) / 1e6);
  }
  return t;
}

// RNNoise's tansig_approx with the table passed in, so loops fetch the table once.
// NaN is tested first: the header promises NaN -> 0 (RNNoise's own order would return 1).
inline float TansigApproxWith(const float* table, float x) {
  if (std::isnan(x)) return 0.f;
  if (!(x < 8)) return 1.f;
  if (!(x > -8)) return -1.f;
  float sign = 1.f;
  if (x < 0) {
    x = -x;
    sign = -1.f;
  }
  const int i = static_cast<int>(std::floor(.5f + 25 * x));
  x -= .04f * static_cast<float>(i);
  float y = table[i];
  const float dy = 1 - y * y;
  y = y + x * dy * (1 - y * x);
  return sign * y;
}

inline float SigmoidApproxWith(const float* table, float x) {
  return .5f + .5f * TansigApproxWith(table, .5f * x);
}

inline float TanhExact(float x) { return std::isnan(x) ? 0.f : std::tanh(x); }

inline float SigmoidExact(float x) {
  if (std::isnan(x)) return 0.f;
  return 1.f / (1.f + std::exp(-x));  // exp overflow to +inf gives exactly 0: fine
}

// Build the table during static initialisation so no real-time caller ever runs the
// (locking) first-use path of the function-local static below.
[[maybe_unused]] const float* const g_table_at_load = TansigTable();

}  // namespace

const float* TansigTable() {
  static const TansigTableData table = MakeTansigTable();
  return table.v;
}

float TansigApprox(float x) { return TansigApproxWith(TansigTable(), x); }

float SigmoidApprox(float x) { return SigmoidApproxWith(TansigTable(), x); }

void Activate_ref(Activation act, MathMode math, float* x, size_t n) {
  switch (act) {
    case Activation::kIdentity:
      return;
    case Activation::kRelu:
      // `x > 0 ? x : 0` maps NaN (and -0) to +0, like max(0, x) in AVX2 with 0 second.
      for (size_t i = 0; i < n; ++i) x[i] = x[i] > 0.f ? x[i] : 0.f;
      return;
    case Activation::kTanh:
      if (math == MathMode::kRnnoiseApprox) {
        const float* table = TansigTable();
        for (size_t i = 0; i < n; ++i) x[i] = TansigApproxWith(table, x[i]);
      } else {
        for (size_t i = 0; i < n; ++i) x[i] = TanhExact(x[i]);
      }
      return;
    case Activation::kSigmoid:
      if (math == MathMode::kRnnoiseApprox) {
        const float* table = TansigTable();
        for (size_t i = 0; i < n; ++i) x[i] = SigmoidApproxWith(table, x[i]);
      } else {
        for (size_t i = 0; i < n; ++i) x[i] = SigmoidExact(x[i]);
      }
      return;
  }
}

void Activate(Activation act, MathMode math, float* x, size_t n) {
  if (ActiveSimd() == SimdLevel::kAvx2) {
    Activate_avx2(act, math, x, n);
  } else {
    Activate_ref(act, math, x, n);
  }
}

const char* ActivationName(Activation act) {
  switch (act) {
    case Activation::kIdentity:
      return "identity";
    case Activation::kTanh:
      return "tanh";
    case Activation::kSigmoid:
      return "sigmoid";
    case Activation::kRelu:
      return "relu";
  }
  return "unknown";
}

bool ParseActivation(const char* name, Activation* out) {
  if (name == nullptr || out == nullptr) return false;
  static constexpr Activation kAll[] = {Activation::kIdentity, Activation::kTanh,
                                        Activation::kSigmoid, Activation::kRelu};
  for (Activation a : kAll) {
    if (std::strcmp(name, ActivationName(a)) == 0) {
      *out = a;
      return true;
    }
  }
  return false;
}

const char* MathModeName(MathMode m) {
  switch (m) {
    case MathMode::kExact:
      return "exact";
    case MathMode::kRnnoiseApprox:
      return "rnnoise_approx";
  }
  return "unknown";
}

bool ParseMathMode(const char* name, MathMode* out) {
  if (name == nullptr || out == nullptr) return false;
  static constexpr MathMode kAll[] = {MathMode::kExact, MathMode::kRnnoiseApprox};
  for (MathMode m : kAll) {
    if (std::strcmp(name, MathModeName(m)) == 0) {
      *out = m;
      return true;
    }
  }
  return false;
}

}  // namespace ghostnv::kernels
