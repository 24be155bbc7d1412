// runtime/sched/plan_setup.h — the pieces every model family's own GPU plan
// (models/<family>/cuda/*_plan.cc and their backend adapters) used to write out again: the slot
// table behind AcquireSlot / ReleaseSlot / Submit, and the device setup at Create (context,
// work stream, the hop's done event, the telemetry timer, the kernel programs).
//
//   // Create (setup path: these allocate and may fail):
//   slots_.Reset(max_sessions);
//   absl::StatusOr<runtime::DeviceInfo> dev = runtime::FindDevice(o.device);
//   if (!dev.ok()) return dev.status();
//   description_ = PlanDeviceDescription(*dev);
//   if (absl::Status st = OpenPlanDevice(*dev, o.realtime, {&ctx_, &stream_, &done_, &timer_});
//       !st.ok())
//     return st;
//   absl::StatusOr<runtime::Module> m = LoadPlanProgram(*ctx_, "dtln.cu", dev->Arch(), cache);
//
//   // AcquireSlot / ReleaseSlot / Submit (no allocation, no lock):
//   const int s = slots_.Acquire();                    // -1: all in use
//   if (!slots_.CheckBatch(slots, n)) return cu::kErrorInvalidValue;
//
// Thread-safety: a SlotTable is used from one thread at a time (the plan's caller, as
// CudaPlan's slot and Submit calls are). The setup functions run on the creating thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/activations.h"
#include "runtime/context.h"
#include "runtime/cubin_cache.h"
#include "runtime/device.h"
#include "runtime/driver.h"
#include "runtime/kernel_build.h"
#include "runtime/kernel_sources.h"
#include "runtime/module.h"
#include "runtime/stream.h"
#include "runtime/telemetry_hop_timer.h"

namespace ghostnv::sched {

// Which slots of a plan are in use, and the check that one Submit names each at most once.
class SlotTable {
 public:
  SlotTable() = default;
  explicit SlotTable(int slots) { Reset(slots); }

  // All `slots` slots free (setup path: allocates).
  void Reset(int slots) {
    const size_t n = slots > 0 ? static_cast<size_t>(slots) : 0;
    used_.assign(n, 0);
    seen_.assign(n, 0u);
    stamp_ = 0;
  }
  int size() const { return static_cast<int>(used_.size()); }
  bool InUse(int slot) const {
    return slot >= 0 && slot < size() && used_[static_cast<size_t>(slot)] != 0;
  }
  // The lowest free slot, now in use; -1 when every slot is in use.
  int Acquire() {
    for (int s = 0; s < size(); ++s) {
      if (!used_[static_cast<size_t>(s)]) {
        used_[static_cast<size_t>(s)] = 1;
        return s;
      }
    }
    return -1;
  }
  // Frees a slot in use; false (nothing changes) for a free or out-of-range one.
  bool Release(int slot) {
    if (!InUse(slot)) return false;
    used_[static_cast<size_t>(slot)] = 0;
    return true;
  }
  // True when each of slots[0 .. n) is in use and none appears twice (the rows of one Submit).
  bool CheckBatch(const int* slots, int n) {
    if (++stamp_ == 0) {  // wrapped: forget the old stamps
      std::fill(seen_.begin(), seen_.end(), 0u);
      stamp_ = 1;
    }
    for (int i = 0; i < n; ++i) {
      const int s = slots[i];
      if (!InUse(s) || seen_[static_cast<size_t>(s)] == stamp_) return false;
      seen_[static_cast<size_t>(s)] = stamp_;
    }
    return true;
  }

