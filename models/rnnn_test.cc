// models/rnnn_test.cc — the RNNoise .rnnn loader: the shipped models, synthetic texts, errors.

#include "models/rnnn.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ghostnv::models {
namespace {

struct Spec {
  int inputs, units, act;
};

// RNNoise's wiring with small sizes: input_dense 42->I, vad_gru I->V, noise_gru I+V+42 -> N,
// denoise_gru V+N+42 -> D, denoise_output D->22, vad_output V->1.
std::vector<Spec> SmallSpecs(int i = 2, int v = 3, int n = 1, int d = 2) {
  return {{42, i, 0}, {i, v, 1}, {i + v + 42, n, 2}, {v + n + 42, d, 0}, {d, 22, 1}, {v, 1, 1}};
}

bool IsGru(size_t layer) { return layer >= 1 && layer <= 3; }

// Writes a .rnnn text; value k of the file (counting all weights) is ((k * 37) % 255) - 127.
std::string MakeRnnn(const std::vector<Spec>& specs, const std::string& sep = "\n") {
  std::ostringstream o;
  o << "rnnoise-nu model file version 1\n";
  int k = 0;
  for (size_t l = 0; l < specs.size(); ++l) {
    const Spec& s = specs[l];
    o << s.inputs << " " << s.units << " " << s.act << sep;
    const int g = IsGru(l) ? 3 : 1;
    auto emit = [&](int n) {
      for (int i = 0; i < n; ++i, ++k) o << ((k * 37) % 255) - 127 << (i + 1 < n ? " " : "");
      o << sep;
    };
    emit(s.inputs * s.units * g);
    if (IsGru(l)) emit(s.units * s.units * g);
    emit(s.units * g);
  }
  return o.str();
}

void ExpectError(const std::string& text, const std::string& needle) {
  auto m = LoadRnnnText(text, "t.rnnn");
  ASSERT_FALSE(m.ok()) << "expected an error containing \"" << needle << "\"";
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find(needle), std::string::npos) << m.status();
  EXPECT_EQ(m.status().message().substr(0, 8), "t.rnnn: ") << m.status();
}

const char* const kNames[6] = {"input_dense", "vad_gru", "noise_gru",
                               "denoise_gru", "denoise_output", "vad_output"};

TEST(RnnnTest, SyntheticModelLoadsWithEveryValueInFileOrder) {
  const std::vector<Spec> specs = SmallSpecs();
  for (const std::string sep : {"\n", " ", "\r\n", "\n\n\t "}) {
    auto m = LoadRnnnText(MakeRnnn(specs, sep), "small.rnnn");
    ASSERT_TRUE(m.ok()) << m.status();
    const Model& model = **m;
    EXPECT_EQ(model.family, "rnnoise");
    EXPECT_EQ(model.name, "small.rnnn");
    EXPECT_EQ(model.sample_rate, 48000);
    EXPECT_EQ(model.frame_size, 960);
    EXPECT_EQ(model.hop_size, 480);
    EXPECT_EQ(model.algorithmic_latency, 480);
    EXPECT_EQ(model.math, kernels::MathMode::kRnnoiseApprox);
    ASSERT_EQ(model.layers.size(), 6u);
    int k = 0;
    auto expect_values = [&](const float* v, int n, const char* what) {
      ASSERT_NE(v, nullptr) << what;
      for (int i = 0; i < n; ++i, ++k)
        ASSERT_EQ(v[i], static_cast<float>(((k * 37) % 255) - 127) / 256.0f) << what << " " << i;
    };
    for (size_t l = 0; l < 6; ++l) {
      const Layer& layer = model.layers[l];
      SCOPED_TRACE(kNames[l]);
      EXPECT_EQ(layer.name, kNames[l]);
      EXPECT_EQ(layer.kind, IsGru(l) ? LayerKind::kGru : LayerKind::kDense);
      EXPECT_EQ(layer.inputs, specs[l].inputs);
      EXPECT_EQ(layer.units, specs[l].units);
      EXPECT_FALSE(layer.reset_after);
      EXPECT_EQ(layer.recurrent_bias, nullptr);
      const int g = IsGru(l) ? 3 : 1;
      expect_values(layer.weights, layer.inputs * layer.units * g, "weights");
      if (IsGru(l)) expect_values(layer.recurrent, layer.units * layer.units * g, "recurrent");
      else EXPECT_EQ(layer.recurrent, nullptr);
      expect_values(layer.bias, layer.units * g, "bias");
    }
    using A = kernels::Activation;
    EXPECT_EQ(model.layers[0].activation, A::kTanh);
    EXPECT_EQ(model.layers[1].activation, A::kSigmoid);
    EXPECT_EQ(model.layers[2].activation, A::kRelu);
  }
}

