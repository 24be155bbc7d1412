// GPU test (label gpu; skips with "no GPU: " without a device) of DemucsCudaPlan against the CPU
// family (models/demucs ProcessHop), states carried over hundreds of hops (no teacher forcing):
// the converted fixture tools/convert/tests/data/demucs_small.onnx ($GHOSTNV_DEMUCS_GNVM, else
// that part is skipped with a message) and random models of several shapes — dns48's (depth 5,
// hidden 48, K 8, S 4, resample 4, 16 kHz), a 48 kHz one (resample 2, hop 512), K 4 / S 2 /
// resample 2 with one LSTM layer, resample 1 without GLU or normalisation, and a 48 kHz
// resample-1 one with an output delay of 300 samples (a dry delay line). Five sessions on
// scattered slots of 37, rows shuffled every hop, staggered starts, strengths 1 and 0.7, both
// LSTM paths: per hop and session the relative L2 error of the output <= 1e-4, whole-stream SNR
// of the difference >= 60 dB. Also: 1500 live sessions of 2500 slots, argument errors, slot
// exhaustion and reuse, and the CUDA backend's RealtimeCudaFamily over the adapter.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "models/cuda_test_util.h"
#include "models/demucs/cuda/demucs_backend_plan.h"
#include "models/demucs/cuda/demucs_cuda_plan.h"
#include "models/demucs/cuda/demucs_test_model.h"
#include "models/demucs/demucs_family.h"
#include "models/family.h"
#include "models/gnvm.h"
#include "runtime/sched/cuda_backend.h"
#include "runtime/telemetry_test_util.h"

