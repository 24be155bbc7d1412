// Unit test (no GPU) of dfn3_backend_plan.h: the adapter over a fake Dfn3CudaPlan that runs the
// CPU family per row (honouring the run flag, reporting lsnr from the family's vad) — slot/row
// forwarding, argument errors, vad, rows that sit a hop out, and RealtimeCudaFamily through
// sched::Stream equal to the CPU family bit for bit; Create's argument checks. Also
// runtime/sched/plan_setup.h's SlotTable on its own (the adapter's and the plans' slots).
#include "models/dfn3/cuda/dfn3_backend_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "models/dfn3/dfn3_family.h"
#include "models/dfn3/dfn3_test_model.h"
#include "models/family.h"
#include "models/stream_test_util.h"
#include "runtime/sched/cuda_backend.h"
#include "runtime/sched/plan_setup.h"
#include "runtime/sched/stream.h"

namespace ghostnv::models::dfn3 {
namespace {

constexpr float kLsnrMin = -15.f, kLsnrMax = 35.f;

class FakePlan final : public Dfn3CudaPlan {
 public:
  FakePlan(std::shared_ptr<const Family> cpu, int batch)
      : cpu_(std::move(cpu)), batch_(batch), in_(static_cast<size_t>(batch) * kCudaIo, 0.f),
        out_(in_.size(), 0.f) {
    for (int r = 0; r < batch; ++r) {
      ch_.push_back(cpu_->NewChannel());
      in_[static_cast<size_t>(r) * kCudaIo + kHop] = 1.f;
      in_[static_cast<size_t>(r) * kCudaIo + kHop + 1] = 1.f;
    }
  }
  int batch() const override { return batch_; }
  std::string device_description() const override { return "fake"; }
  const Dfn3Layout& layout() const override { return layout_; }
  float* input_rows() override { return in_.data(); }
  const float* output_rows() const override { return out_.data(); }
  cu::CUresult Submit() override {
    ++submits;
    for (int r = 0; r < batch_; ++r) {
      const float* in = in_.data() + static_cast<size_t>(r) * kCudaIo;
      float* out = out_.data() + static_cast<size_t>(r) * kCudaIo;
      if (in[kHop + 1] == 0.f) {
        std::fill(out, out + kHop + 1, 0.f);
        continue;
      }
      const HopInfo info = cpu_->ProcessHop(*ch_[static_cast<size_t>(r)], in, out, in[kHop]);
      out[kHop] = kLsnrMin + info.vad * (kLsnrMax - kLsnrMin);
    }
    return cu::kSuccess;
  }
  cu::CUresult Query() const override { return cu::kSuccess; }
  cu::CUresult Wait() override { return cu::kSuccess; }
  absl::Status ResetRow(int row) override {
    ch_[static_cast<size_t>(row)]->Reset();
    ++resets;
    return absl::OkStatus();
  }
  absl::Status ReadArena(int, int, int, std::vector<float>*) override {
    return absl::UnimplementedError("fake");
  }
  int submits = 0, resets = 0;

