// runtime/sched/persistent/ultra_plan.cc — see ultra_plan.h.
#include "runtime/sched/persistent/ultra_plan.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/activations.h"
#include "kernels/ultra_layout.cuh"
#include "models/ultra/ultra_family.h"
#include "runtime/context.h"
#include "runtime/device.h"
#include "runtime/driver.h"
#include "runtime/graph.h"
#include "runtime/kernel_build.h"
#include "runtime/memory.h"
#include "runtime/module.h"
#include "runtime/park_gate.h"
#include "runtime/stream.h"

namespace ghostnv::sched {
namespace {

namespace ultra = ::ghostnv::models::ultra;
using cu::CUdeviceptr;
using cu::CUresult;
using runtime::DeviceBlock;
using runtime::PinnedBlock;

static_assert(ULTRA_HOP == ultra::kHop && ULTRA_WINDOW == ultra::kWindow &&
              ULTRA_BINS == ultra::kBins && ULTRA_BANDS == ultra::kBands &&
              ULTRA_TAIL == ultra::kWindow - ultra::kSynthesis);
static_assert(sizeof(UltraLayer) == 48 && sizeof(UltraNet) == 5 * 48 + 40 && sizeof(UltraSlice) == 48);

constexpr const char* kLayerNames[5] = {"input_dense", "gru1", "gru2", "gain_output", "vad_output"};

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

// Volatile access to the mailbox words the other side writes/reads.
inline int LoadWord(const int* p) { return *reinterpret_cast<const volatile int*>(p); }
inline void StoreWord(int* p, int v) { *reinterpret_cast<volatile int*>(p) = v; }

int FloatBits(float f) {
  int i;
  std::memcpy(&i, &f, sizeof(i));
  return i;
}
float BitsFloat(int i) {
  float f;
  std::memcpy(&f, &i, sizeof(f));
  return f;
}

}  // namespace

std::vector<float> UltraKernelTables() {
  std::vector<float> t(ULTRA_TB_FLOATS, 0.f);
  const auto& a = ultra::AnalysisWindow();
  const auto& s = ultra::SynthesisWindow();
  for (int i = 0; i < ULTRA_WINDOW; ++i) {
    t[ULTRA_TB_ANALYSIS + i] = a[i];
    t[ULTRA_TB_SYNTHESIS + i] = s[i];
    t[ULTRA_TB_COS + i] = static_cast<float>(std::cos(2.0 * M_PI * i / ULTRA_WINDOW));
    t[ULTRA_TB_SIN + i] = static_cast<float>(std::sin(2.0 * M_PI * i / ULTRA_WINDOW));
  }
  // The same fractions as ultra::BandEnergies / InterpolateGains.
  for (int b = 0; b + 1 < ULTRA_BANDS; ++b) {
    const int lo = ultra::kBandCenters[b];
    const int width = ultra::kBandCenters[b + 1] - lo;
    for (int j = 0; j < width; ++j) {
      t[ULTRA_TB_BIN_BAND + lo + j] = static_cast<float>(b);
      t[ULTRA_TB_BIN_FRAC + lo + j] = static_cast<float>(j) / width;
    }
  }
  t[ULTRA_TB_BIN_BAND + ULTRA_BINS - 1] = ULTRA_BANDS - 1;
  t[ULTRA_TB_BIN_FRAC + ULTRA_BINS - 1] = 0.f;
  for (int b = 0; b < ULTRA_BANDS; ++b) t[ULTRA_TB_CENTRES + b] = static_cast<float>(ultra::kBandCenters[b]);
  return t;
}

namespace {

// Persistent plans alive in the process (UltraPlanMode::kAuto's cap).
std::atomic<int> g_live_persistent{0};

// Who may write the persistent plan's mailbox (park gate protocol, see Park()):
constexpr int kOwnIdle = 0;     // nobody: the owner (Submit/ZeroSlot) or the gate may take it
constexpr int kOwnBusy = 1;     // the owner's command is in flight (until its Query sees the answer)
constexpr int kOwnGate = 2;     // the gate: the kernel is being parked, is parked, or not launched
constexpr int kOwnPending = 3;  // parked, and the owner's command waits for the relaunch

class UltraPlanImpl final : public CudaPlan, public runtime::Parkable {
 public:
  ~UltraPlanImpl() override {
    Shutdown();
    if (counted_) g_live_persistent.fetch_sub(1, std::memory_order_relaxed);
  }

  // cluster: use the thread-block cluster kernel (the caller checked the device has clusters).
  absl::Status Init(std::shared_ptr<const models::Model> model, const CudaPlanOptions& o,
                    const UltraPlanOptions& u, bool cluster);

  int hop_size() const override { return ULTRA_HOP; }
  int max_sessions() const override { return max_; }
  std::string device_description() const override { return description_; }

  absl::StatusOr<int> AcquireSlot() override {
    if (free_.empty())
      return absl::ResourceExhaustedError(absl::StrCat("ultra GPU plan: all ", max_, " slots are in use"));
    const int slot = free_.back();
    free_.pop_back();
    used_[slot] = 1;
    return slot;
  }

  void ReleaseSlot(int slot) override {
    if (slot < 0 || slot >= max_ || !used_[slot]) return;
    used_[slot] = 0;
    free_.push_back(slot);
    if (!failed_) ZeroSlot(slot);
  }

  float* input_rows() override { return reinterpret_cast<float*>(req_ + ULTRA_MB_IN); }
  const float* output_rows() const override { return reinterpret_cast<const float*>(ans_ + (ULTRA_MB_OUT - ULTRA_MB_DONE)); }
  const CudaHopInfo* info() const override { return &info_; }
  // kernels: the hop kernel's own time (block 0's %globaltimer, from the request seen — persistent
  // — or the kernel's start — graph — to just before the answer is published); end_to_end:
  // Submit -> Query/Wait sees the answer (host clock); outside_kernels: the difference per hop
  // (persistent: PCIe both ways and the polls; graph: the launch, both copies, the done event).
  const runtime::StageHistograms* stage_times() const override { return &stage_times_; }

