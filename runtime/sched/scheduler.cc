// runtime/sched/scheduler.cc — the batched scheduler thread and its sessions.
#include "runtime/sched/scheduler.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/driver.h"
#include "runtime/sched/cpu_fallback.h"
#include "runtime/sched/spsc.h"

namespace ghostnv::sched {
namespace {

uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

struct InHop {
  std::vector<float> pcm;
  float strength = 1.0f;
  uint64_t push_ns = 0;
};
struct OutHop {
  std::vector<float> pcm;
  models::HopInfo info;
};

}  // namespace

struct BatchSession::Queues {
  Queues(size_t hop, int depth, std::shared_ptr<const models::Family> cpu, int warmup)
      : in(static_cast<size_t>(depth)),
        out(static_cast<size_t>(depth)),
        local(static_cast<size_t>(depth)),
        fallback(std::move(cpu), warmup, depth) {
    for (auto* q : {&in}) for (InHop& h : q->slots()) h.pcm.assign(hop, 0.0f);
    for (auto* q : {&out, &local}) for (OutHop& h : q->slots()) h.pcm.assign(hop, 0.0f);
  }
  ~Queues() {
    for (InHop& h : in.slots()) explicit_bzero(h.pcm.data(), h.pcm.size() * sizeof(float));
    for (auto* q : {&out, &local})
      for (OutHop& h : q->slots()) explicit_bzero(h.pcm.data(), h.pcm.size() * sizeof(float));
  }
  SpscQueue<InHop> in;     // audio thread → scheduler
  SpscQueue<OutHop> out;   // scheduler → audio thread
  SpscQueue<OutHop> local; // CPU results (audio thread only, after the switch)
  CpuFallback fallback;
  int slot = -1;
};

struct Scheduler::Core {
  std::unique_ptr<CudaPlan> plan;
  std::shared_ptr<const models::Family> cpu;
  SchedulerOptions options;
  std::string device;
  int hop = 0;

  std::mutex mu;                           // sessions and the plan's setup calls vs. ticks
  std::vector<BatchSession::Queues*> sessions;
  std::atomic<uint32_t> work{0};           // bumped by Push(); the thread waits on it
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};         // set after the last results were published
  std::atomic<int> failure_code{0};
  std::atomic<bool> stopped_by_owner{false};
  std::thread thread;

  std::vector<int> slots;
  std::vector<float> strengths;
  std::vector<BatchSession::Queues*> batch;
  std::vector<uint64_t> push_ns;

  std::atomic<uint64_t> ticks{0}, hops{0}, deadline_misses{0}, cpu_hops{0}, warmup_hops{0},
      fallback_events{0};
  std::atomic<int> max_batch{0}, live_sessions{0};
  LatencyHistogram submit_to_done, push_to_done;

  void Run();
  void Fail(cu::CUresult r) {
    bool expected = false;
    if (failed.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
      failure_code.store(r, std::memory_order_relaxed);
      fallback_events.fetch_add(1, std::memory_order_relaxed);
    }
  }
};

