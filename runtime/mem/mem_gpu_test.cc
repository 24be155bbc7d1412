// GPU tests for runtime/mem (label gpu): PinnedPool over real cuMemHostAlloc memory (mapped and
// not), DeviceArena over cuMemAlloc with cuMemsetD8Async wipes, read back through the driver.
// Without a driver or device every test skips with "no GPU: <reason>".
#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <random>
#include <vector>

#include "runtime/context.h"
#include "runtime/device.h"
#include "runtime/mem/device_arena.h"
#include "runtime/mem/pinned_pool.h"
#include "runtime/memory.h"
#include "runtime/stream.h"

namespace ghostnv::mem {
namespace {

using runtime::Context;
using runtime::Stream;

struct Env {
  std::string skip, failure;
  std::optional<runtime::DeviceInfo> dev;
  std::optional<Context> ctx;
  std::optional<Stream> stream;
};

Env* GetEnv() {
  static Env* env = [] {
    auto* e = new Env();
    absl::StatusOr<runtime::DeviceInfo> d = runtime::FindDevice("cuda:0");
    if (!d.ok()) {
      (absl::IsUnavailable(d.status()) ? e->skip : e->failure) = std::string(d.status().message());
      return e;
    }
    e->dev = *d;
    absl::StatusOr<Context> c = Context::Retain(*d);
    if (!c.ok()) {
      e->failure = std::string(c.status().message());
      return e;
    }
    e->ctx.emplace(*std::move(c));
    absl::StatusOr<Stream> s = Stream::Create(*e->ctx, runtime::StreamPriority::kBatch);
    if (!s.ok()) {
      e->failure = std::string(s.status().message());
      return e;
    }
    e->stream.emplace(*std::move(s));
    return e;
  }();
  return env;
}

#define MEM_GPU_OR_SKIP(env)                                         \
  Env* env = GetEnv();                                               \
  if (!env->skip.empty()) GTEST_SKIP() << "no GPU: " << env->skip;   \
  ASSERT_TRUE(env->failure.empty()) << env->failure;                 \
  ASSERT_TRUE(env->ctx->MakeCurrent().ok())

std::vector<unsigned char> ReadDevice(const Env& env, cu::CUdeviceptr p, size_t n) {
  std::vector<unsigned char> v(n);
  EXPECT_EQ(env.ctx->api().MemcpyDtoHAsync(v.data(), p, n, env.stream->get()), cu::kSuccess);
  EXPECT_TRUE(env.stream->Synchronize().ok());
  return v;
}

TEST(GpuPinnedPool, MappedBlocksAreVisibleToTheDevice) {
  MEM_GPU_OR_SKIP(env);
  if (!env->dev->can_map_host_memory) GTEST_SKIP() << "device cannot map host memory";
  PinnedPoolOptions o;
  o.bytes = 1 << 20;
  o.mapping = runtime::HostMapping::kMapped;
  absl::StatusOr<PinnedPool> pool = PinnedPool::Create(*env->ctx, o);
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ(pool->backing(), PoolBacking::kPinned);
  EXPECT_TRUE(pool->mapped());
  std::vector<PinnedPool::Block> blocks;
  std::mt19937 rng(5);
  for (size_t n : {size_t{1}, size_t{7}, size_t{113}, size_t{513}, size_t{1920}, size_t{4099}}) {
    absl::StatusOr<PinnedPool::Block> b = pool->Allocate(n);
    ASSERT_TRUE(b.ok()) << b.status();
    ASSERT_NE(b->device_ptr(), 0u);
    for (size_t i = 0; i < n; ++i) b->as<unsigned char>()[i] = static_cast<unsigned char>(rng());
    // Copy through the *device* pointer of the mapping: the bytes must be the host's.
    std::vector<unsigned char> back = ReadDevice(*env, b->device_ptr(), n);
    ASSERT_EQ(std::memcmp(back.data(), b->data(), n), 0) << n << " bytes";
    blocks.push_back(*std::move(b));
  }
  const size_t off = blocks[2].offset();
  blocks[2].Release();
  const cu::CUdeviceptr base = blocks[0].device_ptr() - blocks[0].offset();
  std::vector<unsigned char> wiped = ReadDevice(*env, base + off, 113);
  for (unsigned char c : wiped) ASSERT_EQ(c, 0) << "released block not wiped (seen from the device)";
}

TEST(GpuPinnedPool, UnmappedPoolCopiesAndExhaustion) {
  MEM_GPU_OR_SKIP(env);
  PinnedPoolOptions o;
  o.bytes = 64 * 1024;
  o.block_bytes = 1920;  // one 480-frame stereo int16 period per slot
  absl::StatusOr<PinnedPool> pool = PinnedPool::Create(*env->ctx, o);
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_FALSE(pool->mapped());
  std::vector<PinnedPool::Block> all;
  while (PinnedPool::Block b = pool->TryAllocate(1920)) all.push_back(std::move(b));
  EXPECT_EQ(all.size(), 64 * 1024 / 1920);
  absl::StatusOr<PinnedPool::Block> more = pool->Allocate(1920);
  EXPECT_TRUE(absl::IsResourceExhausted(more.status())) << more.status();
  // DMA from a pinned block into device memory and back.
  absl::StatusOr<runtime::DeviceBlock> dev = runtime::DeviceBlock::Allocate(*env->ctx, 1920);
  ASSERT_TRUE(dev.ok()) << dev.status();
  for (int i = 0; i < 1920; ++i) all[3].as<unsigned char>()[i] = static_cast<unsigned char>(i * 7);
  ASSERT_EQ(dev->CopyFromHostAsync(all[3].data(), 1920, *env->stream), cu::kSuccess);
  ASSERT_EQ(dev->CopyToHostAsync(all[4].data(), 1920, *env->stream), cu::kSuccess);
  ASSERT_TRUE(env->stream->Synchronize().ok());
  EXPECT_EQ(std::memcmp(all[3].data(), all[4].data(), 1920), 0);
}

TEST(GpuDeviceArena, AllocateResetReleaseWipeOnTheStream) {
  MEM_GPU_OR_SKIP(env);
  const std::vector<size_t> sizes = {1, 7, 113, 513, 4099, 96 * 4};
  const size_t need = DeviceArena::Footprint(sizes);
  absl::StatusOr<DeviceArena> arena = DeviceArena::Create(*env->ctx, need, "session arena");
  ASSERT_TRUE(arena.ok()) << arena.status();
  EXPECT_FALSE(arena->host_only());
  std::vector<DeviceSpan> spans;
  for (size_t n : sizes) {
    absl::StatusOr<DeviceSpan> s = arena->Allocate(n);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->ptr % kDeviceAlignment, 0u);
    std::vector<unsigned char> fresh = ReadDevice(*env, s->ptr, n);
    for (unsigned char c : fresh) ASSERT_EQ(c, 0) << "a fresh span must read zero";
    std::vector<unsigned char> fill(n, 0xEE);
    ASSERT_EQ(env->ctx->api().MemcpyHtoDAsync(s->ptr, fill.data(), n, env->stream->get()), cu::kSuccess);
    spans.push_back(*s);
  }
  absl::StatusOr<DeviceSpan> over = arena->Allocate(1);
  ASSERT_TRUE(absl::IsResourceExhausted(over.status())) << over.status();
  EXPECT_NE(over.status().message().find("session arena"), std::string::npos) << over.status();
  EXPECT_NE(over.status().message().find(env->dev->name), std::string::npos) << over.status();
  ASSERT_EQ(arena->Reset(*env->stream), cu::kSuccess);
  std::vector<unsigned char> all = ReadDevice(*env, arena->base(), need);  // ordered after the wipe
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], 0) << "byte " << i << " not wiped by Reset";
  absl::StatusOr<DeviceSpan> again = arena->Allocate(100);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ptr, arena->base());
  std::vector<unsigned char> fill(100, 0x11);
  ASSERT_EQ(env->ctx->api().MemcpyHtoDAsync(again->ptr, fill.data(), 100, env->stream->get()), cu::kSuccess);
  ASSERT_EQ(arena->Release(*env->stream), cu::kSuccess);
  all = ReadDevice(*env, arena->base(), need);
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], 0) << "byte " << i << " not wiped by Release";
  EXPECT_TRUE(absl::IsFailedPrecondition(arena->Allocate(1).status()));
}