 private:
  std::vector<uint8_t> used_;
  std::vector<uint32_t> seen_;  // == stamp_: named earlier in the batch being checked
  uint32_t stamp_ = 0;
};

// "NVIDIA H200 (sm_90, 0000:19:00.0)": what a plan's device_description() returns.
inline std::string PlanDeviceDescription(const runtime::DeviceInfo& dev) {
  return absl::StrCat(dev.name, " (", dev.ArchName(), ", ", dev.pci_bus_id, ")");
}

// The most blocks a plan's grid-stride kernels launch: 16 per multiprocessor.
inline int PlanGridCap(const runtime::DeviceInfo& dev) {
  return std::max(1, dev.multiprocessors) * 16;
}

inline runtime::StreamPriority PlanStreamPriority(bool realtime) {
  return realtime ? runtime::StreamPriority::kRealtime : runtime::StreamPriority::kBatch;
}

// The kernel cache a plan's options name (empty: CubinCache::DefaultDir()).
inline runtime::CubinCache PlanKernelCache(const std::string& dir) {
  return runtime::CubinCache(dir.empty() ? runtime::CubinCache::DefaultDir() : dir);
}

// The plan's own members that OpenPlanDevice fills (they stay the plan's members, declared in
// this order, so that the context outlives the rest).
struct PlanDeviceParts {
  std::optional<runtime::Context>* ctx;
  std::optional<runtime::Stream>* stream;
  std::optional<runtime::Event>* done;
  runtime::HopStageTimer* timer;
};

// Retains dev's primary context (current on return), creates the work stream (realtime: the
// device's greatest priority), the hop's done event (with timing: the telemetry's "device" and
// "d2h" stages end there) and initialises the telemetry timer, in this order; stops at the
// first error.
inline absl::Status OpenPlanDevice(const runtime::DeviceInfo& dev, bool realtime,
                                   const PlanDeviceParts& out) {
  absl::StatusOr<runtime::Context> ctx = runtime::Context::Retain(dev);
  if (!ctx.ok()) return ctx.status();
  out.ctx->emplace(*std::move(ctx));
  const runtime::Context& c = **out.ctx;
  if (absl::Status st = c.MakeCurrent(); !st.ok()) return st;
  absl::StatusOr<runtime::Stream> stream = runtime::Stream::Create(c, PlanStreamPriority(realtime));
  if (!stream.ok()) return stream.status();
  out.stream->emplace(*std::move(stream));
  absl::StatusOr<runtime::Event> ev = runtime::Event::Create(c, runtime::EventTiming::kEnabled);
  if (!ev.ok()) return ev.status();
  out.done->emplace(*std::move(ev));
  return out.timer->Init(c);
}

// The embedded kernel program `program` built for arch (or taken from the cache) and loaded into
// ctx.
inline absl::StatusOr<runtime::Module> LoadPlanProgram(const runtime::Context& ctx,
                                                       const char* program, int arch,
                                                       const runtime::CubinCache& cache) {
  const runtime::KernelSource* src = runtime::FindKernelProgram(program);
  if (src == nullptr) {
    return absl::InternalError(absl::StrCat("kernel program ", program, " is not embedded"));
  }
  absl::StatusOr<runtime::BuiltKernel> built = runtime::BuildKernelProgram(*src, arch, cache);
  if (!built.ok()) return built.status();
  return runtime::Module::Load(ctx, built->image, program);
}

// Fills the module's `ghostnv_tansig_table` (the approximate tanh/sigmoid table of
// kernels/activations.h) when it has one of the right size, and waits for the copy; a module
// without it is left alone. `who` prefixes the error ("dtln cuda plan").
inline absl::Status UploadTansigTable(const runtime::Context& ctx, const runtime::Module& m,
                                      const runtime::Stream& stream, std::string_view who) {
  size_t bytes = 0;
  absl::StatusOr<runtime::cu::CUdeviceptr> tab = m.GetGlobal("ghostnv_tansig_table", &bytes);
  if (!tab.ok() || bytes != kernels::kTansigTableSize * sizeof(float)) return absl::OkStatus();
  if (runtime::cu::CUresult r =
          ctx.api().MemcpyHtoDAsync(*tab, kernels::TansigTable(), bytes, stream.get());
      r != runtime::cu::kSuccess) {
    return absl::InternalError(absl::StrCat(std::string(who),
                                            ": filling the tansig table: CUresult ", r));
  }
  return stream.Synchronize();
}

}  // namespace ghostnv::sched