void Scheduler::Core::Run() {
  const size_t hop_bytes = static_cast<size_t>(hop) * sizeof(float);
  while (!stop.load(std::memory_order_acquire) && !failed.load(std::memory_order_acquire)) {
    const uint32_t seen = work.load(std::memory_order_acquire);
    int n = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stop.load(std::memory_order_acquire) || failed.load(std::memory_order_acquire)) break;
      float* rows = plan->input_rows();
      for (BatchSession::Queues* s : sessions) {
        if (n >= plan->max_sessions()) break;
        InHop* h = s->in.Front();
        if (h == nullptr) continue;
        std::memcpy(rows + static_cast<size_t>(n) * hop, h->pcm.data(), hop_bytes);
        slots[n] = s->slot;
        strengths[n] = h->strength;
        push_ns[n] = h->push_ns;
        batch[n] = s;
        s->in.Pop();
        ++n;
      }
      if (n > 0) {
        const uint64_t t0 = NowNs();
        cu::CUresult r = plan->Submit(slots.data(), strengths.data(), n);
        if (r == cu::kSuccess) r = plan->Wait();
        const uint64_t t1 = NowNs();
        if (r != cu::kSuccess) {
          // These n hops were taken but not delivered: their sessions recompute them on the CPU.
          Fail(r);
          return;
        }
        submit_to_done.Add(t1 - t0);
        const float* out = plan->output_rows();
        const CudaHopInfo* info = plan->info();
        const uint64_t deadline = static_cast<uint64_t>(options.deadline.count());
        uint64_t misses = 0;
        for (int i = 0; i < n; ++i) {
          OutHop* o = batch[i]->out.BeginPush();  // never full: outstanding <= depth
          if (o == nullptr) continue;
          std::memcpy(o->pcm.data(), out + static_cast<size_t>(i) * hop, hop_bytes);
          o->info = {info[i].vad, info[i].silent != 0};
          batch[i]->out.EndPush();
          const uint64_t e2e = t1 - std::min(push_ns[i], t1);
          push_to_done.Add(e2e);
          if (e2e > deadline) ++misses;
        }
        ticks.fetch_add(1, std::memory_order_relaxed);
        hops.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
        if (misses) deadline_misses.fetch_add(misses, std::memory_order_relaxed);
        if (n > max_batch.load(std::memory_order_relaxed))
          max_batch.store(n, std::memory_order_relaxed);
      }
    }
    if (n == 0) work.wait(seen, std::memory_order_acquire);  // until a Push() or stop
  }
}

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(
    std::unique_ptr<CudaPlan> plan, std::shared_ptr<const models::Family> cpu,
    const SchedulerOptions& options) {
  if (!plan || !cpu) return absl::InvalidArgumentError("Scheduler: no plan or family");
  if (plan->hop_size() != cpu->hop_size())
    return absl::InvalidArgumentError("Scheduler: the plan's hop is not the model's");
  if (options.queue_hops < 1 || options.warmup_hops < 0 || plan->max_sessions() < 1)
    return absl::InvalidArgumentError("Scheduler: bad options");
  auto core = std::make_shared<Core>();
  core->device = plan->device_description();
  core->hop = plan->hop_size();
  const size_t max = static_cast<size_t>(plan->max_sessions());
  core->plan = std::move(plan);
  core->cpu = std::move(cpu);
  core->options = options;
  core->slots.assign(max, -1);
  core->strengths.assign(max, 1.0f);
  core->batch.assign(max, nullptr);
  core->push_ns.assign(max, 0);
  core->sessions.reserve(max);
  Core* c = core.get();
  core->thread = std::thread([c] { c->Run(); });
  return std::unique_ptr<Scheduler>(new Scheduler(std::move(core)));
}

Scheduler::Scheduler(std::shared_ptr<Core> core) : core_(std::move(core)) {}

Scheduler::~Scheduler() {
  core_->stop.store(true, std::memory_order_release);
  core_->work.fetch_add(1, std::memory_order_release);
  core_->work.notify_all();
  if (core_->thread.joinable()) core_->thread.join();
  // Sessions still alive must not wait for a thread that is gone.
  if (!core_->failed.load(std::memory_order_acquire)) {
    core_->stopped_by_owner.store(true, std::memory_order_relaxed);
    core_->failed.store(true, std::memory_order_release);
  }
}

int Scheduler::hop_size() const { return core_->hop; }
std::string Scheduler::device_description() const { return core_->device; }

absl::StatusOr<std::unique_ptr<BatchSession>> Scheduler::Join() {
  std::lock_guard<std::mutex> lock(core_->mu);
  if (core_->failed.load(std::memory_order_acquire))
    return absl::UnavailableError("scheduler: the GPU has failed; use the CPU");
  absl::StatusOr<int> slot = core_->plan->AcquireSlot();
  if (!slot.ok()) return slot.status();
  std::unique_ptr<BatchSession> s(new BatchSession(core_, *slot));
  core_->sessions.push_back(s->q_.get());
  core_->live_sessions.fetch_add(1, std::memory_order_relaxed);
  return s;
}

