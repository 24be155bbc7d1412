// models/gnvm_writer_py_test.cc — files written by tools/train/gnvm_writer.py load in C++.
//
// Runs `python3 tools/train/gnvm_writer.py --selftest OUT --precision P` and checks OUT against
// the values the self-test writes (selftest_value() there, mirrored here). Skips when python3
// with numpy is not installed.

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/gnvm.h"
#include "nlohmann/json.hpp"

namespace ghostnv::models {
namespace {

double SelftestValue(int k, int i) { return ((i * 7 + k * 3) % 17 - 8) / 16.0; }

std::string Quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class GnvmWriterPyTest : public ::testing::TestWithParam<Precision> {
 protected:
  void SetUp() override {
    if (std::system("python3 -c 'import numpy' >/dev/null 2>&1") != 0)
      GTEST_SKIP() << "python3 with numpy not available";
    const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
    if (src == nullptr) GTEST_SKIP() << "GHOSTNV_SOURCE_DIR not set (run through ctest)";
    script_ = std::string(src) + "/tools/train/gnvm_writer.py";
  }
  std::string script_;
};

TEST_P(GnvmWriterPyTest, SelftestModelLoadsWithExactValues) {
  const Precision p = GetParam();
  const std::string out = ::testing::TempDir() + "/py_selftest_" + std::to_string(::getpid()) +
                          "_" + PrecisionName(p) + ".gnvm";
  const std::string cmd = "python3 " + Quoted(script_) + " --selftest " + Quoted(out) +
                          " --precision " + PrecisionName(p) + " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  auto loaded = LoadGnvmFile(out);
  std::remove(out.c_str());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Model& m = **loaded;
  EXPECT_EQ(m.family, "selftest");
  EXPECT_EQ(m.name, "python selftest \xc3\xa9");
  EXPECT_EQ(m.sample_rate, 16000);
  EXPECT_EQ(m.frame_size, 320);
  EXPECT_EQ(m.hop_size, 160);
  EXPECT_EQ(m.algorithmic_latency, 160);
  EXPECT_EQ(m.math, kernels::MathMode::kExact);
  EXPECT_EQ(nlohmann::json::parse(m.metadata_json),
            nlohmann::json::parse(R"({"writer":"gnvm_writer.py","numbers":[1,2.5]})"));
  ASSERT_EQ(m.layers.size(), 3u);

  const Layer& in = m.layers[0];
  const Layer& gru = m.layers[1];
  const Layer& out_l = m.layers[2];
  EXPECT_EQ(in.kind, LayerKind::kDense);
  EXPECT_EQ(in.inputs, 5);
  EXPECT_EQ(in.units, 3);
  EXPECT_EQ(in.activation, kernels::Activation::kTanh);
  EXPECT_EQ(gru.kind, LayerKind::kGru);
  EXPECT_EQ(gru.inputs, 3);
  EXPECT_EQ(gru.units, 2);
  EXPECT_TRUE(gru.reset_after);
  EXPECT_EQ(out_l.activation, kernels::Activation::kSigmoid);
  EXPECT_EQ(out_l.bias, nullptr);

  // Tensor k in the self-test's order; matrices are [rows, cols].
  auto check = [&](int k, const float* v, int rows, int cols, const char* what) {
    ASSERT_NE(v, nullptr) << what;
    const bool quantised = p == Precision::kI8 && rows > 0;
    for (int c = 0; c < cols; ++c) {
      double maxabs = 0;
      for (int r = 0; r < std::max(rows, 1); ++r)
        maxabs = std::max(maxabs, std::fabs(SelftestValue(k, r * cols + c)));
      for (int r = 0; r < std::max(rows, 1); ++r) {
        const double want = SelftestValue(k, r * cols + c);
        const double got = v[r * cols + c];
        if (quantised)
          EXPECT_LE(std::fabs(got - want), maxabs / 127 * 0.5 * (1 + 1e-5)) << what;
        else
          EXPECT_EQ(got, want) << what << " r" << r << " c" << c;  // exact in f32 and f16
      }
    }
  };
  check(0, in.weights, 5, 3, "in.weights");
  check(1, in.bias, 0, 3, "in.bias");
  check(2, gru.weights, 3, 6, "gru.weights");
  check(3, gru.recurrent, 2, 6, "gru.recurrent");
  check(4, gru.bias, 0, 6, "gru.bias");
  check(5, gru.recurrent_bias, 0, 6, "gru.recurrent_bias");
  check(6, out_l.weights, 2, 4, "out.weights");

  // And C++ writes the same model back in the same precision without loss of what it read.
  auto again = SerializeGnvm(m, p == Precision::kF16 ? Precision::kF16 : Precision::kF32);
  ASSERT_TRUE(again.ok()) << again.status();
}

INSTANTIATE_TEST_SUITE_P(Precisions, GnvmWriterPyTest,
                         ::testing::Values(Precision::kF32, Precision::kF16, Precision::kI8),
                         [](const auto& param_info) {
                           return std::string(PrecisionName(param_info.param));
                         });

}  // namespace
}  // namespace ghostnv::models
