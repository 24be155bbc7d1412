// runtime/sched/persistent/ultra_plan_test.cc — the ultra family's fused GPU hop (persistent
// kernel and graph replay; the single-block kernel and, on sm_90+, the thread-block cluster
// kernel, each checked to be the one the plan chose) against the CPU family (models/ultra
// ProcessHop, >= 100 dB): several slots interleaved, thousands of hops of speech-like and random
// signals, both GRU conventions, widths that do not split evenly over the cluster, strengths
// 1 / 0.7 / 0, slot release and re-acquire (state wiped), bad arguments. Label gpu: skips
// ("no GPU: ...") without a driver/device. UltraPlanUnit.* (label unit) need no device.
#include "runtime/sched/persistent/ultra_plan.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/family.h"
#include "models/gnvm.h"
#include "models/test_util.h"
#include "models/ultra/ultra_family.h"
#include "runtime/device.h"
#include "runtime/driver.h"
#include "runtime/park_gate.h"
#if GHOSTNV_ULTRA_TEST_BACKEND
#include "models/dtln/dtln_test_util.h"
#include "runtime/sched/backend.h"
#include "runtime/sched/cpu_fallback.h"
#include "runtime/sched/cuda_backend.h"
#endif

namespace ghostnv::sched {
namespace {

namespace ultra = ::ghostnv::models::ultra;
using models::LayerKind;
using models::testing::MakeModel;
using models::testing::OwnedModel;
using A = kernels::Activation;

// A random ultra model with the shipped widths, weights scaled like a trained network's
// (uniform, ~1/sqrt(fan-in)), so that 1-ulp differences are not amplified into audible ones.
OwnedModel RandomUltra(uint32_t seed, bool reset_after, kernels::MathMode math, int dense = 64,
                       int g1 = 96, int g2 = 96) {
  OwnedModel om = MakeModel(
      {{"input_dense", LayerKind::kDense, ultra::kFeatures, dense, A::kTanh, true, false, false},
       {"gru1", LayerKind::kGru, dense, g1, A::kTanh, true, true, reset_after},
       {"gru2", LayerKind::kGru, g1 + dense, g2, A::kTanh, true, true, reset_after},
       {"gain_output", LayerKind::kDense, g2, ultra::kBands, A::kSigmoid, true, false, false},
       {"vad_output", LayerKind::kDense, g1, 1, A::kSigmoid, true, false, false}},
      seed, 1.0f);
  models::Model& m = *om.model;
  m.family = "ultra";
  m.name = "test-ultra-gpu";
  m.sample_rate = ultra::kSampleRate;
  m.frame_size = ultra::kWindow;
  m.hop_size = ultra::kHop;
  m.algorithmic_latency = ultra::kLatency;
  m.math = math;
  for (models::Layer& l : m.layers) {
    const float s = 0.9f / std::sqrt(static_cast<float>(l.inputs));
    float* w = const_cast<float*>(l.weights);
    for (size_t i = 0; i < models::testing::WeightsCount(l); ++i) w[i] *= s * (l.name == "input_dense" ? 0.3f : 1.f);
    if (l.recurrent != nullptr) {
      float* r = const_cast<float*>(l.recurrent);
      const float sr = 0.9f / std::sqrt(static_cast<float>(l.units));
      for (size_t i = 0; i < models::testing::RecurrentCount(l); ++i) r[i] *= sr;
    }
  }
  return om;
}

// Speech-like: harmonics of a gliding pitch under a syllable envelope, plus noise that never
// stops (no exact digital silence), with occasional loud bursts.
std::vector<float> Signal(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.f, 1.f);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> x(n);
  double phase = 0;
  const double f0 = 90 + 150 * u(rng);
  const float noise_amp = 0.003f + 0.05f * u(rng);
  for (size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / ultra::kSampleRate;
    const double f = f0 * (1 + 0.2 * std::sin(2 * M_PI * 0.7 * t));
    phase += 2 * M_PI * f / ultra::kSampleRate;
    const double env = std::max(0.0, std::sin(2 * M_PI * 3.1 * t)) * (0.5 + 0.5 * std::sin(2 * M_PI * 0.23 * t));
    double v = 0;
    for (int h = 1; h <= 12; ++h) v += std::sin(h * phase) / h;
    float s = static_cast<float>(0.25 * env * v) + noise_amp * noise(rng);
    if ((i / 4800) % 37 == 5) s *= 3.f;  // loud
    x[i] = s;
  }
  return x;
}

double SnrDb(const std::vector<float>& ref, const std::vector<float>& got) {
  double e = 0, d = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    e += double(ref[i]) * ref[i];
    d += (double(ref[i]) - got[i]) * (double(ref[i]) - got[i]);
  }
  if (d == 0) return 300;
  return 10 * std::log10(e / d);
}

