// Tests for the NVML loader and sampler: a stand-in libnvidia-ml (fake_libnvml.cc) for every
// path without a GPU (label unit), the "no NVML" process (runtime_nvml_test_no_nvml), and the
// real library against the CUDA device on a GPU machine (NvmlGpu.*, skipped without one).
#include "runtime/nvml.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/device.h"

namespace ghostnv::runtime {
namespace {

class FakeNvml : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("FAKE_NVML_INIT");
    unsetenv("FAKE_NVML_UNSUPPORTED");
    unsetenv("FAKE_NVML_BUS_ID");
  }
  void TearDown() override { SetUp(); }
};

TEST_F(FakeNvml, MissingLibraryIsUnavailable) {
  absl::StatusOr<std::unique_ptr<NvmlApi>> api = LoadNvml("/nonexistent/libnvidia-ml.so.1");
  ASSERT_FALSE(api.ok());
  EXPECT_TRUE(absl::IsUnavailable(api.status())) << api.status();
  EXPECT_NE(api.status().message().find("no NVML: cannot load /nonexistent/libnvidia-ml.so.1"), std::string::npos)
      << api.status();
}

TEST_F(FakeNvml, NotAnNvmlLibrary) {
  // The fake libcuda is a shared library without any nvml* symbol.
  absl::StatusOr<std::unique_ptr<NvmlApi>> api = LoadNvml(GHOSTNV_FAKE_LIBCUDA);
  ASSERT_FALSE(api.ok());
  EXPECT_TRUE(absl::IsUnavailable(api.status()));
  EXPECT_NE(api.status().message().find("nvmlInit_v2 not found"), std::string::npos) << api.status();
}

TEST_F(FakeNvml, InitFailureNamesTheError) {
  setenv("FAKE_NVML_INIT", "9", 1);
  absl::StatusOr<std::unique_ptr<NvmlApi>> api = LoadNvml(GHOSTNV_FAKE_LIBNVML);
  ASSERT_FALSE(api.ok());
  EXPECT_TRUE(absl::IsUnavailable(api.status()));
  EXPECT_NE(api.status().message().find("NVML error 9 (Driver Not Loaded)"), std::string::npos) << api.status();
}

TEST_F(FakeNvml, SamplesEveryFieldWithUnits) {
  absl::StatusOr<std::unique_ptr<NvmlApi>> api = LoadNvml(GHOSTNV_FAKE_LIBNVML);
  ASSERT_TRUE(api.ok()) << api.status();
  EXPECT_EQ((*api)->driver_version, "999.12.34");
  for (const char* id : {"0000:19:00.0", "00000000:19:00.0", "0000:19:00.0", "19:00.0"}) {
    absl::StatusOr<NvmlDevice> dev = NvmlDevice::ForPciBusId(**api, id);
    ASSERT_TRUE(dev.ok()) << id << ": " << dev.status();
    EXPECT_EQ(dev->name(), "Fake GPU 9000");
    EXPECT_EQ(dev->pci_bus_id(), id);
  }
  absl::StatusOr<NvmlDevice> dev = NvmlDevice::ForPciBusId(**api, "0000:19:00.0");
  ASSERT_TRUE(dev.ok());
  const GpuSample s = dev->Sample();
  ASSERT_TRUE(s.gpu_utilization_pct && s.memory_utilization_pct);
  EXPECT_EQ(*s.gpu_utilization_pct, 37u);
  EXPECT_EQ(*s.memory_utilization_pct, 12u);
  ASSERT_TRUE(s.memory_used_bytes && s.memory_total_bytes);
  EXPECT_EQ(*s.memory_used_bytes, uint64_t{1} << 30);
  EXPECT_EQ(*s.memory_total_bytes, 150754820096ULL);
  ASSERT_TRUE(s.temperature_c);
  EXPECT_EQ(*s.temperature_c, 42u);  // from nvmlDeviceGetTemperatureV (41 would be the old call)
  ASSERT_TRUE(s.power_w && s.power_limit_w);
  EXPECT_DOUBLE_EQ(*s.power_w, 123.456);
  EXPECT_DOUBLE_EQ(*s.power_limit_w, 700.0);
  ASSERT_TRUE(s.sm_clock_mhz && s.memory_clock_mhz);
  EXPECT_EQ(*s.sm_clock_mhz, 1980u);
  EXPECT_EQ(*s.memory_clock_mhz, 3201u);
  ASSERT_TRUE(s.clocks_event_reasons);
  EXPECT_EQ(*s.clocks_event_reasons, 0x1005u);
  const std::vector<std::string> names = ClocksEventReasonNames(*s.clocks_event_reasons);
  EXPECT_EQ(names, (std::vector<std::string>{"gpu_idle", "sw_power_cap", "0x1000"}));
}

