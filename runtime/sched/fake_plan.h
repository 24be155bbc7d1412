// runtime/sched/fake_plan.h — test doubles for the CUDA backend tests (no GPU needed).
//
// FakePlan is a CudaPlan that computes every row with a CPU family (one ChannelState per slot),
// so its output equals per-session CPU processing exactly; it can be told to fail after a
// number of session hops (at Submit or at Query/Wait, with any CUresult), to hang, or to hold
// Wait() until the test opens a gate. EchoFamily is a stateful CPU family with fading memory:
// a one-hop delay followed by a one-pole smoother, so a warmed-up state converges to the
// continuous one (test-only).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/family.h"
#include "runtime/sched/cuda_backend.h"  // cuda_plan.h with the cu:: alias

namespace ghostnv::sched::fakes {

class EchoFamily : public models::Family {
 public:
  explicit EchoFamily(int hop = 480, float pole = 0.995f) : pole_(pole) {
    model_.family = "test-echo";
    model_.name = "echo";
    model_.sample_rate = 48000;
    model_.hop_size = hop;
    model_.frame_size = 2 * hop;
    model_.algorithmic_latency = hop;
  }
  const models::Model& model() const override { return model_; }
  struct State : models::ChannelState {
    std::vector<float> prev;
    float y = 0.0f;
    void Reset() override {
      std::fill(prev.begin(), prev.end(), 0.0f);
      y = 0.0f;
    }
  };
  std::unique_ptr<models::ChannelState> NewChannel() const override {
    auto s = std::make_unique<State>();
    s->prev.assign(static_cast<size_t>(model_.hop_size), 0.0f);
    return s;
  }
  models::HopInfo ProcessHop(models::ChannelState& state, const float* in, float* out,
                             float strength) const override {
    auto& s = static_cast<State&>(state);
    for (int i = 0; i < model_.hop_size; ++i) {
      const float x = s.prev[static_cast<size_t>(i)];
      s.y = pole_ * s.y + (1.0f - pole_) * x;
      out[i] = strength * s.y + (1.0f - strength) * x;
      s.prev[static_cast<size_t>(i)] = in[i];
    }
    return {std::fabs(s.y) > 0.01f ? 0.9f : 0.1f, false};
  }

 private:
  models::Model model_;
  float pole_;
};

class FakePlan : public CudaPlan {
 public:
  FakePlan(std::shared_ptr<const models::Family> cpu, int max_sessions)
      : cpu_(std::move(cpu)),
        hop_(cpu_->hop_size()),
        states_(static_cast<size_t>(max_sessions)),
        in_(static_cast<size_t>(max_sessions * hop_), 0.0f),
        out_(static_cast<size_t>(max_sessions * hop_), 0.0f),
        info_(static_cast<size_t>(max_sessions)) {}

  // After `hops` session hops have been delivered, the next Submit (fail_at_submit) or its
  // Query/Wait fails with `code`.
  void FailAfter(long hops, cu::CUresult code, bool fail_at_submit) {
    fail_after_ = hops;
    code_ = code;
    fail_at_submit_ = fail_at_submit;
  }
  void HangAfter(long hops) { hang_after_ = hops; }
  std::mutex& gate() { return gate_; }  // Wait() holds it while "running"

  int hop_size() const override { return hop_; }
  int max_sessions() const override { return static_cast<int>(states_.size()); }
  std::string device_description() const override { return "fake GPU (test)"; }
  absl::StatusOr<int> AcquireSlot() override {
    for (size_t i = 0; i < states_.size(); ++i) {
      if (!states_[i]) {
        states_[i] = cpu_->NewChannel();
        ++acquired_;
        return static_cast<int>(i);
      }
    }
    return absl::ResourceExhaustedError("fake plan: all slots taken");
  }
  void ReleaseSlot(int slot) override {
    if (slot >= 0 && static_cast<size_t>(slot) < states_.size() && states_[slot]) {
      states_[slot].reset();
      ++released_;
    }
  }
  float* input_rows() override { return in_.data(); }
  const float* output_rows() const override { return out_.data(); }
  const CudaHopInfo* info() const override { return info_.data(); }

  cu::CUresult Submit(const int* slots, const float* strengths, int n) override {
    if (n < 0 || n > max_sessions()) return cu::kErrorInvalidValue;
    for (int i = 0; i < n; ++i)
      if (slots[i] < 0 || slots[i] >= max_sessions() || !states_[slots[i]])
        return cu::kErrorInvalidValue;
    ++submits_;
    max_n_ = std::max(max_n_.load(), n);
    if (hang_after_ >= 0 && delivered_ + n > hang_after_) {
      result_ = cu::kErrorNotReady;
      return cu::kSuccess;
    }
    if (fail_after_ >= 0 && delivered_ + n > fail_after_) {
      failed_ = true;
      if (fail_at_submit_) return code_;
      result_ = code_;
      return cu::kSuccess;
    }
    for (int i = 0; i < n; ++i) {
      const models::HopInfo h = cpu_->ProcessHop(*states_[slots[i]], in_.data() + i * hop_,
                                                 out_.data() + i * hop_, strengths[i]);
      info_[i] = {h.vad, static_cast<uint8_t>(h.silent)};
    }
    delivered_ += n;
    result_ = cu::kSuccess;
    return cu::kSuccess;
  }
  cu::CUresult Query() const override { return result_; }
  cu::CUresult Wait() override {
    std::lock_guard<std::mutex> lock(gate_);
    return result_ == cu::kErrorNotReady ? cu::kErrorLaunchTimeout : result_;
  }

  long delivered() const { return delivered_; }
  int max_n() const { return max_n_; }
  int submits() const { return submits_; }
  int acquired() const { return acquired_; }
  int released() const { return released_; }

 private:
  std::shared_ptr<const models::Family> cpu_;
  int hop_;
  std::vector<std::unique_ptr<models::ChannelState>> states_;
  std::vector<float> in_, out_;
  std::vector<CudaHopInfo> info_;
  std::mutex gate_;
  std::atomic<long> delivered_{0};
  std::atomic<int> max_n_{0}, submits_{0}, acquired_{0}, released_{0};
  long fail_after_ = -1, hang_after_ = -1;
  cu::CUresult code_ = cu::kErrorIllegalAddress;
  bool fail_at_submit_ = false;
  bool failed_ = false;
  cu::CUresult result_ = cu::kSuccess;
};

}  // namespace ghostnv::sched::fakes
