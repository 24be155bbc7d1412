// runtime/sched/persistent/ultra_plan_test.cc — the ultra family's fused GPU hop (persistent
// kernel and graph replay; the single-block kernel and, on sm_90+, the thread-block cluster
// kernel, each checked to be the one the plan chose) against the CPU family (models/ultra
// ProcessHop, >= 100 dB): several slots interleaved, thousands of hops of speech-like and random
// signals, both GRU conventions, widths that do not split evenly over the cluster, strengths
// 1 / 0.7 / 0, slot release and re-acquire (state wiped), bad arguments. Label gpu: skips
// ("no GPU: ...") without a driver/device. UltraPlanUnit.* (label unit) need no device.
#include "runtime/sched/persistent/ultra_plan.h"

#include <cmath>
#include <cstdlib>
#include <memory>
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
#if GHOSTNV_ULTRA_TEST_BACKEND
#include "runtime/sched/backend.h"
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
// The CUDA backend's real-time family on the ultra plan, as libghostnv builds it
// (MakeBackendFamily with the default factory): equal to the CPU family, hops counted on the GPU.
TEST(UltraPlanGpu, BackendFamilyRunsTheUltraModelOnTheGpu) {
  std::shared_ptr<const models::Model> model = ShippedUltra();
  if (model == nullptr) GTEST_SKIP() << "models/weights/ultra.gnvm not found (GHOSTNV_SOURCE_DIR)";
  std::string skip;
  { std::unique_ptr<CudaPlan> probe = MakePlanOrSkip(model, 1, UltraPlanMode::kGraph, &skip); }
  if (!skip.empty()) GTEST_SKIP() << skip;
  absl::StatusOr<std::unique_ptr<models::Family>> cpu = ultra::CreateUltraFamily(model);
  ASSERT_TRUE(cpu.ok());
  std::shared_ptr<const models::Family> cpu_shared(std::move(*cpu));
  BackendChoice choice;
  choice.kind = BackendKind::kCuda;
  choice.device = "cuda";
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
#endif  // GHOSTNV_ULTRA_TEST_BACKEND

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
