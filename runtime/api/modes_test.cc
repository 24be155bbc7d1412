// The mode table: Basic resolves, the others are "not available" with a reason.
#include "runtime/api/modes.h"
#include "runtime/sched/cuda_backend.h"

#include <string>

#include "ghostnv/ghostnv.h"
#include "gtest/gtest.h"

namespace ghostnv::api {
namespace {

TEST(ModesTest, BasicIsTheEmbeddedDefault) {
  auto m = ResolveMode(GHOSTNV_MODE_BASIC);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->embedded_default);
  EXPECT_STREQ(m->name, "basic");
  EXPECT_EQ(CheckMode(GHOSTNV_MODE_BASIC), ModeAvailability::kAvailable);
}

TEST(ModesTest, OthersAreNotAvailableYet) {
  for (int mode : {GHOSTNV_MODE_ENHANCED, GHOSTNV_MODE_MAXIMUM, GHOSTNV_MODE_GPU_REALTIME}) {
    // gpu-realtime exists exactly where a GPU does.
    if (mode == GHOSTNV_MODE_GPU_REALTIME && sched::GpuPresent()) continue;
    auto m = ResolveMode(mode);
    ASSERT_FALSE(m.ok());
    EXPECT_TRUE(absl::IsUnavailable(m.status())) << m.status();
    EXPECT_NE(std::string(m.status().message()).find("not available"), std::string::npos);
    EXPECT_NE(std::string(m.status().message()).find(ModeName(mode)), std::string::npos);
    EXPECT_EQ(CheckMode(mode), ModeAvailability::kNotShipped);
  }
  EXPECT_STREQ(ModeName(GHOSTNV_MODE_GPU_REALTIME), "gpu-realtime");
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
