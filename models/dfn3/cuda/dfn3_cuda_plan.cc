// models/dfn3/cuda/dfn3_cuda_plan.cc — DeepFilterNet3 on the GPU: uploads, the arena, the graph.

#include "models/dfn3/cuda/dfn3_cuda_plan.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
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

namespace ghostnv::models::dfn3 {
namespace {

using cu::CUdeviceptr;
using cu::CUresult;
using runtime::DeviceBlock;
using runtime::Kernel;
using runtime::Stream;

// The executor of EnqueueDfn3Hop on the device (dfn3_cuda_hop.h).
struct DeviceExec {
  using F = CUdeviceptr;
  using I = CUdeviceptr;
  using D = CUdeviceptr;
  const Kernel* kernels = nullptr;
  const Stream* stream = nullptr;       // where launches go now
  const Stream* main = nullptr;         // the hop's stream
  const Stream* side = nullptr;         // the side branch of a fork
  const runtime::Event* fork_ev = nullptr;  // [2]
  const runtime::Event* join_ev = nullptr;  // [2]
  CUdeviceptr arena = 0, weights = 0, pcm_in = 0, pcm_out = 0, hops = 0, ints = 0, twd = 0;
  int grid_cap = 1;
  CUresult err = cu::kSuccess;

  F Arena() const { return arena; }
  F Wt(long off) const { return off < 0 ? 0 : weights + static_cast<size_t>(off) * 4; }
  F PcmIn() const { return pcm_in; }
  F PcmOut() const { return pcm_out; }
  I Hops() const { return hops; }
  I BandStart() const { return ints; }
  I BandOf() const { return ints + 33 * 4; }
  D Twd() const { return twd; }
  F At(F base, long floats) const { return base + static_cast<size_t>(floats) * 4; }
  unsigned Grid(long long n, int threads) const {
    return static_cast<unsigned>(std::clamp<long long>((n + threads - 1) / threads, 1, grid_cap));
  }
  unsigned RowGrid(int rows) const { return static_cast<unsigned>(std::clamp(rows, 1, grid_cap)); }
  // Fork p: the side stream waits for the main stream's work so far; Join p: the main stream
  // waits for the side's. Captured, this forks the graph into two concurrent branches.
  void Fork(int p) {
    if (side == main) return;
    if (err == cu::kSuccess) err = fork_ev[p].Record(*main);
    if (err == cu::kSuccess) err = fork_ev[p].MakeWait(*side);
    stream = main;
  }
  void Side(bool s) { stream = s ? side : main; }
  void Join(int p) {
    if (side == main) return;
    if (err == cu::kSuccess) err = join_ev[p].Record(*side);
    if (err == cu::kSuccess) err = join_ev[p].MakeWait(*main);
    stream = main;
  }
  template <class... A>
  void Go(Dfn3Kernel k, unsigned grid, unsigned block, A... a) {
    if (err != cu::kSuccess) return;
    void* args[] = {&a...};
    err = kernels[static_cast<int>(k)].Launch({grid, 1, 1}, {block, 1, 1}, 0, *stream, args);
  }
};

class Dfn3CudaPlanImpl final : public Dfn3CudaPlan {
 public:
  ~Dfn3CudaPlanImpl() override {
    if (ctx_) {
      (void)ctx_->MakeCurrent();
      if (stream_) (void)stream_->Synchronize();
      if (side_) (void)side_->Synchronize();
    }
  }
  int batch() const override { return batch_; }
  std::string device_description() const override { return description_; }
  const Dfn3Layout& layout() const override { return layout_; }
  float* input_rows() override { return pin_in_.as<float>(); }
  const float* output_rows() const override { return pin_out_.as<float>(); }

