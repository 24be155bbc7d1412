// models/dtln/cuda/dtln_cuda_plan.h — the whole DTLN pipeline on one GPU, one hop for many
// sessions at once.
//
// A DtlnCudaPlan holds everything models/dtln's ProcessHop needs on the device — the weights of
// both stages, and per slot (session) the last 512 input samples, the 512-sample overlap-add
// buffer and the LSTM states (h and c of the 2 + 2 layers) — plus pinned host rows for PCM in
// and out. Per hop only PCM crosses PCIe: 128 input samples per session go up; framing, the
// 512-point rFFT, magnitude, stage 1 (LSTM, LSTM, dense + sigmoid mask), mask × spectrum, iFFT,
// stage 2 (encoder, instant layer norm, LSTM, LSTM, dense + sigmoid mask, × encoded frame,
// decoder), overlap-add and the strength mix run on the device; 128 output samples come back.
// A slot's output equals the CPU family's ProcessHop output for the same input history up to
// fp32 rounding (dtln_cuda_plan_test.cc: >= 60 dB SNR of the difference, masks within 1e-4).
//
//   DtlnCudaPlanOptions o; o.max_sessions = 4096;
//   auto plan = DtlnCudaPlan::Create(model, o);          // setup: upload, compile, capture
//   int slot = *(*plan)->AcquireSlot();                  // setup
//   // per hop, on one thread:
//   std::copy(pcm128, pcm128 + 128, (*plan)->input_rows() + i * 128);
//   slots[i] = slot; strengths[i] = 1.f;
//   (*plan)->Submit(slots, strengths, n);                // asynchronous, one graph launch
//   (*plan)->Wait();                                     // or poll Query()
//   const float* out = (*plan)->output_rows() + i * 128;
//
// Threads: Create/AcquireSlot/ReleaseSlot/destructor are the setup path (allocate, block, return
// Status) and must not run while a hop is in flight. input_rows/Submit/Query/Wait/output_rows
// are the real-time path of ONE thread: no allocation, lock, log or Status; Submit makes the
// plan's context current on the calling thread. One hop in flight at a time: after Submit, the
// input rows may be rewritten and the output rows read only once Query() returned kSuccess or
// Wait() returned.
// Graphs: one CUDA graph per batch-size bucket (1, 2, 4, ..., max_sessions), captured at Create
// and replayed by Submit (H2D control block + input rows, 14 kernels, D2H output rows). Kernels
// run over the whole bucket; rows past n compute on zeros and are never written back. Batches
// up to `split_max_batch` use the small-batch LSTM kernel (kernels/dtln.cu, blocks split over
// units: latency), larger ones the row-tiled kernels/lstm.cu (weight reuse: throughput).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/ir.h"
#include "runtime/cuda_abi.h"
#include "runtime/telemetry_histogram.h"

namespace ghostnv::models::dtln {

namespace cu = ::ghostnv::runtime::cu;

struct DtlnCudaPlanOptions {
  std::string device = "cuda";  // "cuda", "cuda:N", "N" or a PCI bus id (runtime::FindDevice)
  int max_sessions = 1;         // slots; all buffers are sized for this at Create
  bool realtime = false;        // true: a stream of the greatest priority the device offers
  // Buckets of at most this many rows use the split LSTM kernel; -1 = automatic (16).
  // 0 = never (tests force each path with 0 and a large value).
  int split_max_batch = -1;
  std::string kernel_cache_dir;  // empty = runtime::CubinCache::DefaultDir()
  // Benchmarks: launch the stages directly (no graph) with timing events between them, so
  // StageTimesUs() can say where a hop's time goes (costs launch overhead at small batches).
  bool profile = false;
};

struct DtlnStageTime {
  const char* stage;  // "h2d", "frame", "fft", "stage1", "mask+ifft", "stage2", "ola", "d2h"
  float us;           // GPU time of the last hop's stage (-1 when unavailable)
};

// Intermediate rows a test may read back after a hop (row i of the last Submit).
enum class DtlnProbe {
  kMagnitude,   // 257 floats: |rFFT(frame)|
  kMask1,       // 257 floats: stage 1's mask
  kFrame,       // 512 floats: the masked frame after the iFFT (stage 2's input)
  kMask2,       // features floats: stage 2's mask
  kOutFrame,    // 512 floats: the decoder's output frame (before overlap-add)
};

class DtlnCudaPlan {
 public:
  // Family "dtln" (what models::dtln::BuildNetworks accepts). Errors: Unavailable (no driver,
  // device or NVRTC), InvalidArgument (model, options), ResourceExhausted, Internal.
  static absl::StatusOr<std::unique_ptr<DtlnCudaPlan>> Create(std::shared_ptr<const Model> model,
                                                              const DtlnCudaPlanOptions& options);
  virtual ~DtlnCudaPlan() = default;  // wipes every device buffer that held audio

  static constexpr int kHop = 128;
  int hop_size() const { return kHop; }
  virtual int max_sessions() const = 0;
  virtual std::string device_description() const = 0;

  // A new slot has zeroed state and buffers. ResourceExhausted when all slots are taken.
  virtual absl::StatusOr<int> AcquireSlot() = 0;
  // Zeroes the slot's device state and frees it (blocks). Invalid or free slots are ignored.
  virtual void ReleaseSlot(int slot) = 0;

  // Real-time path (see the banner). Rows are kHop floats apart, pinned, owned by the plan.
  virtual float* input_rows() = 0;
  virtual const float* output_rows() const = 0;
  // kErrorInvalidValue for bad arguments (n outside [0, max_sessions], a slot not acquired or
  // repeated); other results come from the driver (runtime::IsStickyError decides fallback).
  virtual cu::CUresult Submit(const int* slots, const float* strengths, int n) = 0;
  virtual cu::CUresult Query() const = 0;
  virtual cu::CUresult Wait() = 0;

  // Tests: copies row `row` of an intermediate of the last hop (after Wait) into out. Setup path.
  virtual absl::Status ReadProbe(DtlnProbe probe, int row, std::vector<float>* out) = 0;
  // The bucket (graph) Submit would use for n rows, and whether it uses the split LSTM.
  virtual int BucketFor(int n) const = 0;
  virtual bool UsesSplitLstm(int bucket) const = 0;
  // Profiling plans (options.profile): the stages of the last hop (after Wait); else empty.
  virtual std::vector<DtlnStageTime> StageTimesUs() const { return {}; }
  // Telemetry (issue 3; runtime/telemetry_hop_timer.h): every hop's h2d, kernels, d2h and
  // device time from timing events inside the replayed graph (or between the profiled stages),
  // read at the next Submit without waiting. Any thread may read the histograms.
  virtual const runtime::StageHistograms* stage_times() const { return nullptr; }
};

}  // namespace ghostnv::models::dtln
