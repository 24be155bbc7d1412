// models/dtln/cuda/dtln_backend_plan.cc — DtlnCudaPlan as a sched::CudaPlan.
#include "models/dtln/cuda/dtln_backend_plan.h"

#include <utility>

#include "absl/status/status.h"
#include "runtime/sched/family_plan_adapter.h"

namespace ghostnv::models::dtln {

std::unique_ptr<sched::CudaPlan> WrapDtlnCudaPlan(std::unique_ptr<DtlnCudaPlan> plan) {
  if (plan == nullptr) return nullptr;
  return std::make_unique<sched::ForwardingCudaPlan<DtlnCudaPlan>>(std::move(plan));
}

absl::StatusOr<std::unique_ptr<sched::CudaPlan>> CreateDtlnBackendPlan(
    std::shared_ptr<const Model> model, const sched::CudaPlanOptions& options) {
  if (absl::Status s = sched::CheckFamilyPlanRequest(model.get(), options, "dtln"); !s.ok()) {
    return s;
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
