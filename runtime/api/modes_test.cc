// The mode table: Basic resolves; Maximum exactly when its installed model is found; Enhanced
// when an installed model is found or the library embeds GhostNV's enhanced model (installed
// files first); GpuRealtime exactly where a GPU is; "not available" carries the reason.
#include "runtime/api/modes.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "runtime/api/default_model.h"
#include "runtime/api/installed_models.h"
#include "runtime/sched/cuda_backend.h"

#include "ghostnv/ghostnv.h"
#include "gtest/gtest.h"

namespace ghostnv::api {
namespace {

// No model folder of the user's may be seen: set before any test runs.
const bool kIsolated = [] {
  ::unsetenv("GHOSTNV_MODEL_PATH");
  ::setenv("XDG_DATA_HOME", "/nonexistent/ghostnv-modes-test", 1);
  return true;
}();

// Whether this build embeds models/weights/enhanced.gnvm (GHOSTNV_HAVE_ENHANCED_MODEL).
bool EnhancedEmbedded() {
  const void* data = nullptr;
  size_t size = 0;
  return EmbeddedEnhancedModel(&data, &size);
}

TEST(ModesTest, BasicIsTheEmbeddedDefault) {
  auto m = ResolveMode(GHOSTNV_MODE_BASIC);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->embedded_default);
  EXPECT_STREQ(m->name, "basic");
  EXPECT_EQ(CheckMode(GHOSTNV_MODE_BASIC), ModeAvailability::kAvailable);
}

TEST(ModesTest, OthersAreNotAvailableYet) {
  for (int mode : {GHOSTNV_MODE_ENHANCED, GHOSTNV_MODE_MAXIMUM, GHOSTNV_MODE_GPU_REALTIME}) {
    // gpu-realtime exists exactly where a GPU does, enhanced wherever its model is embedded
    // (EnhancedIsTheEmbeddedModelUnlessInstalled).
    if (mode == GHOSTNV_MODE_GPU_REALTIME && sched::GpuPresent()) continue;
    if (mode == GHOSTNV_MODE_ENHANCED && EnhancedEmbedded()) continue;
    auto m = ResolveMode(mode);
    ASSERT_FALSE(m.ok());
    EXPECT_TRUE(absl::IsUnavailable(m.status())) << m.status();
    EXPECT_NE(std::string(m.status().message()).find("not available"), std::string::npos);
    EXPECT_NE(std::string(m.status().message()).find(ModeName(mode)), std::string::npos);
    EXPECT_EQ(CheckMode(mode), ModeAvailability::kNotShipped);
  }
  EXPECT_STREQ(ModeName(GHOSTNV_MODE_GPU_REALTIME), "gpu-realtime");
}

TEST(ModesTest, InstalledModelsAreSearchedInOrder) {
  char tmpl[] = "/tmp/ghostnv-modes-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string a = std::string(tmpl) + "/a", b = std::string(tmpl) + "/b";
  ASSERT_EQ(::mkdir(a.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(b.c_str(), 0700), 0);
  ::setenv("GHOSTNV_MODEL_PATH", (a + "::" + b).c_str(), 1);
  const std::vector<std::string> path = ModelSearchPath();
  ASSERT_GE(path.size(), 4u);
  EXPECT_EQ(path[0], a);
  EXPECT_EQ(path[1], b);
  EXPECT_EQ(path[2], "/nonexistent/ghostnv-modes-test/ghostnv/models");

  auto missing = FindInstalledModel("maximum");
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_NE(std::string(missing.status().message()).find(b + "/dfn3.gnvm"), std::string::npos);
  EXPECT_EQ(CheckMode(GHOSTNV_MODE_MAXIMUM), ModeAvailability::kNotShipped);
  EXPECT_TRUE(absl::IsInvalidArgument(FindInstalledModel("basic").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(FindInstalledModel("").status()));

  std::ofstream(b + "/dfn3.gnvm") << "x";
  ASSERT_EQ(::mkdir((a + "/dfn3.gnvm").c_str(), 0700), 0);  // a folder is not a model file
  auto found = FindInstalledModel("maximum");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, b + "/dfn3.gnvm");
  std::ofstream(b + "/maximum.gnvm") << "x";  // maximum.gnvm comes before dfn3.gnvm
  EXPECT_EQ(*FindInstalledModel("maximum"), b + "/maximum.gnvm");
  std::ofstream(a + "/dtln.gnvm") << "x";  // an earlier folder wins
  std::ofstream(b + "/enhanced.gnvm") << "x";
  EXPECT_EQ(*FindInstalledModel("enhanced"), a + "/dtln.gnvm");

  auto m = ResolveMode(GHOSTNV_MODE_MAXIMUM);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(m->embedded_default);
  EXPECT_STREQ(m->installed_model, "maximum");
  EXPECT_FALSE(m->gpu);
  EXPECT_EQ(CheckMode(GHOSTNV_MODE_ENHANCED), ModeAvailability::kAvailable);

  for (const std::string& f : {a + "/dtln.gnvm", b + "/enhanced.gnvm", b + "/dfn3.gnvm",
                               b + "/maximum.gnvm"})
    ::unlink(f.c_str());
  ::rmdir((a + "/dfn3.gnvm").c_str());
  ::rmdir(a.c_str());
  ::rmdir(b.c_str());
  ::rmdir(tmpl);
  ::unsetenv("GHOSTNV_MODEL_PATH");
  EXPECT_EQ(CheckMode(GHOSTNV_MODE_ENHANCED),
            EnhancedEmbedded() ? ModeAvailability::kAvailable : ModeAvailability::kNotShipped);
  EXPECT_EQ(CheckMode(GHOSTNV_MODE_MAXIMUM), ModeAvailability::kNotShipped);
}

// Enhanced: an installed enhanced.gnvm, then an installed dtln.gnvm, then the embedded model;
// "installed:enhanced" (FindInstalledModel) still means the files only.
TEST(ModesTest, EnhancedIsTheEmbeddedModelUnlessInstalled) {
  char tmpl[] = "/tmp/ghostnv-modes-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ::setenv("GHOSTNV_MODEL_PATH", dir.c_str(), 1);
  EXPECT_TRUE(absl::IsNotFound(FindInstalledModel("enhanced").status()));
  auto m = ResolveMode(GHOSTNV_MODE_ENHANCED);
  if (EnhancedEmbedded()) {
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_STREQ(m->name, "enhanced");
    EXPECT_TRUE(m->embedded_enhanced);
    EXPECT_EQ(m->installed_model, nullptr);
    EXPECT_FALSE(m->embedded_default);
    EXPECT_FALSE(m->embedded_ultra);
    EXPECT_FALSE(m->gpu);
    EXPECT_EQ(CheckMode(GHOSTNV_MODE_ENHANCED), ModeAvailability::kAvailable);
  } else {
    EXPECT_TRUE(absl::IsUnavailable(m.status())) << m.status();
    EXPECT_NE(std::string(m.status().message()).find(dir + "/dtln.gnvm"), std::string::npos);
    EXPECT_EQ(CheckMode(GHOSTNV_MODE_ENHANCED), ModeAvailability::kNotShipped);
  }
  for (const char* f : {"/dtln.gnvm", "/enhanced.gnvm"}) {
    std::ofstream(dir + f) << "x";  // installed: the file, not the embedded model
    auto i = ResolveMode(GHOSTNV_MODE_ENHANCED);
    ASSERT_TRUE(i.ok()) << i.status();
    EXPECT_FALSE(i->embedded_enhanced) << f;
    EXPECT_STREQ(i->installed_model, "enhanced");
    EXPECT_EQ(*FindInstalledModel("enhanced"), dir + f);  // enhanced.gnvm before dtln.gnvm
    EXPECT_EQ(CheckMode(GHOSTNV_MODE_ENHANCED), ModeAvailability::kAvailable);
  }
  for (const char* f : {"/dtln.gnvm", "/enhanced.gnvm"}) ::unlink((dir + f).c_str());
  ::rmdir(tmpl);
  ::unsetenv("GHOSTNV_MODEL_PATH");
}

TEST(ModesTest, UnknownModes) {
  for (int mode : {-1, 4, 1000}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ResolveMode(mode).status()));
    EXPECT_EQ(CheckMode(mode), ModeAvailability::kUnknown);
    EXPECT_STREQ(ModeName(mode), "unknown");
  }
}

}  // namespace
}  // namespace ghostnv::api