SchedulerStats Scheduler::stats() const {
  const Core& c = *core_;
  SchedulerStats s;
  s.sessions = c.live_sessions.load(std::memory_order_relaxed);
  s.ticks = c.ticks.load(std::memory_order_relaxed);
  s.hops = c.hops.load(std::memory_order_relaxed);
  s.max_batch = c.max_batch.load(std::memory_order_relaxed);
  s.mean_batch = s.ticks ? static_cast<double>(s.hops) / static_cast<double>(s.ticks) : 0.0;
  s.deadline_misses = c.deadline_misses.load(std::memory_order_relaxed);
  s.failed = c.failed.load(std::memory_order_acquire) &&
             !c.stopped_by_owner.load(std::memory_order_relaxed);
  if (s.failed) {
    const cu::CUresult r = c.failure_code.load(std::memory_order_relaxed);
    s.failure = r == 0 ? "a session's watchdog expired (the device did not answer)"
                       : absl::StrCat(runtime::CuResultName(nullptr, r),
                                      runtime::IsStickyError(r) ? " (sticky: the context is lost)"
                                                                : "");
  }
  s.cpu_hops = c.cpu_hops.load(std::memory_order_relaxed);
  s.warmup_hops = c.warmup_hops.load(std::memory_order_relaxed);
  s.fallback_events = c.fallback_events.load(std::memory_order_relaxed);
  s.submit_to_done = Summarize(c.submit_to_done);
  s.push_to_done = Summarize(c.push_to_done);
  // The plan's histograms are lock-free (written by the scheduler thread's Submit).
  s.stages = PlanStageSummaries(*c.plan);
  s.stages[static_cast<size_t>(runtime::Stage::kEndToEnd)] = s.submit_to_done;
  return s;
}

BatchSession::BatchSession(std::shared_ptr<Scheduler::Core> core, int slot)
    : core_(std::move(core)), slot_(slot), hop_(static_cast<size_t>(core_->hop)) {
  q_ = std::make_unique<Queues>(hop_, core_->options.queue_hops, core_->cpu,
                                core_->options.warmup_hops);
  q_->slot = slot;
}

BatchSession::~BatchSession() {
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    auto& v = core_->sessions;
    v.erase(std::remove(v.begin(), v.end(), q_.get()), v.end());
    if (!core_->failed.load(std::memory_order_acquire)) core_->plan->ReleaseSlot(slot_);
  }
  core_->live_sessions.fetch_sub(1, std::memory_order_relaxed);
}

void BatchSession::SwitchToCpu() noexcept {
  cpu_mode_ = true;
  // Results the GPU delivered before the failure come first, in order; anything the scheduler
  // might publish later (a hung hop finishing after the watchdog) is never read.
  while (OutHop* o = q_->out.Front()) {
    OutHop* l = q_->local.BeginPush();
    if (l == nullptr) break;  // cannot happen: outstanding <= depth
    l->pcm.swap(o->pcm);      // equal sizes: no allocation
    l->info = o->info;
    q_->local.EndPush();
    q_->out.Pop();
  }
  const int owed = outstanding() - static_cast<int>(q_->local.size());
  const int warm = q_->fallback.Switch(owed);
  core_->warmup_hops.fetch_add(static_cast<uint64_t>(warm), std::memory_order_relaxed);
  for (int i = 0; i < owed; ++i) {
    OutHop* o = q_->local.BeginPush();
    if (o == nullptr) break;  // cannot happen: owed <= depth
    o->info = q_->fallback.ProcessPending(i, o->pcm.data());
    q_->local.EndPush();
    core_->cpu_hops.fetch_add(1, std::memory_order_relaxed);
  }
}

bool BatchSession::Push(const float* in, float strength) noexcept {
  if (outstanding() >= static_cast<int>(q_->in.capacity())) return false;
  if (!cpu_mode_ && core_->failed.load(std::memory_order_acquire)) SwitchToCpu();
  if (cpu_mode_) {
    OutHop* o = q_->local.BeginPush();
    if (o == nullptr) return false;
    o->info = q_->fallback.Process(in, o->pcm.data(), strength);
    q_->local.EndPush();
    core_->cpu_hops.fetch_add(1, std::memory_order_relaxed);
    ++pushed_;
    return true;
  }
  InHop* h = q_->in.BeginPush();
  if (h == nullptr) return false;
  std::memcpy(h->pcm.data(), in, hop_ * sizeof(float));
  h->strength = strength;
  h->push_ns = NowNs();
  q_->fallback.Remember(in, strength);
  q_->in.EndPush();
  ++pushed_;
  core_->work.fetch_add(1, std::memory_order_release);
  core_->work.notify_one();
  return true;
}

