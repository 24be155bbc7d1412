// runtime/sched/rnnoise_kernels.h — the RNNoise pipeline's own CUDA kernels
// (kernels/rnnoise_pitch.cu, kernels/rnnoise_features.cu), loaded for one context, with launchers.
//
// The network itself runs on runtime::GpuOps (dense, GRU) and the FFTs on GpuOps too; these are
// the model-specific stages around them. Buffers and their layouts are described in
// kernels/rnnoise_layout.cuh and at the top of each .cu file. Every launcher takes `rows` (the
// grid is sized for it) and a device control block `ctl` (int ctl[0] = the rows really used,
// ctl[16 + b] = row b's slot); rows >= ctl[0] are skipped, so one captured graph serves every
// batch up to `rows`.
//
//   absl::StatusOr<RnnoiseKernels> k = RnnoiseKernels::Load(ctx, cache);   // setup
//   k->Frontend(in, 480, ctl, state, stride, window, frames, rows, avx2, stream);  // per hop
//
// Launchers return the raw CUresult (real-time path: no allocation, no Status).
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "runtime/context.h"
#include "runtime/cubin_cache.h"
#include "runtime/module.h"
#include "runtime/stream.h"

namespace ghostnv::sched {

namespace cu = ::ghostnv::runtime::cu;

class RnnoiseKernels {
 public:
  static absl::StatusOr<RnnoiseKernels> Load(const runtime::Context& ctx,
                                             const runtime::CubinCache& cache);
  RnnoiseKernels(RnnoiseKernels&&) = default;
  RnnoiseKernels& operator=(RnnoiseKernels&&) = default;

  using Ptr = cu::CUdeviceptr;
  // High-pass, pitch analysis, analysis and pitch frames (frames: [2 rows][960]).
  // avx2: 1 = reproduce kernels/xcorr_avx2.cc's summation order, 0 = the scalar reference's.
  // pcm16: input rows are int16 (x / 32768) instead of float; in_stride counts samples.
  // relaxed: rnn_frontend_relaxed_* (CudaPlanOptions::frontend_order kRelaxed: the same
  // algorithm with its serial chains computed in parallel, not bit-identical to the CPU; avx2
  // unused; one 128-thread block per row even with GHOSTNV_RNN_FRONTEND_ROWS=3).
  cu::CUresult Frontend(Ptr in, int in_stride, Ptr ctl, Ptr state, int state_stride, Ptr window,
                        Ptr frames, int rows, int avx2, const runtime::Stream& s,
                        bool pcm16 = false, bool relaxed = false) const;
  cu::CUresult Features(Ptr spec, Ptr ctl, Ptr state, int state_stride, Ptr dct, Ptr bands,
                        Ptr net_a, int a_stride, Ptr net_b, int b_stride, Ptr net_c, int c_stride,
                        int u0, int u1, int u2, int u3, int rows, const runtime::Stream& s) const;
  cu::CUresult CopyCols(Ptr src, int src_stride, Ptr dst, int dst_stride, int cols, Ptr ctl,
                        int rows, const runtime::Stream& s) const;
  cu::CUresult Postprocess(Ptr spec, Ptr ctl, Ptr state, int state_stride, Ptr bands, Ptr gains,
                           Ptr vad, Ptr net_a, int a_stride, Ptr net_b, int b_stride, Ptr net_c,
                           int c_stride, int u0, int u1, int u2, int u3, Ptr info, int rows,
                           const runtime::Stream& s) const;
  // pcm16: input and output rows are int16 (output rounded to the nearest and clamped).
  cu::CUresult Synthesis(Ptr y, int y_stride, Ptr in, int in_stride, Ptr ctl, Ptr strengths,
                         Ptr state, int state_stride, Ptr window, Ptr out, int out_stride,
                         int rows, const runtime::Stream& s, bool pcm16 = false) const;

 private:
  RnnoiseKernels() = default;
  std::vector<runtime::Module> modules_;
  runtime::Kernel frontend_, frontend_s16_, relaxed_, relaxed_s16_, features_, copy_cols_, postprocess_, synthesis_, synthesis_s16_;
  int grid_cap_ = 1;  // blocks loop over rows beyond this
  int frontend_rows_ = 1;  // rows per frontend block (1, or 3 with GHOSTNV_RNN_FRONTEND_ROWS=3)
};

}  // namespace ghostnv::sched
