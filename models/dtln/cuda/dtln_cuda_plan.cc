// models/dtln/cuda/dtln_cuda_plan.cc — DTLN on the GPU: uploads, buffers, the hop's graph.

#include "models/dtln/cuda/dtln_cuda_plan.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/activations.h"
#include "models/dtln/dtln_family.h"
#include "runtime/context.h"
#include "runtime/cubin_cache.h"
#include "runtime/device.h"
#include "runtime/driver.h"
#include "runtime/gpu_ops.h"
#include "runtime/graph.h"
#include "runtime/kernel_build.h"
#include "runtime/kernel_sources.h"
#include "runtime/memory.h"
#include "runtime/module.h"
#include "runtime/sched/plan_setup.h"
#include "runtime/stream.h"
#include "runtime/telemetry_hop_timer.h"

namespace ghostnv::models::dtln {
namespace {

using cu::CUdeviceptr;
using cu::CUresult;
using runtime::DeviceBlock;
using runtime::Kernel;
using runtime::Stream;

constexpr int kSpecStride = 2 * kBins + 2;  // interleaved complex rows (516 floats)
constexpr int kBinStride = kBins + 3;       // 260
constexpr int kAutoSplitMax = 16;
constexpr int kSplitUnits = 8;       // DTLN_SPLIT_UNITS in kernels/dtln.cu
constexpr int kSplitThreads = 256;   // DTLN_SPLIT_THREADS
constexpr int kNormMaxThreads = 256; // DTLN_NORM_MAX_THREADS

int RoundUp(int v, int m) { return (v + m - 1) / m * m; }

CUdeviceptr Off(const DeviceBlock& b, size_t floats) { return b.ptr() + floats * sizeof(float); }

struct DeviceLstm {
  int inputs = 0, units = 0, math = 0;
  DeviceBlock weights;  // [inputs + units][4 units]: W then R
  DeviceBlock bias;     // empty when the layer has none
};

absl::Status CopyUp(const runtime::Context& ctx, const Stream& s, const void* src, size_t bytes,
                    DeviceBlock* dst, size_t offset, const char* what) {
  if (bytes == 0) return absl::OkStatus();
  if (CUresult r = dst->CopyFromHostAsync(src, bytes, s, offset); r != cu::kSuccess)
    return absl::InternalError(absl::StrCat("dtln cuda plan: uploading ", what, ": CUresult ", r));
  (void)ctx;
  return s.Synchronize();
}

absl::StatusOr<DeviceLstm> UploadLstm(const runtime::Context& ctx, const Stream& s,
                                      const kernels::LstmParams& p) {
  DeviceLstm l;
  l.inputs = p.inputs;
  l.units = p.units;
  l.math = static_cast<int>(p.math);
  const size_t n4 = 4 * static_cast<size_t>(p.units);
  absl::StatusOr<DeviceBlock> w =
      DeviceBlock::Allocate(ctx, std::max<size_t>(1, (p.inputs + p.units) * n4) * sizeof(float));
  if (!w.ok()) return w.status();
  l.weights = *std::move(w);
  if (absl::Status st = CopyUp(ctx, s, p.weights, p.inputs * n4 * 4, &l.weights, 0, "lstm W"); !st.ok())
    return st;
  if (absl::Status st = CopyUp(ctx, s, p.recurrent, p.units * n4 * 4, &l.weights,
                               p.inputs * n4 * 4, "lstm R");
      !st.ok())
    return st;
  if (p.bias != nullptr) {
    absl::StatusOr<DeviceBlock> b = DeviceBlock::Allocate(ctx, n4 * sizeof(float));
    if (!b.ok()) return b.status();
    l.bias = *std::move(b);
    if (absl::Status st = CopyUp(ctx, s, p.bias, n4 * 4, &l.bias, 0, "lstm bias"); !st.ok()) return st;
  }
  return l;
}

class DtlnCudaPlanImpl final : public DtlnCudaPlan {
 public:
  ~DtlnCudaPlanImpl() override {
    if (ctx_) {
      (void)ctx_->MakeCurrent();
      if (stream_) (void)stream_->Synchronize();
    }
    // Device and pinned blocks that held audio or state are created with Wipe::kOnFree.
  }

