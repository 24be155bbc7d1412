// Tests of the real-time CUDA family and the backend factory with fake plans (no GPU needed):
// equality with the CPU while healthy, and CPU fallback mid-stream with no gap.
#include "runtime/sched/cuda_backend.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/sched/fake_plan.h"
#include "runtime/sched/stream.h"

#if GHOSTNV_HAVE_FAMILIES
#include "models/model_loader.h"
#endif

namespace ghostnv::sched {
namespace {

using fakes::EchoFamily;
using fakes::FakePlan;

// Noisy tones, interleaved.
std::vector<float> Signal(size_t frames, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 0.05f);
  std::vector<float> v(frames * size_t(channels));
  for (size_t f = 0; f < frames; ++f)
    for (int c = 0; c < channels; ++c) {
      const double t = double(f) / 48000.0;
      const double env = 0.5 + 0.5 * std::sin(2 * std::numbers::pi * 1.3 * t + c);
      v[f * channels + c] =
          float(env * 0.3 * std::sin(2 * std::numbers::pi * (220 + 110 * c) * t) +
                0.1 * std::sin(2 * std::numbers::pi * 1870 * t)) + n(rng);
    }
  return v;
}

// Runs `in` through a stream of `fam` with call sizes cycling through `sizes`.
std::vector<float> RunStream(std::shared_ptr<const models::Family> fam, const std::vector<float>& in,
                       int channels, std::vector<size_t> sizes = {480}) {
  auto s = Stream::Create(std::move(fam), {48000, channels, 1.0f});
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return {};
  std::vector<float> out(in.size(), -7.0f);
  const size_t frames = in.size() / size_t(channels);
  size_t pos = 0, k = 0;
  while (pos < frames) {
    const size_t n = std::min(sizes[k++ % sizes.size()], frames - pos);
    (*s)->Process(in.data() + pos * channels, out.data() + pos * channels, n);
    pos += n;
  }
  EXPECT_EQ((*s)->stats().frames_out, frames);
  return out;
}

double SnrDb(const std::vector<float>& ref, const std::vector<float>& x, size_t from, size_t to) {
  double s = 0, e = 0;
  for (size_t i = from; i < to; ++i) {
    s += double(ref[i]) * ref[i];
    e += (double(x[i]) - ref[i]) * (double(x[i]) - ref[i]);
  }
  return 10 * std::log10(s / std::max(e, 1e-30));
}

bool AllFinite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

std::shared_ptr<RealtimeCudaFamily> Realtime(std::shared_ptr<const models::Family> cpu,
                                             std::unique_ptr<FakePlan> plan,
                                             RealtimeCudaOptions o = {}) {
  auto f = RealtimeCudaFamily::Create(std::move(plan), std::move(cpu), o);
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? *f : nullptr;
}

TEST(RealtimeCudaFamilyTest, EqualsTheCpuWhileHealthy) {
  auto cpu = std::make_shared<EchoFamily>();
  for (int ch : {1, 2, 5}) {
    auto fam = Realtime(cpu, std::make_unique<FakePlan>(cpu, 2 * ch));
    const auto in = Signal(48000 + 113, ch, 1);
    const auto want = RunStream(cpu, in, ch, {1024});
    const auto got = RunStream(fam, in, ch, {7, 480, 113, 1024, 1});
    ASSERT_EQ(got, want) << ch;
    const BackendTelemetry t = fam->telemetry();
    EXPECT_EQ(t.backend, "cuda");
    EXPECT_EQ(t.active, "cuda");
    EXPECT_EQ(t.device, "fake GPU (test)");
    EXPECT_EQ(t.fallback_events, 0u);
    EXPECT_EQ(t.cpu_hops, 0u);
    EXPECT_EQ(t.gpu_hops, uint64_t(ch) * ((48000 + 113) / 480));
    EXPECT_EQ(t.submit_to_done.count, t.gpu_hops);
    EXPECT_TRUE(t.fallback_note.empty());
  }
}

// The fallback: a plan that produces the CPU's output, then fails. The stream keeps its length,
// no NaN, identical output before the failure, and the same as the all-CPU output shortly after.
void CheckFallback(std::shared_ptr<const models::Family> cpu, int ch, long fail_after,
                   cu::CUresult code, bool at_submit, double min_snr_db, bool exact) {
  auto plan = std::make_unique<FakePlan>(cpu, 2 * ch);
  plan->FailAfter(fail_after, code, at_submit);
  FakePlan* raw = plan.get();
  auto fam = Realtime(cpu, std::move(plan));
  const size_t frames = 48000 * 3 + 7;
  const auto in = Signal(frames, ch, 2);
  const auto want = RunStream(cpu, in, ch, {1024});
  const auto got = RunStream(fam, in, ch, {441, 1, 480, 2000, 113});
  ASSERT_EQ(got.size(), want.size());
  ASSERT_TRUE(AllFinite(got));
  EXPECT_EQ(raw->delivered(), fail_after);

  // Hop k of channel c leaves the stream at frames [k*hop + 479, ...) (prefill 479).
  const size_t hop = 480, prefill = 479;
  const size_t fail_hop = size_t(fail_after) / size_t(ch);  // hops fully done on the GPU
  const size_t switch_frame = prefill + fail_hop * hop;
  for (size_t i = 0; i < std::min(switch_frame, frames) * ch; ++i)
    ASSERT_EQ(got[i], want[i]) << "before the failure, sample " << i;
  // No gap: never silent for a hop after the switch where the CPU output is not.
  if (exact) {
    const size_t from = std::min(frames, switch_frame) * ch;
    for (size_t i = from; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6f) << i;
  } else {
    // Within a few hops after the switch the outputs agree.
    const size_t from = std::min(frames, switch_frame + 8 * hop) * ch;
    const double snr = SnrDb(want, got, from, got.size());
    std::printf("fallback after %ld channel hops (%d ch): SNR vs all-CPU from 8 hops on %.1f dB\n",
                fail_after, ch, snr);
    EXPECT_GE(snr, min_snr_db);
  }
  // The hops around the switch are not silent (no gap) where the CPU's are not.
  for (size_t k = fail_hop; k < fail_hop + 3 && prefill + (k + 1) * hop <= frames; ++k) {
    double e_got = 0, e_want = 0;
    for (size_t f = prefill + k * hop; f < prefill + (k + 1) * hop; ++f)
      for (int c = 0; c < ch; ++c) {
        e_got += double(got[f * ch + c]) * got[f * ch + c];
        e_want += double(want[f * ch + c]) * want[f * ch + c];
      }
    if (e_want > 1e-6) {
      EXPECT_GT(e_got, 0.1 * e_want) << "hop " << k;
    }
  }
  const BackendTelemetry t = fam->telemetry();
  EXPECT_EQ(t.fallback_events, 1u);
  EXPECT_EQ(t.active, "cpu");
  EXPECT_EQ(t.gpu_hops + t.cpu_hops, uint64_t(ch) * (frames / hop));
  EXPECT_EQ(t.gpu_hops, uint64_t(fail_after));
  if (fail_after >= ch) {
    EXPECT_GT(t.warmup_hops, 0u);
  }
  EXPECT_NE(t.fallback_note.find("continued on the CPU"), std::string::npos) << t.fallback_note;
  EXPECT_NE(t.fallback_note.find(code == cu::kErrorIllegalAddress ? "CUDA_ERROR_ILLEGAL_ADDRESS"
                                                                  : "CUDA_ERROR"),
            std::string::npos)
      << t.fallback_note;
}

TEST(RealtimeCudaFamilyTest, FallsBackToTheCpuWithNoGap) {
  auto cpu = std::make_shared<EchoFamily>();
  // Sticky error at Query, mono; at Submit, stereo (fails between the two channels of a hop);
  // a non-sticky error; a failure on the very first hop.
  CheckFallback(cpu, 1, 100, cu::kErrorIllegalAddress, false, 0, /*exact=*/true);
  CheckFallback(cpu, 2, 101, cu::kErrorLaunchFailed, true, 0, true);
  CheckFallback(cpu, 3, 57, cu::kErrorOutOfMemory, false, 0, true);
  CheckFallback(cpu, 1, 0, cu::kErrorIllegalAddress, true, 0, true);
}

TEST(RealtimeCudaFamilyTest, WatchdogTurnsAHangIntoAFallback) {
  auto cpu = std::make_shared<EchoFamily>();
  auto plan = std::make_unique<FakePlan>(cpu, 2);
  plan->HangAfter(40);
  RealtimeCudaOptions o;
  o.watchdog = std::chrono::milliseconds(20);
  auto fam = Realtime(cpu, std::move(plan), o);
  const auto in = Signal(48000, 1, 3);
  const auto want = RunStream(cpu, in, 1);
  const auto got = RunStream(fam, in, 1, {480, 1000});
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6f) << i;
  const BackendTelemetry t = fam->telemetry();
  EXPECT_EQ(t.fallback_events, 1u);
  EXPECT_NE(t.fallback_note.find("watchdog"), std::string::npos) << t.fallback_note;
}

