// runtime/gpu_ops.h — the CUDA kernels of kernels/*.cu, loaded for one device, with launchers.
//
// Three layers of names per op (see docs/gpu-runtime.md): the __global__ kernel in kernels/
// (e.g. gru_step_f32_r8), the launcher here (GpuOps::GruStep: picks the variant, grid, block and
// shared memory, returns the raw CUresult), and later the backend's dispatcher in runtime/sched/.
// Every op works on `batch` independent streams at once: row b of each operand belongs to
// stream b, rows are `*_stride` floats apart, so an op can read or write a slice of a wider
// per-stream buffer (e.g. a GRU input that is [dense out | vad state | features]).
//
//   absl::StatusOr<GpuOps> ops = GpuOps::Load(ctx, CubinCache(CubinCache::DefaultDir()));
//   absl::StatusOr<DeviceGru> gru = UploadGru(ctx, stream, cpu_params);   // weights to the device
//   if (!ops->SupportsGru(*gru).ok()) use the CPU;                        // shape limits, at setup
//   CUresult r = ops->GruStep(*gru, x, 114, state, 96, batch, stream);   // per tick, real time
//
// Launchers do not allocate, lock or build a Status: they return cu::kSuccess, the launch error,
// or cu::kErrorInvalidValue for arguments outside the op's limits (check Supports* at setup).
// Load compiles the programs (in parallel) through the kernel cache, loads them and fills each
// module's tansig table; it blocks. GpuOps must not outlive its Context.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/activations.h"
#include "kernels/dense.h"
#include "kernels/gru.h"
#include "runtime/context.h"
#include "runtime/cubin_cache.h"
#include "runtime/memory.h"
#include "runtime/module.h"
#include "runtime/stream.h"

namespace ghostnv::runtime {

// Layer weights resident on the device (the same input-major layouts as the CPU kernels).
struct DeviceDense {
  int inputs = 0, units = 0;
  kernels::Activation activation = kernels::Activation::kIdentity;
  kernels::MathMode math = kernels::MathMode::kExact;
  DeviceBlock weights, bias;  // bias empty when the layer has none
};
struct DeviceGru {
  int inputs = 0, units = 0;
  kernels::Activation activation = kernels::Activation::kTanh;
  kernels::MathMode math = kernels::MathMode::kExact;
  bool reset_after = false;
  DeviceBlock weights, recurrent, bias, recurrent_bias;  // biases empty when absent
  // For the small-batch (split) path: W and R column-major ([3u][inputs + units]) and a scratch
  // of GruSplitScratchFloats(units, kGruSplitMaxBatch) floats (see GpuOps::GruStep).
  DeviceBlock transposed, split_scratch;
};
// The split path serves batches up to this size; the automatic choice uses it up to
// kGruAutoSplitBatch (measured: docs/perf/gpu.md).
inline constexpr int kGruSplitMaxBatch = 64;
inline constexpr int kGruAutoSplitBatch = 32;
inline constexpr int kGruSplit = -1;  // rows_per_block value that forces the split path
constexpr size_t GruSplitScratchFloats(int units, int batch) {
  return 5 * static_cast<size_t>(units) * static_cast<size_t>(batch);
}
// Band edges for band_sums / interp_band_gains (e.g. RNNoise's 22 bands, in bins).
struct DeviceBands {
  int nbands = 0;
  DeviceBlock starts;  // int[nbands]
};
// A real FFT of size n: twiddles exp(-2 pi i t / n), t < n, and the radix plan of n/2.
struct DeviceFftPlan {
  int n = 0;
  uint64_t plan = 0;  // 4 bits per stage radix (2..5), lowest first
  DeviceBlock twiddles;
};

// Uploads (copy, then wait for it: setup only).
absl::StatusOr<DeviceDense> UploadDense(const Context& ctx, const Stream& stream,
                                        const kernels::DenseParams& p);
absl::StatusOr<DeviceGru> UploadGru(const Context& ctx, const Stream& stream,
                                    const kernels::GruParams& p);
absl::StatusOr<DeviceBands> UploadBands(const Context& ctx, const Stream& stream,
                                        const std::vector<int>& starts);
// n even, n/2 a product of 2, 3 and 5, n <= kMaxFftSize.
absl::StatusOr<DeviceFftPlan> MakeFftPlan(const Context& ctx, const Stream& stream, int n);
inline constexpr int kMaxFftSize = 6144;
// The stage radices of an m-point complex FFT (4s first, then 2, 3, 5), or empty if m has
// another prime factor. Exposed for tests.
std::vector<int> FftRadices(int m);

struct ProgramLoad {
  std::string program;  // "gru.cu"
  CacheOutcome cache = CacheOutcome::kDisabled;
  bool is_cubin = true;
  double build_ms = 0;  // NVRTC compile or cache read
  double load_ms = 0;   // cuModuleLoadData and setup
};

class GpuOps {
 public:
  static absl::StatusOr<GpuOps> Load(const Context& ctx, const CubinCache& cache,
                                     std::vector<ProgramLoad>* report = nullptr);

