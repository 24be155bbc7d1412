// Backend selection. Runs three ways (runtime/sched/CMakeLists.txt): as is (whatever this
// machine has: a GPU or not), with GHOSTNV_LIBCUDA pointing at nothing (no driver), and with the
// stand-in libcuda that loads but reports no device.
#include "runtime/sched/backend.h"

#include <cstdlib>

#include "gtest/gtest.h"
#include "runtime/device.h"

namespace ghostnv::sched {
namespace {

bool Env(const char* name) { return std::getenv(name) != nullptr; }

TEST(BackendTest, Parses) {
  EXPECT_EQ(*ParseBackendKind("auto"), BackendKind::kAuto);
  EXPECT_EQ(*ParseBackendKind("CPU"), BackendKind::kCpu);
  EXPECT_EQ(*ParseBackendKind("cuda"), BackendKind::kCuda);
  auto bad = ParseBackendKind("opencl");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("opencl"), std::string::npos);
  EXPECT_FALSE(ParseBackendKind("").ok());
  EXPECT_STREQ(BackendKindName(BackendKind::kCuda), "cuda");
}

TEST(BackendTest, ParsesDevices) {
  struct Case {
    const char* text;
    BackendKind kind;
    const char* device;
    const char* spelling;
  };
  for (const Case& c : {Case{"auto", BackendKind::kAuto, "", "auto"},
                        Case{"Cpu", BackendKind::kCpu, "", "cpu"},
                        Case{"cuda", BackendKind::kCuda, "", "cuda"},
                        Case{"cuda:0", BackendKind::kCuda, "0", "cuda:0"},
                        Case{"CUDA:12", BackendKind::kCuda, "12", "cuda:12"},
                        Case{"3", BackendKind::kCuda, "3", "cuda:3"},
                        Case{"0000:19:00.0", BackendKind::kCuda, "0000:19:00.0", "0000:19:00.0"},
                        Case{"19:00.0", BackendKind::kCuda, "0000:19:00.0", "0000:19:00.0"},
                        Case{"cuda:0000:3B:00.0", BackendKind::kCuda, "0000:3b:00.0",
                             "0000:3b:00.0"}}) {
    auto r = ParseBackend(c.text);
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.status();
    EXPECT_EQ(r->kind, c.kind) << c.text;
    EXPECT_EQ(r->device, c.device) << c.text;
    EXPECT_EQ(r->Spelling(), c.spelling) << c.text;
  }
  for (const char* bad : {"", "opencl", "cuda:", "cuda:-1", "cuda:x", "gpu", "cuda:99999",
                          "19:00", "cuda 0"}) {
    auto r = ParseBackend(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("cuda:N"), std::string::npos) << r.status();
  }
}

TEST(BackendTest, CpuIsQuiet) {
  auto b = SelectBackend(BackendKind::kCpu);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->kind, BackendKind::kCpu);
  EXPECT_TRUE(b->note.empty());
  EXPECT_TRUE(b->device.empty());
}

TEST(BackendTest, FamiliesWithoutAPlanStayOnTheCpu) {
  EXPECT_TRUE(FamilyHasCudaPlan("rnnoise"));
  EXPECT_TRUE(FamilyHasCudaPlan("ultra"));
  EXPECT_TRUE(FamilyHasCudaPlan("Ultra"));
  EXPECT_TRUE(FamilyHasCudaPlan("dtln"));  // DtlnCudaPlan (models/dtln/cuda/dtln_backend_plan.h)
  EXPECT_TRUE(FamilyHasCudaPlan("demucs"));  // models/demucs/cuda/demucs_backend_plan.h
  EXPECT_TRUE(FamilyHasCudaPlan("dfn3"));  // Dfn3CudaPlan (models/dfn3/cuda/dfn3_backend_plan.h)
  EXPECT_FALSE(FamilyHasCudaPlan("custom"));  // a family with no GPU plan
  auto a = SelectBackend(BackendKind::kAuto, "custom");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, BackendKind::kCpu);
  EXPECT_EQ(a->note, "using the CPU: the model family 'custom' has no GPU backend in this build");
  auto c = SelectBackend(*ParseBackend("cuda:0"), "custom");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(c.status().message(),
            "--backend cuda:0: the model family 'custom' has no CUDA backend in this build");
}

// Whatever this machine has, auto and cuda agree with the device list.
TEST(BackendTest, AgreesWithTheDeviceList) {
  auto devices = runtime::ListDevices();
  auto a = SelectBackend(BackendKind::kAuto);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->note.find('\n'), std::string::npos);
  EXPECT_FALSE(a->note.empty());
  auto c = SelectBackend(BackendKind::kCuda);
  if (devices.ok() && !devices->empty()) {
    EXPECT_EQ(a->kind, BackendKind::kCuda);
    EXPECT_EQ(a->device, "cuda:0");
    EXPECT_EQ(a->device_name, devices->front().Describe());
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->device, "cuda:0");
    EXPECT_TRUE(c->note.empty());
    // A device index past the end names the devices that exist.
    BackendRequest r{BackendKind::kCuda, std::to_string(devices->size())};
    auto past = SelectBackend(r);
    ASSERT_FALSE(past.ok());
    EXPECT_EQ(past.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(past.status().message().rfind("--backend cuda:" + r.device + ": ", 0), 0u)
        << past.status();
    // The bus id of device 0 selects it.
    auto bus = SelectBackend(*ParseBackend(devices->front().pci_bus_id));
    ASSERT_TRUE(bus.ok()) << bus.status();
    EXPECT_EQ(bus->device, "cuda:0");
  } else {
    EXPECT_EQ(a->kind, BackendKind::kCpu);
    EXPECT_NE(a->note.find("using the CPU: "), std::string::npos) << a->note;
    EXPECT_NE(a->note.find("no GPU backend in this build"), std::string::npos) << a->note;
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(c.status().message().rfind("--backend cuda: ", 0), 0u) << c.status();
    EXPECT_NE(c.status().message().find("no CUDA backend"), std::string::npos) << c.status();
    auto one = SelectBackend(*ParseBackend("cuda:1"));
    ASSERT_FALSE(one.ok());
    EXPECT_EQ(one.status().message().rfind("--backend cuda:1: ", 0), 0u) << one.status();
  }
}

TEST(BackendTest, NoDriver) {
  if (!Env("GHOSTNV_EXPECT_NO_DRIVER")) GTEST_SKIP() << "runs as sched_backend_test_no_driver";
  auto a = SelectBackend(BackendKind::kAuto);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, BackendKind::kCpu);
  EXPECT_EQ(a->note.rfind("using the CPU: no NVIDIA driver (cannot load /nonexistent/libcuda.so.1", 0),
            0u)
      << a->note;
  auto c = SelectBackend(*ParseBackend("0000:19:00.0"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(c.status().message().rfind("--backend 0000:19:00.0: no NVIDIA driver (", 0), 0u)
      << c.status();
}

TEST(BackendTest, NoDevice) {
  if (!Env("GHOSTNV_EXPECT_NO_DEVICE")) GTEST_SKIP() << "runs as sched_backend_test_no_device";
  auto a = SelectBackend(BackendKind::kAuto);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, BackendKind::kCpu);
  EXPECT_NE(a->note.find("CUDA_ERROR_NO_DEVICE"), std::string::npos) << a->note;
  auto c = SelectBackend(BackendKind::kCuda);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("CUDA_ERROR_NO_DEVICE"), std::string::npos) << c.status();
}

}  // namespace
}  // namespace ghostnv::sched