TEST(RealtimeCudaFamilyTest, SlotsAreTakenAndReturned) {
  auto cpu = std::make_shared<EchoFamily>();
  auto plan = std::make_unique<FakePlan>(cpu, 2);
  FakePlan* raw = plan.get();
  auto fam = Realtime(cpu, std::move(plan));
  {
    auto s = Stream::Create(fam, {48000, 2});
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(raw->acquired(), 2);
    // A third channel does not fit: a clean error, not a crash.
    auto t = Stream::Create(fam, {48000, 1});
    EXPECT_FALSE(t.ok());
  }
  EXPECT_EQ(raw->released(), 2);
  EXPECT_TRUE(Stream::Create(fam, {48000, 2}).ok());
}

TEST(RealtimeCudaFamilyTest, RejectsAMismatchedPlan) {
  auto cpu = std::make_shared<EchoFamily>(480);
  auto other = std::make_shared<EchoFamily>(256);
  EXPECT_FALSE(RealtimeCudaFamily::Create(std::make_unique<FakePlan>(other, 1), cpu, {}).ok());
  EXPECT_FALSE(RealtimeCudaFamily::Create(nullptr, cpu, {}).ok());
}

TEST(MakeBackendFamilyTest, CpuAutoAndExplicit) {
  auto cpu = std::make_shared<EchoFamily>();
  auto model = std::make_shared<models::Model>(cpu->model());
  auto unavailable = [](std::shared_ptr<const models::Model>, const CudaPlanOptions&)
      -> absl::StatusOr<std::unique_ptr<CudaPlan>> {
    return absl::UnavailableError("NVRTC not found");
  };
  {
    BackendChoice c{BackendKind::kCpu, "", "", ""};
    auto f = MakeBackendFamily(model, cpu, &c, false, 1, unavailable);
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f->get(), cpu.get());
    EXPECT_EQ(TelemetryOf(**f).backend, "cpu");
  }
  {
    BackendChoice c{BackendKind::kCuda, "cuda:0", "device 0 (Fake)", "using the GPU"};
    auto f = MakeBackendFamily(model, cpu, &c, /*automatic=*/true, 1, unavailable);
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f->get(), cpu.get());
    EXPECT_EQ(c.kind, BackendKind::kCpu);
    EXPECT_NE(c.note.find("using the CPU"), std::string::npos) << c.note;
    EXPECT_NE(c.note.find("NVRTC not found"), std::string::npos) << c.note;
  }
  {
    BackendChoice c{BackendKind::kCuda, "cuda:1", "device 1 (Fake)", ""};
    auto f = MakeBackendFamily(model, cpu, &c, /*automatic=*/false, 1, unavailable);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(f.status().message(), "--backend cuda:1: NVRTC not found");
  }
  {
    CudaPlanOptions seen;
    auto fake = [&](std::shared_ptr<const models::Model>, const CudaPlanOptions& o)
        -> absl::StatusOr<std::unique_ptr<CudaPlan>> {
      seen = o;
      return std::unique_ptr<CudaPlan>(std::make_unique<FakePlan>(cpu, o.max_sessions));
    };
    BackendChoice c{BackendKind::kCuda, "cuda:0", "device 0 (Fake)", ""};
    auto f = MakeBackendFamily(model, cpu, &c, false, 4, fake);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_NE(f->get(), cpu.get());
    EXPECT_EQ(seen.device, "cuda:0");
    EXPECT_EQ(seen.max_sessions, 4);
    EXPECT_TRUE(seen.realtime);
    EXPECT_EQ(TelemetryOf(**f).backend, "cuda");
    EXPECT_EQ(TelemetryOf(**f).mode, "realtime");
  }
}