  GpuOps(GpuOps&&) = default;
  GpuOps& operator=(GpuOps&&) = default;

  // Shape checks (setup path). OK, or InvalidArgument saying which limit is exceeded.
  absl::Status SupportsDense(const DeviceDense& layer) const;
  absl::Status SupportsGru(const DeviceGru& layer) const;

  // y[b] = act(bias + x[b] · W). rows_per_block: 0 = automatic, else 1, 2, 4, 8 or 16.
  cu::CUresult Dense(const DeviceDense& layer, cu::CUdeviceptr x, int x_stride, cu::CUdeviceptr y,
                     int y_stride, int batch, const Stream& stream, int rows_per_block = 0) const;
  // One GRU step for each of `batch` streams, state[b] updated in place (must not overlap x).
  // rows_per_block: 0 = automatic; 1, 2, 4, 8, 16 = the row-tiled kernel with that many streams
  // per block; kGruSplit = the small-batch split path (two launches, batch <=
  // kGruSplitMaxBatch), which needs `split_scratch` (GruSplitScratchFloats(units, batch) floats
  // on the device); 0 there means the layer's own scratch, which makes concurrent GruStep calls
  // on the same layer (on different streams) unsafe — pass a scratch per stream for that.
  cu::CUresult GruStep(const DeviceGru& layer, cu::CUdeviceptr x, int x_stride,
                       cu::CUdeviceptr state, int state_stride, int batch, const Stream& stream,
                       int rows_per_block = 0, cu::CUdeviceptr split_scratch = 0) const;
  // In place, n contiguous floats.
  cu::CUresult Activate(kernels::Activation act, kernels::MathMode math, cu::CUdeviceptr x,
                        long long n, const Stream& stream) const;

  // Spectra are interleaved complex (n/2 + 1 bins); see kernels/fft.cu, bands.cu, xcorr.cu,
  // overlap_add.cu for the exact definitions.
  cu::CUresult RealFftForward(const DeviceFftPlan& plan, cu::CUdeviceptr x, int x_stride,
                              cu::CUdeviceptr X, int X_stride, int batch, const Stream& stream) const;
  cu::CUresult RealFftInverse(const DeviceFftPlan& plan, cu::CUdeviceptr X, int X_stride,
                              cu::CUdeviceptr y, int y_stride, int batch, const Stream& stream) const;
  // p == 0: band energies of X; else band correlations Re(X conj P) (P rows like X's).
  cu::CUresult BandSums(const DeviceBands& bands, cu::CUdeviceptr X, cu::CUdeviceptr p,
                        int X_stride, cu::CUdeviceptr out, int out_stride, int batch,
                        const Stream& stream) const;
  // gf (may be 0) receives the per-bin gains; X (may be 0) is multiplied by them in place.
  cu::CUresult InterpBandGains(const DeviceBands& bands, cu::CUdeviceptr g, int g_stride,
                               cu::CUdeviceptr gf, int gf_stride, cu::CUdeviceptr X, int X_stride,
                               int bins, int batch, const Stream& stream) const;
  cu::CUresult PitchXcorr(cu::CUdeviceptr x, int x_stride, cu::CUdeviceptr y, int y_stride,
                          cu::CUdeviceptr out, int out_stride, int len, int lags, int batch,
                          const Stream& stream) const;
  cu::CUresult FrameAnalysis(cu::CUdeviceptr in, int in_stride, cu::CUdeviceptr mem,
                             cu::CUdeviceptr window, cu::CUdeviceptr out, int out_stride, int hop,
                             int batch, const Stream& stream) const;
  cu::CUresult OverlapAdd(cu::CUdeviceptr y, int y_stride, cu::CUdeviceptr window, float divisor,
                          cu::CUdeviceptr mem, cu::CUdeviceptr out, int out_stride, int hop,
                          int batch, const Stream& stream) const;

  // The variant GruStep/Dense would pick (for benchmarks and tests).
  int AutoRowsPerBlock(int batch, int shared_floats_per_row) const;

 private:
  GpuOps() = default;
  static constexpr int kRowVariants = 5;  // 1, 2, 4, 8, 16
  std::vector<Module> modules_;
  Kernel dense_[kRowVariants], gru_[kRowVariants];
  Kernel gru_gates_split_, gru_update_split_;
  Kernel activate_, xcorr_, band_sums_, interp_gains_, frame_analysis_, overlap_add_, rfft_fwd_,
      rfft_inv_;
  int multiprocessors_ = 1;
  int max_shared_bytes_ = 48 * 1024;
};

}  // namespace ghostnv::runtime
