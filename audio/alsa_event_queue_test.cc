// Tests of audio/alsa_event_queue.h: order, capacity, and a two-thread stress with sequence
// numbers (run under ASan/TSan-like builds it also checks there is no data race in the slots).
#include "audio/alsa_event_queue.h"

#include <cstdint>
#include <memory>
#include <thread>

#include "gtest/gtest.h"

namespace ghostnv::audio {
namespace {

struct Item {
  uint64_t seq;
  uint64_t check;
};

TEST(SpscQueueTest, FifoOrderAndCapacity) {
  SpscQueue<int, 8> q;
  int v = -1;
  EXPECT_FALSE(q.TryPop(&v));
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(q.TryPush(i)) << i;
  EXPECT_FALSE(q.TryPush(99));  // full
  EXPECT_EQ(q.SizeApprox(), 8u);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(q.TryPop(&v));
    EXPECT_EQ(v, i);
  }
  for (int i = 8; i < 13; ++i) EXPECT_TRUE(q.TryPush(i));  // wraps around
  EXPECT_FALSE(q.TryPush(99));
  for (int i = 5; i < 13; ++i) {
    ASSERT_TRUE(q.TryPop(&v));
    EXPECT_EQ(v, i);
  }
  EXPECT_FALSE(q.TryPop(&v));
  EXPECT_EQ(q.SizeApprox(), 0u);
}

TEST(SpscQueueTest, TwoThreadsNothingLostOrReordered) {
  auto q = std::make_unique<SpscQueue<Item, 64>>();
  constexpr uint64_t kCount = 200000;
  uint64_t pushed_fail = 0;
  std::thread producer([&] {
    for (uint64_t i = 0; i < kCount;) {
      if (q->TryPush({i, i * 2654435761u})) {
        ++i;
      } else {
        ++pushed_fail;
        std::this_thread::yield();
      }
    }
  });
  uint64_t next = 0;
  Item it;
  while (next < kCount) {
    if (q->TryPop(&it)) {
      ASSERT_EQ(it.seq, next);
      ASSERT_EQ(it.check, next * 2654435761u);
      ++next;
    } else {
      std::this_thread::yield();
    }
  }
  producer.join();
  EXPECT_FALSE(q->TryPop(&it));
}

}  // namespace
}  // namespace ghostnv::audio
