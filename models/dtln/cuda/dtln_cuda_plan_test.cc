// GPU tests (label gpu) of DtlnCudaPlan against the CPU DTLN family (models/dtln) on the
// converted published DTLN and real noisy speech, states carried over 300 hops:
// - per network, every hop and session: relative L2 error of stage 1's mask and stage 2's mask
//   (and the magnitude and decoder frame) <= 1e-4 against the CPU chain run on the CPU's own
//   history (no teacher forcing: the GPU carries its own states and buffers);
// - the whole output: SNR of the difference >= 60 dB per session;
// both LSTM paths (split kernel for small buckets, row-tiled lstm.cu for large), sessions on
// scattered slots with the rows shuffled every hop, strengths 1 and 0.7; 2500 sessions for a few
// hops (several graph buckets, rows past n); argument checks; strength 0 = the input delayed by
// 384 samples. The CPU family matches onnxruntime within 1.2e-5 (tools/convert's
// convert_dtln_conformance), so these bounds chain to the ONNX graphs.
//
// Data: GHOSTNV_DTLN_CUDA_DATA (dtln.gnvm + noisy_<k>.f32, written by make_test_data.py, the
// ctest fixture dtln_cuda_data). Skips without it ("no DTLN test data") or without a GPU.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "audio/fft.h"
#include "kernels/dense.h"
#include "kernels/lstm.h"
#include "models/dtln/cuda/dtln_cuda_plan.h"
#include "models/dtln/cuda/dtln_cuda_test_data.h"
#include "models/dtln/dtln_family.h"
#include "models/family.h"
#include "models/model_loader.h"

namespace ghostnv::models::dtln {
namespace {

const testing::TestData& TestData() { return testing::LoadTestData(4); }

#define DATA_OR_SKIP()                                           \
  if (!TestData().skip.empty()) GTEST_SKIP() << TestData().skip

// Creates `plan`, or skips without a GPU (models/cuda_test_util.h).
#define PLAN_OR_SKIP(plan, opts) \
  GHOSTNV_PLAN_OR_SKIP(plan, DtlnCudaPlan::Create(TestData().model, opts))

// The CPU chain of ProcessHop with its intermediates exposed, built from the same Networks calls
// (the streaming ones, with look-ahead carries, as ProcessHop runs them; checked to give
// ProcessHop's output bit for bit).
class CpuChain {
 public:
  explicit CpuChain(const Networks& net)
      : net_(net), fft_(kFrame), in_(kFrame, 0.f), ob_(kFrame, 0.f), st1_(net.StateFloats(1), 0.f),
        st2_(net.StateFloats(2), 0.f), scratch_(net.ScratchFloats() + 64, 0.f), spec_(kBins),
        carries_(net.NewCarries()), mag(kBins), mask1(kBins), frame(kFrame), mask2(net.features),
        yout(kFrame), out(kHop) {}

  void Hop(const float* pcm, float strength) {
    std::copy(in_.begin() + kHop, in_.end(), in_.begin());
    std::copy(pcm, pcm + kHop, in_.end() - kHop);
    fft_.Forward(in_.data(), spec_.data());
    for (int k = 0; k < kBins; ++k) mag[k] = std::abs(spec_[k]);
    net_.RunStage1(mag.data(), mask1.data(), st1_.data(), scratch_.data(), carries_);
    for (int k = 0; k < kBins; ++k) spec_[k] *= mask1[k];
    fft_.Inverse(spec_.data(), frame.data());
    for (float& v : frame) v *= 1.0f / kFrame;
    // Stage 2, keeping its mask.
    net_.RunStage2(frame.data(), yout.data(), st2_.data(), scratch_.data(), carries_,
                   mask2.data());
    std::copy(ob_.begin() + kHop, ob_.end(), ob_.begin());
    std::fill(ob_.end() - kHop, ob_.end(), 0.f);
    for (int i = 0; i < kFrame; ++i) ob_[i] += yout[i];
    const float st = std::clamp(strength, 0.f, 1.f);
    for (int i = 0; i < kHop; ++i) out[i] = st * ob_[i] + (1.f - st) * in_[i];
  }

 private:
  const Networks& net_;
  audio::RealFft fft_;
  std::vector<float> in_, ob_, st1_, st2_, scratch_;
  std::vector<audio::cfloat> spec_;
  Networks::Carries carries_;