TEST(RnnnTest, ActivationCodes) {
  using A = kernels::Activation;
  const std::pair<int, A> cases[] = {{0, A::kTanh}, {1, A::kSigmoid}, {2, A::kRelu},
                                     {3, A::kTanh}, {128, A::kTanh}};
  for (auto [code, act] : cases) {
    std::vector<Spec> specs = SmallSpecs();
    specs[4].act = code;
    auto m = LoadRnnnText(MakeRnnn(specs), "a.rnnn");
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ((*m)->layers[4].activation, act) << code;
  }
  std::vector<Spec> specs = SmallSpecs();
  specs[4].act = 129;
  ExpectError(MakeRnnn(specs), "activation = 129 is out of range 0..128");
  specs[4].act = -1;
  ExpectError(MakeRnnn(specs), "out of range");
}

TEST(RnnnTest, HeaderErrors) {
  const std::string body = MakeRnnn(SmallSpecs()).substr(32);
  ASSERT_EQ(MakeRnnn(SmallSpecs()).substr(0, 32), "rnnoise-nu model file version 1\n");
  ExpectError("", "not an RNNoise model");
  ExpectError("GNVM", "not an RNNoise model");
  ExpectError("rnnoise model file version 1\n" + body, "not an RNNoise model");
  ExpectError("rnnoise-nu model file version 2\n" + body, "unsupported .rnnn version 2");
  ExpectError("rnnoise-nu model file version x\n" + body, "bad header line");
  ExpectError("rnnoise-nu model file version\n" + body, "bad header line");
  ExpectError("rnnoise-nu model file version 1 extra\n" + body, "bad header line");
  ExpectError("rnnoise-nu model file version1\n" + body, "bad header line");
  ExpectError(std::string("rnnoise-nu model file version 1\0\n", 33) + body, "bad header line");
  EXPECT_TRUE(LoadRnnnText("rnnoise-nu model file version 1 \r\n" + body, "ok").ok());
}

TEST(RnnnTest, SizeErrors) {
  struct Case {
    size_t layer;
    int field;  // 0 inputs, 1 units
    int value;
    const char* needle;
  };
  const Case cases[] = {
      {0, 0, 0, "layer 'input_dense' nb_inputs is 0"},
      {1, 1, 0, "layer 'vad_gru' nb_neurons is 0"},
      {3, 1, 129, "layer 'denoise_gru' nb_neurons = 129 is out of range 0..128"},
      {2, 0, -3, "layer 'noise_gru' nb_inputs = -3 is out of range"},
  };
  for (const Case& c : cases) {
    std::vector<Spec> specs = SmallSpecs();
    (c.field == 0 ? specs[c.layer].inputs : specs[c.layer].units) = c.value;
    ExpectError(MakeRnnn(specs), c.needle);
  }
}

