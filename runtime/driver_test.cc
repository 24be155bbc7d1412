// Tests for runtime/driver.h and runtime/device.h that need no GPU: the "no driver" path (a
// missing library, a library that is not a driver, a driver that is too old, lacks an entry
// point or finds no device — the last three through fake_libcuda.cc), error text and codes, PCI
// bus ids and render-node matching on a fake sysfs tree, device selectors.
// The NoDriver suite runs in its own ctest entry with GHOSTNV_LIBCUDA pointing nowhere.
#include "runtime/driver.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "runtime/context.h"
#include "runtime/device.h"
#include "runtime/gpu_ops.h"
#include "runtime/test_tmpdir.h"

namespace ghostnv::runtime {
namespace {

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(LoadDriver, MissingLibraryIsUnavailable) {
  absl::StatusOr<std::unique_ptr<DriverApi>> d = LoadDriver("/nonexistent/dir/libcuda.so.1");
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(absl::IsUnavailable(d.status()));
  EXPECT_PRED2(Contains, std::string(d.status().message()), "no NVIDIA driver");
  EXPECT_PRED2(Contains, std::string(d.status().message()), "/nonexistent/dir/libcuda.so.1");
}

TEST(LoadDriver, NonDriverLibraryIsUnavailable) {
  absl::StatusOr<std::unique_ptr<DriverApi>> d = LoadDriver("libm.so.6");
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(absl::IsUnavailable(d.status()));
  EXPECT_PRED2(Contains, std::string(d.status().message()), "not a usable CUDA driver");
}

class FakeDriver : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("FAKE_CUDA_VERSION");
    unsetenv("FAKE_CUDA_INIT");
    unsetenv("FAKE_CUDA_MISSING");
  }
  void TearDown() override { SetUp(); }
  const std::string path_ = GHOSTNV_FAKE_LIBCUDA;
};

TEST_F(FakeDriver, NoDeviceIsUnavailable) {
  absl::StatusOr<std::unique_ptr<DriverApi>> d = LoadDriver(path_);
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(absl::IsUnavailable(d.status()));
  EXPECT_PRED2(Contains, std::string(d.status().message()), "no CUDA device");
  EXPECT_PRED2(Contains, std::string(d.status().message()), "CUDA 12.4");
}

TEST_F(FakeDriver, TooOldDriverIsNamed) {
  setenv("FAKE_CUDA_VERSION", "11080", 1);
  absl::StatusOr<std::unique_ptr<DriverApi>> d = LoadDriver(path_);
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(absl::IsUnavailable(d.status()));
  EXPECT_PRED2(Contains, std::string(d.status().message()), "too old");
  EXPECT_PRED2(Contains, std::string(d.status().message()), "11.8");
}

TEST_F(FakeDriver, MissingEntryPointIsNamed) {
  setenv("FAKE_CUDA_MISSING", "cuGraphLaunch", 1);
  absl::StatusOr<std::unique_ptr<DriverApi>> d = LoadDriver(path_);
  ASSERT_FALSE(d.ok());
  EXPECT_PRED2(Contains, std::string(d.status().message()), "cuGraphLaunch");
}

TEST_F(FakeDriver, InitFailureNamesTheCall) {
  setenv("FAKE_CUDA_INIT", "999", 1);
  absl::StatusOr<std::unique_ptr<DriverApi>> d = LoadDriver(path_);
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(absl::IsInternal(d.status()));
  EXPECT_PRED2(Contains, std::string(d.status().message()), "cuInit failed");
  EXPECT_PRED2(Contains, std::string(d.status().message()), "CUDA_ERROR_UNKNOWN");
}

TEST_F(FakeDriver, SuccessfulLoadFillsEveryEntry) {
  setenv("FAKE_CUDA_INIT", "0", 1);
  absl::StatusOr<std::unique_ptr<DriverApi>> d = LoadDriver(path_);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)->driver_version, 12040);
  EXPECT_NE((*d)->LaunchKernel, nullptr);
  EXPECT_NE((*d)->GraphDestroy, nullptr);
  EXPECT_NE((*d)->MemHostAlloc, nullptr);
}

// Runs only in the ctest entry runtime_driver_test_no_driver (GHOSTNV_LIBCUDA=/nonexistent...).
TEST(NoDriver, EveryEntryPointReportsItClearly) {
  if (std::getenv("GHOSTNV_EXPECT_NO_DRIVER") == nullptr)
    GTEST_SKIP() << "runs in the runtime_driver_test_no_driver ctest entry";
  absl::StatusOr<const DriverApi*> d = Driver();
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(absl::IsUnavailable(d.status()));
  EXPECT_PRED2(Contains, std::string(d.status().message()), "no NVIDIA driver");
  // The same answer every time, and from every function that needs the driver.
  EXPECT_EQ(Driver().status(), d.status());
  EXPECT_EQ(ListDevices().status(), d.status());
  EXPECT_EQ(FindDevice("cuda:0").status(), d.status());
  EXPECT_EQ(FindDevice("0000:19:00.0").status(), d.status());
  DeviceInfo fake;
  EXPECT_EQ(Context::Retain(fake).status(), d.status());
}

