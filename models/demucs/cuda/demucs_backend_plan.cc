// models/demucs/cuda/demucs_backend_plan.cc — DemucsCudaPlan as a sched::CudaPlan.
#include "models/demucs/cuda/demucs_backend_plan.h"

#include <utility>

#include "absl/status/status.h"
#include "runtime/sched/family_plan_adapter.h"

namespace ghostnv::models::demucs {

std::unique_ptr<sched::CudaPlan> WrapDemucsCudaPlan(std::unique_ptr<DemucsCudaPlan> plan) {
  if (plan == nullptr) return nullptr;
  return std::make_unique<sched::ForwardingCudaPlan<DemucsCudaPlan>>(std::move(plan));
}

absl::StatusOr<std::unique_ptr<sched::CudaPlan>> CreateDemucsBackendPlan(
    std::shared_ptr<const Model> model, const sched::CudaPlanOptions& options) {
  if (absl::Status s = sched::CheckFamilyPlanRequest(model.get(), options, "demucs"); !s.ok()) {
    return s;
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
