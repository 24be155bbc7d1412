// models/demucs/cuda/demucs_cuda_plan.cc — causal Demucs on the GPU: uploads, slots, graphs.

#include "models/demucs/cuda/demucs_cuda_plan.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/activations.h"
#include "models/demucs/cuda/demucs_cuda_schedule.h"
#include "models/demucs/demucs_family.h"
#include "runtime/context.h"
#include "runtime/cubin_cache.h"
#include "runtime/device.h"
#include "runtime/driver.h"
#include "runtime/graph.h"
#include "runtime/kernel_build.h"
#include "runtime/kernel_sources.h"
#include "runtime/memory.h"
#include "runtime/module.h"
#include "runtime/sched/plan_setup.h"
#include "runtime/stream.h"
#include "runtime/telemetry_hop_timer.h"

namespace ghostnv::models::demucs {
namespace {

using cu::CUdeviceptr;
using cu::CUresult;
using runtime::DeviceBlock;
using runtime::Kernel;
using runtime::Stream;

constexpr int kAutoSplitMax = 16;

class DemucsCudaPlanImpl final : public DemucsCudaPlan {
 public:
  ~DemucsCudaPlanImpl() override {
    if (ctx_) {
      (void)ctx_->MakeCurrent();
      if (stream_) (void)stream_->Synchronize();
    }
    graphs_.clear();  // before the modules and buffers they reference
  }

  int hop_size() const override { return s_.hop; }
  int max_sessions() const override { return max_; }
  std::string device_description() const override { return description_; }

  absl::StatusOr<int> AcquireSlot() override {
    const int s = slots_.Acquire();  // its buffers are zeroed at Create and by ReleaseSlot
    if (s >= 0) {
      hops_[s] = 0;
      return s;
    }
    return absl::ResourceExhaustedError(
        absl::StrCat("demucs cuda plan: all ", max_, " slots are in use"));
  }

  void ReleaseSlot(int slot) override {
    if (!slots_.InUse(slot)) return;
    (void)ZeroSlot(slot);
    slots_.Release(slot);
    hops_[slot] = 0;
  }

  float* input_rows() override { return pin_in_.as<float>(); }
  const float* output_rows() const override { return pin_out_.as<float>(); }

  CUresult Submit(const int* slots, const float* strengths, int n) override {
    if (n < 0 || n > max_ || (n > 0 && (slots == nullptr || strengths == nullptr)))
      return cu::kErrorInvalidValue;
    if (!slots_.CheckBatch(slots, n)) return cu::kErrorInvalidValue;
    int32_t* ctl = pin_ctl_.as<int32_t>();
    for (int i = 0; i < n; ++i) {
      const int s = slots[i];
      int32_t* row = ctl + kDmxCtlHead + kDmxCtlRow * i;
      const long long h = hops_[s];
      long long f = h - s_.first_valid_hop + 1;
      if (f > (1LL << 30)) f = (1LL << 30) + (f & 1);  // keeps the parity, stays "not first"
      row[0] = s;
      std::memcpy(&row[1], &strengths[i], sizeof(int32_t));
      row[2] = static_cast<int32_t>(f);
      row[3] = static_cast<int32_t>(h & 0x3fffffff);
    }
    ctl[0] = n;
    if (CUresult r = ctx_->api().CtxSetCurrent(ctx_->get()); r != cu::kSuccess) return r;
    timer_.Collect(*done_, stage_times_);  // telemetry: the previous hop (complete by now)
    if (n > 0) {
      const size_t g = BucketIndex(n);
      if (CUresult r = timer_.Begin(*stream_, /*marks=*/true); r != cu::kSuccess) return r;
      if (profile_) {
        if (CUresult r = Enqueue(buckets_[g], buckets_[g] <= split_max_); r != cu::kSuccess) return r;
      } else if (CUresult r = graphs_[g].exec.Launch(*stream_); r != cu::kSuccess) {
        return r;
      }
      for (int i = 0; i < n; ++i) ++hops_[slots[i]];
    }
    return done_->Record(*stream_);
  }
  CUresult Query() const override { return done_->Query(); }
  CUresult Wait() override { return ctx_->api().EventSynchronize(done_->get()); }
  const runtime::StageHistograms* stage_times() const override { return &stage_times_; }

