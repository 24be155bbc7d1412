// models/dtln/cuda/dtln_backend_plan.h — DTLN's batched GPU plan behind the CUDA backend's
// sched::CudaPlan interface, so `--backend cuda` (runtime/sched/cuda_backend.h: the real-time
// family with CPU fallback, the batched Scheduler) runs family "dtln" unchanged.
//
// The adapter forwards slots, pinned rows and Submit/Query/Wait to a DtlnCudaPlan (hop 128,
// 16 kHz). DTLN has no voice-activity output and no silence gate (the CPU family returns
// HopInfo{} for every hop), so info()[i] is always {vad = 0, silent = 0}: the same on both
// sides, so a fallback changes nothing a caller sees there. 16-bit PCM rows and the fp16
// network option are RNNoise-plan features; Create rejects them with InvalidArgument (before
// touching the driver).
//
//   sched::CudaPlanOptions o; o.device = "cuda:0"; o.max_sessions = 2; o.realtime = true;
//   absl::StatusOr<std::unique_ptr<sched::CudaPlan>> plan = CreateDtlnBackendPlan(model, o);
//   auto fam = sched::RealtimeCudaFamily::Create(std::move(*plan), cpu_dtln_family, {});
//   // or: WrapDtlnCudaPlan(std::move(a_dtln_cuda_plan)) (tests wrap fakes this way)
//
// Threads: as sched::CudaPlan (setup path vs the one real-time thread); the adapter adds no
// state of its own on the real-time path (info rows are constant).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "models/dtln/cuda/dtln_cuda_plan.h"
#include "models/ir.h"
#include "runtime/sched/cuda_plan.h"

namespace ghostnv::models::dtln {

// DtlnCudaPlan::Create with the backend's options mapped (device, max_sessions, realtime,
// kernel_cache_dir; batch_chunks is ignored). Errors: InvalidArgument (no model, a family other
// than "dtln", pcm16, NetworkPrecision::kFp16), else DtlnCudaPlan::Create's.
absl::StatusOr<std::unique_ptr<sched::CudaPlan>> CreateDtlnBackendPlan(
    std::shared_ptr<const Model> model, const sched::CudaPlanOptions& options);

// Wraps an existing plan (nullptr for nullptr).
std::unique_ptr<sched::CudaPlan> WrapDtlnCudaPlan(std::unique_ptr<DtlnCudaPlan> plan);

}  // namespace ghostnv::models::dtln
