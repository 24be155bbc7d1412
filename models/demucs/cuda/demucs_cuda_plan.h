// models/demucs/cuda/demucs_cuda_plan.h — causal Demucs streaming (models/demucs, the
// DemucsStreamer algorithm) on one GPU, one hop for many sessions at once.
//
// A DemucsCudaPlan holds the weights and, per slot (session), everything the CPU family's
// channel keeps between hops — the input window, the running variance, both resamplers'
// histories, the encoder levels' previous outputs, the transposed convolutions' partial sums and
// the LSTM states — plus pinned host rows for PCM. Per hop only PCM crosses PCIe: `hop` input
// samples per session go up; normalisation, upsampling, the encoder (reusing the previous
// frame's outputs), the LSTM stack, the decoder, downsampling and the strength mix run on the
// device (demucs_cuda_schedule.h lists the launches; kernels/demucs.cu and dtln.cu's
// small-batch LSTM); `hop` output samples come back. A slot's output equals the CPU family's
// ProcessHop output for the same input history up to fp32 rounding (demucs_cuda_plan_test.cc).
// Any model the CPU family streams (depth, channels, kernel = 2 * stride, resample 1/2/4, LSTM
// layers, hop, lookahead, sample rate) is supported.
//
//   DemucsCudaPlanOptions o; o.max_sessions = 256;
//   auto plan = DemucsCudaPlan::Create(model, o);          // setup: upload, compile, capture
//   int slot = *(*plan)->AcquireSlot();                    // setup
//   // per hop, on one thread:
//   std::copy(pcm, pcm + hop, (*plan)->input_rows() + i * hop);
//   slots[i] = slot; strengths[i] = 1.f;
//   (*plan)->Submit(slots, strengths, n);                  // asynchronous, one graph launch
//   (*plan)->Wait();
//   const float* out = (*plan)->output_rows() + i * hop;
//
// Threads: Create/AcquireSlot/ReleaseSlot/destructor are the setup path (allocate, block, return
// Status) and must not run while a hop is in flight. input_rows/Submit/Query/Wait/output_rows
// are the real-time path of ONE thread: no allocation, lock, log or Status. One hop in flight at
// a time. Graphs: one per batch bucket (1, 2, 4, ..., max_sessions), captured at Create.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/ir.h"
#include "runtime/cuda_abi.h"
#include "runtime/telemetry_histogram.h"

namespace ghostnv::models::demucs {

namespace cu = ::ghostnv::runtime::cu;

struct DemucsCudaPlanOptions {
  std::string device = "cuda";  // "cuda", "cuda:N", "N" or a PCI bus id
  int max_sessions = 1;         // slots (<= 65535); buffers are sized for this at Create
  bool realtime = false;        // a stream of the greatest priority
  // Buckets of at most this many rows use kernels/dtln.cu's split LSTM (latency), larger ones
  // dense launches (x·W + b, += h·R, weights reused over rows) and demucs_lstm_cell_f32
  // (throughput). -1 = automatic (16).
  int split_max_batch = -1;
  std::string kernel_cache_dir;  // empty = runtime::CubinCache::DefaultDir()
  // Benchmarks: launch the hop's nodes directly (no graph) with a timing event after each, so
  // NodeTimesUs() says where the time goes (adds launch overhead at small batches).
  bool profile = false;
};

struct DemucsNodeTime {
  std::string node;  // kernel name (or "h2d" / "d2h")
  float us;          // GPU time of the last hop's node
};

class DemucsCudaPlan {
 public:
  // Family "demucs". Errors: Unavailable (no driver/device/NVRTC), InvalidArgument (model,
  // options), ResourceExhausted, Internal.
  static absl::StatusOr<std::unique_ptr<DemucsCudaPlan>> Create(
      std::shared_ptr<const Model> model, const DemucsCudaPlanOptions& options);
  virtual ~DemucsCudaPlan() = default;

  virtual int hop_size() const = 0;
  virtual int max_sessions() const = 0;
  virtual std::string device_description() const = 0;

  virtual absl::StatusOr<int> AcquireSlot() = 0;  // zeroed state; ResourceExhausted when full
  virtual void ReleaseSlot(int slot) = 0;         // zeroes the slot's state (blocks)

  virtual float* input_rows() = 0;               // [max_sessions][hop], pinned
  virtual const float* output_rows() const = 0;  // [max_sessions][hop], pinned
  // kErrorInvalidValue for bad arguments (n outside [0, max_sessions], a slot not acquired or
  // repeated); else the driver's result of the graph launch.
  virtual cu::CUresult Submit(const int* slots, const float* strengths, int n) = 0;
  virtual cu::CUresult Query() const = 0;
  virtual cu::CUresult Wait() = 0;

  virtual int BucketFor(int n) const = 0;
  virtual bool UsesSplitLstm(int bucket) const = 0;
  // Kernel launches per hop of a bucket (graph nodes, copies included).
  virtual int NodesPerHop(int bucket) const = 0;
  // Profiling plans: per node of the last hop (after Wait); else empty.
  virtual std::vector<DemucsNodeTime> NodeTimesUs() const { return {}; }
  // Telemetry (issue 3; runtime/telemetry_hop_timer.h): every hop's h2d, kernels, d2h and
  // device time from timing events inside the replayed graph (or between the profiled nodes),
  // read at the next Submit without waiting. Any thread may read the histograms.
  virtual const runtime::StageHistograms* stage_times() const { return nullptr; }
};

}  // namespace ghostnv::models::demucs