// A fake plan that records per-stage times like a GPU plan (telemetry): every hop's "device"
// time is 1000 + 10 * hop ns, its "kernels" time 500 ns.
class TimedFakePlan : public FakePlan {
 public:
  using FakePlan::FakePlan;
  cu::CUresult Submit(const int* slots, const float* strengths, int n) override {
    const cu::CUresult r = FakePlan::Submit(slots, strengths, n);
    if (r == cu::kSuccess && n > 0) {
      stages_.Record(runtime::Stage::kDevice, 1000 + 10 * hops_++);
      stages_.Record(runtime::Stage::kKernels, 500);
    }
    return r;
  }
  const runtime::StageHistograms* stage_times() const override { return &stages_; }

 private:
  runtime::StageHistograms stages_;
  uint64_t hops_ = 0;
};

TEST(RealtimeCudaFamilyTest, ReportsThePlansStageTimes) {
  auto cpu = std::make_shared<EchoFamily>();
  auto f = RealtimeCudaFamily::Create(std::make_unique<TimedFakePlan>(cpu, 2), cpu, {});
  ASSERT_TRUE(f.ok()) << f.status();
  // No hop yet: every stage is empty, and the JSON still names all of them.
  BackendTelemetry t = (*f)->telemetry();
  for (const LatencySummary& l : t.stages) EXPECT_EQ(l.count, 0u);
  const auto in = Signal(113 * 480 + 7, 1, 3);
  (void)RunStream(*f, in, 1, {480});
  t = (*f)->telemetry();
  const uint64_t hops = t.gpu_hops;
  ASSERT_EQ(hops, 113u);
  const auto at = [&](runtime::Stage s) { return t.stages[static_cast<size_t>(s)]; };
  EXPECT_EQ(at(runtime::Stage::kDevice).count, hops);
  EXPECT_EQ(at(runtime::Stage::kKernels).count, hops);
  EXPECT_EQ(at(runtime::Stage::kEndToEnd).count, hops);  // the family's own submit -> done
  EXPECT_EQ(at(runtime::Stage::kH2D).count, 0u);
  EXPECT_EQ(at(runtime::Stage::kOutsideKernels).count, 0u);
  // device: 1000, 1010, ..., 2120 ns; the 57th smallest is 1560 (bucket width <= 1/16).
  EXPECT_NEAR(at(runtime::Stage::kDevice).p50_us, 1.56, 1.56 / 16);
  EXPECT_DOUBLE_EQ(at(runtime::Stage::kDevice).max_us, 2.12);
  EXPECT_NEAR(at(runtime::Stage::kDevice).mean_us, 1.56, 1e-9);
  EXPECT_DOUBLE_EQ(at(runtime::Stage::kKernels).p99_us, 0.5);

  const nlohmann::json j = nlohmann::json::parse(StagesJson(t));
  ASSERT_EQ(j.size(), static_cast<size_t>(runtime::kStageCount)) << j.dump();
  for (int s = 0; s < runtime::kStageCount; ++s) {
    const char* name = runtime::StageName(static_cast<runtime::Stage>(s));
    ASSERT_TRUE(j.contains(name)) << name;
    const LatencySummary& l = t.stages[static_cast<size_t>(s)];
    EXPECT_EQ(j[name]["count"].get<uint64_t>(), l.count) << name;
    if (l.count == 0) {
      EXPECT_EQ(j[name].size(), 1u) << name;
      continue;
    }
    EXPECT_NEAR(j[name]["p50_us"].get<double>(), l.p50_us, 1e-5 * l.p50_us) << name;
    EXPECT_NEAR(j[name]["p99_us"].get<double>(), l.p99_us, 1e-5 * l.p99_us) << name;
    EXPECT_NEAR(j[name]["max_us"].get<double>(), l.max_us, 1e-5 * l.max_us) << name;
    EXPECT_NEAR(j[name]["mean_us"].get<double>(), l.mean_us, 1e-5 * l.mean_us) << name;
  }
  // A plan without stage times (the plain fake): only end_to_end is filled.
  auto g = Realtime(cpu, std::make_unique<FakePlan>(cpu, 1));
  (void)RunStream(g, in, 1, {480});
  const BackendTelemetry u = g->telemetry();
  for (int s = 0; s < runtime::kStageCount; ++s) {
    EXPECT_EQ(u.stages[static_cast<size_t>(s)].count,
              s == static_cast<int>(runtime::Stage::kEndToEnd) ? u.gpu_hops : 0u) << s;
  }
}

