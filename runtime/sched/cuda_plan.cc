// runtime/sched/cuda_plan.cc — see cuda_plan.h. The per-hop work of a batch, in graph order:
//   H2D control (count, slots, strengths) and input rows
//   rnn_frontend_f32       high-pass, pitch analysis, analysis + pitch-delayed frames
//                          (lane_highpass, >= 128 rows: rnn_highpass_* one lane per row, then
//                          rnn_frontend_hp for the rest; lane_chains, >= 128 rows:
//                          rnn_frontend_lp_* -> rnn_lpc_lanes (the autocorrelation one lane
//                          per row) -> rnn_frontend_tail, through a per-row scratch;
//                          frontend_order kRelaxed (kAuto: plans of >= 4096 sessions), and
//                          always for a model in the parallel pitch order (its exact twin):
//                          rnn_frontend_relaxed_*, the serial chains in parallel)
//   rfft_forward_f32       both frames of every row (2 * rows transforms)
//   rnn_features_f32       bands, features, silence gate, GRU states gathered into net rows
//   dense / gru (GpuOps)   input_dense, vad_gru, vad_output, noise_gru, denoise_gru, output
//   rnn_postprocess_f32    pitch filter, gain smoothing, per-bin gains, GRU states scattered
//   rfft_inverse_f32       the filtered spectra
//   rnn_synthesis_f32      synthesis window, overlap-add, strength mix
// (fused_spectra, the default: rnn_spec_features_f32 = both forward FFTs + features, and after
// the network rnn_post_synthesis_* = postprocess + inverse FFT + synthesis; kernels/rnnoise_features.cu.)
//   D2H output rows and per-row info, then an event.
// Large buckets run this as a pipeline of row chunks (CudaPlanOptions::batch_chunks): the H2D
// copies on one stream, the chunks' kernels on up to four compute streams (chunk c on c % K),
// the D2H copies on another, joined by events inside the captured graph, so copies overlap
// compute and neighbouring chunks' kernels overlap each other.
#include "runtime/sched/cuda_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audio/filters.h"
#include "kernels/cpu.h"
#include "kernels/rnnoise_layout.cuh"
#include "models/family.h"
#include "models/rnnoise/rnnoise_family.h"
#include "runtime/context.h"
#include "runtime/device.h"
#include "runtime/gpu_ops.h"
#include "runtime/graph.h"
#include "runtime/kernel_build.h"
#include "runtime/kernel_sources.h"
#include "runtime/memory.h"
#include "runtime/module.h"
#include "runtime/sched/cuda_plan_profile.h"
#include "runtime/sched/network_tc.h"
#include "runtime/sched/rnnoise_kernels.h"
#include "runtime/stream.h"
#include "runtime/telemetry_hop_timer.h"

namespace ghostnv::sched {
namespace {

using cu::CUdeviceptr;
using cu::CUresult;
using runtime::DeviceBlock;
using runtime::PinnedBlock;

static_assert(sizeof(CudaHopInfo) == 8, "CudaHopInfo must match RnnHopInfo in rnnoise_features.cu");
constexpr int kCtlHeader = 16;  // ctl[0] = rows, ctl[1] = 0 (a device counter), ctl[16 + b] = slot of row b
// A bucket split into C chunks of `cap` rows has C control blocks, chunk c's at int offset
// c * (kCtlHeader + cap): [rows of the chunk used, pad][slots of rows c * cap ...]. One chunk:
// the single control block above.
constexpr int kMaxOptionChunks = 16;  // CudaPlanOptions::batch_chunks' range
constexpr int kMaxChunks = 64;        // GHOSTNV_CUDA_PLAN_CHUNKS (benchmark A/B) may ask for more
constexpr int kMinChunkRows = 1024;
constexpr int kChunkAlign = 64;

// Chunks for a bucket of `rows` rows: `requested` (0 = automatic: chunks of >= 4096 rows, at
// most kMaxOptionChunks; on the H200 at 64k rows, pcm16, 4 compute streams: 1 chunk 12.2 ms
// per hop, 2: 10.5, 4: 10.1, 8: 9.7, 16: 9.6), never more than rows / kMinChunkRows, at most
// kMaxChunks. GHOSTNV_CUDA_PLAN_CHUNKS=1..64 overrides `requested` (benchmark A/B; H200,
// 64k rows pcm16, 2026-11-29: 32 chunks +500 us per hop, 8 chunks +110 us against 16).
int PipelineChunks(int rows, int requested) {
  if (const char* e = std::getenv("GHOSTNV_CUDA_PLAN_CHUNKS"); e != nullptr && std::atoi(e) > 0)
    requested = std::atoi(e);
  int c = requested > 0 ? requested : std::min(rows / 4096, kMaxOptionChunks);
  c = std::min({c, kMaxChunks, std::max(1, rows / kMinChunkRows)});
  return std::max(1, c);
}

int RoundUp(int n, int m) { return (n + m - 1) / m * m; }

// audio::bands::BandDct's table, computed with the same float expression.
std::vector<float> DctTable() {
  std::vector<float> c(RNN_BANDS * RNN_BANDS);
  for (int k = 0; k < RNN_BANDS; ++k)
    for (int n = 0; n < RNN_BANDS; ++n) {
      c[k * RNN_BANDS + n] = std::cos((n + .5f) * k * static_cast<float>(M_PI) / RNN_BANDS);
      if (k == 0) c[k * RNN_BANDS + n] *= std::sqrt(.5f);
    }
  return c;
}

class CudaPlanImpl final : public CudaPlan {
 public:
  ~CudaPlanImpl() override {
    if (ctx_) {
      (void)ctx_->MakeCurrent();
      if (stream_) (void)stream_->Synchronize();
    }
    // Pinned and device blocks that held audio are created with Wipe::kOnFree.
  }

  int hop_size() const override { return RNN_HOP; }
  int max_sessions() const override { return max_; }
  std::string device_description() const override { return description_; }

  absl::StatusOr<int> AcquireSlot() override {
    if (free_.empty())
      return absl::ResourceExhaustedError(absl::StrCat("all ", max_, " CUDA plan slots are in use"));
    const int s = free_.back();
    if (absl::Status st = ZeroSlot(s); !st.ok()) return st;
    free_.pop_back();
    used_[s] = 1;
    return s;
  }

  void ReleaseSlot(int slot) override {
    if (slot < 0 || slot >= max_ || !used_[slot]) return;
    (void)ZeroSlot(slot);
    used_[slot] = 0;
    free_.push_back(slot);  // capacity max_: never reallocates
  }

  float* input_rows() override {
    return pcm16_ ? nullptr : reinterpret_cast<float*>(up_h_.as<char>() + in_offset_);
  }
  const float* output_rows() const override {
    return pcm16_ ? nullptr : reinterpret_cast<const float*>(down_h_.as<char>() + out_offset_);
  }
  int16_t* input_rows16() override {
    return pcm16_ ? reinterpret_cast<int16_t*>(up_h_.as<char>() + in_offset_) : nullptr;
  }
  const int16_t* output_rows16() const override {
    return pcm16_ ? reinterpret_cast<const int16_t*>(down_h_.as<char>() + out_offset_) : nullptr;
  }
  const CudaHopInfo* info() const override { return down_h_.as<CudaHopInfo>(); }