  int max_sessions() const override { return max_; }
  std::string device_description() const override { return description_; }

  absl::StatusOr<int> AcquireSlot() override {
    const int s = slots_.Acquire();  // its state is zeroed at Create and by ReleaseSlot
    if (s >= 0) return s;
    return absl::ResourceExhaustedError(
        absl::StrCat("dtln cuda plan: all ", max_, " slots are in use"));
  }

  void ReleaseSlot(int slot) override {
    if (!slots_.InUse(slot)) return;
    (void)ZeroSlot(slot);
    slots_.Release(slot);
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
      int32_t bits;
      std::memcpy(&bits, &strengths[i], sizeof(bits));
      ctl[2 + 2 * i] = s;
      ctl[3 + 2 * i] = bits;
    }
    ctl[0] = n;
    ctl[1] = 0;
    const runtime::DriverApi& api = ctx_->api();
    if (CUresult r = api.CtxSetCurrent(ctx_->get()); r != cu::kSuccess) return r;
    last_n_ = n;
    timer_.Collect(*done_, stage_times_);  // telemetry: the previous hop (complete by now)
    if (n > 0) {
      const size_t g = BucketIndex(n);
      if (CUresult r = timer_.Begin(*stream_, /*marks=*/true); r != cu::kSuccess) return r;
      if (!prof_.empty()) {  // profiling: the stages directly, with events between them
        if (CUresult r = Enqueue(buckets_[g], buckets_[g] <= split_max_); r != cu::kSuccess) return r;
      } else if (CUresult r = graphs_[g].exec.Launch(*stream_); r != cu::kSuccess) {
        return r;
      }
    }
    return done_->Record(*stream_);
  }
  CUresult Query() const override { return done_->Query(); }
  CUresult Wait() override { return ctx_->api().EventSynchronize(done_->get()); }
  const runtime::StageHistograms* stage_times() const override { return &stage_times_; }

  absl::Status ReadProbe(DtlnProbe probe, int row, std::vector<float>* out) override {
    if (row < 0 || row >= last_n_) return absl::OutOfRangeError("dtln probe: row out of range");
    const DeviceBlock* b = nullptr;
    int stride = 0, count = 0;
    switch (probe) {
      case DtlnProbe::kMagnitude: b = &mag_; stride = kBinStride; count = kBins; break;
      case DtlnProbe::kMask1: b = &mask1_; stride = kBinStride; count = kBins; break;
      case DtlnProbe::kFrame: b = &tframe_; stride = kFrame; count = kFrame; break;
      case DtlnProbe::kMask2: b = &mask2_; stride = fstride_; count = features_; break;
      case DtlnProbe::kOutFrame: b = &yout_; stride = kFrame; count = kFrame; break;
    }
    out->assign(count, 0.f);
    if (absl::Status st = ctx_->MakeCurrent(); !st.ok()) return st;
    if (CUresult r = b->CopyToHostAsync(out->data(), count * sizeof(float), *stream_,
                                        static_cast<size_t>(row) * stride * sizeof(float));
        r != cu::kSuccess)
      return absl::InternalError(absl::StrCat("dtln probe: copy failed: CUresult ", r));
    return stream_->Synchronize();
  }

  std::vector<DtlnStageTime> StageTimesUs() const override {
    static constexpr const char* kNames[] = {"h2d", "frame", "fft", "stage1", "mask+ifft",
                                             "stage2", "ola", "d2h"};
    std::vector<DtlnStageTime> out;
    for (size_t i = 1; i < prof_.size(); ++i) {
      absl::StatusOr<float> ms = runtime::Event::ElapsedMs(prof_[i - 1], prof_[i]);
      out.push_back({kNames[i - 1], ms.ok() ? *ms * 1000.f : -1.f});
    }
    return out;
  }

