// runtime/sched/cuda_plan.h — one RNNoise-family model on one GPU, one hop for many sessions.
//
// A CudaPlan holds everything the whole RNNoise pipeline needs on the device — weights, the
// per-slot state (high-pass filter, analysis/pitch/cepstral history, GRU states, last gains,
// overlap-add tail, dry history) — and pinned host rows for PCM in and out. Per hop only PCM
// crosses PCIe: input rows go up, the frontend (high-pass, FFT, bands, pitch search, features),
// the network and the postprocess (pitch filter, gain smoothing, per-bin gains, iFFT,
// overlap-add, strength mix) run on the device, output rows come back. The output of a slot
// equals models/rnnoise's ProcessHop output for the same input history (fp32, ≥ 60 dB SNR of
// the difference; see cuda_plan_test.cc).
//
//   CudaPlanOptions o; o.max_sessions = 64;
//   absl::StatusOr<std::unique_ptr<CudaPlan>> plan = CudaPlan::Create(model, o);   // setup
//   int slot = *(*plan)->AcquireSlot();                                             // setup
//   // per tick, on the scheduler thread:
//   std::copy(pcm480, pcm480 + 480, (*plan)->input_rows() + i * (*plan)->hop_size());
//   slots[i] = slot; strengths[i] = 1.f;
//   if (CUresult r = (*plan)->Submit(slots, strengths, n); r != cu::kSuccess) fall back;
//   ... (*plan)->Query() == cu::kSuccess, or (*plan)->Wait() ...
//   const float* out = (*plan)->output_rows() + i * (*plan)->hop_size();
//   bool silent = (*plan)->info()[i].silent;
//
// Threads: Create/AcquireSlot/ReleaseSlot/destructor are the setup path (may allocate, block,
// return Status) and must not run concurrently with each other or with a hop in flight.
// input_rows/Submit/Query/Wait/output_rows/info are the real-time path for ONE thread (the
// scheduler's): no allocation, lock, log or Status. Submit makes the plan's context current on
// the calling thread. Only one hop may be in flight: after Submit, input rows may be rewritten
// and output rows/info read only once Query() returned success or Wait() returned.
// Latency: Submit is asynchronous (one graph launch: H2D copy of the control block and the
// bucket's input rows, the kernels, D2H copy of info and output rows; then an event). A plan
// created with realtime=true runs on a stream of the greatest priority the device offers;
// batches of every size use a CUDA graph captured at Create per batch-size bucket (1, 2, 4, ...,
// and max_sessions itself) and replayed: the kernels are sized for the bucket and skip rows past
// n by a count read on the device, so no re-capture ever happens. Measured numbers and the
// design: docs/gpu-pipeline.md.
//
// For tests of code above this (runtime/sched's CUDA backend), CudaPlan is an interface: a fake
// may derive from it. CudaPlan::Create returns the real implementation.
//
// Interface changes are announced here: 2026-11-28 17:00 CudaPlanOptions::pcm16 and
// input_rows16()/output_rows16() (16-bit PCM rows; non-pure virtuals, fakes need no change).
// 2026-11-28 19:00 CudaPlanOptions::batch_chunks (copy/compute overlap inside a hop; no change
// to the calling contract). 2026-11-29 01:40 stage_times() (telemetry: per-stage histograms;
// non-pure virtual returning nullptr, fakes need no change). 2026-11-29 session 8
// CudaPlanOptions::fused_spectra (default on; no change to the calling contract).
// 2026-11-29 session 12 CudaPlanOptions::frontend_order (FrontendOrder; default kCpu = as before)
// and RnnoiseKernels::Frontend's relaxed argument.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "models/ir.h"
#include "runtime/cuda_abi.h"
#include "runtime/telemetry_histogram.h"