  CUresult Submit(const int* slots, const float* strengths, int n) override {
    if (failed_) return last_error_;
    if (n == 0) {
      idle_ = true;
      return cu::kSuccess;
    }
    if (n != 1 || slots == nullptr || strengths == nullptr || slots[0] < 0 || slots[0] >= max_ ||
        !used_[slots[0]])
      return cu::kErrorInvalidValue;
    return Post(ULTRA_CMD_HOP, slots[0], *strengths);
  }

  CUresult Query() const override {
    if (failed_) return last_error_;
    if (idle_) return cu::kSuccess;
    if (gated_) {
      // Parked by the gate: the command waits in the mailbox for the relaunch.
      const int own = own_.load(std::memory_order_acquire);
      if (const int e = gate_error_.load(std::memory_order_acquire); e != 0) return Fail(e);
      if (own != kOwnBusy) return cu::kErrorNotReady;
      const CUresult r = ll_ ? QueryLl() : QueryMailbox();
      if (r != cu::kErrorNotReady) own_.store(kOwnIdle, std::memory_order_release);
      return r;
    }
    if (ll_) return QueryLl();
    if (persistent_) return QueryMailbox();
    const CUresult r = done_->Query();
    if (r == cu::kSuccess) return Answered();
    if (r != cu::kErrorNotReady) return Fail(r);
    return r;
  }

  // Parkable (runtime/park_gate.h), called by the gate with its mutex held, from any thread.
  // Park: take the mailbox once the owner has no command in flight (its hop takes ~12 µs; bounded
  // by the watchdog), post a stop, wait for the kernel's answer in mapped memory (no driver call:
  // the waiting driver call of the scope then waits for the retiring kernel itself). Every slot's
  // state stays in device memory, so the relaunch continues the streams bit for bit.
  bool Park() override {
    if (!running_) return true;
    if (dead_.load(std::memory_order_acquire)) return false;
    const uint64_t t0 = NowNs();
    for (int spins = 0;; ++spins) {
      int own = kOwnIdle;
      if (own_.compare_exchange_weak(own, kOwnGate, std::memory_order_acq_rel)) break;
      if (dead_.load(std::memory_order_acquire) || NowNs() - t0 > watchdog_ns_) return false;
      if (spins < 1024) CpuRelax(); else std::this_thread::yield();
    }
    if (!StopKernel()) {
      // No answer: the kernel is hung or gone. The owner fails over to the CPU.
      dead_.store(true, std::memory_order_release);
      gate_error_.store(kUltraWatchdogExpired, std::memory_order_release);
      own_.store(kOwnBusy, std::memory_order_release);
      return false;
    }
    running_ = false;
    return true;
  }

  // Resume: relaunch (start sequence = the stop's), then hand the mailbox back — or post the
  // owner's command that arrived while parked and give the owner its answer to wait for.
  bool Resume() override {
    if (running_ || dead_.load(std::memory_order_acquire)) return running_;
    const CUresult r = Launch();
    if (r != cu::kSuccess) {
      dead_.store(true, std::memory_order_release);
      gate_error_.store(r, std::memory_order_release);
      own_.store(kOwnBusy, std::memory_order_release);
      return false;
    }
    running_ = true;
    int own = kOwnGate;
    if (!own_.compare_exchange_strong(own, kOwnIdle, std::memory_order_acq_rel)) {
      WriteRequest(pend_cmd_, pend_slot_, pend_strength_);  // own == kOwnPending
      own_.store(kOwnBusy, std::memory_order_release);
    }
    return true;
  }

  // See StopUltraKernelForTesting (setup thread, no hop in flight).
  absl::Status StopForTesting() {
    if (!persistent_ || !gated_) return absl::FailedPreconditionError("not a running persistent ultra plan");
    runtime::ParkGate::Get().Leave(this);
    gated_ = false;
    if (!running_) return absl::FailedPreconditionError("the kernel is parked");
    if (!StopKernel()) return absl::InternalError("the kernel did not answer the stop");
    running_ = false;
    return absl::OkStatus();
  }

  CUresult Wait() override {
    const uint64_t t0 = NowNs();
    CUresult r;
    int spins = 0;
    while ((r = Query()) == cu::kErrorNotReady) {
      if (++spins < 1024) {
        CpuRelax();
      } else if (NowNs() - t0 > watchdog_ns_) {
        return Fail(kUltraWatchdogExpired);
      } else {
        std::this_thread::yield();
      }
    }
    return r;
  }

