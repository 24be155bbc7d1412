// runtime/sched/spsc.h — a fixed-capacity single-producer/single-consumer queue of slots, and a
// lock-free latency histogram. Both are for handing work between an audio thread and the
// scheduler thread without locks.
//
//   SpscQueue<Hop> q(8);                      // setup: allocates 8 slots
//   if (Hop* h = q.BeginPush()) { fill(*h); q.EndPush(); }    // producer thread only
//   if (const Hop* h = q.Front()) { use(*h); q.Pop(); }        // consumer thread only
//
// Slots are constructed once at setup and reused (BeginPush hands out the slot in place), so
// pushing and popping never allocate. Acquire/release on the two indices; wait-free.
//
//   LatencyHistogram h;  h.Add(ns);  h.Percentile(0.99);       // any thread(s)
// Buckets are quarter octaves of nanoseconds (64 ns .. ~70 s): percentiles are upper bucket
// edges, at most 25 % above the true value — plenty for telemetry, never for a test's timing.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ghostnv::sched {

template <typename T>
class SpscQueue {
 public:
  explicit SpscQueue(size_t capacity) : slots_(capacity + 1) {}
  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  size_t capacity() const { return slots_.size() - 1; }

  // Producer. The free slot to fill, or nullptr when full; EndPush() publishes it.
  T* BeginPush() {
    const size_t t = tail_.load(std::memory_order_relaxed);
    const size_t next = t + 1 == slots_.size() ? 0 : t + 1;
    if (next == head_.load(std::memory_order_acquire)) return nullptr;
    return &slots_[t];
  }
  void EndPush() {
    const size_t t = tail_.load(std::memory_order_relaxed);
    tail_.store(t + 1 == slots_.size() ? 0 : t + 1, std::memory_order_release);
  }

  // Consumer. The oldest element, or nullptr when empty; Pop() releases it.
  T* Front() {
    const size_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_.load(std::memory_order_acquire)) return nullptr;
    return &slots_[h];
  }
  void Pop() {
    const size_t h = head_.load(std::memory_order_relaxed);
    head_.store(h + 1 == slots_.size() ? 0 : h + 1, std::memory_order_release);
  }

  // Either side; exact only when the other side is idle.
  size_t size() const {
    const size_t h = head_.load(std::memory_order_acquire), t = tail_.load(std::memory_order_acquire);
    return t >= h ? t - h : t + slots_.size() - h;
  }

  // Setup path (neither side running): direct access for wiping.
  std::vector<T>& slots() { return slots_; }

 private:
  std::vector<T> slots_;
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) std::atomic<size_t> tail_{0};
};

// Counts of durations in buckets of a quarter octave from 64 ns to about 70 s. Add() is one
// relaxed fetch_add (any thread); the readers see a consistent-enough snapshot for telemetry.
class LatencyHistogram {
 public:
  static constexpr int kBuckets = 128;
  void Add(uint64_t ns) noexcept {
    counts_[Bucket(ns)].fetch_add(1, std::memory_order_relaxed);
    uint64_t m = max_.load(std::memory_order_relaxed);
    while (ns > m && !max_.compare_exchange_weak(m, ns, std::memory_order_relaxed)) {
    }
    sum_.fetch_add(ns, std::memory_order_relaxed);
  }
  uint64_t count() const noexcept {
    uint64_t n = 0;
    for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
    return n;
  }
  uint64_t max_ns() const noexcept { return max_.load(std::memory_order_relaxed); }
  double mean_ns() const noexcept {
    const uint64_t n = count();
    return n ? static_cast<double>(sum_.load(std::memory_order_relaxed)) / n : 0.0;
  }
  // The upper edge of the bucket holding quantile q in (0, 1]; 0 when empty.
  double Percentile(double q) const noexcept {
    const uint64_t n = count();
    if (n == 0) return 0.0;
    const double want = q * static_cast<double>(n);
    uint64_t seen = 0;
    for (int b = 0; b < kBuckets; ++b) {
      seen += counts_[b].load(std::memory_order_relaxed);
      if (static_cast<double>(seen) >= want) return UpperEdge(b);
    }
    return UpperEdge(kBuckets - 1);
  }
  static int Bucket(uint64_t ns) noexcept {
    if (ns < 64) return 0;
    const int octave = 63 - __builtin_clzll(ns);           // >= 6
    const int quarter = static_cast<int>((ns >> (octave - 2)) & 3);  // the next two bits
    const int b = (octave - 6) * 4 + quarter + 1;
    return b < kBuckets ? b : kBuckets - 1;
  }
  static double UpperEdge(int b) noexcept {
    if (b == 0) return 64.0;
    const int octave = (b - 1) / 4 + 6, quarter = (b - 1) % 4;
    return static_cast<double>(uint64_t{1} << octave) * (1.0 + (quarter + 1) / 4.0);
  }

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
  std::atomic<uint64_t> max_{0}, sum_{0};
};

}  // namespace ghostnv::sched