bool BatchSession::Pop(float* out, models::HopInfo* info) noexcept {
  if (popped_ == pushed_) return false;
  if (!cpu_mode_) {
    if (OutHop* o = q_->out.Front()) {
      std::memcpy(out, o->pcm.data(), hop_ * sizeof(float));
      if (info) *info = o->info;
      q_->out.Pop();
      ++popped_;
      return true;
    }
    // The flag is set after the last results were published (release/acquire), so an empty
    // queue seen after it is final.
    if (!core_->failed.load(std::memory_order_acquire)) return false;
    SwitchToCpu();
  }
  OutHop* o = q_->local.Front();
  if (o == nullptr) return false;
  std::memcpy(out, o->pcm.data(), hop_ * sizeof(float));
  if (info) *info = o->info;
  q_->local.Pop();
  ++popped_;
  return true;
}

bool BatchSession::WaitPop(float* out, models::HopInfo* info,
                           std::chrono::nanoseconds timeout) noexcept {
  if (popped_ == pushed_) return false;
  const uint64_t t0 = NowNs();
  const uint64_t limit = static_cast<uint64_t>(timeout.count());
  for (int spins = 0;; ++spins) {
    if (Pop(out, info)) return true;
    if (spins < 256) {
      CpuRelax();
    } else if (NowNs() - t0 > limit) {
      // The device is hung: stop trusting it (for every session) and recompute here.
      core_->Fail(0);
    } else {
      std::this_thread::yield();
    }
  }
}

BatchedCudaFamily::BatchedCudaFamily(std::shared_ptr<Scheduler> scheduler,
                                     std::shared_ptr<const models::Family> cpu,
                                     std::chrono::nanoseconds watchdog)
    : scheduler_(std::move(scheduler)), cpu_(std::move(cpu)), watchdog_(watchdog) {}

namespace {
struct BatchedState : models::ChannelState {
  explicit BatchedState(std::unique_ptr<BatchSession> s) : session(std::move(s)) {}
  void Reset() override {}  // a fresh stream makes fresh channels (see cuda_backend.h)
  std::unique_ptr<BatchSession> session;
};
}  // namespace

std::unique_ptr<models::ChannelState> BatchedCudaFamily::NewChannel() const {
  absl::StatusOr<std::unique_ptr<BatchSession>> s = scheduler_->Join();
  if (!s.ok()) return nullptr;
  return std::make_unique<BatchedState>(std::move(*s));
}

models::HopInfo BatchedCudaFamily::ProcessHop(models::ChannelState& state, const float* in,
                                              float* out, float strength) const {
  BatchSession& s = *static_cast<BatchedState&>(state).session;
  models::HopInfo info;
  if (!s.Push(in, strength)) {
    std::fill(out, out + cpu_->hop_size(), 0.0f);  // cannot happen: one hop outstanding at most
    return info;
  }
  if (!s.WaitPop(out, &info, watchdog_)) std::fill(out, out + cpu_->hop_size(), 0.0f);
  return info;
}

BackendTelemetry BatchedCudaFamily::telemetry() const {
  const SchedulerStats st = scheduler_->stats();
  BackendTelemetry t;
  t.backend = "cuda";
  t.mode = "batched";
  t.device = scheduler_->device_description();
  t.gpu_hops = st.hops;
  t.cpu_hops = st.cpu_hops;
  t.warmup_hops = st.warmup_hops;
  t.submit_to_done = st.submit_to_done;
  t.stages = st.stages;
  t.active = st.failed ? "cpu" : "cuda";
  if (st.failed) {
    t.fallback_events = st.fallback_events;
    t.fallback_note = absl::StrCat("the GPU failed: ", st.failure,
                                   "; every session continued on the CPU with no gap");
  }
  return t;
}

}  // namespace ghostnv::sched