 private:
  std::shared_ptr<const Family> cpu_;
  int batch_;
  std::vector<float> in_, out_;
  std::vector<std::unique_ptr<ChannelState>> ch_;
  Dfn3Layout layout_;
};

std::shared_ptr<const Family> Cpu(std::shared_ptr<const Model> m) {
  absl::StatusOr<std::unique_ptr<Family>> f = CreateFamily(std::move(m));
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? std::shared_ptr<const Family>(std::move(*f)) : nullptr;
}

std::vector<float> Noise(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 0.1f);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = d(rng) + 0.2f * std::sin(0.02f * static_cast<float>(i));
  return v;
}

TEST(Dfn3BackendPlan, ForwardsSlotsRowsStrengthsAndVad) {
  std::shared_ptr<const Model> model = testing::RandomDfn3Model(5);
  std::shared_ptr<const Family> cpu = Cpu(model);
  ASSERT_NE(cpu, nullptr);
  auto fake = std::make_unique<FakePlan>(cpu, 4);
  FakePlan* f = fake.get();
  std::unique_ptr<sched::CudaPlan> plan = WrapDfn3CudaPlan(std::move(fake), 2, kLsnrMin, kLsnrMax);
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(plan->hop_size(), 480);
  EXPECT_EQ(plan->max_sessions(), 4);
  int s[3];
  for (int& v : s) v = *plan->AcquireSlot();
  EXPECT_EQ(s[0], 0);
  EXPECT_EQ(s[2], 2);
  std::vector<std::unique_ptr<ChannelState>> ref;
  for (int i = 0; i < 3; ++i) ref.push_back(cpu->NewChannel());
  const std::vector<float> audio = Noise(480 * 12 * 3, 9);
  const float strength[3] = {1.f, 0.5f, 0.8f};
  for (int hop = 0; hop < 12; ++hop) {
    // Slot 1 sits hops 5 and 6 out; the order of rows changes every hop.
    std::vector<int> who = hop % 2 ? std::vector<int>{2, 0, 1} : std::vector<int>{1, 2, 0};
    if (hop == 5 || hop == 6) who.erase(std::find(who.begin(), who.end(), 1));
    std::vector<int> slots;
    std::vector<float> st;
    for (size_t i = 0; i < who.size(); ++i) {
      const int k = who[i];
      std::copy_n(audio.data() + (static_cast<size_t>(k) * 12 + hop) * 480, 480,
                  plan->input_rows() + i * 480);
      slots.push_back(s[k]);
      st.push_back(strength[k]);
    }
    ASSERT_EQ(plan->Submit(slots.data(), st.data(), static_cast<int>(slots.size())), cu::kSuccess);
    ASSERT_EQ(plan->Wait(), cu::kSuccess);
    for (size_t i = 0; i < who.size(); ++i) {
      const int k = who[i];
      std::vector<float> want(480);
      const HopInfo info = cpu->ProcessHop(*ref[static_cast<size_t>(k)],
                                           audio.data() + (static_cast<size_t>(k) * 12 + hop) * 480,
                                           want.data(), strength[k]);
      for (int j = 0; j < 480; ++j) ASSERT_EQ(plan->output_rows()[i * 480 + j], want[j]) << hop;
      EXPECT_NEAR(plan->info()[i].vad, info.vad, 1e-6) << hop << " " << k;
      EXPECT_EQ(plan->info()[i].silent, 0);
    }
  }
  // Argument errors launch nothing.
  const int before = f->submits;
  const float one[4] = {1.f, 1.f, 1.f, 1.f};
  const int dup[2] = {0, 0}, free_slot[1] = {3}, bad[1] = {7};
  EXPECT_EQ(plan->Submit(dup, one, 2), cu::kErrorInvalidValue);
  EXPECT_EQ(plan->Submit(free_slot, one, 1), cu::kErrorInvalidValue);
  EXPECT_EQ(plan->Submit(bad, one, 1), cu::kErrorInvalidValue);
  EXPECT_EQ(plan->Submit(dup, one, 5), cu::kErrorInvalidValue);
  EXPECT_EQ(plan->Submit(nullptr, one, 1), cu::kErrorInvalidValue);
  EXPECT_EQ(plan->Submit(dup, one, 0), cu::kSuccess);
  EXPECT_EQ(f->submits, before);
  // Release resets the row; the slot comes back.
  plan->ReleaseSlot(s[1]);
  EXPECT_EQ(f->resets, 1);
  plan->ReleaseSlot(s[1]);  // already free: ignored
  EXPECT_EQ(f->resets, 1);
  EXPECT_EQ(*plan->AcquireSlot(), s[1]);
  EXPECT_EQ(*plan->AcquireSlot(), 3);
  EXPECT_FALSE(plan->AcquireSlot().ok());
}

TEST(Dfn3BackendPlan, RealtimeFamilyThroughStreamEqualsTheCpuFamily) {
  std::shared_ptr<const Model> model = testing::RandomDfn3Model(6);
  std::shared_ptr<const Family> cpu = Cpu(model);
  ASSERT_NE(cpu, nullptr);
  for (int channels : {1, 2}) {
    std::unique_ptr<sched::CudaPlan> plan =
        WrapDfn3CudaPlan(std::make_unique<FakePlan>(cpu, 2 * channels), 2, kLsnrMin, kLsnrMax);
    auto fam = sched::RealtimeCudaFamily::Create(std::move(plan), cpu, {});
    ASSERT_TRUE(fam.ok()) << fam.status();
    const std::vector<float> in = Noise(480 * 9 * static_cast<size_t>(channels) + 31, 4);
    const std::vector<float> want = models::testing::RunStream(cpu, in, 48000, channels, {1024});
    const std::vector<float> got =
        models::testing::RunStream(*fam, in, 48000, channels, {480, 7, 113, 1000, 1, 513});
    EXPECT_EQ(got, want) << channels << " channels";
    EXPECT_EQ((*fam)->telemetry().fallback_events, 0u);
  }
}

// The lowest free slot first; release only what is in use; a batch names in-use slots at most
// once each, and a slot named in one batch may be named again in the next.
TEST(SlotTable, AcquireReleaseAndBatches) {
  sched::SlotTable t(5);
  EXPECT_EQ(t.size(), 5);
  for (int s = 0; s < 5; ++s) EXPECT_EQ(t.Acquire(), s);
  EXPECT_EQ(t.Acquire(), -1);
  EXPECT_TRUE(t.Release(2));
  EXPECT_FALSE(t.Release(2));
  EXPECT_FALSE(t.Release(-1));
  EXPECT_FALSE(t.Release(5));
  EXPECT_FALSE(t.InUse(2));
  EXPECT_TRUE(t.InUse(4));
  EXPECT_FALSE(t.InUse(5));
  const int ok[] = {4, 0, 3}, dup[] = {1, 3, 1}, freed[] = {0, 2}, out[] = {7};
  EXPECT_TRUE(t.CheckBatch(ok, 3));
  EXPECT_TRUE(t.CheckBatch(ok, 3));  // a new batch: the same slots again
  EXPECT_FALSE(t.CheckBatch(dup, 3));
  EXPECT_TRUE(t.CheckBatch(dup, 2));
  EXPECT_FALSE(t.CheckBatch(freed, 2));
  EXPECT_FALSE(t.CheckBatch(out, 1));
  EXPECT_TRUE(t.CheckBatch(nullptr, 0));
  EXPECT_EQ(t.Acquire(), 2);
  EXPECT_TRUE(t.CheckBatch(freed, 2));
  t.Reset(2);
  EXPECT_EQ(t.size(), 2);
  EXPECT_FALSE(t.InUse(0));
  EXPECT_FALSE(t.CheckBatch(ok + 1, 1));  // slot 0 is free again
  EXPECT_EQ(t.Acquire(), 0);
  EXPECT_TRUE(t.CheckBatch(ok + 1, 1));
  sched::SlotTable none;
  EXPECT_EQ(none.Acquire(), -1);
  EXPECT_TRUE(none.CheckBatch(nullptr, 0));
}

TEST(Dfn3BackendPlan, CreateChecksItsArguments) {
  sched::CudaPlanOptions o;
  EXPECT_TRUE(absl::IsInvalidArgument(CreateDfn3BackendPlan(nullptr, o).status()));
  auto other = std::make_shared<Model>(*testing::RandomDfn3Model(1));
  other->family = "dtln";
  EXPECT_TRUE(absl::IsInvalidArgument(CreateDfn3BackendPlan(other, o).status()));
  o.pcm16 = true;
  EXPECT_TRUE(absl::IsInvalidArgument(CreateDfn3BackendPlan(testing::RandomDfn3Model(1), o).status()));
  o.pcm16 = false;
  o.network = sched::NetworkPrecision::kFp16;
  EXPECT_TRUE(absl::IsInvalidArgument(CreateDfn3BackendPlan(testing::RandomDfn3Model(1), o).status()));
  EXPECT_EQ(WrapDfn3CudaPlan(nullptr, 2, 0.f, 1.f), nullptr);
}

}  // namespace
}  // namespace ghostnv::models::dfn3
