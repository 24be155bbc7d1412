// runtime/mem/spsc_ring.h — a lock-free single-producer single-consumer ring (audio frames,
// events), sized at construction.
//
// One thread pushes, one other thread pops; neither ever blocks, locks or allocates. The
// capacity is rounded up to a power of two at construction (the only allocation). The write
// index and the read index live on separate cache lines, each beside a cached copy of the
// other side's index, so the two threads touch each other's line only when the cached copy
// says the ring looks full (producer) or empty (consumer). Elements are trivially copyable (PCM
// samples, small event structs); the storage is wiped (SecureWipe) when the ring is destroyed,
// and Wipe() clears it between streams.
//
//   SpscRing<float> ring(4096);                                 // setup: allocates
//   // audio thread (producer):
//   size_t n = ring.Push(period, frames);                       // may be < frames when full
//   // worker thread (consumer):
//   if (ring.Size() >= 480) ring.Pop(hop, 480);
//   // events, one at a time:
//   SpscRing<DeviceEvent> events(64);  events.TryPush(e);  events.TryPop(&e);
//
// Memory order: Push publishes the elements with a release store of the write index that the
// consumer's acquire load pairs with (and the other way round for the read index), so a popped
// element is always fully written. Size() is exact for the calling side and a lower (consumer)
// or upper (producer) bound for the other. Move-only is not offered: the ring stays where it is
// built (threads hold references to it).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

#include "runtime/mem/secure_wipe.h"

namespace ghostnv::mem {

inline constexpr size_t kCacheLine = 64;

template <typename T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "SpscRing holds trivially copyable elements");

 public:
  // Holds at least `min_capacity` elements (rounded up to a power of two, at least 2).
  explicit SpscRing(size_t min_capacity)
      : capacity_(RoundPow2(min_capacity)), mask_(capacity_ - 1), data_(new T[capacity_]()) {}
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;
  ~SpscRing() { SecureWipe(data_.get(), capacity_ * sizeof(T)); }

  size_t capacity() const { return capacity_; }

  // Producer side. Copies up to `n` elements; returns how many fitted.
  size_t Push(const T* src, size_t n) noexcept {
    const size_t w = prod_.index.load(std::memory_order_relaxed);
    size_t free_space = capacity_ - (w - prod_.cached_other);
    if (free_space < n) {
      prod_.cached_other = cons_.index.load(std::memory_order_acquire);
      free_space = capacity_ - (w - prod_.cached_other);
    }
    n = std::min(n, free_space);
    CopyIn(w, src, n);
    prod_.index.store(w + n, std::memory_order_release);
    return n;
  }
  bool TryPush(const T& v) noexcept { return Push(&v, 1) == 1; }
  // Free space as the producer sees it (exact for the producer).
  size_t FreeSpace() const noexcept {
    return capacity_ - (prod_.index.load(std::memory_order_relaxed) - cons_.index.load(std::memory_order_acquire));
  }

  // Consumer side. Copies up to `n` elements out (and wipes nothing: slots are overwritten by
  // later pushes; Wipe() or the destructor clears them). Returns how many were popped.
  size_t Pop(T* dst, size_t n) noexcept {
    const size_t r = cons_.index.load(std::memory_order_relaxed);
    size_t avail = cons_.cached_other - r;
    if (avail < n) {
      cons_.cached_other = prod_.index.load(std::memory_order_acquire);
      avail = cons_.cached_other - r;
    }
    n = std::min(n, avail);
    CopyOut(r, dst, n);
    cons_.index.store(r + n, std::memory_order_release);
    return n;
  }
  bool TryPop(T* v) noexcept { return Pop(v, 1) == 1; }
  // Elements ready as the consumer sees them (exact for the consumer).
  size_t Size() const noexcept {
    return prod_.index.load(std::memory_order_acquire) - cons_.index.load(std::memory_order_relaxed);
  }

  // Empties the ring and zeroes its storage. Only while neither side is running (setup, reset).
  void Wipe() noexcept {
    SecureWipe(data_.get(), capacity_ * sizeof(T));
    prod_.index.store(0, std::memory_order_relaxed);
    prod_.cached_other = 0;
    cons_.index.store(0, std::memory_order_relaxed);
    cons_.cached_other = 0;
  }

  // The raw storage, for tests (e.g. "wiped on Wipe()").
  const T* DebugStorage() const { return data_.get(); }

 private:
  static size_t RoundPow2(size_t n) {
    size_t c = 2;
    while (c < n) c <<= 1;
    return c;
  }
  void CopyIn(size_t w, const T* src, size_t n) noexcept {
    if (n == 0) return;
    const size_t at = w & mask_;
    const size_t first = std::min(n, capacity_ - at);
    std::memcpy(data_.get() + at, src, first * sizeof(T));
    if (n > first) std::memcpy(data_.get(), src + first, (n - first) * sizeof(T));
  }
  void CopyOut(size_t r, T* dst, size_t n) const noexcept {
    if (n == 0) return;
    const size_t at = r & mask_;
    const size_t first = std::min(n, capacity_ - at);
    std::memcpy(dst, data_.get() + at, first * sizeof(T));
    if (n > first) std::memcpy(dst + first, data_.get(), (n - first) * sizeof(T));
  }

  // One side's own index and its cached copy of the other side's, on a line of their own.
  struct alignas(kCacheLine) Side {
    std::atomic<size_t> index{0};
    size_t cached_other = 0;
  };

  const size_t capacity_;
  const size_t mask_;
  std::unique_ptr<T[]> data_;
  Side prod_;  // write index + cached read index (producer's line)
  Side cons_;  // read index + cached write index (consumer's line)
  static_assert(sizeof(Side) == kCacheLine);
};

}  // namespace ghostnv::mem