// Skips (the caller returns) when there is no GPU; otherwise the plan or a failure.
std::unique_ptr<CudaPlan> MakePlanOrSkip(std::shared_ptr<const models::Model> model, int slots,
                                         UltraPlanMode mode, std::string* skip, bool cluster = true,
                                         bool ll_mailbox = true, bool early_states = true, bool fast_fft = true,
                                         bool rank_tweaks = true) {
  absl::StatusOr<std::vector<runtime::DeviceInfo>> devs = runtime::ListDevices();
  if (!devs.ok() || devs->empty()) {
    *skip = "no GPU: " + (devs.ok() ? std::string("no CUDA device") : std::string(devs.status().message()));
    return nullptr;
  }
  CudaPlanOptions o;
  o.max_sessions = slots;
  o.realtime = true;
  UltraPlanOptions u;
  u.mode = mode;
  u.cluster = cluster;
  u.ll_mailbox = ll_mailbox;
  u.early_states = early_states;
  u.fast_fft = fast_fft;
  u.gru2_early_parts = rank_tweaks;
  u.half_warp_dense = rank_tweaks;
  u.band_send = rank_tweaks;
  absl::StatusOr<std::unique_ptr<CudaPlan>> plan = CreateUltraPlan(std::move(model), o, u);
  if (!plan.ok() && absl::IsUnavailable(plan.status()) &&
      std::string(plan.status().message()).find("NVRTC") != std::string::npos) {
    *skip = "no GPU: " + std::string(plan.status().message());
    return nullptr;
  }
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return nullptr;
  // The kernel the plan chose: the cluster kernel exactly where asked for on sm_90+.
  const std::string desc = (*plan)->device_description();
  const bool has_clusters = (*devs)[0].Arch() >= 90;
  std::cout << "plan: " << desc << "\n";
  EXPECT_EQ(desc.find("[ultra: cluster of 8 blocks]") != std::string::npos, cluster && has_clusters) << desc;
  EXPECT_EQ(desc.find("[ultra: one block]") != std::string::npos, !(cluster && has_clusters)) << desc;
  return std::move(*plan);
}

std::shared_ptr<const models::Model> ShippedUltra() {
  const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
  if (src == nullptr) return nullptr;
  absl::StatusOr<std::shared_ptr<const models::Model>> m =
      models::LoadGnvmFile(std::string(src) + "/models/weights/ultra.gnvm");
  return m.ok() ? *m : nullptr;
}

struct Case {
  const char* name;
  UltraPlanMode mode;
  int model;  // 0 shipped, 1 random reset_after, 2 random Keras + approx math, 3 random odd widths
  bool cluster;
  // Persistent cluster kernel: the LL mailbox and early states (false, false: the 2026-11-28 kernel).
  bool ll_mailbox = true;
  bool early_states = true;
  // The warp-shuffle FFT of 2026-11-29 session 7 (false: the 7-stage Stockham FFT).
  bool fast_fft = true;
  // UltraPlanOptions::gru2_early_parts, half_warp_dense and band_send (persistent cluster kernel).
  bool rank_tweaks = true;
};

class WholeHop : public ::testing::TestWithParam<Case> {};

