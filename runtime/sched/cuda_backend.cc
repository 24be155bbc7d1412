// runtime/sched/cuda_backend.cc — RealtimeCudaFamily, MakeBackendFamily, telemetry.
#include "runtime/sched/cuda_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/device.h"
#include "runtime/driver.h"
#if GHOSTNV_HAVE_NVML
#include "runtime/telemetry.h"  // GpuSampleJson (ghostnv_telemetry)
#endif
#include "runtime/sched/cpu_fallback.h"
#if GHOSTNV_HAVE_ULTRA_PLAN
#include "runtime/sched/persistent/ultra_plan.h"
#endif
#if GHOSTNV_HAVE_DTLN_PLAN
#include "models/dtln/cuda/dtln_backend_plan.h"
#endif
#if GHOSTNV_HAVE_DFN3_PLAN
#include "models/dfn3/cuda/dfn3_backend_plan.h"
#endif
#if GHOSTNV_HAVE_DEMUCS_PLAN
#include "models/demucs/cuda/demucs_backend_plan.h"
#endif

namespace ghostnv::sched {
namespace {

// Our own code for "the watchdog fired": outside the driver's range.
constexpr cu::CUresult kWatchdogExpired = -1;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

std::string DescribeFailure(cu::CUresult r) {
  if (r == kWatchdogExpired) return "the device did not finish a hop within the watchdog time";
  return absl::StrCat(runtime::CuResultName(nullptr, r),
                      runtime::IsStickyError(r) ? " (sticky: the context is lost)" : "");
}

}  // namespace

LatencySummary Summarize(const LatencyHistogram& h) {
  LatencySummary s;
  s.count = h.count();
  if (s.count == 0) return s;
  s.p50_us = h.Percentile(0.5) * 1e-3;
  s.p99_us = h.Percentile(0.99) * 1e-3;
  s.max_us = static_cast<double>(h.max_ns()) * 1e-3;
  s.mean_us = h.mean_ns() * 1e-3;
  return s;
}

std::array<LatencySummary, runtime::kStageCount> PlanStageSummaries(const CudaPlan& plan) {
  std::array<LatencySummary, runtime::kStageCount> out{};
  if (const runtime::StageHistograms* st = plan.stage_times()) {
    for (int i = 0; i < runtime::kStageCount; ++i)
      out[static_cast<size_t>(i)] = Summarize((*st)[static_cast<runtime::Stage>(i)]);
  }
  return out;
}

LatencySummary Summarize(const runtime::LatencyHistogram& h) {
  LatencySummary s;
  s.count = h.count();
  if (s.count == 0) return s;
  s.p50_us = static_cast<double>(h.Percentile(0.5)) * 1e-3;
  s.p99_us = static_cast<double>(h.Percentile(0.99)) * 1e-3;
  s.max_us = static_cast<double>(h.max_ns()) * 1e-3;
  s.mean_us = h.mean_ns() * 1e-3;
  return s;
}

std::string StagesJson(const BackendTelemetry& t) {
  std::string j = "{";
  for (int i = 0; i < runtime::kStageCount; ++i) {
    const LatencySummary& l = t.stages[static_cast<size_t>(i)];
    absl::StrAppend(&j, i ? ", " : "", "\"", runtime::StageName(static_cast<runtime::Stage>(i)),
                    "\": {\"count\": ", l.count);
    if (l.count > 0) {
      absl::StrAppend(&j, ", \"p50_us\": ", absl::SixDigits(l.p50_us), ", \"p99_us\": ",
                      absl::SixDigits(l.p99_us), ", \"max_us\": ", absl::SixDigits(l.max_us),
                      ", \"mean_us\": ", absl::SixDigits(l.mean_us));
    }
    absl::StrAppend(&j, "}");
  }
  absl::StrAppend(&j, "}");
  return j;
}

struct RealtimeCudaFamily::Shared {
  std::unique_ptr<CudaPlan> plan;
  std::string device;
  std::atomic<bool> failed{false};
  std::atomic<int> failure_code{0};
  std::atomic<uint64_t> failure_hop{0};
  std::atomic<uint64_t> gpu_hops{0}, cpu_hops{0}, fallback_events{0}, warmup_hops{0};
  LatencyHistogram submit_to_done;
  runtime::LatencyHistogram end_to_end;  // the same hops, telemetry's histogram

