// runtime/telemetry.h — per-stage latency histograms and GPU readings, reported as JSON.
//
// What the GPU path records for every tick (or every real-time frame): how long the upload
// (H2D), the kernels, the download (D2H) and the whole round trip (end to end) took, and where
// a plan cannot split the copies from the kernels, the hop's whole GPU time ("device") or the
// part of the round trip outside the kernels ("outside_kernels"); runtime/telemetry_histogram.h
// (header-only: the GPU plans record into it without linking this library) says which plan
// measures what (CudaPlan::stage_times(), runtime/sched/cuda_plan.h; the plans that replay CUDA
// graphs split h2d / kernels / d2h with runtime/telemetry_hop_timer.h; the backend's report
// samples NVML per device with sched::SampleGpus, runtime/sched/cuda_backend.h). Recording
// is lock-free and allocation-free — a handful of relaxed atomic increments into fixed,
// log-spaced buckets — so it may be called from the audio or scheduler thread. Snapshot()
// turns the counts into p50/p99/max per stage and adds an NVML reading of the device
// (utilisation, memory, temperature, power, clocks, clock-event reasons) when NVML is there.
//
//   // setup (control thread), once per device:
//   Telemetry tel;
//   tel.AttachGpu(device.pci_bus_id);   // no NVML or no such device: the snapshot says why
//   // per tick (any thread; e.g. from cuEventElapsedTime or steady_clock):
//   tel.Record(Stage::kH2D, h2d_ns);
//   tel.Record(Stage::kKernels, kernels_ns);
//   tel.Record(Stage::kD2H, d2h_ns);
//   tel.Record(Stage::kEndToEnd, e2e_ns);
//   // reporting (control thread; allocates, reads NVML):
//   nlohmann::json j = tel.Snapshot();
//   // {"stages": {"h2d": {"count": 1000, "p50_us": 3.1, "p99_us": 4.0, "max_us": 9.7,
//   //                      "mean_us": 3.2}, "kernels": {...}, "d2h": {...}, "end_to_end": {...},
//   //             "device": {"count": 0}, "outside_kernels": {"count": 0}},
//   //  "gpu": {"name": "NVIDIA H200", "pci_bus_id": "0000:19:00.0", "utilization_gpu_pct": 35,
//   //          "memory_used_bytes": ..., "power_w": 123.4, "sm_clock_mhz": 1980,
//   //          "clocks_event_reasons": ["gpu_idle"], ...}}
//   // or, without NVML, "gpu": null and "gpu_note": "no NVML: cannot load libnvidia-ml.so.1 (...)"
//
// Resolution: values are nanoseconds; buckets are exact below 16 ns and then 8 per octave, so a
// reported percentile is within 1/16 (6.25 %) of the true sample value; max, min, count and mean
// are exact. Percentiles are read while other threads may still record: a snapshot is then a
// consistent-enough view (each counter is exact, they are just not read at one instant).
//
// Thread-safety: Record and Clear from any thread at any time; AttachGpu once, before
// Snapshot is called from other threads. Telemetry is not movable (threads hold references).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"
#include "runtime/nvml.h"
#include "runtime/telemetry_histogram.h"  // LatencyHistogram, Stage, StageHistograms

namespace ghostnv::runtime {

// {"count", "p50_us", "p99_us", "max_us", "min_us", "mean_us"} (only "count" when empty).
nlohmann::json HistogramJson(const LatencyHistogram& h);
// {"h2d": HistogramJson, ..., "outside_kernels": ...}: every stage, empty ones as {"count": 0}.
nlohmann::json StagesJson(const StageHistograms& stages);
// The sample's present fields (absent ones are left out), plus "clocks_event_reasons" as names.
nlohmann::json GpuSampleJson(const GpuSample& s);

class Telemetry {
 public:
  Telemetry() = default;
  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

  // Finds the device in NVML (process-wide loader). Failure is kept as the snapshot's
  // "gpu_note", never returned: telemetry is optional. Setup path.
  void AttachGpu(std::string_view pci_bus_id);
  // The same with an already opened device (tests with the fake NVML).
  void AttachGpu(NvmlDevice device);

  void Record(Stage s, uint64_t ns) noexcept { hist_.Record(s, ns); }
  const LatencyHistogram& histogram(Stage s) const { return hist_[s]; }
  const StageHistograms& stages() const { return hist_; }
  void Clear() noexcept;

  // {"stages": {...}, "gpu": {...} | null, "gpu_note": "..." (only when gpu is null)}.
  // Allocates and reads NVML: control thread.
  nlohmann::json Snapshot() const;

 private:
  StageHistograms hist_;
  std::optional<NvmlDevice> gpu_;
  std::string gpu_note_ = "no GPU attached";
};

}  // namespace ghostnv::runtime