TEST_P(WholeHop, MatchesTheCpuFamily) {
  const Case c = GetParam();
  OwnedModel owned;
  std::shared_ptr<const models::Model> model;
  if (c.model == 0) {
    model = ShippedUltra();
    if (model == nullptr) GTEST_SKIP() << "models/weights/ultra.gnvm not found (GHOSTNV_SOURCE_DIR)";
  } else if (c.model == 3) {
    // Widths that do not split evenly over the cluster's 7 GRU blocks (one gets no units).
    owned = RandomUltra(31, true, kernels::MathMode::kExact, 40, 37, 12);
    model = owned.model;
  } else {
    owned = RandomUltra(11 + c.model, c.model == 1,
                        c.model == 1 ? kernels::MathMode::kExact : kernels::MathMode::kRnnoiseApprox);
    model = owned.model;
  }
  constexpr int kSlots = 3;
  std::string skip;
  std::unique_ptr<CudaPlan> plan = MakePlanOrSkip(model, kSlots, c.mode, &skip, c.cluster, c.ll_mailbox,
                                                  c.early_states, c.fast_fft, c.rank_tweaks);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_NE(plan, nullptr);
  ASSERT_EQ(plan->hop_size(), ultra::kHop);
  absl::StatusOr<std::unique_ptr<models::Family>> fam = ultra::CreateUltraFamily(model);
  ASSERT_TRUE(fam.ok()) << fam.status();

  constexpr int kHops = 3000;
  const int hop = ultra::kHop;
  const float strengths[kSlots] = {1.f, 0.7f, 1.f};
  std::vector<int> slot(kSlots);
  std::vector<std::unique_ptr<models::ChannelState>> cpu(kSlots);
  std::vector<std::vector<float>> in(kSlots), ref(kSlots), got(kSlots);
  std::vector<double> max_vad_diff(kSlots, 0);
  for (int s = 0; s < kSlots; ++s) {
    absl::StatusOr<int> a = plan->AcquireSlot();
    ASSERT_TRUE(a.ok()) << a.status();
    slot[s] = *a;
    cpu[s] = (*fam)->NewChannel();
    in[s] = Signal(static_cast<size_t>(kHops) * hop, 100 + s);
    if (s == 2) {  // white noise at several levels
      std::mt19937 rng(7);
      std::normal_distribution<float> d(0.f, 1.f);
      for (size_t i = 0; i < in[s].size(); ++i) in[s][i] = d(rng) * (i / 9600 % 3 == 0 ? 0.5f : 0.01f);
    }
    ref[s].resize(in[s].size());
    got[s].resize(in[s].size());
  }
  EXPECT_FALSE(plan->AcquireSlot().ok()) << "all slots should be taken";
  std::mt19937 order_rng(3);
  for (int h = 0; h < kHops; ++h) {
    // Slot 1 is released and re-acquired half way: its state must start from zero again.
    if (h == kHops / 2) {
      plan->ReleaseSlot(slot[1]);
      absl::StatusOr<int> a = plan->AcquireSlot();
      ASSERT_TRUE(a.ok()) << a.status();
      slot[1] = *a;
      cpu[1] = (*fam)->NewChannel();
    }
    int order[kSlots] = {0, 1, 2};
    std::shuffle(order, order + kSlots, order_rng);
    for (int s : order) {
      const size_t off = static_cast<size_t>(h) * hop;
      const models::HopInfo info = (*fam)->ProcessHop(*cpu[s], in[s].data() + off, ref[s].data() + off, strengths[s]);
      std::copy(in[s].data() + off, in[s].data() + off + hop, plan->input_rows());
      ASSERT_EQ(plan->Submit(&slot[s], &strengths[s], 1), cu::kSuccess) << "hop " << h;
      ASSERT_EQ(plan->Wait(), cu::kSuccess) << "hop " << h;
      std::copy(plan->output_rows(), plan->output_rows() + hop, got[s].data() + off);
      EXPECT_EQ(plan->info()[0].silent, 0);
      max_vad_diff[s] = std::max(max_vad_diff[s], std::fabs(double(plan->info()[0].vad) - info.vad));
    }
  }
  for (int s = 0; s < kSlots; ++s) {
    const double snr = SnrDb(ref[s], got[s]);
    std::cout << c.name << " slot " << s << ": SNR of the difference " << snr
              << " dB over " << kHops << " hops, max |vad diff| " << max_vad_diff[s] << "\n";
    EXPECT_GE(snr, 100.0) << "slot " << s;
    EXPECT_LT(max_vad_diff[s], 1e-3) << "slot " << s;
  }
  // Telemetry: every hop's kernel time (%globaltimer) and end to end; the kernel inside it.
  const runtime::StageHistograms* st = plan->stage_times();
  ASSERT_NE(st, nullptr);
  const uint64_t n = static_cast<uint64_t>(kHops) * kSlots;
  const auto& k = (*st)[runtime::Stage::kKernels];
  const auto& e = (*st)[runtime::Stage::kEndToEnd];
  std::cout << c.name << " stages: kernels p50 " << k.Percentile(0.5) * 1e-3 << " us p99 "
            << k.Percentile(0.99) * 1e-3 << " us; end to end p50 " << e.Percentile(0.5) * 1e-3 << " us p99 "
            << e.Percentile(0.99) * 1e-3 << " us; outside kernels p50 "
            << (*st)[runtime::Stage::kOutsideKernels].Percentile(0.5) * 1e-3 << " us\n";
  EXPECT_EQ(e.count(), n);
  EXPECT_EQ(k.count(), n);
  EXPECT_EQ((*st)[runtime::Stage::kOutsideKernels].count(), n);
  EXPECT_GT(k.min_ns(), 0u);
  EXPECT_LT(k.mean_ns(), e.mean_ns());
  EXPECT_EQ((*st)[runtime::Stage::kH2D].count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, WholeHop,
    ::testing::Values(Case{"persistent_shipped", UltraPlanMode::kPersistent, 0, false},
                      Case{"persistent_random_reset_after", UltraPlanMode::kPersistent, 1, false},
                      Case{"persistent_random_keras_approx", UltraPlanMode::kPersistent, 2, false},
                      Case{"graph_shipped", UltraPlanMode::kGraph, 0, false},
                      Case{"graph_random_keras_approx", UltraPlanMode::kGraph, 2, false},
                      // The thread-block cluster kernel (sm_90+; elsewhere these run the single
                      // block again and say so).
                      Case{"cluster_persistent_shipped", UltraPlanMode::kPersistent, 0, true},
                      Case{"cluster_persistent_random_reset_after", UltraPlanMode::kPersistent, 1, true},
                      Case{"cluster_persistent_random_keras_approx", UltraPlanMode::kPersistent, 2, true},
                      Case{"cluster_persistent_random_odd_widths", UltraPlanMode::kPersistent, 3, true},
                      Case{"cluster_persistent_old_mailbox_shipped", UltraPlanMode::kPersistent, 0, true, false, false},
                      Case{"cluster_persistent_old_mailbox_odd_widths", UltraPlanMode::kPersistent, 3, true, false, false},
                      Case{"cluster_persistent_ll_only_keras_approx", UltraPlanMode::kPersistent, 2, true, true, false},
                      Case{"cluster_persistent_early_only_reset_after", UltraPlanMode::kPersistent, 1, true, false, true},
                      Case{"cluster_graph_shipped", UltraPlanMode::kGraph, 0, true},
                      Case{"cluster_graph_random_reset_after", UltraPlanMode::kGraph, 1, true},
                      Case{"cluster_graph_random_keras_approx", UltraPlanMode::kGraph, 2, true},
                      Case{"cluster_graph_random_odd_widths", UltraPlanMode::kGraph, 3, true},
                      // The Stockham FFT (UltraPlanOptions::fast_fft = false) on each kernel.
                      Case{"persistent_stockham_shipped", UltraPlanMode::kPersistent, 0, false, true, true, false},
                      Case{"cluster_persistent_stockham_shipped", UltraPlanMode::kPersistent, 0, true, true, true, false},
                      Case{"cluster_persistent_stockham_keras_approx", UltraPlanMode::kPersistent, 2, true, true, true,
                           false},
                      Case{"cluster_graph_stockham_odd_widths", UltraPlanMode::kGraph, 3, true, true, true, false},
                      // Session 6's ranks and feature send (no gru2 early parts, one warp per input_dense
                      // output, features through shared memory).
                      Case{"cluster_persistent_s6_ranks_shipped", UltraPlanMode::kPersistent, 0, true, true, true, true,
                           false},
                      Case{"cluster_persistent_s6_ranks_keras_approx", UltraPlanMode::kPersistent, 2, true, true, true,
                           true, false},
                      Case{"cluster_persistent_s6_ranks_odd_widths", UltraPlanMode::kPersistent, 3, true, true, true,
                           true, false}),
    [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

TEST(UltraPlanGpu, StrengthZeroIsTheInputDelayedAndBadArgumentsAreRejected) {
  OwnedModel owned = RandomUltra(5, true, kernels::MathMode::kExact);
  std::string skip;
  std::unique_ptr<CudaPlan> plan = MakePlanOrSkip(owned.model, 2, UltraPlanMode::kPersistent, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_NE(plan, nullptr);
  absl::StatusOr<int> a = plan->AcquireSlot();
  ASSERT_TRUE(a.ok());
  int s = *a;
  const float zero = 0.f;
  std::vector<float> x = Signal(20 * ultra::kHop, 9);
  for (int h = 0; h < 20; ++h) {
    std::copy(x.begin() + h * ultra::kHop, x.begin() + (h + 1) * ultra::kHop, plan->input_rows());
    ASSERT_EQ(plan->Submit(&s, &zero, 1), cu::kSuccess);
    ASSERT_EQ(plan->Wait(), cu::kSuccess);
    for (int i = 0; i < ultra::kHop; ++i) {
      const float want = h == 0 ? 0.f : x[(h - 1) * ultra::kHop + i];
      ASSERT_EQ(plan->output_rows()[i], want) << "hop " << h << " sample " << i;
    }
  }
  int bad = 1;  // not acquired
  EXPECT_EQ(plan->Submit(&bad, &zero, 1), cu::kErrorInvalidValue);
  bad = 7;
  EXPECT_EQ(plan->Submit(&bad, &zero, 1), cu::kErrorInvalidValue);
  int two[2] = {s, s};
  const float st2[2] = {1.f, 1.f};
  EXPECT_EQ(plan->Submit(two, st2, 2), cu::kErrorInvalidValue);
  EXPECT_EQ(plan->Submit(&s, &zero, 0), cu::kSuccess);
  EXPECT_EQ(plan->Query(), cu::kSuccess);
  // Still healthy after the rejected calls.
  ASSERT_EQ(plan->Submit(&s, &zero, 1), cu::kSuccess);
  EXPECT_EQ(plan->Wait(), cu::kSuccess);
}

#if GHOSTNV_ULTRA_TEST_BACKEND
// What the backend tests start from: the shipped ultra model, its CPU family and a CUDA backend
// choice, or why the test cannot run here (no model file, no device: `skip` non-empty).
struct BackendSetup {
  std::shared_ptr<const models::Model> model;
  std::shared_ptr<const models::Family> cpu;
  BackendChoice choice;
  std::string skip;
};

BackendSetup SetUpBackendTest() {
  BackendSetup b;
  b.model = ShippedUltra();
  if (b.model == nullptr) {
    b.skip = "models/weights/ultra.gnvm not found (GHOSTNV_SOURCE_DIR)";
    return b;
  }
  { std::unique_ptr<CudaPlan> probe = MakePlanOrSkip(b.model, 1, UltraPlanMode::kGraph, &b.skip); }
  if (!b.skip.empty()) return b;
  absl::StatusOr<std::unique_ptr<models::Family>> cpu = ultra::CreateUltraFamily(b.model);
  if (cpu.ok()) b.cpu = std::move(*cpu);  // the test asserts it is there
  b.choice.kind = BackendKind::kCuda;
  b.choice.device = "cuda";
  return b;
}

// The CUDA backend's real-time family on the ultra plan, as libghostnv builds it
// (MakeBackendFamily with the default factory): equal to the CPU family, hops counted on the GPU.
TEST(UltraPlanGpu, BackendFamilyRunsTheUltraModelOnTheGpu) {
  auto [model, cpu_shared, choice, skip] = SetUpBackendTest();
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_NE(cpu_shared, nullptr);
  absl::StatusOr<std::shared_ptr<const models::Family>> fam =
      MakeBackendFamily(model, cpu_shared, &choice, /*automatic=*/false, /*slots=*/2);
  ASSERT_TRUE(fam.ok()) << fam.status();
  auto ch = (*fam)->NewChannel();
  auto ref_ch = cpu_shared->NewChannel();
  ASSERT_NE(ch, nullptr);
  const int hops = 2000;
  std::vector<float> x = Signal(static_cast<size_t>(hops) * ultra::kHop, 21), y(x.size()), r(x.size());
  for (int h = 0; h < hops; ++h) {
    const size_t off = static_cast<size_t>(h) * ultra::kHop;
    (*fam)->ProcessHop(*ch, x.data() + off, y.data() + off, 1.f);
    cpu_shared->ProcessHop(*ref_ch, x.data() + off, r.data() + off, 1.f);
  }
  const BackendTelemetry t = TelemetryOf(**fam);
  std::cout << "backend: " << t.backend << " active " << t.active << " on " << t.device << ", gpu hops "
            << t.gpu_hops << ", submit->done p50 " << t.submit_to_done.p50_us << " us p99 "
            << t.submit_to_done.p99_us << " us; SNR " << SnrDb(r, y) << " dB\n";
  std::cout << "backend stages: " << StagesJson(t) << "\n";
  EXPECT_EQ(t.active, "cuda");
  EXPECT_EQ(t.gpu_hops, static_cast<uint64_t>(hops));
  EXPECT_GE(SnrDb(r, y), 60.0);
  EXPECT_EQ(t.stages[static_cast<size_t>(runtime::Stage::kEndToEnd)].count, static_cast<uint64_t>(hops));
  EXPECT_EQ(t.stages[static_cast<size_t>(runtime::Stage::kKernels)].count, static_cast<uint64_t>(hops));
}

// Session 8: a persistent ultra session (the backend's default mode) keeps streaming while other
// plans — the RNNoise batched plan, DTLN, graph-mode ultra — are created and destroyed on another
// thread: their cuMemFree / cuMemFreeHost / cuModuleUnload / cuGraphExecDestroy pass through the
// park gate (runtime/park_gate.h), which parks the persistent kernel around them. No hang (a
// watchdog ends the process), every hop answered by the GPU, output equal to the CPU family's
// (>= 100 dB, the parks leave no trace), the worst hop printed.
TEST(UltraPlanGpu, PersistentSessionSurvivesOtherPlansComingAndGoing) {
  auto [model, cpu_shared, choice, skip] = SetUpBackendTest();
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_NE(cpu_shared, nullptr);
  CudaPlanFactory persistent = [](std::shared_ptr<const models::Model> m, const CudaPlanOptions& o) {
    UltraPlanOptions u;
    u.mode = UltraPlanMode::kPersistent;
    return CreateUltraPlan(std::move(m), o, u);
  };
  absl::StatusOr<std::shared_ptr<const models::Family>> fam =
      MakeBackendFamily(model, cpu_shared, &choice, /*automatic=*/false, /*slots=*/2, persistent);
  ASSERT_TRUE(fam.ok()) << fam.status();
  ASSERT_EQ(runtime::ParkGate::Get().members(), 1);

  std::atomic<bool> finished{false};
  std::thread dog([&finished] {
    for (int i = 0; i < 600 && !finished.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!finished.load()) {
      std::printf("UltraPlanGpu.PersistentSessionSurvives...: HANG (60 s)\n");
      std::fflush(stdout);
      std::_Exit(3);
    }
  });
  const std::vector<float> x = Signal(static_cast<size_t>(4000) * ultra::kHop, 33);
  const int max_hops = 60000;
  std::vector<float> y(static_cast<size_t>(max_hops) * ultra::kHop);
  std::atomic<bool> stop{false};
  std::atomic<int> hops_done{0};
  double worst_us = 0;
  std::vector<double> hop_us;
  hop_us.reserve(max_hops);
  std::thread audio([&] {
    auto ch = (*fam)->NewChannel();
    if (ch == nullptr) return;
    int h = 0;
    for (; h < max_hops && (!stop.load() || h < 200); ++h) {
      const auto t0 = std::chrono::steady_clock::now();
      const size_t in_off = static_cast<size_t>(h % 4000) * ultra::kHop;
      (*fam)->ProcessHop(*ch, x.data() + in_off, y.data() + static_cast<size_t>(h) * ultra::kHop, 1.f);
      const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      hop_us.push_back(us);
      worst_us = std::max(worst_us, us);
      while (std::chrono::steady_clock::now() - t0 < std::chrono::microseconds(150)) {
      }
    }
    hops_done = h;
  });
  const uint64_t parks0 = runtime::ParkGate::Get().parks();
  const auto c0 = std::chrono::steady_clock::now();
  int created = 0;
  const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
  absl::StatusOr<std::shared_ptr<const models::Model>> rn =
      models::LoadGnvmFile(std::string(src) + "/models/weights/default.gnvm");
  models::testing::OwnedModel dtln = models::dtln::testing::SmallDtln(3, 0.3f);
  const CudaPlanFactory factory = DefaultCudaPlanFactory();
  for (int round = 0; round < 5; ++round) {
    CudaPlanOptions bo;
    bo.max_sessions = 128;  // the batched RNNoise plan: a graph per batch bucket, arenas, pools
    bo.realtime = false;
    if (rn.ok()) {
      absl::StatusOr<std::unique_ptr<CudaPlan>> p = factory(*rn, bo);
      EXPECT_TRUE(p.ok()) << p.status();
      if (p.ok()) {
        ++created;
        std::vector<int> slots;
        std::vector<float> strengths;
        for (int i = 0; i < 16; ++i) {
          absl::StatusOr<int> sl = (*p)->AcquireSlot();
          if (sl.ok()) slots.push_back(*sl);
          strengths.push_back(1.f);
        }
        for (int k = 0; k < 3; ++k) {
          EXPECT_EQ((*p)->Submit(slots.data(), strengths.data(), static_cast<int>(slots.size())), cu::kSuccess);
          EXPECT_EQ((*p)->Wait(), cu::kSuccess);
        }
        for (int sl : slots) (*p)->ReleaseSlot(sl);
      }
    }
    CudaPlanOptions dopt;
    dopt.max_sessions = 4;
    dopt.realtime = true;
    absl::StatusOr<std::unique_ptr<CudaPlan>> d = factory(dtln.model, dopt);
    if (d.ok()) {
      ++created;
    } else {
      std::cout << "DTLN plan not made: " << d.status() << "\n";
    }
    UltraPlanOptions g;
    g.mode = UltraPlanMode::kGraph;
    CudaPlanOptions uo;
    uo.max_sessions = 2;
    uo.realtime = true;
    absl::StatusOr<std::unique_ptr<CudaPlan>> q = CreateUltraPlan(model, uo, g);
    EXPECT_TRUE(q.ok()) << q.status();
    if (q.ok()) ++created;
  }
  const double churn_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - c0).count();
  const uint64_t parks = runtime::ParkGate::Get().parks() - parks0;
  stop = true;
  audio.join();
  finished = true;
  dog.join();
  const int n = hops_done.load();
  ASSERT_GT(n, 0);
  // The CPU family on the same inputs.
  auto ref_ch = cpu_shared->NewChannel();
  std::vector<float> r(static_cast<size_t>(n) * ultra::kHop);
  for (int h = 0; h < n; ++h)
    cpu_shared->ProcessHop(*ref_ch, x.data() + static_cast<size_t>(h % 4000) * ultra::kHop,
                           r.data() + static_cast<size_t>(h) * ultra::kHop, 1.f);
  y.resize(r.size());
  // The same input through a fresh persistent session with nothing around it: the parks should
  // leave no trace at all (printed, not asserted: the bound is the CPU comparison below).
  size_t differ = 0;
  {
    absl::StatusOr<std::shared_ptr<const models::Family>> fam2 =
        MakeBackendFamily(model, cpu_shared, &choice, /*automatic=*/false, /*slots=*/1, persistent);
    ASSERT_TRUE(fam2.ok()) << fam2.status();
    auto ch2 = (*fam2)->NewChannel();
    std::vector<float> y2(ultra::kHop);
    for (int h = 0; h < n; ++h) {
      (*fam2)->ProcessHop(*ch2, x.data() + static_cast<size_t>(h % 4000) * ultra::kHop, y2.data(), 1.f);
      for (int i = 0; i < ultra::kHop; ++i) differ += y2[i] != y[static_cast<size_t>(h) * ultra::kHop + i];
    }
  }
  const BackendTelemetry t = TelemetryOf(**fam);
  std::sort(hop_us.begin(), hop_us.end());
  const double p50 = hop_us[hop_us.size() / 2], p99 = hop_us[hop_us.size() * 99 / 100];
  const double snr = SnrDb(r, y);
  std::cout << "coexistence: " << created << " plans created and destroyed in " << churn_ms << " ms, " << parks
            << " parks, beside " << n << " hops of the persistent session: ProcessHop p50 " << p50 << " us, p99 "
            << p99 << " us, worst " << worst_us << " us; SNR vs CPU " << snr << " dB; active " << t.active
            << ", gpu hops " << t.gpu_hops << ", fallbacks " << t.fallback_events << "; samples differing from an "
            << "uninterrupted persistent run: " << differ << "\n";
  EXPECT_GT(parks, 0u);
  EXPECT_EQ(t.active, "cuda");
  EXPECT_EQ(t.fallback_events, 0u);
  EXPECT_EQ(t.gpu_hops, static_cast<uint64_t>(n));
  EXPECT_GE(snr, 100.0);
}

// The CPU fallback covers the persistent mode: the kernel disappears mid-stream (stopped behind
// the plan's back), the hop in flight is never answered; the family notices, every hop is still
// delivered (none lost, none repeated), the rest runs on the CPU and converges to the CPU-only
// output.
TEST(UltraPlanGpu, BackendFallsBackToTheCpuWhenThePersistentKernelDies) {
  auto [model, cpu_shared, choice, skip] = SetUpBackendTest();
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_NE(cpu_shared, nullptr);
  CudaPlan* raw = nullptr;
  CudaPlanFactory persistent = [&raw](std::shared_ptr<const models::Model> m, const CudaPlanOptions& o) {
    UltraPlanOptions u;
    u.mode = UltraPlanMode::kPersistent;
    absl::StatusOr<std::unique_ptr<CudaPlan>> p = CreateUltraPlan(std::move(m), o, u);
    if (p.ok()) raw = p->get();
    return p;
  };
  absl::StatusOr<std::shared_ptr<const models::Family>> fam =
      MakeBackendFamily(model, cpu_shared, &choice, /*automatic=*/false, /*slots=*/1, persistent);
  ASSERT_TRUE(fam.ok()) << fam.status();
  ASSERT_NE(raw, nullptr);
  auto ch = (*fam)->NewChannel();
  auto ref_ch = cpu_shared->NewChannel();
  const int hops = 1500, kill_at = 700;
  std::vector<float> x = Signal(static_cast<size_t>(hops) * ultra::kHop, 44), y(x.size()), r(x.size());
  for (int h = 0; h < hops; ++h) {
    if (h == kill_at) {
      ASSERT_TRUE(StopUltraKernelForTesting(*raw).ok());
    }
    const size_t off = static_cast<size_t>(h) * ultra::kHop;
    (*fam)->ProcessHop(*ch, x.data() + off, y.data() + off, 1.f);
    cpu_shared->ProcessHop(*ref_ch, x.data() + off, r.data() + off, 1.f);
  }
  const BackendTelemetry t = TelemetryOf(**fam);
  const auto part = [&](int h0, int h1, const std::vector<float>& v) {
    return std::vector<float>(v.begin() + static_cast<size_t>(h0) * ultra::kHop, v.begin() + static_cast<size_t>(h1) * ultra::kHop);
  };
  const double before = SnrDb(part(0, kill_at, r), part(0, kill_at, y));
  const double after = SnrDb(part(kill_at + 250, hops, r), part(kill_at + 250, hops, y));
  std::cout << "fallback: active " << t.active << ", gpu hops " << t.gpu_hops << ", cpu hops " << t.cpu_hops
            << ", events " << t.fallback_events << " (" << t.fallback_note << "); SNR vs CPU before " << before
            << " dB, from 250 hops (0.5 s) after the switch " << after << " dB\n";
  EXPECT_EQ(t.active, "cpu");
  EXPECT_EQ(t.fallback_events, 1u);
  EXPECT_EQ(t.gpu_hops, static_cast<uint64_t>(kill_at));
  EXPECT_EQ(t.cpu_hops, static_cast<uint64_t>(hops - kill_at));
  EXPECT_GE(before, 100.0);
  EXPECT_GE(after, 40.0);  // converged towards the CPU-only output (CPU alone: 52 dB)
}

// No device: the bound BackendFallsBackToTheCpuWhenThePersistentKernelDies asserts, checked on
// the CPU alone — the backend's CpuFallback for the shipped ultra model (warm-up on the last 32
// hops at the switch) against the continuous CPU channel, from 0.5 s after the switch.
TEST(UltraPlanUnit, CpuFallbackConvergesForTheUltraModel) {
  std::shared_ptr<const models::Model> model = ShippedUltra();
  if (model == nullptr) GTEST_SKIP() << "models/weights/ultra.gnvm not found (GHOSTNV_SOURCE_DIR)";
  absl::StatusOr<std::unique_ptr<models::Family>> cpu = ultra::CreateUltraFamily(model);
  ASSERT_TRUE(cpu.ok());
  std::shared_ptr<const models::Family> fam(std::move(*cpu));
  const int hops = 1500, kill_at = 700;
  std::vector<float> x = Signal(static_cast<size_t>(hops) * ultra::kHop, 44), y(x.size()), r(x.size());
  auto ref = fam->NewChannel();
  CpuFallback fb(fam, RealtimeCudaOptions{}.warmup_hops, 1);
  for (int h = 0; h < hops; ++h) {
    const size_t off = static_cast<size_t>(h) * ultra::kHop;
    fam->ProcessHop(*ref, x.data() + off, r.data() + off, 1.f);
    if (h < kill_at) {
      fb.Remember(x.data() + off, 1.f);
      std::copy(r.begin() + off, r.begin() + off + ultra::kHop, y.begin() + off);  // "the GPU"
    } else if (h == kill_at) {
      fb.Remember(x.data() + off, 1.f);
      fb.Switch(1);
      fb.ProcessPending(0, y.data() + off);
    } else {
      fb.Process(x.data() + off, y.data() + off, 1.f);
    }
  }
  const std::vector<float> rr(r.begin() + static_cast<size_t>(kill_at + 250) * ultra::kHop, r.end());
  const std::vector<float> yy(y.begin() + static_cast<size_t>(kill_at + 250) * ultra::kHop, y.end());
  std::cout << "CPU fallback, ultra: SNR vs the continuous channel from 0.5 s after the switch " << SnrDb(rr, yy)
            << " dB\n";
  EXPECT_GE(SnrDb(rr, yy), 40.0);  // 52.0 dB (2026-11-29)
}
#endif  // GHOSTNV_ULTRA_TEST_BACKEND

// The park gate (runtime/park_gate.h) with fake members: Join launches once no scope is open;
// the first of nested or concurrent scopes parks every member once, the last relaunches them;
// Leave stops the calls.
struct FakeMember final : runtime::Parkable {
  std::atomic<int> parks{0}, resumes{0};
  std::atomic<bool> running{false};
  bool Park() override {
    EXPECT_TRUE(running.load());
    running = false;
    ++parks;
    return true;
  }
  bool Resume() override {
    EXPECT_FALSE(running.load());
    running = true;
    ++resumes;
    return true;
  }
};

TEST(UltraPlanUnit, ParkGateParksMembersAroundScopes) {
  runtime::ParkGate& gate = runtime::ParkGate::Get();
  const int base = gate.members();
  FakeMember a, b;
  ASSERT_TRUE(gate.Join(&a));
  EXPECT_TRUE(a.running.load());
  EXPECT_EQ(a.resumes.load(), 1);
  auto outer = std::make_unique<runtime::ParkScope>();
  EXPECT_FALSE(a.running.load());
  {
    runtime::ParkScope inner;  // nested: no second park
    EXPECT_EQ(a.parks.load(), 1);
  }
  EXPECT_FALSE(a.running.load());
  // Join waits while a scope is open: b starts only after `outer` ends.
  std::thread joiner([&] { EXPECT_TRUE(gate.Join(&b)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(b.resumes.load(), 0);
  EXPECT_EQ(gate.members(), base + 1);
  outer.reset();
  joiner.join();
  // After the scope: a relaunched, b joined.
  EXPECT_TRUE(a.running.load());
  EXPECT_EQ(a.resumes.load(), 2);
  EXPECT_EQ(b.resumes.load(), 1);
  EXPECT_EQ(gate.members(), base + 2);
  // Scopes from several threads at once: every member parked during each scope's body.
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        runtime::ParkScope s;
        if (a.running.load() || b.running.load()) ++bad;
      }
    });
  for (std::thread& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_TRUE(a.running.load());
  EXPECT_TRUE(b.running.load());
  EXPECT_EQ(a.parks.load(), a.resumes.load() - 1);
  gate.Leave(&a);
  gate.Leave(&b);
  const int pa = a.parks.load();
  { runtime::ParkScope s; }
  EXPECT_EQ(a.parks.load(), pa);
  EXPECT_EQ(gate.members(), base);
}

TEST(UltraPlanUnit, RejectsOtherModels) {
  OwnedModel owned = RandomUltra(1, true, kernels::MathMode::kExact);
  EXPECT_TRUE(CheckUltraModelForGpu(*owned.model).ok());
  OwnedModel big = RandomUltra(1, true, kernels::MathMode::kExact, 64, 300, 96);
  EXPECT_TRUE(absl::IsInvalidArgument(CheckUltraModelForGpu(*big.model)));
  OwnedModel other = RandomUltra(1, true, kernels::MathMode::kExact);
  other.model->family = "rnnoise";
  EXPECT_TRUE(absl::IsInvalidArgument(CheckUltraModelForGpu(*other.model)));
  CudaPlanOptions o;
  o.pcm16 = true;
  absl::StatusOr<std::unique_ptr<CudaPlan>> p = CreateUltraPlan(owned.model, o);
  EXPECT_FALSE(p.ok());
  EXPECT_FALSE(CreateUltraPlan(nullptr, {}).ok());
}

}  // namespace
}  // namespace ghostnv::sched