TEST_F(FakeNvml, UnknownBusIdIsNotFound) {
  absl::StatusOr<std::unique_ptr<NvmlApi>> api = LoadNvml(GHOSTNV_FAKE_LIBNVML);
  ASSERT_TRUE(api.ok());
  for (const char* id : {"0000:1a:00.0", "0001:19:00.0", "garbage"}) {
    absl::StatusOr<NvmlDevice> dev = NvmlDevice::ForPciBusId(**api, id);
    ASSERT_FALSE(dev.ok()) << id;
    EXPECT_TRUE(absl::IsNotFound(dev.status())) << dev.status();
    EXPECT_NE(dev.status().message().find(id), std::string::npos) << dev.status();
  }
  setenv("FAKE_NVML_BUS_ID", "0000:1A:00.0", 1);
  EXPECT_TRUE(NvmlDevice::ForPciBusId(**api, "0000:1a:00.0").ok());
}

TEST_F(FakeNvml, UnsupportedQueriesLeaveFieldsEmpty) {
  absl::StatusOr<std::unique_ptr<NvmlApi>> api = LoadNvml(GHOSTNV_FAKE_LIBNVML);
  ASSERT_TRUE(api.ok());
  absl::StatusOr<NvmlDevice> dev = NvmlDevice::ForPciBusId(**api, "0000:19:00.0");
  ASSERT_TRUE(dev.ok());
  setenv("FAKE_NVML_UNSUPPORTED", "nvmlDeviceGetTemperatureV", 1);
  const GpuSample old = dev->Sample();
  ASSERT_TRUE(old.temperature_c);
  EXPECT_EQ(*old.temperature_c, 41u);  // fell back to nvmlDeviceGetTemperature
  setenv("FAKE_NVML_UNSUPPORTED",
         "nvmlDeviceGetPowerUsage,nvmlDeviceGetTemperatureV,nvmlDeviceGetTemperature,"
         "nvmlDeviceGetCurrentClocksEventReasons", 1);
  const GpuSample s = dev->Sample();
  EXPECT_FALSE(s.power_w);
  EXPECT_FALSE(s.temperature_c);
  EXPECT_FALSE(s.clocks_event_reasons);
  EXPECT_TRUE(s.power_limit_w);
  EXPECT_TRUE(s.gpu_utilization_pct);
  EXPECT_TRUE(s.memory_total_bytes);
  EXPECT_TRUE(s.sm_clock_mhz);
}

TEST_F(FakeNvml, MissingOptionalEntryPointsLeaveFieldsEmpty) {
  absl::StatusOr<std::unique_ptr<NvmlApi>> api = LoadNvml(GHOSTNV_FAKE_LIBNVML_MINIMAL);
  ASSERT_TRUE(api.ok()) << api.status();
  EXPECT_EQ((*api)->DeviceGetPowerUsage, nullptr);
  EXPECT_TRUE((*api)->driver_version.empty());
  absl::StatusOr<NvmlDevice> dev = NvmlDevice::ForPciBusId(**api, "0000:19:00.0");
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_TRUE(dev->name().empty());
  const GpuSample s = dev->Sample();
  EXPECT_FALSE(s.gpu_utilization_pct || s.memory_utilization_pct || s.memory_used_bytes || s.memory_total_bytes ||
               s.temperature_c || s.power_w || s.power_limit_w || s.sm_clock_mhz || s.memory_clock_mhz ||
               s.clocks_event_reasons);
}