TEST(RnnnTest, WiringErrorsNameTheLayer) {
  struct Case {
    size_t layer;
    int field;
    int delta;
    const char* needle;
  };
  // Each change keeps the file self-consistent (the values are written for the sizes given),
  // so only the wiring check can catch it.
  const Case cases[] = {
      {0, 0, 1, "layer 'input_dense' has nb_inputs = 43, expected 42"},
      {1, 0, 1, "layer 'vad_gru' has nb_inputs = 3, expected 2"},
      {2, 0, -1, "layer 'noise_gru' has nb_inputs = 46, expected 47"},
      {3, 0, 2, "layer 'denoise_gru' has nb_inputs = 48, expected 46"},
      {4, 0, 1, "layer 'denoise_output' has nb_inputs = 3, expected 2"},
      {4, 1, -1, "layer 'denoise_output' has nb_neurons = 21, expected 22"},
      {5, 0, 1, "layer 'vad_output' has nb_inputs = 4, expected 3"},
      {5, 1, 1, "layer 'vad_output' has nb_neurons = 2, expected 1"},
  };
  for (const Case& c : cases) {
    std::vector<Spec> specs = SmallSpecs();
    (c.field == 0 ? specs[c.layer].inputs : specs[c.layer].units) += c.delta;
    ExpectError(MakeRnnn(specs), c.needle);
  }
}

TEST(RnnnTest, TokenErrors) {
  const std::string good = MakeRnnn(SmallSpecs());
  // Replaces a token on line 3 (input_dense's 84 weights).
  auto with = [&](const std::string& token) {
    std::string t = good;
    const size_t sp = t.find(' ', 45);
    const size_t end = t.find(' ', sp + 1);
    return t.replace(sp + 1, end - sp - 1, token);
  };
  ExpectError(with("1.5"), "expected an integer in layer 'input_dense' input weights, got \"1.5\"");
  ExpectError(with("abc"), "expected an integer");
  ExpectError(with("12abc"), "expected an integer");
  ExpectError(with("0x10"), "expected an integer");
  ExpectError(with("--1"), "expected an integer");
  ExpectError(with("+-1"), "expected an integer");
  ExpectError(with("-"), "expected an integer");
  ExpectError(with("99999999999"), "out of range");
  ExpectError(with(std::string("1\0", 2)), "expected an integer");
  ExpectError(with("\xff\xfe"), "\\xff\\xfe");
  EXPECT_TRUE(LoadRnnnText(with("+5"), "x").ok());
  EXPECT_TRUE(LoadRnnnText(with("-128"), "x").ok());
  ExpectError(good + "7\n", "unexpected data after the last layer");
  EXPECT_TRUE(LoadRnnnText(good + "\n\n  \t\n", "x").ok());
  // The line number of the bad token.
  ExpectError(with("zz"), "line 3:");
}

TEST(RnnnTest, EveryTruncationIsAnErrorAndNoneCrash) {
  const std::string good = MakeRnnn(SmallSpecs(1, 1, 1, 1));
  ASSERT_TRUE(LoadRnnnText(good, "x").ok());
  size_t last_token = good.find_last_not_of(" \n");
  while (last_token > 0 && good[last_token - 1] != ' ' && good[last_token - 1] != '\n')
    --last_token;
  for (size_t n = 0; n < good.size(); ++n) {
    auto m = LoadRnnnText(good.substr(0, n), "cut.rnnn");
    // Cutting inside the last number leaves a shorter, valid number.
    if (n > last_token) continue;
    ASSERT_FALSE(m.ok()) << "cut at " << n;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  }
  ExpectError(good.substr(0, good.rfind(' ', good.size() / 2)), "truncated in layer");
}

TEST(RnnnTest, RandomGarbageNeverCrashes) {
  const std::string good = MakeRnnn(SmallSpecs());
  std::mt19937 rng(5);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string t = good;
    for (int k = 0; k < 3; ++k) {
      const size_t at = 32 + rng() % (t.size() - 32);
      const char choices[] = "0123456789 -+\n\t.x\xff";
      t[at] = choices[rng() % (sizeof(choices) - 1)];
    }
    auto m = LoadRnnnText(t, "fuzz.rnnn");
    if (m.ok()) {
      for (const Layer& l : (*m)->layers) ASSERT_TRUE(l.inputs > 0 && l.units > 0);
    }
  }
}

TEST(RnnnTest, FileErrors) {
  auto m = LoadRnnnFile("/nonexistent/x.rnnn");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(LoadRnnnFile(::testing::TempDir()).ok());
}

