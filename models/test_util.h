// models/test_util.h — helpers shared by the models/ unit tests (not part of the library).
//
//   OwnedModel om = RandomModel(/*seed=*/1);   // odd-sized dense + GRU layers, random weights
//   ExpectSameModel(*om.model, *loaded, /*bit_exact=*/true);
#pragma once

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/ir.h"

namespace ghostnv::models::testing {

struct OwnedModel {
  std::shared_ptr<Model> model;
  std::shared_ptr<std::vector<std::vector<float>>> buffers;
};

// Number of floats of each tensor of a layer.
inline size_t WeightsCount(const Layer& l) {
  return static_cast<size_t>(l.inputs) * l.units * (l.kind == LayerKind::kGru ? 3 : 1);
}
inline size_t RecurrentCount(const Layer& l) { return static_cast<size_t>(l.units) * l.units * 3; }
inline size_t BiasCount(const Layer& l) {
  return static_cast<size_t>(l.units) * (l.kind == LayerKind::kGru ? 3 : 1);
}

struct LayerShape {
  const char* name;
  LayerKind kind;
  int inputs, units;
  kernels::Activation act;
  bool bias, recurrent_bias, reset_after;
};

// A model with the given layers and weights uniform in [-range, range].
inline OwnedModel MakeModel(const std::vector<LayerShape>& shapes, uint32_t seed,
                            float range = 1.0f) {
  OwnedModel om;
  om.model = std::make_shared<Model>();
  om.buffers = std::make_shared<std::vector<std::vector<float>>>();
  om.buffers->reserve(shapes.size() * 4);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-range, range);
  auto fill = [&](size_t n) {
    std::vector<float>& v = om.buffers->emplace_back(n);
    for (float& x : v) x = dist(rng);
    return v.data();
  };
  Model& m = *om.model;
  m.family = "test-family";
  m.name = "random model \xc3\xa9";  // non-ASCII UTF-8 on purpose
  m.sample_rate = 16000;
  m.frame_size = 320;
  m.hop_size = 160;
  m.algorithmic_latency = 160;
  m.math = kernels::MathMode::kExact;
  m.metadata_json = R"({"trained_on":"synthetic","epochs":3,"nested":{"a":[1,2.5,"x"]}})";
  for (const LayerShape& s : shapes) {
    Layer l;
    l.name = s.name;
    l.kind = s.kind;
    l.inputs = s.inputs;
    l.units = s.units;
    l.activation = s.act;
    l.reset_after = s.reset_after;
    l.weights = fill(WeightsCount(l));
    if (s.kind == LayerKind::kGru) l.recurrent = fill(RecurrentCount(l));
    if (s.bias) l.bias = fill(BiasCount(l));
    if (s.kind == LayerKind::kGru && s.recurrent_bias) l.recurrent_bias = fill(BiasCount(l));
    m.layers.push_back(l);
  }
  m.storage = om.buffers;
  return om;
}

inline OwnedModel RandomModel(uint32_t seed) {
  using A = kernels::Activation;
  return MakeModel({{"in", LayerKind::kDense, 7, 13, A::kTanh, true, false, false},
                    {"gru_a", LayerKind::kGru, 13, 113, A::kTanh, true, true, true},
                    {"gru_b", LayerKind::kGru, 113, 1, A::kRelu, false, false, false},
                    {"out", LayerKind::kDense, 1, 3, A::kSigmoid, false, false, false},
                    {"lin", LayerKind::kDense, 3, 5, A::kIdentity, true, false, false}},
                   seed);
}

// A small model (a few hundred bytes of weights) for exhaustive corruption tests.
inline OwnedModel TinyModel(uint32_t seed) {
  using A = kernels::Activation;
  return MakeModel({{"d", LayerKind::kDense, 3, 2, A::kTanh, true, false, false},
                    {"g", LayerKind::kGru, 2, 1, A::kTanh, true, true, false}},
                   seed);
}

// Compares every field and every tensor; bit_exact compares the float bits, otherwise only the
// structure (pointers null/non-null).
inline void ExpectSameStructure(const Model& a, const Model& b) {
  EXPECT_EQ(a.family, b.family);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.sample_rate, b.sample_rate);
  EXPECT_EQ(a.frame_size, b.frame_size);
  EXPECT_EQ(a.hop_size, b.hop_size);
  EXPECT_EQ(a.algorithmic_latency, b.algorithmic_latency);
  EXPECT_EQ(a.math, b.math);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const Layer& x = a.layers[i];
    const Layer& y = b.layers[i];
    SCOPED_TRACE(x.name);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.inputs, y.inputs);
    EXPECT_EQ(x.units, y.units);
    EXPECT_EQ(x.activation, y.activation);
    if (x.kind == LayerKind::kGru) {
      EXPECT_EQ(x.reset_after, y.reset_after);
    }
    EXPECT_EQ(x.weights == nullptr, y.weights == nullptr);
    EXPECT_EQ(x.recurrent == nullptr, y.recurrent == nullptr);
    EXPECT_EQ(x.bias == nullptr, y.bias == nullptr);
    EXPECT_EQ(x.recurrent_bias == nullptr, y.recurrent_bias == nullptr);
  }
}

inline bool SameBits(const float* a, const float* b, size_t n) {
  if (a == nullptr || b == nullptr) return a == b;
  return std::memcmp(a, b, n * sizeof(float)) == 0;
}

inline void ExpectBitIdentical(const Model& a, const Model& b) {
  ExpectSameStructure(a, b);
  if (a.layers.size() != b.layers.size()) return;
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const Layer& x = a.layers[i];
    const Layer& y = b.layers[i];
    SCOPED_TRACE(x.name);
    EXPECT_TRUE(SameBits(x.weights, y.weights, WeightsCount(x)));
    if (x.kind == LayerKind::kGru) {
      EXPECT_TRUE(SameBits(x.recurrent, y.recurrent, RecurrentCount(x)));
      EXPECT_TRUE(SameBits(x.recurrent_bias, y.recurrent_bias, BiasCount(x)));
    }
    EXPECT_TRUE(SameBits(x.bias, y.bias, BiasCount(x)));
  }
}

}  // namespace ghostnv::models::testing