TEST(ClocksEventReasons, Names) {
  EXPECT_TRUE(ClocksEventReasonNames(0).empty());
  EXPECT_EQ(ClocksEventReasonNames(0x1FF).size(), 9u);
  EXPECT_EQ(ClocksEventReasonNames(0x40), (std::vector<std::string>{"hw_thermal_slowdown"}));
  EXPECT_EQ(ClocksEventReasonNames(uint64_t{1} << 63), (std::vector<std::string>{"0x8000000000000000"}));
}

// Run by the ctest entry runtime_nvml_test_no_nvml with GHOSTNV_LIBNVML pointing nowhere.
TEST(NoNvml, ProcessWideLoaderAnswersUnavailable) {
  if (std::getenv("GHOSTNV_EXPECT_NO_NVML") == nullptr) GTEST_SKIP() << "only in the no-NVML process";
  absl::StatusOr<const NvmlApi*> api = Nvml();
  ASSERT_FALSE(api.ok());
  EXPECT_TRUE(absl::IsUnavailable(api.status()));
  absl::StatusOr<NvmlDevice> dev = NvmlDevice::ForPciBusId("0000:19:00.0");
  EXPECT_TRUE(absl::IsUnavailable(dev.status())) << dev.status();
}

// The real NVML and the real CUDA device (GPU machines; skipped elsewhere).
TEST(NvmlGpu, ReadsTheCudaDeviceByBusId) {
  absl::StatusOr<DeviceInfo> cuda = FindDevice("cuda:0");
  if (!cuda.ok()) {
    if (absl::IsUnavailable(cuda.status())) GTEST_SKIP() << "no GPU: " << cuda.status().message();
    FAIL() << cuda.status();
  }
  absl::StatusOr<NvmlDevice> dev = NvmlDevice::ForPciBusId(cuda->pci_bus_id);
  ASSERT_TRUE(dev.ok()) << "a GPU but no NVML for it: " << dev.status();
  EXPECT_EQ(dev->name(), cuda->name);
  const GpuSample s = dev->Sample();
  ASSERT_TRUE(s.memory_total_bytes);
  // NVML and CUDA count the same memory (NVML may include a reserved part): within 5 %.
  EXPECT_NEAR(static_cast<double>(*s.memory_total_bytes), static_cast<double>(cuda->total_memory),
              0.05 * static_cast<double>(cuda->total_memory));
  if (s.temperature_c) {
    EXPECT_GT(*s.temperature_c, 0u);
    EXPECT_LT(*s.temperature_c, 120u);
  }
  if (s.sm_clock_mhz) {
    EXPECT_GT(*s.sm_clock_mhz, 0u);
  }
  if (s.power_w && s.power_limit_w) {
    EXPECT_LE(*s.power_w, *s.power_limit_w * 1.5);
  }
  if (s.gpu_utilization_pct) {
    EXPECT_LE(*s.gpu_utilization_pct, 100u);
  }
  std::printf("NVML %s: %s util %s%% mem %s/%s B temp %s C power %s/%s W sm %s MHz mem %s MHz events %s\n",
              dev->api().driver_version.c_str(), dev->name().c_str(),
              s.gpu_utilization_pct ? std::to_string(*s.gpu_utilization_pct).c_str() : "-",
              s.memory_used_bytes ? std::to_string(*s.memory_used_bytes).c_str() : "-",
              s.memory_total_bytes ? std::to_string(*s.memory_total_bytes).c_str() : "-",
              s.temperature_c ? std::to_string(*s.temperature_c).c_str() : "-",
              s.power_w ? std::to_string(*s.power_w).c_str() : "-",
              s.power_limit_w ? std::to_string(*s.power_limit_w).c_str() : "-",
              s.sm_clock_mhz ? std::to_string(*s.sm_clock_mhz).c_str() : "-",
              s.memory_clock_mhz ? std::to_string(*s.memory_clock_mhz).c_str() : "-",
              s.clocks_event_reasons ? std::to_string(*s.clocks_event_reasons).c_str() : "-");
}

}  // namespace
}  // namespace ghostnv::runtime
