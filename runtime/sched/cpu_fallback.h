// runtime/sched/cpu_fallback.h — one channel's way back to the CPU when its GPU fails.
//
// While a channel runs on the GPU its recurrent state lives there and cannot be read back once
// the device has failed. CpuFallback therefore remembers the channel's last input hops (with
// their strengths); at the switch it runs a fresh CPU ChannelState over the older of them,
// discarding the outputs (warm-up), and then produces the hops the GPU did not deliver. The
// CPU's output converges to what an all-CPU run would have produced within a few hops: the
// filters, pitch and cepstral history (about 4 hops) are then exact, the GRU states close
// (they forget with a time constant of a few hops). The output stream has no gap: every hop
// that went in comes out, exactly once, from one side or the other.
//
//   CpuFallback fb(cpu_family, /*warmup_hops=*/32, /*max_pending=*/8);   // setup (allocates)
//   fb.Remember(in, strength);          // every hop, before it goes to the GPU
//   ... the GPU failed with p hops not delivered (the newest p remembered ones):
//   fb.Switch(p);                       // warm up on the hops before them
//   for (int i = 0; i < p; ++i) fb.ProcessPending(i, out);   // their outputs, oldest first
//   fb.Process(in, out, strength);      // every later hop
//
// Real-time contract: Remember/Switch/ProcessPending/Process never allocate, lock or log; the
// warm-up costs warmup_hops CPU hops once (about 1 ms for 32 RNNoise hops on one core).
// Thread: the channel's own thread only. The destructor wipes the remembered audio.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "models/family.h"

namespace ghostnv::sched {

class CpuFallback {
 public:
  // `warmup_hops` >= 0: how much history the switch replays; `max_pending` >= 1: the most hops
  // that can be in flight (remembered but not delivered) at a switch.
  CpuFallback(std::shared_ptr<const models::Family> cpu, int warmup_hops, int max_pending);
  ~CpuFallback();
  CpuFallback(const CpuFallback&) = delete;
  CpuFallback& operator=(const CpuFallback&) = delete;

  void Remember(const float* in, float strength) noexcept;
  // Switches to the CPU; the newest `pending` remembered hops are the ones still owed.
  // Returns the number of warm-up hops run. Idempotent after the first call (returns 0).
  int Switch(int pending) noexcept;
  // Output of pending hop i (0 = oldest) after Switch(); call each once, in order.
  models::HopInfo ProcessPending(int i, float* out) noexcept;
  // A new hop on the CPU (after Switch()).
  models::HopInfo Process(const float* in, float* out, float strength) noexcept;
  bool active() const { return active_; }
  // Forgets the history and the CPU state (the channel was reset).
  void Reset() noexcept;

 private:
  const float* Hop(size_t age) const;  // age 0 = newest remembered
  float Strength(size_t age) const;

  std::shared_ptr<const models::Family> cpu_;
  std::unique_ptr<models::ChannelState> state_;
  size_t hop_, capacity_;
  int warmup_;
  std::vector<float> ring_;        // capacity_ hops
  std::vector<float> strengths_;   // capacity_
  std::vector<float> scratch_;     // one hop
  size_t next_ = 0, count_ = 0;    // write position, hops remembered (<= capacity_)
  int pending_ = 0;
  bool active_ = false;
};

}  // namespace ghostnv::sched
