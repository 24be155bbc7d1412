// runtime/api/vad_gate.cc — the per-hop VAD ring and the gate.
#include "runtime/api/vad_gate.h"

#include <algorithm>
#include <cmath>

namespace ghostnv::api {

struct VadTap::TapState : models::ChannelState {
  std::unique_ptr<models::ChannelState> inner;
  int channel = -1;
  void Reset() override { inner->Reset(); }
};

VadTap::VadTap(std::shared_ptr<const models::Family> inner, int channels, size_t capacity)
    : inner_(std::move(inner)),
      channels_(channels),
      capacity_(std::max<size_t>(capacity, 1)),
      counts_(static_cast<size_t>(channels), 0),
      ring_(static_cast<size_t>(channels) * capacity_, 0.0f) {}

std::unique_ptr<models::ChannelState> VadTap::NewChannel() const {
  std::unique_ptr<models::ChannelState> inner = inner_->NewChannel();
  if (!inner) return nullptr;
  auto s = std::make_unique<TapState>();
  s->inner = std::move(inner);
  s->channel = next_channel_ < channels_ ? next_channel_ : -1;
  ++next_channel_;
  return s;
}

models::HopInfo VadTap::ProcessHop(models::ChannelState& state, const float* in, float* out,
                                   float strength) const {
  TapState& s = static_cast<TapState&>(state);
  const models::HopInfo info = inner_->ProcessHop(*s.inner, in, out, strength);
  if (s.channel >= 0) {
    const size_t c = static_cast<size_t>(s.channel);
    ring_[c * capacity_ + counts_[c] % capacity_] = info.vad;
    ++counts_[c];
  }
  return info;
}

uint64_t VadTap::complete_hops() const {
  uint64_t n = counts_.empty() ? 0 : counts_[0];
  for (uint64_t c : counts_) n = std::min(n, c);
  return n;
}

float VadTap::vad(uint64_t hop) const {
  const uint64_t done = complete_hops();
  if (hop >= done || done - hop > capacity_) return -1.0f;
  float v = 0.0f;
  for (size_t c = 0; c < counts_.size(); ++c) v = std::max(v, ring_[c * capacity_ + hop % capacity_]);
  return v;
}

size_t RingCapacity(int host_rate, int model_rate, int hop, int64_t latency_frames,
                    size_t max_call_frames) {
  // Hops complete up to (latency + one call) ahead of the output being gated.
  const double host_per_hop = static_cast<double>(hop) * host_rate / model_rate;
  const double in_flight =
      (static_cast<double>(latency_frames) + static_cast<double>(max_call_frames)) / host_per_hop;
  size_t cap = 16;
  while (static_cast<double>(cap) < in_flight + 16.0) cap *= 2;
  return cap;
}

VadGate::VadGate(const GateGeometry& g) : g_(g) {
  hop_host_ = static_cast<double>(g.hop) * g.host_rate / g.model_rate;
  up_step_ = static_cast<float>(1.0 / std::max(1.0, 0.002 * g.host_rate));
  down_step_ = static_cast<float>(1.0 / std::max(1.0, 0.010 * g.host_rate));
}

int64_t VadGate::HopOf(int64_t t) const {
  if (t < g_.buffering_frames) return -1;
  // floor((t - D) * model / (hop * host)) in integers.
  const int64_t num = (t - g_.buffering_frames) * int64_t{g_.model_rate};
  return num / (int64_t{g_.hop} * g_.host_rate);
}

void VadGate::Decide(const VadTap& tap, int64_t hop, float threshold, int64_t grace_frames) {
  if (threshold <= 0.0f) {
    target_open_ = true;
    hold_left_ = grace_frames;
    return;
  }
  const float v = tap.vad(static_cast<uint64_t>(hop));
  if (v < 0.0f) {  // not recorded (cannot happen with a large enough ring): keep the decision
    late_hops_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (v >= threshold) {
    target_open_ = true;
    hold_left_ = grace_frames;
  } else if (hold_left_ > 0) {
    target_open_ = true;
    hold_left_ -= static_cast<int64_t>(std::llround(hop_host_));
  } else {
    target_open_ = false;
  }
}

void VadGate::Apply(const VadTap& tap, float* out, size_t frames, float threshold,
                    int64_t grace_frames) noexcept {
  const uint64_t done = tap.complete_hops();
  if (done > 0) {
    const float v = tap.vad(done - 1);
    if (v >= 0.0f) last_vad_.store(v, std::memory_order_relaxed);
  }
  if (frames == 0) return;
  const int64_t end = pos_ + static_cast<int64_t>(frames);
  const size_t ch = static_cast<size_t>(g_.channels);

  // Fast path: gate off and fully open — only keep the hop bookkeeping current.
  if (threshold <= 0.0f && gain_ == 1.0f) {
    const int64_t last = HopOf(end - 1);
    if (last >= next_hop_) next_hop_ = last + 1;
    target_open_ = true;
    hold_left_ = grace_frames;
    open_.store(true, std::memory_order_relaxed);
    pos_ = end;
    return;
  }

  if (threshold <= 0.0f) target_open_ = true;  // turning the gate off takes effect at once
  uint64_t gated = 0;
  for (int64_t t = pos_; t < end; ++t) {
    const int64_t j = HopOf(t);
    if (j < 0) {
      target_open_ = threshold <= 0.0f;
    } else {
      while (next_hop_ <= j) Decide(tap, next_hop_++, threshold, grace_frames);
    }
    if (target_open_) {
      gain_ = std::min(1.0f, gain_ + up_step_);
    } else {
      gain_ = std::max(0.0f, gain_ - down_step_);
    }
    if (gain_ < 1.0f) {
      float* f = out + static_cast<size_t>(t - pos_) * ch;
      for (size_t c = 0; c < ch; ++c) f[c] *= gain_;
      ++gated;
    }
  }
  pos_ = end;
  open_.store(target_open_, std::memory_order_relaxed);
  if (gated) gated_frames_.fetch_add(gated, std::memory_order_relaxed);
}

}  // namespace ghostnv::api