  // First failure wins; later ones (other channels noticing) are not new events.
  void Fail(cu::CUresult r) noexcept {
    bool expected = false;
    if (failed.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
      failure_code.store(r, std::memory_order_relaxed);
      failure_hop.store(gpu_hops.load(std::memory_order_relaxed), std::memory_order_relaxed);
      fallback_events.fetch_add(1, std::memory_order_relaxed);
    }
  }
};

namespace {

struct RealtimeState : models::ChannelState {
  RealtimeState(std::shared_ptr<RealtimeCudaFamily::Shared> s,
                std::shared_ptr<const models::Family> cpu, int slot_, int warmup)
      : shared(std::move(s)), slot(slot_), fallback(std::move(cpu), warmup, /*max_pending=*/1) {}
  ~RealtimeState() override {
    // A dead plan is left alone (its destructor copes); a live one gets the slot back, wiped.
    if (slot >= 0 && !shared->failed.load(std::memory_order_acquire))
      shared->plan->ReleaseSlot(slot);
  }
  void Reset() override {
    fallback.Reset();
    if (slot >= 0 && !shared->failed.load(std::memory_order_acquire)) {
      shared->plan->ReleaseSlot(slot);  // zeroes the slot's device state
      absl::StatusOr<int> s = shared->plan->AcquireSlot();
      slot = s.ok() ? *s : -1;
      if (slot < 0) shared->Fail(cu::kErrorOutOfMemory);
    }
  }
  std::shared_ptr<RealtimeCudaFamily::Shared> shared;
  int slot;
  CpuFallback fallback;
};

}  // namespace

absl::StatusOr<std::shared_ptr<RealtimeCudaFamily>> RealtimeCudaFamily::Create(
    std::unique_ptr<CudaPlan> plan, std::shared_ptr<const models::Family> cpu,
    const RealtimeCudaOptions& options) {
  if (!plan || !cpu) return absl::InvalidArgumentError("RealtimeCudaFamily: no plan or family");
  if (plan->hop_size() != cpu->hop_size()) {
    return absl::InvalidArgumentError(absl::StrCat("RealtimeCudaFamily: the plan's hop (",
                                                   plan->hop_size(), ") is not the model's (",
                                                   cpu->hop_size(), ")"));
  }
  if (plan->max_sessions() < 1) return absl::InvalidArgumentError("RealtimeCudaFamily: no slots");
  auto shared = std::make_shared<Shared>();
  shared->device = plan->device_description();
  shared->plan = std::move(plan);
  return std::shared_ptr<RealtimeCudaFamily>(
      new RealtimeCudaFamily(std::move(shared), std::move(cpu), options));
}

RealtimeCudaFamily::RealtimeCudaFamily(std::shared_ptr<Shared> shared,
                                       std::shared_ptr<const models::Family> cpu,
                                       const RealtimeCudaOptions& options)
    : shared_(std::move(shared)), cpu_(std::move(cpu)), options_(options) {}

RealtimeCudaFamily::~RealtimeCudaFamily() = default;

bool RealtimeCudaFamily::failed() const { return shared_->failed.load(std::memory_order_acquire); }

std::unique_ptr<models::ChannelState> RealtimeCudaFamily::NewChannel() const {
  int slot = -1;
  if (!shared_->failed.load(std::memory_order_acquire)) {
    absl::StatusOr<int> s = shared_->plan->AcquireSlot();
    if (!s.ok()) return nullptr;
    slot = *s;
  }
  auto st = std::make_unique<RealtimeState>(shared_, cpu_, slot, options_.warmup_hops);
  return st;
}

models::HopInfo RealtimeCudaFamily::ProcessHop(models::ChannelState& state, const float* in,
                                               float* out, float strength) const {
  auto& s = static_cast<RealtimeState&>(state);
  Shared& sh = *shared_;
  const size_t hop = static_cast<size_t>(cpu_->hop_size());
  if (!s.fallback.active()) {
    if (!sh.failed.load(std::memory_order_acquire) && s.slot >= 0) {
      s.fallback.Remember(in, strength);
      CudaPlan& plan = *sh.plan;
      std::memcpy(plan.input_rows(), in, hop * sizeof(float));
      const uint64_t t0 = NowNs();
      cu::CUresult r = plan.Submit(&s.slot, &strength, 1);
      if (r == cu::kSuccess) {
        int spins = 0;
        const uint64_t limit = static_cast<uint64_t>(options_.watchdog.count());
        while ((r = plan.Query()) == cu::kErrorNotReady) {
          if (++spins < 256) {
            CpuRelax();
          } else if (NowNs() - t0 > limit) {
            r = kWatchdogExpired;
            break;
          } else {
            std::this_thread::yield();
          }
        }
      }
      if (r == cu::kSuccess) {
        const uint64_t e2e = NowNs() - t0;
        sh.submit_to_done.Add(e2e);
        sh.end_to_end.Record(e2e);
        std::memcpy(out, plan.output_rows(), hop * sizeof(float));
        const CudaHopInfo info = plan.info()[0];
        sh.gpu_hops.fetch_add(1, std::memory_order_relaxed);
        return {info.vad, info.silent != 0};
      }
      sh.Fail(r);
      // This hop is the one still owed: warm up on the ones before it, then produce it.
      sh.warmup_hops.fetch_add(static_cast<uint64_t>(s.fallback.Switch(1)),
                               std::memory_order_relaxed);
      sh.cpu_hops.fetch_add(1, std::memory_order_relaxed);
      return s.fallback.ProcessPending(0, out);
    }
    // Another channel saw the failure (or this one never had a slot): nothing is owed.
    sh.warmup_hops.fetch_add(static_cast<uint64_t>(s.fallback.Switch(0)),
                             std::memory_order_relaxed);
  }
  sh.cpu_hops.fetch_add(1, std::memory_order_relaxed);
  return s.fallback.Process(in, out, strength);
}

BackendTelemetry RealtimeCudaFamily::telemetry() const {
  const Shared& sh = *shared_;
  BackendTelemetry t;
  t.backend = "cuda";
  t.mode = "realtime";
  t.device = sh.device;
  const bool failed = sh.failed.load(std::memory_order_acquire);
  t.active = failed ? "cpu" : "cuda";
  t.gpu_hops = sh.gpu_hops.load(std::memory_order_relaxed);
  t.cpu_hops = sh.cpu_hops.load(std::memory_order_relaxed);
  t.fallback_events = sh.fallback_events.load(std::memory_order_relaxed);
  t.warmup_hops = sh.warmup_hops.load(std::memory_order_relaxed);
  if (failed) {
    t.fallback_note = absl::StrCat(
        "the GPU failed after ", sh.failure_hop.load(std::memory_order_relaxed),
        " channel hops: ", DescribeFailure(sh.failure_code.load(std::memory_order_relaxed)),
        "; continued on the CPU with no gap (each channel warmed up on its last ",
        options_.warmup_hops, " input hops)");
  }
  t.submit_to_done = Summarize(sh.submit_to_done);
  t.stages = PlanStageSummaries(*sh.plan);
  t.stages[static_cast<size_t>(runtime::Stage::kEndToEnd)] = Summarize(sh.end_to_end);
  return t;
}

CudaPlanFactory DefaultCudaPlanFactory() {
  return [](std::shared_ptr<const models::Model> model,
            const CudaPlanOptions& o) -> absl::StatusOr<std::unique_ptr<CudaPlan>> {
#if GHOSTNV_HAVE_ULTRA_PLAN
    // Family "ultra" (2 ms hops): the fused real-time kernel (runtime/sched/persistent/). By
    // default (UltraPlanMode::kAuto) the persistent kernel: 11.4 µs per hop PCM -> PCM on an
    // H200 against 26.6 µs for graph replay. Since session 8 the driver calls that wait for the
    // device (cuMemFree, cuMemFreeHost, cuModuleUnload, ... of other plans and sessions) pass
    // through runtime/park_gate.h, which parks the resident kernel around them, so other
    // sessions can come and go beside it. Graph replay when the persistent kernel cannot start
    // or the process already has MaxPersistentUltraPlans() of them; GHOSTNV_ULTRA_GPU_MODE=graph
    // forces graph replay (e.g. a process where other CUDA code frees device memory: its frees
    // do not pass through the gate and would block), =persistent forces the persistent kernel.
    if (model != nullptr && model->family == "ultra") {
      UltraPlanOptions u;
      u.mode = UltraPlanMode::kAuto;
      const char* mode = std::getenv("GHOSTNV_ULTRA_GPU_MODE");
      if (mode != nullptr && std::strcmp(mode, "persistent") == 0) u.mode = UltraPlanMode::kPersistent;
      if (mode != nullptr && std::strcmp(mode, "graph") == 0) u.mode = UltraPlanMode::kGraph;
      return CreateUltraPlan(std::move(model), o, u);
    }
#endif
    if (model != nullptr && model->family == "dtln") {
#if GHOSTNV_HAVE_DTLN_PLAN
      // Family "dtln" (16 kHz, 128-sample hops): the batched DTLN plan (models/dtln/cuda/),
      // one replayed graph per hop at batch 1.
      return models::dtln::CreateDtlnBackendPlan(std::move(model), o);
#else
      return absl::UnavailableError("this build has no DTLN GPU plan (models/dtln/cuda/)");
#endif
    }
    if (model != nullptr && model->family == "dfn3") {
#if GHOSTNV_HAVE_DFN3_PLAN
      // Family "dfn3" (48 kHz, 480-sample hops): the DeepFilterNet3 plan (models/dfn3/cuda/),
      // one replayed graph per hop over max_sessions rows.
      return models::dfn3::CreateDfn3BackendPlan(std::move(model), o);
#else
      return absl::UnavailableError("this build has no DeepFilterNet3 GPU plan (models/dfn3/cuda/)");
#endif
    }
    if (model != nullptr && model->family == "demucs") {
#if GHOSTNV_HAVE_DEMUCS_PLAN
      // Family "demucs" (causal Demucs, hop = stride^depth / resample): the batched plan
      // (models/demucs/cuda/), one replayed graph per hop.
      return models::demucs::CreateDemucsBackendPlan(std::move(model), o);
#else
      return absl::UnavailableError("this build has no Demucs GPU plan (models/demucs/cuda/)");
#endif
    }
#if GHOSTNV_HAVE_CUDA_PLAN
    return CudaPlan::Create(std::move(model), o);
#else
    (void)model;
    (void)o;
    return absl::UnavailableError("this build has no CUDA plan (runtime/sched/cuda_plan.cc)");
#endif
  };
}

absl::StatusOr<std::shared_ptr<const models::Family>> MakeBackendFamily(
    std::shared_ptr<const models::Model> model, std::shared_ptr<const models::Family> cpu,
    BackendChoice* choice, bool automatic, int slots, const CudaPlanFactory& factory,
    const RealtimeCudaOptions& options) {
  if (!cpu || !choice) return absl::InvalidArgumentError("MakeBackendFamily: no family");
  if (choice->kind != BackendKind::kCuda) return cpu;
  CudaPlanOptions po;
  po.device = choice->device;
  po.max_sessions = std::max(1, slots);
  po.realtime = true;
  absl::StatusOr<std::unique_ptr<CudaPlan>> plan = factory(std::move(model), po);
  absl::Status st = plan.status();
  if (plan.ok()) {
    absl::StatusOr<std::shared_ptr<RealtimeCudaFamily>> fam =
        RealtimeCudaFamily::Create(std::move(*plan), cpu, options);
    if (fam.ok()) {
      choice->device_name = (*fam)->telemetry().device;
      return std::shared_ptr<const models::Family>(std::move(*fam));
    }
    st = fam.status();
  }
  if (automatic) {
    choice->note = absl::StrCat("using the CPU: the GPU (", choice->device_name.empty()
                                                               ? choice->device
                                                               : choice->device_name,
                                ") cannot run the model: ", st.message());
    choice->kind = BackendKind::kCpu;
    choice->device.clear();
    choice->device_name.clear();
    return cpu;
  }
  return absl::Status(st.code() == absl::StatusCode::kInvalidArgument
                          ? absl::StatusCode::kUnavailable
                          : st.code(),
                      absl::StrCat("--backend ", choice->device, ": ", st.message()));
}

BackendTelemetry TelemetryOf(const models::Family& family) {
  if (const auto* b = dynamic_cast<const BackendFamily*>(&family)) return b->telemetry();
  return BackendTelemetry{};
}

bool GpuPresent() {
  static const bool present = [] {
    absl::StatusOr<BackendChoice> c = SelectBackend(BackendKind::kAuto, "rnnoise");
    return c.ok() && c->kind == BackendKind::kCuda;
  }();
  return present;
}

// ---- NVML readings (telemetry; gputel 2026-11-29) ----
namespace {
#if !GHOSTNV_HAVE_NVML
constexpr const char* kNoNvmlBuild = "this build has no NVML support (ghostnv_sched without ghostnv_nvml)";
#endif
}  // namespace

GpuReading SampleGpu(const runtime::NvmlApi& api, std::string device, std::string pci_bus_id) {
  GpuReading g;
  g.device = std::move(device);
  g.pci_bus_id = std::move(pci_bus_id);
#if GHOSTNV_HAVE_NVML
  absl::StatusOr<runtime::NvmlDevice> d = runtime::NvmlDevice::ForPciBusId(api, g.pci_bus_id);
  if (!d.ok()) {
    g.note = std::string(d.status().message());
    return g;
  }
  g.name = d->name();
  g.sample = d->Sample();
  g.available = true;
#else
  (void)api;
  g.note = kNoNvmlBuild;
#endif
  return g;
}

GpuReadings SampleGpus(const std::vector<std::string>& devices) {
  GpuReadings out;
#if GHOSTNV_HAVE_NVML
  absl::StatusOr<const runtime::NvmlApi*> api = runtime::Nvml();
  if (api.ok()) {
    out.nvml = true;
    out.driver_version = (*api)->driver_version;
  } else {
    out.note = std::string(api.status().message());
  }
  // Per selector: the bus id and the NVML handle, resolved once per process (a device that
  // cannot be read keeps its note); the readings themselves are taken on every call.
  struct Cached {
    GpuReading base;
    std::optional<runtime::NvmlDevice> dev;
  };
  static std::mutex mu;
  static auto* const cache = new std::map<std::string, Cached>();
  std::lock_guard<std::mutex> lock(mu);
  for (const std::string& sel : devices) {
    auto it = cache->find(sel);
    if (it == cache->end()) {
      Cached c;
      c.base.device = sel;
      absl::StatusOr<runtime::DeviceInfo> info = runtime::FindDevice(sel);
      if (info.ok()) c.base.pci_bus_id = info->pci_bus_id;
      if (!info.ok()) {
        c.base.note = std::string(info.status().message());
      } else if (!api.ok()) {
        c.base.note = out.note;
      } else {
        absl::StatusOr<runtime::NvmlDevice> d = runtime::NvmlDevice::ForPciBusId(**api, c.base.pci_bus_id);
        if (d.ok()) {
          c.base.name = d->name();
          c.dev.emplace(*std::move(d));
        } else {
          c.base.note = std::string(d.status().message());
        }
      }
      it = cache->emplace(sel, std::move(c)).first;
    }
    GpuReading g = it->second.base;
    if (it->second.dev) {
      g.sample = it->second.dev->Sample();
      g.available = true;
    }
    out.devices.push_back(std::move(g));
  }
#else
  out.note = kNoNvmlBuild;
  for (const std::string& sel : devices) {
    GpuReading g;
    g.device = sel;
    g.note = kNoNvmlBuild;
    out.devices.push_back(std::move(g));
  }
#endif
  return out;
}

std::string GpuReadingsJson(const GpuReadings& r) {
#if GHOSTNV_HAVE_NVML
  nlohmann::json j;
  j["available"] = r.nvml;
  if (!r.nvml) j["note"] = r.note;
  if (!r.driver_version.empty()) j["driver_version"] = r.driver_version;
  nlohmann::json devs = nlohmann::json::array();
  for (const GpuReading& g : r.devices) {
    nlohmann::json d = g.available ? runtime::GpuSampleJson(g.sample) : nlohmann::json::object();
    d["device"] = g.device;
    if (!g.pci_bus_id.empty()) d["pci_bus_id"] = g.pci_bus_id;
    if (!g.name.empty()) d["name"] = g.name;
    if (!g.available) d["note"] = g.note;
    devs.push_back(std::move(d));
  }
  j["devices"] = std::move(devs);
  return j.dump();
#else
  (void)r;
  return absl::StrCat("{\"available\": false, \"note\": \"", kNoNvmlBuild, "\", \"devices\": []}");
#endif
}

}  // namespace ghostnv::sched