namespace ghostnv::models::demucs {
namespace {

// A plan, or nullptr with *skip set without a GPU (models/cuda_test_util.h).
std::unique_ptr<DemucsCudaPlan> MakePlan(std::shared_ptr<const Model> m, const DemucsCudaPlanOptions& o,
                                         std::string* skip) {
  return models::testing::PlanOrSkip(DemucsCudaPlan::Create(std::move(m), o), skip);
}

#define PLAN_OR_SKIP(plan, model, opts)                                           \
  std::string plan##_skip;                                                        \
  std::unique_ptr<DemucsCudaPlan> plan = MakePlan(model, opts, &plan##_skip);     \
  if (!plan##_skip.empty()) GTEST_SKIP() << plan##_skip;                          \
  ASSERT_NE(plan, nullptr)

// A speech-like test signal: a few voiced harmonics with a syllable envelope, plus noise.
std::vector<float> Signal(size_t n, int sample_rate, unsigned seed, float gain) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::uniform_real_distribution<float> ud(90.f, 220.f);
  const float f0 = ud(rng);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / sample_rate;
    const double env = 0.5 + 0.5 * std::sin(2 * M_PI * 3.1 * t + seed);
    double v = 0;
    for (int h = 1; h <= 8; ++h) v += std::sin(2 * M_PI * f0 * h * t + h) / h;
    x[i] = gain * static_cast<float>(0.3 * env * v + 0.05 * nd(rng));
  }
  return x;
}

struct Named {
  std::string name;
  std::shared_ptr<const Model> model;
  int hops;
};

std::vector<Named> Models() {
  std::vector<Named> v;
  const char* p = std::getenv("GHOSTNV_DEMUCS_GNVM");
  if (p != nullptr && *p && std::filesystem::exists(p)) {
    absl::StatusOr<std::shared_ptr<const Model>> m = LoadGnvmFile(p);
    // 700 hops: past the default normalisation memory (3 s; 562 hops of the enhanced model), so the
    // running statistics reach their exponential phase.
    if (m.ok()) v.push_back({"fixture", *m, 700});
    else ADD_FAILURE() << m.status();
  } else {
    printf("  (fixture part skipped: $GHOSTNV_DEMUCS_GNVM is not set or not there)\n");
  }
  DemucsShape dns48;
  dns48.depth = 5;
  dns48.hidden = 48;
  v.push_back({"dns48-shape", MakeRandomDemucs(dns48, 3), 100});
  DemucsShape hi;  // 48 kHz, resample 2: hop 512 (10.7 ms)
  hi.depth = 5;
  hi.hidden = 32;
  hi.resample = 2;
  hi.sample_rate = 48000;
  hi.lookahead = 96;
  v.push_back({"48k-d5h32r2", MakeRandomDemucs(hi, 4), 80});
  DemucsShape sm;
  sm.depth = 4;
  sm.hidden = 5;
  sm.kernel = 4;
  sm.stride = 2;
  sm.resample = 2;
  sm.lstm_layers = 1;
  sm.lookahead = 13;
  v.push_back({"d4h5k4s2r2", MakeRandomDemucs(sm, 5), 300});
  DemucsShape ng;
  ng.depth = 3;
  ng.hidden = 6;
  ng.kernel = 6;
  ng.stride = 3;
  ng.resample = 1;
  ng.lstm_layers = 3;
  ng.glu = false;
  ng.normalize = false;
  ng.lookahead = 5;
  v.push_back({"d3h6k6s3r1-noglu", MakeRandomDemucs(ng, 6), 300});
  DemucsShape dl;  // the enhanced model's geometry (48 kHz, resample 1, hop 256) with an output
  dl.depth = 4;    // delay (metadata.demucs.output_delay) longer than a hop, not a multiple of it
  dl.hidden = 8;
  dl.resample = 1;
  dl.sample_rate = 48000;
  dl.output_delay = 300;
  v.push_back({"48k-d4h8r1-delay300", MakeRandomDemucs(dl, 7), 120});
  DemucsShape sk;  // the enhanced model's geometry with skip delay lines (metadata.demucs.
  sk.depth = 4;    // skip_delay = output_delay = 256: 64, 16, 4, 1 steps), as the lookahead
  sk.hidden = 8;   // network is exported
  sk.resample = 1;
  sk.sample_rate = 48000;
  sk.skip_delay = sk.output_delay = 256;
  v.push_back({"48k-d4h8r1-skip256", MakeRandomDemucs(sk, 8), 120});
  DemucsShape nm;  // a short normalisation memory (metadata.demucs.norm_memory_frames 9): most of the
  nm.depth = 4;    // 120 hops run in the exponential phase of demucs_input_f32's running variance
  nm.hidden = 8;
  nm.resample = 1;
  nm.sample_rate = 48000;
  nm.norm_frames = 9;
  v.push_back({"48k-d4h8r1-norm9", MakeRandomDemucs(nm, 9), 120});
  return v;
}

// cpu_ref: per session, the CPU family's outputs (computed on the first call, reused after).
void RunAgainstCpu(const Named& nm, int split_max, std::vector<std::vector<float>>* cpu_ref) {
  SCOPED_TRACE(nm.name + (split_max > 0 ? " split" : " dense"));
  absl::StatusOr<std::unique_ptr<Family>> fam = CreateDemucsFamily(nm.model);
  ASSERT_TRUE(fam.ok()) << fam.status();
  DemucsCudaPlanOptions o;
  o.max_sessions = 37;
  o.split_max_batch = split_max;
  std::string skip;
  std::unique_ptr<DemucsCudaPlan> plan = MakePlan(nm.model, o, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_NE(plan, nullptr);
  const int H = plan->hop_size();
  ASSERT_EQ(H, nm.model->hop_size);
  constexpr int kSess = 5;
  const int start[kSess] = {0, 0, 2, 5, 1};
  const float strength[kSess] = {1.f, 1.f, 0.7f, 1.f, 1.f};
  std::vector<int> slot(kSess);
  // Scatter the slots: acquire all, release all but a few.
  std::vector<int> all;
  for (int i = 0; i < 37; ++i) all.push_back(*plan->AcquireSlot());
  const int want[kSess] = {3, 17, 0, 36, 9};
  for (int s : all) {
    bool keep = false;
    for (int w : want) keep = keep || w == s;
    if (!keep) plan->ReleaseSlot(s);
  }
  for (int k = 0; k < kSess; ++k) slot[k] = want[k];
  std::vector<std::unique_ptr<ChannelState>> ch;
  std::vector<std::vector<float>> sig, ref(kSess), got(kSess);
  for (int k = 0; k < kSess; ++k) {
    ch.push_back((*fam)->NewChannel());
    sig.push_back(Signal(static_cast<size_t>(nm.hops) * H, nm.model->sample_rate, 10 + k,
                         0.5f + 0.4f * k));
  }
  std::mt19937 rng(77);
  double worst_rel = 0;
  for (int hop = 0; hop < nm.hops; ++hop) {
    std::vector<int> order;
    for (int k = 0; k < kSess; ++k)
      if (hop >= start[k]) order.push_back(k);
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<int> slots;
    std::vector<float> str;
    for (size_t i = 0; i < order.size(); ++i) {
      const int k = order[i];
      const float* x = sig[k].data() + static_cast<size_t>(hop - start[k]) * H;
      std::copy(x, x + H, plan->input_rows() + i * H);
      slots.push_back(slot[k]);
      str.push_back(strength[k]);
    }
    ASSERT_EQ(plan->Submit(slots.data(), str.data(), static_cast<int>(order.size())), cu::kSuccess);
    ASSERT_EQ(plan->Wait(), cu::kSuccess);
    for (size_t i = 0; i < order.size(); ++i) {
      const int k = order[i];
      const float* x = sig[k].data() + static_cast<size_t>(hop - start[k]) * H;
      const size_t at = static_cast<size_t>(hop - start[k]) * H;
      if ((*cpu_ref)[k].size() < at + H) {
        std::vector<float> yc(H);
        (*fam)->ProcessHop(*ch[k], x, yc.data(), strength[k]);
        (*cpu_ref)[k].insert((*cpu_ref)[k].end(), yc.begin(), yc.end());
      }
      const std::vector<float> y((*cpu_ref)[k].begin() + at, (*cpu_ref)[k].begin() + at + H);
      const float* g = plan->output_rows() + i * H;
      double e = 0, d = 0;
      for (int q = 0; q < H; ++q) {
        e += static_cast<double>(y[q]) * y[q];
        d += (static_cast<double>(y[q]) - g[q]) * (static_cast<double>(y[q]) - g[q]);
      }
      if (e > 0) worst_rel = std::max(worst_rel, std::sqrt(d / e));
      else ASSERT_EQ(d, 0.0) << "hop " << hop << ": output where the CPU has silence";
      ref[k].insert(ref[k].end(), y.begin(), y.end());
      got[k].insert(got[k].end(), g, g + H);
    }
  }
  double worst_snr = 1e9;
  for (int k = 0; k < kSess; ++k) worst_snr = std::min(worst_snr, SnrDb(ref[k], got[k]));
  printf("  %-18s %s: %d hops, worst per-hop relative L2 error %.2e, worst SNR of the difference %.1f dB\n",
         nm.name.c_str(), split_max > 0 ? "split" : "dense", nm.hops, worst_rel, worst_snr);
  EXPECT_LE(worst_rel, 1e-4);
  EXPECT_GE(worst_snr, 60.0);
}

TEST(DemucsCudaPlan, MatchesCpuFamilyPerHopWithStatesCarried) {
  {
    std::string skip;
    DemucsShape s;
    auto probe = MakePlan(MakeRandomDemucs(s, 1), {}, &skip);
    if (!skip.empty()) GTEST_SKIP() << skip;
  }
  for (const Named& nm : Models()) {
    std::vector<std::vector<float>> cpu_ref(5);
    for (int split : {1000, 0}) RunAgainstCpu(nm, split, &cpu_ref);
  }
}

TEST(DemucsCudaPlan, ManySessionsLargeBucket) {
  DemucsShape s;
  s.depth = 4;
  s.hidden = 8;
  std::shared_ptr<const Model> model = MakeRandomDemucs(s, 11);
  DemucsCudaPlanOptions o;
  o.max_sessions = 2500;
  PLAN_OR_SKIP(plan, model, o);
  absl::StatusOr<std::unique_ptr<Family>> fam = CreateDemucsFamily(model);
  ASSERT_TRUE(fam.ok());
  const int H = plan->hop_size(), n = 1500, hops = 12;
  std::vector<int> slots;
  for (int i = 0; i < 2500; ++i) slots.push_back(*plan->AcquireSlot());
  for (int i = 0; i < 2500; ++i)
    if (i % 5 >= 3) plan->ReleaseSlot(i);  // 1500 live: i % 5 in {0, 1, 2}
  slots.clear();
  for (int i = 0; i < 2500; ++i)
    if (i % 5 < 3) slots.push_back(i);
  ASSERT_EQ(static_cast<int>(slots.size()), n);
  EXPECT_EQ(plan->BucketFor(n), 2048);
  std::vector<std::unique_ptr<ChannelState>> ch;
  std::vector<std::vector<float>> ref(n), got(n);
  for (int i = 0; i < n; ++i) ch.push_back((*fam)->NewChannel());
  std::vector<float> str(n, 1.f);
  for (int hop = 0; hop < hops; ++hop) {
    for (int i = 0; i < n; ++i) {
      const std::vector<float> x = Signal(H, 16000, 1000 * hop + i, 0.3f);
      std::copy(x.begin(), x.end(), plan->input_rows() + static_cast<size_t>(i) * H);
    }
    ASSERT_EQ(plan->Submit(slots.data(), str.data(), n), cu::kSuccess);
    ASSERT_EQ(plan->Wait(), cu::kSuccess);
    for (int i = 0; i < n; ++i) {
      const std::vector<float> x = Signal(H, 16000, 1000 * hop + i, 0.3f);
      std::vector<float> y(H);
      (*fam)->ProcessHop(*ch[i], x.data(), y.data(), 1.f);
      ref[i].insert(ref[i].end(), y.begin(), y.end());
      const float* g = plan->output_rows() + static_cast<size_t>(i) * H;
      got[i].insert(got[i].end(), g, g + H);
    }
  }
  double worst = 1e9;
  for (int i = 0; i < n; ++i) worst = std::min(worst, SnrDb(ref[i], got[i]));
  printf("  1500 of 2500 slots (bucket 2048), %d hops: worst SNR of the difference %.1f dB\n", hops, worst);
  EXPECT_GE(worst, 60.0);
}

TEST(DemucsCudaPlan, ArgumentsAndSlots) {
  DemucsShape s;
  std::shared_ptr<const Model> model = MakeRandomDemucs(s, 12);
  DemucsCudaPlanOptions o;
  o.max_sessions = 3;
  PLAN_OR_SKIP(plan, model, o);
  const int a = *plan->AcquireSlot(), b = *plan->AcquireSlot(), c = *plan->AcquireSlot();
  EXPECT_FALSE(plan->AcquireSlot().ok());
  const float st[3] = {1.f, 1.f, 1.f};
  const int dup[2] = {a, a};
  EXPECT_EQ(plan->Submit(dup, st, 2), cu::kErrorInvalidValue);
  const int unknown[1] = {7};
  EXPECT_EQ(plan->Submit(unknown, st, 1), cu::kErrorInvalidValue);
  const int ok3[3] = {a, b, c};
  EXPECT_EQ(plan->Submit(ok3, st, 4), cu::kErrorInvalidValue);
  EXPECT_EQ(plan->Submit(ok3, st, -1), cu::kErrorInvalidValue);
  EXPECT_EQ(plan->Submit(ok3, st, 0), cu::kSuccess);
  EXPECT_EQ(plan->Wait(), cu::kSuccess);
  plan->ReleaseSlot(b);
  const int rel[1] = {b};
  EXPECT_EQ(plan->Submit(rel, st, 1), cu::kErrorInvalidValue);
  EXPECT_TRUE(plan->AcquireSlot().ok());
  EXPECT_FALSE(DemucsCudaPlan::Create(nullptr, o).ok());
  o.max_sessions = 0;
  EXPECT_FALSE(DemucsCudaPlan::Create(model, o).ok());
}

TEST(DemucsCudaPlan, ProfilingPlanGivesTheGraphPlansOutput) {
  DemucsShape s;
  s.depth = 4;
  s.hidden = 8;
  std::shared_ptr<const Model> model = MakeRandomDemucs(s, 14);
  DemucsCudaPlanOptions o;
  o.max_sessions = 3;
  PLAN_OR_SKIP(plan, model, o);
  o.profile = true;
  PLAN_OR_SKIP(prof, model, o);
  const int H = plan->hop_size();
  const int slots[3] = {*plan->AcquireSlot(), *plan->AcquireSlot(), *plan->AcquireSlot()};
  for (int i = 0; i < 3; ++i) ASSERT_EQ(*prof->AcquireSlot(), slots[i]);
  const float str[3] = {1.f, 0.5f, 1.f};
  for (int hop = 0; hop < 12; ++hop) {
    for (int i = 0; i < 3; ++i) {
      const std::vector<float> x = Signal(H, 16000, 100 * hop + i, 0.5f);
      std::copy(x.begin(), x.end(), plan->input_rows() + i * H);
      std::copy(x.begin(), x.end(), prof->input_rows() + i * H);
    }
    ASSERT_EQ(plan->Submit(slots, str, 3), cu::kSuccess);
    ASSERT_EQ(prof->Submit(slots, str, 3), cu::kSuccess);
    ASSERT_EQ(plan->Wait(), cu::kSuccess);
    ASSERT_EQ(prof->Wait(), cu::kSuccess);
    for (int i = 0; i < 3 * H; ++i)
      ASSERT_EQ(plan->output_rows()[i], prof->output_rows()[i]) << "hop " << hop << " sample " << i;
  }
  const std::vector<DemucsNodeTime> t = prof->NodeTimesUs();
  EXPECT_EQ(static_cast<int>(t.size()), prof->NodesPerHop(3) - 1);  // "h2d" covers both copies
  for (const DemucsNodeTime& n : t) EXPECT_GE(n.us, 0.f) << n.node;
}

TEST(DemucsCudaPlan, BackendRealtimeFamilyMatchesCpu) {
  DemucsShape s;
  s.depth = 5;
  s.hidden = 48;
  std::shared_ptr<const Model> model = MakeRandomDemucs(s, 13);
  sched::CudaPlanOptions po;
  po.max_sessions = 2;
  po.realtime = true;
  absl::StatusOr<std::unique_ptr<sched::CudaPlan>> plan = CreateDemucsBackendPlan(model, po);
  if (!plan.ok() && absl::IsUnavailable(plan.status())) GTEST_SKIP() << "no GPU: " << plan.status();
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<std::unique_ptr<Family>> cpu = CreateDemucsFamily(model);
  ASSERT_TRUE(cpu.ok());
  std::shared_ptr<const Family> cpu_shared(std::move(*cpu));
  absl::StatusOr<std::shared_ptr<sched::RealtimeCudaFamily>> fam =
      sched::RealtimeCudaFamily::Create(std::move(*plan), cpu_shared, {});
  ASSERT_TRUE(fam.ok()) << fam.status();
  const int H = model->hop_size, hops = 60;
  for (int c = 0; c < 2; ++c) {
    auto g = (*fam)->NewChannel();
    auto r = cpu_shared->NewChannel();
    ASSERT_NE(g, nullptr);
    const std::vector<float> x = Signal(static_cast<size_t>(H) * hops, 16000, 40 + c, 0.8f);
    std::vector<float> yg(x.size()), yr(x.size());
    for (int k = 0; k < hops; ++k) {
      (*fam)->ProcessHop(*g, x.data() + k * H, yg.data() + k * H, 1.f);
      cpu_shared->ProcessHop(*r, x.data() + k * H, yr.data() + k * H, 1.f);
    }
    const double snr = SnrDb(yr, yg);
    printf("  backend (RealtimeCudaFamily) channel %d: SNR of the difference %.1f dB\n", c, snr);
    EXPECT_GE(snr, 60.0);
    // Telemetry: h2d / kernels / d2h / device of every hop (event-record nodes in the graph).
    const sched::BackendTelemetry t = (*fam)->telemetry();
    EXPECT_EQ(t.gpu_hops, static_cast<uint64_t>((c + 1) * hops));
    EXPECT_EQ(runtime::StageTimesProblem(t.stages, t.gpu_hops, /*split=*/true), "");
    printf("  stages %s\n", sched::StagesJson(t).c_str());
  }
  EXPECT_EQ((*fam)->telemetry().fallback_events, 0u);
  EXPECT_FALSE(CreateDemucsBackendPlan(nullptr, po).ok());
  sched::CudaPlanOptions bad = po;
  bad.pcm16 = true;
  EXPECT_TRUE(absl::IsInvalidArgument(CreateDemucsBackendPlan(model, bad).status()));
}

}  // namespace
}  // namespace ghostnv::models::demucs
