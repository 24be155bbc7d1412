// models/dfn3/cuda/dfn3_cuda_plan.h — the whole DeepFilterNet3 pipeline on one GPU, one hop for
// `batch` sessions (rows) at once.
//
// A Dfn3CudaPlan holds everything models/dfn3's ProcessHop needs on the device — the weights of
// the three networks, and per row the input history, the spectrum ring (5 frames), the running
// normalisation states, the feature windows, the five GRU states, the c0 ring of df_convp and
// the overlap-add buffer — plus pinned host rows for PCM in and out. Per hop only PCM crosses
// PCIe: 480 samples (+ strength) per row go up; STFT, features, encoder, ERB decoder, DF
// decoder, ERB gains, deep filtering, inverse STFT and overlap-add run on the device in one
// replayed CUDA graph (dfn3_cuda_hop.h lists its launches; the ERB and DF paths of the encoder,
// and the two decoders, are concurrent branches of the graph: a second stream forked and joined
// by events during capture); 480 samples (+ lsnr) come back.
// A row's output equals the CPU family's ProcessHop output for the same input up to fp32
// rounding (dfn3_cuda_plan_test.cc).
//
//   Dfn3CudaPlanOptions o; o.batch = 1;
//   auto plan = Dfn3CudaPlan::Create(model, o);         // setup: upload, compile, capture
//   // per hop, on one thread:
//   float* in = (*plan)->input_rows();                  // row r at r * kCudaIo
//   std::copy(pcm480, pcm480 + 480, in); in[480] = 1.f;  // samples, strength
//   (*plan)->Submit();                                  // asynchronous, one graph launch
//   (*plan)->Wait();
//   const float* out = (*plan)->output_rows();          // 480 samples, then lsnr (dB)
//
// Threads: Create/ResetRow/ReadArena/destructor are the setup path; input_rows/Submit/Query/
// Wait/output_rows are the real-time path of ONE thread (no allocation, lock, log or Status).
// One hop in flight at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/dfn3/cuda/dfn3_cuda_hop.h"
#include "models/ir.h"
#include "runtime/cuda_abi.h"
#include "runtime/telemetry_histogram.h"

namespace ghostnv::models::dfn3 {

namespace cu = ::ghostnv::runtime::cu;

struct Dfn3CudaPlanOptions {
  std::string device = "cuda";  // "cuda", "cuda:N", "N" or a PCI bus id
  int batch = 1;                // rows per hop (sessions)
  bool realtime = false;        // true: a stream of the greatest priority
  bool use_graph = true;        // false: launch the kernels directly each hop (debugging)
  bool concurrent_branches = true;  // false: one stream, the graph is a chain (benchmarks)
  std::string kernel_cache_dir;
};

class Dfn3CudaPlan {
 public:
  static absl::StatusOr<std::unique_ptr<Dfn3CudaPlan>> Create(std::shared_ptr<const Model> model,
                                                              const Dfn3CudaPlanOptions& options);
  virtual ~Dfn3CudaPlan() = default;

  virtual int batch() const = 0;
  virtual std::string device_description() const = 0;
  virtual const Dfn3Layout& layout() const = 0;

  // Pinned rows of kCudaIo floats: in = 480 samples, strength, run flag (1 after Create; a row
  // with flag 0 keeps its state this hop and outputs zeros); out = 480 samples + lsnr (dB).
  virtual float* input_rows() = 0;
  virtual const float* output_rows() const = 0;
  virtual cu::CUresult Submit() = 0;
  virtual cu::CUresult Query() const = 0;
  virtual cu::CUresult Wait() = 0;

  // Setup path: zeroes a row's state (as a new session); reads floats of a row's arena (tests).
  virtual absl::Status ResetRow(int row) = 0;
  virtual absl::Status ReadArena(int row, int offset, int count, std::vector<float>* out) = 0;
  // Telemetry (issue 3; runtime/telemetry_hop_timer.h): every hop's h2d, kernels, d2h and
  // device time from timing events inside the replayed graph (or around the direct launches),
  // read at the next Submit without waiting. Any thread may read the histograms.
  virtual const runtime::StageHistograms* stage_times() const { return nullptr; }
};

}  // namespace ghostnv::models::dfn3
