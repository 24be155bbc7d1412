// Tests of the batched scheduler with a fake plan (no GPU): batching, sessions joining and
// leaving mid-run, outputs equal to per-session CPU processing, and CPU fallback.
#include "runtime/sched/scheduler.h"

#include <cmath>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/sched/fake_plan.h"
#include "runtime/sched/stream.h"

namespace ghostnv::sched {
namespace {

using fakes::EchoFamily;
using fakes::FakePlan;
using namespace std::chrono_literals;

constexpr int kHop = 480;

std::vector<float> RandomHops(int hops, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-0.8f, 0.8f);
  std::vector<float> v(size_t(hops) * kHop);
  for (float& x : v) x = d(rng);
  return v;
}

// What a session must produce: the CPU family over the same hops, fresh state.
std::vector<float> CpuReference(const models::Family& cpu, const std::vector<float>& in,
                                float strength) {
  auto st = cpu.NewChannel();
  std::vector<float> out(in.size());
  for (size_t k = 0; k * kHop < in.size(); ++k)
    cpu.ProcessHop(*st, in.data() + k * kHop, out.data() + k * kHop, strength);
  return out;
}

// A session's life inside a test: its inputs, what came back, its own strength.
struct Client {
  std::unique_ptr<BatchSession> session;
  std::vector<float> in, out;
  float strength = 1.0f;
  int pushed = 0, popped = 0, hops = 0;
  bool Step(std::mt19937& rng) {  // push or pop something; false when finished
    if (popped == hops) return false;
    const bool can_push = pushed < hops && session->outstanding() < 8;
    if (can_push && (rng() % 3 != 0 || session->outstanding() == 0)) {
      EXPECT_TRUE(session->Push(in.data() + size_t(pushed) * kHop, strength));
      ++pushed;
    } else if (session->outstanding() > 0) {
      models::HopInfo info;
      if (session->WaitPop(out.data() + size_t(popped) * kHop, &info, 5s)) ++popped;
    }
    return true;
  }
};

TEST(SchedulerTest, BatchesReadyHopsOfAllSessions) {
  auto cpu = std::make_shared<EchoFamily>();
  auto plan = std::make_unique<FakePlan>(cpu, 8);
  FakePlan* raw = plan.get();
  auto sched = Scheduler::Create(std::move(plan), cpu, {});
  ASSERT_TRUE(sched.ok()) << sched.status();
  std::vector<std::unique_ptr<BatchSession>> s;
  for (int i = 0; i < 5; ++i) {
    auto j = (*sched)->Join();
    ASSERT_TRUE(j.ok()) << j.status();
    s.push_back(std::move(*j));
  }
  const auto in = RandomHops(5, 1);
  std::vector<float> out(kHop);
  {
    // Hold the "GPU" busy with session 0's hop, queue the others: the next tick takes all four.
    std::unique_lock<std::mutex> gate(raw->gate());
    ASSERT_TRUE(s[0]->Push(in.data(), 1.0f));
    while (raw->submits() < 1) std::this_thread::yield();
    for (int i = 1; i < 5; ++i) ASSERT_TRUE(s[i]->Push(in.data() + i * kHop, 1.0f));
  }
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s[i]->WaitPop(out.data(), nullptr, 5s));
    const auto want = CpuReference(*cpu, std::vector<float>(in.begin() + i * kHop,
                                                            in.begin() + (i + 1) * kHop), 1.0f);
    ASSERT_EQ(out, want) << i;
    EXPECT_FALSE(s[i]->Pop(out.data(), nullptr));
  }
  EXPECT_EQ(raw->max_n(), 4);
  const SchedulerStats st = (*sched)->stats();
  EXPECT_EQ(st.sessions, 5);
  EXPECT_EQ(st.ticks, 2u);
  EXPECT_EQ(st.hops, 5u);
  EXPECT_EQ(st.max_batch, 4);
  EXPECT_EQ(st.submit_to_done.count, 2u);
  EXPECT_EQ(st.push_to_done.count, 5u);
  EXPECT_FALSE(st.failed);
  s.clear();
  EXPECT_EQ((*sched)->stats().sessions, 0);
  EXPECT_EQ(raw->released(), 5);
}