  int BucketFor(int n) const override { return buckets_[BucketIndex(std::max(n, 1))]; }
  bool UsesSplitLstm(int bucket) const override { return bucket <= split_max_; }
  int NodesPerHop(int bucket) const override {
    // The ops list has one entry for both input copies.
    return static_cast<int>(s_.Hop(bucket, UsesSplitLstm(bucket)).size()) + 1;
  }

  std::vector<DemucsNodeTime> NodeTimesUs() const override {
    std::vector<DemucsNodeTime> out;
    for (size_t i = 1; i < prof_used_ && i < prof_.size(); ++i) {
      absl::StatusOr<float> ms = runtime::Event::ElapsedMs(prof_[i - 1], prof_[i]);
      out.push_back({prof_names_[i - 1], ms.ok() ? *ms * 1000.f : -1.f});
    }
    return out;
  }

  absl::Status Init(std::shared_ptr<const Model> model, const DemucsCudaPlanOptions& o);

 private:
  size_t BucketIndex(int n) const {
    size_t i = 0;
    while (i + 1 < buckets_.size() && buckets_[i] < n) ++i;
    return i;
  }

  CUdeviceptr Ptr(DmxBuf b, size_t floats) const {
    return bufs_[static_cast<int>(b)].ptr() + floats * sizeof(float);
  }

  absl::Status ZeroSlot(int slot) {
    if (absl::Status st = ctx_->MakeCurrent(); !st.ok()) return st;
    const runtime::DriverApi& api = ctx_->api();
    for (const auto& [b, per] : s_.slot_buffers) {
      if (per == 0) continue;
      if (CUresult r = api.MemsetD32Async(Ptr(b, static_cast<size_t>(slot) * per), 0u, per,
                                          stream_->get());
          r != cu::kSuccess)
        return absl::InternalError(absl::StrCat("demucs cuda plan: zeroing slot ", slot, ": CUresult ", r));
    }
    return stream_->Synchronize();
  }

  CUresult Enqueue(int rows, bool split);

