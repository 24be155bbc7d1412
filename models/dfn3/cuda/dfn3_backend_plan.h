// models/dfn3/cuda/dfn3_backend_plan.h — DeepFilterNet3's GPU plan behind the CUDA backend's
// sched::CudaPlan interface, so `--backend cuda` (runtime/sched/cuda_backend.h: the real-time
// family with CPU fallback, the batched Scheduler) runs family "dfn3" unchanged.
//
// Slots are the plan's rows (max_sessions rows, one graph over all of them). Submit copies the
// caller's input row i into plan row slots[i] with its strength and run flag 1, every other row
// gets run flag 0 (its state stays untouched; it still costs compute: the graph is sized for
// max_sessions), launches the hop, and Wait/Query (at success) copy plan row slots[i] back to
// output row i. info()[i].vad is the CPU family's HopInfo::vad: (lsnr - lsnr_min) /
// (lsnr_max - lsnr_min) clamped to [0, 1] from the hop the networks run on (the lookahead
// hops report 0); silent is always 0 (DeepFilterNet has no silence gate). 16-bit PCM rows and
// the fp16 network option are RNNoise-plan features; Create rejects them with InvalidArgument.
//
//   sched::CudaPlanOptions o; o.max_sessions = 2; o.realtime = true;
//   absl::StatusOr<std::unique_ptr<sched::CudaPlan>> plan = CreateDfn3BackendPlan(model, o);
//   auto fam = sched::RealtimeCudaFamily::Create(std::move(*plan), cpu_dfn3_family, {});
//
// Threads: as sched::CudaPlan (setup path vs the one real-time thread). No allocation on the
// real-time path (rows and info are sized at Create).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "models/dfn3/cuda/dfn3_cuda_plan.h"
#include "models/ir.h"
#include "runtime/sched/cuda_plan.h"

namespace ghostnv::models::dfn3 {

// Dfn3CudaPlan::Create with batch = max_sessions (device, realtime, kernel_cache_dir mapped;
// batch_chunks ignored). Errors: InvalidArgument (no model, a family other than "dfn3", pcm16,
// NetworkPrecision::kFp16), else Dfn3CudaPlan::Create's.
absl::StatusOr<std::unique_ptr<sched::CudaPlan>> CreateDfn3BackendPlan(
    std::shared_ptr<const Model> model, const sched::CudaPlanOptions& options);

// Wraps an existing plan (nullptr for nullptr); lsnr_min/max as in the model's metadata.
std::unique_ptr<sched::CudaPlan> WrapDfn3CudaPlan(std::unique_ptr<Dfn3CudaPlan> plan,
                                                  int lookahead, float lsnr_min, float lsnr_max);

}  // namespace ghostnv::models::dfn3