// Sessions join and leave while others run; every session's output equals its own CPU run.
void RunChurn(bool threads, long fail_after) {
  auto cpu = std::make_shared<EchoFamily>();
  auto plan = std::make_unique<FakePlan>(cpu, 6);
  if (fail_after >= 0) plan->FailAfter(fail_after, cu::kErrorIllegalAddress, false);
  auto sched = Scheduler::Create(std::move(plan), cpu, {});
  ASSERT_TRUE(sched.ok());
  constexpr int kClients = 14;
  std::vector<Client> clients(kClients);
  for (int i = 0; i < kClients; ++i) {
    clients[i].hops = 1 + (i * 37) % 90;  // 1..90 hops, odd lengths
    clients[i].in = RandomHops(clients[i].hops, 100 + i);
    clients[i].out.assign(clients[i].in.size(), -9.0f);
    clients[i].strength = (i % 3) * 0.5f;
  }
  std::mt19937 rng(5);
  auto join = [&](Client& c) {
    auto j = (*sched)->Join();
    if (!j.ok()) {  // after a failure sessions cannot join; nothing else to test for them
      EXPECT_GE(fail_after, 0) << j.status();
      c.hops = 0;
      return;
    }
    c.session = std::move(*j);
  };
  if (threads) {
    // Up to 6 at once, each on its own thread, joining and leaving as they finish.
    std::vector<std::thread> t;
    for (int wave = 0; wave < kClients; wave += 5) {
      for (int i = wave; i < std::min(kClients, wave + 5); ++i) {
        join(clients[i]);
        t.emplace_back([&c = clients[i], i] {
          std::mt19937 r(i);
          if (!c.session) return;
          while (c.Step(r)) {
          }
          c.session.reset();  // leave from the session's own thread
        });
      }
      for (auto& th : t) th.join();
      t.clear();
    }
  } else {
    // One thread interleaves them; clients join after others have started and leave when done.
    int next = 0, live = 0;
    while (next < kClients || live > 0) {
      if (next < kClients && live < 6 && (live == 0 || rng() % 4 == 0)) {
        join(clients[next]);
        if (clients[next].session) ++live;
        ++next;
      }
      for (Client& c : clients) {
        if (!c.session) continue;
        if (!c.Step(rng)) {
          c.session.reset();
          --live;
        }
      }
    }
  }
  for (int i = 0; i < kClients; ++i) {
    Client& c = clients[i];
    if (c.hops == 0) continue;
    ASSERT_EQ(c.popped, c.hops) << i;
    const auto want = CpuReference(*cpu, c.in, c.strength);
    for (size_t k = 0; k < want.size(); ++k) {
      ASSERT_TRUE(std::isfinite(c.out[k]));
      ASSERT_NEAR(c.out[k], want[k], fail_after >= 0 ? 1e-6f : 0.0f) << "client " << i << " " << k;
    }
  }
  const SchedulerStats st = (*sched)->stats();
  EXPECT_EQ(st.sessions, 0);
  if (fail_after < 0) {
    EXPECT_FALSE(st.failed);
    EXPECT_EQ(st.cpu_hops, 0u);
  } else {
    EXPECT_TRUE(st.failed);
    EXPECT_EQ(st.fallback_events, 1u);
    EXPECT_NE(st.failure.find("CUDA_ERROR_ILLEGAL_ADDRESS"), std::string::npos) << st.failure;
    EXPECT_GT(st.cpu_hops, 0u);
  }
}

TEST(SchedulerTest, SessionsComeAndGoOneThread) { RunChurn(false, -1); }
TEST(SchedulerTest, SessionsComeAndGoManyThreads) { RunChurn(true, -1); }
TEST(SchedulerTest, FallbackMidRunOneThread) { RunChurn(false, 150); }
TEST(SchedulerTest, FallbackMidRunManyThreads) { RunChurn(true, 150); }
TEST(SchedulerTest, FallbackOnTheFirstTick) { RunChurn(false, 0); }

TEST(SchedulerTest, SlotsRunOutCleanly) {
  auto cpu = std::make_shared<EchoFamily>();
  auto sched = Scheduler::Create(std::make_unique<FakePlan>(cpu, 2), cpu, {});
  ASSERT_TRUE(sched.ok());
  auto a = (*sched)->Join(), b = (*sched)->Join(), c = (*sched)->Join();
  EXPECT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  a->reset();
  EXPECT_TRUE((*sched)->Join().ok());
}

