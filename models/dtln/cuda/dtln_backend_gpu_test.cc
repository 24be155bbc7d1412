// GPU test (label gpu; skips "no GPU: " without a device) of `--backend cuda` for DTLN: the
// converted published DTLN (GHOSTNV_DTLN_CUDA_DATA, the ctest fixture dtln_cuda_data, as
// dtln_cuda_plan_test) goes through the backend exactly as the library and ghostnv-denoise do
// (SelectBackend(auto, "dtln") → MakeBackendFamily with the default plan factory →
// RealtimeCudaFamily over DtlnCudaPlan → sched::Stream), on real noisy speech, 1 and 2
// channels at 16 kHz (odd call sizes) and 1 channel at a 48 kHz host rate (resampled), against
// the CPU DTLN family through the same Stream: SNR of the difference >= 60 dB per channel, no
// fallback, every hop on the GPU. Also the batched Scheduler over the same adapter (5 sessions,
// batches of 5 rows): each session >= 60 dB against its own CPU channel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "models/family.h"
#include "models/model_loader.h"
#include "models/stream_test_util.h"
#include "runtime/sched/backend.h"
#include "models/dtln/cuda/dtln_backend_plan.h"
#include "models/dtln/cuda/dtln_cuda_test_data.h"
#include "runtime/sched/cuda_backend.h"
#include "runtime/sched/scheduler.h"
#include "runtime/sched/stream.h"
#include "runtime/telemetry_test_util.h"

