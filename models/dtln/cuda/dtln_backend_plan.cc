// models/dtln/cuda/dtln_backend_plan.cc — DtlnCudaPlan as a sched::CudaPlan.
#include "models/dtln/cuda/dtln_backend_plan.h"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ghostnv::models::dtln {
namespace {

class DtlnBackendPlan final : public sched::CudaPlan {
 public:
  explicit DtlnBackendPlan(std::unique_ptr<DtlnCudaPlan> plan)
      : plan_(std::move(plan)),
        info_(static_cast<size_t>(plan_->max_sessions() > 0 ? plan_->max_sessions() : 1),
              sched::CudaHopInfo{0.0f, 0}) {}

  int hop_size() const override { return DtlnCudaPlan::kHop; }
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
  std::unique_ptr<DtlnCudaPlan> plan_;
  // DTLN has no VAD and no silence gate: every hop reports {0, 0}, as the CPU family does.
  std::vector<sched::CudaHopInfo> info_;
};

}  // namespace

std::unique_ptr<sched::CudaPlan> WrapDtlnCudaPlan(std::unique_ptr<DtlnCudaPlan> plan) {
  if (plan == nullptr) return nullptr;
  return std::make_unique<DtlnBackendPlan>(std::move(plan));
}

absl::StatusOr<std::unique_ptr<sched::CudaPlan>> CreateDtlnBackendPlan(
    std::shared_ptr<const Model> model, const sched::CudaPlanOptions& options) {
  if (model == nullptr) return absl::InvalidArgumentError("dtln backend plan: no model");
  if (model->family != "dtln") {
    return absl::InvalidArgumentError(
        absl::StrCat("dtln backend plan: the model's family is '", model->family, "', not 'dtln'"));
  }
  if (options.pcm16) {
    return absl::InvalidArgumentError("dtln backend plan: 16-bit PCM rows are not supported");
  }
  if (options.network != sched::NetworkPrecision::kFp32) {
    return absl::InvalidArgumentError("dtln backend plan: only the fp32 network is supported");
  }
  DtlnCudaPlanOptions o;
  o.device = options.device;
  o.max_sessions = options.max_sessions;
  o.realtime = options.realtime;
  o.kernel_cache_dir = options.kernel_cache_dir;
  absl::StatusOr<std::unique_ptr<DtlnCudaPlan>> plan = DtlnCudaPlan::Create(std::move(model), o);
  if (!plan.ok()) return plan.status();
  return WrapDtlnCudaPlan(std::move(*plan));
}

}  // namespace ghostnv::models::dtln