TEST(SchedulerTest, QueueDepthIsEnforced) {
  auto cpu = std::make_shared<EchoFamily>();
  SchedulerOptions o;
  o.queue_hops = 3;
  auto plan = std::make_unique<FakePlan>(cpu, 1);
  FakePlan* raw = plan.get();
  auto sched = Scheduler::Create(std::move(plan), cpu, o);
  ASSERT_TRUE(sched.ok());
  auto s = (*sched)->Join();
  ASSERT_TRUE(s.ok());
  const auto in = RandomHops(4, 9);
  std::vector<float> out(kHop);
  {
    std::unique_lock<std::mutex> gate(raw->gate());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*s)->Push(in.data() + i * kHop, 1.0f));
    EXPECT_FALSE((*s)->Push(in.data() + 3 * kHop, 1.0f));
    EXPECT_EQ((*s)->outstanding(), 3);
  }
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*s)->WaitPop(out.data(), nullptr, 5s));
  EXPECT_FALSE((*s)->WaitPop(out.data(), nullptr, 5s));  // nothing outstanding
}

// The scheduler goes away while a session still has hops queued: they come back from the CPU.
TEST(SchedulerTest, DestroyedSchedulerLeavesSessionsOnTheCpu) {
  auto cpu = std::make_shared<EchoFamily>();
  auto plan = std::make_unique<FakePlan>(cpu, 2);
  FakePlan* raw = plan.get();
  auto sched = Scheduler::Create(std::move(plan), cpu, {});
  ASSERT_TRUE(sched.ok());
  auto s = (*sched)->Join();
  ASSERT_TRUE(s.ok());
  const int hops = 40;
  const auto in = RandomHops(hops, 4);
  std::vector<float> out(in.size());
  for (int k = 0; k < 20; ++k) {
    ASSERT_TRUE((*s)->Push(in.data() + k * kHop, 1.0f));
    ASSERT_TRUE((*s)->WaitPop(out.data() + k * kHop, nullptr, 5s));
  }
  {
    std::unique_lock<std::mutex> gate(raw->gate());
    ASSERT_TRUE((*s)->Push(in.data() + 20 * kHop, 1.0f));
    ASSERT_TRUE((*s)->Push(in.data() + 21 * kHop, 1.0f));
    // Destroy on another thread: it waits for the tick holding the gate.
    std::thread killer([&] { sched->reset(); });
    gate.unlock();
    killer.join();
  }
  int k = 20;
  while ((*s)->outstanding() > 0) ASSERT_TRUE((*s)->WaitPop(out.data() + (k++) * kHop, nullptr, 5s));
  EXPECT_EQ(k, 22);
  for (; k < hops; ++k) {
    ASSERT_TRUE((*s)->Push(in.data() + k * kHop, 1.0f));
    ASSERT_TRUE((*s)->WaitPop(out.data() + k * kHop, nullptr, 5s));
  }
  EXPECT_TRUE((*s)->on_cpu());
  const auto want = CpuReference(*cpu, in, 1.0f);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-6f) << i;
}

TEST(SchedulerTest, WatchdogOnAHungDevice) {
  auto cpu = std::make_shared<EchoFamily>();
  auto plan = std::make_unique<FakePlan>(cpu, 2);
  FakePlan* raw = plan.get();
  auto sched = Scheduler::Create(std::move(plan), cpu, {});
  ASSERT_TRUE(sched.ok());
  auto s = (*sched)->Join();
  ASSERT_TRUE(s.ok());
  const auto in = RandomHops(10, 6);
  std::vector<float> out(in.size());
  std::unique_lock<std::mutex> gate(raw->gate());  // the "GPU" never finishes
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE((*s)->Push(in.data() + k * kHop, 0.7f));
    ASSERT_TRUE((*s)->WaitPop(out.data() + k * kHop, nullptr, 20ms));
  }
  const auto want = CpuReference(*cpu, in, 0.7f);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-6f) << i;
  const SchedulerStats st = (*sched)->stats();
  EXPECT_TRUE(st.failed);
  EXPECT_NE(st.failure.find("watchdog"), std::string::npos) << st.failure;
  gate.unlock();  // let the scheduler thread finish its tick so it can be joined
}

