// models/demucs/demucs_family.h — causal Demucs (Facebook Denoiser, Defossez et al. 2020).
//
// The waveform network of facebookresearch/denoiser with causal=True: the input is normalised
// by its standard deviation, upsampled x`resample` with a windowed-sinc interpolator, encoded by
// `depth` levels of Conv1d(K, S) + ReLU + 1x1 Conv1d + GLU, passed through a unidirectional LSTM
// stack, decoded by `depth` levels of (+ skip) 1x1 Conv1d + GLU + ConvTranspose1d(K, S) [+ ReLU],
// downsampled and scaled back. dns48/dns64: 16 kHz, K 8, S 4, resample 4, depth 5.
//
// Two ways to run it:
//   * ProcessOffline(): Demucs.forward on a whole signal (what the exported ONNX graph computes;
//     the conformance reference). Allocates; not for the real-time path.
//   * The Family (ProcessHop): the published streaming algorithm (denoiser's DemucsStreamer,
//     num_frames=1, resample_lookahead 64, resample_buffer min(hop, 256)): per hop of
//     S^depth / resample samples (256 = 16 ms for dns48) one frame of frame_length + lookahead
//     samples (661 for dns48) is normalised by the running variance (DemucsStreamer's cumulative
//     mean over the first norm_frames frames, then an exponential average: Networks::norm_frames), resampled with 256
//     samples of history, and run through the network with the encoders' previous outputs and
//     the transposed convolutions' partial sums cached, so each hop computes only new time
//     steps. The output is delayed by algorithmic_latency() = (ceil(661 / 256) - 1) * 256 = 512
//     samples (32 ms at 16 kHz) for dns48: the first frame needs 661 input samples. It differs
//     from the offline output by the normalisation (running instead of global variance) and
//     the resampler's frame edges, exactly as DemucsStreamer does. A model trained on a
//     target delayed by D samples (metadata.demucs.output_delay = D) reports D more samples of
//     algorithmic latency; its computation is the same. A skip-delayed model
//     (metadata.demucs.skip_delay = D, which must equal output_delay) adds a delay line to each
//     skip connection (level i: D * resample / stride^(i+1) steps, ~22 KiB per channel for the
//     enhanced model at D = 256); ProcessOffline and the streaming channel both apply it.
//
//   auto fam = models::CreateFamily(model);   // family "demucs", from ghostnv-convert
//   auto ch = (*fam)->NewChannel();           // allocates every buffer of the channel
//   (*fam)->ProcessHop(*ch, in256, out256, 1.0f);   // real-time safe: no allocation
//
// The .gnvm layout (convolutions as dense layers over time-major windows) is described in
// tools/convert/family_demucs.py and tools/convert/README.md.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/dense.h"
#include "kernels/lstm.h"
#include "models/family.h"

namespace ghostnv::models::demucs {

// The weights and hyper-parameters of one model, checked against each other. Holds pointers
// into the Model (which must outlive it).
// The streaming normalisation's memory when a file does not set metadata.demucs.norm_memory_frames.
inline constexpr double kDefaultNormMemorySeconds = 3.0;

struct Networks {
  int depth = 0, kernel = 0, stride = 0, resample = 1;
  bool glu = true, normalize = true;
  float floor = 1e-3f;
  int hop = 0;               // S^depth / resample: input samples per network step
  int frame_length = 0;      // valid_length(1)
  int lookahead = 64, resample_buffer = 256;
  // metadata.demucs.output_delay (optional, default 0): the network was trained to output the
  // clean signal this many samples late, i.e. with that much more future context. Nothing in
  // the computation changes; the model's algorithmic_latency must include it
  // (StreamingLatency() + output_delay), so everything that aligns output (ghostnv-denoise,
  // the library's latency report, --report json) accounts for it.
  int output_delay = 0;
  // metadata.demucs.skip_delay (optional, default 0; tools/train/enhanced_train.py
  // SkipDelayDemucs): the skip of encoder level i (0-based) reaches its decoder skip_frames[i] =
  // skip_delay * resample / stride^(i+1) steps late (zeros before the start); the LSTM path is
  // not delayed, so the decoder combines skip features of t - skip_delay with deep features
  // that have seen up to t, and the output is skip_delay samples late: output_delay must equal
  // it. skip_delay is a multiple of hop (a whole number of steps at the deepest level).
  int skip_delay = 0;
  // metadata.demucs.norm_memory_frames (optional; default kDefaultNormMemorySeconds of frames,
  // 0 = never forget): the streaming normalisation's running variance is the mean of the
  // frames' mean squares over the first norm_frames frames (DemucsStreamer's cumulative mean),
  // then an exponential average with weight 1 / norm_frames, so a stream whose level changes
  // (a quiet lead-in, a user moving to the microphone) is re-normalised within ~norm_frames
  // frames instead of ever more slowly; streams shorter than norm_frames frames are unchanged.
  int norm_frames = 0;
  std::vector<int> skip_frames;  // [depth], all 0 without a skip delay
  const float* sinc = nullptr;  // [2 * zeros] the interpolation kernel (resample > 1)
  int sinc_taps = 0;

  struct Level {                    // encoder i and the decoder that takes its skip
    int cin = 0, cout = 0;          // encoder: cin -> cout; decoder: cout -> cin
    kernels::DenseParams conv;      // [K*cin][cout], relu
    kernels::DenseParams enc_pw;    // [cout][2*cout] (GLU) or [cout][cout] relu
    kernels::DenseParams dec_pw;    // same
    kernels::DenseParams convtr;    // [cout][K*cin], no bias
    const float* convtr_bias = nullptr;  // [cin]
  };
  std::vector<Level> level;         // by encoder index (decoder j is level depth-1-j)
  std::vector<kernels::LstmParams> lstm;

  int Channels() const { return level.empty() ? 0 : level.back().cout; }
  // Demucs.valid_length(length).
  long ValidLength(long length) const;
  // The streaming algorithm's own delay, (ceil((frame_length + lookahead) / hop) - 1) * hop.
  int StreamingLatency() const;
};

absl::StatusOr<Networks> BuildNetworks(const Model& model);

// Demucs.forward on n samples (mono); out has n samples. Allocates.
absl::Status ProcessOffline(const Networks& net, const float* in, size_t n, float* out);

absl::StatusOr<std::unique_ptr<Family>> CreateDemucsFamily(std::shared_ptr<const Model> model);

// The 2x windowed-sinc resamplers of denoiser/resample.py (exposed for tests).
// Upsample2: out has 2n samples. Downsample2: out has (n + 1) / 2 samples.
void Upsample2(const float* in, int n, const float* kernel, int taps, float* out);
void Downsample2(const float* in, int n, const float* kernel, int taps, float* out);

}  // namespace ghostnv::models::demucs
