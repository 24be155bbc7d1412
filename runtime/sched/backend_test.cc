#include "runtime/sched/backend.h"

#include "gtest/gtest.h"

namespace ghostnv::sched {
namespace {

TEST(BackendTest, Parses) {
  EXPECT_EQ(*ParseBackendKind("auto"), BackendKind::kAuto);
  EXPECT_EQ(*ParseBackendKind("CPU"), BackendKind::kCpu);
  EXPECT_EQ(*ParseBackendKind("cuda"), BackendKind::kCuda);
  auto bad = ParseBackendKind("opencl");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("opencl"), std::string::npos);
  EXPECT_FALSE(ParseBackendKind("").ok());
  EXPECT_STREQ(BackendKindName(BackendKind::kCuda), "cuda");
}

TEST(BackendTest, AutoFallsBackToCpuWithANote) {
  auto b = SelectBackend(BackendKind::kAuto);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->kind, BackendKind::kCpu);
  EXPECT_NE(b->note.find("no GPU backend in this build"), std::string::npos);
  EXPECT_EQ(b->note.find('\n'), std::string::npos);
}

TEST(BackendTest, CpuIsQuiet) {
  auto b = SelectBackend(BackendKind::kCpu);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->kind, BackendKind::kCpu);
  EXPECT_TRUE(b->note.empty());
}

TEST(BackendTest, CudaIsAClearError) {
  auto b = SelectBackend(BackendKind::kCuda);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(), "--backend cuda: this build has no CUDA backend");
}

}  // namespace
}  // namespace ghostnv::sched
