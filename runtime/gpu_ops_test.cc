// GPU tests (label `gpu`) for the network kernels: dense, GRU and activations against
// double-precision naive references with per-unit error bounds, and against their CPU twins
// (kernels/*_ref), on random data at odd sizes, several batch sizes and every rows-per-block
// variant. Outputs are poisoned (NaN) first; row padding must stay untouched.
//
// Bounds (per output): a float sum of N terms with FMAs is within N * 2^-24 * sum|terms| of the
// exact sum; sigmoid is 1/4-Lipschitz, tanh/relu/identity 1-Lipschitz; each activation adds its
// own distance to the true function (kExact: CUDA's tanhf/expf, < 1e-6; kRnnoiseApprox: the
// table's < 4e-6). GRU: the reset gate's error reaches the candidate through r∘s (or
// r∘(s·Rh)); z's error reaches the output times |s - c|. The GPU must be within the bound of the
// naive result, and within twice it of the CPU twin.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/activations.h"
#include "kernels/dense.h"
#include "kernels/gru.h"
#include "runtime/gpu_ops.h"
#include "runtime/gpu_test_util.h"

namespace ghostnv::runtime {
namespace {

using kernels::Activation;
using kernels::MathMode;
using testing::kFloatEps;
using testing::Rng;

constexpr Activation kActs[] = {Activation::kIdentity, Activation::kTanh, Activation::kSigmoid,
                                Activation::kRelu};
constexpr MathMode kMaths[] = {MathMode::kExact, MathMode::kRnnoiseApprox};
constexpr int kRowVariants[] = {0, 1, 2, 4, 8, 16};  // 0 = automatic
// The GRU also has the small-batch split path.
constexpr int kGruVariants[] = {0, 1, 2, 4, 8, 16, kGruSplit};

double TrueAct(Activation a, double x) {
  switch (a) {
    case Activation::kTanh: return std::tanh(x);
    case Activation::kSigmoid: return 1.0 / (1.0 + std::exp(-x));
    case Activation::kRelu: return x > 0 ? x : 0.0;
    case Activation::kIdentity: return x;
  }
  return x;
}
double Lipschitz(Activation a) { return a == Activation::kSigmoid ? 0.25 : 1.0; }
double ActBound(Activation a, MathMode m) {
  if (a == Activation::kIdentity || a == Activation::kRelu) return 0.0;
  if (m == MathMode::kRnnoiseApprox) return a == Activation::kSigmoid ? 2e-6 : 4e-6;
  return 1e-6;
}

std::string Name(Activation a, MathMode m) {
  return std::string(kernels::ActivationName(a)) + "/" + kernels::MathModeName(m);
}

// ---------------------------------------------------------------- dense

struct DenseCase {
  int inputs, units, batch;
  Activation act;
  MathMode math;
  bool bias;
  int rows;
  uint32_t seed;
};

void CheckDense(const DenseCase& c) {
  testing::GpuTestEnv* env = testing::GpuEnv();
  SCOPED_TRACE("dense inputs=" + std::to_string(c.inputs) + " units=" + std::to_string(c.units) +
               " batch=" + std::to_string(c.batch) + " " + Name(c.act, c.math) +
               " bias=" + std::to_string(c.bias) + " rows=" + std::to_string(c.rows) +
               " seed=" + std::to_string(c.seed));
  Rng rng(c.seed);
  const float ws = 2.f / std::sqrt(static_cast<float>(std::max(c.inputs, 1)));
  std::vector<float> w = rng.Uniform(static_cast<size_t>(c.inputs) * c.units, -ws, ws);
  std::vector<float> b = rng.Uniform(c.units, -0.5f, 0.5f);
  kernels::DenseParams p{.inputs = c.inputs, .units = c.units, .weights = w.data(),
                         .bias = c.bias ? b.data() : nullptr, .activation = c.act, .math = c.math};
  absl::StatusOr<DeviceDense> layer = UploadDense(*env->ctx, *env->stream, p);
  ASSERT_TRUE(layer.ok()) << layer.status();
  ASSERT_TRUE(env->ops->SupportsDense(*layer).ok());
  const int xs = c.inputs + 2, ys = c.units + 3;  // strides wider than the rows
  std::vector<float> x = rng.Uniform(static_cast<size_t>(c.batch) * xs, -1.f, 1.f);
  DeviceBlock dx = env->Upload(x);
  DeviceBlock dy = env->Alloc(static_cast<size_t>(c.batch) * ys);
  env->Poison(dy);
  ASSERT_EQ(env->ops->Dense(*layer, dx.ptr(), xs, dy.ptr(), ys, c.batch, *env->stream, c.rows),
            cu::kSuccess);
  std::vector<float> y = env->Download(dy, static_cast<size_t>(c.batch) * ys);

  std::vector<float> cpu(std::max(c.units, 1));
  int reported = 0;
  for (int r = 0; r < c.batch; ++r) {
    const float* xr = x.data() + static_cast<size_t>(r) * xs;
    kernels::Dense_ref(p, xr, cpu.data());
    for (int i = 0; i < c.units; ++i) {
      double sum = c.bias ? b[i] : 0.0, mag = std::fabs(sum);
      for (int j = 0; j < c.inputs; ++j) {
        const double t = static_cast<double>(w[static_cast<size_t>(j) * c.units + i]) * xr[j];
        sum += t;
        mag += std::fabs(t);
      }
      const double want = TrueAct(c.act, sum);
      const double bound = Lipschitz(c.act) * (c.inputs + 1) * kFloatEps * mag * 1.01 +
                           ActBound(c.act, c.math) + 1e-30;
      const float got = y[static_cast<size_t>(r) * ys + i];
      const bool ok = std::fabs(got - want) <= bound && std::fabs(got - cpu[i]) <= 2 * bound;
      if (!ok && reported++ < 5) {
        ADD_FAILURE() << "row " << r << " unit " << i << ": gpu " << got << " cpu " << cpu[i]
                      << " exact " << want << " bound " << bound;
      }
    }
    for (int i = c.units; i < ys; ++i) {
      if (!std::isnan(y[static_cast<size_t>(r) * ys + i]) && reported++ < 5)
        ADD_FAILURE() << "row " << r << " padding column " << i << " was written";
    }
  }
}

TEST(GpuDense, MatchesReferenceAtOddSizes) {
  GPU_TEST_OR_SKIP(env);
  const int shapes[][2] = {{0, 1}, {1, 1}, {7, 7}, {42, 24}, {24, 1}, {96, 22},
                           {113, 7}, {5, 300}, {513, 33}, {1, 513}};
  uint32_t seed = 1;
  int variant = 0;
  for (auto [in, units] : shapes) {
    for (int batch : {1, 7, 113}) {
      for (Activation act : kActs) {
        for (MathMode math : kMaths) {
          CheckDense({in, units, batch, act, math, seed % 3 != 0,
                      kRowVariants[variant++ % 6], seed});
          ++seed;
        }
      }
    }
  }
}

TEST(GpuDense, EveryRowsVariantAndLargeBatch) {
  GPU_TEST_OR_SKIP(env);
  for (int rows : kRowVariants)
    for (int batch : {0, 1, 17, 513, 4099})
      CheckDense({42, 24, batch, Activation::kTanh, MathMode::kExact, true, rows, 1000u + rows + batch});
}

TEST(GpuDense, RejectsBadArguments) {
  GPU_TEST_OR_SKIP(env);
  std::vector<float> w(6, 0.5f);
  kernels::DenseParams p{.inputs = 2, .units = 3, .weights = w.data()};
  absl::StatusOr<DeviceDense> l = UploadDense(*env->ctx, *env->stream, p);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(env->ops->Dense(*l, 0, 2, 0, 3, 1, *env->stream, 3), cu::kErrorInvalidValue);
  EXPECT_EQ(env->ops->Dense(*l, 0, 2, 0, 3, -1, *env->stream), cu::kErrorInvalidValue);
  EXPECT_EQ(env->ops->Dense(*l, 0, 2, 0, 3, 0, *env->stream), cu::kSuccess);  // nothing to do
}

// ---------------------------------------------------------------- GRU

struct GruModel {
  kernels::GruParams p;
  std::vector<float> w, r, b, rb;
};

GruModel MakeGru(int inputs, int units, Activation act, MathMode math, bool reset_after,
                 uint32_t seed) {
  GruModel m;
  Rng rng(seed);
  const size_t n3 = 3 * static_cast<size_t>(units);
  const float ws = 2.f / std::sqrt(static_cast<float>(std::max(inputs, 1)));
  const float rs = 2.f / std::sqrt(static_cast<float>(std::max(units, 1)));
  m.w = rng.Uniform(static_cast<size_t>(inputs) * n3, -ws, ws);
  m.r = rng.Uniform(static_cast<size_t>(units) * n3, -rs, rs);
  m.b = rng.Uniform(n3, -0.5f, 0.5f);
  m.rb = rng.Uniform(n3, -0.5f, 0.5f);
  m.p = kernels::GruParams{.inputs = inputs, .units = units, .weights = m.w.data(),
                           .recurrent = m.r.data(),
                           .bias = seed % 4 != 1 ? m.b.data() : nullptr,
                           .recurrent_bias = seed % 4 != 2 ? m.rb.data() : nullptr,
                           .activation = act, .math = math, .reset_after = reset_after};
  return m;
}

// Exact step of one stream in double, with the bound for a float implementation.
void NaiveGru(const GruModel& m, const float* x, const float* s, std::vector<double>* out,
              std::vector<double>* bound) {
  const kernels::GruParams& p = m.p;
  const int u = p.units;
  const size_t n3 = 3 * static_cast<size_t>(u);
  auto W = [&](int j, int col) { return static_cast<double>(m.w[j * n3 + col]); };
  auto R = [&](int k, int col) { return static_cast<double>(m.r[k * n3 + col]); };
  auto B = [&](int col) { return p.bias != nullptr ? static_cast<double>(p.bias[col]) : 0.0; };
  auto RB = [&](int col) {
    return p.recurrent_bias != nullptr ? static_cast<double>(p.recurrent_bias[col]) : 0.0;
  };
  const double nt = p.inputs + u + 3;
  const double sig_b = ActBound(Activation::kSigmoid, p.math);
  std::vector<double> z(u), r(u), ez(u), er(u);
  for (int g = 0; g < 2; ++g) {
    for (int i = 0; i < u; ++i) {
      const int col = g * u + i;
      double sum = B(col) + RB(col), mag = std::fabs(B(col)) + std::fabs(RB(col));
      for (int j = 0; j < p.inputs; ++j) sum += W(j, col) * x[j], mag += std::fabs(W(j, col) * x[j]);
      for (int k = 0; k < u; ++k) sum += R(k, col) * s[k], mag += std::fabs(R(k, col) * s[k]);
      (g == 0 ? z : r)[i] = TrueAct(Activation::kSigmoid, sum);
      (g == 0 ? ez : er)[i] = 0.25 * nt * kFloatEps * mag + sig_b;
    }
  }
  const double er_max = u > 0 ? *std::max_element(er.begin(), er.end()) : 0.0;
  out->assign(u, 0.0);
  bound->assign(u, 0.0);
  for (int i = 0; i < u; ++i) {
    const int col = 2 * u + i;
    double in_sum = B(col), in_mag = std::fabs(B(col));
    for (int j = 0; j < p.inputs; ++j) in_sum += W(j, col) * x[j], in_mag += std::fabs(W(j, col) * x[j]);
    double pre, e_pre;
    if (!p.reset_after) {
      double sum = in_sum + RB(col), mag = in_mag + std::fabs(RB(col)), smag = 0;
      for (int k = 0; k < u; ++k) {
        sum += R(k, col) * (r[k] * s[k]);
        mag += std::fabs(R(k, col) * s[k]);
        smag += std::fabs(R(k, col) * s[k]);
      }
      pre = sum;
      e_pre = (nt + 1) * kFloatEps * mag + er_max * smag;
    } else {
      double rec = RB(col), rec_mag = std::fabs(RB(col));
      for (int k = 0; k < u; ++k) rec += R(k, col) * s[k], rec_mag += std::fabs(R(k, col) * s[k]);
      pre = in_sum + r[i] * rec;
      e_pre = (nt + 1) * kFloatEps * (in_mag + rec_mag) + er[i] * std::fabs(rec);
    }
    const double c = TrueAct(p.activation, pre);
    const double e_c = Lipschitz(p.activation) * e_pre + ActBound(p.activation, p.math);
    (*out)[i] = z[i] * s[i] + (1 - z[i]) * c;
    (*bound)[i] = 1.05 * (ez[i] * std::fabs(s[i] - c) + (1 - z[i] + ez[i]) * e_c +
                          3 * kFloatEps * (std::fabs(z[i] * s[i]) + std::fabs((1 - z[i]) * c))) +
                  1e-30;
  }
}

struct GruCase {
  int inputs, units, batch;
  Activation act;
  MathMode math;
  bool reset_after;
  int rows;
  uint32_t seed;
};

void CheckGru(const GruCase& c) {
  testing::GpuTestEnv* env = testing::GpuEnv();
  SCOPED_TRACE("gru inputs=" + std::to_string(c.inputs) + " units=" + std::to_string(c.units) +
               " batch=" + std::to_string(c.batch) + " " + Name(c.act, c.math) +
               " reset_after=" + std::to_string(c.reset_after) + " rows=" + std::to_string(c.rows) +
               " seed=" + std::to_string(c.seed));
  GruModel m = MakeGru(c.inputs, c.units, c.act, c.math, c.reset_after, c.seed);
  absl::StatusOr<DeviceGru> layer = UploadGru(*env->ctx, *env->stream, m.p);
  ASSERT_TRUE(layer.ok()) << layer.status();
  ASSERT_TRUE(env->ops->SupportsGru(*layer).ok());
  Rng rng(c.seed * 7 + 3);
  const int xs = c.inputs + 1, ss = c.units + 2;
  std::vector<float> x = rng.Uniform(static_cast<size_t>(c.batch) * xs, -1.f, 1.f);
  std::vector<float> s0 = rng.Uniform(static_cast<size_t>(c.batch) * ss, -1.f, 1.f);
  for (int r = 0; r < c.batch; ++r)  // padding: NaN, must survive untouched
    for (int i = c.units; i < ss; ++i) s0[static_cast<size_t>(r) * ss + i] = std::numeric_limits<float>::quiet_NaN();
  DeviceBlock dx = env->Upload(x);
  DeviceBlock ds = env->Upload(s0);
  ASSERT_EQ(env->ops->GruStep(*layer, dx.ptr(), xs, ds.ptr(), ss, c.batch, *env->stream, c.rows),
            cu::kSuccess);
  std::vector<float> s1 = env->Download(ds, static_cast<size_t>(c.batch) * ss);

  std::vector<float> cpu_state(std::max(c.units, 1)), scratch(kernels::GruScratchFloats(std::max(c.units, 1)));
  std::vector<double> want, bound;
  int reported = 0;
  for (int r = 0; r < c.batch; ++r) {
    const float* xr = x.data() + static_cast<size_t>(r) * xs;
    const float* sr = s0.data() + static_cast<size_t>(r) * ss;
    std::copy(sr, sr + c.units, cpu_state.begin());
    kernels::GruStep_ref(m.p, xr, cpu_state.data(), scratch.data());
    NaiveGru(m, xr, sr, &want, &bound);
    for (int i = 0; i < c.units; ++i) {
      const float got = s1[static_cast<size_t>(r) * ss + i];
      const bool ok = std::fabs(got - want[i]) <= bound[i] && std::fabs(got - cpu_state[i]) <= 2 * bound[i];
      if (!ok && reported++ < 5) {
        ADD_FAILURE() << "row " << r << " unit " << i << ": gpu " << got << " cpu " << cpu_state[i]
                      << " exact " << want[i] << " bound " << bound[i];
      }
    }
    for (int i = c.units; i < ss; ++i) {
      if (!std::isnan(s1[static_cast<size_t>(r) * ss + i]) && reported++ < 5)
        ADD_FAILURE() << "row " << r << " padding " << i << " was written";
    }
  }
}

TEST(GpuGru, MatchesReferenceAtOddSizes) {
  GPU_TEST_OR_SKIP(env);
  const int shapes[][2] = {{0, 1},   {1, 1},  {7, 7},  {24, 24}, {42, 24}, {90, 48},
                           {114, 96}, {113, 7}, {1, 113}, {17, 9},  {5, 65},  {31, 40}};
  uint32_t seed = 11;
  int variant = 0;
  for (auto [in, units] : shapes) {
    for (bool reset_after : {false, true}) {
      for (MathMode math : kMaths) {
        for (Activation act : kActs) {
          const int rows = kGruVariants[variant++ % 7];
          const int batch = (seed % 3 == 0) ? 1 : (seed % 3 == 1 ? 7 : (rows == kGruSplit ? 64 : 113));
          CheckGru({in, units, batch, act, math, reset_after, rows, seed++});
        }
      }
    }
  }
}

TEST(GpuGru, EveryRowsVariantAndBatchSize) {
  GPU_TEST_OR_SKIP(env);
  uint32_t seed = 500;
  for (int rows : kGruVariants)
    for (int batch : {0, 1, 7, 33, 64, 113, 513})
      for (bool reset_after : {false, true})
        if (rows != kGruSplit || batch <= kGruSplitMaxBatch)
          CheckGru({114, 96, batch, Activation::kTanh, MathMode::kExact, reset_after, rows, seed++});
  CheckGru({114, 96, 4099, Activation::kTanh, MathMode::kRnnoiseApprox, false, 0, seed++});
  CheckGru({114, 96, 4099, Activation::kTanh, MathMode::kExact, true, 0, seed++});
}

TEST(GpuGru, LargeLayerUsesOptInSharedMemory) {
  GPU_TEST_OR_SKIP(env);
  // inputs + 5 units = 3070 floats per row: 12 KB at one row, beyond 48 KB from 4 rows on.
  CheckGru({513, 511, 33, Activation::kTanh, MathMode::kExact, true, 0, 900});
  CheckGru({513, 511, 33, Activation::kTanh, MathMode::kExact, false, 4, 901});
  CheckGru({513, 511, 5, Activation::kTanh, MathMode::kExact, false, kGruSplit, 902});
  CheckGru({513, 511, 5, Activation::kSigmoid, MathMode::kRnnoiseApprox, true, kGruSplit, 903});
}

TEST(GpuGru, RejectsBadArguments) {
  GPU_TEST_OR_SKIP(env);
  GruModel m = MakeGru(3, 2, Activation::kTanh, MathMode::kExact, true, 1);
  absl::StatusOr<DeviceGru> g = UploadGru(*env->ctx, *env->stream, m.p);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(env->ops->GruStep(*g, 0, 3, 0, 2, kGruSplitMaxBatch + 1, *env->stream, kGruSplit),
            cu::kErrorInvalidValue);
  EXPECT_EQ(env->ops->GruStep(*g, 0, 3, 0, 2, 1, *env->stream, 3), cu::kErrorInvalidValue);
  EXPECT_EQ(env->ops->GruStep(*g, 0, 3, 0, 2, -1, *env->stream), cu::kErrorInvalidValue);
  EXPECT_EQ(env->ops->GruStep(*g, 0, 3, 0, 2, 0, *env->stream), cu::kSuccess);  // nothing to do
}

// 40 steps in place: each GPU step is checked against one CPU step from the GPU's previous state,
// so a state that is read after being overwritten (or not carried over) shows immediately.
TEST(GpuGru, StateCarriesOverInPlace) {
  GPU_TEST_OR_SKIP(env);
  // 37 streams: the row-tiled kernel; 5: the automatic choice is the split path.
  for (int batch : {37, 5}) {
    for (bool reset_after : {false, true}) {
      GruModel m = MakeGru(114, 96, Activation::kTanh, MathMode::kRnnoiseApprox, reset_after, 77);
      absl::StatusOr<DeviceGru> layer = UploadGru(*env->ctx, *env->stream, m.p);
      ASSERT_TRUE(layer.ok());
      Rng rng(5);
      std::vector<float> s(static_cast<size_t>(batch) * 96, 0.f);
      DeviceBlock ds = env->Upload(s);
      std::vector<double> want, bound;
      for (int step = 0; step < 40; ++step) {
        std::vector<float> x = rng.Uniform(static_cast<size_t>(batch) * 114, -1.f, 1.f);
        DeviceBlock dx = env->Upload(x);
        ASSERT_EQ(env->ops->GruStep(*layer, dx.ptr(), 114, ds.ptr(), 96, batch, *env->stream), cu::kSuccess);
        std::vector<float> next = env->Download(ds, s.size());
        for (int r = 0; r < batch; ++r) {
          NaiveGru(m, x.data() + r * 114, s.data() + r * 96, &want, &bound);
          for (int i = 0; i < 96; ++i)
            ASSERT_LE(std::fabs(next[r * 96 + i] - want[i]), bound[i])
                << "batch " << batch << " step " << step << " row " << r << " unit " << i
                << " reset_after " << reset_after;
        }
        s = next;
      }
    }
  }
}

// ---------------------------------------------------------------- activations

TEST(GpuActivate, MatchesCpuTwin) {
  GPU_TEST_OR_SKIP(env);
  Rng rng(3);
  const float specials[] = {0.f, -0.f, 1e-40f, -1e-40f, 8.f, -8.f, 7.99f, -7.99f, 0.02f, 0.06f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(), 100.f, -100.f, -87.5f};
  for (long long n : {0LL, 1LL, 7LL, 113LL, 513LL, 100003LL}) {
    for (Activation act : kActs) {
      for (MathMode math : kMaths) {
        SCOPED_TRACE("n=" + std::to_string(n) + " " + Name(act, math));
        std::vector<float> x = rng.Uniform(static_cast<size_t>(n), -10.f, 10.f);
        for (size_t i = 0; i < x.size() && i < std::size(specials); ++i) x[i * 3 % x.size()] = specials[i];
        DeviceBlock d = env->Upload(x);
        ASSERT_EQ(env->ops->Activate(act, math, d.ptr(), n, *env->stream), cu::kSuccess);
        std::vector<float> got = env->Download(d, static_cast<size_t>(n));
        std::vector<float> cpu = x;
        kernels::Activate_ref(act, math, cpu.data(), cpu.size());
        int reported = 0;
        for (size_t i = 0; i < x.size(); ++i) {
          bool ok;
          if (math == MathMode::kRnnoiseApprox || act == Activation::kRelu || act == Activation::kIdentity) {
            // Same operations, same rounding: bit-identical (NaN matches NaN).
            ok = std::memcmp(&got[i], &cpu[i], 4) == 0 || (std::isnan(got[i]) && std::isnan(cpu[i])) ||
                 (got[i] == 0.f && cpu[i] == 0.f);
          } else {
            const double want = std::isnan(x[i]) ? 0.0 : TrueAct(act, x[i]);
            ok = std::fabs(got[i] - want) <= 1e-6;
          }
          if (!ok && reported++ < 5)
            ADD_FAILURE() << "x=" << x[i] << ": gpu " << got[i] << " cpu " << cpu[i];
        }
      }
    }
  }
}

}  // namespace
}  // namespace ghostnv::runtime
