// models/demucs/cuda/demucs_backend_plan.h — causal Demucs' batched GPU plan behind the CUDA
// backend's sched::CudaPlan interface, so `--backend cuda` (runtime/sched/cuda_backend.h: the
// real-time family with CPU fallback, the batched Scheduler) runs family "demucs" unchanged.
//
// The adapter forwards slots, pinned rows and Submit/Query/Wait to a DemucsCudaPlan (the model's
// hop: 256 samples for dns48, S^depth / resample in general). Demucs has no voice-activity
// output and no silence gate (the CPU family returns HopInfo{} for every hop), so info()[i] is
// always {vad = 0, silent = 0}. 16-bit PCM rows and the fp16 network option are RNNoise-plan
// features; Create rejects them with InvalidArgument (before touching the driver).
//
//   sched::CudaPlanOptions o; o.device = "cuda:0"; o.max_sessions = 2; o.realtime = true;
//   absl::StatusOr<std::unique_ptr<sched::CudaPlan>> plan = CreateDemucsBackendPlan(model, o);
//   auto fam = sched::RealtimeCudaFamily::Create(std::move(*plan), cpu_demucs_family, {});
//
// Threads: as sched::CudaPlan; the adapter adds no state of its own on the real-time path.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "models/demucs/cuda/demucs_cuda_plan.h"
#include "models/ir.h"
#include "runtime/sched/cuda_plan.h"

namespace ghostnv::models::demucs {

// DemucsCudaPlan::Create with the backend's options mapped (device, max_sessions, realtime,
// kernel_cache_dir; batch_chunks is ignored). Errors: InvalidArgument (no model, a family other
// than "demucs", pcm16, NetworkPrecision::kFp16), else DemucsCudaPlan::Create's.
absl::StatusOr<std::unique_ptr<sched::CudaPlan>> CreateDemucsBackendPlan(
    std::shared_ptr<const Model> model, const sched::CudaPlanOptions& options);

// Wraps an existing plan (nullptr for nullptr).
std::unique_ptr<sched::CudaPlan> WrapDemucsCudaPlan(std::unique_ptr<DemucsCudaPlan> plan);

}  // namespace ghostnv::models::demucs
