// models/dfn3/dfn3_test_model.h — a DeepFilterNet3 model with random weights for the dfn3
// tests (dfn3_family_test and the CUDA tests in cuda/; not part of the library): every layer
// BuildNetworks expects, weights uniform in ±1/sqrt(inputs), biases in ±0.1, GRUs reset_after.
//
//   std::shared_ptr<Model> m = dfn3::testing::RandomDfn3Model(7);
//   auto bad = dfn3::testing::RandomDfn3Model(7, "erb.gru1");   // one layer left out
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "models/ir.h"

namespace ghostnv::models::dfn3::testing {

// drop: the name of a layer to leave out (no weights are drawn for it).
inline std::shared_ptr<Model> RandomDfn3Model(uint32_t seed, const std::string& drop = "") {
  using A = kernels::Activation;
  struct S {
    std::string name;
    bool gru;
    int inputs, units;
    A act;
  };
  std::vector<S> specs = {{"enc.erb_conv0", false, 9, 64, A::kRelu}};
  for (int i = 1; i <= 3; ++i) {
    specs.push_back({"enc.erb_conv" + std::to_string(i) + ".dw", false, 3, 64, A::kIdentity});
    specs.push_back({"enc.erb_conv" + std::to_string(i) + ".pw", false, 64, 64, A::kRelu});
  }
  const std::vector<S> rest = {
      {"enc.df_conv0.dw", false, 9, 64, A::kIdentity}, {"enc.df_conv0.pw", false, 64, 64, A::kRelu},
      {"enc.df_conv1.dw", false, 3, 64, A::kIdentity}, {"enc.df_conv1.pw", false, 64, 64, A::kRelu},
      {"enc.df_fc_emb", false, 3072, 16, A::kRelu},   {"enc.emb_in", false, 512, 16, A::kRelu},
      {"enc.emb_gru", true, 256, 256, A::kTanh},      {"enc.emb_out", false, 256, 32, A::kRelu},
      {"enc.lsnr", false, 512, 1, A::kSigmoid},       {"erb.emb_in", false, 512, 16, A::kRelu},
      {"erb.gru0", true, 256, 256, A::kTanh},         {"erb.gru1", true, 256, 256, A::kTanh},
      {"erb.emb_out", false, 256, 32, A::kRelu},      {"erb.conv0p", false, 1, 64, A::kRelu},
      {"erb.conv1p", false, 1, 64, A::kRelu},         {"erb.conv2p", false, 1, 64, A::kRelu},
      {"erb.conv3p", false, 1, 64, A::kRelu},         {"erb.convt3.dw", false, 3, 64, A::kIdentity},
      {"erb.convt3.pw", false, 64, 64, A::kRelu},     {"erb.convt2.dw", false, 3, 64, A::kIdentity},
      {"erb.convt2.pw", false, 64, 64, A::kRelu},     {"erb.convt1.dw", false, 3, 64, A::kIdentity},
      {"erb.convt1.pw", false, 64, 64, A::kRelu},     {"erb.conv0_out", false, 192, 1, A::kSigmoid},
      {"df.emb_in", false, 512, 32, A::kRelu},        {"df.gru0", true, 256, 256, A::kTanh},
      {"df.gru1", true, 256, 256, A::kTanh},          {"df.skip", false, 512, 16, A::kIdentity},
      {"df.convp.conv", false, 160, 10, A::kIdentity}, {"df.convp.pw", false, 10, 10, A::kRelu},
      {"df.fc_a", false, 256, 1, A::kSigmoid},        {"df.out", false, 256, 60, A::kTanh}};
  specs.insert(specs.end(), rest.begin(), rest.end());
  auto store = std::make_shared<std::vector<std::vector<float>>>();
  store->reserve(4 * specs.size());
  auto m = std::make_shared<Model>();
  m->family = "dfn3";
  m->name = "random-dfn3";
  m->sample_rate = 48000;
  m->frame_size = 960;
  m->hop_size = 480;
  m->algorithmic_latency = 1440;
  m->metadata_json = R"({"dfn3": {"norm_tau": 1.0, "df_lookahead": 2, "conv_lookahead": 2,
                         "lsnr_scale": 50.0, "lsnr_offset": -15.0}})";
  std::mt19937 rng(seed);
  auto vec = [&](size_t n, float scale) {
    std::uniform_real_distribution<float> u(-scale, scale);
    store->emplace_back(n);
    for (float& v : store->back()) v = u(rng);
    return store->back().data();
  };
  for (const S& s : specs) {
    if (s.name == drop) continue;
    Layer l;
    l.name = s.name;
    l.inputs = s.inputs;
    l.units = s.units;
    l.activation = s.act;
    const float sc = 1.0f / std::sqrt(static_cast<float>(s.inputs));
    if (s.gru) {
      l.kind = LayerKind::kGru;
      l.reset_after = true;
      l.weights = vec(static_cast<size_t>(s.inputs) * 3 * s.units, sc);
      l.recurrent = vec(static_cast<size_t>(s.units) * 3 * s.units, sc);
      l.bias = vec(3 * static_cast<size_t>(s.units), 0.1f);
      l.recurrent_bias = vec(3 * static_cast<size_t>(s.units), 0.1f);
    } else {
      l.kind = LayerKind::kDense;
      l.weights = vec(static_cast<size_t>(s.inputs) * s.units, sc);
      l.bias = vec(static_cast<size_t>(s.units), 0.1f);
    }
    m->layers.push_back(l);
  }
  m->storage = store;
  return m;
}

}  // namespace ghostnv::models::dfn3::testing
