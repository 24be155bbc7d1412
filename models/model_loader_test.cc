// models/model_loader_test.cc — LoadModel picks the format from the bytes, not the name.

#include "models/model_loader.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "models/gnvm.h"
#include "models/rnnn.h"
#include "models/test_util.h"

namespace ghostnv::models {
namespace {

std::string TempPath(const std::string& leaf) {
  return ::testing::TempDir() + "/loader_test_" + std::to_string(::getpid()) + "_" + leaf;
}

void WriteText(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// The smallest well-wired RNNoise text: sizes 42->1, 1->1, 44->1, 44->1, 1->22, 1->1.
std::string TinyRnnn() {
  std::string t = "rnnoise-nu model file version 1\n";
  const int sizes[6][2] = {{42, 1}, {1, 1}, {44, 1}, {44, 1}, {1, 22}, {1, 1}};
  int k = 0;
  for (int l = 0; l < 6; ++l) {
    const int g = (l >= 1 && l <= 3) ? 3 : 1;
    t += std::to_string(sizes[l][0]) + " " + std::to_string(sizes[l][1]) + " 1\n";
    int n = sizes[l][0] * sizes[l][1] * g + sizes[l][1] * g;
    if (g == 3) n += sizes[l][1] * sizes[l][1] * g;
    for (int i = 0; i < n; ++i) t += std::to_string(k++ % 200 - 100) + " ";
    t += "\n";
  }
  return t;
}

TEST(ModelLoaderTest, SniffsByContentNotExtension) {
  // A .gnvm named .rnnn and an .rnnn named .gnvm.
  const std::string gnvm_path = TempPath("really_gnvm.rnnn");
  const std::string rnnn_path = TempPath("really_rnnn.gnvm");
  testing::OwnedModel om = testing::RandomModel(3);
  ASSERT_TRUE(WriteGnvmFile(*om.model, gnvm_path).ok());
  WriteText(rnnn_path, TinyRnnn());

  auto g = LoadModel(gnvm_path);
  ASSERT_TRUE(g.ok()) << g.status();
  testing::ExpectBitIdentical(*om.model, **g);

  auto r = LoadModel(rnnn_path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->family, "rnnoise");
  EXPECT_EQ((*r)->layers.size(), 6u);
  EXPECT_EQ((*r)->name, "loader_test_" + std::to_string(::getpid()) + "_really_rnnn.gnvm");

  std::remove(gnvm_path.c_str());
  std::remove(rnnn_path.c_str());
}

TEST(ModelLoaderTest, RnnnToGnvmRoundTripIsBitIdentical) {
  auto r = LoadRnnnText(TinyRnnn(), "tiny.rnnn");
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string path = TempPath("tiny.gnvm");
  ASSERT_TRUE(WriteGnvmFile(**r, path).ok());
  auto g = LoadModel(path);
  ASSERT_TRUE(g.ok()) << g.status();
  testing::ExpectBitIdentical(**r, **g);
  EXPECT_EQ((*g)->metadata_json, (*r)->metadata_json);
  std::remove(path.c_str());
}

TEST(ModelLoaderTest, SharedRnnoiseModelsConvertLosslessly) {
  const char* shared = std::getenv("GHOSTNV_SHARED_DIR");
  const std::string dir = shared ? std::string(shared) + "/data/models/rnnoise" : "";
  if (dir.empty() || !std::filesystem::is_directory(dir))
    GTEST_SKIP() << "GHOSTNV_SHARED_DIR/data/models/rnnoise not available";
  auto r = LoadModel(dir + "/sh.rnnn");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->ParameterCount(),
            42u * 24 + 24 + 3 * (24 * 24 + 24 * 24 + 24) + 3 * (90 * 48 + 48 * 48 + 48) +
                3 * (114 * 96 + 96 * 96 + 96) + 96 * 22 + 22 + 24 + 1);
  auto bytes = SerializeGnvm(**r);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto g = LoadGnvmMemory(bytes->data(), bytes->size(), /*copy=*/false);
  ASSERT_TRUE(g.ok()) << g.status();
  testing::ExpectBitIdentical(**r, **g);
}

TEST(ModelLoaderTest, NonModelsAreAClearError) {
  const std::string path = TempPath("notes.txt");
  for (const std::string& text : {std::string("hello world\n"), std::string(""),
                                  std::string("GNV"), std::string("rnnoise")}) {
    WriteText(path, text);
    auto m = LoadModel(path);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().message(),
              path + ": not a model file (expected .gnvm or RNNoise .rnnn)");
  }
  // A broken file of a recognised kind reports that format's error.
  WriteText(path, "GNVM\x01");
  auto g = LoadModel(path);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("truncated"), std::string::npos) << g.status();
  WriteText(path, "rnnoise-nu model file version 1\n42 24");
  auto r = LoadModel(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status();
  std::remove(path.c_str());

  auto missing = LoadModel("/nonexistent/model.gnvm");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(LoadModel(::testing::TempDir()).ok());
}

}  // namespace
}  // namespace ghostnv::models
