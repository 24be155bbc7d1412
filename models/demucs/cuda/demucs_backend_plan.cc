// models/demucs/cuda/demucs_backend_plan.cc — DemucsCudaPlan as a sched::CudaPlan.
#include "models/demucs/cuda/demucs_backend_plan.h"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ghostnv::models::demucs {
namespace {

class DemucsBackendPlan final : public sched::CudaPlan {
 public:
  explicit DemucsBackendPlan(std::unique_ptr<DemucsCudaPlan> plan)
      : plan_(std::move(plan)),
        info_(static_cast<size_t>(plan_->max_sessions() > 0 ? plan_->max_sessions() : 1),
              sched::CudaHopInfo{0.0f, 0}) {}

  int hop_size() const override { return plan_->hop_size(); }
  int max_sessions() const override { return plan_->max_sessions(); }
  std::string device_description() const override { return plan_->device_description(); }
  absl::StatusOr<int> AcquireSlot() override { return plan_->AcquireSlot(); }
  void ReleaseSlot(int slot) override { plan_->ReleaseSlot(slot); }
  float* input_rows() override { return plan_->input_rows(); }
  const float* output_rows() const override { return plan_->output_rows(); }
  const sched::CudaHopInfo* info() const override { return info_.data(); }
  cu::CUresult Submit(const int* slots, const float* strengths, int n) override {
    return plan_->Submit(slots, strengths, n);
  }
  cu::CUresult Query() const override { return plan_->Query(); }
  cu::CUresult Wait() override { return plan_->Wait(); }

 private:
  std::unique_ptr<DemucsCudaPlan> plan_;
  // Demucs has no VAD and no silence gate: every hop reports {0, 0}, as the CPU family does.
  std::vector<sched::CudaHopInfo> info_;
};

}  // namespace

std::unique_ptr<sched::CudaPlan> WrapDemucsCudaPlan(std::unique_ptr<DemucsCudaPlan> plan) {
  if (plan == nullptr) return nullptr;
  return std::make_unique<DemucsBackendPlan>(std::move(plan));
}

absl::StatusOr<std::unique_ptr<sched::CudaPlan>> CreateDemucsBackendPlan(
    std::shared_ptr<const Model> model, const sched::CudaPlanOptions& options) {
  if (model == nullptr) return absl::InvalidArgumentError("demucs backend plan: no model");
  if (model->family != "demucs") {
    return absl::InvalidArgumentError(
        absl::StrCat("demucs backend plan: the model's family is '", model->family, "', not 'demucs'"));
  }
  if (options.pcm16) {
    return absl::InvalidArgumentError("demucs backend plan: 16-bit PCM rows are not supported");
  }
  if (options.network != sched::NetworkPrecision::kFp32) {
    return absl::InvalidArgumentError("demucs backend plan: only the fp32 network is supported");
  }
  DemucsCudaPlanOptions o;
  o.device = options.device;
  o.max_sessions = options.max_sessions;
  o.realtime = options.realtime;
  o.kernel_cache_dir = options.kernel_cache_dir;
  absl::StatusOr<std::unique_ptr<DemucsCudaPlan>> plan = DemucsCudaPlan::Create(std::move(model), o);
  if (!plan.ok()) return plan.status();
  return WrapDemucsCudaPlan(std::move(*plan));
}

}  // namespace ghostnv::models::demucs
