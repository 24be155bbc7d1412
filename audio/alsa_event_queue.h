// audio/alsa_event_queue.h — a bounded, lock-free single-producer/single-consumer queue.
//
// The live path's real-time thread hands counters and events (one per period, xruns, device
// errors) to a control thread through this queue: TryPush() on the producer never blocks, never
// allocates and fails (returns false) when the queue is full, so the producer counts a drop and
// moves on; TryPop() on the consumer returns false when it is empty.
//
//   auto q = std::make_unique<SpscQueue<Event, 4096>>();   // setup: allocate once
//   if (!q->TryPush(e)) ++dropped;                          // real-time thread only
//   Event e; while (q->TryPop(&e)) Handle(e);               // control thread only
//
// Thread contract: exactly one producer thread and one consumer thread at a time. T must be
// trivially copyable. Capacity N is a power of two; at most N elements are held.
// Memory order: the producer publishes an element with a release store of its tail index, the
// consumer observes it with an acquire load (and symmetrically for freeing a slot), so an element
// is fully written before it can be read. The indices sit on separate cache lines.
#pragma once

#include <atomic>
#include <cstddef>
#include <type_traits>

namespace ghostnv::audio {

template <typename T, size_t N>
class SpscQueue {
  static_assert(N >= 2 && (N & (N - 1)) == 0, "capacity must be a power of two");
  static_assert(std::is_trivially_copyable_v<T>, "elements are copied with plain stores");

 public:
  SpscQueue() = default;
  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  static constexpr size_t capacity() { return N; }

  // Producer thread. False (and nothing stored) when full.
  bool TryPush(const T& value) noexcept {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ == N) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ == N) return false;
    }
    slots_[tail & (N - 1)] = value;
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer thread. False when empty.
  bool TryPop(T* out) noexcept {
    const size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head == tail_cache_) return false;
    }
    *out = slots_[head & (N - 1)];
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Any thread; an instantaneous estimate.
  size_t SizeApprox() const noexcept {
    return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire);
  }

 private:
  alignas(64) std::atomic<size_t> head_{0};  // next slot to read (written by the consumer)
  size_t tail_cache_ = 0;                    // consumer's last view of tail_
  alignas(64) std::atomic<size_t> tail_{0};  // next slot to write (written by the producer)
  size_t head_cache_ = 0;                    // producer's last view of head_
  alignas(64) T slots_[N]{};
};

}  // namespace ghostnv::audio