// ---------------------------------------------------------------------------------------------
// The real RNNoise models (from the shared data folder; not in the repository).

std::string SharedModelDir() {
  const char* shared = std::getenv("GHOSTNV_SHARED_DIR");
  if (shared == nullptr) return "";
  const std::string dir = std::string(shared) + "/data/models/rnnoise";
  return std::filesystem::is_directory(dir) ? dir : "";
}

TEST(RnnnSharedTest, ShippedModelsMatchAnIndependentParse) {
  const std::string dir = SharedModelDir();
  if (dir.empty()) GTEST_SKIP() << "GHOSTNV_SHARED_DIR/data/models/rnnoise not available";
  for (const char* file : {"sh.rnnn", "bd.rnnn", "mp.rnnn"}) {
    SCOPED_TRACE(file);
    const std::string path = dir + "/" + file;
    auto m = LoadRnnnFile(path);
    ASSERT_TRUE(m.ok()) << m.status();
    const Model& model = **m;
    EXPECT_EQ(model.name, file);
    ASSERT_EQ(model.layers.size(), 6u);
    const int sizes[6][2] = {{42, 24}, {24, 24}, {90, 48}, {114, 96}, {96, 22}, {24, 1}};
    for (int l = 0; l < 6; ++l) {
      EXPECT_EQ(model.layers[l].name, kNames[l]);
      EXPECT_EQ(model.layers[l].inputs, sizes[l][0]);
      EXPECT_EQ(model.layers[l].units, sizes[l][1]);
    }

    // Independent parse: whitespace-separated words; 5 header words, then per layer
    // 3 size words and the values in file order, which is our layout.
    std::ifstream f(path);
    std::vector<std::string> words;
    for (std::string w; f >> w;) words.push_back(w);
    ASSERT_GT(words.size(), 8u);
    EXPECT_EQ(words[0], "rnnoise-nu");
    size_t k = 5;
    size_t checked = 0;
    for (int l = 0; l < 6; ++l) {
      const Layer& layer = model.layers[l];
      ASSERT_EQ(std::stoi(words[k]), layer.inputs);
      ASSERT_EQ(std::stoi(words[k + 1]), layer.units);
      const int act = std::stoi(words[k + 2]);
      const kernels::Activation expect_act = act == 1   ? kernels::Activation::kSigmoid
                                             : act == 2 ? kernels::Activation::kRelu
                                                        : kernels::Activation::kTanh;
      EXPECT_EQ(layer.activation, expect_act) << layer.name;
      k += 3;
      const size_t g = IsGru(l) ? 3 : 1;
      auto compare = [&](const float* v, size_t n) {
        for (size_t i = 0; i < n; ++i, ++k, ++checked)
          ASSERT_EQ(v[i], std::stod(words[k]) / 256.0) << layer.name << " value " << i;
      };
      compare(layer.weights, static_cast<size_t>(layer.inputs) * layer.units * g);
      if (IsGru(l)) compare(layer.recurrent, static_cast<size_t>(layer.units) * layer.units * g);
      compare(layer.bias, layer.units * g);
    }
    EXPECT_EQ(k, words.size());
    EXPECT_EQ(checked, model.ParameterCount());
    // A few spot values from the top of the file, by hand: sh.rnnn's first weights.
    if (std::string(file) == "sh.rnnn") {
      EXPECT_EQ(model.layers[0].weights[0], -16 / 256.0f);
      EXPECT_EQ(model.layers[0].weights[1], 13 / 256.0f);
      EXPECT_EQ(model.layers[0].weights[7], 55 / 256.0f);
      EXPECT_EQ(model.layers[0].activation, kernels::Activation::kTanh);
      EXPECT_EQ(model.layers[2].activation, kernels::Activation::kRelu);
      EXPECT_EQ(model.layers[4].activation, kernels::Activation::kSigmoid);
    }
  }
}

}  // namespace
}  // namespace ghostnv::models
