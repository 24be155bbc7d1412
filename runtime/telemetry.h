// runtime/telemetry.h — per-stage latency histograms and GPU readings, reported as JSON.
//
// What the GPU path records for every tick (or every real-time frame): how long the upload
// (H2D), the kernels, the download (D2H) and the whole round trip (end to end) took. Recording
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
//   //                      "mean_us": 3.2}, "kernels": {...}, "d2h": {...}, "end_to_end": {...}},
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

namespace ghostnv::runtime {

enum class Stage : uint8_t { kH2D = 0, kKernels = 1, kD2H = 2, kEndToEnd = 3 };
inline constexpr int kStageCount = 4;
const char* StageName(Stage s);  // "h2d", "kernels", "d2h", "end_to_end"

class LatencyHistogram {
 public:
  static constexpr int kSubBuckets = 8;                  // per octave
  static constexpr int kBuckets = 16 + 60 * kSubBuckets;  // exact 0..15, then 2^4 .. 2^64

  LatencyHistogram() = default;
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  // Lock-free, allocation-free; any thread.
  void Record(uint64_t ns) noexcept;
  void Clear() noexcept;

  uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  uint64_t max_ns() const noexcept { return max_.load(std::memory_order_relaxed); }
  uint64_t min_ns() const noexcept;  // 0 when empty
  double mean_ns() const noexcept;   // 0 when empty
  // The q-quantile (0 < q <= 1) in ns: the midpoint of the bucket holding the ceil(q * count)-th
  // smallest sample, clamped to [min, max]. 0 when empty.
  uint64_t Percentile(double q) const noexcept;

  // Bucket arithmetic (exposed for tests).
  static int BucketOf(uint64_t ns) noexcept;
  static uint64_t BucketLow(int b) noexcept;   // smallest value in bucket b
  static uint64_t BucketHigh(int b) noexcept;  // largest value in bucket b

 private:
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_{0};
  std::atomic<uint64_t> max_{0};
  std::atomic<uint64_t> min_{UINT64_MAX};
};

// {"count", "p50_us", "p99_us", "max_us", "min_us", "mean_us"} (only "count" when empty).
nlohmann::json HistogramJson(const LatencyHistogram& h);
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

  void Record(Stage s, uint64_t ns) noexcept { hist_[static_cast<int>(s)].Record(ns); }
  const LatencyHistogram& histogram(Stage s) const { return hist_[static_cast<int>(s)]; }
  void Clear() noexcept;

  // {"stages": {...}, "gpu": {...} | null, "gpu_note": "..." (only when gpu is null)}.
  // Allocates and reads NVML: control thread.
  nlohmann::json Snapshot() const;

 private:
  std::array<LatencyHistogram, kStageCount> hist_;
  std::optional<NvmlDevice> gpu_;
  std::string gpu_note_ = "no GPU attached";
};

}  // namespace ghostnv::runtime