  CUresult Submit(const int* slots, const float* strengths, int n) override {
    if (n < 0 || n > max_ || (n > 0 && slots == nullptr)) return cu::kErrorInvalidValue;
    ++stamp_;
    size_t g = 0;
    while (n > 0 && buckets_[g] < n) ++g;
    const int cap = n > 0 ? chunk_cap_[g] : max_, chunks = n > 0 ? chunks_[g] : 1;
    int* ctl = up_h_.as<int>();
    float* str = reinterpret_cast<float*>(up_h_.as<char>() + str_offset_);
    for (int i = 0, c = 0, j = 0; i < n; ++i) {
      const int s = slots[i];
      if (s < 0 || s >= max_ || !used_[s] || mark_[s] == stamp_) return cu::kErrorInvalidValue;
      mark_[s] = stamp_;
      ctl[c * (kCtlHeader + cap) + kCtlHeader + j] = s;
      str[i] = strengths != nullptr ? strengths[i] : 1.f;
      if (++j == cap) j = 0, ++c;
    }
    for (int c = 0; c < chunks; ++c) {
      ctl[c * (kCtlHeader + cap)] = std::clamp(n - c * cap, 0, cap);
      ctl[c * (kCtlHeader + cap) + 1] = 0;  // the frontend's row counter (rnnoise_pitch.cu)
      ctl[c * (kCtlHeader + cap) + RNN_CTL_ROWS2] = 0;  // rnn_frontend_tail's (lane_chains)
      std::copy_n(&dsp_header_[RNN_CTL_FLAGS], RNN_CTL_LOW_CUT + 1 - RNN_CTL_FLAGS,
                  &ctl[c * (kCtlHeader + cap) + RNN_CTL_FLAGS]);
    }
    const runtime::DriverApi& api = ctx_->api();
    if (CUresult r = api.CtxSetCurrent(ctx_->get()); r != cu::kSuccess) return r;
    CollectStageTimes();  // telemetry: the previous hop's events (complete by now)
    if (n > 0) {
      // Telemetry's begin event; the marks are in one-chunk graphs only (Record()).
      if (CUresult r = timer_.Begin(*stream_, prof_.empty() && chunks_[g] == 1); r != cu::kSuccess) return r;
      if (!prof_.empty()) {
        // Profiling plans launch the stages directly: an event recorded while a stream is
        // captured only orders the capture and never becomes a node of the graph (so a graph
        // cannot carry the timing events; before 2026-11-28 the stage times all read -1).
        record_result_ = cu::kSuccess;
        if (!Record(g).ok()) return record_result_ != cu::kSuccess ? record_result_ : cu::kErrorInvalidValue;
      } else if (CUresult r = graphs_[g].exec.Launch(*stream_); r != cu::kSuccess) {
        return r;
      }
      tel_pending_ = !prof_.empty();
    }
    return done_->Record(*stream_);
  }

  const runtime::StageHistograms* stage_times() const override { return &stage_times_; }

  CUresult Query() const override { return done_->Query(); }
  CUresult Wait() override { return ctx_->api().EventSynchronize(done_->get()); }

  absl::Status Init(std::shared_ptr<const models::Model> model, const CudaPlanOptions& o);

  // Stage names and GPU times of the last hop (profiling plans only; see cuda_plan_profile.h).
  std::vector<CudaPlanStage> StageTimes() const {
    std::vector<CudaPlanStage> out;
    for (size_t i = 1; i < prof_.size() && i <= stage_names_.size(); ++i) {
      absl::StatusOr<float> ms = runtime::Event::ElapsedMs(prof_[i - 1], prof_[i]);
      out.push_back({stage_names_[i - 1], ms.ok() ? *ms * 1000.f : -1.f});
    }
    return out;
  }
  static constexpr const char* kStageNames[] = {"h2d", "frontend", "fft", "features", "network",
                                                "postprocess", "ifft", "synthesis", "d2h"};
  // fused_spectra: the fused kernels' stages (cuda_plan_profile.h).
  static constexpr const char* kFusedStageNames[] = {"h2d",     "frontend",        "fft+features",
                                                     "network", "post+ifft+synth", "d2h"};

 private:
  // Telemetry (gpurt, 2026-11-29; gputel: in-graph marks): runtime::HopStageTimer gives every
  // hop's GPU time ("device": begin event before the launch -> the timing done event), and for
  // one-chunk graphs h2d / kernels / d2h from the event-record nodes Record() puts in them
  // (chunked graphs overlap the stages: "device" only); a profiling plan's stage events give
  // h2d, kernels (their sum) and d2h. Read at the next Submit, when the caller has seen the hop
  // complete: cuEventElapsedTime on completed events does not block (a hop not complete — the
  // caller broke the contract — is skipped, never waited for).
  absl::Status InitStageTimes() { return timer_.Init(*ctx_); }
  void CollectStageTimes() {
    timer_.Collect(*done_, stage_times_);
    if (!tel_pending_) return;
    tel_pending_ = false;
    const runtime::DriverApi& api = ctx_->api();
    const auto ns = runtime::HopStageTimer::Ns;
    if (prof_.size() < 3) return;
    float ms = 0.f, kernels = 0.f;
    for (size_t i = 1; i < prof_.size(); ++i) {
      if (api.EventElapsedTime(&ms, prof_[i - 1].get(), prof_[i].get()) != cu::kSuccess) return;
      if (i == 1) {
        stage_times_.Record(runtime::Stage::kH2D, ns(ms));
      } else if (i + 1 == prof_.size()) {
        stage_times_.Record(runtime::Stage::kKernels, ns(kernels));
        stage_times_.Record(runtime::Stage::kD2H, ns(ms));
      } else {
        kernels += ms;
      }
    }
  }

  absl::Status ZeroSlot(int slot) {
    if (absl::Status st = ctx_->MakeCurrent(); !st.ok()) return st;
    const size_t bytes = static_cast<size_t>(state_stride_) * sizeof(float);
    CUresult r = ctx_->api().MemsetD8Async(state_.ptr() + static_cast<size_t>(slot) * bytes, 0, bytes,
                                           stream_->get());
    if (r != cu::kSuccess) return runtime::CuError(ctx_->api(), r, "cuMemsetD8Async", "zeroing a CUDA plan slot");
    return stream_->Synchronize();
  }
  // Records (or, when profiling, launches) the hop of bucket g on stream_.
  absl::Status Record(size_t g);
  using Check = std::function<absl::Status(CUresult, const char*)>;
  // The kernels of rows [r0, r0 + rows) on stream s; ctl = their control block.
  absl::Status RecordChunk(CUdeviceptr ctl, int r0, int rows, const runtime::Stream& s, const Check& check,
                           const std::function<absl::Status()>& stage);
  // fused_spectra: RecordChunk after the frontend (fft+features, network, post+ifft+synth).
  absl::Status RecordFusedChunk(CUdeviceptr ctl, int r0, int rows, const runtime::Stream& s, const Check& check,
                                const std::function<absl::Status()>& stage);
  // The network for `rows` rows starting at the chunk's pointers (row r at base + r * stride);
  // ctl = the chunk's control block (ctl[0] = rows used). Launches only, on stream s.
  absl::Status RecordNetwork(CUdeviceptr ctl, CUdeviceptr net_a, CUdeviceptr net_b, CUdeviceptr net_c,
                             CUdeviceptr gains, CUdeviceptr vad, int rows, const runtime::Stream& s,
                             const Check& check);
  static absl::StatusOr<DeviceBlock> Alloc(const runtime::Context& ctx, size_t floats,
                                           runtime::Wipe wipe = runtime::Wipe::kOnFree) {
    return DeviceBlock::Allocate(ctx, std::max<size_t>(floats, 1) * sizeof(float), wipe);
  }

