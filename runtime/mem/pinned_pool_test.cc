// Tests for PinnedPool in host-only mode (the carving code is the same as over pinned memory):
// random allocate/free sequences at odd sizes against an independent first-fit model, alignment,
// exhaustion errors, and wiping (freed bytes read zero through DebugView()).
#include "runtime/mem/pinned_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ghostnv::mem {
namespace {

constexpr size_t RoundUp(size_t x, size_t a) { return (x + a - 1) / a * a; }

PinnedPool HostPool(size_t bytes, size_t block_bytes = 0, size_t alignment = 64, size_t max_blocks = 4096) {
  PinnedPoolOptions o;
  o.bytes = bytes;
  o.block_bytes = block_bytes;
  o.alignment = alignment;
  o.max_blocks = max_blocks;
  absl::StatusOr<PinnedPool> p = PinnedPool::CreateHostOnly(o);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

bool AllZero(absl::Span<const unsigned char> v, size_t from, size_t n) {
  for (size_t i = from; i < from + n; ++i)
    if (v[i] != 0) return false;
  return true;
}

// The reference: live intervals by offset; first fit over the gaps between them.
struct Model {
  size_t capacity;
  size_t granule;
  std::map<size_t, size_t> live;  // offset -> rounded size
  // Where first fit must place `n` bytes at `align`, or SIZE_MAX when nothing fits.
  size_t FirstFit(size_t n, size_t align) const {
    const size_t need = RoundUp(n, granule);
    size_t gap_start = 0;
    auto fits = [&](size_t gs, size_t ge) -> size_t {
      const size_t s = RoundUp(gs, align);
      return (s <= ge && ge - s >= need) ? s : SIZE_MAX;
    };
    for (const auto& [off, size] : live) {
      if (size_t s = fits(gap_start, off); s != SIZE_MAX) return s;
      gap_start = off + size;
    }
    return fits(gap_start, capacity);
  }
};

struct Live {
  PinnedPool::Block block;
  unsigned char pattern;
};

void RandomSequence(uint32_t seed, size_t capacity, size_t alignment, size_t max_size) {
  SCOPED_TRACE(testing::Message() << "seed " << seed << " capacity " << capacity << " alignment " << alignment);
  PinnedPool pool = HostPool(capacity, 0, alignment);
  ASSERT_EQ(pool.capacity(), RoundUp(capacity, 4096));
  Model model{pool.capacity(), alignment, {}};
  std::mt19937 rng(seed);
  std::vector<Live> live;
  const size_t aligns[] = {0, 1, 16, 64, 256, 4096};
  int exhausted = 0;
  for (int step = 0; step < 3000; ++step) {
    const bool alloc = live.empty() || rng() % 100 < 55;
    if (alloc) {
      size_t n = 1 + rng() % max_size;
      if (rng() % 8 == 0) n = size_t{1} << (rng() % 12);  // powers of two too
      const size_t a = aligns[rng() % 6];
      const size_t eff_align = a == 0 ? alignment : a;
      const size_t expect = model.FirstFit(n, std::max(eff_align, size_t{1}));
      absl::StatusOr<PinnedPool::Block> b = pool.Allocate(n, a);
      if (expect == SIZE_MAX) {
        ASSERT_FALSE(b.ok()) << "model says " << n << " bytes cannot fit";
        EXPECT_TRUE(absl::IsResourceExhausted(b.status())) << b.status();
        EXPECT_NE(b.status().message().find(absl::StrCat("cannot allocate ", n, " bytes")), std::string::npos)
            << b.status();
        ++exhausted;
        continue;
      }
      ASSERT_TRUE(b.ok()) << b.status() << " (model fits at " << expect << ")";
      ASSERT_EQ(b->offset(), expect) << "not first fit for " << n << " bytes at alignment " << a;
      ASSERT_EQ(reinterpret_cast<uintptr_t>(b->data()) % eff_align, 0u);
      ASSERT_EQ(b->bytes(), n);
      ASSERT_TRUE(AllZero(pool.DebugView(), b->offset(), n)) << "a fresh block must read zero";
      const unsigned char pattern = static_cast<unsigned char>(1 + rng() % 255);
      std::memset(b->data(), pattern, n);
      model.live[b->offset()] = RoundUp(n, alignment);
      live.push_back({*std::move(b), pattern});
    } else {
      const size_t k = rng() % live.size();
      Live l = std::move(live[k]);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
      const size_t off = l.block.offset(), n = l.block.bytes();
      const unsigned char* p = l.block.as<unsigned char>();
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(p[i], l.pattern) << "block at " << off << " was overwritten";
      l.block.Release();
      ASSERT_FALSE(l.block);
      ASSERT_TRUE(AllZero(pool.DebugView(), off, RoundUp(n, alignment))) << "freed block not wiped";
      model.live.erase(off);
    }
    size_t in_use = 0;
    for (const auto& [o, s] : model.live) in_use += s;
    ASSERT_EQ(pool.bytes_in_use(), in_use);
    ASSERT_EQ(pool.blocks_in_use(), model.live.size());
    if (step % 250 == 0) {  // every byte outside live blocks reads zero
      absl::Span<const unsigned char> v = pool.DebugView();
      size_t pos = 0;
      for (const auto& [o, s] : model.live) {
        ASSERT_TRUE(AllZero(v, pos, o - pos));
        pos = o + s;
      }
      ASSERT_TRUE(AllZero(v, pos, v.size() - pos));
    }
  }
  EXPECT_GT(exhausted, 0) << "the sequence never filled the pool; make it harder";
  live.clear();
  EXPECT_EQ(pool.blocks_in_use(), 0u);
  EXPECT_EQ(pool.largest_free(), pool.capacity()) << "free spans did not coalesce back into one";
}

TEST(PinnedPoolVariable, RandomSequencesMatchFirstFitModel) {
  RandomSequence(1, 64 * 1024, 64, 3000);
  RandomSequence(2, 20000, 16, 1500);  // odd capacity: rounded up to pages
  RandomSequence(3, 200 * 1024, 256, 9000);
  RandomSequence(4, 4096, 16, 113);
}

TEST(PinnedPoolVariable, ExhaustionNamesTheSizes) {
  PinnedPool pool = HostPool(4096);
  absl::StatusOr<PinnedPool::Block> a = pool.Allocate(3000);
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<PinnedPool::Block> b = pool.Allocate(1500);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(b.status()));
  const std::string msg(b.status().message());
  EXPECT_NE(msg.find("cannot allocate 1500 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("4096 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1088 bytes free"), std::string::npos) << msg;  // 3000 rounds up to 3008
  EXPECT_FALSE(pool.TryAllocate(1500));
  EXPECT_EQ(pool.blocks_in_use(), 1u);
}

TEST(PinnedPoolVariable, MaxBlocksIsEnforced) {
  PinnedPool pool = HostPool(64 * 1024, 0, 64, 3);
  std::vector<PinnedPool::Block> held;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<PinnedPool::Block> b = pool.Allocate(7);
    ASSERT_TRUE(b.ok()) << b.status();
    held.push_back(*std::move(b));
  }
  absl::StatusOr<PinnedPool::Block> b = pool.Allocate(7);
  ASSERT_TRUE(absl::IsResourceExhausted(b.status())) << b.status();
  EXPECT_NE(b.status().message().find("max_blocks"), std::string::npos) << b.status();
  held.pop_back();
  EXPECT_TRUE(pool.Allocate(7).ok());
}

TEST(PinnedPoolVariable, BadRequests) {
  PinnedPool pool = HostPool(8192);
  EXPECT_TRUE(absl::IsInvalidArgument(pool.Allocate(0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(pool.Allocate(8, 3).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(pool.Allocate(8, 8192).status()));
  EXPECT_TRUE(absl::IsResourceExhausted(pool.Allocate(8193).status()));
  EXPECT_TRUE(absl::IsResourceExhausted(pool.Allocate(SIZE_MAX).status()));
  EXPECT_FALSE(pool.TryAllocate(0));
}

TEST(PinnedPoolOptions, Invalid) {
  PinnedPoolOptions o;
  EXPECT_TRUE(absl::IsInvalidArgument(PinnedPool::CreateHostOnly(o).status()));  // 0 bytes
  o.bytes = 4096;
  o.alignment = 48;
  EXPECT_TRUE(absl::IsInvalidArgument(PinnedPool::CreateHostOnly(o).status()));
  o.alignment = 8;
  EXPECT_TRUE(absl::IsInvalidArgument(PinnedPool::CreateHostOnly(o).status()));
  o.alignment = 64;
  o.block_bytes = 8192;
  EXPECT_TRUE(absl::IsInvalidArgument(PinnedPool::CreateHostOnly(o).status()));
  o.block_bytes = 0;
  o.max_blocks = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(PinnedPool::CreateHostOnly(o).status()));
}

TEST(PinnedPoolFixed, SlotsExhaustionAndReuse) {
  // 113-byte slots at 64-byte alignment: 128-byte slots, 8192 / 128 = 64 of them.
  PinnedPool pool = HostPool(8192, 113, 64);
  EXPECT_EQ(pool.block_bytes(), 128u);
  std::vector<PinnedPool::Block> held;
  std::vector<bool> seen(64, false);
  for (int i = 0; i < 64; ++i) {
    absl::StatusOr<PinnedPool::Block> b = pool.Allocate(1 + i % 113);
    ASSERT_TRUE(b.ok()) << i << ": " << b.status();
    ASSERT_EQ(b->offset() % 128, 0u);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(b->data()) % 64, 0u);
    ASSERT_FALSE(seen[b->offset() / 128]) << "slot handed out twice";
    seen[b->offset() / 128] = true;
    std::memset(b->data(), 0xA5, b->bytes());
    held.push_back(*std::move(b));
  }
  absl::StatusOr<PinnedPool::Block> more = pool.Allocate(100);
  ASSERT_TRUE(absl::IsResourceExhausted(more.status())) << more.status();
  EXPECT_NE(more.status().message().find("cannot allocate 100 bytes"), std::string::npos) << more.status();
  EXPECT_NE(more.status().message().find("0 bytes free"), std::string::npos) << more.status();
  EXPECT_TRUE(absl::IsInvalidArgument(pool.Allocate(129).status()));  // above the 128-byte slot
  EXPECT_TRUE(absl::IsInvalidArgument(pool.Allocate(8, 128).status()));  // above the pool's alignment
  // Free in a random order; every freed slot reads zero and can be had again.
  std::mt19937 rng(9);
  std::shuffle(held.begin(), held.end(), rng);
  for (size_t i = 0; i < held.size(); ++i) {
    const size_t off = held[i].offset();
    held[i].Release();
    ASSERT_TRUE(AllZero(pool.DebugView(), off, 128));
  }
  EXPECT_EQ(pool.blocks_in_use(), 0u);
  EXPECT_TRUE(AllZero(pool.DebugView(), 0, pool.capacity()));
  for (int i = 0; i < 64; ++i) held[i] = pool.TryAllocate(128);
  for (auto& b : held) EXPECT_TRUE(b);
  EXPECT_FALSE(pool.TryAllocate(1));
}

TEST(PinnedPool, MovesKeepBlocksValid) {
  PinnedPool pool = HostPool(8192);
  absl::StatusOr<PinnedPool::Block> b = pool.Allocate(100);
  ASSERT_TRUE(b.ok());
  const size_t off = b->offset();
  std::memset(b->data(), 0x5A, 100);
  PinnedPool moved = std::move(pool);  // the region does not move
  PinnedPool::Block taken = *std::move(b);
  PinnedPool::Block other;
  other = std::move(taken);
  EXPECT_FALSE(taken);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(moved.blocks_in_use(), 1u);
  EXPECT_EQ(other.as<unsigned char>()[99], 0x5A);
  other = PinnedPool::Block();  // releases
  EXPECT_EQ(moved.blocks_in_use(), 0u);
  EXPECT_TRUE(AllZero(moved.DebugView(), off, 128));
  EXPECT_EQ(moved.backing(), PoolBacking::kHostOnly);
  EXPECT_FALSE(moved.mapped());
}

}  // namespace
}  // namespace ghostnv::mem
