// runtime/sched/cuda_plan_profile.h — where a CudaPlan hop spends its GPU time (benchmarks and
// diagnosis only; not part of the CudaPlan contract).
//
// With GHOSTNV_CUDA_PLAN_PROFILE=1 in the environment when a plan is created, its hops are
// launched stage by stage on the stream (not as the captured graph: an event recorded during a
// stream capture never becomes a graph node) with a timing event after every stage; the GPU
// times are then real, but the launches cost more host time, so leave it off for latency
// measurements. After a hop completed (Wait), CudaPlanStageTimes returns the
// stages of that hop in order with their GPU time; empty when profiling is off.
//
//   setenv("GHOSTNV_CUDA_PLAN_PROFILE", "1", 1);
//   auto plan = CudaPlan::Create(model, options);  ... Submit, Wait ...
//   for (const CudaPlanStage& s : CudaPlanStageTimes(**plan)) printf("%s %.1f us\n", s.name, s.us);
#pragma once

#include <vector>

#include "runtime/sched/cuda_plan.h"

namespace ghostnv::sched {

struct CudaPlanStage {
  // "h2d", "frontend", "fft", "features", "network", "postprocess", "ifft", "synthesis", "d2h";
  // with CudaPlanOptions::fused_spectra (the default): "h2d", "frontend", "fft+features",
  // "network", "post+ifft+synth", "d2h".
  const char* name;
  float us;
};

std::vector<CudaPlanStage> CudaPlanStageTimes(const CudaPlan& plan);

}  // namespace ghostnv::sched
