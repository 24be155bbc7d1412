// GPU tests of the CUDA backend (label gpu; "no GPU: " skips without a device): the real
// CudaPlan behind a Stream (real-time family) and behind the batched Scheduler, the library on
// `cuda`, and `ghostnv-denoise --backend cuda`, each against the CPU: SNR of the difference
// >= 60 dB (fp32).
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "audio/sound_file.h"
#include "ghostnv/ghostnv.h"
#include "gtest/gtest.h"
#include "models/model_loader.h"
#include "nlohmann/json.hpp"
#include "runtime/sched/backend.h"
#include "runtime/sched/cuda_backend.h"
#include "runtime/sched/scheduler.h"
#include "runtime/sched/stream.h"
#include "runtime/telemetry_test_util.h"

namespace ghostnv::sched {
namespace {

constexpr double kMinSnrDb = 60.0;

#define REQUIRE_GPU()                                                          \
  do {                                                                         \
    auto c = SelectBackend(BackendKind::kAuto);                                \
    if (!c.ok() || c->kind != BackendKind::kCuda)                              \
      GTEST_SKIP() << "no GPU: " << (c.ok() ? c->note : c.status().ToString()); \
  } while (0)

std::shared_ptr<const models::Model> DefaultModel() {
  const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
  auto m = models::LoadModel(std::string(src ? src : ".") + "/models/weights/default.gnvm");
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : nullptr;
}

// Noisy, amplitude-modulated tones, interleaved (deterministic; no data files needed).
std::vector<float> Signal(size_t frames, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 0.03f);
  std::vector<float> v(frames * size_t(channels));
  for (size_t f = 0; f < frames; ++f)
    for (int c = 0; c < channels; ++c) {
      const double t = double(f) / 48000.0;
      const double env = std::max(0.0, std::sin(2 * std::numbers::pi * 2.1 * t + c));
      v[f * channels + c] =
          float(env * 0.4 * std::sin(2 * std::numbers::pi * (180 + 90 * c) * t) *
                (1 + 0.5 * std::sin(2 * std::numbers::pi * 900 * t))) + n(rng);
    }
  return v;
}

double SnrDb(const std::vector<float>& ref, const std::vector<float>& x) {
  double s = 0, e = 0;
  for (size_t i = 0; i < ref.size() && i < x.size(); ++i) {
    s += double(ref[i]) * ref[i];
    e += (double(x[i]) - ref[i]) * (double(x[i]) - ref[i]);
  }
  return 10 * std::log10(s / std::max(e, 1e-30));
}

std::vector<float> RunStream(std::shared_ptr<const models::Family> fam, int rate, int ch,
                             const std::vector<float>& in) {
  auto s = Stream::Create(std::move(fam), {rate, ch, 1.0f});
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return {};
  std::vector<float> out(in.size());
  const size_t frames = in.size() / size_t(ch);
  for (size_t pos = 0; pos < frames; pos += 441) {
    const size_t n = std::min<size_t>(441, frames - pos);
    (*s)->Process(in.data() + pos * ch, out.data() + pos * ch, n);
  }
  return out;
}

TEST(GpuBackendTest, RealtimeStreamMatchesTheCpu) {
  REQUIRE_GPU();
  auto model = DefaultModel();
  ASSERT_NE(model, nullptr);
  auto f = models::CreateFamily(model);
  ASSERT_TRUE(f.ok()) << f.status();
  std::shared_ptr<const models::Family> cpu(std::move(*f));
  for (int rate : {48000, 44100}) {
    for (int ch : {1, 2}) {
      auto choice = SelectBackend(BackendKind::kCuda);
      ASSERT_TRUE(choice.ok()) << choice.status();
      auto fam = MakeBackendFamily(model, cpu, &*choice, false, ch);
      ASSERT_TRUE(fam.ok()) << fam.status();
      const auto in = Signal(size_t(rate) * 3, ch, 7);
      const auto want = RunStream(cpu, rate, ch, in);
      const auto got = RunStream(*fam, rate, ch, in);
      const double snr = SnrDb(want, got);
      std::printf("realtime stream %d Hz %d ch: SNR %.1f dB\n", rate, ch, snr);
      EXPECT_GE(snr, kMinSnrDb) << rate << " " << ch;
      const BackendTelemetry t = TelemetryOf(**fam);
      EXPECT_EQ(t.active, "cuda");
      EXPECT_EQ(t.fallback_events, 0u);
      EXPECT_GT(t.gpu_hops, 0u);
      std::printf("  submit->done p50 %.1f us, p99 %.1f us over %llu hops on %s\n",
                  t.submit_to_done.p50_us, t.submit_to_done.p99_us,
                  static_cast<unsigned long long>(t.submit_to_done.count), t.device.c_str());
      // Batch-1 hops replay a one-chunk graph: h2d / kernels / d2h from its event-record nodes.
      EXPECT_EQ(runtime::StageTimesProblem(t.stages, t.gpu_hops, /*split=*/true), "");
      std::printf("  stages %s\n", StagesJson(t).c_str());
    }
  }
}

TEST(GpuBackendTest, SchedulerMatchesTheCpu) {
  REQUIRE_GPU();
  auto model = DefaultModel();
  ASSERT_NE(model, nullptr);
  auto f = models::CreateFamily(model);
  ASSERT_TRUE(f.ok());
  std::shared_ptr<const models::Family> cpu(std::move(*f));
  CudaPlanOptions po;
  po.max_sessions = 16;
  auto plan = DefaultCudaPlanFactory()(model, po);
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto sched = Scheduler::Create(std::move(*plan), cpu, {});
  ASSERT_TRUE(sched.ok()) << sched.status();
  constexpr int kSessions = 13, kHops = 150, kHop = 480;
  std::vector<std::unique_ptr<BatchSession>> s;
  std::vector<std::vector<float>> in, out;
  for (int i = 0; i < kSessions; ++i) {
    auto j = (*sched)->Join();
    ASSERT_TRUE(j.ok()) << j.status();
    s.push_back(std::move(*j));
    in.push_back(Signal(size_t(kHops) * kHop, 1, 100 + i));
    out.emplace_back(in.back().size());
  }
  for (int k = 0; k < kHops; ++k) {
    for (int i = 0; i < kSessions; ++i) ASSERT_TRUE(s[i]->Push(in[i].data() + k * kHop, 1.0f));
    for (int i = 0; i < kSessions; ++i)
      ASSERT_TRUE(s[i]->WaitPop(out[i].data() + k * kHop, nullptr, std::chrono::seconds(5)));
  }
  for (int i = 0; i < kSessions; ++i) {
    auto st = cpu->NewChannel();
    std::vector<float> want(in[i].size());
    for (int k = 0; k < kHops; ++k)
      cpu->ProcessHop(*st, in[i].data() + k * kHop, want.data() + k * kHop, 1.0f);
    EXPECT_GE(SnrDb(want, out[i]), kMinSnrDb) << i;
  }
  const SchedulerStats st = (*sched)->stats();
  EXPECT_FALSE(st.failed);
  EXPECT_GT(st.max_batch, 1);
  std::printf("scheduler: %llu ticks, mean batch %.1f, submit->done p50 %.1f us p99 %.1f us\n",
              static_cast<unsigned long long>(st.ticks), st.mean_batch, st.submit_to_done.p50_us,
              st.submit_to_done.p99_us);
  // Stage times of the scheduler's ticks (session 8): the plan's device time every tick (and
  // h2d / kernels / d2h where its graph is one chunk), end_to_end = submit->done.
  EXPECT_EQ(runtime::StageTimesProblem(st.stages, st.ticks, /*split=*/false), "");
  EXPECT_EQ(st.stages[static_cast<size_t>(runtime::Stage::kEndToEnd)].count, st.ticks);
  BackendTelemetry t;
  t.stages = st.stages;
  std::printf("  scheduler stages %s\n", StagesJson(t).c_str());
}

TEST(GpuBackendTest, LibraryOnCudaMatchesTheCpu) {
  REQUIRE_GPU();
  for (int backend : {int{GHOSTNV_BACKEND_CUDA}, GHOSTNV_BACKEND_CUDA_DEVICE(0)}) {
    ghostnv_options o;
    ghostnv_options_init(&o);
    o.channels = 2;
    ghostnv_denoiser *gpu = nullptr, *cpu = nullptr;
    o.backend = backend;
    ASSERT_EQ(ghostnv_create(&o, &gpu), GHOSTNV_OK) << ghostnv_last_error();
    o.backend = GHOSTNV_BACKEND_CPU;
    ASSERT_EQ(ghostnv_create(&o, &cpu), GHOSTNV_OK) << ghostnv_last_error();
    const auto in = Signal(48000 * 2, 2, 3);
    std::vector<float> a(in.size()), b(in.size());
    ASSERT_EQ(ghostnv_process(gpu, in.data(), a.data(), in.size() / 2), GHOSTNV_OK);
    ASSERT_EQ(ghostnv_process(cpu, in.data(), b.data(), in.size() / 2), GHOSTNV_OK);
    EXPECT_GE(SnrDb(b, a), kMinSnrDb);
    auto j = nlohmann::json::parse(ghostnv_info_json(gpu));
    EXPECT_EQ(j["backend"], "cuda");
    EXPECT_EQ(j["backend_active"], "cuda");
    EXPECT_NE(j["device"].get<std::string>(), "");
    EXPECT_EQ(j["fallback"]["events"], 0);
    EXPECT_GT(j["gpu"]["hops"].get<uint64_t>(), 0u);
    // NVML readings of the device (a GPU machine has NVML; the entry says why when not).
    const nlohmann::json& nv = j["gpu"]["nvml"];
    std::printf("gpu.nvml: %s\n", nv.dump().c_str());
    ASSERT_TRUE(nv.is_object()) << j.dump();
    ASSERT_EQ(nv["devices"].size(), 1u) << nv.dump();
    const nlohmann::json& dev = nv["devices"][0];
    if (nv["available"] == true && !dev.contains("note")) {
      EXPECT_EQ(dev["pci_bus_id"].get<std::string>().size(), 12u) << dev.dump();  // 0000:19:00.0
      EXPECT_FALSE(dev["name"].get<std::string>().empty());
      EXPECT_GT(dev["memory_total_bytes"].get<uint64_t>(), dev["memory_used_bytes"].get<uint64_t>());
      EXPECT_GT(dev["memory_used_bytes"].get<uint64_t>(), 0u);  // this process holds some
      EXPECT_LE(dev["utilization_gpu_pct"].get<int>(), 100);
      EXPECT_GT(dev["sm_clock_mhz"].get<int>(), 0);
    } else {
      EXPECT_FALSE(dev["note"].get<std::string>().empty()) << nv.dump();
    }
    ghostnv_destroy(gpu);
    ghostnv_destroy(cpu);
  }
  // The spec's call with gpu_id 0, and the GPU real-time mode.
  ghostnv_context_t* ctx = ghostnv_init_audio(0, 48000);
  ASSERT_NE(ctx, nullptr) << ghostnv_last_error();
  EXPECT_NE(ctx->gpu_context, nullptr);
  ghostnv_cleanup(ctx);
  EXPECT_EQ(ghostnv_mode_status(GHOSTNV_MODE_GPU_REALTIME, nullptr), GHOSTNV_OK);
  ghostnv_options o;
  ghostnv_options_init(&o);
  o.mode = GHOSTNV_MODE_GPU_REALTIME;
  ghostnv_denoiser* d = nullptr;
  ASSERT_EQ(ghostnv_create(&o, &d), GHOSTNV_OK) << ghostnv_last_error();
  auto j = nlohmann::json::parse(ghostnv_info_json(d));
  EXPECT_EQ(j["backend"], "cuda");
  EXPECT_EQ(j["mode"], "gpu-realtime");
  EXPECT_EQ(j["family"], "ultra");  // the embedded 2 ms model
  EXPECT_DOUBLE_EQ(j["algorithmic_latency_ms"].get<double>(), 2.0);
  ghostnv_destroy(d);
  o.backend = GHOSTNV_BACKEND_CPU;
  EXPECT_EQ(ghostnv_create(&o, &d), GHOSTNV_ERROR_INVALID_ARGUMENT);
}

#ifdef GHOSTNV_DENOISE_BIN
TEST(GpuBackendTest, DenoiseCliOnCudaMatchesTheCpu) {
  REQUIRE_GPU();
  char dir_template[] = "/tmp/ghostnv_gpu_cli_XXXXXX";
  const char* dir = mkdtemp(dir_template);
  ASSERT_NE(dir, nullptr);
  const std::string in_path = std::string(dir) + "/in.wav";
  audio::SoundFormat fmt;
  fmt.subtype = audio::Subtype::kFloat;
  fmt.channels = 1;
  const auto in = Signal(48000 * 3, 1, 11);
  ASSERT_TRUE(audio::WriteSoundFile(in_path, fmt, in).ok());
  std::vector<float> outs[2];
  const char* backends[2] = {"cpu", "cuda"};
  for (int i = 0; i < 2; ++i) {
    const std::string out_path = std::string(dir) + "/out_" + backends[i] + ".wav";
    const std::string report = std::string(dir) + "/report_" + backends[i] + ".json";
    const std::string cmd = std::string(GHOSTNV_DENOISE_BIN) + " " + in_path + " " + out_path +
                            " --backend " + backends[i] + " --report json > " + report;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    auto f = audio::ReadSoundFile(out_path);
    ASSERT_TRUE(f.ok()) << f.status();
    outs[i] = f->samples;
    FILE* fp = std::fopen(report.c_str(), "r");
    ASSERT_NE(fp, nullptr);
    std::string text;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, fp)) > 0;) text.append(buf, n);
    std::fclose(fp);
    auto j = nlohmann::json::parse(text);
    EXPECT_EQ(j["backend"], backends[i]) << text;
    std::remove(report.c_str());
    std::remove(out_path.c_str());
  }
  std::remove(in_path.c_str());
  rmdir(dir);
  ASSERT_EQ(outs[0].size(), outs[1].size());
  const double snr = SnrDb(outs[0], outs[1]);
  std::printf("ghostnv-denoise --backend cuda vs cpu: SNR %.1f dB\n", snr);
  EXPECT_GE(snr, kMinSnrDb);
}
#endif

}  // namespace
}  // namespace ghostnv::sched