 public:
  std::vector<float> mag, mask1, frame, mask2, yout, out;
};

double RelErr(const std::vector<float>& gpu, const std::vector<float>& cpu) {
  double num = 0, den = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    num += (static_cast<double>(gpu[i]) - cpu[i]) * (static_cast<double>(gpu[i]) - cpu[i]);
    den += static_cast<double>(cpu[i]) * cpu[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

double SnrDb(const std::vector<float>& ref, const std::vector<float>& x) {
  double s = 0, d = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    s += static_cast<double>(ref[i]) * ref[i];
    d += (static_cast<double>(x[i]) - ref[i]) * (static_cast<double>(x[i]) - ref[i]);
  }
  return 10 * std::log10(std::max(s, 1e-30) / std::max(d, 1e-30));
}

// Session k's input: one of the four mixtures, offset and scaled differently per session.
std::vector<float> SessionInput(int k, int hops) {
  const std::vector<float>& src = TestData().noisy[k % 4];
  const size_t need = static_cast<size_t>(hops) * kHop;
  const size_t span = src.size() > need ? src.size() - need : 0;
  const size_t off = span == 0 ? 0 : (static_cast<size_t>(k) * 7919) % span;
  const float gain = 0.25f + 0.75f * static_cast<float>((k * 37) % 11) / 10.f;
  std::vector<float> v(need, 0.f);
  for (size_t i = 0; i < need && off + i < src.size(); ++i) v[i] = gain * src[off + i];
  return v;
}

struct Case {
  const char* name;
  int split_max_batch;
  bool realtime;
};

class DtlnCudaNetworks : public ::testing::TestWithParam<Case> {};

TEST_P(DtlnCudaNetworks, MatchTheCpuFamilyPerNetworkAndWholeOutput) {
  DATA_OR_SKIP();
  const Case c = GetParam();
  DtlnCudaPlanOptions o;
  o.max_sessions = 37;
  o.split_max_batch = c.split_max_batch;
  o.realtime = c.realtime;
  PLAN_OR_SKIP(plan, o);
  absl::StatusOr<Networks> net = BuildNetworks(*TestData().model);
  ASSERT_TRUE(net.ok()) << net.status();
  absl::StatusOr<std::unique_ptr<Family>> fam = CreateDtlnFamily(TestData().model);
  ASSERT_TRUE(fam.ok()) << fam.status();

  constexpr int kSessions = 5, kHops = 300;
  std::vector<int> slot_of(kSessions);
  {
    std::vector<int> all;
    for (int i = 0; i < 37; ++i) {
      absl::StatusOr<int> s = plan->AcquireSlot();
      ASSERT_TRUE(s.ok()) << s.status();
      all.push_back(*s);
    }
    const int pick[kSessions] = {36, 3, 17, 8, 22};
    for (int k = 0; k < kSessions; ++k) slot_of[k] = all[pick[k]];
  }
  std::vector<std::vector<float>> input(kSessions), gpu_out(kSessions), cpu_out(kSessions);
  std::vector<std::unique_ptr<CpuChain>> chain;
  std::vector<std::unique_ptr<ChannelState>> ch;
  for (int k = 0; k < kSessions; ++k) {
    input[k] = SessionInput(k, kHops);
    chain.push_back(std::make_unique<CpuChain>(*net));
    ch.push_back((*fam)->NewChannel());
  }
  const float strength[kSessions] = {1.f, 1.f, 0.7f, 1.f, 1.f};
  std::mt19937 rng(5);
  double worst[5] = {0, 0, 0, 0, 0};  // mag, mask1, frame, mask2, yout
  const char* names[5] = {"magnitude", "stage-1 mask", "iFFT frame", "stage-2 mask", "decoder frame"};
  for (int hop = 0; hop < kHops; ++hop) {
    // This hop's batch: sessions in a shuffled order (sometimes fewer than all of them).
    std::vector<int> order(kSessions);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    const int n = kSessions;
    std::vector<int> slots(n);
    std::vector<float> str(n);
    for (int i = 0; i < n; ++i) {
      const int k = order[i];
      slots[i] = slot_of[k];
      str[i] = strength[k];
      std::copy_n(input[k].data() + hop * kHop, kHop, plan->input_rows() + i * kHop);
    }
    ASSERT_EQ(plan->Submit(slots.data(), str.data(), n), cu::kSuccess);
    ASSERT_EQ(plan->Wait(), cu::kSuccess);
    for (int i = 0; i < n; ++i) {
      const int k = order[i];
      const float* g = plan->output_rows() + i * kHop;
      gpu_out[k].insert(gpu_out[k].end(), g, g + kHop);
      CpuChain& cc = *chain[k];
      cc.Hop(input[k].data() + hop * kHop, strength[k]);
      std::vector<float> fam_out(kHop);
      (*fam)->ProcessHop(*ch[k], input[k].data() + hop * kHop, fam_out.data(), strength[k]);
      ASSERT_EQ(fam_out, cc.out) << "the test's CPU chain must equal ProcessHop";
      cpu_out[k].insert(cpu_out[k].end(), fam_out.begin(), fam_out.end());
      const DtlnProbe probes[5] = {DtlnProbe::kMagnitude, DtlnProbe::kMask1, DtlnProbe::kFrame,
                                   DtlnProbe::kMask2, DtlnProbe::kOutFrame};
      const std::vector<float>* refs[5] = {&cc.mag, &cc.mask1, &cc.frame, &cc.mask2, &cc.yout};
      for (int p = 0; p < 5; ++p) {
        std::vector<float> got;
        absl::Status st = plan->ReadProbe(probes[p], i, &got);
        ASSERT_TRUE(st.ok()) << st;
        const double e = RelErr(got, *refs[p]);
        worst[p] = std::max(worst[p], e);
        if (p == 1 || p == 3) {
          ASSERT_LE(e, 1e-4) << names[p] << " session " << k << " hop " << hop;
        }
      }
    }
  }
  std::printf("[%s] bucket %d, split LSTM %d; worst relative L2 error per hop:", c.name,
              plan->BucketFor(kSessions), plan->UsesSplitLstm(plan->BucketFor(kSessions)) ? 1 : 0);
  for (int p = 0; p < 5; ++p) std::printf(" %s %.3g;", names[p], worst[p]);
  std::printf("\n");
  for (int k = 0; k < kSessions; ++k) {
    const double snr = SnrDb(cpu_out[k], gpu_out[k]);
    std::printf("[%s] session %d (slot %d, strength %.1f): output SNR of the difference %.1f dB\n",
                c.name, k, slot_of[k], strength[k], snr);
    EXPECT_GE(snr, 60.0) << "session " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, DtlnCudaNetworks,
                         ::testing::Values(Case{"split_lstm", -1, true}, Case{"tiled_lstm", 0, false}),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

TEST(DtlnCudaPlanGpu, ManySessionsSeveralBuckets) {
  DATA_OR_SKIP();
  DtlnCudaPlanOptions o;
  o.max_sessions = 2500;
  PLAN_OR_SKIP(plan, o);
  absl::StatusOr<std::unique_ptr<Family>> fam = CreateDtlnFamily(TestData().model);
  ASSERT_TRUE(fam.ok());
  constexpr int kHops = 24;
  std::vector<int> slots;
  for (int i = 0; i < 2500; ++i) slots.push_back(*plan->AcquireSlot());
  std::mt19937 rng(9);
  std::shuffle(slots.begin(), slots.end(), rng);
  // Sessions 0..n-1 are live; the batch size changes (2500, then 1500: bucket 2048, rows past n).
  const int n_live = 1500;
  std::vector<std::vector<float>> in(n_live), gpu(n_live), cpu(n_live);
  std::vector<std::unique_ptr<ChannelState>> ch;
  for (int k = 0; k < n_live; ++k) {
    in[k] = SessionInput(k, kHops);
    ch.push_back((*fam)->NewChannel());
  }
  std::vector<float> ones(2500, 1.f);
  for (int hop = 0; hop < kHops; ++hop) {
    std::vector<int> order(n_live);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<int> s(n_live);
    for (int i = 0; i < n_live; ++i) {
      s[i] = slots[order[i]];
      std::copy_n(in[order[i]].data() + hop * kHop, kHop, plan->input_rows() + i * kHop);
    }
    ASSERT_EQ(plan->Submit(s.data(), ones.data(), n_live), cu::kSuccess);
    ASSERT_EQ(plan->Wait(), cu::kSuccess);
    for (int i = 0; i < n_live; ++i) {
      const int k = order[i];
      gpu[k].insert(gpu[k].end(), plan->output_rows() + i * kHop, plan->output_rows() + (i + 1) * kHop);
      std::vector<float> out(kHop);
      (*fam)->ProcessHop(*ch[k], in[k].data() + hop * kHop, out.data(), 1.f);
      cpu[k].insert(cpu[k].end(), out.begin(), out.end());
    }
  }
  double worst = 1e9;
  for (int k = 0; k < n_live; ++k) {
    const double snr = SnrDb(cpu[k], gpu[k]);
    worst = std::min(worst, snr);
    EXPECT_GE(snr, 60.0) << "session " << k;
  }
  std::printf("[2500 slots, 1500 live, bucket %d] worst output SNR of the difference %.1f dB\n",
              plan->BucketFor(n_live), worst);
}

TEST(DtlnCudaPlanGpu, ArgumentsAndStrengthZero) {
  DATA_OR_SKIP();
  DtlnCudaPlanOptions o;
  o.max_sessions = 3;
  PLAN_OR_SKIP(plan, o);
  const int a = *plan->AcquireSlot(), b = *plan->AcquireSlot(), c = *plan->AcquireSlot();
  EXPECT_TRUE(absl::IsResourceExhausted(plan->AcquireSlot().status()));
  float st[4] = {0.f, 0.f, 0.f, 0.f};
  int dup[2] = {a, a}, bad[1] = {7}, four[4] = {a, b, c, a};
  EXPECT_EQ(plan->Submit(dup, st, 2), cu::kErrorInvalidValue);
  EXPECT_EQ(plan->Submit(bad, st, 1), cu::kErrorInvalidValue);
  EXPECT_EQ(plan->Submit(four, st, 4), cu::kErrorInvalidValue);
  EXPECT_EQ(plan->Submit(four, st, -1), cu::kErrorInvalidValue);
  EXPECT_EQ(plan->Submit(nullptr, st, 0), cu::kSuccess);
  EXPECT_EQ(plan->Wait(), cu::kSuccess);
  plan->ReleaseSlot(c);
  int released[1] = {c};
  EXPECT_EQ(plan->Submit(released, st, 1), cu::kErrorInvalidValue);
  // Strength 0: the output is the input 384 samples (3 hops) earlier.
  const std::vector<float> x = SessionInput(1, 8);
  int one[1] = {b};
  std::vector<float> out;
  for (int hop = 0; hop < 8; ++hop) {
    std::copy_n(x.data() + hop * kHop, kHop, plan->input_rows());
    ASSERT_EQ(plan->Submit(one, st, 1), cu::kSuccess);
    ASSERT_EQ(plan->Wait(), cu::kSuccess);
    out.insert(out.end(), plan->output_rows(), plan->output_rows() + kHop);
  }
  for (int i = 0; i < 8 * kHop; ++i)
    ASSERT_EQ(out[i], i < 384 ? 0.f : x[i - 384]) << "sample " << i;
}

// A profiling plan launches the same kernels with the same arguments without a graph: the same
// output bit for bit, and a time for each of the 8 stages.
TEST(DtlnCudaPlanGpu, ProfiledPlanEqualsTheGraphPlan) {
  DATA_OR_SKIP();
  DtlnCudaPlanOptions o;
  o.max_sessions = 3;
  PLAN_OR_SKIP(graph_plan, o);
  o.profile = true;
  PLAN_OR_SKIP(prof_plan, o);
  EXPECT_TRUE(graph_plan->StageTimesUs().empty());
  int slots[2];
  for (DtlnCudaPlan* p : {graph_plan.get(), prof_plan.get()}) {
    (void)*p->AcquireSlot();
    slots[0] = *p->AcquireSlot();
    slots[1] = *p->AcquireSlot();
  }
  const std::vector<float> x0 = SessionInput(0, 12), x1 = SessionInput(3, 12);
  const float st[2] = {1.f, 0.8f};
  for (int hop = 0; hop < 12; ++hop) {
    std::vector<float> outs[2];
    int i = 0;
    for (DtlnCudaPlan* p : {graph_plan.get(), prof_plan.get()}) {
      std::copy_n(x0.data() + hop * kHop, kHop, p->input_rows());
      std::copy_n(x1.data() + hop * kHop, kHop, p->input_rows() + kHop);
      ASSERT_EQ(p->Submit(slots, st, 2), cu::kSuccess);
      ASSERT_EQ(p->Wait(), cu::kSuccess);
      outs[i++].assign(p->output_rows(), p->output_rows() + 2 * kHop);
    }
    ASSERT_EQ(outs[0], outs[1]) << "hop " << hop;
  }
  const std::vector<DtlnStageTime> t = prof_plan->StageTimesUs();
  ASSERT_EQ(t.size(), 8u);
  for (const DtlnStageTime& s : t) EXPECT_GE(s.us, 0.f) << s.stage;
}

}  // namespace
}  // namespace ghostnv::models::dtln
