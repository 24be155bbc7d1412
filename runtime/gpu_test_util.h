// runtime/gpu_test_util.h — shared set-up for the GPU tests (label `gpu`; tests only).
//
// GpuEnv() opens device 0 once per test binary: context, a stream and the loaded kernels
// (compiled through a cache in a temporary directory). With no driver, no device or no NVRTC the
// tests skip with the reason (GPU_TEST_OR_SKIP); any other failure is a test failure.
//
//   TEST(Gru, MatchesCpu) {
//     GPU_TEST_OR_SKIP(env);
//     DeviceFloats x = env->Upload(host_x);
//     ASSERT_EQ(env->ops->GruStep(...), cu::kSuccess);
//     std::vector<float> y = env->Download(state);
//   }
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels_test_util.h"
#include "runtime/context.h"
#include "runtime/device.h"
#include "runtime/gpu_ops.h"
#include "runtime/memory.h"
#include "runtime/stream.h"
#include "runtime/test_tmpdir.h"

namespace ghostnv::runtime::testing {

inline constexpr double kFloatEps = 5.9604644775390625e-08;  // 2^-24

struct GpuTestEnv {
  std::string skip_reason;   // non-empty: skip
  std::string failure;       // non-empty: fail
  std::optional<DeviceInfo> device;
  std::optional<Context> ctx;
  std::optional<Stream> stream;
  std::optional<GpuOps> ops;
  TempDir cache_dir;
  std::vector<ProgramLoad> loads;

  DeviceBlock Alloc(size_t floats) const {
    absl::StatusOr<DeviceBlock> b = DeviceBlock::Allocate(*ctx, floats * sizeof(float));
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? *std::move(b) : DeviceBlock();
  }
  // Device copy of `v` (an empty vector gives an empty block, pointer 0).
  template <typename T>
  DeviceBlock Upload(const std::vector<T>& v) const {
    absl::StatusOr<DeviceBlock> b = DeviceBlock::Allocate(*ctx, v.size() * sizeof(T));
    EXPECT_TRUE(b.ok()) << b.status();
    if (!b.ok() || v.empty()) return DeviceBlock();
    EXPECT_EQ(b->CopyFromHostAsync(v.data(), v.size() * sizeof(T), *stream), cu::kSuccess);
    EXPECT_TRUE(stream->Synchronize().ok());
    return *std::move(b);
  }
  std::vector<float> Download(const DeviceBlock& b, size_t floats) const {
    std::vector<float> v(floats);
    if (floats == 0) return v;
    EXPECT_EQ(b.CopyToHostAsync(v.data(), floats * sizeof(float), *stream), cu::kSuccess);
    absl::Status st = stream->Synchronize();
    EXPECT_TRUE(st.ok()) << st;
    return v;
  }
  // Fills with 0xFF bytes: a NaN in every float, so unwritten outputs are caught.
  void Poison(const DeviceBlock& b) const {
    if (b.bytes() == 0) return;
    EXPECT_EQ(b.FillBytesAsync(0xFF, *stream), cu::kSuccess);
  }
  absl::Status Sync() const { return stream->Synchronize(); }
};

inline GpuTestEnv* GpuEnv() {
  static GpuTestEnv* env = [] {
    auto* e = new GpuTestEnv();
    absl::StatusOr<DeviceInfo> dev = FindDevice("cuda:0");
    if (!dev.ok()) {
      (absl::IsUnavailable(dev.status()) ? e->skip_reason : e->failure) = std::string(dev.status().message());
      return e;
    }
    e->device = *dev;
    absl::StatusOr<Context> ctx = Context::Retain(*dev);
    if (!ctx.ok()) {
      e->failure = std::string(ctx.status().message());
      return e;
    }
    e->ctx.emplace(*std::move(ctx));
    absl::StatusOr<Stream> s = Stream::Create(*e->ctx, StreamPriority::kBatch);
    if (!s.ok()) {
      e->failure = std::string(s.status().message());
      return e;
    }
    e->stream.emplace(*std::move(s));
    absl::StatusOr<GpuOps> ops = GpuOps::Load(*e->ctx, CubinCache(e->cache_dir.path()), &e->loads);
    if (!ops.ok()) {
      (absl::IsUnavailable(ops.status()) ? e->skip_reason : e->failure) = std::string(ops.status().message());
      return e;
    }
    e->ops.emplace(*std::move(ops));
    return e;
  }();
  return env;
}

#define GPU_TEST_OR_SKIP(env)                                                    \
  ::ghostnv::runtime::testing::GpuTestEnv* env = ::ghostnv::runtime::testing::GpuEnv(); \
  if (!env->skip_reason.empty()) GTEST_SKIP() << "no GPU: " << env->skip_reason;         \
  ASSERT_TRUE(env->failure.empty()) << env->failure

// The kernels' tests' seeded generator (uniform floats, raw bits).
using Rng = ::ghostnv::kernels::testing::TestRng;

}  // namespace ghostnv::runtime::testing