TEST(BatchedCudaFamilyTest, StreamsShareOneScheduler) {
  auto cpu = std::make_shared<EchoFamily>();
  std::shared_ptr<Scheduler> sched = *Scheduler::Create(std::make_unique<FakePlan>(cpu, 6), cpu, {});
  auto fam = std::make_shared<BatchedCudaFamily>(sched, cpu);
  std::vector<std::thread> t;
  std::vector<int> ok(3, 0);
  for (int i = 0; i < 3; ++i) {
    t.emplace_back([&, i] {
      const int ch = 1 + i % 2;
      std::vector<float> in(size_t(48000 + 31 * i) * ch);
      std::mt19937 rng(i);
      std::uniform_real_distribution<float> d(-0.5f, 0.5f);
      for (float& x : in) x = d(rng);
      auto a = Stream::Create(fam, {48000, ch});
      auto b = Stream::Create(cpu, {48000, ch});
      if (!a.ok() || !b.ok()) return;
      std::vector<float> x(in.size()), y(in.size());
      for (size_t pos = 0; pos < in.size(); pos += 333 * size_t(ch)) {
        const size_t n = std::min<size_t>(333, (in.size() - pos) / ch);
        (*a)->Process(in.data() + pos, x.data() + pos, n);
        (*b)->Process(in.data() + pos, y.data() + pos, n);
      }
      ok[i] = x == y;
    });
  }
  for (auto& th : t) th.join();
  EXPECT_EQ(ok, std::vector<int>({1, 1, 1}));
  const BackendTelemetry tel = fam->telemetry();
  EXPECT_EQ(tel.mode, "batched");
  EXPECT_EQ(tel.active, "cuda");
  EXPECT_GT(tel.gpu_hops, 0u);
}

// Stage times for sessions the scheduler serves: a plan that records h2d / kernels / d2h per
// Submit (as CudaPlan's event-record nodes do) shows them in SchedulerStats::stages and in the
// family's telemetry (StagesJson, the "stages" of --report json), with end_to_end = the
// scheduler's submit→done per tick.
class StagedFakePlan : public FakePlan {
 public:
  using FakePlan::FakePlan;
  cu::CUresult Submit(const int* slots, const float* strengths, int n) override {
    if (n > 0) {
      stages_.Record(runtime::Stage::kH2D, 1000 + 10 * static_cast<uint64_t>(n));
      stages_.Record(runtime::Stage::kKernels, 20000);
      stages_.Record(runtime::Stage::kD2H, 3000);
    }
    return FakePlan::Submit(slots, strengths, n);
  }
  const runtime::StageHistograms* stage_times() const override { return &stages_; }

 private:
  runtime::StageHistograms stages_;
};

TEST(SchedulerTest, StageTimesOfThePlanAreReported) {
  auto cpu = std::make_shared<EchoFamily>();
  std::shared_ptr<Scheduler> sched = *Scheduler::Create(std::make_unique<StagedFakePlan>(cpu, 4), cpu, {});
  {
    const SchedulerStats st = sched->stats();  // nothing yet: every stage empty
    for (const LatencySummary& l : st.stages) EXPECT_EQ(l.count, 0u);
  }
  auto fam = std::make_shared<BatchedCudaFamily>(sched, cpu);
  auto ch = fam->NewChannel();
  ASSERT_NE(ch, nullptr);
  std::vector<float> in = RandomHops(37, 5), out(in.size());
  for (int h = 0; h < 37; ++h) fam->ProcessHop(*ch, in.data() + size_t(h) * kHop, out.data() + size_t(h) * kHop, 1.f);
  EXPECT_EQ(out, CpuReference(*cpu, in, 1.f));
  const SchedulerStats st = sched->stats();
  ASSERT_GT(st.ticks, 0u);
  const auto stage = [&](const std::array<LatencySummary, runtime::kStageCount>& a, runtime::Stage s) {
    return a[static_cast<size_t>(s)];
  };
  EXPECT_EQ(stage(st.stages, runtime::Stage::kH2D).count, st.ticks);
  EXPECT_NEAR(stage(st.stages, runtime::Stage::kKernels).p50_us, 20.0, 20.0 / 16);
  EXPECT_NEAR(stage(st.stages, runtime::Stage::kD2H).max_us, 3.0, 1e-9);
  EXPECT_EQ(stage(st.stages, runtime::Stage::kDevice).count, 0u);
  EXPECT_EQ(stage(st.stages, runtime::Stage::kEndToEnd).count, st.submit_to_done.count);
  EXPECT_EQ(stage(st.stages, runtime::Stage::kEndToEnd).count, st.ticks);
  const BackendTelemetry t = fam->telemetry();
  EXPECT_EQ(stage(t.stages, runtime::Stage::kKernels).count, st.ticks);
  const std::string j = StagesJson(t);
  EXPECT_NE(j.find("\"kernels\": {\"count\": " + std::to_string(st.ticks) + ", \"p50_us\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"device\": {\"count\": 0}"), std::string::npos) << j;
  ch.reset();
}

}  // namespace
}  // namespace ghostnv::sched