namespace ghostnv::sched {

namespace cu = ::ghostnv::runtime::cu;  // CUresult, kSuccess, kErrorNotReady...

// Arithmetic of the network stage (gpu-tc, 2026-11-28): kFp32 = the fp32 GpuOps kernels (dense,
// GRU; ~135 dB vs the CPU); kFp16 = one fused tensor-core kernel (runtime/sched/network_tc.h:
// fp16 weights/activations, fp32 accumulation and state; >= 35 dB vs the CPU, measured 67.5 dB
// worst session end to end on the H200; 1.8-3.5x PyTorch's graph replay of the network, docs/perf/gpu.md);
// kFp16x3 (gpuspec2, 2026-11-29) = the same kernel with fp32-grade operands (each fp16 operand a
// hi + lo pair, three mma per product: TcNetwork's split variants): H200, 64k rows, network stage
// 472 vs 718 us (fp32), worst session 126.9 dB vs the CPU end to end; slower than kFp32 below
// ~16 rows (docs/perf/gpu.md, Session 10).
// kAuto (the default, session 10) = kFp16x3 for plans of >= kAutoTcMinSessions sessions (the
// batched mode: H200, 64k rows of 16-bit PCM, same run: hop 4656 -> 4486 us, streams in real time
// 137,984 -> 149,248), else kFp32 (batch 1 and small batches, where the split kernel is not
// faster). Other families' plans treat kAuto as kFp32.
enum class NetworkPrecision { kFp32, kFp16, kFp16x3, kAuto };
inline constexpr int kAutoTcMinSessions = 4096;
// The precision a plan of max_sessions slots runs: `requested`, with kAuto resolved.
inline NetworkPrecision ResolveNetworkPrecision(NetworkPrecision requested, int max_sessions) {
  if (requested != NetworkPrecision::kAuto) return requested;
  return max_sessions >= kAutoTcMinSessions ? NetworkPrecision::kFp16x3 : NetworkPrecision::kFp32;
}

// Order of the frontend's float sums (gpurelax, session 12). kCpu = rnn_frontend_*: the CPU's
// operations in the CPU's order, so the pitch decisions are the CPU path's bit for bit (serial
// one-lane chains: the high-pass, the autocorrelation, the energy tracks). kRelaxed =
// rnn_frontend_relaxed_*: the same algorithm with those chains computed in parallel (the
// high-pass as a warp scan in double, block reductions, windows of double prefix sums); same
// results up to rounding, the pitch period equal to the CPU's on >= 99 % of hops with signal
// (host-shim test); the whole model on the H200 >= 60 dB from the CPU in all but rare sessions
// where a near-tie flipped a period (worst 57.1 dB of 2500; cuda_plan_test RelaxedWholeModel).
// kAuto = kRelaxed for plans of >= kAutoTcMinSessions sessions (the batched mode, like
// NetworkPrecision::kAuto), else kCpu. Measured numbers: docs/perf/gpu.md, "Session 12 — gpurelax".
// (2026-12-01, session 22) This choice is for models in the sequential pitch order (RNNoise's;
// every .rnnn file). A model in the parallel order (metadata.rnnoise.pitch_order "parallel",
// the CPU's audio/pitch_parallel) always runs rnn_frontend_relaxed_*, which is that order's
// exact twin: the pitch decisions are then the CPU's bit for bit at every plan size.
enum class FrontendOrder { kCpu, kRelaxed, kAuto };
inline FrontendOrder ResolveFrontendOrder(FrontendOrder requested, int max_sessions) {
  if (requested != FrontendOrder::kAuto) return requested;
  return max_sessions >= kAutoTcMinSessions ? FrontendOrder::kRelaxed : FrontendOrder::kCpu;
}

struct CudaPlanOptions {
  std::string device = "cuda";  // "cuda", "cuda:N", "N" or a PCI bus id (runtime::FindDevice)
  int max_sessions = 1;         // slots; every device/pinned buffer is sized for this at Create
  bool realtime = false;        // true: greatest stream priority, batch-1 path tuned for latency
  // true: rows are 16-bit PCM (int16 x = round(sample * 32768)), half the PCIe traffic of float
  // rows; use input_rows16()/output_rows16() (input_rows()/output_rows() return nullptr). The
  // output is the float output rounded to the nearest int16 and clamped.
  bool pcm16 = false;
  // Large batches are split into this many row chunks inside the hop's graph so that the copies
  // overlap the compute (H2D of chunk i + 1 and D2H of chunk i - 1 while chunk i computes, on
  // their own streams): the hop then takes about max(copies, compute) instead of their sum.
  // 0 = automatic (see cuda_plan.cc, PipelineChunks), 1 = no split; at most 16; never more
  // chunks than rows / 1024.
  int batch_chunks = 0;
  // The network stage's arithmetic (see NetworkPrecision; GHOSTNV_CUDA_PLAN_NETWORK=fp32|fp16|
  // fp16x3|auto overrides it, for measuring). kFp16 / kFp16x3 fail Create with
  // InvalidArgument for a model the fused kernel cannot hold (shared memory); kAuto then falls
  // back to kFp32.
  NetworkPrecision network = NetworkPrecision::kAuto;
  // true: in batches of >= 128 rows the DC high-pass runs one lane per row (rnn_highpass_*,
  // 32 rows per warp) before the frontend (rnn_frontend_hp), instead of on one thread of each
  // row's block inside rnn_frontend_* (its longest serial chain). Same operations, same bits.
  // Off by default: on the H200 (2026-11-29) it cut the profiled frontend stage by 3 % but the
  // chunked hop got 1-3 % slower (docs/perf/gpu.md). GHOSTNV_CUDA_PLAN_LANE_HIGHPASS=0|1
  // overrides it (for measuring both in one binary).
  bool lane_highpass = false;
  // true: in batches of >= 128 rows the frontend runs as three kernels — rnn_frontend_lp_* (up
  // to PitchDownsample's low-pass), rnn_lpc_lanes (the 5-lag autocorrelation and the LPC, one
  // lane per row: one warp instruction advances 32 rows' chains instead of one), then
  // rnn_frontend_tail — through a scratch of RNN_LPS_STRIDE floats per session (3.5 KB). Same
  // operations, same bits. Combines with lane_highpass. Off by default: on the H200
  // (2026-11-29) the frontend stage as one 64k-row launch got 5 % faster, but the chunked hop
  // 14 % slower (docs/perf/gpu.md, session 10). GHOSTNV_CUDA_PLAN_LANE_CHAINS=0|1 overrides it.
  bool lane_chains = false;
  // true (default): after the frontend, two fused kernels per chunk instead of six —
  // rnn_spec_features_f32 (both frames' forward FFTs in shared memory + band energies, features,
  // silence gate, net rows) and, after the network, rnn_post_synthesis_* (pitch filter, gains,
  // inverse FFT, synthesis window, overlap-add, strength mix, PCM out); kernels/rnnoise_features.cu.
  // Not bit-identical to the split kernels (another FFT, band sums added in 4-bin chunks): both
  // are >= 60 dB from the CPU (cuda_plan_test.cc). Profiled stages: h2d, frontend, fft+features,
  // network, post+ifft+synth, d2h. GHOSTNV_CUDA_PLAN_FUSED=0|1 overrides it.
  bool fused_spectra = true;
  // The frontend's summation order (see FrontendOrder). kRelaxed (resolved) takes precedence
  // over lane_chains (a kCpu-order variant); with lane_highpass, batches of >= 128 rows run the
  // CPU's high-pass chain (rnn_highpass_*) and then rnn_frontend_relaxed_hp (not measured on the
  // H200 yet). Default kCpu: kRelaxed is faster (H200, 64k rows: frontend 2172 -> 1539 us, hop
  // 4575 -> 3916 us) but not yet >= 60 dB from the CPU in every session (57.1 dB in 1 of 2500,
  // a pitch decision flipped by rounding; docs/perf/gpu.md, session 12).
  // GHOSTNV_CUDA_PLAN_RELAXED_FRONTEND=0|1|auto overrides it (for measuring).
  FrontendOrder frontend_order = FrontendOrder::kCpu;
  // Kernel cache directory; empty = runtime::CubinCache::DefaultDir().
  std::string kernel_cache_dir;
};

// Per session and hop, like models::HopInfo.
struct CudaHopInfo {
  float vad;       // the network's voice probability (0 when the hop was silent)
  uint8_t silent;  // 1: the frame was below the silence floor; the network did not run
};

// Writes `m`'s DSP switches (metadata.rnnoise, models::rnnoise::DspOptionsOf) into the
// control-block header words the kernels read (RNN_CTL_FLAGS, _PF_STRENGTH, _PF_SLOPE, _LOW_CUT
// of kernels/rnnoise_layout.cuh; all 0 = RNNoise exactly). `ctl` holds at least 16 ints; the
// other words are left alone. InvalidArgument when the metadata is malformed.
absl::Status WriteRnnoiseDspHeader(const models::Model& m, int* ctl);

// One RNNoise-family model uploaded to one GPU; runs one hop for many sessions at once.
class CudaPlan {
 public:
  // Family "rnnoise" only (the layers models::rnnoise::CreateRnnoiseFamily accepts).
  // Errors: Unavailable (no driver/device/NVRTC), InvalidArgument (model, options),
  // ResourceExhausted (device memory), Internal (other driver failures).
  static absl::StatusOr<std::unique_ptr<CudaPlan>> Create(std::shared_ptr<const models::Model> model,
                                                          const CudaPlanOptions& options);
  virtual ~CudaPlan() = default;  // the implementation wipes every buffer that held audio