TEST(LatencyHistogramTest, Percentiles) {
  LatencyHistogram h;
  EXPECT_EQ(h.Percentile(0.5), 0.0);
  for (uint64_t v = 1; v <= 1000; ++v) h.Add(v * 1000);  // 1..1000 µs
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.max_ns(), 1000000u);
  // Quarter-octave buckets: within 25 % above the true value.
  EXPECT_GE(h.Percentile(0.5), 500e3);
  EXPECT_LE(h.Percentile(0.5), 625e3);
  EXPECT_GE(h.Percentile(0.99), 990e3);
  EXPECT_LE(h.Percentile(0.99), 1.25 * 990e3);
  EXPECT_NEAR(h.mean_ns(), 500500.0, 1.0);
  for (uint64_t v : {0ull, 1ull, 63ull, 64ull, 65ull, 1000ull, 123456789ull, ~0ull}) {
    const int b = LatencyHistogram::Bucket(v);
    ASSERT_GE(b, 0);
    ASSERT_LT(b, LatencyHistogram::kBuckets);
    if (b < LatencyHistogram::kBuckets - 1) {
      EXPECT_LE(double(v), LatencyHistogram::UpperEdge(b)) << v;
    }
  }
}

TEST(SpscQueueTest, FifoAcrossThreads) {
  SpscQueue<int> q(7);
  EXPECT_EQ(q.capacity(), 7u);
  constexpr int kN = 20000;
  std::thread producer([&] {
    for (int i = 0; i < kN;) {
      if (int* p = q.BeginPush()) {
        *p = i++;
        q.EndPush();
      } else {
        std::this_thread::yield();
      }
    }
  });
  for (int want = 0; want < kN;) {
    if (int* p = q.Front()) {
      ASSERT_EQ(*p, want);
      q.Pop();
      ++want;
    } else {
      std::this_thread::yield();
    }
  }
  producer.join();
  EXPECT_EQ(q.Front(), nullptr);
}