namespace ghostnv::models::dtln {
namespace {

const testing::TestData& TestData() { return testing::LoadTestData(2); }

using models::testing::RunStream;  // models/stream_test_util.h

TEST(DtlnBackendGpu, CudaBackendMatchesTheCpuFamily) {
  const testing::TestData& data = TestData();
  if (!data.skip.empty()) GTEST_SKIP() << data.skip;
  absl::StatusOr<sched::BackendChoice> probe = sched::SelectBackend(sched::BackendKind::kAuto, "dtln");
  ASSERT_TRUE(probe.ok()) << probe.status();
  if (probe->kind != sched::BackendKind::kCuda) GTEST_SKIP() << "no GPU: " << probe->note;

  absl::StatusOr<std::unique_ptr<Family>> cpu_or = CreateFamily(data.model);
  ASSERT_TRUE(cpu_or.ok()) << cpu_or.status();
  std::shared_ptr<const Family> cpu(std::move(*cpu_or));

  struct Case {
    int rate, channels;
  };
  for (const Case c : {Case{16000, 1}, Case{16000, 2}, Case{48000, 1}}) {
    sched::BackendChoice choice = *probe;
    absl::StatusOr<std::shared_ptr<const Family>> fam =
        sched::MakeBackendFamily(data.model, cpu, &choice, /*automatic=*/false, 2 * c.channels);
    ASSERT_TRUE(fam.ok()) << fam.status();
    ASSERT_EQ(choice.kind, sched::BackendKind::kCuda);
    const size_t frames = std::min(data.noisy[0].size(), data.noisy[1].size());
    std::vector<float> in(frames * size_t(c.channels));
    for (size_t f = 0; f < frames; ++f)
      for (int ch = 0; ch < c.channels; ++ch)
        in[f * c.channels + ch] = data.noisy[size_t(ch)][f] * (ch == 0 ? 1.0f : 0.6f);
    const auto want = RunStream(cpu, in, c.rate, c.channels, {1024});
    const auto got = RunStream(*fam, in, c.rate, c.channels, {128, 7, 113, 1000, 1, 513});
    ASSERT_EQ(got.size(), want.size());
    for (int ch = 0; ch < c.channels; ++ch) {
      double s = 0, e = 0;
      for (size_t f = 0; f < frames; ++f) {
        const double w = want[f * c.channels + ch], g = got[f * c.channels + ch];
        ASSERT_TRUE(std::isfinite(g)) << f;
        s += w * w;
        e += (g - w) * (g - w);
      }
      const double snr = 10 * std::log10(s / std::max(e, 1e-30));
      std::printf("dtln --backend cuda vs cpu: %d Hz, channel %d of %d: SNR of the difference "
                  "%.1f dB (%s)\n",
                  c.rate, ch, c.channels, snr, choice.device_name.c_str());
      EXPECT_GE(snr, 60.0) << c.rate << " Hz, channel " << ch;
    }
    const sched::BackendTelemetry t = sched::TelemetryOf(**fam);
    EXPECT_EQ(t.backend, "cuda");
    EXPECT_EQ(t.active, "cuda") << t.fallback_note;
    EXPECT_EQ(t.fallback_events, 0u) << t.fallback_note;
    EXPECT_EQ(t.cpu_hops, 0u);
    if (c.rate == 16000) {
      EXPECT_EQ(t.gpu_hops, uint64_t(c.channels) * (frames / 128));
    }
    std::printf("  submit->done p50 %.1f us, p99 %.1f us, max %.1f us over %llu hops\n",
                t.submit_to_done.p50_us, t.submit_to_done.p99_us, t.submit_to_done.max_us,
                static_cast<unsigned long long>(t.submit_to_done.count));
    // Telemetry: h2d / kernels / d2h / device of every hop (event-record nodes in the graph).
    EXPECT_EQ(runtime::StageTimesProblem(t.stages, t.gpu_hops, /*split=*/true), "");
    std::printf("  stages %s\n", sched::StagesJson(t).c_str());
  }
}

TEST(DtlnBackendGpu, SchedulerMatchesTheCpuFamily) {
  const testing::TestData& data = TestData();
  if (!data.skip.empty()) GTEST_SKIP() << data.skip;
  absl::StatusOr<sched::BackendChoice> probe = sched::SelectBackend(sched::BackendKind::kAuto, "dtln");
  ASSERT_TRUE(probe.ok()) << probe.status();
  if (probe->kind != sched::BackendKind::kCuda) GTEST_SKIP() << "no GPU: " << probe->note;
  absl::StatusOr<std::unique_ptr<Family>> cpu_or = CreateFamily(data.model);
  ASSERT_TRUE(cpu_or.ok()) << cpu_or.status();
  std::shared_ptr<const Family> cpu(std::move(*cpu_or));

  sched::CudaPlanOptions po;
  po.device = probe->device;
  po.max_sessions = 8;
  absl::StatusOr<std::unique_ptr<sched::CudaPlan>> plan = CreateDtlnBackendPlan(data.model, po);
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto sc = sched::Scheduler::Create(std::move(*plan), cpu, {});
  ASSERT_TRUE(sc.ok()) << sc.status();
  constexpr int kSessions = 5, kHops = 300;
  std::vector<std::unique_ptr<sched::BatchSession>> sessions;
  std::vector<std::unique_ptr<ChannelState>> refs;
  for (int s = 0; s < kSessions; ++s) {
    auto j = (*sc)->Join();
    ASSERT_TRUE(j.ok()) << j.status();
    sessions.push_back(std::move(*j));
    refs.push_back(cpu->NewChannel());
  }
  std::vector<double> sig(kSessions, 0.0), err(kSessions, 0.0);
  std::vector<float> want(size_t(kSessions) * 128), got(128);
  for (int hop = 0; hop < kHops; ++hop) {
    for (int s = 0; s < kSessions; ++s) {  // all sessions push: the tick batches them
      const std::vector<float>& src = data.noisy[size_t(s) % 2];
      const size_t off = (size_t(hop) * 128 + size_t(s) * 997) % (src.size() - 128);
      const float strength = s == 3 ? 0.7f : 1.0f;
      ASSERT_TRUE(sessions[s]->Push(src.data() + off, strength));
      cpu->ProcessHop(*refs[s], src.data() + off, want.data() + size_t(s) * 128, strength);
    }
    for (int s = 0; s < kSessions; ++s) {
      models::HopInfo info;
      ASSERT_TRUE(sessions[s]->WaitPop(got.data(), &info, std::chrono::seconds(2)));
      for (int i = 0; i < 128; ++i) {
        const double w = want[size_t(s) * 128 + size_t(i)];
        ASSERT_TRUE(std::isfinite(got[i]));
        sig[s] += w * w;
        err[s] += (got[i] - w) * (got[i] - w);
      }
    }
  }
  for (int s = 0; s < kSessions; ++s) {
    const double snr = 10 * std::log10(sig[s] / std::max(err[s], 1e-30));
    std::printf("dtln scheduler session %d: SNR of the difference %.1f dB\n", s, snr);
    EXPECT_GE(snr, 60.0) << "session " << s;
  }
  const sched::SchedulerStats st = (*sc)->stats();
  EXPECT_EQ(st.fallback_events, 0u) << st.failure;
  EXPECT_EQ(st.hops, uint64_t(kSessions) * kHops);
  std::printf("  scheduler: %llu ticks, mean batch %.2f, max %d; submit->done p50 %.1f us\n",
              static_cast<unsigned long long>(st.ticks), st.mean_batch, st.max_batch,
              st.submit_to_done.p50_us);
}

}  // namespace
}  // namespace ghostnv::models::dtln