  CUresult Submit() override {
    const runtime::DriverApi& api = ctx_->api();
    if (CUresult r = api.CtxSetCurrent(ctx_->get()); r != cu::kSuccess) return r;
    timer_.Collect(*done_, stage_times_);  // telemetry: the previous hop (complete by now)
    if (CUresult r = timer_.Begin(*stream_, /*marks=*/true); r != cu::kSuccess) return r;
    if (graph_) {
      if (CUresult r = graph_->exec.Launch(*stream_); r != cu::kSuccess) return r;
    } else if (CUresult r = Enqueue(); r != cu::kSuccess) {
      return r;
    }
    return done_->Record(*stream_);
  }
  CUresult Query() const override { return done_->Query(); }
  CUresult Wait() override { return ctx_->api().EventSynchronize(done_->get()); }
  const runtime::StageHistograms* stage_times() const override { return &stage_times_; }

  absl::Status ResetRow(int row) override {
    if (row < 0 || row >= batch_) return absl::OutOfRangeError("dfn3 cuda plan: row out of range");
    if (absl::Status st = ctx_->MakeCurrent(); !st.ok()) return st;
    std::vector<float> init(static_cast<size_t>(layout_.stride), 0.f);
    for (int i = 0; i < kErb; ++i)
      init[static_cast<size_t>(layout_.norm + i)] = -60.f + (-30.f) * static_cast<float>(i) / (kErb - 1);
    for (int i = 0; i < kDf; ++i)
      init[static_cast<size_t>(layout_.norm + kErb + i)] =
          0.001f + (0.0001f - 0.001f) * static_cast<float>(i) / (kDf - 1);
    const size_t bytes = init.size() * 4;
    if (CUresult r = arena_.CopyFromHostAsync(init.data(), bytes, *stream_,
                                              static_cast<size_t>(row) * bytes);
        r != cu::kSuccess)
      return absl::InternalError(absl::StrCat("dfn3 cuda plan: reset row: CUresult ", r));
    const int32_t zero = 0;
    if (CUresult r = hops_.CopyFromHostAsync(&zero, 4, *stream_, static_cast<size_t>(row) * 4);
        r != cu::kSuccess)
      return absl::InternalError(absl::StrCat("dfn3 cuda plan: reset row: CUresult ", r));
    return stream_->Synchronize();
  }

  absl::Status ReadArena(int row, int offset, int count, std::vector<float>* out) override {
    if (row < 0 || row >= batch_ || offset < 0 || count < 0 || offset + count > layout_.stride)
      return absl::OutOfRangeError("dfn3 cuda plan: arena read out of range");
    out->assign(static_cast<size_t>(count), 0.f);
    if (absl::Status st = ctx_->MakeCurrent(); !st.ok()) return st;
    if (CUresult r = arena_.CopyToHostAsync(
            out->data(), static_cast<size_t>(count) * 4, *stream_,
            (static_cast<size_t>(row) * layout_.stride + static_cast<size_t>(offset)) * 4);
        r != cu::kSuccess)
      return absl::InternalError(absl::StrCat("dfn3 cuda plan: arena read: CUresult ", r));
    return stream_->Synchronize();
  }

  absl::Status Init(std::shared_ptr<const Model> model, const Dfn3CudaPlanOptions& o);

 private:
  CUresult Enqueue() {
    const size_t io = static_cast<size_t>(batch_) * kCudaIo * 4;
    if (CUresult r = pcm_in_.CopyFromHostAsync(pin_in_.data(), io, *stream_); r != cu::kSuccess)
      return r;
    // Telemetry marks (inside the graph's capture: event-record nodes).
    if (CUresult r = timer_.MarkUploaded(*stream_, use_graph_); r != cu::kSuccess) return r;
    DeviceExec x;
    x.kernels = kernels_;
    x.stream = &*stream_;
    x.main = &*stream_;
    x.side = concurrent_ ? &*side_ : &*stream_;
    x.fork_ev = fork_ev_.data();
    x.join_ev = join_ev_.data();
    x.arena = arena_.ptr();
    x.weights = weights_.ptr();
    x.pcm_in = pcm_in_.ptr();
    x.pcm_out = pcm_out_.ptr();
    x.hops = hops_.ptr();
    x.ints = ints_.ptr();
    x.twd = twd_.ptr();
    x.grid_cap = grid_cap_;
    EnqueueDfn3Hop(x, pack_, layout_, batch_);
    if (x.err != cu::kSuccess) return x.err;
    if (CUresult r = timer_.MarkComputed(*stream_, use_graph_); r != cu::kSuccess) return r;
    return pcm_out_.CopyToHostAsync(pin_out_.data(), io, *stream_);
  }

