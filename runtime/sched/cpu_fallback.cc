// runtime/sched/cpu_fallback.cc — history, warm-up and CPU hops after a GPU failure.
#include "runtime/sched/cpu_fallback.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace ghostnv::sched {

CpuFallback::CpuFallback(std::shared_ptr<const models::Family> cpu, int warmup_hops,
                         int max_pending)
    : cpu_(std::move(cpu)),
      state_(cpu_->NewChannel()),
      hop_(static_cast<size_t>(cpu_->hop_size())),
      capacity_(static_cast<size_t>(std::max(0, warmup_hops) + std::max(1, max_pending))),
      warmup_(std::max(0, warmup_hops)),
      ring_(capacity_ * hop_, 0.0f),
      strengths_(capacity_, 1.0f),
      scratch_(hop_, 0.0f) {}

CpuFallback::~CpuFallback() {
  explicit_bzero(ring_.data(), ring_.size() * sizeof(float));
  explicit_bzero(scratch_.data(), scratch_.size() * sizeof(float));
}

void CpuFallback::Remember(const float* in, float strength) noexcept {
  std::memcpy(ring_.data() + next_ * hop_, in, hop_ * sizeof(float));
  strengths_[next_] = strength;
  next_ = next_ + 1 == capacity_ ? 0 : next_ + 1;
  count_ = std::min(count_ + 1, capacity_);
}

const float* CpuFallback::Hop(size_t age) const {
  const size_t i = (next_ + capacity_ - 1 - age) % capacity_;
  return ring_.data() + i * hop_;
}

float CpuFallback::Strength(size_t age) const {
  return strengths_[(next_ + capacity_ - 1 - age) % capacity_];
}

int CpuFallback::Switch(int pending) noexcept {
  if (active_ || !state_) return 0;
  active_ = true;
  pending_ = std::clamp(pending, 0, static_cast<int>(count_));
  const size_t older = count_ - static_cast<size_t>(pending_);
  const size_t warm = std::min(older, static_cast<size_t>(warmup_));
  // Oldest first: ages pending_ + warm - 1 down to pending_.
  for (size_t k = warm; k-- > 0;) {
    const size_t age = static_cast<size_t>(pending_) + k;
    cpu_->ProcessHop(*state_, Hop(age), scratch_.data(), Strength(age));
  }
  return static_cast<int>(warm);
}

models::HopInfo CpuFallback::ProcessPending(int i, float* out) noexcept {
  if (!active_ || !state_ || i < 0 || i >= pending_) {
    std::fill(out, out + hop_, 0.0f);
    return {};
  }
  const size_t age = static_cast<size_t>(pending_ - 1 - i);
  // Copy first: the ring slot may be the caller's in-place buffer's source.
  std::memcpy(scratch_.data(), Hop(age), hop_ * sizeof(float));
  return cpu_->ProcessHop(*state_, scratch_.data(), out, Strength(age));
}

models::HopInfo CpuFallback::Process(const float* in, float* out, float strength) noexcept {
  if (!state_) {
    std::fill(out, out + hop_, 0.0f);
    return {};
  }
  Remember(in, strength);  // keeps history meaningful should anyone ask again
  return cpu_->ProcessHop(*state_, in, out, strength);
}

void CpuFallback::Reset() noexcept {
  if (state_) state_->Reset();
  std::fill(ring_.begin(), ring_.end(), 0.0f);
  next_ = count_ = 0;
  pending_ = 0;
  active_ = false;
}

}  // namespace ghostnv::sched
