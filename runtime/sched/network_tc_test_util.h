// runtime/sched/network_tc_test_util.h — shared by network_tc_host_test.cc (no GPU) and
// network_tc_test.cc (GPU): test models, realistic RNNoise features, the CPU fp32 network
// (kernels::Dense / kernels::GruStep wired like models/rnnoise) and SNR bookkeeping. Tests only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/dense.h"
#include "kernels/gru.h"
#include "models/ir.h"
#include "models/model_loader.h"
#include "models/rnnoise/rnnoise_family.h"

namespace ghostnv::sched::tc_testing {

constexpr int kF = 42;

inline std::shared_ptr<const models::Model> DefaultModel() {
  const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
  if (src == nullptr) return nullptr;
  absl::StatusOr<std::shared_ptr<const models::Model>> m =
      models::LoadModel(std::string(src) + "/models/weights/default.gnvm");
  return m.ok() ? *m : nullptr;
}

// Weights scaled like a trained network's (N(0, 0.5/sqrt(fan-in))); sizes u0..u3 (odd sizes
// exercise every padding path).
inline std::shared_ptr<const models::Model> RandomModel(bool reset_after, kernels::MathMode math,
                                                        int u0 = 24, int u1 = 24, int u2 = 48,
                                                        int u3 = 96, uint32_t seed = 11) {
  auto store = std::make_shared<std::vector<std::vector<float>>>();
  std::mt19937 rng(seed);
  auto tensor = [&](size_t count, float sd) {
    std::normal_distribution<float> g(0.f, sd);
    store->emplace_back(count);
    for (float& x : store->back()) x = g(rng);
    return store->back().data();
  };
  auto m = std::make_shared<models::Model>();
  m->family = "rnnoise";
  m->name = "random";
  m->math = math;
  auto layer = [&](const char* name, models::LayerKind kind, int in, int units, kernels::Activation act) {
    models::Layer l;
    l.name = name;
    l.kind = kind;
    l.inputs = in;
    l.units = units;
    l.activation = act;
    const int gates = kind == models::LayerKind::kGru ? 3 : 1;
    l.weights = tensor(size_t(in) * gates * units, 0.5f / std::sqrt(static_cast<float>(in)));
    l.bias = tensor(size_t(gates) * units, 0.1f);
    if (kind == models::LayerKind::kGru) {
      l.reset_after = reset_after;
      l.recurrent = tensor(size_t(units) * 3 * units, 0.5f / std::sqrt(static_cast<float>(units)));
      l.recurrent_bias = reset_after ? tensor(3 * units, 0.1f) : nullptr;
    }
    m->layers.push_back(l);
  };
  layer("input_dense", models::LayerKind::kDense, kF, u0, kernels::Activation::kTanh);
  layer("vad_gru", models::LayerKind::kGru, u0, u1, kernels::Activation::kTanh);
  layer("noise_gru", models::LayerKind::kGru, u0 + u1 + kF, u2, kernels::Activation::kRelu);
  layer("denoise_gru", models::LayerKind::kGru, u1 + u2 + kF, u3, kernels::Activation::kTanh);
  layer("denoise_output", models::LayerKind::kDense, u3, 22, kernels::Activation::kSigmoid);
  layer("vad_output", models::LayerKind::kDense, u1, 1, kernels::Activation::kSigmoid);
  m->storage = store;
  return m;
}

// `streams` synthetic noisy speech-like signals through the CPU feature extractor:
// features[(t * streams + s) * 42], frames that the CPU would skip as silent excluded.
inline std::vector<float> RealisticFeatures(int streams, int hops, uint32_t seed) {
  std::vector<float> out;
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<models::rnnoise::FeatureExtractor> fx(streams);
  std::vector<float> noisy(480), f(kF), gains(22);
  for (int t = 0; t < hops; ++t)
    for (int s = 0; s < streams; ++s) {
      const double f0 = 90 + 37 * s, level = 0.05 + 0.3 * ((s * 7 + 3) % 10) / 10.0;
      for (int i = 0; i < 480; ++i) {
        const double time = (t * 480.0 + i) / 48000.0;
        const double env = 0.5 + 0.5 * std::sin(2 * M_PI * (1.3 + 0.2 * s) * time);
        noisy[i] = static_cast<float>(level * env * (std::sin(2 * M_PI * f0 * time) +
                                                     0.4 * std::sin(2 * M_PI * 2.03 * f0 * time + s))) +
                   0.02f * (1 + s % 3) * g(rng);
      }
      float vad = 0;
      if (fx[s].Process(noisy.data(), noisy.data(), f.data(), gains.data(), &vad))
        out.insert(out.end(), f.begin(), f.end());
    }
  return out;
}

struct CpuNet {
  kernels::DenseParams input_dense, vad_output, denoise_output;
  kernels::GruParams vad_gru, noise_gru, denoise_gru;
  explicit CpuNet(const models::Model& m)
      : input_dense(models::DenseParamsOf(*m.FindLayer("input_dense"), m.math)),
        vad_output(models::DenseParamsOf(*m.FindLayer("vad_output"), m.math)),
        denoise_output(models::DenseParamsOf(*m.FindLayer("denoise_output"), m.math)),
        vad_gru(models::GruParamsOf(*m.FindLayer("vad_gru"), m.math)),
        noise_gru(models::GruParamsOf(*m.FindLayer("noise_gru"), m.math)),
        denoise_gru(models::GruParamsOf(*m.FindLayer("denoise_gru"), m.math)) {}
  int u0() const { return input_dense.units; }
  int u1() const { return vad_gru.units; }
  int u2() const { return noise_gru.units; }
  int u3() const { return denoise_gru.units; }
  int bands() const { return denoise_output.units; }

  // One row, the CPU family's wiring; states updated in place.
  void Step(const float* f, float* s1, float* s2, float* s3, float* d, float* vad, float* gains) const {
    std::vector<float> scratch(kernels::GruScratchFloats(std::max({u1(), u2(), u3()})));
    kernels::Dense(input_dense, f, d);
    kernels::GruStep(vad_gru, d, s1, scratch.data());
    kernels::Dense(vad_output, s1, vad);
    std::vector<float> in = NoiseIn(d, s1, f);
    kernels::GruStep(noise_gru, in.data(), s2, scratch.data());
    in = DenoiseIn(s1, s2, f);
    kernels::GruStep(denoise_gru, in.data(), s3, scratch.data());
    kernels::Dense(denoise_output, s3, gains);
  }
  std::vector<float> NoiseIn(const float* d, const float* s1, const float* f) const {
    std::vector<float> in(d, d + u0());
    in.insert(in.end(), s1, s1 + u1());
    in.insert(in.end(), f, f + kF);
    return in;
  }
  std::vector<float> DenoiseIn(const float* s1, const float* s2, const float* f) const {
    std::vector<float> in(s1, s1 + u1());
    in.insert(in.end(), s2, s2 + u2());
    in.insert(in.end(), f, f + kF);
    return in;
  }
};

// Energy of a reference and of its difference from a test signal; SNR in dB.
struct Snr {
  double ref = 0, err = 0, max_abs = 0;
  void Add(double r, double t) {
    ref += r * r;
    err += (t - r) * (t - r);
    max_abs = std::max(max_abs, std::abs(t - r));
  }
  void Add(const float* r, const float* t, size_t n) {
    for (size_t i = 0; i < n; ++i) Add(r[i], t[i]);
  }
  double db() const { return err == 0 ? 999.0 : 10 * std::log10(ref / err); }
};

}  // namespace ghostnv::sched::tc_testing