#if GHOSTNV_HAVE_FAMILIES
std::shared_ptr<const models::Family> RealFamily(std::string* why) {
  std::string p;
  if (const char* src = std::getenv("GHOSTNV_SOURCE_DIR"))
    p = std::string(src) + "/models/weights/default.gnvm";
  struct stat st;
  if (p.empty() || ::stat(p.c_str(), &st) != 0) {
    *why = "no models/weights/default.gnvm (GHOSTNV_SOURCE_DIR unset?)";
    return nullptr;
  }
  auto m = models::LoadModel(p);
  if (!m.ok()) {
    *why = std::string(m.status().message());
    return nullptr;
  }
  auto f = models::CreateFamily(*m);
  if (!f.ok()) {
    *why = std::string(f.status().message());
    return nullptr;
  }
  return std::shared_ptr<const models::Family>(std::move(*f));
}

// With the real RNNoise family the warmed-up CPU state is not bit-identical to the continuous
// one (GRU states), but it converges: after a few hops the outputs agree closely.
TEST(RealtimeCudaFamilyRealModelTest, FallbackConvergesToTheCpuOutput) {
  std::string why;
  auto cpu = RealFamily(&why);
  if (!cpu) GTEST_SKIP() << why;
  CheckFallback(cpu, 1, 150, cu::kErrorIllegalAddress, false, 25.0, /*exact=*/false);
  CheckFallback(cpu, 2, 201, cu::kErrorLaunchFailed, true, 25.0, false);
}
#endif

