// runtime/sched/scheduler.h — batched mode: many sessions, one CudaPlan, one scheduler thread.
//
// Sessions join and leave at any time (each takes one plan slot; nothing is recompiled: the plan
// has a captured graph per batch-size bucket). An audio thread hands its session a hop with
// Push() and later takes the result with Pop() (or WaitPop()); both are lock-free SPSC queues,
// one each way per session. The scheduler thread sleeps until some session pushes, then ticks:
// it takes the oldest queued hop of every session that has one (one hop per session per tick:
// a slot's recurrent state allows no more), writes them as rows of one batch, Submit()s, Wait()s
// on its own thread, and hands each row back to its session. Hops that arrive during a tick go
// into the next one, so a batch holds whatever was ready, without a fixed window.
//
//   auto sched = Scheduler::Create(std::move(plan), cpu_family, {});      // setup
//   auto session = (*sched)->Join();                                       // setup, any time
//   (*session)->Push(hop_in, strength);                                    // audio thread
//   if ((*session)->Pop(hop_out, &info)) ...                               // audio thread
//   session->reset();                                                      // leave
//
// Deadlines and counters: every hop is stamped at Push(); the scheduler records submit→done per
// tick and push→done per hop (histograms) and counts hops whose push→done exceeded
// SchedulerOptions::deadline (a 10 ms hop by default) — a measure of whether batches are kept
// small enough, not an error. Per-stage times (telemetry, SchedulerStats::stages — "stages" of
// ghostnv_info_json() / `--report json` for sessions the scheduler serves): h2d / kernels / d2h /
// device / outside_kernels as the plan records them per tick (CudaPlan::stage_times(): the
// event-record nodes of its replayed graphs, runtime/telemetry_hop_timer.h; empty stages where
// the plan measures none), and end_to_end = the scheduler's submit→done per tick.
//
// CPU fallback: if Submit or Wait fails (any driver error; runtime::IsStickyError tells whether
// the context is lost), or the scheduler is destroyed while sessions live, the scheduler marks
// itself failed and stops. Each session, at its next Pop() or Push(), first drains the results
// delivered before the failure, then switches to its CpuFallback (cpu_fallback.h): warm-up on
// its last warmup_hops inputs, then the CPU produces every hop still owed and all later ones.
// Outputs stay in order, one per pushed hop: nothing is lost or repeated.
//
// Threads: Create/Join/the session destructor/the Scheduler destructor are the setup path
// (Join and leaving wait for the current tick to end: at most one batch round trip). Push/Pop/
// WaitPop of one session from one thread at a time (its audio thread), wait-free except that
// Push() wakes the scheduler thread (a futex wake: a syscall, no lock). stats() any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "models/family.h"
#include "runtime/sched/cuda_backend.h"
#include "runtime/sched/cuda_plan.h"

namespace ghostnv::sched {

struct SchedulerOptions {
  int queue_hops = 8;    // hops a session may have outstanding (pushed, not popped), >= 1
  int warmup_hops = 32;  // CPU warm-up history at a fallback
  std::chrono::nanoseconds deadline = std::chrono::milliseconds(10);
};

struct SchedulerStats {
  int sessions = 0;
  uint64_t ticks = 0;            // Submit()s
  uint64_t hops = 0;             // session hops the GPU delivered
  int max_batch = 0;
  double mean_batch = 0;
  uint64_t deadline_misses = 0;  // hops whose push→done exceeded the deadline
  uint64_t cpu_hops = 0;         // session hops the CPU delivered after a fallback
  uint64_t warmup_hops = 0;      // CPU hops run to warm sessions up at the switch
  uint64_t fallback_events = 0;  // 0 or 1: the device failed (or hung) and sessions moved
  bool failed = false;
  std::string failure;           // why, when failed
  LatencySummary submit_to_done, push_to_done;
  // Per tick, indexed by runtime::Stage (see the banner): the plan's stages, end_to_end =
  // submit_to_done.
  std::array<LatencySummary, runtime::kStageCount> stages{};
};

class BatchSession;

class Scheduler {
 public:
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(
      std::unique_ptr<CudaPlan> plan, std::shared_ptr<const models::Family> cpu,
      const SchedulerOptions& options);
  // Stops the thread. Sessions still alive switch to the CPU (see the banner).
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // A new session with a fresh slot. ResourceExhausted when every slot is taken.
  absl::StatusOr<std::unique_ptr<BatchSession>> Join();
  SchedulerStats stats() const;
  int hop_size() const;
  std::string device_description() const;

  struct Core;

 private:
  explicit Scheduler(std::shared_ptr<Core> core);
  std::shared_ptr<Core> core_;
};

class BatchSession {
 public:
  ~BatchSession();  // leaves the scheduler, wiping the slot
  BatchSession(const BatchSession&) = delete;
  BatchSession& operator=(const BatchSession&) = delete;

  // Audio thread. Queues one hop (hop_size() floats). False (nothing queued) when queue_hops
  // hops are already outstanding.
  bool Push(const float* in, float strength) noexcept;
  // Audio thread. The oldest outstanding hop's output, if it is done; false otherwise.
  bool Pop(float* out, models::HopInfo* info) noexcept;
  // Pop(), polling (spin, then yield) for at most `timeout`; a timeout with hops outstanding
  // means the device is hung: the session then switches to the CPU and still returns the hop.
  // False only when nothing is outstanding.
  bool WaitPop(float* out, models::HopInfo* info, std::chrono::nanoseconds timeout) noexcept;

  int outstanding() const { return static_cast<int>(pushed_ - popped_); }
  bool on_cpu() const { return cpu_mode_; }
  int slot() const { return slot_; }

  struct Queues;

 private:
  friend class Scheduler;
  BatchSession(std::shared_ptr<Scheduler::Core> core, int slot);
  void SwitchToCpu() noexcept;

  std::shared_ptr<Scheduler::Core> core_;
  int slot_;
  size_t hop_;
  std::unique_ptr<Queues> q_;
  uint64_t pushed_ = 0, popped_ = 0;
  bool cpu_mode_ = false;
};

// A models::Family over a Scheduler, for a Stream: each channel is a session; ProcessHop pushes
// the hop and waits for its result (WaitPop with the watchdog), so the stream's latency does not
// change. Use it when many streams in one process share a GPU; each call waits for a batch
// round trip on the audio thread (typically tens of µs).
class BatchedCudaFamily : public BackendFamily {
 public:
  BatchedCudaFamily(std::shared_ptr<Scheduler> scheduler,
                    std::shared_ptr<const models::Family> cpu,
                    std::chrono::nanoseconds watchdog = std::chrono::seconds(2));
  const models::Model& model() const override { return cpu_->model(); }
  bool computes_vad() const override { return cpu_->computes_vad(); }
  std::unique_ptr<models::ChannelState> NewChannel() const override;  // nullptr: no slot
  models::HopInfo ProcessHop(models::ChannelState& state, const float* in, float* out,
                             float strength) const override;
  BackendTelemetry telemetry() const override;

 private:
  std::shared_ptr<Scheduler> scheduler_;
  std::shared_ptr<const models::Family> cpu_;
  std::chrono::nanoseconds watchdog_;
};

}  // namespace ghostnv::sched