  absl::StatusOr<DeviceBlock> Upload(const void* src, size_t bytes, bool wipe) {
    absl::StatusOr<DeviceBlock> b = DeviceBlock::Allocate(
        *ctx_, std::max<size_t>(bytes, 4), wipe ? runtime::Wipe::kOnFree : runtime::Wipe::kNo);
    if (!b.ok()) return b.status();
    if (CUresult r = b->FillBytesAsync(0, *stream_); r != cu::kSuccess)
      return absl::InternalError(absl::StrCat("dfn3 cuda plan: zeroing: CUresult ", r));
    if (src != nullptr && bytes > 0) {
      if (CUresult r = b->CopyFromHostAsync(src, bytes, *stream_); r != cu::kSuccess)
        return absl::InternalError(absl::StrCat("dfn3 cuda plan: upload: CUresult ", r));
    }
    if (absl::Status st = stream_->Synchronize(); !st.ok()) return st;
    return b;
  }

  int batch_ = 1, grid_cap_ = 1;
  bool concurrent_ = true;
  bool use_graph_ = true;  // Enqueue runs inside the graph's capture (else launched directly)
  runtime::HopStageTimer timer_;  // telemetry (stage_times())
  runtime::StageHistograms stage_times_;
  std::string description_;
  std::shared_ptr<const Model> model_;
  Dfn3Pack pack_;
  Dfn3Layout layout_;
  std::optional<runtime::Context> ctx_;
  std::optional<Stream> stream_, side_;
  std::optional<runtime::Event> done_;
  std::vector<runtime::Event> fork_ev_, join_ev_;
  std::optional<runtime::Module> module_;
  Kernel kernels_[static_cast<int>(Dfn3Kernel::kCount)];
  DeviceBlock weights_, twd_, ints_, arena_, hops_, pcm_in_, pcm_out_;
  runtime::PinnedBlock pin_in_, pin_out_;
  std::optional<runtime::CapturedGraph> graph_;
};

absl::Status Dfn3CudaPlanImpl::Init(std::shared_ptr<const Model> model,
                                    const Dfn3CudaPlanOptions& o) {
  if (o.batch < 1 || o.batch > (1 << 16))
    return absl::InvalidArgumentError("dfn3 cuda plan: batch must be in [1, 65536]");
  absl::StatusOr<Networks> net = BuildNetworks(*model);
  if (!net.ok()) return net.status();
  absl::StatusOr<Dfn3Pack> pack = PackDfn3(*net);
  if (!pack.ok()) return pack.status();
  pack_ = *std::move(pack);
  model_ = std::move(model);
  batch_ = o.batch;
  concurrent_ = o.concurrent_branches;
  use_graph_ = o.use_graph;
  layout_ = MakeDfn3Layout(pack_.la);

  absl::StatusOr<runtime::DeviceInfo> dev = runtime::FindDevice(o.device);
  if (!dev.ok()) return dev.status();
  description_ = sched::PlanDeviceDescription(*dev);
  grid_cap_ = sched::PlanGridCap(*dev);
  // Context (current), stream, done event (timing: telemetry), telemetry timer.
  if (absl::Status st = sched::OpenPlanDevice(*dev, o.realtime, {&ctx_, &stream_, &done_, &timer_});
      !st.ok())
    return st;
  // The second branch's stream, at the same priority.
  absl::StatusOr<Stream> side = Stream::Create(*ctx_, sched::PlanStreamPriority(o.realtime));
  if (!side.ok()) return side.status();
  side_.emplace(*std::move(side));
  for (std::vector<runtime::Event>* v : {&fork_ev_, &join_ev_}) {
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<runtime::Event> e = runtime::Event::Create(*ctx_, runtime::EventTiming::kDisabled);
      if (!e.ok()) return e.status();
      v->push_back(*std::move(e));
    }
  }

