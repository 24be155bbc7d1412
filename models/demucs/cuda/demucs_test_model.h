// models/demucs/cuda/demucs_test_model.h — random causal Demucs models in memory, of any
// hyper-parameters (depth, hidden, growth 2, kernel/stride, resample, LSTM layers, GLU, sample
// rate), laid out as tools/convert/family_demucs.py writes them. Tests and the benchmark only.
//
//   DemucsShape sh; sh.depth = 5; sh.hidden = 48;            // dns48's shape
//   std::shared_ptr<Model> m = MakeRandomDemucs(sh, /*seed=*/1);
//   EXPECT_GE(SnrDb(cpu_out, gpu_out), 60.0);                // the tests' comparison
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "models/demucs/demucs_family.h"
#include "models/ir.h"

namespace ghostnv::models::demucs {

struct DemucsShape {
  int depth = 3, hidden = 4, kernel = 8, stride = 4, resample = 4, lstm_layers = 2;
  int max_hidden = 10000, growth = 2;
  bool glu = true, normalize = true;
  int sample_rate = 16000, lookahead = 64, resample_buffer_cap = 256, sinc_zeros = 56;
  float weight_gain = 1.0f;  // weights uniform in +-gain * sqrt(3 / fan_in)
  int output_delay = 0;      // > 0: metadata.demucs.output_delay (and that much more latency)
  int skip_delay = 0;        // > 0: metadata.demucs.skip_delay (set output_delay to it too)
  int norm_frames = -1;      // >= 0: metadata.demucs.norm_memory_frames (-1: absent, the default)
};

// The model owns its weights through a holder kept alive by the returned shared_ptr's deleter.
inline std::shared_ptr<Model> MakeRandomDemucs(const DemucsShape& sh, unsigned seed) {
  struct Holder {
    Model model;
    std::vector<std::vector<float>> store;
  };
  auto h = std::make_shared<Holder>();
  h->store.reserve(256);
  std::mt19937 rng(seed);
  auto keep = [&](size_t n, float range) -> const float* {
    std::uniform_real_distribution<float> d(-range, range);
    std::vector<float>& v = h->store.emplace_back(n);
    for (float& x : v) x = d(rng);
    return v.data();
  };
  Model& m = h->model;
  auto dense = [&](const std::string& name, int in, int units, kernels::Activation act,
                   bool bias = true) {
    Layer l;
    l.name = name;
    l.kind = LayerKind::kDense;
    l.inputs = in;
    l.units = units;
    l.activation = act;
    l.weights = keep(static_cast<size_t>(in) * units,
                     sh.weight_gain * std::sqrt(3.f / static_cast<float>(std::max(1, in))));
    if (bias) l.bias = keep(units, 0.05f);
    m.layers.push_back(l);
  };
  using kernels::Activation;
  const int K = sh.kernel, S = sh.stride, R = sh.resample;
  if (R > 1) {
    Layer l;
    l.name = "resample.kernel";
    l.kind = LayerKind::kDense;
    l.inputs = 1;
    l.units = 2 * sh.sinc_zeros;
    l.activation = Activation::kIdentity;
    l.weights = keep(l.units, 0.f);
    std::vector<float>& k = h->store.emplace_back(l.units);
    const int n = l.units;
    for (int j = 0; j < n; ++j) {  // denoiser/resample.py's windowed sinc
      const double t = (j - (n - 1) / 2.0) * M_PI;
      const double w = 0.5 - 0.5 * std::cos(2 * M_PI * (2 * j + 1) / (2.0 * n));
      k[j] = static_cast<float>(std::sin(t) / t * w);
    }
    l.bias = k.data();
    m.layers.push_back(l);
  }
  const Activation pw_act = sh.glu ? Activation::kIdentity : Activation::kRelu;
  const int g = sh.glu ? 2 : 1;
  int cin = 1, hd = sh.hidden;
  std::vector<std::pair<int, int>> ch;
  for (int i = 0; i < sh.depth; ++i) {
    dense(absl::StrCat("encoder", i, ".conv"), K * cin, hd, Activation::kRelu);
    dense(absl::StrCat("encoder", i, ".pw"), hd, g * hd, pw_act);
    ch.push_back({cin, hd});
    cin = hd;
    hd = std::min(sh.growth * hd, sh.max_hidden);
  }
  for (int k = 0; k < sh.lstm_layers; ++k)
    dense(absl::StrCat("lstm", k), 2 * cin, 4 * cin, Activation::kIdentity);
  for (int j = 0; j < sh.depth; ++j) {
    const auto [ci, co] = ch[sh.depth - 1 - j];
    dense(absl::StrCat("decoder", j, ".pw"), co, g * co, pw_act);
    dense(absl::StrCat("decoder", j, ".convtr"), co, K * ci, Activation::kIdentity, false);
    Layer b;
    b.name = absl::StrCat("decoder", j, ".convtr_bias");
    b.kind = LayerKind::kDense;
    b.inputs = 1;
    b.units = ci;
    b.activation = Activation::kIdentity;
    b.weights = keep(ci, 0.f);
    b.bias = keep(ci, 0.05f);
    m.layers.push_back(b);
  }
  m.family = "demucs";
  m.name = absl::StrCat("random-demucs-d", sh.depth, "-h", sh.hidden, "-r", R);
  m.sample_rate = sh.sample_rate;
  int total = 1;
  for (int i = 0; i < sh.depth; ++i) total *= S;
  Networks tmp;
  tmp.depth = sh.depth;
  tmp.kernel = K;
  tmp.stride = S;
  tmp.resample = R;
  const int hop = total / R;
  const int tl = static_cast<int>(tmp.ValidLength(1)) + sh.lookahead;
  m.hop_size = hop;
  m.frame_size = tl;
  m.algorithmic_latency = ((tl + hop - 1) / hop - 1) * hop + sh.output_delay;
  m.metadata_json = absl::StrCat(
      R"({"demucs": {"depth": )", sh.depth, R"(, "kernel_size": )", K, R"(, "stride": )", S,
      R"(, "resample": )", R, R"(, "lstm_layers": )", sh.lstm_layers, R"(, "glu": )",
      sh.glu ? "true" : "false", R"(, "normalize": )", sh.normalize ? "true" : "false",
      R"(, "floor": 0.001, "resample_lookahead": )", sh.lookahead, R"(, "resample_buffer": )",
      std::min(hop, sh.resample_buffer_cap),
      sh.output_delay > 0 ? absl::StrCat(R"(, "output_delay": )", sh.output_delay) : "",
      sh.skip_delay > 0 ? absl::StrCat(R"(, "skip_delay": )", sh.skip_delay) : "",
      sh.norm_frames >= 0 ? absl::StrCat(R"(, "norm_memory_frames": )", sh.norm_frames) : "",
      "}}");
  return std::shared_ptr<Model>(h, &h->model);
}

// SNR of got against ref in dB: energy of ref over the energy of the difference, over ref's
// length (got at least as long); 1e-30 keeps silence and exact equality finite.
inline double SnrDb(const std::vector<float>& ref, const std::vector<float>& got) {
  double e = 0, d = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    e += static_cast<double>(ref[i]) * ref[i];
    d += (static_cast<double>(ref[i]) - got[i]) * (static_cast<double>(ref[i]) - got[i]);
  }
  return 10 * std::log10((e + 1e-30) / (d + 1e-30));
}

}  // namespace ghostnv::models::demucs