  DmxSchedule s_;
  int max_ = 0, split_max_ = kAutoSplitMax;
  std::string description_;
  std::shared_ptr<const Model> model_;
  std::optional<runtime::Context> ctx_;
  std::optional<Stream> stream_;
  std::optional<runtime::Event> done_;
  std::vector<runtime::Module> modules_;
  std::map<std::string, Kernel> kernels_;
  std::vector<DeviceBlock> bufs_;
  runtime::PinnedBlock pin_in_, pin_out_, pin_ctl_;
  std::vector<int> buckets_;
  std::vector<runtime::CapturedGraph> graphs_;
  sched::SlotTable slots_;
  std::vector<long long> hops_;
  bool profile_ = false;
  std::vector<runtime::Event> prof_;       // profiling: one event before the hop, one per node
  std::vector<std::string> prof_names_;
  size_t prof_used_ = 0;
  runtime::HopStageTimer timer_;  // telemetry (stage_times())
  runtime::StageHistograms stage_times_;
};

CUresult DemucsCudaPlanImpl::Enqueue(int rows, bool split) {
  const Stream& s = *stream_;
  size_t mark = 0;
  if (profile_) {
    prof_names_.clear();
    if (CUresult r = prof_[mark++].Record(s); r != cu::kSuccess) return r;
  }
  auto after = [&](const std::string& name) -> CUresult {
    if (!profile_ || mark >= prof_.size()) return cu::kSuccess;
    prof_names_.push_back(name);
    prof_used_ = mark + 1;
    return prof_[mark++].Record(s);
  };
  for (const DmxOp& op : s_.Hop(rows, split)) {
    if (op.kind == DmxOp::kCopyIn) {
      if (CUresult r = bufs_[static_cast<int>(DmxBuf::kCtl)].CopyFromHostAsync(
              pin_ctl_.data(), (kDmxCtlHead + kDmxCtlRow * static_cast<size_t>(rows)) * 4, s);
          r != cu::kSuccess)
        return r;
      if (CUresult r = bufs_[static_cast<int>(DmxBuf::kPcmIn)].CopyFromHostAsync(
              pin_in_.data(), static_cast<size_t>(rows) * s_.hop * 4, s);
          r != cu::kSuccess)
        return r;
      if (CUresult r = after("h2d"); r != cu::kSuccess) return r;
      // Telemetry marks (graph capture when not profiling: event-record nodes).
      if (CUresult r = timer_.MarkUploaded(s, !profile_); r != cu::kSuccess) return r;
      continue;
    }
    if (op.kind == DmxOp::kCopyOut) {
      if (CUresult r = timer_.MarkComputed(s, !profile_); r != cu::kSuccess) return r;
      if (CUresult r = bufs_[static_cast<int>(DmxBuf::kPcmOut)].CopyToHostAsync(
              pin_out_.data(), static_cast<size_t>(rows) * s_.hop * 4, s);
          r != cu::kSuccess)
        return r;
      if (CUresult r = after("d2h"); r != cu::kSuccess) return r;
      continue;
    }
    auto it = kernels_.find(op.kernel);
    if (it == kernels_.end()) return cu::kErrorInvalidValue;
    std::vector<uint64_t> store(op.args.size(), 0);
    std::vector<void*> args(op.args.size());
    for (size_t i = 0; i < op.args.size(); ++i) {
      const DmxArg& a = op.args[i];
      switch (a.kind) {
        case DmxArg::kPtr: {
          const CUdeviceptr p = a.valid ? Ptr(a.buf, a.offset) : 0;
          std::memcpy(&store[i], &p, sizeof(p));
          break;
        }
        case DmxArg::kInt: std::memcpy(&store[i], &a.i, 4); break;
        case DmxArg::kFloat: std::memcpy(&store[i], &a.f, 4); break;
        case DmxArg::kInt64: std::memcpy(&store[i], &a.l, 8); break;
      }
      args[i] = &store[i];
    }
    if (CUresult r = it->second.Launch({op.grid_x, op.grid_y, 1}, {op.block, 1, 1}, op.shared_bytes,
                                       s, args.data());
        r != cu::kSuccess)
      return r;
    if (CUresult r = after(op.kernel); r != cu::kSuccess) return r;
  }
  return cu::kSuccess;
}

absl::Status DemucsCudaPlanImpl::Init(std::shared_ptr<const Model> model,
                                      const DemucsCudaPlanOptions& o) {
  if (o.max_sessions < 1 || o.max_sessions > 65535)
    return absl::InvalidArgumentError("demucs cuda plan: max_sessions must be in [1, 65535]");
  absl::StatusOr<Networks> net = BuildNetworks(*model);
  if (!net.ok()) return net.status();
  max_ = o.max_sessions;
  split_max_ = o.split_max_batch < 0 ? kAutoSplitMax : o.split_max_batch;
  slots_.Reset(max_);
  hops_.assign(max_, 0);

  absl::StatusOr<runtime::DeviceInfo> dev = runtime::FindDevice(o.device);
  if (!dev.ok()) return dev.status();
  DmxScheduleOptions so;
  so.max_sessions = max_;
  so.max_threads = 256;
  so.grid_cap = sched::PlanGridCap(*dev);
  absl::StatusOr<DmxSchedule> sched = BuildDemucsSchedule(*net, so);
  if (!sched.ok()) return sched.status();
  s_ = *std::move(sched);
  model_ = std::move(model);  // the schedule copied the weights; keep the model anyway
  description_ = sched::PlanDeviceDescription(*dev);
  // Context (current), stream, done event (timing: telemetry), telemetry timer.
  if (absl::Status st = sched::OpenPlanDevice(*dev, o.realtime, {&ctx_, &stream_, &done_, &timer_});
      !st.ok())
    return st;

  // Kernels: demucs.cu, dtln.cu (the small-batch split LSTM).
  const runtime::CubinCache cache = sched::PlanKernelCache(o.kernel_cache_dir);
  const int arch = dev->Arch();
  for (const char* prog : {"demucs.cu", "dtln.cu"}) {
    absl::StatusOr<runtime::Module> m = sched::LoadPlanProgram(*ctx_, prog, arch, cache);
    if (!m.ok()) return m.status();
    if (absl::Status st = sched::UploadTansigTable(*ctx_, *m, *stream_, "demucs cuda plan"); !st.ok())
      return st;
    modules_.push_back(*std::move(m));
  }
  // Every kernel any bucket uses.
  for (int b = 1; b < max_; b *= 2) buckets_.push_back(b);
  buckets_.push_back(max_);
  for (int b : buckets_) {
    for (const DmxOp& op : s_.Hop(b, b <= split_max_)) {
      if (op.kind != DmxOp::kKernel || kernels_.count(op.kernel)) continue;
      const int mi = op.program == "demucs.cu" ? 0 : 1;
      absl::StatusOr<Kernel> k = modules_[mi].GetKernel(op.kernel.c_str());
      if (!k.ok()) return k.status();
      kernels_.emplace(op.kernel, *k);
    }
  }

  // Buffers (all zeroed; slot state is wiped on free).
  bufs_.resize(static_cast<int>(DmxBuf::kCount));
  for (int b = 0; b < static_cast<int>(DmxBuf::kCount); ++b) {
    const size_t floats = std::max<size_t>(1, s_.floats[b]);
    absl::StatusOr<DeviceBlock> d = DeviceBlock::Allocate(
        *ctx_, floats * sizeof(float),
        b == static_cast<int>(DmxBuf::kWeights) ? runtime::Wipe::kNo : runtime::Wipe::kOnFree);
    if (!d.ok()) return d.status();
    if (CUresult r = d->FillBytesAsync(0, *stream_); r != cu::kSuccess)
      return absl::InternalError(absl::StrCat("demucs cuda plan: zeroing a buffer: CUresult ", r));
    bufs_[b] = *std::move(d);
  }
  if (CUresult r = bufs_[0].CopyFromHostAsync(s_.weights.data(), s_.weights.size() * sizeof(float),
                                              *stream_);
      r != cu::kSuccess)
    return absl::InternalError(absl::StrCat("demucs cuda plan: uploading weights: CUresult ", r));
  const size_t m = static_cast<size_t>(max_);
  for (auto [p, bytes] : {std::pair{&pin_in_, m * s_.hop * 4}, std::pair{&pin_out_, m * s_.hop * 4},
                          std::pair{&pin_ctl_, (kDmxCtlHead + kDmxCtlRow * m) * 4}}) {
    absl::StatusOr<runtime::PinnedBlock> pb =
        runtime::PinnedBlock::Allocate(*ctx_, bytes, runtime::HostMapping::kUnmapped,
                                       runtime::HostCaching::kDefault, runtime::Wipe::kOnFree);
    if (!pb.ok()) return pb.status();
    *p = *std::move(pb);
    std::memset(p->data(), 0, bytes);
  }
  if (absl::Status st = stream_->Synchronize(); !st.ok()) return st;

  if (o.profile) {
    profile_ = true;
    size_t most = 0;
    for (int b : buckets_) most = std::max(most, s_.Hop(b, b <= split_max_).size());
    for (size_t i = 0; i < most + 4; ++i) {
      absl::StatusOr<runtime::Event> e = runtime::Event::Create(*ctx_, runtime::EventTiming::kEnabled);
      if (!e.ok()) return e.status();
      prof_.push_back(*std::move(e));
    }
    return absl::OkStatus();
  }
  for (int b : buckets_) {
    const bool split = b <= split_max_;
    absl::StatusOr<runtime::CapturedGraph> g =
        runtime::CaptureGraph(*ctx_, *stream_, [&]() -> absl::Status {
          if (CUresult r = Enqueue(b, split); r != cu::kSuccess)
            return absl::InternalError(
                absl::StrCat("demucs cuda plan: recording bucket ", b, ": CUresult ", r));
          return absl::OkStatus();
        });
    if (!g.ok()) return g.status();
    graphs_.push_back(*std::move(g));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DemucsCudaPlan>> DemucsCudaPlan::Create(
    std::shared_ptr<const Model> model, const DemucsCudaPlanOptions& options) {
  if (model == nullptr) return absl::InvalidArgumentError("demucs cuda plan: no model");
  auto plan = std::make_unique<DemucsCudaPlanImpl>();
  if (absl::Status st = plan->Init(std::move(model), options); !st.ok()) return st;
  return std::unique_ptr<DemucsCudaPlan>(std::move(plan));
}

}  // namespace ghostnv::models::demucs