  int BucketFor(int n) const override { return buckets_[BucketIndex(std::max(n, 1))]; }
  bool UsesSplitLstm(int bucket) const override { return bucket <= split_max_; }

  absl::Status Init(std::shared_ptr<const Model> model, const DtlnCudaPlanOptions& o);

 private:
  size_t BucketIndex(int n) const {
    size_t i = 0;
    while (i + 1 < buckets_.size() && buckets_[i] < n) ++i;
    return i;
  }

  absl::Status ZeroSlot(int slot) {
    if (absl::Status st = ctx_->MakeCurrent(); !st.ok()) return st;
    const runtime::DriverApi& api = ctx_->api();
    struct Part {
      const DeviceBlock* b;
      int floats;
    };
    for (Part p : {Part{&in_buf_, kFrame}, Part{&out_buf_, kFrame}, Part{&state_, sstride_}}) {
      const CUdeviceptr at = Off(*p.b, static_cast<size_t>(slot) * p.floats);
      if (CUresult r = api.MemsetD32Async(at, 0u, p.floats, stream_->get()); r != cu::kSuccess)
        return absl::InternalError(absl::StrCat("dtln cuda plan: zeroing slot ", slot, ": CUresult ", r));
    }
    return stream_->Synchronize();
  }

  absl::StatusOr<DeviceBlock> Alloc(size_t floats, bool wipe) {
    absl::StatusOr<DeviceBlock> b =
        DeviceBlock::Allocate(*ctx_, std::max<size_t>(floats, 1) * sizeof(float),
                              wipe ? runtime::Wipe::kOnFree : runtime::Wipe::kNo);
    if (!b.ok()) return b.status();
    if (CUresult r = b->FillBytesAsync(0, *stream_); r != cu::kSuccess)
      return absl::InternalError(absl::StrCat("dtln cuda plan: zeroing a buffer: CUresult ", r));
    return b;
  }

  // Enqueues one hop for a bucket of `rows` rows on stream_ (captured into a graph).
  CUresult Enqueue(int rows, bool split);
  CUresult Lstm(const DeviceLstm& l, CUdeviceptr x, int x_stride, size_t h_off, bool split,
                int rows);
  CUresult Launch1D(const Kernel& k, long long work, int threads, void** args) {
    const long long blocks = std::min<long long>((work + threads - 1) / threads, grid_cap_);
    return k.Launch({static_cast<unsigned>(std::max<long long>(blocks, 1)), 1, 1},
                    {static_cast<unsigned>(threads), 1, 1}, 0, *stream_, args);
  }
  CUresult LaunchRows(const Kernel& k, int rows, int threads, void** args) {
    const int blocks = std::max(1, std::min(rows, grid_cap_));
    return k.Launch({static_cast<unsigned>(blocks), 1, 1}, {static_cast<unsigned>(threads), 1, 1},
                    0, *stream_, args);
  }

