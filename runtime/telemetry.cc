// runtime/telemetry.cc — see telemetry.h.
#include "runtime/telemetry.h"

#include <algorithm>
#include <utility>

namespace ghostnv::runtime {

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

nlohmann::json StagesJson(const StageHistograms& stages) {
  nlohmann::json j = nlohmann::json::object();
  for (int s = 0; s < kStageCount; ++s) j[StageName(static_cast<Stage>(s))] = HistogramJson(stages[static_cast<Stage>(s)]);
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
  hist_.Clear();
}

nlohmann::json Telemetry::Snapshot() const {
  nlohmann::json j;
  j["stages"] = StagesJson(hist_);
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
