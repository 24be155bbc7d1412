// runtime/sched/cuda_backend.h — the CUDA backend above CudaPlan: the real-time family a Stream
// runs on the GPU, with CPU fallback, and the factory that picks the family for a backend.
//
// A Stream (stream.h) runs any models::Family; on the GPU it runs a RealtimeCudaFamily. Each of
// its channel states owns one slot of a realtime CudaPlan (batch 1), and ProcessHop() does, in
// the caller's (audio) thread: copy the hop into the plan's pinned input row → Submit(slot) →
// poll Query() until the hop is done → copy the output row out. Nothing is allocated, locked or
// logged on that path.
//
// Why polling on the audio thread is acceptable here: the library is synchronous (the output of
// a hop is due in the same ghostnv_process() call), the whole round trip (PCIe both ways plus
// the graph) takes about 10–20 µs on the H200 against a 10 ms hop, and Query() is a
// cuEventQuery: no syscall, no lock. The poll spins (with a pause instruction) for the first
// few iterations and then yields; a watchdog (Options::watchdog, 2 s by default) declares the
// device hung. For many streams per GPU use the batched Scheduler (scheduler.h) instead, which
// waits on its own thread.
//
// CPU fallback (issue 3's hard requirement): if Submit or Query fails — any driver error, sticky
// (runtime::IsStickyError: the context is dead) or not — or the watchdog fires, the family marks
// the GPU failed for all its channels. Each channel then switches to its CpuFallback
// (cpu_fallback.h): a CPU channel state warmed up on the channel's last `warmup_hops` input
// hops, which also produces the hop that failed. No hop is lost or repeated, so the Stream's
// output keeps its length and latency; it converges to the all-CPU output within a few hops.
// The event is counted and described in telemetry() ("fallback" in ghostnv_info_json()).
// After a failure the plan is never touched again except by its destructor.
//
//   auto plan = CudaPlan::Create(model, {.device = "cuda:0", .max_sessions = 2, .realtime = true});
//   auto fam = RealtimeCudaFamily::Create(std::move(*plan), cpu_family, {});
//   auto stream = Stream::Create(*fam, config);             // as with any family
//   ... (*fam)->telemetry().fallback_events ...
//
// Threads: NewChannel()/the channel destructors/Reset() are the setup path (they take and
// release plan slots). ProcessHop() of all channels of one family must come from ONE thread at a
// time (a plan has one hop in flight): a Stream's Process() does exactly that. telemetry() from
// any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/family.h"
#include "runtime/cuda_abi.h"
#include "runtime/nvml.h"
#include "runtime/sched/backend.h"
#include "runtime/telemetry_histogram.h"

namespace ghostnv::sched {
namespace cu = ::ghostnv::runtime::cu;  // cuda_plan.h spells driver results cu::CUresult
}  // namespace ghostnv::sched

#include "runtime/sched/cuda_plan.h"
#include "runtime/sched/spsc.h"

namespace ghostnv::sched {

struct LatencySummary {
  uint64_t count = 0;
  double p50_us = 0, p99_us = 0, max_us = 0, mean_us = 0;
};
LatencySummary Summarize(const LatencyHistogram& h);
LatencySummary Summarize(const runtime::LatencyHistogram& h);

// What a backend did; a snapshot of relaxed counters (control thread).
struct BackendTelemetry {
  std::string backend = "cpu";   // what was chosen: "cpu" | "cuda"
  std::string active = "cpu";    // what runs now: "cuda", or "cpu" after a fallback
  std::string device;            // "NVIDIA H200 (sm_90, 0000:00:06.0)", empty on the CPU
  std::string mode;              // "realtime" | "batched" | "" (CPU)
  uint64_t gpu_hops = 0;         // channel hops the GPU delivered
  uint64_t cpu_hops = 0;         // channel hops the CPU delivered after a fallback
  uint64_t fallback_events = 0;  // device failures that sent work to the CPU (0 or 1 per family)
  uint64_t warmup_hops = 0;      // CPU hops run to warm up channel states at the switch
  std::string fallback_note;     // "GPU failed at hop 1234: CUDA_ERROR_ILLEGAL_ADDRESS (sticky) ..."
  LatencySummary submit_to_done; // per GPU hop, measured on the calling thread
  // Per-stage times (telemetry, indexed by runtime::Stage): end_to_end = submit -> done on the
  // calling thread (every GPU hop); h2d / kernels / d2h / device / outside_kernels from the
  // plan's CudaPlan::stage_times() (count 0 where the plan does not measure that stage).
  std::array<LatencySummary, runtime::kStageCount> stages{};
};

// BackendTelemetry::stages as a JSON object: {"h2d": {"count": 0}, "kernels": {"count": 812,
// "p50_us": 9.1, "p99_us": 9.8, "max_us": 14.0, "mean_us": 9.2}, ...}, every stage, in Stage
// order (the "stages" of ghostnv_info_json()'s "gpu" and of `ghostnv-denoise --report json`).
std::string StagesJson(const BackendTelemetry& t);
// A plan's stage_times() summarised (all counts 0 when it records none).
std::array<LatencySummary, runtime::kStageCount> PlanStageSummaries(const CudaPlan& plan);

// NVML readings of the GPUs a backend uses (issue 3 telemetry: utilisation, memory,
// temperature, power, clocks, clock-event reasons). Taken when a report is asked for
// (ghostnv_info_json(), `ghostnv-denoise --report json`), on the caller's control thread, never
// on the audio path: each NVML query is a driver round trip. NVML is dlopen'ed
// (runtime/nvml.h); without it, or without a reading for a device, the reading says why.
struct GpuReading {
  std::string device;          // the selector the backend opened ("cuda:0")
  std::string pci_bus_id;      // "0000:19:00.0"; empty when the device could not be resolved
  std::string name;            // NVML's name ("NVIDIA H200"), empty when unknown
  bool available = false;      // NVML answered for this device: `sample` holds what it offers
  std::string note;            // why not, when !available
  runtime::GpuSample sample;   // absent fields: the device or driver does not offer them
};
struct GpuReadings {
  bool nvml = false;            // NVML loaded and initialised
  std::string note;             // why not, when !nvml
  std::string driver_version;   // NVML's "580.95.05", empty when unknown
  std::vector<GpuReading> devices;
};
// Readings of `devices` (CUDA selectors, as BackendChoice::device: "cuda:0", "1", a bus id):
// the PCI bus id from the driver, then the process-wide NVML (handles cached per bus id).
// Never fails. Control thread only (driver and NVML calls; allocates).
GpuReadings SampleGpus(const std::vector<std::string>& devices);
// One device through an explicit NVML table (tests use a fake table).
GpuReading SampleGpu(const runtime::NvmlApi& api, std::string device, std::string pci_bus_id);
// {"available": true, "driver_version": "580.95.05", "devices": [{"device": "cuda:0",
//  "pci_bus_id": "0000:19:00.0", "name": "NVIDIA H200", "utilization_gpu_pct": 35,
//  "utilization_memory_pct": 4, "memory_used_bytes": ..., "memory_total_bytes": ...,
//  "temperature_c": 41, "power_w": 121.5, "power_limit_w": 700, "sm_clock_mhz": 1980,
//  "memory_clock_mhz": 3201, "clocks_event_reasons_mask": 0, "clocks_event_reasons": []}]};
// fields a device does not offer are left out; without NVML {"available": false, "note": "no
// NVML: cannot load libnvidia-ml.so.1 (...)", "devices": [{"device": ..., "note": ...}]}
// ("nvml" in ghostnv_info_json()'s "gpu").
std::string GpuReadingsJson(const GpuReadings& readings);

// A family that can report where its hops ran.
class BackendFamily : public models::Family {
 public:
  virtual BackendTelemetry telemetry() const = 0;
};

struct RealtimeCudaOptions {
  int warmup_hops = 32;  // CPU warm-up history at a fallback (32 hops = 320 ms)
  std::chrono::nanoseconds watchdog = std::chrono::seconds(2);  // longest a hop may take
};

class RealtimeCudaFamily : public BackendFamily {
 public:
  // `plan` must run `cpu`'s model (same hop). Takes ownership of the plan.
  static absl::StatusOr<std::shared_ptr<RealtimeCudaFamily>> Create(
      std::unique_ptr<CudaPlan> plan, std::shared_ptr<const models::Family> cpu,
      const RealtimeCudaOptions& options);
  ~RealtimeCudaFamily() override;

