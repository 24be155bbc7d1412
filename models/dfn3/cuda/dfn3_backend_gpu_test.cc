// GPU test (label gpu; skips "no GPU: " without a device, and without the data of
// dfn3_cuda_plan_test: $GHOSTNV_DFN3_CUDA_DATA) of DeepFilterNet3 behind the CUDA backend:
// RealtimeCudaFamily over CreateDfn3BackendPlan (what runtime/sched's factory builds for family
// "dfn3") through sched::Stream, 1 and 2 channels at 48 kHz with odd call sizes, on the converted
// published model and real noisy speech, against the CPU family through the same Stream: SNR of
// the difference >= 60 dB per channel, no fallback.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "models/cuda_test_util.h"
#include "models/dfn3/cuda/dfn3_backend_plan.h"
#include "models/family.h"
#include "models/model_loader.h"
#include "models/stream_test_util.h"
#include "runtime/sched/cuda_backend.h"
#include "runtime/sched/stream.h"
#include "runtime/telemetry_test_util.h"

namespace ghostnv::models::dfn3 {
namespace {

TEST(Dfn3BackendGpu, RealtimeCudaFamilyMatchesTheCpuFamily) {
  const models::testing::CudaTestData data = models::testing::LoadCudaTestData(
      "GHOSTNV_DFN3_CUDA_DATA", "DFN3", "dfn3.gnvm", {"noisy48k.f32"});
  if (!data.skip.empty()) GTEST_SKIP() << data.skip;
  const std::vector<float>& noisy = data.noisy[0];
  absl::StatusOr<std::unique_ptr<Family>> cpu_or = CreateFamily(data.model);
  ASSERT_TRUE(cpu_or.ok()) << cpu_or.status();
  std::shared_ptr<const Family> cpu(std::move(*cpu_or));

  for (int channels : {1, 2}) {
    sched::CudaPlanOptions o;
    o.max_sessions = 2 * channels;
    o.realtime = true;
    absl::StatusOr<std::unique_ptr<sched::CudaPlan>> plan = CreateDfn3BackendPlan(data.model, o);
    if (!plan.ok() && absl::IsUnavailable(plan.status())) GTEST_SKIP() << "no GPU: " << plan.status();
    ASSERT_TRUE(plan.ok()) << plan.status();
    auto fam = sched::RealtimeCudaFamily::Create(std::move(*plan), cpu, {});
    ASSERT_TRUE(fam.ok()) << fam.status();
    const size_t frames = std::min<size_t>(noisy.size() / 2, 48000 * 3);
    std::vector<float> in(frames * static_cast<size_t>(channels));
    for (size_t i = 0; i < frames; ++i)
      for (int c = 0; c < channels; ++c)
        in[i * channels + c] = noisy[i + static_cast<size_t>(c) * frames] * (c == 0 ? 1.f : 0.6f);
    const std::vector<float> want = models::testing::RunStream(cpu, in, 48000, channels, {1024});
    const std::vector<float> got =
        models::testing::RunStream(*fam, in, 48000, channels, {480, 7, 113, 1000, 1, 513});
    for (int c = 0; c < channels; ++c) {
      double s = 0, e = 0;
      for (size_t i = 0; i < frames; ++i) {
        const double w = want[i * channels + c], g = got[i * channels + c];
        ASSERT_TRUE(std::isfinite(g)) << i;
        s += w * w;
        e += (g - w) * (g - w);
      }
      const double snr = 10 * std::log10(s / std::max(e, 1e-30));
      std::printf("backend cuda, %d channel(s), channel %d: SNR of the difference to the CPU %.1f dB\n",
                  channels, c, snr);
      EXPECT_GE(snr, 60.0);
    }
    EXPECT_EQ((*fam)->telemetry().fallback_events, 0u);
    EXPECT_EQ((*fam)->telemetry().active, "cuda");
    // Telemetry: h2d / kernels / d2h / device of every hop (event-record nodes in the graph).
    const sched::BackendTelemetry t = (*fam)->telemetry();
    EXPECT_EQ(runtime::StageTimesProblem(t.stages, t.gpu_hops, /*split=*/true), "");
    std::printf("  stages %s\n", sched::StagesJson(t).c_str());
  }
}

}  // namespace
}  // namespace ghostnv::models::dfn3
