// runtime/sched/family_plan_adapter.h — shared pieces of the adapters that put a model family's
// own GPU plan (models/<family>/cuda/) behind the CUDA backend's CudaPlan interface.
//
//   // in CreateXBackendPlan(model, options):
//   if (absl::Status s = CheckFamilyPlanRequest(model.get(), options, "dtln"); !s.ok()) return s;
//   ...
//   return std::make_unique<ForwardingCudaPlan<DtlnCudaPlan>>(std::move(plan));
//
// CheckFamilyPlanRequest: the checks every family adapter makes before touching the driver (a
// model is given, of that family; no 16-bit PCM rows and no fp16 network: those are options of
// the RNNoise plan). ForwardingCudaPlan<Plan>: for plans whose slots, rows and Submit/Query/Wait
// already have CudaPlan's meaning, and whose family reports no VAD and no silence gate (the
// CPU families return HopInfo{} for every hop), so info()[i] is always {vad 0, silent 0} — the
// same on both sides of a fallback. Plan needs hop_size(), max_sessions(),
// device_description(), AcquireSlot(), ReleaseSlot(int), input_rows(), output_rows(),
// Submit(const int*, const float*, int), Query() and Wait() with CudaPlan's signatures.
// Threads: as CudaPlan; the adapter adds no state on the real-time path.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "models/ir.h"
#include "runtime/sched/cuda_plan.h"

namespace ghostnv::sched {

// OK, or InvalidArgument naming the family ("<family> backend plan: ...").
inline absl::Status CheckFamilyPlanRequest(const models::Model* model,
                                           const CudaPlanOptions& options, const char* family) {
  if (model == nullptr) return absl::InvalidArgumentError(absl::StrCat(family, " backend plan: no model"));
  if (model->family != family) {
    return absl::InvalidArgumentError(absl::StrCat(family, " backend plan: the model's family is '",
                                                   model->family, "', not '", family, "'"));
  }
  if (options.pcm16) {
    return absl::InvalidArgumentError(
        absl::StrCat(family, " backend plan: 16-bit PCM rows are not supported"));
  }
  if (options.network != NetworkPrecision::kFp32 && options.network != NetworkPrecision::kAuto) {
    return absl::InvalidArgumentError(
        absl::StrCat(family, " backend plan: only the fp32 network is supported"));
  }
  return absl::OkStatus();
}

template <typename Plan>
class ForwardingCudaPlan final : public CudaPlan {
 public:
  explicit ForwardingCudaPlan(std::unique_ptr<Plan> plan)
      : plan_(std::move(plan)),
        info_(static_cast<size_t>(plan_->max_sessions() > 0 ? plan_->max_sessions() : 1),
              CudaHopInfo{0.0f, 0}) {}

  int hop_size() const override { return plan_->hop_size(); }
  int max_sessions() const override { return plan_->max_sessions(); }
  std::string device_description() const override { return plan_->device_description(); }
  absl::StatusOr<int> AcquireSlot() override { return plan_->AcquireSlot(); }
  void ReleaseSlot(int slot) override { plan_->ReleaseSlot(slot); }
  float* input_rows() override { return plan_->input_rows(); }
  const float* output_rows() const override { return plan_->output_rows(); }
  const CudaHopInfo* info() const override { return info_.data(); }
  cu::CUresult Submit(const int* slots, const float* strengths, int n) override {
    return plan_->Submit(slots, strengths, n);
  }
  cu::CUresult Query() const override { return plan_->Query(); }
  cu::CUresult Wait() override { return plan_->Wait(); }
  // Telemetry: the wrapped plan's stage histograms when it records them (a stage_times() member
  // returning const runtime::StageHistograms*), else none.
  const runtime::StageHistograms* stage_times() const override {
    if constexpr (requires(const Plan& p) { p.stage_times(); }) {
      return plan_->stage_times();
    } else {
      return nullptr;
    }
  }

 private:
  std::unique_ptr<Plan> plan_;
  std::vector<CudaHopInfo> info_;  // constant {0, 0}
};

}  // namespace ghostnv::sched
