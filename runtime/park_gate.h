// runtime/park_gate.h — the process-wide gate that lets driver calls which wait for the whole
// device run beside resident (persistent) kernels.
//
// A persistent kernel never finishes, and some driver calls wait until every kernel of the
// context has finished: measured on an H200 (driver 580, docs/perf/gpu.md "Session 8 — gpurt"),
// these block for good behind a running persistent kernel: cuMemFree, cuMemFreeHost,
// cuModuleLoadData, cuModuleUnload, cuCtxSynchronize (the CUDA documentation: cuMemFree "may
// perform implicit synchronization"); these return: cuMemAlloc, cuMemHostAlloc, synchronous
// cuMemsetD8, stream and event create/sync/destroy, graph capture/instantiate/launch/destroy,
// cuMemAllocAsync/cuMemFreeAsync, cuMemGetInfo, cuStreamSynchronize of the legacy stream. So
// every blocking call this library makes passes through the gate: runtime::DeviceBlock /
// PinnedBlock frees (memory.cc, and the runtime/mem/ pools and arenas built on them),
// cuModuleLoadData / cuModuleUnload (module.cc), cuModuleGetFunction / cuModuleGetGlobal (with
// lazy loading, the CUDA 12.2+ default on Linux, they load the code: gated like the load, not
// measured separately), cuFuncSetAttribute (not measured) and cuCtxSynchronize (context.cc).
// A ParkScope parks every member first — each resident kernel is told to stop at its next hop
// boundary (a stop command in mapped memory; its state stays in device memory) —, the call runs,
// and when the last concurrent scope ends every member is relaunched (measured: 0.031 ms for a
// gated 1 MiB alloc + wipe + free with one park). A hop submitted meanwhile is not lost: it
// waits in the mailbox and the relaunched kernel answers it (the audio thread sees one slower
// hop; its watchdog, or the CPU fallback behind it, still covers a device that never comes back).
//
//   class MyPlan : public runtime::Parkable { bool Park() override; bool Resume() override; };
//   runtime::ParkGate::Get().Join(&plan);    // setup: launches it (Resume) when no scope is open
//   { runtime::ParkScope scope; api.MemFree(p); }   // any thread: members parked around the call
//   runtime::ParkGate::Get().Leave(&plan);   // before the plan stops its own kernel
//
// Calls made by other code in the process (another CUDA library, PyTorch's cache) do not pass
// through the gate and still block while a member runs.
// Threads: every method from any thread (setup paths only: scopes take a mutex and may wait for a
// member's hop in flight). Park() and Resume() are called with the gate's mutex held; they must
// not open a ParkScope themselves. Header-only (no link dependency for the plans).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

namespace ghostnv::runtime {

// A resident kernel that can step aside.
class Parkable {
 public:
  // Stop the kernel at a hop boundary and return once it will not touch the device again
  // (it may still be retiring: the waiting driver call waits for that). False: it could not be
  // stopped (the member marks itself failed; the gated call may then block).
  virtual bool Park() = 0;
  // (Re)launch the kernel; also the first launch at Join. False: the launch failed (the member
  // marks itself failed so its owner falls back).
  virtual bool Resume() = 0;

 protected:
  ~Parkable() = default;
};

class ParkGate {
 public:
  // The process-wide gate (never destroyed: blocks freed by static destructors still use it).
  static ParkGate& Get() {
    static ParkGate* const gate = new ParkGate();
    return *gate;
  }

  // Adds `p` and launches it (p->Resume()), waiting until no scope is open so that no waiting
  // driver call is in flight when the kernel starts. Returns Resume()'s result (on false `p` is
  // not a member).
  bool Join(Parkable* p) {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return depth_ == 0; });
    if (!p->Resume()) return false;
    members_.push_back(p);
    return true;
  }

  // Removes `p`: the gate never calls it again. When a scope is open `p` stays parked (not
  // running); its owner finds that out from its own state.
  void Leave(Parkable* p) {
    std::lock_guard<std::mutex> lock(mu_);
    members_.erase(std::remove(members_.begin(), members_.end(), p), members_.end());
  }

  // A scope: the first one parks every member, the last one relaunches them.
  void Enter() {
    std::lock_guard<std::mutex> lock(mu_);
    if (depth_++ == 0 && !members_.empty()) {
      parks_.fetch_add(1, std::memory_order_relaxed);
      for (Parkable* p : members_)
        if (!p->Park()) park_failures_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  void Exit() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--depth_ == 0) {
      for (Parkable* p : members_) (void)p->Resume();
      idle_.notify_all();
    }
  }

  // Counters (tests, diagnostics): scopes that parked at least one member; members that could
  // not be parked; members now.
  uint64_t parks() const { return parks_.load(std::memory_order_relaxed); }
  uint64_t park_failures() const { return park_failures_.load(std::memory_order_relaxed); }
  int members() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(members_.size());
  }

 private:
  ParkGate() = default;
  mutable std::mutex mu_;
  std::condition_variable idle_;
  int depth_ = 0;
  std::vector<Parkable*> members_;
  std::atomic<uint64_t> parks_{0}, park_failures_{0};
};

// RAII: every member of the gate is parked while it lives (see the banner).
class ParkScope {
 public:
  ParkScope() { ParkGate::Get().Enter(); }
  ~ParkScope() { ParkGate::Get().Exit(); }
  ParkScope(const ParkScope&) = delete;
  ParkScope& operator=(const ParkScope&) = delete;
};

}  // namespace ghostnv::runtime
