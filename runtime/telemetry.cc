// runtime/telemetry.cc — see telemetry.h.
#include "runtime/telemetry.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <utility>

namespace ghostnv::runtime {

const char* StageName(Stage s) {
  switch (s) {
    case Stage::kH2D: return "h2d";
    case Stage::kKernels: return "kernels";
    case Stage::kD2H: return "d2h";
    case Stage::kEndToEnd: return "end_to_end";
  }
  return "unknown";
}

int LatencyHistogram::BucketOf(uint64_t ns) noexcept {
  if (ns < 16) return static_cast<int>(ns);
  const int e = 63 - std::countl_zero(ns);  // 4..63
  const int sub = static_cast<int>((ns >> (e - 3)) & 7);
  return 16 + (e - 4) * kSubBuckets + sub;
}

uint64_t LatencyHistogram::BucketLow(int b) noexcept {
  if (b < 16) return static_cast<uint64_t>(b);
  const int e = 4 + (b - 16) / kSubBuckets;
  const uint64_t sub = static_cast<uint64_t>((b - 16) % kSubBuckets);
  return (8 + sub) << (e - 3);
}

uint64_t LatencyHistogram::BucketHigh(int b) noexcept {
  if (b < 16) return static_cast<uint64_t>(b);
  const int e = 4 + (b - 16) / kSubBuckets;
  return BucketLow(b) + ((uint64_t{1} << (e - 3)) - 1);
}

void LatencyHistogram::Record(uint64_t ns) noexcept {
  buckets_[BucketOf(ns)].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(ns, std::memory_order_relaxed);
  uint64_t m = max_.load(std::memory_order_relaxed);
  while (ns > m && !max_.compare_exchange_weak(m, ns, std::memory_order_relaxed)) {
  }
  m = min_.load(std::memory_order_relaxed);
  while (ns < m && !min_.compare_exchange_weak(m, ns, std::memory_order_relaxed)) {
  }
  count_.fetch_add(1, std::memory_order_relaxed);
}

void LatencyHistogram::Clear() noexcept {
  for (auto& b : buckets_) b.store(0, std::memory_order_relaxed);
  count_.store(0, std::memory_order_relaxed);
  sum_.store(0, std::memory_order_relaxed);
  max_.store(0, std::memory_order_relaxed);
  min_.store(UINT64_MAX, std::memory_order_relaxed);
}

uint64_t LatencyHistogram::min_ns() const noexcept {
  const uint64_t m = min_.load(std::memory_order_relaxed);
  return m == UINT64_MAX ? 0 : m;
}

double LatencyHistogram::mean_ns() const noexcept {
  const uint64_t n = count();
  return n == 0 ? 0.0 : static_cast<double>(sum_.load(std::memory_order_relaxed)) / static_cast<double>(n);
}

uint64_t LatencyHistogram::Percentile(double q) const noexcept {
  // Count from the buckets themselves (a concurrent Record may have bumped count_ first).
  uint64_t total = 0;
  for (const auto& b : buckets_) total += b.load(std::memory_order_relaxed);
  if (total == 0) return 0;
  q = std::min(1.0, std::max(q, 0.0));
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  int b = 0;
  for (; b < kBuckets; ++b) {
    seen += buckets_[b].load(std::memory_order_relaxed);
    if (seen >= rank) break;
  }
  if (b == kBuckets) b = kBuckets - 1;
  const uint64_t lo = BucketLow(b), hi = BucketHigh(b);
  uint64_t v = lo + (hi - lo) / 2;
  const uint64_t mn = min_ns(), mx = max_ns();
  if (v < mn) v = mn;
  if (v > mx) v = mx;
  return v;
}

nlohmann::json HistogramJson(const LatencyHistogram& h) {
  nlohmann::json j;
  j["count"] = h.count();
  if (h.count() == 0) return j;
  j["p50_us"] = static_cast<double>(h.Percentile(0.50)) / 1e3;
  j["p99_us"] = static_cast<double>(h.Percentile(0.99)) / 1e3;
  j["max_us"] = static_cast<double>(h.max_ns()) / 1e3;
  j["min_us"] = static_cast<double>(h.min_ns()) / 1e3;
  j["mean_us"] = h.mean_ns() / 1e3;
  return j;
}

nlohmann::json GpuSampleJson(const GpuSample& s) {
  nlohmann::json j = nlohmann::json::object();
  auto put = [&j](const char* key, const auto& v) {
    if (v) j[key] = *v;
  };
  put("utilization_gpu_pct", s.gpu_utilization_pct);
  put("utilization_memory_pct", s.memory_utilization_pct);
  put("memory_used_bytes", s.memory_used_bytes);
  put("memory_total_bytes", s.memory_total_bytes);
  put("temperature_c", s.temperature_c);
  put("power_w", s.power_w);
  put("power_limit_w", s.power_limit_w);
  put("sm_clock_mhz", s.sm_clock_mhz);
  put("memory_clock_mhz", s.memory_clock_mhz);
  if (s.clocks_event_reasons) {
    j["clocks_event_reasons_mask"] = *s.clocks_event_reasons;
    j["clocks_event_reasons"] = ClocksEventReasonNames(*s.clocks_event_reasons);
  }
  return j;
}

void Telemetry::AttachGpu(std::string_view pci_bus_id) {
  absl::StatusOr<NvmlDevice> d = NvmlDevice::ForPciBusId(pci_bus_id);
  if (!d.ok()) {
    gpu_.reset();
    gpu_note_ = std::string(d.status().message());
    return;
  }
  AttachGpu(*std::move(d));
}

void Telemetry::AttachGpu(NvmlDevice device) {
  gpu_.emplace(std::move(device));
  gpu_note_.clear();
}

void Telemetry::Clear() noexcept {
  for (auto& h : hist_) h.Clear();
}

nlohmann::json Telemetry::Snapshot() const {
  nlohmann::json j;
  nlohmann::json stages = nlohmann::json::object();
  for (int s = 0; s < kStageCount; ++s) stages[StageName(static_cast<Stage>(s))] = HistogramJson(hist_[s]);
  j["stages"] = std::move(stages);
  if (gpu_) {
    nlohmann::json g = GpuSampleJson(gpu_->Sample());
    g["name"] = gpu_->name();
    g["pci_bus_id"] = gpu_->pci_bus_id();
    if (!gpu_->api().driver_version.empty()) g["driver_version"] = gpu_->api().driver_version;
    j["gpu"] = std::move(g);
  } else {
    j["gpu"] = nullptr;
    j["gpu_note"] = gpu_note_;
  }
  return j;
}

}  // namespace ghostnv::runtime