// ---- NVML readings in the report (gputel): a fake NVML table in this process, no GPU ----
#if GHOSTNV_HAVE_NVML
namespace fake_nvml {
namespace nv = runtime::nv;
// One device at bus 0000:19:00.0; values chosen so every field differs.
nv::nvmlDevice_t TheDevice() { return reinterpret_cast<nv::nvmlDevice_t>(uintptr_t{0x1900}); }
nv::nvmlReturn_t Init() { return nv::kSuccess; }
nv::nvmlReturn_t Shutdown() { return nv::kSuccess; }
const char* ErrorString(nv::nvmlReturn_t r) { return r == nv::kErrorNotFound ? "Not Found" : "Other"; }
nv::nvmlReturn_t ByBus(const char* bus, nv::nvmlDevice_t* dev) {
  if (std::string(bus) != "0000:19:00.0") return nv::kErrorNotFound;
  *dev = TheDevice();
  return nv::kSuccess;
}
nv::nvmlReturn_t Name(nv::nvmlDevice_t d, char* name, unsigned len) {
  if (d != TheDevice()) return nv::kErrorInvalidArgument;
  std::snprintf(name, len, "Fake \"H200\"");  // a quote: the JSON must escape it
  return nv::kSuccess;
}
nv::nvmlReturn_t Util(nv::nvmlDevice_t, nv::nvmlUtilization_t* u) {
  u->gpu = 37;
  u->memory = 5;
  return nv::kSuccess;
}
nv::nvmlReturn_t Mem(nv::nvmlDevice_t, nv::nvmlMemory_t* m) {
  m->total = 150000000000ull;
  m->used = 1234567890ull;
  m->free = m->total - m->used;
  return nv::kSuccess;
}
nv::nvmlReturn_t TempV(nv::nvmlDevice_t, nv::nvmlTemperature_v1_t* t) {
  if (t->version != nv::kTemperatureV1) return nv::kErrorInvalidArgument;
  t->temperature = 41;
  return nv::kSuccess;
}
nv::nvmlReturn_t Power(nv::nvmlDevice_t, unsigned* mw) {
  *mw = 121500;
  return nv::kSuccess;
}
nv::nvmlReturn_t Limit(nv::nvmlDevice_t, unsigned* mw) {
  *mw = 700000;
  return nv::kSuccess;
}
nv::nvmlReturn_t Clock(nv::nvmlDevice_t, int type, unsigned* mhz) {
  if (type == nv::kClockSm) *mhz = 1980;
  else if (type == nv::kClockMem) *mhz = 3201;
  else return nv::kErrorNotSupported;
  return nv::kSuccess;
}
nv::nvmlReturn_t Reasons(nv::nvmlDevice_t, unsigned long long* mask) {
  *mask = nv::kClocksEventGpuIdle | nv::kClocksEventSwPowerCap | 0x400000000ull;
  return nv::kSuccess;
}
// Only the four required entry points (an old or minimal NVML).
runtime::NvmlApi Minimal() {
  runtime::NvmlApi a;
  a.library = "fake";
  a.Init = &Init;
  a.Shutdown = &Shutdown;
  a.ErrorString = &ErrorString;
  a.DeviceGetHandleByPciBusId = &ByBus;
  return a;
}
runtime::NvmlApi Full() {
  runtime::NvmlApi a = Minimal();
  a.driver_version = "999.1";
  a.DeviceGetName = &Name;
  a.DeviceGetUtilizationRates = &Util;
  a.DeviceGetMemoryInfo = &Mem;
  a.DeviceGetTemperatureV = &TempV;
  a.DeviceGetPowerUsage = &Power;
  a.DeviceGetEnforcedPowerLimit = &Limit;
  a.DeviceGetClockInfo = &Clock;
  a.DeviceGetClocksEventReasons = &Reasons;
  return a;
}
}  // namespace fake_nvml

TEST(GpuReadingsTest, JsonCarriesEveryNvmlFieldOfTheFakeDevice) {
  const runtime::NvmlApi api = fake_nvml::Full();
  GpuReadings r;
  r.nvml = true;
  r.driver_version = api.driver_version;
  r.devices.push_back(SampleGpu(api, "cuda:0", "0000:19:00.0"));
  ASSERT_TRUE(r.devices[0].available) << r.devices[0].note;
  const nlohmann::json j = nlohmann::json::parse(GpuReadingsJson(r));
  EXPECT_EQ(j["available"], true) << j.dump();
  EXPECT_FALSE(j.contains("note"));
  EXPECT_EQ(j["driver_version"], "999.1");
  ASSERT_EQ(j["devices"].size(), 1u);
  const nlohmann::json& d = j["devices"][0];
  EXPECT_EQ(d["device"], "cuda:0");
  EXPECT_EQ(d["pci_bus_id"], "0000:19:00.0");
  EXPECT_EQ(d["name"], "Fake \"H200\"");
  EXPECT_EQ(d["utilization_gpu_pct"], 37);
  EXPECT_EQ(d["utilization_memory_pct"], 5);
  EXPECT_EQ(d["memory_used_bytes"].get<uint64_t>(), 1234567890ull);
  EXPECT_EQ(d["memory_total_bytes"].get<uint64_t>(), 150000000000ull);
  EXPECT_EQ(d["temperature_c"], 41);
  EXPECT_DOUBLE_EQ(d["power_w"].get<double>(), 121.5);
  EXPECT_DOUBLE_EQ(d["power_limit_w"].get<double>(), 700.0);
  EXPECT_EQ(d["sm_clock_mhz"], 1980);
  EXPECT_EQ(d["memory_clock_mhz"], 3201);
  EXPECT_EQ(d["clocks_event_reasons_mask"].get<uint64_t>(), 0x400000005ull);
  EXPECT_EQ(d["clocks_event_reasons"],
            nlohmann::json({"gpu_idle", "sw_power_cap", "0x400000000"}));
  EXPECT_FALSE(d.contains("note"));
  EXPECT_EQ(d.size(), 14u) << d.dump();  // 11 reading fields + device, pci_bus_id, name
}