  int max_ = 0, features_ = 0, fstride_ = 0, sstride_ = 0, u1_ = 0, u2_ = 0;
  int split_max_ = kAutoSplitMax, grid_cap_ = 1, last_n_ = 0;
  float eps_ = 1e-7f;
  std::string description_;
  std::shared_ptr<const Model> model_;
  std::optional<runtime::Context> ctx_;
  std::optional<Stream> stream_;
  std::optional<runtime::Event> done_;
  std::optional<runtime::GpuOps> ops_;
  std::vector<runtime::Module> modules_;
  Kernel lstm_r_[4], lstm_split_, frame_k_, mag_k_, apply_k_, norm_k_, mul_k_, ola_k_;
  runtime::DeviceFftPlan fft_;
  DeviceLstm lstm_[2][2];  // [stage][layer]
  runtime::DeviceDense mask_[2], encoder_, decoder_;
  DeviceBlock gamma_, beta_;
  // Per slot.
  DeviceBlock in_buf_, out_buf_, state_;
  // Per row (bucket-sized work).
  DeviceBlock ctl_, pcm_in_, pcm_out_, frame_, spec_, mag_, mask1_, tframe_, enc_, norm_, mask2_,
      dec_in_, yout_, st_a_, st_b_;
  runtime::PinnedBlock pin_in_, pin_out_, pin_ctl_;
  sched::SlotTable slots_;
  std::vector<int> buckets_;
  std::vector<runtime::CapturedGraph> graphs_;
  std::vector<runtime::Event> prof_;  // profiling plans only: 9 stage boundaries
  runtime::HopStageTimer timer_;      // telemetry (stage_times())
  runtime::StageHistograms stage_times_;
};

CUresult DtlnCudaPlanImpl::Lstm(const DeviceLstm& l, CUdeviceptr x, int x_stride, size_t h_off,
                                bool split, int rows) {
  CUdeviceptr w = l.weights.ptr(), rw = Off(l.weights, static_cast<size_t>(l.inputs) * 4 * l.units),
              b = l.bias.ptr();
  int inputs = l.inputs, units = l.units, math = l.math, xs = x_stride, ss = sstride_, n = rows;
  if (split) {
    CUdeviceptr ho = Off(st_a_, h_off), co = Off(st_a_, h_off + l.units), hn = Off(st_b_, h_off),
                cn = Off(st_b_, h_off + l.units);
    void* args[] = {&w, &rw, &b, &inputs, &units, &math, &x, &xs, &ho, &co, &hn, &cn, &ss, &n};
    const unsigned gx = static_cast<unsigned>((l.units + kSplitUnits - 1) / kSplitUnits);
    const unsigned gy = static_cast<unsigned>(std::max(1, std::min(rows, 65535)));
    return lstm_split_.Launch({gx, gy, 1}, {kSplitThreads, 1, 1}, 0, *stream_, args);
  }
  CUdeviceptr h = Off(st_a_, h_off), c = Off(st_a_, h_off + l.units);
  void* args[] = {&w, &rw, &b, &inputs, &units, &math, &x, &xs, &h, &c, &ss, &n};
  const int per_row = l.inputs + 5 * l.units;
  const int r = std::min(8, ops_->AutoRowsPerBlock(rows, per_row));
  const int v = r >= 8 ? 3 : r >= 4 ? 2 : r >= 2 ? 1 : 0;
  const int rr = 1 << v;
  const unsigned grid = static_cast<unsigned>((rows + rr - 1) / rr);
  return lstm_r_[v].Launch({grid, 1, 1}, {128, 1, 1},
                           static_cast<unsigned>(per_row * rr * sizeof(float)), *stream_, args);
}

CUresult DtlnCudaPlanImpl::Enqueue(int rows, bool split) {
  const Stream& s = *stream_;
  const runtime::GpuOps& ops = *ops_;
  auto mark = [&](size_t i) -> CUresult {
    return i < prof_.size() ? prof_[i].Record(s) : cu::kSuccess;
  };
  if (CUresult r = mark(0); r != cu::kSuccess) return r;
  if (CUresult r = ctl_.CopyFromHostAsync(pin_ctl_.data(), (2 + 2 * static_cast<size_t>(rows)) * 4, s);
      r != cu::kSuccess)
    return r;
  if (CUresult r = pcm_in_.CopyFromHostAsync(pin_in_.data(), static_cast<size_t>(rows) * kHop * 4, s);
      r != cu::kSuccess)
    return r;
  if (CUresult r = mark(1); r != cu::kSuccess) return r;
  // Telemetry marks (graph capture when not profiling: event-record nodes).
  if (CUresult r = timer_.MarkUploaded(s, prof_.empty()); r != cu::kSuccess) return r;
  int n = rows, fs = kFrame, ss = sstride_;
  {
    CUdeviceptr c = ctl_.ptr(), p = pcm_in_.ptr(), ib = in_buf_.ptr(), fr = frame_.ptr(),
                st = state_.ptr(), sr = st_a_.ptr();
    void* args[] = {&c, &p, &ib, &fr, &fs, &st, &sr, &ss, &n};
    if (CUresult r = LaunchRows(frame_k_, rows, 128, args); r != cu::kSuccess) return r;
  }
  if (CUresult r = mark(2); r != cu::kSuccess) return r;
  if (CUresult r = ops.RealFftForward(fft_, frame_.ptr(), kFrame, spec_.ptr(), kSpecStride, rows, s);
      r != cu::kSuccess)
    return r;
  if (CUresult r = mark(3); r != cu::kSuccess) return r;
  int bins = kBins, spec_stride = kSpecStride, bin_stride = kBinStride;
  {
    CUdeviceptr X = spec_.ptr(), m = mag_.ptr();
    void* args[] = {&X, &spec_stride, &m, &bin_stride, &bins, &n};
    if (CUresult r = Launch1D(mag_k_, static_cast<long long>(rows) * kBins, 256, args); r != cu::kSuccess)
      return r;
  }
  // Stage 1.
  const size_t s1 = 0, s2 = 4 * static_cast<size_t>(u1_);
  const DeviceBlock& st_out = split ? st_b_ : st_a_;
  if (CUresult r = Lstm(lstm_[0][0], mag_.ptr(), kBinStride, s1, split, rows); r != cu::kSuccess) return r;
  if (CUresult r = Lstm(lstm_[0][1], Off(st_out, s1), sstride_, s1 + 2 * u1_, split, rows);
      r != cu::kSuccess)
    return r;
  if (CUresult r = ops.Dense(mask_[0], Off(st_out, s1 + 2 * u1_), sstride_, mask1_.ptr(), kBinStride,
                             rows, s);
      r != cu::kSuccess)
    return r;
  if (CUresult r = mark(4); r != cu::kSuccess) return r;
  {
    CUdeviceptr X = spec_.ptr(), m = mask1_.ptr();
    float scale = 1.0f / kFrame;
    void* args[] = {&X, &spec_stride, &m, &bin_stride, &scale, &bins, &n};
    if (CUresult r = Launch1D(apply_k_, static_cast<long long>(rows) * kBins, 256, args); r != cu::kSuccess)
      return r;
  }
  if (CUresult r = ops.RealFftInverse(fft_, spec_.ptr(), kSpecStride, tframe_.ptr(), kFrame, rows, s);
      r != cu::kSuccess)
    return r;
  if (CUresult r = mark(5); r != cu::kSuccess) return r;
  // Stage 2.
  if (CUresult r = ops.Dense(encoder_, tframe_.ptr(), kFrame, enc_.ptr(), fstride_, rows, s);
      r != cu::kSuccess)
    return r;
  {
    CUdeviceptr x = enc_.ptr(), g = gamma_.ptr(), b = beta_.ptr(), y = norm_.ptr();
    int fst = fstride_, nf = features_;
    float eps = eps_;
    void* args[] = {&x, &fst, &g, &b, &eps, &y, &fst, &nf, &n};
    int threads = 32;
    while (threads < features_ && threads < kNormMaxThreads) threads *= 2;
    if (CUresult r = LaunchRows(norm_k_, rows, threads, args); r != cu::kSuccess) return r;
  }
  if (CUresult r = Lstm(lstm_[1][0], norm_.ptr(), fstride_, s2, split, rows); r != cu::kSuccess) return r;
  if (CUresult r = Lstm(lstm_[1][1], Off(st_out, s2), sstride_, s2 + 2 * u2_, split, rows);
      r != cu::kSuccess)
    return r;
  if (CUresult r = ops.Dense(mask_[1], Off(st_out, s2 + 2 * u2_), sstride_, mask2_.ptr(), fstride_,
                             rows, s);
      r != cu::kSuccess)
    return r;
  {
    CUdeviceptr a = mask2_.ptr(), b = enc_.ptr(), o = dec_in_.ptr();
    int fst = fstride_, nf = features_;
    void* args[] = {&a, &fst, &b, &fst, &o, &fst, &nf, &n};
    if (CUresult r = Launch1D(mul_k_, static_cast<long long>(rows) * features_, 256, args); r != cu::kSuccess)
      return r;
  }
  if (CUresult r = ops.Dense(decoder_, dec_in_.ptr(), fstride_, yout_.ptr(), kFrame, rows, s);
      r != cu::kSuccess)
    return r;
  if (CUresult r = mark(6); r != cu::kSuccess) return r;
  {
    CUdeviceptr c = ctl_.ptr(), y = yout_.ptr(), ob = out_buf_.ptr(), ib = in_buf_.ptr(),
                o = pcm_out_.ptr(), sr = st_out.ptr(), st = state_.ptr();
    void* args[] = {&c, &y, &fs, &ob, &ib, &o, &sr, &st, &ss, &n};
    if (CUresult r = LaunchRows(ola_k_, rows, 128, args); r != cu::kSuccess) return r;
  }
  if (CUresult r = mark(7); r != cu::kSuccess) return r;
  if (CUresult r = timer_.MarkComputed(s, prof_.empty()); r != cu::kSuccess) return r;
  if (CUresult r = pcm_out_.CopyToHostAsync(pin_out_.data(), static_cast<size_t>(rows) * kHop * 4, s);
      r != cu::kSuccess)
    return r;
  return mark(8);
}

absl::Status DtlnCudaPlanImpl::Init(std::shared_ptr<const Model> model, const DtlnCudaPlanOptions& o) {
  if (o.max_sessions < 1 || o.max_sessions > (1 << 22))
    return absl::InvalidArgumentError("dtln cuda plan: max_sessions must be in [1, 4194304]");
  absl::StatusOr<Networks> net = BuildNetworks(*model);
  if (!net.ok()) return net.status();
  model_ = std::move(model);
  max_ = o.max_sessions;
  features_ = net->features;
  fstride_ = RoundUp(features_, 4);
  u1_ = net->stage1.lstm[0].units;
  u2_ = net->stage2.lstm[0].units;
  if (net->stage1.lstm[1].units != u1_ || net->stage2.lstm[1].units != u2_)
    return absl::InvalidArgumentError("dtln cuda plan: both LSTMs of a stage must have one size");
  sstride_ = RoundUp(4 * (u1_ + u2_), 32);
  eps_ = net->norm_epsilon;
  split_max_ = o.split_max_batch < 0 ? kAutoSplitMax : o.split_max_batch;
  slots_.Reset(max_);

  absl::StatusOr<runtime::DeviceInfo> dev = runtime::FindDevice(o.device);
  if (!dev.ok()) return dev.status();
  description_ = sched::PlanDeviceDescription(*dev);
  grid_cap_ = sched::PlanGridCap(*dev);
  // Context (current), stream, done event (timing: telemetry), telemetry timer.
  if (absl::Status st = sched::OpenPlanDevice(*dev, o.realtime, {&ctx_, &stream_, &done_, &timer_});
      !st.ok())
    return st;

  // Kernels: dense + FFT through GpuOps; lstm.cu and dtln.cu loaded here.
  const runtime::CubinCache cache = sched::PlanKernelCache(o.kernel_cache_dir);
  absl::StatusOr<runtime::GpuOps> ops = runtime::GpuOps::Load(*ctx_, cache);
  if (!ops.ok()) return ops.status();
  ops_.emplace(*std::move(ops));
  const int arch = dev->Arch();
  for (const char* prog : {"lstm.cu", "dtln.cu"}) {
    absl::StatusOr<runtime::Module> m = sched::LoadPlanProgram(*ctx_, prog, arch, cache);
    if (!m.ok()) return m.status();
    if (absl::Status st = sched::UploadTansigTable(*ctx_, *m, *stream_, "dtln cuda plan"); !st.ok())
      return st;
    modules_.push_back(*std::move(m));
  }
  auto get = [&](const runtime::Module& m, const char* name, Kernel* k) -> absl::Status {
    absl::StatusOr<Kernel> got = m.GetKernel(name);
    if (!got.ok()) return got.status();
    *k = *got;
    return absl::OkStatus();
  };
  const char* lstm_names[4] = {"lstm_step_f32_r1", "lstm_step_f32_r2", "lstm_step_f32_r4",
                               "lstm_step_f32_r8"};
  for (int v = 0; v < 4; ++v)
    if (absl::Status st = get(modules_[0], lstm_names[v], &lstm_r_[v]); !st.ok()) return st;
  struct Named {
    const char* name;
    Kernel* k;
  };
  for (Named nk : {Named{"dtln_lstm_split_f32", &lstm_split_}, Named{"dtln_frame_f32", &frame_k_},
                   Named{"dtln_magnitude_f32", &mag_k_}, Named{"dtln_apply_mask_f32", &apply_k_},
                   Named{"dtln_layer_norm_f32", &norm_k_}, Named{"dtln_mul_f32", &mul_k_},
                   Named{"dtln_ola_f32", &ola_k_}})
    if (absl::Status st = get(modules_[1], nk.name, nk.k); !st.ok()) return st;
  // The row-tiled LSTM's shared memory must fit (8 rows of the widest layer).
  const int max_per_row = std::max(kBins + 5 * u1_, features_ + 5 * u2_);
  if (max_per_row * 8 * 4 > 48 * 1024) {
    for (Kernel& k : lstm_r_)
      if (absl::Status st = k.SetMaxDynamicSharedBytes(
              std::max(48 * 1024, dev->max_shared_per_block_optin));
          !st.ok())
        return st;
  }

  // Weights.
  const Stream& s = *stream_;
  absl::StatusOr<runtime::DeviceFftPlan> fft = runtime::MakeFftPlan(*ctx_, s, kFrame);
  if (!fft.ok()) return fft.status();
  fft_ = *std::move(fft);
  const Networks::Stage* stages[2] = {&net->stage1, &net->stage2};
  for (int st = 0; st < 2; ++st) {
    for (int l = 0; l < 2; ++l) {
      absl::StatusOr<DeviceLstm> d = UploadLstm(*ctx_, s, stages[st]->lstm[l]);
      if (!d.ok()) return d.status();
      lstm_[st][l] = *std::move(d);
    }
    absl::StatusOr<runtime::DeviceDense> m = runtime::UploadDense(*ctx_, s, stages[st]->mask);
    if (!m.ok()) return m.status();
    mask_[st] = *std::move(m);
  }
  for (auto [p, d] : {std::pair{&net->encoder, &encoder_}, std::pair{&net->decoder, &decoder_}}) {
    absl::StatusOr<runtime::DeviceDense> dd = runtime::UploadDense(*ctx_, s, *p);
    if (!dd.ok()) return dd.status();
    *d = *std::move(dd);
  }
  for (const runtime::DeviceDense* d : {&mask_[0], &mask_[1], &encoder_, &decoder_})
    if (absl::Status st = ops_->SupportsDense(*d); !st.ok()) return st;
  for (auto [src, dst] : {std::pair{net->norm_gamma, &gamma_}, std::pair{net->norm_beta, &beta_}}) {
    absl::StatusOr<DeviceBlock> b = Alloc(features_, false);
    if (!b.ok()) return b.status();
    *dst = *std::move(b);
    if (absl::Status st = CopyUp(*ctx_, s, src, features_ * 4, dst, 0, "layer norm"); !st.ok())
      return st;
  }

  // Buffers.
  const size_t m = static_cast<size_t>(max_);
  struct Buf {
    DeviceBlock* b;
    size_t floats;
    bool wipe;
  };
  for (Buf b : {Buf{&in_buf_, m * kFrame, true}, Buf{&out_buf_, m * kFrame, true},
                Buf{&state_, m * sstride_, true}, Buf{&ctl_, 2 + 2 * m, false},
                Buf{&pcm_in_, m * kHop, true}, Buf{&pcm_out_, m * kHop, true},
                Buf{&frame_, m * kFrame, true}, Buf{&spec_, m * kSpecStride, true},
                Buf{&mag_, m * kBinStride, true}, Buf{&mask1_, m * kBinStride, true},
                Buf{&tframe_, m * kFrame, true}, Buf{&enc_, m * fstride_, true},
                Buf{&norm_, m * fstride_, true}, Buf{&mask2_, m * fstride_, true},
                Buf{&dec_in_, m * fstride_, true}, Buf{&yout_, m * kFrame, true},
                Buf{&st_a_, m * sstride_, true}, Buf{&st_b_, m * sstride_, true}}) {
    absl::StatusOr<DeviceBlock> d = Alloc(b.floats, b.wipe);
    if (!d.ok()) return d.status();
    *b.b = *std::move(d);
  }
  for (auto [p, bytes] : {std::pair{&pin_in_, m * kHop * 4}, std::pair{&pin_out_, m * kHop * 4},
                          std::pair{&pin_ctl_, (2 + 2 * m) * 4}}) {
    absl::StatusOr<runtime::PinnedBlock> pb =
        runtime::PinnedBlock::Allocate(*ctx_, bytes, runtime::HostMapping::kUnmapped,
                                       runtime::HostCaching::kDefault, runtime::Wipe::kOnFree);
    if (!pb.ok()) return pb.status();
    *p = *std::move(pb);
    std::memset(p->data(), 0, bytes);
  }
  if (absl::Status st = s.Synchronize(); !st.ok()) return st;

  // Graphs, one per bucket (profiling plans launch the stages directly instead).
  for (int b = 1; b < max_; b *= 2) buckets_.push_back(b);
  buckets_.push_back(max_);
  if (o.profile) {
    for (int i = 0; i < 9; ++i) {
      absl::StatusOr<runtime::Event> e = runtime::Event::Create(*ctx_, runtime::EventTiming::kEnabled);
      if (!e.ok()) return e.status();
      prof_.push_back(*std::move(e));
    }
    return absl::OkStatus();
  }
  for (int b : buckets_) {
    const bool split = b <= split_max_;
    absl::StatusOr<runtime::CapturedGraph> g = runtime::CaptureGraph(*ctx_, s, [&]() -> absl::Status {
      if (CUresult r = Enqueue(b, split); r != cu::kSuccess)
        return absl::InternalError(absl::StrCat("dtln cuda plan: recording bucket ", b, ": CUresult ", r));
      return absl::OkStatus();
    });
    if (!g.ok()) return g.status();
    graphs_.push_back(*std::move(g));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DtlnCudaPlan>> DtlnCudaPlan::Create(std::shared_ptr<const Model> model,
                                                                    const DtlnCudaPlanOptions& options) {
  if (model == nullptr) return absl::InvalidArgumentError("dtln cuda plan: no model");
  auto plan = std::make_unique<DtlnCudaPlanImpl>();
  if (absl::Status st = plan->Init(std::move(model), options); !st.ok()) return st;
  return std::unique_ptr<DtlnCudaPlan>(std::move(plan));
}

}  // namespace ghostnv::models::dtln