  virtual int hop_size() const = 0;      // 480
  virtual int max_sessions() const = 0;
  virtual std::string device_description() const = 0;  // "NVIDIA H200 (sm_90, 0000:00:06.0)"

  // Slots (setup path). A new slot has zeroed recurrent state and zeroed overlap/history.
  // ResourceExhausted when all max_sessions slots are taken.
  virtual absl::StatusOr<int> AcquireSlot() = 0;
  // Zeroes the slot's device state (wipe) and frees it; blocks until that is done. Invalid or
  // free slots are ignored.
  virtual void ReleaseSlot(int slot) = 0;

  // Real-time path (one thread). The caller writes row i (hop_size() floats) of input_rows()
  // for slots[i], calls Submit(slots, strengths, n) (0 <= n <= max_sessions, slots distinct and
  // acquired, strengths in [0, 1] as in models::Family::ProcessHop), later Wait() (or polls
  // Query()), then reads row i of output_rows() and info()[i]. Rows are hop_size() floats
  // apart, in pinned host memory owned by the plan (valid for its lifetime).
  virtual float* input_rows() = 0;
  virtual const float* output_rows() const = 0;
  // The same rows for a plan created with pcm16 = true (nullptr otherwise).
  virtual int16_t* input_rows16() { return nullptr; }
  virtual const int16_t* output_rows16() const { return nullptr; }
  virtual const CudaHopInfo* info() const = 0;
  // Asynchronous. kErrorInvalidValue for bad arguments (nothing launched); any other
  // non-success result comes from the driver: check runtime::IsStickyError(r) to decide to fall
  // back (the plan is unusable after a sticky error).
  virtual cu::CUresult Submit(const int* slots, const float* strengths, int n) = 0;
  virtual cu::CUresult Query() const = 0;  // kSuccess when done, kErrorNotReady while running
  virtual cu::CUresult Wait() = 0;         // blocks; for the scheduler thread, never audio

  // Telemetry (issue 3): per-stage times of this plan's hops (runtime::Stage: h2d, kernels, d2h,
  // device, outside_kernels; end_to_end is the caller's), recorded on the real-time path without
  // blocking: a hop's timing events are read when the next hop is submitted (it is complete by
  // then), never waited for. nullptr when the plan records none. The histograms may be read from
  // any thread; what each plan can measure is described at its Create. CudaPlan::Create's plan:
  // "device" for every hop; h2d / kernels / d2h for hops whose graph has one chunk (the real-time
  // batch-1 case and small batches: event-record nodes inside the replayed graph), or for every
  // hop with GHOSTNV_CUDA_PLAN_PROFILE=1 (stage by stage, no graph).
  virtual const runtime::StageHistograms* stage_times() const { return nullptr; }
};

}  // namespace ghostnv::sched
