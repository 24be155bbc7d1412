// Tests for DeviceArena in host-only mode: footprint, alignment on absolute addresses, bump
// order against a model, exhaustion text, Reset/Release wiping (read through DebugView()).
#include "runtime/mem/device_arena.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ghostnv::mem {
namespace {

TEST(DeviceArenaFootprint, MatchesAllocations) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<size_t> sizes(rng() % 20);
    for (auto& s : sizes) s = rng() % 5 == 0 ? 0 : 1 + rng() % 5000;
    const size_t align = size_t{1} << (rng() % 10);  // 1..512
    const size_t need = DeviceArena::Footprint(sizes, align);
    if (need == 0) continue;
    absl::StatusOr<DeviceArena> a = DeviceArena::CreateHostOnly(need);
    ASSERT_TRUE(a.ok()) << a.status();
    for (size_t s : sizes) {
      if (s == 0) continue;
      absl::StatusOr<DeviceSpan> sp = a->Allocate(s, align);
      ASSERT_TRUE(sp.ok()) << "footprint " << need << " too small: " << sp.status();
    }
    // And a naive sum is the floor: the footprint is no larger than sum + alignment gaps.
    size_t naive = 0;
    for (size_t s : sizes) naive += s == 0 ? 0 : (s + align - 1) / align * align;
    EXPECT_LE(need, naive + (align > kDeviceAlignment ? align : 0));
  }
  EXPECT_EQ(DeviceArena::Footprint({}), 0u);
  EXPECT_EQ(DeviceArena::Footprint({1, 1}), 257u);
  EXPECT_EQ(DeviceArena::Footprint({1}, 3), 0u);  // bad alignment
}

TEST(DeviceArena, BumpOrderAlignmentAndExhaustion) {
  std::mt19937 rng(11);
  for (size_t cap : {size_t{1}, size_t{7}, size_t{113}, size_t{4099}, size_t{65537}}) {
    absl::StatusOr<DeviceArena> a = DeviceArena::CreateHostOnly(cap, "test arena");
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_TRUE(a->host_only());
    size_t model_used = 0;  // the reference bump position
    for (int i = 0; i < 200; ++i) {
      const size_t n = 1 + rng() % 700;
      const size_t align = size_t{1} << (rng() % 13);
      const uint64_t at = a->base() + model_used;
      const uint64_t aligned = (at + align - 1) / align * align;
      const size_t off = static_cast<size_t>(aligned - a->base());
      const bool fits = off <= cap && cap - off >= n;
      absl::StatusOr<DeviceSpan> s = a->Allocate(n, align);
      if (!fits) {
        ASSERT_TRUE(absl::IsResourceExhausted(s.status())) << s.status();
        const std::string msg(s.status().message());
        EXPECT_NE(msg.find(absl::StrCat("cannot allocate ", n, " bytes (alignment ", align, ")")), std::string::npos)
            << msg;
        EXPECT_NE(msg.find(absl::StrCat(cap - model_used, " of ", cap, " bytes left")), std::string::npos) << msg;
        EXPECT_NE(msg.find("test arena"), std::string::npos) << msg;
        continue;
      }
      ASSERT_TRUE(s.ok()) << s.status();
      ASSERT_EQ(s->offset, off);
      ASSERT_EQ(s->ptr % align, 0u);
      ASSERT_EQ(s->bytes, n);
      std::memset(s->as<void>(), 0xC3, n);
      model_used = off + n;
      ASSERT_EQ(a->used(), model_used);
    }
  }
}

TEST(DeviceArena, ResetWipesWhatWasUsedAndRewinds) {
  absl::StatusOr<DeviceArena> a = DeviceArena::CreateHostOnly(10000);
  ASSERT_TRUE(a.ok());
  for (int round = 0; round < 3; ++round) {
    std::vector<DeviceSpan> spans;
    for (size_t n : {size_t{1}, size_t{7}, size_t{113}, size_t{513}, size_t{2048}}) {
      absl::StatusOr<DeviceSpan> s = a->Allocate(n);
      ASSERT_TRUE(s.ok()) << s.status();
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(a->DebugView()[s->offset + i], 0) << "fresh span must read zero";
      std::memset(s->as<void>(), 0x7E, n);
      spans.push_back(*s);
    }
    EXPECT_EQ(a->allocations(), 5u);
    ASSERT_EQ(a->Reset(nullptr), cu::kSuccess);
    EXPECT_EQ(a->used(), 0u);
    EXPECT_EQ(a->allocations(), 0u);
    for (unsigned char c : a->DebugView()) ASSERT_EQ(c, 0);
    absl::StatusOr<DeviceSpan> again = a->Allocate(1);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->offset, 0u);  // rewound
    ASSERT_EQ(a->Reset(nullptr), cu::kSuccess);
  }
}

TEST(DeviceArena, ReleaseWipesAndCloses) {
  absl::StatusOr<DeviceArena> a = DeviceArena::CreateHostOnly(4096);
  ASSERT_TRUE(a.ok());
  absl::StatusOr<DeviceSpan> s = a->Allocate(1000);
  ASSERT_TRUE(s.ok());
  std::memset(s->as<void>(), 1, 1000);
  ASSERT_EQ(a->Release(nullptr), cu::kSuccess);
  EXPECT_TRUE(a->released());
  for (unsigned char c : a->DebugView()) ASSERT_EQ(c, 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(a->Allocate(8).status()));
  EXPECT_FALSE(a->TryAllocate(8));
}

TEST(DeviceArena, BadRequestsAndMoves) {
  EXPECT_TRUE(absl::IsInvalidArgument(DeviceArena::CreateHostOnly(0).status()));
  absl::StatusOr<DeviceArena> a = DeviceArena::CreateHostOnly(1024);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(a->Allocate(0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(a->Allocate(8, 24).status()));
  EXPECT_TRUE(absl::IsResourceExhausted(a->Allocate(SIZE_MAX).status()));
  EXPECT_FALSE(a->TryAllocate(1025));
  absl::StatusOr<DeviceSpan> s = a->Allocate(10);
  ASSERT_TRUE(s.ok());
  DeviceArena b = *std::move(a);
  EXPECT_EQ(b.used(), 10u);
  EXPECT_EQ(b.base(), s->ptr);
  DeviceArena c = std::move(b);
  EXPECT_EQ(c.allocations(), 1u);
  EXPECT_EQ(b.capacity(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_TRUE(absl::IsFailedPrecondition(b.Allocate(1).status()));
}

}  // namespace
}  // namespace ghostnv::mem