  const models::Model& model() const override { return cpu_->model(); }
  bool computes_vad() const override { return cpu_->computes_vad(); }
  // nullptr when no slot is free (the plan has max_sessions slots).
  std::unique_ptr<models::ChannelState> NewChannel() const override;
  models::HopInfo ProcessHop(models::ChannelState& state, const float* in, float* out,
                             float strength) const override;
  BackendTelemetry telemetry() const override;
  bool failed() const;

  struct Shared;  // plan + counters, shared with the channel states

 private:
  RealtimeCudaFamily(std::shared_ptr<Shared> shared, std::shared_ptr<const models::Family> cpu,
                     const RealtimeCudaOptions& options);
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<const models::Family> cpu_;
  RealtimeCudaOptions options_;
};

// The CudaPlan factory the backend uses; tests substitute fakes. The default one builds
// CudaPlan::Create's RNNoise plan, and for family "ultra" the fused one-kernel ultra plan
// (runtime/sched/persistent/ultra_plan.h; the persistent kernel, parked around other plans'
// waiting driver calls by runtime/park_gate.h, or graph replay when it cannot start or with
// GHOSTNV_ULTRA_GPU_MODE=graph), and for family "dtln" DtlnCudaPlan through its adapter
// (models/dtln/cuda/dtln_backend_plan.h). A family with neither fails at Create (Unavailable /
// InvalidArgument), which MakeBackendFamily turns into the CPU for `auto`.
using CudaPlanFactory = std::function<absl::StatusOr<std::unique_ptr<CudaPlan>>(
    std::shared_ptr<const models::Model>, const CudaPlanOptions&)>;
// CudaPlan::Create when this build has the plan, else a factory answering Unavailable.
CudaPlanFactory DefaultCudaPlanFactory();

// The family a Stream should run for `choice` (from SelectBackend): `cpu` itself for kCpu; for
// kCuda a RealtimeCudaFamily on a realtime plan with `slots` slots (channels, twice that if the
// stream may be rebuilt while the old one lives). If the plan cannot be made and `automatic`
// (the user asked for auto), the CPU family is returned and *choice becomes kCpu with a note
// saying why; otherwise the plan's error, prefixed "--backend <device>: ".
absl::StatusOr<std::shared_ptr<const models::Family>> MakeBackendFamily(
    std::shared_ptr<const models::Model> model, std::shared_ptr<const models::Family> cpu,
    BackendChoice* choice, bool automatic, int slots,
    const CudaPlanFactory& factory = DefaultCudaPlanFactory(),
    const RealtimeCudaOptions& options = {});

// Where a hop ran and the fallback state of `family` when it is a BackendFamily; for any other
// family a CPU telemetry with no counters.
BackendTelemetry TelemetryOf(const models::Family& family);

// Whether a GPU with a CUDA plan for the default family could be used (cached once per process;
// the first call loads the driver: not real-time safe).
bool GpuPresent();

}  // namespace ghostnv::sched
