// runtime/gpu_ops.cc — loading the kernel programs and launching them.
#include "runtime/gpu_ops.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/kernel_build.h"
#include "runtime/kernel_sources.h"

namespace ghostnv::runtime {
namespace {

using cu::CUdeviceptr;
using cu::CUresult;

// The kernels take the enums' numeric values (kernels/gpu_common.cuh).
static_assert(static_cast<int>(kernels::Activation::kIdentity) == 0 &&
              static_cast<int>(kernels::Activation::kTanh) == 1 &&
              static_cast<int>(kernels::Activation::kSigmoid) == 2 &&
              static_cast<int>(kernels::Activation::kRelu) == 3);
static_assert(static_cast<int>(kernels::MathMode::kExact) == 0 &&
              static_cast<int>(kernels::MathMode::kRnnoiseApprox) == 1);

constexpr int kRows[] = {1, 2, 4, 8, 16};
constexpr const char* kPrograms[] = {"activations.cu", "dense.cu", "gru.cu", "xcorr.cu",
                                     "bands.cu", "overlap_add.cu", "fft.cu"};

int RoundUp32(int n) { return (n + 31) / 32 * 32; }

// Dynamic shared memory for `bytes` of tiles, padded: the compiler may read a tile's last floats
// with one 16-byte vector load (speculatively, even when the loop runs zero times), which stays
// inside the block's window in hardware but is out of bounds for compute-sanitizer.
long long SharedBytes(long long bytes) { return (bytes + 15) / 16 * 16 + 16; }
unsigned Blocks(long long work, int per_block) {
  return static_cast<unsigned>((work + per_block - 1) / per_block);
}

absl::Status Upload(const Context& ctx, const Stream& stream, const void* src, size_t bytes,
                    DeviceBlock* out, const char* what) {
  if (bytes == 0) {
    *out = DeviceBlock();
    return absl::OkStatus();
  }
  absl::StatusOr<DeviceBlock> b = DeviceBlock::Allocate(ctx, bytes);
  if (!b.ok()) return b.status();
  if (CUresult r = b->CopyFromHostAsync(src, bytes, stream); r != cu::kSuccess)
    return CuError(ctx.api(), r, "cuMemcpyHtoDAsync", absl::StrCat("uploading ", what));
  if (absl::Status st = stream.Synchronize(); !st.ok()) return st;
  *out = *std::move(b);
  return absl::OkStatus();
}

int VariantIndex(int rows) {
  for (int i = 0; i < 5; ++i)
    if (kRows[i] == rows) return i;
  return -1;
}

}  // namespace

absl::StatusOr<DeviceDense> UploadDense(const Context& ctx, const Stream& stream,
                                        const kernels::DenseParams& p) {
  if (p.inputs < 0 || p.units < 0 || (p.inputs > 0 && p.units > 0 && p.weights == nullptr))
    return absl::InvalidArgumentError("dense layer: bad shape or missing weights");
  DeviceDense d;
  d.inputs = p.inputs;
  d.units = p.units;
  d.activation = p.activation;
  d.math = p.math;
  const size_t n = static_cast<size_t>(p.inputs) * p.units;
  if (absl::Status st = Upload(ctx, stream, p.weights, n * 4, &d.weights, "dense weights"); !st.ok())
    return st;
  if (p.bias != nullptr) {
    if (absl::Status st = Upload(ctx, stream, p.bias, p.units * 4, &d.bias, "dense bias"); !st.ok())
      return st;
  }
  return d;
}

absl::StatusOr<DeviceGru> UploadGru(const Context& ctx, const Stream& stream,
                                    const kernels::GruParams& p) {
  if (p.inputs < 0 || p.units < 0 || (p.units > 0 && p.recurrent == nullptr) ||
      (p.inputs > 0 && p.units > 0 && p.weights == nullptr))
    return absl::InvalidArgumentError("gru layer: bad shape or missing weights");
  DeviceGru g;
  g.inputs = p.inputs;
  g.units = p.units;
  g.activation = p.activation;
  g.math = p.math;
  g.reset_after = p.reset_after;
  const size_t n3 = 3 * static_cast<size_t>(p.units);
  struct {
    const float* src;
    size_t floats;
    DeviceBlock* dst;
    const char* what;
  } parts[] = {{p.weights, static_cast<size_t>(p.inputs) * n3, &g.weights, "gru weights"},
               {p.recurrent, static_cast<size_t>(p.units) * n3, &g.recurrent, "gru recurrent weights"},
               {p.bias, p.bias != nullptr ? n3 : 0, &g.bias, "gru bias"},
               {p.recurrent_bias, p.recurrent_bias != nullptr ? n3 : 0, &g.recurrent_bias,
                "gru recurrent bias"}};
  for (auto& part : parts) {
    if (absl::Status st = Upload(ctx, stream, part.src, part.floats * 4, part.dst, part.what); !st.ok())
      return st;
  }
  // Column-major copy for the split path: row c = W[:, c] then R[:, c].
  const size_t k = static_cast<size_t>(p.inputs) + p.units;
  std::vector<float> wt(n3 * k);
  for (size_t c = 0; c < n3; ++c) {
    for (size_t j = 0; j < static_cast<size_t>(p.inputs); ++j) wt[c * k + j] = p.weights[j * n3 + c];
    for (size_t q = 0; q < static_cast<size_t>(p.units); ++q) wt[c * k + p.inputs + q] = p.recurrent[q * n3 + c];
  }
  if (absl::Status st = Upload(ctx, stream, wt.data(), wt.size() * 4, &g.transposed, "gru transposed weights");
      !st.ok())
    return st;
  if (p.units > 0) {
    absl::StatusOr<DeviceBlock> scratch =
        DeviceBlock::Allocate(ctx, GruSplitScratchFloats(p.units, kGruSplitMaxBatch) * sizeof(float));
    if (!scratch.ok()) return scratch.status();
    g.split_scratch = *std::move(scratch);
  }
  return g;
}

absl::StatusOr<DeviceBands> UploadBands(const Context& ctx, const Stream& stream,
                                        const std::vector<int>& starts) {
  if (starts.size() < 2) return absl::InvalidArgumentError("bands: need at least 2 band starts");
  for (size_t i = 1; i < starts.size(); ++i)
    if (starts[i] <= starts[i - 1] || starts[0] < 0)
      return absl::InvalidArgumentError("bands: starts must be increasing and >= 0");
  DeviceBands b;
  b.nbands = static_cast<int>(starts.size());
  if (absl::Status st = Upload(ctx, stream, starts.data(), starts.size() * sizeof(int), &b.starts,
                               "band starts");
      !st.ok())
    return st;
  return b;
}

std::vector<int> FftRadices(int m) {
  std::vector<int> r;
  if (m < 1) return r;
  while (m % 4 == 0) {
    r.push_back(4);
    m /= 4;
  }
  for (int p : {2, 3, 5}) {
    while (m % p == 0) {
      r.push_back(p);
      m /= p;
    }
  }
  if (m != 1) r.clear();
  return r;
}

absl::StatusOr<DeviceFftPlan> MakeFftPlan(const Context& ctx, const Stream& stream, int n) {
  if (n < 2 || n % 2 != 0 || n > kMaxFftSize)
    return absl::InvalidArgumentError(absl::StrCat("real FFT size ", n, " must be even and <= ", kMaxFftSize));
  const std::vector<int> radices = FftRadices(n / 2);
  if (radices.empty() && n / 2 != 1)
    return absl::InvalidArgumentError(absl::StrCat("real FFT size ", n, ": n/2 must factor into 2, 3 and 5"));
  if (radices.size() > 16) return absl::InvalidArgumentError("real FFT: too many stages");
  DeviceFftPlan p;
  p.n = n;
  for (size_t i = 0; i < radices.size(); ++i) p.plan |= static_cast<uint64_t>(radices[i]) << (4 * i);
  std::vector<float> tw(2 * static_cast<size_t>(n));
  for (int t = 0; t < n; ++t) {
    const double a = -2.0 * M_PI * t / n;
    tw[2 * t] = static_cast<float>(std::cos(a));
    tw[2 * t + 1] = static_cast<float>(std::sin(a));
  }
  if (absl::Status st = Upload(ctx, stream, tw.data(), tw.size() * 4, &p.twiddles, "FFT twiddles"); !st.ok())
    return st;
  return p;
}

absl::StatusOr<GpuOps> GpuOps::Load(const Context& ctx, const CubinCache& cache,
                                    std::vector<ProgramLoad>* report) {
  const int arch = ctx.device().Arch();
  // Compile (or read from the cache) every program concurrently; NVRTC programs are independent.
  std::vector<std::future<absl::StatusOr<BuiltKernel>>> builds;
  for (const char* name : kPrograms) {
    const KernelSource* src = FindKernelProgram(name);
    if (src == nullptr) return absl::InternalError(absl::StrCat("kernel program ", name, " is not embedded"));
    builds.push_back(std::async(std::launch::async, [src, arch, &cache] {
      return BuildKernelProgram(*src, arch, cache);
    }));
  }
  std::vector<absl::StatusOr<BuiltKernel>> built;
  for (auto& f : builds) built.push_back(f.get());

  absl::StatusOr<Stream> stream = Stream::Create(ctx, StreamPriority::kBatch);
  if (!stream.ok()) return stream.status();
  GpuOps ops;
  ops.multiprocessors_ = std::max(1, ctx.device().multiprocessors);
  ops.max_shared_bytes_ = std::max(48 * 1024, ctx.device().max_shared_per_block_optin);
  const float* table = kernels::TansigTable();
  for (size_t i = 0; i < built.size(); ++i) {
    if (!built[i].ok()) return built[i].status();
    const auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<Module> m = Module::Load(ctx, built[i]->image, kPrograms[i]);
    if (!m.ok()) return m.status();
    size_t bytes = 0;
    absl::StatusOr<CUdeviceptr> tab = m->GetGlobal("ghostnv_tansig_table", &bytes);
    if (tab.ok()) {
      if (bytes != kernels::kTansigTableSize * sizeof(float))
        return absl::InternalError(absl::StrCat(kPrograms[i], ": tansig table has ", bytes, " bytes"));
      if (CUresult r = ctx.api().MemcpyHtoDAsync(*tab, table, bytes, stream->get()); r != cu::kSuccess)
        return CuError(ctx.api(), r, "cuMemcpyHtoDAsync", absl::StrCat("filling the tansig table of ", kPrograms[i]));
      if (absl::Status st = stream->Synchronize(); !st.ok()) return st;
    }
    if (report != nullptr) {
      report->push_back({kPrograms[i], built[i]->cache, built[i]->is_cubin, built[i]->milliseconds,
                         std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()});
    }
    ops.modules_.push_back(*std::move(m));
  }

  auto get = [&](size_t module, const char* name, Kernel* out) -> absl::Status {
    absl::StatusOr<Kernel> k = ops.modules_[module].GetKernel(name);
    if (!k.ok()) return k.status();
    *out = *k;
    return absl::OkStatus();
  };
  for (int v = 0; v < kRowVariants; ++v) {
    for (auto [module, prefix, dst] : {std::tuple<size_t, const char*, Kernel*>{1, "dense_f32_r", &ops.dense_[v]},
                                       {2, "gru_step_f32_r", &ops.gru_[v]}}) {
      if (absl::Status st = get(module, absl::StrCat(prefix, kRows[v]).c_str(), dst); !st.ok()) return st;
      const int static_bytes = std::max(0, dst->Attribute(cu::kFuncAttrSharedSizeBytes));
      if (absl::Status st = dst->SetMaxDynamicSharedBytes(ops.max_shared_bytes_ - static_bytes); !st.ok())
        return st;
    }
  }
  for (auto [module, name, dst] : {std::tuple<size_t, const char*, Kernel*>{0, "activate_f32", &ops.activate_},
                                   {2, "gru_gates_split_f32", &ops.gru_gates_split_},
                                   {2, "gru_update_split_f32", &ops.gru_update_split_},
                                   {3, "pitch_xcorr_f32", &ops.xcorr_},
                                   {4, "band_sums_f32", &ops.band_sums_},
                                   {4, "interp_band_gains_f32", &ops.interp_gains_},
                                   {5, "frame_analysis_f32", &ops.frame_analysis_},
                                   {5, "overlap_add_f32", &ops.overlap_add_},
                                   {6, "rfft_forward_f32", &ops.rfft_fwd_},
                                   {6, "rfft_inverse_f32", &ops.rfft_inv_}}) {
    if (absl::Status st = get(module, name, dst); !st.ok()) return st;
  }
  for (const Kernel* k : {&ops.xcorr_, &ops.gru_gates_split_, &ops.gru_update_split_}) {
    if (absl::Status st = k->SetMaxDynamicSharedBytes(ops.max_shared_bytes_); !st.ok()) return st;
  }
  return ops;
}

absl::Status GpuOps::SupportsDense(const DeviceDense& l) const {
  if (l.inputs < 0 || l.units < 0) return absl::InvalidArgumentError("dense: negative size");
  if (SharedBytes(static_cast<long long>(l.inputs) * 4) > max_shared_bytes_)
    return absl::InvalidArgumentError(absl::StrCat("dense: ", l.inputs, " inputs exceed the shared-memory limit"));
  return absl::OkStatus();
}

absl::Status GpuOps::SupportsGru(const DeviceGru& l) const {
  if (l.inputs < 0 || l.units < 0) return absl::InvalidArgumentError("gru: negative size");
  const long long floats = static_cast<long long>(l.inputs) + 5LL * l.units;  // R = 1
  if (SharedBytes(floats * 4) > max_shared_bytes_)
    return absl::InvalidArgumentError(absl::StrCat("gru: ", l.inputs, " inputs + ", l.units,
                                                   " units exceed the shared-memory limit"));
  return absl::OkStatus();
}

int GpuOps::AutoRowsPerBlock(int batch, int shared_floats_per_row) const {
  // The most rows per block (weight reuse), up to 8, that still gives every multiprocessor a
  // block and fits in shared memory; small batches get one row per block (latency). Measured on
  // an H200 (docs/perf/gpu.md, rows sweep): 16 rows never beat 8 (occupancy), 32 lost by 1.6x.
  constexpr int kMaxAutoVariant = 3;  // kRows[3] == 8
  for (int v = kMaxAutoVariant; v > 0; --v) {
    const int rows = kRows[v];
    if (SharedBytes(static_cast<long long>(shared_floats_per_row) * rows * 4) > max_shared_bytes_) continue;
    if ((batch + rows - 1) / rows >= multiprocessors_) return rows;
  }
  return 1;
}

CUresult GpuOps::Dense(const DeviceDense& l, CUdeviceptr x, int x_stride, CUdeviceptr y,
                       int y_stride, int batch, const Stream& stream, int rows_per_block) const {
  if (batch < 0 || l.inputs < 0 || l.units < 0) return cu::kErrorInvalidValue;
  if (batch == 0 || l.units == 0) return cu::kSuccess;
  const int rows = rows_per_block > 0 ? rows_per_block : AutoRowsPerBlock(batch, l.inputs);
  const int v = VariantIndex(rows);
  const long long shared = SharedBytes(static_cast<long long>(l.inputs) * rows * 4);
  if (v < 0 || shared > max_shared_bytes_) return cu::kErrorInvalidValue;
  CUdeviceptr w = l.weights.ptr(), b = l.bias.ptr();
  int inputs = l.inputs, units = l.units, act = static_cast<int>(l.activation),
      math = static_cast<int>(l.math);
  void* args[] = {&w, &b, &inputs, &units, &act, &math, &x, &x_stride, &y, &y_stride, &batch};
  return dense_[v].Launch({Blocks(batch, rows)}, {static_cast<unsigned>(std::min(RoundUp32(units), 256))},
                          static_cast<unsigned>(shared), stream, args);
}

CUresult GpuOps::GruStep(const DeviceGru& l, CUdeviceptr x, int x_stride, CUdeviceptr state,
                         int state_stride, int batch, const Stream& stream, int rows_per_block,
                         CUdeviceptr split_scratch) const {
  if (batch < 0 || l.inputs < 0 || l.units < 0) return cu::kErrorInvalidValue;
  if (batch == 0 || l.units == 0) return cu::kSuccess;
  if (rows_per_block == kGruSplit || (rows_per_block == 0 && batch <= kGruAutoSplitBatch)) {
    if (batch > kGruSplitMaxBatch || l.transposed.ptr() == 0) return cu::kErrorInvalidValue;
    CUdeviceptr wt = l.transposed.ptr(), b = l.bias.ptr(), rb = l.recurrent_bias.ptr();
    CUdeviceptr scratch = split_scratch != 0 ? split_scratch : l.split_scratch.ptr();
    int inputs = l.inputs, units = l.units, act = static_cast<int>(l.activation),
        math = static_cast<int>(l.math), reset_after = l.reset_after ? 1 : 0;
    constexpr unsigned kWarps = 8;
    void* gates[] = {&wt, &b, &rb, &inputs, &units, &math, &reset_after, &x, &x_stride, &state,
                     &state_stride, &scratch, &batch};
    const CUresult r = gru_gates_split_.Launch(
        {Blocks(3LL * units, kWarps), static_cast<unsigned>(batch)}, {32 * kWarps},
        static_cast<unsigned>(SharedBytes((inputs + units) * 4LL)), stream, gates);
    if (r != cu::kSuccess) return r;
    void* update[] = {&wt, &inputs, &units, &act, &math, &reset_after, &scratch, &state,
                      &state_stride, &batch};
    return gru_update_split_.Launch({Blocks(units, kWarps), static_cast<unsigned>(batch)},
                                    {32 * kWarps}, static_cast<unsigned>(SharedBytes(units * 4LL)), stream,
                                    update);
  }
  const int per_row = l.inputs + 5 * l.units;  // kernels/gru.cu's shared tiles
  const int rows = rows_per_block > 0 ? rows_per_block : AutoRowsPerBlock(batch, per_row);
  const int v = VariantIndex(rows);
  const long long shared = SharedBytes(static_cast<long long>(per_row) * rows * 4);
  if (v < 0 || shared > max_shared_bytes_) return cu::kErrorInvalidValue;
  CUdeviceptr w = l.weights.ptr(), rw = l.recurrent.ptr(), b = l.bias.ptr(), rb = l.recurrent_bias.ptr();
  int inputs = l.inputs, units = l.units, act = static_cast<int>(l.activation),
      math = static_cast<int>(l.math), reset_after = l.reset_after ? 1 : 0;
  void* args[] = {&w, &rw, &b, &rb, &inputs, &units, &act, &math, &reset_after, &x, &x_stride,
                  &state, &state_stride, &batch};
  return gru_[v].Launch({Blocks(batch, rows)}, {static_cast<unsigned>(std::min(RoundUp32(3 * units), 384))},
                        static_cast<unsigned>(shared), stream, args);
}

CUresult GpuOps::Activate(kernels::Activation act, kernels::MathMode math, CUdeviceptr x,
                          long long n, const Stream& stream) const {
  if (n < 0) return cu::kErrorInvalidValue;
  if (n == 0) return cu::kSuccess;
  int a = static_cast<int>(act), m = static_cast<int>(math);
  void* args[] = {&x, &n, &a, &m};
  const unsigned grid = static_cast<unsigned>(std::min<long long>(Blocks(n, 256), 32LL * multiprocessors_));
  return activate_.Launch({grid}, {256}, 0, stream, args);
}

CUresult GpuOps::RealFftForward(const DeviceFftPlan& plan, CUdeviceptr x, int x_stride,
                                CUdeviceptr X, int X_stride, int batch, const Stream& stream) const {
  if (batch < 0 || plan.n < 2) return cu::kErrorInvalidValue;
  if (batch == 0) return cu::kSuccess;
  CUdeviceptr tw = plan.twiddles.ptr();
  int n = plan.n;
  unsigned long long p = plan.plan;
  void* args[] = {&x, &x_stride, &X, &X_stride, &tw, &n, &p, &batch};
  const unsigned grid = static_cast<unsigned>(std::min(batch, 16 * multiprocessors_));
  return rfft_fwd_.Launch({grid}, {128}, static_cast<unsigned>(n * 8), stream, args);
}

CUresult GpuOps::RealFftInverse(const DeviceFftPlan& plan, CUdeviceptr X, int X_stride,
                                CUdeviceptr y, int y_stride, int batch, const Stream& stream) const {
  if (batch < 0 || plan.n < 2) return cu::kErrorInvalidValue;
  if (batch == 0) return cu::kSuccess;
  CUdeviceptr tw = plan.twiddles.ptr();
  int n = plan.n;
  unsigned long long p = plan.plan;
  void* args[] = {&X, &X_stride, &y, &y_stride, &tw, &n, &p, &batch};
  const unsigned grid = static_cast<unsigned>(std::min(batch, 16 * multiprocessors_));
  return rfft_inv_.Launch({grid}, {128}, static_cast<unsigned>(n * 8), stream, args);
}

CUresult GpuOps::BandSums(const DeviceBands& bands, CUdeviceptr X, CUdeviceptr p, int X_stride,
                          CUdeviceptr out, int out_stride, int batch, const Stream& stream) const {
  if (batch < 0 || bands.nbands < 2) return cu::kErrorInvalidValue;
  if (batch == 0) return cu::kSuccess;
  CUdeviceptr starts = bands.starts.ptr();
  int nb = bands.nbands;
  void* args[] = {&X, &p, &X_stride, &starts, &nb, &out, &out_stride, &batch};
  return band_sums_.Launch({Blocks(static_cast<long long>(batch) * nb, 128)}, {128}, 0, stream, args);
}

CUresult GpuOps::InterpBandGains(const DeviceBands& bands, CUdeviceptr g, int g_stride,
                                 CUdeviceptr gf, int gf_stride, CUdeviceptr X, int X_stride,
                                 int bins, int batch, const Stream& stream) const {
  if (batch < 0 || bins < 0 || bands.nbands < 2) return cu::kErrorInvalidValue;
  if (batch == 0 || bins == 0) return cu::kSuccess;
  CUdeviceptr starts = bands.starts.ptr();
  int nb = bands.nbands;
  void* args[] = {&g, &g_stride, &starts, &nb, &gf, &gf_stride, &X, &X_stride, &bins, &batch};
  return interp_gains_.Launch({Blocks(static_cast<long long>(batch) * bins, 256)}, {256}, 0, stream, args);
}

CUresult GpuOps::PitchXcorr(CUdeviceptr x, int x_stride, CUdeviceptr y, int y_stride,
                            CUdeviceptr out, int out_stride, int len, int lags, int batch,
                            const Stream& stream) const {
  if (batch < 0 || len < 0 || lags < 0 || SharedBytes(static_cast<long long>(len) * 4) > max_shared_bytes_)
    return cu::kErrorInvalidValue;
  if (batch == 0 || lags == 0) return cu::kSuccess;
  void* args[] = {&x, &x_stride, &y, &y_stride, &out, &out_stride, &len, &lags, &batch};
  const unsigned gy = static_cast<unsigned>(std::min(batch, 65535));
  return xcorr_.Launch({Blocks(lags, 128), gy}, {128}, static_cast<unsigned>(SharedBytes(len * 4LL)), stream,
                       args);
}

CUresult GpuOps::FrameAnalysis(CUdeviceptr in, int in_stride, CUdeviceptr mem, CUdeviceptr window,
                               CUdeviceptr out, int out_stride, int hop, int batch,
                               const Stream& stream) const {
  if (batch < 0 || hop < 0) return cu::kErrorInvalidValue;
  if (batch == 0 || hop == 0) return cu::kSuccess;
  void* args[] = {&in, &in_stride, &mem, &window, &out, &out_stride, &hop, &batch};
  const unsigned grid = static_cast<unsigned>(std::min(batch, 64 * multiprocessors_));
  return frame_analysis_.Launch({grid}, {256}, 0, stream, args);
}

CUresult GpuOps::OverlapAdd(CUdeviceptr y, int y_stride, CUdeviceptr window, float divisor,
                            CUdeviceptr mem, CUdeviceptr out, int out_stride, int hop, int batch,
                            const Stream& stream) const {
  if (batch < 0 || hop < 0) return cu::kErrorInvalidValue;
  if (batch == 0 || hop == 0) return cu::kSuccess;
  void* args[] = {&y, &y_stride, &window, &divisor, &mem, &out, &out_stride, &hop, &batch};
  return overlap_add_.Launch({Blocks(static_cast<long long>(batch) * hop, 256)}, {256}, 0, stream, args);
}

}  // namespace ghostnv::runtime