TEST(GpuDeviceArena, OutOfMemoryIsResourceExhausted) {
  MEM_GPU_OR_SKIP(env);
  absl::StatusOr<DeviceArena> arena = DeviceArena::Create(*env->ctx, size_t{1} << 50, "huge arena");
  ASSERT_FALSE(arena.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(arena.status())) << arena.status();
  EXPECT_NE(arena.status().message().find("huge arena of 1125899906842624 bytes"), std::string::npos)
      << arena.status();
}

TEST(GpuDeviceArena, DeviceMemoryGoesDownByTheArena) {
  MEM_GPU_OR_SKIP(env);
  size_t free0 = 0, free1 = 0, free2 = 0, total = 0;
  ASSERT_TRUE(env->ctx->MemoryInfo(&free0, &total).ok());
  constexpr size_t kBytes = size_t{256} << 20;
  {
    absl::StatusOr<DeviceArena> arena = DeviceArena::Create(*env->ctx, kBytes);
    ASSERT_TRUE(arena.ok()) << arena.status();
    ASSERT_TRUE(env->ctx->MemoryInfo(&free1, &total).ok());
  }
  ASSERT_TRUE(env->ctx->MemoryInfo(&free2, &total).ok());
  // The driver rounds to its page size (2 MiB) — allow that much either way, nothing more.
  EXPECT_GE(free0 - free1, kBytes);
  EXPECT_LE(free0 - free1, kBytes + (size_t{4} << 20));
  EXPECT_GE(free2 + (size_t{4} << 20), free0);
}

}  // namespace
}  // namespace ghostnv::mem