  const runtime::CubinCache cache = sched::PlanKernelCache(o.kernel_cache_dir);
  absl::StatusOr<runtime::Module> m = sched::LoadPlanProgram(*ctx_, "dfn3.cu", dev->Arch(), cache);
  if (!m.ok()) return m.status();
  module_.emplace(*std::move(m));
  for (int k = 0; k < static_cast<int>(Dfn3Kernel::kCount); ++k) {
    absl::StatusOr<Kernel> got = module_->GetKernel(kDfn3KernelNames[k]);
    if (!got.ok()) return got.status();
    kernels_[k] = *got;
  }

  struct Up {
    DeviceBlock* b;
    const void* src;
    size_t bytes;
    bool wipe;
  };
  const size_t rows = static_cast<size_t>(batch_);
  for (Up u : {Up{&weights_, pack_.floats.data(), pack_.floats.size() * 4, false},
               Up{&twd_, pack_.twd.data(), pack_.twd.size() * 8, false},
               Up{&ints_, pack_.ints.data(), pack_.ints.size() * 4, false},
               Up{&arena_, nullptr, rows * layout_.stride * 4, true},
               Up{&hops_, nullptr, rows * 4, false},
               Up{&pcm_in_, nullptr, rows * kCudaIo * 4, true},
               Up{&pcm_out_, nullptr, rows * kCudaIo * 4, true}}) {
    absl::StatusOr<DeviceBlock> b = Upload(u.src, u.bytes, u.wipe);
    if (!b.ok()) return b.status();
    *u.b = *std::move(b);
  }
  for (runtime::PinnedBlock* p : {&pin_in_, &pin_out_}) {
    absl::StatusOr<runtime::PinnedBlock> pb = runtime::PinnedBlock::Allocate(
        *ctx_, rows * kCudaIo * 4, runtime::HostMapping::kUnmapped,
        runtime::HostCaching::kDefault, runtime::Wipe::kOnFree);
    if (!pb.ok()) return pb.status();
    *p = *std::move(pb);
    std::memset(p->data(), 0, rows * kCudaIo * 4);
  }
  for (int r = 0; r < batch_; ++r) {
    if (absl::Status st = ResetRow(r); !st.ok()) return st;
    pin_in_.as<float>()[static_cast<size_t>(r) * kCudaIo + kHop] = 1.f;      // strength
    pin_in_.as<float>()[static_cast<size_t>(r) * kCudaIo + kHop + 1] = 1.f;  // run flag
  }
  if (!o.use_graph) return absl::OkStatus();
  absl::StatusOr<runtime::CapturedGraph> g = runtime::CaptureGraph(*ctx_, *stream_, [&]() -> absl::Status {
    if (CUresult r = Enqueue(); r != cu::kSuccess)
      return absl::InternalError(absl::StrCat("dfn3 cuda plan: recording the hop: CUresult ", r));
    return absl::OkStatus();
  });
  if (!g.ok()) return g.status();
  graph_.emplace(*std::move(g));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Dfn3CudaPlan>> Dfn3CudaPlan::Create(std::shared_ptr<const Model> model,
                                                                    const Dfn3CudaPlanOptions& options) {
  if (model == nullptr) return absl::InvalidArgumentError("dfn3 cuda plan: no model");
  auto plan = std::make_unique<Dfn3CudaPlanImpl>();
  if (absl::Status st = plan->Init(std::move(model), options); !st.ok()) return st;
  return std::unique_ptr<Dfn3CudaPlan>(std::move(plan));
}

}  // namespace ghostnv::models::dfn3