 private:
  // The LL mailbox: done when every answer word the command has carries its sequence (words
  // once seen stay valid: the kernel writes each once per command). The answer is then copied
  // into the plain answer words, where output_rows(), Answered() and the benchmark read it.
  CUresult QueryLl() const {
    const volatile uint64_t* a = reinterpret_cast<const volatile uint64_t*>(req_ + ULTRA_LL_ANS);
    const uint32_t want = static_cast<uint32_t>(seq_);
    while (ll_seen_ < ll_words_ && static_cast<uint32_t>(a[ll_seen_] >> 32) == want) ++ll_seen_;
    if (ll_seen_ < ll_words_) {
      if ((++polls_ & 4095) == 0) {
        const CUresult r = stream_->Query();
        if (r != cu::kErrorNotReady) return Fail(r == cu::kSuccess ? kUltraWatchdogExpired : r);
      }
      return cu::kErrorNotReady;
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    StoreWord(ans_ + (ULTRA_MB_STATUS - ULTRA_MB_DONE), static_cast<int>(static_cast<uint32_t>(a[0])));
    StoreWord(ans_ + (ULTRA_MB_VAD - ULTRA_MB_DONE), static_cast<int>(static_cast<uint32_t>(a[1])));
    StoreWord(ans_ + (ULTRA_MB_KERNEL_NS - ULTRA_MB_DONE), static_cast<int>(static_cast<uint32_t>(a[2])));
    int* out = ans_ + (ULTRA_MB_OUT - ULTRA_MB_DONE);
    for (int i = ULTRA_LL_HEAD; i < ll_words_; ++i) out[i - ULTRA_LL_HEAD] = static_cast<int>(static_cast<uint32_t>(a[i]));
    StoreWord(ans_, seq_);
    return Answered();
  }

  CUresult Fail(CUresult r) const {
    failed_ = true;
    last_error_ = r;
    if (gated_) dead_.store(true, std::memory_order_release);  // the gate stops asking it
    return r;
  }

  // The plain mailbox: the kernel publishes the answered sequence in ULTRA_MB_DONE.
  CUresult QueryMailbox() const {
    if (LoadWord(ans_) == seq_) {
      std::atomic_thread_fence(std::memory_order_acquire);
      return Answered();
    }
    // Every few thousand polls: is the kernel still there?
    if ((++polls_ & 4095) == 0) {
      const CUresult r = stream_->Query();
      if (r != cu::kErrorNotReady) return Fail(r == cu::kSuccess ? kUltraWatchdogExpired : r);
    }
    return cu::kErrorNotReady;
  }

  CUresult Answered() const {
    idle_ = true;
    const int status = LoadWord(ans_ + (ULTRA_MB_STATUS - ULTRA_MB_DONE));
    if (status != 0) return cu::kErrorInvalidValue;
    if (timing_hop_) RecordStageTimes();
    info_.vad = BitsFloat(LoadWord(ans_ + (ULTRA_MB_VAD - ULTRA_MB_DONE)));
    info_.silent = 0;
    return cu::kSuccess;
  }

  // Telemetry (see stage_times()): the kernel's own time (%globaltimer, written with the answer)
  // and, per hop, the host's submit -> answer seen minus it. Real-time path: no driver call.
  void RecordStageTimes() const {
    timing_hop_ = false;
    const uint64_t e2e = NowNs() - t_submit_;
    const int k = LoadWord(ans_ + (ULTRA_MB_KERNEL_NS - ULTRA_MB_DONE));
    stage_times_.Record(runtime::Stage::kEndToEnd, e2e);
    if (k <= 0) return;  // a kernel without the timer (host test)
    const uint64_t kernel = static_cast<uint64_t>(k);
    stage_times_.Record(runtime::Stage::kKernels, kernel);
    stage_times_.Record(runtime::Stage::kOutsideKernels, e2e > kernel ? e2e - kernel : 0);
  }

  // The owner's command (Submit, ZeroSlot). With the gate: taken over from kOwnIdle, or left
  // pending while the kernel is parked (Query() says not ready until the relaunch answers it).
  CUresult Post(int cmd, int slot, float strength) {
    const auto prep = [&] {
      timing_hop_ = cmd == ULTRA_CMD_HOP;
      if (timing_hop_) t_submit_ = NowNs();
      idle_ = false;
    };
    if (!gated_) {
      prep();
      return WriteRequest(cmd, slot, strength);
    }
    for (;;) {
      int own = own_.load(std::memory_order_acquire);
      if (own == kOwnIdle) {
        if (own_.compare_exchange_weak(own, kOwnBusy, std::memory_order_acq_rel)) {
          prep();
          return WriteRequest(cmd, slot, strength);
        }
      } else if (own == kOwnGate) {
        prep();
        pend_cmd_ = cmd;
        pend_slot_ = slot;
        pend_strength_ = strength;
        if (own_.compare_exchange_weak(own, kOwnPending, std::memory_order_acq_rel)) return cu::kSuccess;
      } else {
        // The gate found the kernel dead, or a command of the owner is still in flight.
        if (const int e = gate_error_.load(std::memory_order_acquire); e != 0) return Fail(e);
        return cu::kErrorInvalidValue;
      }
    }
  }

  // The mailbox words of one command (and, in graph mode, its launch). Caller owns the mailbox.
  CUresult WriteRequest(int cmd, int slot, float strength) {
    req_[ULTRA_MB_CMD] = cmd;
    req_[ULTRA_MB_SLOT] = slot;
    req_[ULTRA_MB_STRENGTH] = FloatBits(strength);
    ++seq_;
    if (ll_) {
      // Every word carries the sequence; the kernel waits for all ULTRA_LL_WORDS of them.
      volatile uint64_t* w = reinterpret_cast<volatile uint64_t*>(req_ + ULTRA_LL_REQ);
      const uint64_t s = static_cast<uint64_t>(static_cast<uint32_t>(seq_)) << 32;
      const float* in = reinterpret_cast<const float*>(req_ + ULTRA_MB_IN);  // input_rows()
      ll_words_ = cmd == ULTRA_CMD_HOP ? ULTRA_LL_WORDS : ULTRA_LL_HEAD;
      ll_seen_ = 0;
      w[0] = s | static_cast<uint32_t>(cmd);
      w[1] = s | static_cast<uint32_t>(slot);
      w[2] = s | static_cast<uint32_t>(FloatBits(strength));
      w[3] = s;
      for (int i = 0; i < ULTRA_HOP; ++i) w[ULTRA_LL_HEAD + i] = s | static_cast<uint32_t>(FloatBits(in[i]));
      return cu::kSuccess;
    }
    if (persistent_) {
      std::atomic_thread_fence(std::memory_order_release);
      StoreWord(req_ + ULTRA_MB_REQ, seq_);  // last: the kernel starts on this store
      return cu::kSuccess;
    }
    req_[ULTRA_MB_REQ] = seq_;
    CUresult r = graph_->exec.Launch(*stream_);
    if (r == cu::kSuccess) r = done_->Record(*stream_);
    if (r != cu::kSuccess) return Fail(r);
    return cu::kSuccess;
  }

  // Setup path: a zero command for `slot`, waited for.
  void ZeroSlot(int slot) {
    if (Post(ULTRA_CMD_ZERO, slot, 0.f) != cu::kSuccess) return;
    Wait();
  }

  // Posts a stop and waits (bounded by the watchdog) for the kernel's answer in mapped memory;
  // no driver call. Caller owns the mailbox (the gate, or Shutdown after leaving the gate).
  bool StopKernel() {
    WriteRequest(ULTRA_CMD_STOP, 0, 0.f);
    const uint64_t t0 = NowNs();
    const volatile uint64_t* a = reinterpret_cast<const volatile uint64_t*>(req_ + ULTRA_LL_ANS);
    const uint32_t want = static_cast<uint32_t>(seq_);
    for (int spins = 0;; ++spins) {
      bool done = true;
      if (ll_) {
        for (int i = 0; i < ULTRA_LL_HEAD && done; ++i) done = static_cast<uint32_t>(a[i] >> 32) == want;
      } else {
        done = LoadWord(ans_) == seq_;
      }
      if (done) return true;
      if (NowNs() - t0 > watchdog_ns_) return false;
      if (spins < 1024) CpuRelax(); else std::this_thread::yield();
    }
  }

  // The first launch (through the gate's Join) and every relaunch after a park.
  CUresult Launch() {
    const runtime::DriverApi& api = ctx_->api();
    cu::CUcontext prev = nullptr;
    (void)api.CtxGetCurrent(&prev);
    if (prev != ctx_->get()) (void)api.CtxSetCurrent(ctx_->get());
    CUdeviceptr net_ptr = net_d_.ptr(), sl_ptr = cluster_ ? slices_.ptr() : 0, mb_ptr = mailbox_.device_ptr();
    int start_seq = seq_, flags = launch_flags_;
    void* args[] = {&net_ptr, &mb_ptr, &start_seq};
    void* cargs[] = {&net_ptr, &sl_ptr, &mb_ptr, &start_seq, &flags};
    const CUresult r = kernel_->Launch({cluster_ ? ULTRA_CLUSTER : 1u}, {ULTRA_THREADS}, dyn_bytes_, *stream_,
                                       cluster_ ? cargs : args);
    if (prev != ctx_->get()) (void)api.CtxSetCurrent(prev);
    if (r == cu::kSuccess) launched_ = true;
    return r;
  }

  void Shutdown() {
    if (gated_) {
      // After Leave the gate never parks or relaunches this kernel; running_ says whether it
      // runs (a scope open elsewhere may have parked it: then it is stopped already).
      runtime::ParkGate::Get().Leave(this);
      gated_ = false;
    }
    if (persistent_ && launched_ && running_) {
      bool stopped = false;
      if (!dead_.load(std::memory_order_acquire) && !failed_ && StopKernel()) {
        // The kernel has answered the stop and returns; wait for the stream (bounded).
        const uint64_t t0 = NowNs();
        while (stream_->Query() == cu::kErrorNotReady && NowNs() - t0 < watchdog_ns_) std::this_thread::yield();
        stopped = stream_->Query() != cu::kErrorNotReady;
      }
      if (!stopped) {
        // A kernel that may still poll the mailbox must never see it freed: wipe the audio in it
        // and leave the block (and the device buffers it reads) allocated.
        explicit_bzero(mailbox_.data(), mailbox_.bytes());
        (void)new PinnedBlock(std::move(mailbox_));
        (void)new DeviceBlock(std::move(weights_));
        (void)new DeviceBlock(std::move(tables_));
        (void)new DeviceBlock(std::move(net_d_));
        (void)new DeviceBlock(std::move(slices_));
        (void)new DeviceBlock(std::move(state_));  // not wiped: the device may be hung
        // Unloading the module or dropping the context under a running kernel can block forever.
        if (module_) (void)new runtime::Module(std::move(*module_));
        if (stream_) (void)new runtime::Stream(std::move(*stream_));
        if (ctx_) (void)new runtime::Context(std::move(*ctx_));
        module_.reset();
        stream_.reset();
        ctx_.reset();
      }
    }
    // Remaining blocks wipe themselves (Wipe::kOnFree) when the members are destroyed.
  }

  std::string description_;
  int max_ = 0;
  bool persistent_ = true;
  bool launched_ = false;
  // Park gate (persistent mode): the mailbox's owner, whether the kernel runs (the gate's mutex
  // or the constructing/destroying thread), the owner's command held while parked, an error the
  // gate met (the owner's Query() fails over with it), the launch parameters for relaunches.
  bool gated_ = false;
  bool counted_ = false;
  bool running_ = false;
  mutable std::atomic<int> own_{kOwnIdle};
  mutable std::atomic<bool> dead_{false};
  std::atomic<int> gate_error_{0};
  int pend_cmd_ = 0, pend_slot_ = 0;
  float pend_strength_ = 0.f;
  bool cluster_ = false;
  unsigned dyn_bytes_ = 0;
  int launch_flags_ = 0;
  std::optional<runtime::Kernel> kernel_;
  uint64_t watchdog_ns_ = 0;
  std::optional<runtime::Context> ctx_;
  std::optional<runtime::Stream> stream_;
  std::optional<runtime::Event> done_;
  std::optional<runtime::Module> module_;
  std::optional<runtime::CapturedGraph> graph_;
  DeviceBlock weights_, tables_, net_d_, slices_, state_, up_d_, down_d_;
  PinnedBlock mailbox_, up_h_, down_h_;
  int* req_ = nullptr;  // request words (mailbox, or the graph's upload buffer)
  int* ans_ = nullptr;  // answer words, ans_[0] = ULTRA_MB_DONE
  int seq_ = 0;
  mutable bool idle_ = true;
  mutable bool failed_ = false;
  mutable CUresult last_error_ = cu::kSuccess;
  mutable unsigned polls_ = 0;
  mutable CudaHopInfo info_{0.f, 0};
  mutable runtime::StageHistograms stage_times_;
  mutable bool timing_hop_ = false;  // the command in flight is a hop (telemetry)
  bool ll_ = false;                   // the LL mailbox (persistent cluster kernel)
  int ll_words_ = 0;                  // answer words the command in flight has
  mutable int ll_seen_ = 0;           // of them, seen with its sequence
  uint64_t t_submit_ = 0;
  std::vector<int> free_;
  std::vector<uint8_t> used_;
};

absl::Status UltraPlanImpl::Init(std::shared_ptr<const models::Model> model, const CudaPlanOptions& o,
                                 const UltraPlanOptions& u, bool cluster) {
  if (absl::Status st = CheckUltraModelForGpu(*model); !st.ok()) return st;
  if (o.max_sessions < 1) return absl::InvalidArgumentError("ultra GPU plan: max_sessions must be >= 1");
  if (o.pcm16) return absl::InvalidArgumentError("ultra GPU plan: 16-bit PCM rows are not supported");
  const models::Model& m = *model;
  max_ = o.max_sessions;
  persistent_ = u.mode == UltraPlanMode::kPersistent;
  watchdog_ns_ = static_cast<uint64_t>(std::max<int64_t>(1, u.watchdog.count()));

  absl::StatusOr<runtime::DeviceInfo> dev = runtime::FindDevice(o.device);
  if (!dev.ok()) return dev.status();
  description_ = absl::StrCat(dev->name, " (", dev->ArchName(), ", ", dev->pci_bus_id, ") [ultra: ",
                              cluster ? "cluster of 8 blocks]" : "one block]",
                              persistent_ ? " persistent kernel" : " graph replay");
  static_assert(ULTRA_CLUSTER == 8);
  absl::StatusOr<runtime::Context> ctx = runtime::Context::Retain(*dev);
  if (!ctx.ok()) return ctx.status();
  ctx_.emplace(*std::move(ctx));
  if (absl::Status st = ctx_->MakeCurrent(); !st.ok()) return st;
  const runtime::DriverApi& api = ctx_->api();
  absl::StatusOr<runtime::Stream> stream = runtime::Stream::Create(*ctx_, runtime::StreamPriority::kRealtime);
  if (!stream.ok()) return stream.status();
  stream_.emplace(*std::move(stream));
  const runtime::Stream& s = *stream_;
  absl::StatusOr<runtime::Event> ev = runtime::Event::Create(*ctx_, runtime::EventTiming::kDisabled);
  if (!ev.ok()) return ev.status();
  done_.emplace(*std::move(ev));

  // The kernel program, and the tansig table its activations use.
  const runtime::KernelSource* src = runtime::FindKernelProgram("ultra_persistent.cu");
  if (src == nullptr) return absl::InternalError("kernel program ultra_persistent.cu is not embedded");
  const runtime::CubinCache cache(o.kernel_cache_dir.empty() ? runtime::CubinCache::DefaultDir() : o.kernel_cache_dir);
  absl::StatusOr<runtime::BuiltKernel> built = runtime::BuildKernelProgram(*src, dev->Arch(), cache);
  if (!built.ok()) return built.status();
  absl::StatusOr<runtime::Module> mod = runtime::Module::Load(*ctx_, built->image, "ultra_persistent.cu");
  if (!mod.ok()) return mod.status();
  module_.emplace(*std::move(mod));
  size_t table_bytes = 0;
  if (absl::StatusOr<CUdeviceptr> tab = module_->GetGlobal("ghostnv_tansig_table", &table_bytes); tab.ok()) {
    if (table_bytes != kernels::kTansigTableSize * sizeof(float))
      return absl::InternalError("ultra_persistent.cu: unexpected tansig table size");
    if (CUresult r = api.MemcpyHtoDAsync(*tab, kernels::TansigTable(), table_bytes, s.get()); r != cu::kSuccess)
      return runtime::CuError(api, r, "cuMemcpyHtoDAsync", "filling the tansig table");
  }
  absl::StatusOr<runtime::Kernel> kernel = module_->GetKernel(
      cluster ? (persistent_ ? "ultra_persistent_cluster_f32" : "ultra_hop_cluster_f32")
              : (persistent_ ? "ultra_persistent_f32" : "ultra_hop_f32"));
  if (!kernel.ok()) return kernel.status();

  // Weights: one block, every tensor 256-byte aligned.
  UltraNet net{};
  UltraLayer* dst[5] = {&net.dense_in, &net.gru1, &net.gru2, &net.gain, &net.vad};
  std::vector<float> packed;
  struct Fix {
    unsigned long long* field;
    size_t offset;
  };
  std::vector<Fix> fixes;
  auto put = [&](const float* p, size_t floats, unsigned long long* field) {
    if (p == nullptr) {
      *field = 0;
      return;
    }
    packed.resize((packed.size() + 63) / 64 * 64);
    fixes.push_back({field, packed.size()});
    packed.insert(packed.end(), p, p + floats);
  };
  size_t weight_floats = 0;
  for (int j = 0; j < 5; ++j) {
    const models::Layer& l = *m.FindLayer(kLayerNames[j]);
    UltraLayer& d = *dst[j];
    d.inputs = l.inputs;
    d.units = l.units;
    if (l.kind == models::LayerKind::kGru) {
      const kernels::GruParams g = models::GruParamsOf(l, m.math);
      const size_t n3 = 3 * static_cast<size_t>(g.units);
      put(g.weights, g.inputs * n3, &d.w);
      put(g.recurrent, g.units * n3, &d.r);
      put(g.bias, n3, &d.b);
      put(g.recurrent_bias, n3, &d.rb);
      d.act = static_cast<int>(g.activation);
      d.reset_after = g.reset_after ? 1 : 0;
      weight_floats += (g.inputs + g.units + 2) * n3 + 128;
    } else {
      const kernels::DenseParams p = models::DenseParamsOf(l, m.math);
      put(p.weights, static_cast<size_t>(p.inputs) * p.units, &d.w);
      put(p.bias, p.units, &d.b);
      d.act = static_cast<int>(p.activation);
      weight_floats += static_cast<size_t>(p.inputs + 1) * p.units + 64;
    }
  }
  // Cluster kernel: each GRU's units split over ranks 1..ULTRA_CLUSTER-1, the z, r and h columns
  // of a rank's units repacked unit-major ([units][3][rows], one warp per unit reads contiguous
  // rows; rank 0: none); then input_dense and gain_output transposed ([units][inputs], one warp
  // per output).
  std::vector<UltraSlice> slices(2 * ULTRA_CLUSTER + 1);
  std::vector<std::vector<float>> slice_data;  // kept alive until `packed` holds a copy
  size_t rank_floats[ULTRA_CLUSTER] = {};      // dynamic shared memory each rank could use
  if (cluster) {
    slice_data.reserve(2 * ULTRA_CLUSTER * 4 + 2);
    const int gru_ranks = ULTRA_CLUSTER - 1;
    for (int j = 0; j < 2; ++j) {
      const models::Layer& l = *m.FindLayer(kLayerNames[1 + j]);
      const kernels::GruParams g = models::GruParamsOf(l, m.math);
      const int uu = g.units, n3 = 3 * uu, q = (uu + gru_ranks - 1) / gru_ranks;
      for (int k = 0; k < ULTRA_CLUSTER; ++k) {
        UltraSlice& sl = slices[static_cast<size_t>(j) * ULTRA_CLUSTER + k];
        sl = UltraSlice{};
        if (k == 0) continue;
        const int u0 = std::min(uu, (k - 1) * q), n = std::max(0, std::min(q, uu - u0));
        sl.u0 = u0;
        sl.units = n;
        if (n == 0) continue;
        auto columns = [&](const float* from, int rows) {
          std::vector<float> out(static_cast<size_t>(rows) * 3 * n);
          for (int i = 0; i < n; ++i)
            for (int gate = 0; gate < 3; ++gate)
              for (int row = 0; row < rows; ++row)
                out[(static_cast<size_t>(i) * 3 + gate) * rows + row] =
                    from[static_cast<size_t>(row) * n3 + gate * uu + u0 + i];
          return out;
        };
        const std::pair<const float*, int> parts[4] = {
            {g.weights, g.inputs}, {g.recurrent, uu}, {g.bias, 1}, {g.recurrent_bias, 1}};
        unsigned long long* fields[4] = {&sl.w, &sl.r, &sl.b, &sl.rb};
        for (int p = 0; p < 4; ++p) {
          if (parts[p].first == nullptr) {
            *fields[p] = 0;
            continue;
          }
          slice_data.push_back(columns(parts[p].first, parts[p].second));
          put(slice_data.back().data(), slice_data.back().size(), fields[p]);
          rank_floats[k] += (slice_data.back().size() + 3) / 4 * 4;
        }
      }
    }
    for (int j = 0; j < 2; ++j) {
      const models::Layer& l = *m.FindLayer(kLayerNames[j == 0 ? 0 : 3]);
      const kernels::DenseParams p = models::DenseParamsOf(l, m.math);
      std::vector<float> t(static_cast<size_t>(p.inputs) * p.units);
      for (int out = 0; out < p.units; ++out)
        for (int i = 0; i < p.inputs; ++i)
          t[static_cast<size_t>(out) * p.inputs + i] = p.weights[static_cast<size_t>(i) * p.units + out];
      slice_data.push_back(std::move(t));
      UltraSlice& aux = slices[2 * ULTRA_CLUSTER];
      put(slice_data.back().data(), slice_data.back().size(), j == 0 ? &aux.w : &aux.r);
    }
    const auto dense = [&](const UltraLayer& d) {
      return static_cast<size_t>((d.inputs * d.units + 3) / 4 * 4 + (d.units + 3) / 4 * 4);
    };
    for (int k = 1; k < ULTRA_CLUSTER; ++k) rank_floats[k] += dense(net.dense_in);
    rank_floats[0] = dense(net.gain) + dense(net.vad);
  }
  packed.resize(std::max<size_t>(64, (packed.size() + 63) / 64 * 64));
  using runtime::Wipe;
  absl::StatusOr<DeviceBlock> wb = DeviceBlock::Allocate(*ctx_, packed.size() * sizeof(float));
  if (!wb.ok()) return wb.status();
  weights_ = *std::move(wb);
  for (const Fix& f : fixes) *f.field = weights_.ptr() + f.offset * sizeof(float);

  const std::vector<float> tables = UltraKernelTables();
  absl::StatusOr<DeviceBlock> tb = DeviceBlock::Allocate(*ctx_, tables.size() * sizeof(float));
  if (!tb.ok()) return tb.status();
  tables_ = *std::move(tb);
  net.tables = tables_.ptr();
  net.state_stride = (ULTRA_ST_GRU + net.gru1.units + net.gru2.units + 31) / 32 * 32;
  net.max_slots = max_;
  net.math = static_cast<int>(m.math);
  net.flags = u.fast_fft ? ULTRA_NET_FAST_FFT : 0;
  absl::StatusOr<DeviceBlock> st = DeviceBlock::Allocate(
      *ctx_, static_cast<size_t>(max_) * net.state_stride * sizeof(float), Wipe::kOnFree);
  if (!st.ok()) return st.status();
  state_ = *std::move(st);
  net.state = state_.ptr();

  // Shared memory for the weights (persistent mode): what the device allows beyond the kernel's
  // static use, capped at what the weights need.
  if (cluster) {
    weight_floats = *std::max_element(rank_floats, rank_floats + ULTRA_CLUSTER) + 64;
    absl::StatusOr<DeviceBlock> sb = DeviceBlock::Allocate(*ctx_, slices.size() * sizeof(UltraSlice));
    if (!sb.ok()) return sb.status();
    slices_ = *std::move(sb);
  }
  int dyn_bytes = 0;
  // The cluster kernel's exchange area (UltraCl) starts its dynamic shared memory; its graph
  // variant copies its weights into shared memory at every launch.
  const int exchange_bytes = cluster ? static_cast<int>(sizeof(UltraCl)) : 0;
  static_assert(sizeof(UltraCl) % 16 == 0);
  if ((persistent_ && u.weights_in_shared) || cluster) {
    const int static_bytes = kernel->Attribute(cu::kFuncAttrSharedSizeBytes);
    const int room = dev->max_shared_per_block_optin - std::max(0, static_bytes) - 1024 - exchange_bytes;
    const bool weights = u.weights_in_shared || !persistent_;
    dyn_bytes = exchange_bytes +
                (weights ? std::max(0, std::min(room, static_cast<int>(weight_floats * sizeof(float)))) : 0);
    if (dyn_bytes > 48 * 1024 - std::max(0, static_bytes)) {
      if (absl::Status a = kernel->SetMaxDynamicSharedBytes(dyn_bytes); !a.ok()) {
        if (cluster) return a;
        dyn_bytes = 0;
      }
    }
  }
  net.smem_floats = (dyn_bytes - exchange_bytes) / static_cast<int>(sizeof(float));
  absl::StatusOr<DeviceBlock> nd = DeviceBlock::Allocate(*ctx_, sizeof(UltraNet));
  if (!nd.ok()) return nd.status();
  net_d_ = *std::move(nd);

  struct {
    const DeviceBlock* block;
    const void* data;
    size_t bytes;
  } uploads[] = {{&weights_, packed.data(), packed.size() * sizeof(float)},
                 {&tables_, tables.data(), tables.size() * sizeof(float)},
                 {&net_d_, &net, sizeof(net)},
                 {&slices_, slices.data(), cluster ? slices.size() * sizeof(UltraSlice) : 0}};
  for (auto& up : uploads) {
    if (up.bytes == 0) continue;
    if (CUresult r = up.block->CopyFromHostAsync(up.data, up.bytes, s); r != cu::kSuccess)
      return runtime::CuError(api, r, "cuMemcpyHtoDAsync", "uploading the ultra model");
  }
  if (CUresult r = state_.FillBytesAsync(0, s); r != cu::kSuccess)
    return runtime::CuError(api, r, "cuMemsetD8Async", "zeroing the slot state");
  if (absl::Status sync = s.Synchronize(); !sync.ok()) return sync;

  ll_ = persistent_ && cluster && u.ll_mailbox;
  const size_t mb_bytes = (ll_ ? ULTRA_MB_LL_WORDS : ULTRA_MB_WORDS) * sizeof(int);
  if (persistent_) {
    absl::StatusOr<PinnedBlock> mb = PinnedBlock::Allocate(*ctx_, mb_bytes, runtime::HostMapping::kMapped,
                                                           runtime::HostCaching::kDefault, Wipe::kOnFree);
    if (!mb.ok()) return mb.status();
    mailbox_ = *std::move(mb);
    std::memset(mailbox_.data(), 0, mb_bytes);
    req_ = mailbox_.as<int>();
    ans_ = req_ + ULTRA_MB_DONE;
    launch_flags_ = (ll_ ? ULTRA_FLAG_LL : 0) | (u.early_states ? ULTRA_FLAG_EARLY : 0) |
                    (u.gru2_early_parts ? ULTRA_FLAG_PRE2 : 0) | (u.half_warp_dense ? ULTRA_FLAG_HALF_DENSE : 0) |
                    (u.band_send ? ULTRA_FLAG_BAND_SEND : 0);
    cluster_ = cluster;
    dyn_bytes_ = static_cast<unsigned>(dyn_bytes);
    kernel_.emplace(*kernel);
    // Launched through the park gate (runtime/park_gate.h): it waits until no driver call that
    // waits for the device is in flight, and from now on parks this kernel around such calls
    // made anywhere in this library (cuMemFree & co. of other plans), so they cannot hang.
    gated_ = true;
    own_.store(kOwnGate, std::memory_order_relaxed);
    if (!runtime::ParkGate::Get().Join(this)) {
      gated_ = false;
      return runtime::CuError(api, gate_error_.load(), "cuLaunchKernel", "starting the persistent ultra kernel");
    }
    counted_ = true;
    g_live_persistent.fetch_add(1, std::memory_order_relaxed);
  } else {
    const size_t up_bytes = ULTRA_MB_REQ_WORDS * sizeof(int);
    const size_t down_bytes = (ULTRA_MB_WORDS - ULTRA_MB_DONE) * sizeof(int);
    for (auto [block, bytes] : {std::pair{&up_h_, up_bytes}, std::pair{&down_h_, down_bytes}}) {
      absl::StatusOr<PinnedBlock> h = PinnedBlock::Allocate(*ctx_, bytes, runtime::HostMapping::kUnmapped,
                                                            runtime::HostCaching::kDefault, Wipe::kOnFree);
      if (!h.ok()) return h.status();
      *block = *std::move(h);
      std::memset(block->data(), 0, bytes);
    }
    for (auto [block, bytes] : {std::pair{&up_d_, up_bytes}, std::pair{&down_d_, down_bytes}}) {
      absl::StatusOr<DeviceBlock> d = DeviceBlock::Allocate(*ctx_, bytes, Wipe::kOnFree);
      if (!d.ok()) return d.status();
      *block = *std::move(d);
    }
    req_ = up_h_.as<int>();
    ans_ = down_h_.as<int>();
    const runtime::Kernel k = *kernel;
    absl::StatusOr<runtime::CapturedGraph> g = runtime::CaptureGraph(*ctx_, s, [&]() -> absl::Status {
      CUdeviceptr net_ptr = net_d_.ptr(), up = up_d_.ptr(), down = down_d_.ptr();
      CUdeviceptr sl_ptr = cluster ? slices_.ptr() : 0;
      void* args[] = {&net_ptr, &up, &down};
      void* cargs[] = {&net_ptr, &sl_ptr, &up, &down};
      CUresult r = up_d_.CopyFromHostAsync(up_h_.data(), up_bytes, s);
      if (r == cu::kSuccess)
        r = k.Launch({cluster ? ULTRA_CLUSTER : 1u}, {ULTRA_THREADS}, static_cast<unsigned>(dyn_bytes), s,
                     cluster ? cargs : args);
      if (r == cu::kSuccess) r = down_d_.CopyToHostAsync(down_h_.data(), down_bytes, s);
      if (r != cu::kSuccess) return runtime::CuError(api, r, "capture", "recording the ultra hop graph");
      return absl::OkStatus();
    });
    if (!g.ok()) return g.status();
    graph_.emplace(*std::move(g));
  }
  used_.assign(static_cast<size_t>(max_), 0);
  for (int slot = max_ - 1; slot >= 0; --slot) free_.push_back(slot);
  // A first round trip proves the kernel runs (errors here are setup errors, not fallbacks).
  ZeroSlot(0);
  if (failed_) {
    return absl::UnavailableError(absl::StrCat(
        "ultra GPU plan: the ", persistent_ ? "persistent kernel" : "hop graph", " did not answer (",
        runtime::CuResultName(&api, last_error_), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

int MaxPersistentUltraPlans(int multiprocessors) {
  if (const char* e = std::getenv("GHOSTNV_ULTRA_MAX_PERSISTENT"); e != nullptr && e[0] != '\0')
    return std::max(0, std::atoi(e));
  // Each resident cluster kernel holds 8 SMs for good; leave at least ~3/4 of the device to
  // everything else (H200, 132 SMs: 4 plans).
  return std::max(1, multiprocessors / 32);
}

absl::Status StopUltraKernelForTesting(CudaPlan& plan) {
  auto* p = dynamic_cast<UltraPlanImpl*>(&plan);
  if (p == nullptr) return absl::FailedPreconditionError("not an ultra plan");
  return p->StopForTesting();
}

absl::Status CheckUltraModelForGpu(const models::Model& model) {
  std::shared_ptr<const models::Model> alias(std::shared_ptr<const models::Model>(), &model);
  absl::StatusOr<std::unique_ptr<models::Family>> fam = ultra::CreateUltraFamily(alias);
  if (!fam.ok()) return fam.status();
  for (const char* name : kLayerNames) {
    const models::Layer* l = model.FindLayer(name);
    if (l->units > ULTRA_MAX_UNITS || l->inputs > ULTRA_MAX_INPUTS)
      return absl::InvalidArgumentError(absl::StrCat(
          model.name, ": layer '", name, "' is too large for the fused ultra GPU kernel (units <= ",
          ULTRA_MAX_UNITS, ", inputs <= ", ULTRA_MAX_INPUTS, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CudaPlan>> CreateUltraPlan(std::shared_ptr<const models::Model> model,
                                                          const CudaPlanOptions& options,
                                                          const UltraPlanOptions& ultra_options) {
  if (model == nullptr) return absl::InvalidArgumentError("ultra GPU plan: no model");
  bool cluster = false;
  int sms = 0;
  {
    absl::StatusOr<runtime::DeviceInfo> dev = runtime::FindDevice(options.device);
    if (dev.ok()) sms = dev->multiprocessors;
    cluster = ultra_options.cluster && dev.ok() && dev->Arch() >= 90;
  }
  if (ultra_options.mode == UltraPlanMode::kAuto) {
    // Persistent first (while the process has room for another resident kernel), then graph
    // replay; on sm_90+ the cluster kernel of each before the single block (the cluster graph,
    // 26.6 µs, beats the one-block persistent kernel, 31 µs, on the H200).
    UltraPlanOptions u = ultra_options;
    const int cap = MaxPersistentUltraPlans(sms);
    const bool room = g_live_persistent.load(std::memory_order_relaxed) < cap;
    absl::Status last = absl::UnavailableError("ultra GPU plan: no mode could start");
    for (int attempt = 0; attempt < 4; ++attempt) {
      const bool with_cluster = attempt < 2;
      const bool persistent = attempt % 2 == 0;
      if (with_cluster && !cluster) continue;
      if (persistent && !room) continue;
      u.mode = persistent ? UltraPlanMode::kPersistent : UltraPlanMode::kGraph;
      auto plan = std::make_unique<UltraPlanImpl>();
      absl::Status st = plan->Init(model, options, u, with_cluster);
      if (st.ok()) return std::unique_ptr<CudaPlan>(std::move(plan));
      if (absl::IsInvalidArgument(st)) return st;
      last = st;
    }
    return last;
  }
  if (cluster) {
    // Any failure of the cluster kernel (not started, no answer) falls back to the single block.
    auto plan = std::make_unique<UltraPlanImpl>();
    absl::Status st = plan->Init(model, options, ultra_options, true);
    if (st.ok()) return std::unique_ptr<CudaPlan>(std::move(plan));
    if (absl::IsInvalidArgument(st)) return st;
  }
  auto plan = std::make_unique<UltraPlanImpl>();
  if (absl::Status st = plan->Init(std::move(model), options, ultra_options, false); !st.ok()) return st;
  return std::unique_ptr<CudaPlan>(std::move(plan));
}

}  // namespace ghostnv::sched