  std::shared_ptr<const models::Model> model_;
  std::optional<runtime::Context> ctx_;
  std::optional<runtime::Stream> stream_;
  // The chunk pipeline: H2D stream, D2H stream, the extra compute streams, and the events that
  // order them inside the captured graphs (fork, per-chunk up/compute, joins).
  std::optional<runtime::Stream> up_stream_, down_stream_;
  std::vector<runtime::Stream> comp_extra_;  // compute streams besides stream_ (chunk c on c % (1 + size))
  std::vector<runtime::Event> pipe_events_;
  std::optional<runtime::Event> done_;
  std::optional<runtime::GpuOps> ops_;
  std::optional<RnnoiseKernels> rk_;
  // CudaPlanOptions::lane_highpass: rnn_highpass_f32/_s16 + rnn_frontend_hp from a module of
  // rnnoise_pitch.cu of the plan's own (RnnoiseKernels holds the fused frontend).
  // (Also loaded for CudaPlanOptions::lane_chains: rnn_frontend_lp_f32/_s16/_hp, rnn_lpc_lanes,
  // rnn_frontend_tail, with lpc_scratch_ of RNN_LPS_STRIDE floats per row.)
  std::optional<runtime::Module> hp_module_;
  runtime::Kernel highpass_f32_, highpass_s16_, frontend_hp_;
  bool lane_hp_ = false, chains_ = false;
  bool relaxed_ = false;  // CudaPlanOptions::frontend_order resolved to kRelaxed
  runtime::Kernel lp_f32_, lp_s16_, lp_hp_, lpc_lanes_, frontend_tail_, relaxed_hp_;
  // GHOSTNV_CUDA_PLAN_WARP_INNER=0: the frontends' pitch inner products one lane each (as before
  // 2026-11-29 04:30) instead of one warp each (AVX2 order only; same bits either way).
  bool warp_inner_ = true;
  // The model's DSP switches for the control blocks' headers (RNN_CTL_FLAGS, and the pitch
  // filter's strength and gain slope as float bits).
  int dsp_header_[kCtlHeader] = {};  // WriteRnnoiseDspHeader's words (the rest unused)
  int frontend_grid_cap_ = 16;
  std::optional<TcNetwork> tc_;  // gpu-tc: the fused tensor-core network (options.network kFp16 / kFp16x3)
  runtime::DeviceDense input_dense_, vad_out_, denoise_out_;
  runtime::DeviceGru vad_gru_, noise_gru_, denoise_gru_;
  runtime::DeviceFftPlan fft_;
  // CudaPlanOptions::fused_spectra (gpufeat): rnn_spec_features_f32 and rnn_post_synthesis_* from
  // a module of rnnoise_features.cu of the plan's own; grid = SMs * 8 (see Init).
  bool fused_ = false;
  std::optional<runtime::Module> feat_module_;
  runtime::Kernel spec_features_, post_synth_f32_, post_synth_s16_;
  int fused_grid_cap_ = 8;
  std::vector<const char*> stage_names_;  // profiling: the names of the stages Record marks
  // Everything that goes up per hop is one block (one copy): [ctl: count, pad, slots][strengths]
  // [input rows]; everything that comes back is one block: [info][output rows]. The same layout
  // on the device and in pinned host memory; a hop copies the headers and its rows.
  DeviceBlock lpc_scratch_;  // lane_chains only
  DeviceBlock window_, dct_, state_, up_d_, frames_, spec_, bands_, net_a_, net_b_, net_c_, gains_,
      vad_, y_, down_d_;
  PinnedBlock up_h_, down_h_;
  size_t str_offset_ = 0, in_offset_ = 0, out_offset_ = 0;
  std::vector<int> buckets_;
  std::vector<int> chunks_, chunk_cap_;  // per bucket
  std::vector<runtime::CapturedGraph> graphs_;
  std::vector<runtime::Event> prof_;  // timing events between stages (profiling plans only)
  runtime::HopStageTimer timer_;  // telemetry: begin event, marks in one-chunk graphs
  runtime::StageHistograms stage_times_;
  bool tel_pending_ = false;  // profiling: a hop's stage events are still to be read
  std::vector<uint8_t> used_;
  std::vector<int> free_;  // free slots, the lowest last
  std::vector<uint32_t> mark_;
  uint32_t stamp_ = 0;
  CUresult record_result_ = cu::kSuccess;  // the first failure of the last Record
  std::string description_;
  int max_ = 0, u0_ = 0, u1_ = 0, u2_ = 0, u3_ = 0;
  int a_stride_ = 0, b_stride_ = 0, c_stride_ = 0, state_stride_ = 0;
  int avx2_ = 0;
  bool pcm16_ = false;
  size_t sample_bytes_ = sizeof(float);  // of a PCM row sample: 4, or 2 with pcm16
};

absl::Status CudaPlanImpl::RecordNetwork(CUdeviceptr ctl, CUdeviceptr net_a, CUdeviceptr net_b, CUdeviceptr net_c,
                                         CUdeviceptr gains, CUdeviceptr vad, int rows, const runtime::Stream& s,
                                         const Check& check) {
  const runtime::GpuOps& ops = *ops_;
  const auto f = [](CUdeviceptr base, long long floats) { return base + floats * 4; };
  absl::Status st;
  if (tc_) {  // one kernel: net_a = [dense | vad | features], net_b = [vad | noise | features], net_c = denoise
    GnvTcIo io{f(net_a, u0_ + u1_), net_a, f(net_a, u0_), net_b, f(net_b, u1_), net_c, gains, vad,
               a_stride_, a_stride_, a_stride_, b_stride_, b_stride_, c_stride_, RNN_BANDS, 1};
    return check(tc_->Run(io, ctl, rows, s), "rnn_network_f16 (tensor cores)");
  }
  CUresult r = ops.Dense(input_dense_, f(net_a, u0_ + u1_), a_stride_, net_a, a_stride_, rows, s);
  if (!(st = check(r, "dense (input_dense)")).ok()) return st;
  r = ops.GruStep(vad_gru_, net_a, a_stride_, f(net_a, u0_), a_stride_, rows, s);
  if (!(st = check(r, "gru (vad_gru)")).ok()) return st;
  r = ops.Dense(vad_out_, f(net_a, u0_), a_stride_, vad, 1, rows, s);
  if (!(st = check(r, "dense (vad_output)")).ok()) return st;
  r = rk_->CopyCols(f(net_a, u0_), a_stride_, net_b, b_stride_, u1_, ctl, rows, s);
  if (!(st = check(r, "rnn_copy_cols_f32")).ok()) return st;
  r = ops.GruStep(noise_gru_, net_a, a_stride_, f(net_b, u1_), b_stride_, rows, s);
  if (!(st = check(r, "gru (noise_gru)")).ok()) return st;
  r = ops.GruStep(denoise_gru_, net_b, b_stride_, net_c, c_stride_, rows, s);
  if (!(st = check(r, "gru (denoise_gru)")).ok()) return st;
  r = ops.Dense(denoise_out_, net_c, c_stride_, gains, RNN_BANDS, rows, s);
  return check(r, "dense (denoise_output)");
}

absl::Status CudaPlanImpl::RecordChunk(CUdeviceptr ctl, int r0, int rows, const runtime::Stream& s,
                                       const Check& check, const std::function<absl::Status()>& stage) {
  const runtime::GpuOps& ops = *ops_;
  const RnnoiseKernels& rk = *rk_;
  const long long b = r0;
  const CUdeviceptr str = up_d_.ptr() + str_offset_ + b * 4;
  const CUdeviceptr in = up_d_.ptr() + in_offset_ + b * RNN_HOP * static_cast<long long>(sample_bytes_);
  const CUdeviceptr info = down_d_.ptr() + b * static_cast<long long>(sizeof(CudaHopInfo));
  const CUdeviceptr out = down_d_.ptr() + out_offset_ + b * RNN_HOP * static_cast<long long>(sample_bytes_);
  const auto f = [](const DeviceBlock& blk, long long floats) { return blk.ptr() + floats * 4; };
  const CUdeviceptr frames = f(frames_, 2 * b * RNN_WINDOW), spec = f(spec_, 2 * b * RNN_SPEC_STRIDE),
                    bands = f(bands_, b * RNN_BD_STRIDE), net_a = f(net_a_, b * a_stride_),
                    net_b = f(net_b_, b * b_stride_), net_c = f(net_c_, b * c_stride_),
                    gains = f(gains_, b * RNN_BANDS), vad = f(vad_, b), y = f(y_, b * RNN_WINDOW);
  absl::Status st;
  CUresult r;
  if (relaxed_ && !(lane_hp_ && rows >= 128)) {
    r = rk.Frontend(in, RNN_HOP, ctl, state_.ptr(), state_stride_, window_.ptr(), frames, rows, 0, s, pcm16_, true);
    if (!(st = check(r, "rnn_frontend_relaxed")).ok() || !(st = stage()).ok()) return st;
  } else if ((lane_hp_ || chains_) && rows >= 128) {
    // lane_highpass: the high-pass one lane per row, then the rest; lane_chains: the frontend up
    // to the low-pass, the autocorrelation + LPC one lane per row, the rest (same bits).
    CUdeviceptr in_p = in, ctl_p = ctl, state_p = state_.ptr(), window_p = window_.ptr(), frames_p = frames;
    CUdeviceptr scratch_p = chains_ ? lpc_scratch_.ptr() + b * RNN_LPS_STRIDE * 4 : 0;
    int in_stride = RNN_HOP, state_stride = state_stride_, avx2 = avx2_ | (warp_inner_ ? 0 : 4);
    const unsigned fe_grid = static_cast<unsigned>(std::min(rows, frontend_grid_cap_));
    if (lane_hp_) {
      void* hp_args[] = {&in_p, &in_stride, &ctl_p, &state_p, &state_stride, &frames_p};
      r = (pcm16_ ? highpass_s16_ : highpass_f32_)
              .Launch({static_cast<unsigned>((rows + 127) / 128)}, {128}, 0, s, hp_args);
      if (!(st = check(r, "rnn_highpass")).ok()) return st;
    }
    void* fe_args[] = {&in_p, &in_stride, &ctl_p, &state_p, &state_stride, &window_p, &frames_p, &avx2, &scratch_p};
    if (relaxed_) {  // (lane_hp_: the CPU's high-pass chain, then the relaxed rest)
      r = relaxed_hp_.Launch({fe_grid}, {128}, 0, s, fe_args);  // (the extra scratch argument unused)
      if (!(st = check(r, "rnn_frontend_relaxed_hp")).ok() || !(st = stage()).ok()) return st;
    } else if (chains_) {
      r = (lane_hp_ ? lp_hp_ : pcm16_ ? lp_s16_ : lp_f32_).Launch({fe_grid}, {128}, 0, s, fe_args);
      if (!(st = check(r, "rnn_frontend_lp")).ok()) return st;
      void* lpc_args[] = {&ctl_p, &scratch_p};
      // One warp per block: a chunk's few warps spread over the SMs (the lanes wait on loads).
      r = lpc_lanes_.Launch({static_cast<unsigned>((rows + 31) / 32)}, {32}, 0, s, lpc_args);
      if (!(st = check(r, "rnn_lpc_lanes")).ok()) return st;
      r = frontend_tail_.Launch({fe_grid}, {128}, 0, s, fe_args);
      if (!(st = check(r, "rnn_frontend_tail")).ok() || !(st = stage()).ok()) return st;
    } else {
      r = frontend_hp_.Launch({fe_grid}, {128}, 0, s, fe_args);  // (the extra scratch argument unused)
      if (!(st = check(r, "rnn_frontend_hp")).ok() || !(st = stage()).ok()) return st;
    }
  } else {
    r = rk.Frontend(in, RNN_HOP, ctl, state_.ptr(), state_stride_, window_.ptr(), frames, rows,
                    avx2_ | (warp_inner_ ? 0 : 4), s, pcm16_);
    if (!(st = check(r, "rnn_frontend_f32")).ok() || !(st = stage()).ok()) return st;
  }
  if (fused_) return RecordFusedChunk(ctl, r0, rows, s, check, stage);
  r = ops.RealFftForward(fft_, frames, RNN_WINDOW, spec, RNN_SPEC_STRIDE, 2 * rows, s);
  if (!(st = check(r, "rfft_forward_f32")).ok() || !(st = stage()).ok()) return st;
  r = rk.Features(spec, ctl, state_.ptr(), state_stride_, dct_.ptr(), bands, net_a, a_stride_, net_b, b_stride_, net_c,
                  c_stride_, u0_, u1_, u2_, u3_, rows, s);
  if (!(st = check(r, "rnn_features_f32")).ok() || !(st = stage()).ok()) return st;
  if (!(st = RecordNetwork(ctl, net_a, net_b, net_c, gains, vad, rows, s, check)).ok() || !(st = stage()).ok())
    return st;
  r = rk.Postprocess(spec, ctl, state_.ptr(), state_stride_, bands, gains, vad, net_a, a_stride_, net_b, b_stride_,
                     net_c, c_stride_, u0_, u1_, u2_, u3_, info, rows, s);
  if (!(st = check(r, "rnn_postprocess_f32")).ok() || !(st = stage()).ok()) return st;
  r = ops.RealFftInverse(fft_, spec, 2 * RNN_SPEC_STRIDE, y, RNN_WINDOW, rows, s);
  if (!(st = check(r, "rfft_inverse_f32")).ok() || !(st = stage()).ok()) return st;
  r = rk.Synthesis(y, RNN_WINDOW, in, RNN_HOP, ctl, str, state_.ptr(), state_stride_, window_.ptr(), out, RNN_HOP, rows,
                   s, pcm16_);
  if (!(st = check(r, "rnn_synthesis_f32")).ok() || !(st = stage()).ok()) return st;
  return absl::OkStatus();
}

absl::Status CudaPlanImpl::RecordFusedChunk(CUdeviceptr ctl, int r0, int rows, const runtime::Stream& s,
                                            const Check& check, const std::function<absl::Status()>& stage) {
  const long long b = r0;
  const auto f = [](const DeviceBlock& blk, long long floats) { return blk.ptr() + floats * 4; };
  CUdeviceptr ctl_p = ctl, state = state_.ptr(), tw = fft_.twiddles.ptr(), dct = dct_.ptr(), window = window_.ptr();
  CUdeviceptr frames = f(frames_, 2 * b * RNN_WINDOW), spec = f(spec_, 2 * b * RNN_SPEC_STRIDE),
              bands = f(bands_, b * RNN_BD_STRIDE), net_a = f(net_a_, b * a_stride_), net_b = f(net_b_, b * b_stride_),
              net_c = f(net_c_, b * c_stride_), gains = f(gains_, b * RNN_BANDS), vad = f(vad_, b);
  CUdeviceptr str = up_d_.ptr() + str_offset_ + b * 4;
  CUdeviceptr in = up_d_.ptr() + in_offset_ + b * RNN_HOP * static_cast<long long>(sample_bytes_);
  CUdeviceptr info = down_d_.ptr() + b * static_cast<long long>(sizeof(CudaHopInfo));
  CUdeviceptr out = down_d_.ptr() + out_offset_ + b * RNN_HOP * static_cast<long long>(sample_bytes_);
  int state_stride = state_stride_, a_stride = a_stride_, b_stride = b_stride_, c_stride = c_stride_;
  int u0 = u0_, u1 = u1_, u2 = u2_, u3 = u3_, hop = RNN_HOP;
  const unsigned grid = static_cast<unsigned>(std::max(1, std::min(rows, fused_grid_cap_)));
  absl::Status st;
  void* fa[] = {&frames, &ctl_p, &state, &state_stride, &tw, &dct, &spec, &bands, &net_a, &a_stride,
                &net_b,  &b_stride, &net_c, &c_stride, &u0, &u1, &u2, &u3};
  if (!(st = check(spec_features_.Launch({grid}, {128}, 0, s, fa), "rnn_spec_features_f32")).ok() ||
      !(st = stage()).ok())
    return st;
  if (!(st = RecordNetwork(ctl, net_a, net_b, net_c, gains, vad, rows, s, check)).ok() || !(st = stage()).ok())
    return st;
  void* pa[] = {&spec,  &ctl_p,    &state, &state_stride, &bands, &gains, &vad, &net_a, &a_stride, &net_b,
                &b_stride, &net_c, &c_stride, &u0,       &u1,    &u2,    &u3,  &info,  &tw,       &in,
                &hop,   &str,      &window, &out,         &hop};
  CUresult r = (pcm16_ ? post_synth_s16_ : post_synth_f32_).Launch({grid}, {128}, 0, s, pa);
  if (!(st = check(r, "rnn_post_synthesis")).ok() || !(st = stage()).ok()) return st;
  return absl::OkStatus();
}

absl::Status CudaPlanImpl::Record(size_t g) {
  const int rows = buckets_[g], chunks = chunks_[g], cap = chunk_cap_[g];
  const runtime::Stream& s = *stream_;
  const runtime::DriverApi& api = ctx_->api();
  const Check check = [&](CUresult r, const char* what) -> absl::Status {
    if (r != cu::kSuccess) record_result_ = r;
    return r == cu::kSuccess ? absl::OkStatus()
                             : runtime::CuError(api, r, what, absl::StrCat("recording the RNNoise hop graph for ", rows, " rows"));
  };
  const size_t row_bytes = RNN_HOP * sample_bytes_;
  size_t mark = 0;
  const std::function<absl::Status()> stage = [&]() -> absl::Status {  // a timing event after a stage, when profiling
    if (mark >= prof_.size()) return absl::OkStatus();
    return check(prof_[mark++].Record(s), "cuEventRecord");
  };
  absl::Status st;
  if (chunks == 1) {
    if (!(st = stage()).ok()) return st;
    st = check(api.MemcpyHtoDAsync(up_d_.ptr(), up_h_.data(), in_offset_ + rows * row_bytes, s.get()), "cuMemcpyHtoDAsync");
    if (!st.ok() || !(st = stage()).ok()) return st;
    if (!(st = check(prof_.empty() ? timer_.MarkUploaded(s, /*capturing=*/true) : cu::kSuccess,
                     "cuEventRecordWithFlags")).ok())
      return st;
    if (!(st = RecordChunk(up_d_.ptr(), 0, rows, s, check, stage)).ok()) return st;
    if (!(st = check(prof_.empty() ? timer_.MarkComputed(s, /*capturing=*/true) : cu::kSuccess,
                     "cuEventRecordWithFlags")).ok())
      return st;
    st = check(api.MemcpyDtoHAsync(down_h_.data(), down_d_.ptr(), out_offset_ + rows * row_bytes, s.get()),
               "cuMemcpyDtoHAsync");
    if (!st.ok()) return st;
    return stage();
  }
  // The pipeline: fork the side streams from s, then per chunk c: H2D (the control blocks and
  // strengths go with chunk 0) -> kernels on a compute stream -> D2H of its info and rows;
  // finally every side stream joins s (a captured graph must end joined).
  const runtime::Stream& up = *up_stream_;
  const runtime::Stream& down = *down_stream_;
  // Setup path only (captured at Create): allocating here is fine.
  std::vector<const runtime::Stream*> comp = {&s}, sides = {&up, &down};
  for (const runtime::Stream& e : comp_extra_) comp.push_back(&e), sides.push_back(&e);
  const std::function<absl::Status()> none = [] { return absl::OkStatus(); };
  const runtime::Event& fork = pipe_events_[0];
  if (!(st = check(fork.Record(s), "cuEventRecord")).ok()) return st;
  for (const runtime::Stream* side : sides)
    if (!(st = check(fork.MakeWait(*side), "cuStreamWaitEvent")).ok()) return st;
  for (int c = 0; c < chunks; ++c) {
    const int r0 = c * cap, m = std::min(cap, rows - r0);
    if (m <= 0) break;
    const runtime::Event& ev_up = pipe_events_[1 + 2 * c];
    const runtime::Event& ev_comp = pipe_events_[2 + 2 * c];
    const size_t from = c == 0 ? 0 : in_offset_ + r0 * row_bytes;
    const size_t to = in_offset_ + (r0 + m) * row_bytes;
    if (!(st = check(api.MemcpyHtoDAsync(up_d_.ptr() + from, up_h_.as<char>() + from, to - from, up.get()),
                     "cuMemcpyHtoDAsync")).ok())
      return st;
    if (!(st = check(ev_up.Record(up), "cuEventRecord")).ok()) return st;
    const runtime::Stream& cs = *comp[c % comp.size()];
    if (!(st = check(ev_up.MakeWait(cs), "cuStreamWaitEvent")).ok()) return st;
    const CUdeviceptr ctl = up_d_.ptr() + static_cast<size_t>(c) * (kCtlHeader + cap) * sizeof(int);
    if (!(st = RecordChunk(ctl, r0, m, cs, check, none)).ok()) return st;
    if (!(st = check(ev_comp.Record(cs), "cuEventRecord")).ok()) return st;
    if (!(st = check(ev_comp.MakeWait(down), "cuStreamWaitEvent")).ok()) return st;
    const size_t info0 = r0 * sizeof(CudaHopInfo), out0 = out_offset_ + r0 * row_bytes;
    if (!(st = check(api.MemcpyDtoHAsync(down_h_.as<char>() + info0, down_d_.ptr() + info0, m * sizeof(CudaHopInfo),
                                         down.get()),
                     "cuMemcpyDtoHAsync")).ok())
      return st;
    if (!(st = check(api.MemcpyDtoHAsync(down_h_.as<char>() + out0, down_d_.ptr() + out0, m * row_bytes, down.get()),
                     "cuMemcpyDtoHAsync")).ok())
      return st;
  }
  int j = 0;
  for (const runtime::Stream* side : sides) {
    const runtime::Event& join = pipe_events_[1 + 2 * kMaxChunks + j++];
    if (!(st = check(join.Record(*side), "cuEventRecord")).ok()) return st;
    if (!(st = check(join.MakeWait(s), "cuStreamWaitEvent")).ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status CudaPlanImpl::Init(std::shared_ptr<const models::Model> model, const CudaPlanOptions& o) {
  if (o.max_sessions < 1 || o.max_sessions > (1 << 24))
    return absl::InvalidArgumentError(absl::StrCat("CUDA plan: max_sessions ", o.max_sessions, " out of range"));
  if (o.batch_chunks < 0 || o.batch_chunks > kMaxOptionChunks)
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA plan: batch_chunks ", o.batch_chunks, " out of range [0, ", kMaxOptionChunks, "]"));
  // The CPU family's validation (layer names, kinds and sizes) is the plan's too.
  absl::StatusOr<std::unique_ptr<models::Family>> family = models::CreateFamily(model);
  if (!family.ok()) return family.status();
  if (model->family != "rnnoise")
    return absl::InvalidArgumentError(absl::StrCat(model->name, ": the CUDA plan runs only the rnnoise family"));
  model_ = model;
  const models::Model& m = *model_;
  // The model's DSP switches (metadata.rnnoise; CreateFamily checked them), for the kernels
  // through every control block's header (RNN_CTL_*, rnnoise_layout.cuh; 0 = RNNoise exactly).
  if (absl::Status st = WriteRnnoiseDspHeader(m, dsp_header_); !st.ok()) return st;
  const models::Layer &in = *m.FindLayer("input_dense"), &vg = *m.FindLayer("vad_gru"),
                      &ng = *m.FindLayer("noise_gru"), &dg = *m.FindLayer("denoise_gru"),
                      &dout = *m.FindLayer("denoise_output"), &vout = *m.FindLayer("vad_output");
  max_ = o.max_sessions;
  pcm16_ = o.pcm16;
  sample_bytes_ = pcm16_ ? sizeof(int16_t) : sizeof(float);
  u0_ = in.units;
  u1_ = vg.units;
  u2_ = ng.units;
  u3_ = dg.units;
  a_stride_ = RoundUp(u0_ + u1_ + RNN_FEATURES, 4);
  b_stride_ = RoundUp(u1_ + u2_ + RNN_FEATURES, 4);
  c_stride_ = RoundUp(u3_, 4);
  state_stride_ = RoundUp(RNN_ST_GRU + u1_ + u2_ + u3_, 32);
  avx2_ = kernels::ActiveSimd() == kernels::SimdLevel::kAvx2 ? 1 : 0;

  absl::StatusOr<runtime::DeviceInfo> dev = runtime::FindDevice(o.device);
  if (!dev.ok()) return dev.status();
  description_ = absl::StrCat(dev->name, " (", dev->ArchName(), ", ", dev->pci_bus_id, ")");
  absl::StatusOr<runtime::Context> ctx = runtime::Context::Retain(*dev);
  if (!ctx.ok()) return ctx.status();
  ctx_.emplace(*std::move(ctx));
  if (absl::Status st = ctx_->MakeCurrent(); !st.ok()) return st;
  absl::StatusOr<runtime::Stream> stream = runtime::Stream::Create(
      *ctx_, o.realtime ? runtime::StreamPriority::kRealtime : runtime::StreamPriority::kBatch);
  if (!stream.ok()) return stream.status();
  stream_.emplace(*std::move(stream));
  // Timing enabled: telemetry's "device" stage ends at this event (InitStageTimes).
  absl::StatusOr<runtime::Event> ev = runtime::Event::Create(*ctx_, runtime::EventTiming::kEnabled);
  if (!ev.ok()) return ev.status();
  done_.emplace(*std::move(ev));
  if (absl::Status st = InitStageTimes(); !st.ok()) return st;

  const runtime::CubinCache cache(o.kernel_cache_dir.empty() ? runtime::CubinCache::DefaultDir() : o.kernel_cache_dir);
  absl::StatusOr<runtime::GpuOps> ops = runtime::GpuOps::Load(*ctx_, cache);
  if (!ops.ok()) return ops.status();
  ops_.emplace(*std::move(ops));
  absl::StatusOr<RnnoiseKernels> rk = RnnoiseKernels::Load(*ctx_, cache);
  if (!rk.ok()) return rk.status();
  rk_.emplace(*std::move(rk));
  bool lane_hp = o.lane_highpass;
  if (const char* e = std::getenv("GHOSTNV_CUDA_PLAN_LANE_HIGHPASS"); e != nullptr && (e[0] == '0' || e[0] == '1'))
    lane_hp = e[0] == '1';
  if (const char* e = std::getenv("GHOSTNV_CUDA_PLAN_WARP_INNER"); e != nullptr && e[0] == '0') warp_inner_ = false;
  bool chains = o.lane_chains;
  if (const char* e = std::getenv("GHOSTNV_CUDA_PLAN_LANE_CHAINS"); e != nullptr && (e[0] == '0' || e[0] == '1'))
    chains = e[0] == '1';
  FrontendOrder order = o.frontend_order;
  if (const char* e = std::getenv("GHOSTNV_CUDA_PLAN_RELAXED_FRONTEND"); e != nullptr) {
    const std::string v(e);
    if (v == "0") order = FrontendOrder::kCpu;
    if (v == "1") order = FrontendOrder::kRelaxed;
    if (v == "auto") order = FrontendOrder::kAuto;
  }
  relaxed_ = ResolveFrontendOrder(order, o.max_sessions) == FrontendOrder::kRelaxed;
  // A model in the parallel pitch order (metadata.rnnoise.pitch_order "parallel") runs the
  // parallel frontend whatever the option says: rnn_frontend_relaxed_* is that order's exact twin
  // (audio/pitch_parallel), and the CPU-order kernels would not be; its high-pass is the scan's,
  // not the CPU's sequential chain (no lane_highpass).
  if (absl::StatusOr<models::rnnoise::DspOptions> dsp = models::rnnoise::DspOptionsOf(m); dsp.ok() && dsp->parallel_pitch) {
    relaxed_ = true;
    lane_hp = false;
  }
  if (relaxed_) chains = false;  // (a kCpu-order variant; lane_highpass combines: rnn_frontend_relaxed_hp)
  lane_hp_ = lane_hp;
  chains_ = chains;
  if (lane_hp || chains) {
    const runtime::KernelSource* src = runtime::FindKernelProgram("rnnoise_pitch.cu");
    if (src == nullptr) return absl::InternalError("kernel program rnnoise_pitch.cu is not embedded");
    absl::StatusOr<runtime::BuiltKernel> built = runtime::BuildKernelProgram(*src, ctx_->device().Arch(), cache);
    if (!built.ok()) return built.status();
    absl::StatusOr<runtime::Module> mod = runtime::Module::Load(*ctx_, built->image, "rnnoise_pitch.cu");
    if (!mod.ok()) return mod.status();
    hp_module_.emplace(*std::move(mod));
    for (auto [name, out] : {std::pair{"rnn_highpass_f32", &highpass_f32_}, std::pair{"rnn_highpass_s16", &highpass_s16_},
                             std::pair{"rnn_frontend_hp", &frontend_hp_}, std::pair{"rnn_frontend_lp_f32", &lp_f32_},
                             std::pair{"rnn_frontend_lp_s16", &lp_s16_}, std::pair{"rnn_frontend_lp_hp", &lp_hp_},
                             std::pair{"rnn_lpc_lanes", &lpc_lanes_}, std::pair{"rnn_frontend_tail", &frontend_tail_},
                             std::pair{"rnn_frontend_relaxed_hp", &relaxed_hp_}}) {
      absl::StatusOr<runtime::Kernel> k = hp_module_->GetKernel(name);
      if (!k.ok()) return k.status();
      *out = *k;
    }
    frontend_grid_cap_ = std::max(1, ctx_->device().multiprocessors) * 16;  // as RnnoiseKernels::Frontend
  }

  const runtime::Stream& s = *stream_;
  for (auto [layer, out] : {std::pair{&in, &input_dense_}, std::pair{&vout, &vad_out_}, std::pair{&dout, &denoise_out_}}) {
    absl::StatusOr<runtime::DeviceDense> d = runtime::UploadDense(*ctx_, s, DenseParamsOf(*layer, m.math));
    if (!d.ok()) return d.status();
    *out = *std::move(d);
    if (absl::Status st = ops_->SupportsDense(*out); !st.ok()) return st;
  }
  for (auto [layer, out] : {std::pair{&vg, &vad_gru_}, std::pair{&ng, &noise_gru_}, std::pair{&dg, &denoise_gru_}}) {
    absl::StatusOr<runtime::DeviceGru> g = runtime::UploadGru(*ctx_, s, GruParamsOf(*layer, m.math));
    if (!g.ok()) return g.status();
    *out = *std::move(g);
    if (absl::Status st = ops_->SupportsGru(*out); !st.ok()) return st;
  }
  NetworkPrecision network = o.network;  // GHOSTNV_CUDA_PLAN_NETWORK=fp32|fp16|fp16x3|auto overrides it (measuring)
  if (const char* e = std::getenv("GHOSTNV_CUDA_PLAN_NETWORK"); e != nullptr) {
    const std::string v(e);
    if (v == "fp32") network = NetworkPrecision::kFp32;
    if (v == "fp16") network = NetworkPrecision::kFp16;
    if (v == "fp16x3") network = NetworkPrecision::kFp16x3;
    if (v == "auto") network = NetworkPrecision::kAuto;
  }
  const bool automatic = network == NetworkPrecision::kAuto;
  network = ResolveNetworkPrecision(network, o.max_sessions);
  if (network != NetworkPrecision::kFp32) {  // gpu-tc: fused tensor-core network stage
    absl::StatusOr<TcNetwork> tc = TcNetwork::Create(*ctx_, s, cache, m, network == NetworkPrecision::kFp16x3);
    if (tc.ok()) {
      tc_.emplace(*std::move(tc));
    } else if (!automatic || !absl::IsInvalidArgument(tc.status())) {
      return tc.status();
    }  // else kAuto with a model the fused kernel cannot hold: the fp32 kernels
  }
  absl::StatusOr<runtime::DeviceFftPlan> fft = runtime::MakeFftPlan(*ctx_, s, RNN_WINDOW);
  if (!fft.ok()) return fft.status();
  fft_ = *std::move(fft);
  fused_ = o.fused_spectra;
  if (const char* e = std::getenv("GHOSTNV_CUDA_PLAN_FUSED"); e != nullptr && (e[0] == '0' || e[0] == '1'))
    fused_ = e[0] == '1';
  if (fused_) {  // (a second module of rnnoise_features.cu: RnnoiseKernels holds the split kernels)
    const runtime::KernelSource* src = runtime::FindKernelProgram("rnnoise_features.cu");
    if (src == nullptr) return absl::InternalError("kernel program rnnoise_features.cu is not embedded");
    absl::StatusOr<runtime::BuiltKernel> built = runtime::BuildKernelProgram(*src, ctx_->device().Arch(), cache);
    if (!built.ok()) return built.status();
    absl::StatusOr<runtime::Module> mod = runtime::Module::Load(*ctx_, built->image, "rnnoise_features.cu");
    if (!mod.ok()) return mod.status();
    feat_module_.emplace(*std::move(mod));
    // Blocks per SM (gpuspec): the kernels' __launch_bounds__ — 10, the _o10 kernels (48
    // registers; H200, 64k rows pcm16, same run: post+ifft+synth 746 -> 675 us, features 832 ->
    // 821, hop 5472 -> 5369 us; 12 blocks at 40 registers spilled and were slower), or with
    // GHOSTNV_CUDA_PLAN_FUSED_OCC=8 the first kernels (64 registers: the whole register file at
    // 128 threads); capped at the SM's threads (sm_75: 1024, sm_86/89: 1536).
    // GHOSTNV_CUDA_PLAN_FUSED_BLOCKS=1..32 overrides both grids (A/B).
    int occ = 10;
    if (const char* e = std::getenv("GHOSTNV_CUDA_PLAN_FUSED_OCC"); e != nullptr && *e != 0)
      occ = std::atoi(e) >= 10 ? 10 : 8;
    const int cc = ctx_->device().cc_major * 10 + ctx_->device().cc_minor;
    const int sm_blocks = cc < 80 ? 8 : (cc == 80 || cc >= 90) ? 16 : 12;  // 128-thread blocks per SM
    // Prefetching (occupancy 10): GHOSTNV_CUDA_PLAN_FUSED_PREFETCH=1 the _o10p postprocess (the
    // synthesis operands copied to shared memory as each row starts; H200, 64k rows pcm16, same
    // run: 678 -> 593 us, hop 5495 -> 5297 us), =2 (default) also the _o10p features kernel
    // (the tail's slot-state operands loaded as the row starts: the same idea, its H200 A/B is
    // in the final check), =0 neither.
    const char* pre = std::getenv("GHOSTNV_CUDA_PLAN_FUSED_PREFETCH");
    const int pre_level = pre != nullptr && pre[0] >= '0' && pre[0] <= '2' ? pre[0] - '0' : 2;
    const bool prefetch = occ == 10 && pre_level >= 1;
    const char* feat_name = occ >= 10 && pre_level >= 2 ? "rnn_spec_features_f32_o10p"
                            : occ >= 10                 ? "rnn_spec_features_f32_o10"
                                                        : "rnn_spec_features_f32";
    const char* post_f32 = prefetch    ? "rnn_post_synthesis_f32_o10p"
                           : occ >= 10 ? "rnn_post_synthesis_f32_o10"
                                       : "rnn_post_synthesis_f32";
    const char* post_s16 = prefetch    ? "rnn_post_synthesis_s16_o10p"
                           : occ >= 10 ? "rnn_post_synthesis_s16_o10"
                                       : "rnn_post_synthesis_s16";
    for (auto [name, out] : {std::pair{feat_name, &spec_features_}, std::pair{post_f32, &post_synth_f32_},
                             std::pair{post_s16, &post_synth_s16_}}) {
      absl::StatusOr<runtime::Kernel> k = feat_module_->GetKernel(name);
      if (!k.ok()) return k.status();
      *out = *k;
    }
    int per_sm = std::min(occ, sm_blocks);
    if (const char* e = std::getenv("GHOSTNV_CUDA_PLAN_FUSED_BLOCKS"); e != nullptr)
      per_sm = std::clamp(std::atoi(e), 1, 32);
    fused_grid_cap_ = std::max(1, ctx_->device().multiprocessors) * per_sm;
  }
  if (fused_) stage_names_.assign(std::begin(kFusedStageNames), std::end(kFusedStageNames));
  else stage_names_.assign(std::begin(kStageNames), std::end(kStageNames));

  const size_t n = static_cast<size_t>(max_);
  // Control blocks of up to kMaxChunks chunks (each chunk's cap rounded up to kChunkAlign rows).
  str_offset_ = (static_cast<size_t>(kMaxChunks) * (kCtlHeader + kChunkAlign) + n) * sizeof(int);
  in_offset_ = (str_offset_ + n * sizeof(float) + 255) / 256 * 256;
  out_offset_ = (n * sizeof(CudaHopInfo) + 255) / 256 * 256;
  const size_t up_bytes = in_offset_ + n * RNN_HOP * sample_bytes_;
  const size_t down_bytes = out_offset_ + n * RNN_HOP * sample_bytes_;
  using runtime::Wipe;
  struct {
    DeviceBlock* block;
    size_t floats;
    Wipe wipe;
  } blocks[] = {{&window_, RNN_WINDOW, Wipe::kNo},
                {&dct_, RNN_BANDS * RNN_BANDS, Wipe::kNo},
                {&state_, n * state_stride_, Wipe::kOnFree},
                {&up_d_, up_bytes / sizeof(float), Wipe::kOnFree},
                {&frames_, 2 * n * RNN_WINDOW, Wipe::kOnFree},
                {&spec_, 2 * n * RNN_SPEC_STRIDE, Wipe::kOnFree},
                {&bands_, n * RNN_BD_STRIDE, Wipe::kOnFree},
                {&net_a_, n * a_stride_, Wipe::kOnFree},
                {&net_b_, n * b_stride_, Wipe::kOnFree},
                {&net_c_, n * c_stride_, Wipe::kOnFree},
                {&gains_, n * RNN_BANDS, Wipe::kOnFree},
                {&vad_, n, Wipe::kOnFree},
                {&y_, fused_ ? 0 : n * RNN_WINDOW, Wipe::kOnFree},  // (the fused kernels keep y on chip)
                {&down_d_, down_bytes / sizeof(float), Wipe::kOnFree},
                {&lpc_scratch_, chains_ ? n * RNN_LPS_STRIDE : 0, Wipe::kOnFree}};
  for (auto& b : blocks) {
    absl::StatusOr<DeviceBlock> d = Alloc(*ctx_, b.floats, b.wipe);
    if (!d.ok()) return d.status();
    *b.block = *std::move(d);
    if (CUresult r = b.block->FillBytesAsync(0, s); r != cu::kSuccess)
      return runtime::CuError(ctx_->api(), r, "cuMemsetD8Async", "zeroing the CUDA plan's buffers");
  }
  struct {
    PinnedBlock* block;
    size_t bytes;
  } pinned[] = {{&up_h_, up_bytes}, {&down_h_, down_bytes}};
  for (auto& p : pinned) {
    absl::StatusOr<PinnedBlock> h = PinnedBlock::Allocate(*ctx_, p.bytes, runtime::HostMapping::kUnmapped,
                                                          runtime::HostCaching::kDefault, runtime::Wipe::kOnFree);
    if (!h.ok()) return h.status();
    std::memset(h->data(), 0, p.bytes);
    *p.block = *std::move(h);
  }
  const std::vector<float> window = audio::PowerComplementaryWindow(RNN_WINDOW);
  const std::vector<float> dct = DctTable();
  if (CUresult r = window_.CopyFromHostAsync(window.data(), window.size() * 4, s); r != cu::kSuccess)
    return runtime::CuError(ctx_->api(), r, "cuMemcpyHtoDAsync", "uploading the window");
  if (CUresult r = dct_.CopyFromHostAsync(dct.data(), dct.size() * 4, s); r != cu::kSuccess)
    return runtime::CuError(ctx_->api(), r, "cuMemcpyHtoDAsync", "uploading the DCT table");
  if (absl::Status st = s.Synchronize(); !st.ok()) return st;

  if (const char* prof = std::getenv("GHOSTNV_CUDA_PLAN_PROFILE"); prof != nullptr && prof[0] == '1') {
    for (size_t i = 0; i <= stage_names_.size(); ++i) {
      absl::StatusOr<runtime::Event> e = runtime::Event::Create(*ctx_, runtime::EventTiming::kEnabled);
      if (!e.ok()) return e.status();
      prof_.push_back(*std::move(e));
    }
  }
  used_.assign(n, 0);
  free_.reserve(n);
  for (int slot = max_ - 1; slot >= 0; --slot) free_.push_back(slot);
  mark_.assign(n, 0);
  for (int b = 1; b < max_; b *= 2) buckets_.push_back(b);
  buckets_.push_back(max_);
  bool pipelined = false;
  for (int rows : buckets_) {
    // Profiling plans launch stage by stage on one stream: no chunks.
    int c = prof_.empty() ? PipelineChunks(rows, o.batch_chunks) : 1;
    const int cap = c == 1 ? rows : RoundUp((rows + c - 1) / c, kChunkAlign);
    c = (rows + cap - 1) / cap;
    chunks_.push_back(c);
    chunk_cap_.push_back(cap);
    pipelined = pipelined || c > 1;
  }
  if (pipelined) {
    const auto prio = o.realtime ? runtime::StreamPriority::kRealtime : runtime::StreamPriority::kBatch;
    // Compute streams: chunk c runs on stream c % K, so neighbouring chunks' kernels overlap
    // (one chunk's tail and small kernels next to the other's frontend). K = 4 by default (H200,
    // 64k rows pcm16, 16 chunks: K = 1 12.4 ms, 2 10.1, 3 10.0, 4 9.8);
    // GHOSTNV_CUDA_PLAN_COMPUTE_STREAMS=1..4 for diagnosis (benchmark).
    int k = 4;
    if (const char* cs = std::getenv("GHOSTNV_CUDA_PLAN_COMPUTE_STREAMS"); cs != nullptr && cs[0] >= '1' && cs[0] <= '4')
      k = cs[0] - '0';
    for (std::optional<runtime::Stream>* p : {&up_stream_, &down_stream_}) {
      absl::StatusOr<runtime::Stream> ps = runtime::Stream::Create(*ctx_, prio);
      if (!ps.ok()) return ps.status();
      p->emplace(*std::move(ps));
    }
    for (int i = 1; i < k; ++i) {
      absl::StatusOr<runtime::Stream> ps = runtime::Stream::Create(*ctx_, prio);
      if (!ps.ok()) return ps.status();
      comp_extra_.push_back(*std::move(ps));
    }
    for (int i = 0; i < 1 + 2 * kMaxChunks + 2 + 3; ++i) {
      absl::StatusOr<runtime::Event> e = runtime::Event::Create(*ctx_, runtime::EventTiming::kDisabled);
      if (!e.ok()) return e.status();
      pipe_events_.push_back(*std::move(e));
    }
  }
  for (size_t gi = 0; gi < buckets_.size(); ++gi) {
    absl::StatusOr<runtime::CapturedGraph> g =
        runtime::CaptureGraph(*ctx_, s, [this, gi] { return Record(gi); });
    if (!g.ok()) return g.status();
    graphs_.push_back(*std::move(g));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<CudaPlanStage> CudaPlanStageTimes(const CudaPlan& plan) {
  const auto* impl = dynamic_cast<const CudaPlanImpl*>(&plan);
  return impl != nullptr ? impl->StageTimes() : std::vector<CudaPlanStage>{};
}

absl::Status WriteRnnoiseDspHeader(const models::Model& m, int* ctl) {
  absl::StatusOr<models::rnnoise::DspOptions> dsp = models::rnnoise::DspOptionsOf(m);
  if (!dsp.ok()) return dsp.status();
  const bool pf_custom = dsp->pitch_filter != 1.f || dsp->pitch_gain_slope != 0.f;
  ctl[RNN_CTL_FLAGS] = (dsp->highpass ? 0 : RNN_CTL_NO_HIGHPASS) | (pf_custom ? RNN_CTL_PF_CUSTOM : 0);
  std::memcpy(&ctl[RNN_CTL_PF_STRENGTH], &dsp->pitch_filter, sizeof(int));
  std::memcpy(&ctl[RNN_CTL_PF_SLOPE], &dsp->pitch_gain_slope, sizeof(int));
  ctl[RNN_CTL_LOW_CUT] = dsp->low_cut_bins;  // (postprocess: output bins below it zeroed)
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CudaPlan>> CudaPlan::Create(std::shared_ptr<const models::Model> model,
                                                           const CudaPlanOptions& options) {
  if (model == nullptr) return absl::InvalidArgumentError("CUDA plan: no model");
  auto plan = std::make_unique<CudaPlanImpl>();
  if (absl::Status st = plan->Init(std::move(model), options); !st.ok()) return st;
  return std::unique_ptr<CudaPlan>(std::move(plan));
}

}  // namespace ghostnv::sched
