// runtime/sched/cuda_plan_unit_test.cc — CudaPlan checks that need no GPU: model validation
// happens before any device work, and without a driver Create says so (Unavailable).
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/rnnoise_layout.cuh"
#include "models/rnnoise/rnnoise_family.h"
#include "runtime/device.h"
#include "runtime/sched/cuda_plan.h"

namespace ghostnv::sched {
namespace {

TEST(CudaPlanUnit, LayoutMatchesTheCpuFamily) {
  EXPECT_EQ(RNN_HOP, models::rnnoise::kHop);
  EXPECT_EQ(RNN_WINDOW, models::rnnoise::kWindow);
  EXPECT_EQ(RNN_BINS, models::rnnoise::kBins);
  EXPECT_EQ(RNN_BANDS, models::rnnoise::kBands);
  EXPECT_EQ(RNN_FEATURES, models::rnnoise::kFeatures);
  EXPECT_GE(RNN_SPEC_STRIDE, 2 * RNN_BINS);
  EXPECT_GE(RNN_ST_GRU, RNN_ST_LASTG + RNN_BANDS);
}

TEST(CudaPlanUnit, RejectsMissingModel) {
  absl::StatusOr<std::unique_ptr<CudaPlan>> p = CudaPlan::Create(nullptr, CudaPlanOptions{});
  EXPECT_TRUE(absl::IsInvalidArgument(p.status())) << p.status();
}

TEST(CudaPlanUnit, RejectsOtherFamiliesBeforeTouchingTheDevice) {
  auto m = std::make_shared<models::Model>();
  m->family = std::string("not-rnnoise");
  m->name = std::string("x");
  absl::StatusOr<std::unique_ptr<CudaPlan>> p = CudaPlan::Create(m, CudaPlanOptions{});
  EXPECT_TRUE(absl::IsInvalidArgument(p.status())) << p.status();
  m->family = std::string("rnnoise");  // no layers
  p = CudaPlan::Create(m, CudaPlanOptions{});
  EXPECT_TRUE(absl::IsInvalidArgument(p.status())) << p.status();
}

TEST(CudaPlanUnit, NoDriverIsUnavailable) {
  if (runtime::ListDevices().ok()) GTEST_SKIP() << "a GPU is present; covered by sched_cuda_plan_test";
  std::shared_ptr<const models::Model> m;
  {
    // A structurally valid rnnoise model (tiny, zero weights).
    auto model = std::make_shared<models::Model>();
    auto store = std::make_shared<std::vector<std::vector<float>>>();
    auto tensor = [&](size_t n) { store->emplace_back(n, 0.f); return store->back().data(); };
    model->family = "rnnoise";
    model->name = "zeros";
    auto add = [&](const char* name, models::LayerKind kind, int in, int units) {
      models::Layer l;
      l.name = name;
      l.kind = kind;
      l.inputs = in;
      l.units = units;
      const int g = kind == models::LayerKind::kGru ? 3 : 1;
      l.weights = tensor(static_cast<size_t>(in) * units * g);
      l.bias = tensor(static_cast<size_t>(units) * g);
      if (kind == models::LayerKind::kGru) l.recurrent = tensor(static_cast<size_t>(units) * units * 3);
      model->layers.push_back(l);
    };
    add("input_dense", models::LayerKind::kDense, 42, 4);
    add("vad_gru", models::LayerKind::kGru, 4, 4);
    add("noise_gru", models::LayerKind::kGru, 4 + 4 + 42, 4);
    add("denoise_gru", models::LayerKind::kGru, 4 + 4 + 42, 4);
    add("denoise_output", models::LayerKind::kDense, 4, 22);
    add("vad_output", models::LayerKind::kDense, 4, 1);
    model->storage = store;
    m = model;
  }
  absl::StatusOr<std::unique_ptr<CudaPlan>> p = CudaPlan::Create(m, CudaPlanOptions{});
  EXPECT_TRUE(absl::IsUnavailable(p.status())) << p.status();
}

// The default network precision: the split tensor-core network for batched plans of
// kAutoTcMinSessions slots and more, the fp32 kernels below; an explicit choice is kept.
TEST(CudaPlanUnit, AutoNetworkPrecisionDependsOnThePlanSize) {
  EXPECT_EQ(CudaPlanOptions{}.network, NetworkPrecision::kAuto);
  EXPECT_EQ(ResolveNetworkPrecision(NetworkPrecision::kAuto, 1), NetworkPrecision::kFp32);
  EXPECT_EQ(ResolveNetworkPrecision(NetworkPrecision::kAuto, kAutoTcMinSessions - 1), NetworkPrecision::kFp32);
  EXPECT_EQ(ResolveNetworkPrecision(NetworkPrecision::kAuto, kAutoTcMinSessions), NetworkPrecision::kFp16x3);
  EXPECT_EQ(ResolveNetworkPrecision(NetworkPrecision::kAuto, 65536), NetworkPrecision::kFp16x3);
  for (NetworkPrecision p : {NetworkPrecision::kFp32, NetworkPrecision::kFp16, NetworkPrecision::kFp16x3}) {
    EXPECT_EQ(ResolveNetworkPrecision(p, 1), p);
    EXPECT_EQ(ResolveNetworkPrecision(p, 65536), p);
  }
}

}  // namespace
}  // namespace ghostnv::sched