TEST(CuError, TextNamesCallResourceAndCode) {
  DriverApi api;  // no driver functions: names come from the built-in table
  absl::Status st = CuError(api, cu::kErrorOutOfMemory, "cuMemAlloc",
                            "allocating 4096 bytes on device 0 (NVIDIA H200, sm_90)");
  EXPECT_TRUE(absl::IsResourceExhausted(st));
  EXPECT_EQ(st.message(),
            "cuMemAlloc failed allocating 4096 bytes on device 0 (NVIDIA H200, sm_90): "
            "CUDA_ERROR_OUT_OF_MEMORY");
  EXPECT_TRUE(absl::IsUnavailable(CuError(api, cu::kErrorNoDevice, "cuInit", "x")));
  EXPECT_TRUE(absl::IsNotFound(CuError(api, cu::kErrorNotFound, "cuModuleGetFunction", "x")));
  EXPECT_TRUE(absl::IsInternal(CuError(api, cu::kErrorIllegalAddress, "cuStreamSynchronize", "x")));
  EXPECT_EQ(CuResultName(nullptr, cu::kErrorNotReady), "CUDA_ERROR_NOT_READY");
  EXPECT_EQ(CuResultName(nullptr, 12345), "CUDA_ERROR_12345");
}

TEST(CuError, StickyErrors) {
  EXPECT_TRUE(IsStickyError(cu::kErrorIllegalAddress));
  EXPECT_TRUE(IsStickyError(cu::kErrorLaunchFailed));
  EXPECT_TRUE(IsStickyError(cu::kErrorEccUncorrectable));
  EXPECT_FALSE(IsStickyError(cu::kSuccess));
  EXPECT_FALSE(IsStickyError(cu::kErrorNotReady));
  EXPECT_FALSE(IsStickyError(cu::kErrorOutOfMemory));
}

TEST(PciBusId, Normalize) {
  EXPECT_EQ(NormalizePciBusId("0000:19:00.0"), "0000:19:00.0");
  EXPECT_EQ(NormalizePciBusId("0000:1B:00.0"), "0000:1b:00.0");
  EXPECT_EQ(NormalizePciBusId("1b:00.0"), "0000:1b:00.0");
  EXPECT_EQ(NormalizePciBusId("1:0.0"), "0000:01:00.0");
  EXPECT_EQ(NormalizePciBusId("00000001:65:00.0"), "00000001:65:00.0");
  EXPECT_EQ(NormalizePciBusId("cuda:0"), "");
  EXPECT_EQ(NormalizePciBusId("19:00"), "");
  EXPECT_EQ(NormalizePciBusId("zz:00.0"), "");
  EXPECT_EQ(NormalizePciBusId("0000:119:00.0"), "");
  EXPECT_EQ(NormalizePciBusId(""), "");
}

TEST(PciBusId, RenderNodeFromFakeSysfs) {
  testing::TempDir tmp;
  namespace fs = std::filesystem;
  const fs::path root = tmp.path();
  // /sys/devices/.../0000:19:00.0 and 0000:3b:00.0; drm class entries link to them.
  fs::create_directories(root / "devices/pci0000:00/0000:19:00.0");
  fs::create_directories(root / "devices/pci0000:00/0000:3b:00.0");
  fs::create_directories(root / "class/drm/card0");
  fs::create_directories(root / "class/drm/renderD128");
  fs::create_directories(root / "class/drm/renderD129");
  fs::create_directory_symlink(root / "devices/pci0000:00/0000:19:00.0", root / "class/drm/card0/device");
  fs::create_directory_symlink(root / "devices/pci0000:00/0000:19:00.0", root / "class/drm/renderD128/device");
  fs::create_directory_symlink(root / "devices/pci0000:00/0000:3b:00.0", root / "class/drm/renderD129/device");
  const std::string drm = (root / "class/drm").string();
  EXPECT_EQ(RenderNodeForPciBusId("0000:19:00.0", drm), "/dev/dri/renderD128");
  EXPECT_EQ(RenderNodeForPciBusId("3B:00.0", drm), "/dev/dri/renderD129");
  EXPECT_EQ(RenderNodeForPciBusId("0000:5e:00.0", drm), "");
  EXPECT_EQ(RenderNodeForPciBusId("0000:19:00.0", (root / "missing").string()), "");
}

TEST(FindDevice, MalformedSelectorIsInvalidArgumentEvenWithoutDriver) {
  absl::StatusOr<DeviceInfo> d = FindDevice("gpu-number-one");
  EXPECT_TRUE(absl::IsInvalidArgument(d.status())) << d.status();
  EXPECT_PRED2(Contains, std::string(d.status().message()), "cuda:N");
}

TEST(DeviceInfo, Describe) {
  DeviceInfo d;
  d.ordinal = 1;
  d.name = "NVIDIA H200";
  d.cc_major = 9;
  d.cc_minor = 0;
  d.pci_bus_id = "0000:19:00.0";
  EXPECT_EQ(d.ArchName(), "sm_90");
  EXPECT_EQ(d.Describe(), "device 1 (NVIDIA H200, sm_90, 0000:19:00.0)");
}

TEST(FftRadices, FactorsInto2345) {
  EXPECT_EQ(FftRadices(480), (std::vector<int>{4, 4, 2, 3, 5}));
  EXPECT_EQ(FftRadices(256), (std::vector<int>{4, 4, 4, 4}));
  EXPECT_EQ(FftRadices(1), std::vector<int>{});
  EXPECT_EQ(FftRadices(7), std::vector<int>{});
  EXPECT_EQ(FftRadices(0), std::vector<int>{});
}

}  // namespace
}  // namespace ghostnv::runtime
