// models/rnnoise/rnnoise_family.h — the RNNoise family: 48 kHz, 10 ms hop, 20 ms window.
//
// Per hop of 480 samples: DC-blocking high-pass → windowed 960-point FFT → 22 band energies,
// pitch analysis and pitch-delayed spectrum → 42 features (cepstrum, its deltas, pitch
// correlation cepstrum, period, spectral variability) → the network (dense 42→24, three GRUs,
// dense → 22 band gains and a VAD probability) → pitch filter, gain smoothing, per-bin gains →
// inverse FFT and overlap-add. The output is delayed by 480 samples (one hop).
//
// The DSP reproduces what ffmpeg's `arnndn` filter does (inputs are floats in [-1, 1]), so
// RNNoise `.rnnn` models give the same output here as there; models trained by this project
// use the same features.
//
//   auto fam = models::CreateFamily(model);   // family "rnnoise"
//   auto ch = (*fam)->NewChannel();
//   (*fam)->ProcessHop(*ch, in, out, 1.0f);
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "models/family.h"

namespace ghostnv::models::rnnoise {

constexpr int kHop = 480;
constexpr int kWindow = 960;
constexpr int kBins = kWindow / 2 + 1;
constexpr int kBands = 22;
constexpr int kFeatures = 42;  // kBands + 3 * 6 delta cepstra + pitch period + spectral variability

// Per-model switches of the fixed DSP around the network, read from the .gnvm header's
// `metadata.rnnoise` object (models/README.md, "RNNoise-family DSP flags"). The defaults are
// RNNoise's own processing, which every .rnnn file and any .gnvm without the object gets, so
// RNNoise models stay bit-exact with ffmpeg's arnndn.
//   metadata.rnnoise.highpass      (bool, default true): the DC-rejecting input high-pass
//                                  (b = {-2, 1}, a = {-1.99599, 0.99600}, before everything).
//   metadata.rnnoise.pitch_filter  (true, false or a number in [0, 1]; default true = 1):
//                                  RNNoise's pitch filter on the spectrum before the band gains
//                                  (audio/bands.h PitchFilter), its mixing coefficients scaled
//                                  by this strength; false or 0 skips it.
//   metadata.rnnoise.pitch_filter_gain_slope (number in [0, 1000], default 0 = off): k > 0
//                                  scales band i's pitch-filter coefficient by
//                                  min(1, k * (1 - g[i])), g = the network's band gain.
//   metadata.rnnoise.low_cut_hz    (number in [0, 1000], default 0 = off): the output spectrum's
//                                  bins below this frequency (bin k is k * 50 Hz) are set to 0
//                                  in every hop, silent ones included — a zero-phase rumble cut
//                                  for models that run without the input high-pass.
//   metadata.rnnoise.pitch_order   ("sequential" or "parallel", default "sequential"): the
//                                  summation order of the high-pass and the pitch analysis.
//                                  "sequential" is RNNoise's (audio/filters, audio/pitch: bit for
//                                  bit ffmpeg's arnndn; the GPU reproduces it with serial
//                                  one-lane chains); "parallel" is audio/pitch_parallel's, which
//                                  the GPU's parallel frontend (rnn_frontend_relaxed_*)
//                                  reproduces bit for bit and the CPU computes the same on every
//                                  machine. Same algorithm; the two differ by rounding only.
// Features (and the pitch analysis) are computed from the (possibly high-passed) input either way.
struct DspOptions {
  bool highpass = true;
  float pitch_filter = 1.f;      // strength; 0 = off
  float pitch_gain_slope = 0.f;  // metadata.rnnoise.pitch_filter_gain_slope; 0 = off
  int low_cut_bins = 0;          // ceil(metadata.rnnoise.low_cut_hz / 50): bins zeroed per hop
  bool parallel_pitch = false;   // metadata.rnnoise.pitch_order == "parallel"
};

// The DSP switches of `model` (defaults when its metadata has no `rnnoise` object); an
// InvalidArgument error when `metadata.rnnoise` is not an object or a switch is not a boolean.
absl::StatusOr<DspOptions> DspOptionsOf(const Model& model);

// Checks that `model` has the six RNNoise layers with consistent sizes and builds the family.
absl::StatusOr<std::unique_ptr<Family>> CreateRnnoiseFamily(std::shared_ptr<const Model> model);

// Runs only the network of an RNNoise-family model on `frames` feature vectors (one stream,
// recurrent state starting at zero), with exactly the kernels and wiring ProcessHop uses:
// features [frames][42] -> gains [frames][22], vad [frames] (vad may be null). For checking an
// exported model against its training framework; allocates, not real-time code.
absl::Status RunNetworkOnFeatures(std::shared_ptr<const Model> model, const float* features,
                                  long frames, float* gains, float* vad);

// Training support: computes, for one stream of time-aligned noisy and clean audio at 48 kHz,
// exactly the features inference computes from the noisy signal and the target band gains
// sqrt(E_clean / E_noisy) clipped to [0, 1] (-1 = "don't care": both bands near silence, or the
// frame is silent and inference would not run the network). vad: 1 when the clean hop is
// louder than -40 dBFS RMS, 0 below -55 dBFS, 0.5 between. `dsp.highpass` = false skips the
// input high-pass on both signals (as inference does for such a model). Not real-time code.
class FeatureExtractor {
 public:
  explicit FeatureExtractor(const DspOptions& dsp = DspOptions());
  ~FeatureExtractor();
  // noisy/clean: kHop samples each. Returns false for a silent frame (features all zero).
  bool Process(const float* noisy, const float* clean, float* features, float* gains, float* vad);
  // The pitch period (in samples, kMinPeriod..kMaxPeriod) of the last Process call's noisy frame:
  // the spectrum P the pitch filter mixes in is the window ending `period` samples before the
  // frame's end (training code rebuilds P, Ep and Exp from it).
  int last_period() const;
  // The last Process call's noisy hop as the analysis saw it (high-passed unless
  // DspOptions::highpass is false): kHop samples, valid until the next call.
  const float* last_input() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ghostnv::models::rnnoise
