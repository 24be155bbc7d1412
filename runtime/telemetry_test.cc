// Tests for the latency histograms (bucket arithmetic, percentiles against exact sorted
// percentiles, concurrent recording) and the JSON snapshot (with the fake NVML and without NVML).
#include "runtime/telemetry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

namespace ghostnv::runtime {
namespace {

using H = LatencyHistogram;

TEST(LatencyHistogram, BucketsTileTheRange) {
  EXPECT_EQ(H::BucketOf(0), 0);
  EXPECT_EQ(H::BucketLow(0), 0u);
  for (int b = 0; b < H::kBuckets; ++b) {
    ASSERT_EQ(H::BucketOf(H::BucketLow(b)), b);
    ASSERT_EQ(H::BucketOf(H::BucketHigh(b)), b);
    ASSERT_LE(H::BucketLow(b), H::BucketHigh(b));
    if (b + 1 < H::kBuckets) {
      ASSERT_EQ(H::BucketLow(b + 1), H::BucketHigh(b) + 1) << b;
    }
    // Width at most 1/8 of the bucket's low edge (exact below 16).
    if (b >= 16) {
      ASSERT_LE(H::BucketHigh(b) - H::BucketLow(b) + 1, H::BucketLow(b) / 8) << b;
    } else {
      ASSERT_EQ(H::BucketHigh(b), H::BucketLow(b));
    }
  }
  EXPECT_EQ(H::BucketOf(UINT64_MAX), H::kBuckets - 1);
  EXPECT_EQ(H::BucketHigh(H::kBuckets - 1), UINT64_MAX);
}

uint64_t ExactPercentile(std::vector<uint64_t> v, double q) {
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  rank = std::max<size_t>(rank, 1);
  return v[rank - 1];
}

TEST(LatencyHistogram, PercentilesWithinASixteenthOfExact) {
  std::mt19937_64 rng(17);
  for (size_t n : {size_t{1}, size_t{7}, size_t{113}, size_t{513}, size_t{100000}}) {
    H h;
    std::vector<uint64_t> v(n);
    for (auto& x : v) {
      // Log-uniform from 1 ns to ~100 ms, with a few exact small values.
      const double lg = std::uniform_real_distribution<double>(0, 26.6)(rng);
      x = rng() % 10 == 0 ? rng() % 16 : static_cast<uint64_t>(std::exp2(lg));
      h.Record(x);
    }
    ASSERT_EQ(h.count(), n);
    EXPECT_EQ(h.max_ns(), *std::max_element(v.begin(), v.end()));
    EXPECT_EQ(h.min_ns(), *std::min_element(v.begin(), v.end()));
    double sum = 0;
    for (uint64_t x : v) sum += static_cast<double>(x);
    EXPECT_NEAR(h.mean_ns(), sum / static_cast<double>(n), 1e-9 * sum);
    for (double q : {0.01, 0.5, 0.9, 0.99, 0.999, 1.0}) {
      const uint64_t exact = ExactPercentile(v, q);
      const uint64_t got = h.Percentile(q);
      EXPECT_LE(std::fabs(static_cast<double>(got) - static_cast<double>(exact)), static_cast<double>(exact) / 16.0)
          << "n=" << n << " q=" << q << " exact " << exact << " got " << got;
    }
  }
}

TEST(LatencyHistogram, EmptyAndClear) {
  H h;
  EXPECT_EQ(h.Percentile(0.5), 0u);
  EXPECT_EQ(h.mean_ns(), 0.0);
  EXPECT_EQ(h.min_ns(), 0u);
  h.Record(5000);
  EXPECT_EQ(h.Percentile(0.5), 5000u);  // clamped to [min, max]
  h.Clear();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max_ns(), 0u);
  EXPECT_EQ(h.Percentile(0.99), 0u);
}

TEST(LatencyHistogram, ConcurrentRecordersLoseNothing) {
  H h;
  constexpr int kThreads = 4;
  constexpr uint64_t kPer = 50000;
  std::vector<std::thread> t;
  for (int i = 0; i < kThreads; ++i) {
    t.emplace_back([&h, i] {
      for (uint64_t k = 0; k < kPer; ++k) h.Record(1000 * static_cast<uint64_t>(i + 1) + k % 7);
    });
  }
  for (auto& th : t) th.join();
  EXPECT_EQ(h.count(), kThreads * kPer);
  EXPECT_EQ(h.max_ns(), 4006u);
  EXPECT_EQ(h.min_ns(), 1000u);
  // Quartiles: a quarter of the samples sit near each of 1000, 2000, 3000 and 4000 ns.
  EXPECT_NEAR(static_cast<double>(h.Percentile(0.2)), 1003, 1003 / 16.0);
  EXPECT_NEAR(static_cast<double>(h.Percentile(0.45)), 2003, 2003 / 16.0);
  EXPECT_NEAR(static_cast<double>(h.Percentile(0.7)), 3003, 3003 / 16.0);
  EXPECT_NEAR(static_cast<double>(h.Percentile(0.99)), 4003, 4003 / 16.0);
}

TEST(Telemetry, SnapshotWithoutNvml) {
  // ctest runs this binary with GHOSTNV_LIBNVML pointing nowhere.
  Telemetry tel;
  tel.AttachGpu("0000:19:00.0");
  for (uint64_t i = 1; i <= 100; ++i) {
    tel.Record(Stage::kH2D, 3000 + i);
    tel.Record(Stage::kEndToEnd, 10000 + 10 * i);
  }
  const nlohmann::json j = tel.Snapshot();
  ASSERT_TRUE(j.contains("stages"));
  EXPECT_EQ(j["stages"]["h2d"]["count"], 100);
  EXPECT_NEAR(j["stages"]["h2d"]["p50_us"].get<double>(), 3.05, 3.05 / 16);
  EXPECT_NEAR(j["stages"]["h2d"]["max_us"].get<double>(), 3.1, 1e-9);
  EXPECT_NEAR(j["stages"]["end_to_end"]["p99_us"].get<double>(), 10.99, 10.99 / 16);
  EXPECT_EQ(j["stages"]["kernels"]["count"], 0);
  EXPECT_FALSE(j["stages"]["kernels"].contains("p50_us"));
  EXPECT_EQ(j["stages"]["d2h"]["count"], 0);
  EXPECT_TRUE(j["gpu"].is_null());
  if (std::getenv("GHOSTNV_EXPECT_NO_NVML") != nullptr) {
    EXPECT_NE(j["gpu_note"].get<std::string>().find("no NVML"), std::string::npos) << j.dump();
  }
  tel.Clear();
  EXPECT_EQ(tel.Snapshot()["stages"]["h2d"]["count"], 0);
}

TEST(Telemetry, SnapshotWithFakeNvml) {
  absl::StatusOr<std::unique_ptr<NvmlApi>> api = LoadNvml(GHOSTNV_FAKE_LIBNVML);
  ASSERT_TRUE(api.ok()) << api.status();
  absl::StatusOr<NvmlDevice> dev = NvmlDevice::ForPciBusId(**api, "0000:19:00.0");
  ASSERT_TRUE(dev.ok()) << dev.status();
  Telemetry tel;
  tel.AttachGpu(*std::move(dev));
  tel.Record(Stage::kKernels, 4200);
  const nlohmann::json j = tel.Snapshot();
  const nlohmann::json& g = j["gpu"];
  ASSERT_TRUE(g.is_object()) << j.dump();
  EXPECT_FALSE(j.contains("gpu_note"));
  EXPECT_EQ(g["name"], "Fake GPU 9000");
  EXPECT_EQ(g["pci_bus_id"], "0000:19:00.0");
  EXPECT_EQ(g["driver_version"], "999.12.34");
  EXPECT_EQ(g["utilization_gpu_pct"], 37);
  EXPECT_EQ(g["utilization_memory_pct"], 12);
  EXPECT_EQ(g["memory_used_bytes"], 1ULL << 30);
  EXPECT_EQ(g["memory_total_bytes"], 150754820096ULL);
  EXPECT_EQ(g["temperature_c"], 42);
  EXPECT_DOUBLE_EQ(g["power_w"].get<double>(), 123.456);
  EXPECT_DOUBLE_EQ(g["power_limit_w"].get<double>(), 700.0);
  EXPECT_EQ(g["sm_clock_mhz"], 1980);
  EXPECT_EQ(g["memory_clock_mhz"], 3201);
  EXPECT_EQ(g["clocks_event_reasons"], nlohmann::json({"gpu_idle", "sw_power_cap", "0x1000"}));
  EXPECT_EQ(j["stages"]["kernels"]["count"], 1);
  EXPECT_DOUBLE_EQ(j["stages"]["kernels"]["max_us"].get<double>(), 4.2);
}

TEST(Telemetry, GpuSampleJsonLeavesOutAbsentFields) {
  GpuSample s;
  EXPECT_EQ(GpuSampleJson(s), nlohmann::json::object());
  s.power_w = 50.5;
  const nlohmann::json j = GpuSampleJson(s);
  EXPECT_EQ(j.size(), 1u);
  EXPECT_DOUBLE_EQ(j["power_w"].get<double>(), 50.5);
}


// Every stage has a name and a key in the JSON, in Stage order; StageHistograms keeps them apart.
TEST(Telemetry, StagesJsonHasEveryStage) {
  StageHistograms st;
  std::mt19937 rng(7);
  std::vector<uint64_t> dev;
  for (int i = 0; i < 113; ++i) {
    dev.push_back(1000 + rng() % 50000);
    st.Record(Stage::kDevice, dev.back());
  }
  st.Record(Stage::kOutsideKernels, 2500);
  const nlohmann::json j = StagesJson(st);
  ASSERT_EQ(j.size(), static_cast<size_t>(kStageCount)) << j.dump();
  const char* names[] = {"h2d", "kernels", "d2h", "end_to_end", "device", "outside_kernels"};
  for (int s = 0; s < kStageCount; ++s) {
    EXPECT_STREQ(StageName(static_cast<Stage>(s)), names[s]);
    ASSERT_TRUE(j.contains(names[s])) << names[s];
  }
  EXPECT_EQ(j["device"]["count"], 113);
  std::sort(dev.begin(), dev.end());
  const double p50 = static_cast<double>(dev[56]) / 1e3;  // ceil(0.5 * 113) = 57th smallest
  EXPECT_NEAR(j["device"]["p50_us"].get<double>(), p50, p50 / 16);
  EXPECT_DOUBLE_EQ(j["device"]["max_us"].get<double>(), static_cast<double>(dev.back()) / 1e3);
  EXPECT_DOUBLE_EQ(j["outside_kernels"]["p99_us"].get<double>(), 2.5);
  EXPECT_EQ(j["kernels"]["count"], 0);
  EXPECT_FALSE(j["kernels"].contains("p50_us"));
  // The Telemetry snapshot carries the same object.
  Telemetry tel;
  tel.Record(Stage::kDevice, 4000);
  EXPECT_EQ(tel.Snapshot()["stages"]["device"]["count"], 1);
  EXPECT_EQ(tel.stages()[Stage::kDevice].count(), 1u);
  st.Clear();
  EXPECT_EQ(st[Stage::kDevice].count(), 0u);
  EXPECT_EQ(st[Stage::kOutsideKernels].count(), 0u);
}

}  // namespace
}  // namespace ghostnv::runtime