TEST(GpuReadingsTest, MissingQueriesAreLeftOutAndUnknownDevicesSayWhy) {
  const runtime::NvmlApi api = fake_nvml::Minimal();
  GpuReadings r;
  r.nvml = true;
  r.devices.push_back(SampleGpu(api, "cuda:0", "0000:19:00.0"));  // answers no query
  r.devices.push_back(SampleGpu(api, "cuda:1", "0000:88:00.0"));  // not in NVML
  EXPECT_TRUE(r.devices[0].available);
  EXPECT_FALSE(r.devices[1].available);
  const nlohmann::json j = nlohmann::json::parse(GpuReadingsJson(r));
  EXPECT_FALSE(j.contains("driver_version")) << j.dump();
  ASSERT_EQ(j["devices"].size(), 2u);
  EXPECT_EQ(j["devices"][0], nlohmann::json({{"device", "cuda:0"}, {"pci_bus_id", "0000:19:00.0"}}));
  const nlohmann::json& bad = j["devices"][1];
  EXPECT_EQ(bad["device"], "cuda:1");
  EXPECT_EQ(bad["pci_bus_id"], "0000:88:00.0");
  EXPECT_FALSE(bad.contains("utilization_gpu_pct"));
  ASSERT_TRUE(bad.contains("note"));
  EXPECT_NE(bad["note"].get<std::string>().find("0000:88:00.0"), std::string::npos) << bad.dump();
  EXPECT_NE(bad["note"].get<std::string>().find("Not Found"), std::string::npos) << bad.dump();
}
#endif  // GHOSTNV_HAVE_NVML

TEST(GpuReadingsTest, WithoutNvmlTheReportSaysWhy) {
  GpuReadings r;
  r.note = "no NVML: cannot load libnvidia-ml.so.1 (test)";
  GpuReading g;
  g.device = "cuda:0";
  g.note = r.note;
  r.devices.push_back(g);
  const nlohmann::json j = nlohmann::json::parse(GpuReadingsJson(r));
  EXPECT_EQ(j["available"], false) << j.dump();
  ASSERT_TRUE(j["note"].is_string());
  EXPECT_FALSE(j["note"].get<std::string>().empty());
#if GHOSTNV_HAVE_NVML
  EXPECT_EQ(j["note"], r.note);
  ASSERT_EQ(j["devices"].size(), 1u);
  EXPECT_EQ(j["devices"][0], nlohmann::json({{"device", "cuda:0"}, {"note", r.note}}));
#endif
}

TEST(GpuReadingsTest, SampleGpusNeverFailsWhateverThisMachineHas) {
  // No GPU here (CI): the selector does not resolve or NVML is missing; on a GPU machine the
  // device is read. Either way one entry per selector, and a note wherever there is no reading.
  const GpuReadings r = SampleGpus({"cuda:0", "cuda:77"});
  ASSERT_EQ(r.devices.size(), 2u);
  EXPECT_EQ(r.nvml, r.note.empty());
  for (const GpuReading& g : r.devices) EXPECT_NE(g.available, !g.note.empty()) << g.device << ": " << g.note;
  EXPECT_FALSE(r.devices[1].available);  // no machine has 78 GPUs
  const nlohmann::json j = nlohmann::json::parse(GpuReadingsJson(r));
  EXPECT_EQ(j["devices"].size(), 2u) << j.dump();
  // Cached handles: a second call answers the same way.
  const GpuReadings again = SampleGpus({"cuda:0"});
  EXPECT_EQ(again.devices[0].available, r.devices[0].available);
  EXPECT_EQ(again.devices[0].note, r.devices[0].note);
}

}  // namespace
}  // namespace ghostnv::sched
