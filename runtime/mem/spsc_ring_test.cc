// Tests for SpscRing: single-thread semantics against a std::deque model (wrap-around, partial
// pushes/pops, odd sizes), and two threads moving hundreds of thousands of items in random
// chunk sizes with every value checked in order (deterministic checks, TSan-friendly).
#include "runtime/mem/spsc_ring.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <random>
#include <thread>
#include <vector>

namespace ghostnv::mem {
namespace {

TEST(SpscRing, CapacityIsAPowerOfTwo) {
  EXPECT_EQ(SpscRing<int>(0).capacity(), 2u);
  EXPECT_EQ(SpscRing<int>(1).capacity(), 2u);
  EXPECT_EQ(SpscRing<int>(7).capacity(), 8u);
  EXPECT_EQ(SpscRing<int>(513).capacity(), 1024u);
  EXPECT_EQ(SpscRing<float>(4096).capacity(), 4096u);
}

TEST(SpscRing, IndicesLiveOnSeparateCacheLines) {
  EXPECT_GE(alignof(SpscRing<float>), kCacheLine);
  EXPECT_GE(sizeof(SpscRing<float>), 3 * kCacheLine);
}

TEST(SpscRing, MatchesADequeModelOneThread) {
  for (size_t cap : {size_t{2}, size_t{7}, size_t{113}, size_t{513}}) {
    SpscRing<uint32_t> ring(cap);
    std::deque<uint32_t> model;
    std::mt19937 rng(static_cast<uint32_t>(cap));
    uint32_t next = 1;
    std::vector<uint32_t> buf(2 * ring.capacity() + 3);
    for (int step = 0; step < 20000; ++step) {
      const size_t n = rng() % (ring.capacity() + 3);
      if (rng() % 2) {
        for (size_t i = 0; i < n; ++i) buf[i] = next + static_cast<uint32_t>(i);
        const size_t pushed = ring.Push(buf.data(), n);
        const size_t expect = std::min(n, ring.capacity() - model.size());
        ASSERT_EQ(pushed, expect);
        for (size_t i = 0; i < pushed; ++i) model.push_back(next + static_cast<uint32_t>(i));
        next += static_cast<uint32_t>(pushed);
      } else {
        const size_t popped = ring.Pop(buf.data(), n);
        ASSERT_EQ(popped, std::min(n, model.size()));
        for (size_t i = 0; i < popped; ++i) {
          ASSERT_EQ(buf[i], model.front());
          model.pop_front();
        }
      }
      ASSERT_EQ(ring.Size(), model.size());
      ASSERT_EQ(ring.FreeSpace(), ring.capacity() - model.size());
    }
  }
}

TEST(SpscRing, TryPushTryPopAndWipe) {
  struct Event {
    int32_t kind;
    uint32_t session;
    double when;
  };
  SpscRing<Event> ring(4);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(ring.TryPush({i, 100u + i, 0.5 * i}));
  EXPECT_FALSE(ring.TryPush({9, 9, 9}));
  Event e{};
  ASSERT_TRUE(ring.TryPop(&e));
  EXPECT_EQ(e.kind, 0);
  EXPECT_EQ(e.session, 100u);
  ring.Wipe();
  EXPECT_EQ(ring.Size(), 0u);
  EXPECT_FALSE(ring.TryPop(&e));
  const unsigned char* raw = reinterpret_cast<const unsigned char*>(ring.DebugStorage());
  for (size_t i = 0; i < ring.capacity() * sizeof(Event); ++i) ASSERT_EQ(raw[i], 0) << i;
  EXPECT_TRUE(ring.TryPush({5, 5, 5}));
  ASSERT_TRUE(ring.TryPop(&e));
  EXPECT_EQ(e.kind, 5);
}

// Producer pushes 0..N-1 in random chunk sizes; consumer pops random chunk sizes and checks
// the sequence. Both spin (yielding) when full/empty. Run over several capacities, including
// ones that force constant wrap-around and contention.
void TwoThreads(size_t capacity, uint64_t items, uint32_t seed) {
  SpscRing<uint64_t> ring(capacity);
  std::thread producer([&] {
    std::mt19937 rng(seed);
    std::vector<uint64_t> chunk(ring.capacity() + 5);
    uint64_t next = 0;
    while (next < items) {
      const size_t want = std::min<uint64_t>(1 + rng() % chunk.size(), items - next);
      for (size_t i = 0; i < want; ++i) chunk[i] = next + i;
      size_t done = 0;
      while (done < want) {
        const size_t k = ring.Push(chunk.data() + done, want - done);
        done += k;
        if (k == 0) std::this_thread::yield();
      }
      next += want;
    }
  });
  std::mt19937 rng(seed * 7 + 1);
  std::vector<uint64_t> chunk(ring.capacity() + 5);
  uint64_t expect = 0;
  uint64_t mismatches = 0;
  while (expect < items) {
    const size_t k = ring.Pop(chunk.data(), 1 + rng() % chunk.size());
    if (k == 0) {
      std::this_thread::yield();
      continue;
    }
    for (size_t i = 0; i < k; ++i)
      if (chunk[i] != expect + i) ++mismatches;
    expect += k;
  }
  producer.join();
  EXPECT_EQ(mismatches, 0u) << "capacity " << capacity;
  EXPECT_EQ(expect, items);
  EXPECT_EQ(ring.Size(), 0u);
}

TEST(SpscRing, TwoThreadsDeliverEveryItemInOrder) {
  TwoThreads(2, 20000, 1);
  TwoThreads(7, 100000, 2);
  TwoThreads(113, 200000, 3);
  TwoThreads(4096, 300000, 4);
}

TEST(SpscRing, TwoThreadsAudioFrames) {
  // 480-sample hops through a 4-hop ring: what the audio thread and a worker do.
  SpscRing<float> ring(4 * 480);
  constexpr int kHops = 2000;
  std::thread producer([&] {
    std::vector<float> hop(480);
    for (int h = 0; h < kHops; ++h) {
      for (int i = 0; i < 480; ++i) hop[i] = static_cast<float>(h * 480 + i);
      size_t done = 0;
      while (done < hop.size()) {
        const size_t k = ring.Push(hop.data() + done, hop.size() - done);
        done += k;
        if (k == 0) std::this_thread::yield();
      }
    }
  });
  std::vector<float> hop(480);
  int bad = 0;
  for (int h = 0; h < kHops; ++h) {
    while (ring.Size() < 480) std::this_thread::yield();
    ASSERT_EQ(ring.Pop(hop.data(), 480), 480u);
    for (int i = 0; i < 480; ++i) bad += hop[i] != static_cast<float>(h * 480 + i);
  }
  producer.join();
  EXPECT_EQ(bad, 0);
}

}  // namespace
}  // namespace ghostnv::mem
