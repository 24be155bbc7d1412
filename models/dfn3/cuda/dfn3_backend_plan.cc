// models/dfn3/cuda/dfn3_backend_plan.cc — Dfn3CudaPlan as a sched::CudaPlan.
#include "models/dfn3/cuda/dfn3_backend_plan.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/sched/family_plan_adapter.h"
#include "runtime/sched/plan_setup.h"

namespace ghostnv::models::dfn3 {
namespace {

class Dfn3BackendPlan final : public sched::CudaPlan {
 public:
  Dfn3BackendPlan(std::unique_ptr<Dfn3CudaPlan> plan, int lookahead, float lsnr_min,
                  float lsnr_max)
      : plan_(std::move(plan)),
        max_(plan_->batch()),
        la_(lookahead),
        lsnr_min_(lsnr_min),
        lsnr_span_(lsnr_max - lsnr_min),
        in_(static_cast<size_t>(max_) * kHop, 0.f),
        out_(static_cast<size_t>(max_) * kHop, 0.f),
        info_(static_cast<size_t>(max_), sched::CudaHopInfo{0.f, 0}),
        slots_(max_),
        hops_(static_cast<size_t>(max_), 0),
        rows_(static_cast<size_t>(max_), -1) {}

  int hop_size() const override { return kHop; }
  int max_sessions() const override { return max_; }
  std::string device_description() const override { return plan_->device_description(); }

  absl::StatusOr<int> AcquireSlot() override {
    const int s = slots_.Acquire();  // its row is reset at Create and by ReleaseSlot
    if (s >= 0) {
      hops_[static_cast<size_t>(s)] = 0;
      return s;
    }
    return absl::ResourceExhaustedError(
        absl::StrCat("dfn3 backend plan: all ", max_, " slots are in use"));
  }
  void ReleaseSlot(int slot) override {
    if (!slots_.InUse(slot)) return;
    (void)plan_->ResetRow(slot);
    slots_.Release(slot);
  }

  float* input_rows() override { return in_.data(); }
  const float* output_rows() const override { return out_.data(); }
  const sched::CudaHopInfo* info() const override { return info_.data(); }

  cu::CUresult Submit(const int* slots, const float* strengths, int n) override {
    if (n < 0 || n > max_ || (n > 0 && (slots == nullptr || strengths == nullptr)))
      return cu::kErrorInvalidValue;
    if (!slots_.CheckBatch(slots, n)) return cu::kErrorInvalidValue;
    float* rows = plan_->input_rows();
    for (int r = 0; r < max_; ++r) rows[static_cast<size_t>(r) * kCudaIo + kHop + 1] = 0.f;
    for (int i = 0; i < n; ++i) {
      float* row = rows + static_cast<size_t>(slots[i]) * kCudaIo;
      std::memcpy(row, in_.data() + static_cast<size_t>(i) * kHop, sizeof(float) * kHop);
      row[kHop] = strengths[i];
      row[kHop + 1] = 1.f;
      rows_[static_cast<size_t>(i)] = slots[i];
    }
    n_ = n;
    if (n == 0) return cu::kSuccess;  // nothing to run; Query/Wait see the last hop's event
    pending_ = true;
    return plan_->Submit();
  }
  cu::CUresult Query() const override {
    const cu::CUresult r = plan_->Query();
    if (r == cu::kSuccess) Collect();
    return r;
  }
  cu::CUresult Wait() override {
    const cu::CUresult r = plan_->Wait();
    if (r == cu::kSuccess) Collect();
    return r;
  }
  // Telemetry: the plan's per-hop stage times (h2d, kernels, d2h, device).
  const runtime::StageHistograms* stage_times() const override { return plan_->stage_times(); }

 private:
  void Collect() const {
    if (!pending_) return;
    pending_ = false;
    const float* rows = plan_->output_rows();
    for (int i = 0; i < n_; ++i) {
      const size_t s = static_cast<size_t>(rows_[static_cast<size_t>(i)]);
      const float* row = rows + s * kCudaIo;
      std::memcpy(out_.data() + static_cast<size_t>(i) * kHop, row, sizeof(float) * kHop);
      const long h = hops_[s]++;
      if (hops_[s] > (1L << 40)) hops_[s] = la_;
      info_[static_cast<size_t>(i)].silent = 0;
      info_[static_cast<size_t>(i)].vad =
          h >= la_ ? std::clamp((row[kHop] - lsnr_min_) / lsnr_span_, 0.f, 1.f) : 0.f;
    }
  }

  std::unique_ptr<Dfn3CudaPlan> plan_;
  int max_, la_;
  float lsnr_min_, lsnr_span_;
  mutable std::vector<float> in_, out_;
  mutable std::vector<sched::CudaHopInfo> info_;
  sched::SlotTable slots_;
  mutable std::vector<long> hops_;
  std::vector<int> rows_;
  int n_ = 0;
  mutable bool pending_ = false;
};

}  // namespace

std::unique_ptr<sched::CudaPlan> WrapDfn3CudaPlan(std::unique_ptr<Dfn3CudaPlan> plan,
                                                  int lookahead, float lsnr_min, float lsnr_max) {
  if (plan == nullptr) return nullptr;
  return std::make_unique<Dfn3BackendPlan>(std::move(plan), lookahead, lsnr_min, lsnr_max);
}

absl::StatusOr<std::unique_ptr<sched::CudaPlan>> CreateDfn3BackendPlan(
    std::shared_ptr<const Model> model, const sched::CudaPlanOptions& options) {
  if (absl::Status s = sched::CheckFamilyPlanRequest(model.get(), options, "dfn3"); !s.ok()) {
    return s;
  }
  absl::StatusOr<Networks> net = BuildNetworks(*model);
  if (!net.ok()) return net.status();
  Dfn3CudaPlanOptions o;
  o.device = options.device;
  o.batch = std::max(1, options.max_sessions);
  o.realtime = options.realtime;
  o.kernel_cache_dir = options.kernel_cache_dir;
  absl::StatusOr<std::unique_ptr<Dfn3CudaPlan>> plan = Dfn3CudaPlan::Create(std::move(model), o);
  if (!plan.ok()) return plan.status();
  return WrapDfn3CudaPlan(std::move(*plan), net->lookahead, net->lsnr_min, net->lsnr_max);
}

}  // namespace ghostnv::models::dfn3
