// runtime/api/vad_gate.h — a VAD gate on top of sched::Stream: per-hop voice decisions, muting.
//
// Two pieces:
//  - VadTap wraps a models::Family and records the voice probability of every hop of every
//    channel in a small ring (the Stream runs hops through it unchanged).
//  - VadGate turns those per-hop probabilities into a gain on the Stream's output. Hop j's
//    output occupies host output frames [D + j*H, D + (j+1)*H) with H = hop * host/model rate
//    and D the Stream's buffering (latency minus the model's own latency), so every decision is
//    applied to exactly the audio of the hop it was made on, whatever the call sizes.
//
// Gate rule, per hop j with v = max over channels of the hop's VAD:
//   threshold <= 0           → open (the gate is off)
//   v >= threshold           → open, hold = grace
//   otherwise, hold > 0      → open, hold -= H       (the grace period)
//   otherwise                → closed
// The gain follows the decision with linear ramps (2 ms up, 10 ms down). While the gate is off
// and the gain is 1 the output is untouched (bit-exact).
//
//   auto tap = std::make_shared<VadTap>(family, channels, capacity);
//   auto stream = Stream::Create(tap, config);                       // setup
//   VadGate gate(GateGeometry{...});
//   stream->Process(in, out, n); gate.Apply(*tap, out, n, thr, grace_frames);   // audio thread
//
// Real-time: Apply() and ProcessHop() never allocate, lock or log.
// Thread-safety: a VadTap belongs to one Stream; ProcessHop() and the consumer calls run on the
// audio thread. The counters (gated_frames(), last_vad()) may be read from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "models/family.h"

namespace ghostnv::api {

class VadTap : public models::Family {
 public:
  // `capacity`: how many hops the ring keeps; must exceed the hops that can complete between
  // two consumer reads plus those in flight (see RingCapacity()).
  VadTap(std::shared_ptr<const models::Family> inner, int channels, size_t capacity);

  const models::Model& model() const override { return inner_->model(); }
  bool computes_vad() const override { return inner_->computes_vad(); }
  // Channel states are numbered in creation order: 0 .. channels-1.
  std::unique_ptr<models::ChannelState> NewChannel() const override;
  models::HopInfo ProcessHop(models::ChannelState& state, const float* in, float* out,
                             float strength) const override;

  // Hops that every channel has completed.
  uint64_t complete_hops() const;
  // The largest VAD over channels of hop `hop`; `hop` must be < complete_hops() and within the
  // last capacity() hops, else -1.
  float vad(uint64_t hop) const;
  size_t capacity() const { return capacity_; }

 private:
  struct TapState;
  std::shared_ptr<const models::Family> inner_;
  int channels_;
  size_t capacity_;
  mutable int next_channel_ = 0;
  mutable std::vector<uint64_t> counts_;  // per channel
  mutable std::vector<float> ring_;       // [channel * capacity_ + hop % capacity_]
};

// The ring capacity for a Stream whose Process calls are at most `max_call_frames` host frames.
size_t RingCapacity(int host_rate, int model_rate, int hop, int64_t latency_frames,
                    size_t max_call_frames);

struct GateGeometry {
  int host_rate = 48000;
  int model_rate = 48000;
  int hop = 480;                  // model frames
  int64_t buffering_frames = 0;   // D: Stream::buffering_frames()
  int channels = 1;
};

class VadGate {
 public:
  explicit VadGate(const GateGeometry& g);

  // Gates the next `frames` output frames (interleaved, in place). threshold in [0, 1];
  // grace_frames >= 0 (host frames of hold time).
  void Apply(const VadTap& tap, float* out, size_t frames, float threshold,
             int64_t grace_frames) noexcept;

  uint64_t gated_frames() const { return gated_frames_.load(std::memory_order_relaxed); }
  uint64_t late_hops() const { return late_hops_.load(std::memory_order_relaxed); }
  float last_vad() const { return last_vad_.load(std::memory_order_relaxed); }
  bool open() const { return open_.load(std::memory_order_relaxed); }

 private:
  // The hop whose output frame `t` is (-1 for the initial prefill).
  int64_t HopOf(int64_t t) const;
  void Decide(const VadTap& tap, int64_t hop, float threshold, int64_t grace_frames);

  GateGeometry g_;
  double hop_host_;               // H
  float up_step_, down_step_;     // per-frame gain ramps
  int64_t pos_ = 0;               // output frames gated so far
  int64_t next_hop_ = 0;          // the next hop to decide
  int64_t hold_left_ = 0;
  float gain_ = 1.0f;
  bool target_open_ = true;
  std::atomic<bool> open_{true};
  std::atomic<uint64_t> gated_frames_{0}, late_hops_{0};
  std::atomic<float> last_vad_{0.0f};
};

}  // namespace ghostnv::api
