// models/ultra/ultra_family.h — the "ultra" family: 48 kHz, 2 ms hop, 2 ms algorithmic latency.
//
// An RNNoise-like band-gain suppressor with short frames and a low-delay asymmetric window pair
// (Mauler & Martin style). Per hop of 96 samples:
//   the last 384 input samples (8 ms) × analysis window → 384-point real FFT (193 bins, 125 Hz)
//   → 32 triangular band energies (1 bin apart up to 1.75 kHz, ERB-spaced above) → 32 features
//   log10(E + 1e-10) → the network (dense → GRU → GRU → 32 sigmoid band gains, and a VAD) →
//   per-bin gains interpolated between band centres → inverse FFT → synthesis window, which is
//   non-zero only on the last 192 samples → overlap-add with hop 96.
// The analysis window rises over 288 samples and falls over the last 96; the synthesis window is
// chosen so that analysis × synthesis is a periodic Hann of 192 samples on the frame's tail,
// whose 96-sample shifts sum to one: with unit gains the output is the input delayed by exactly
// kLatency = 96 samples (2 ms). The network state carries the longer-term context.
//
// Layers (names fixed, sizes free, checked when the family is built; F = kFeatures = 32):
//   input_dense  dense F → D (any activation)
//   gru1         gru   D → U1
//   gru2         gru   U1 + D → U2          (input = [gru1 state, input_dense output])
//   gain_output  dense U2 → kBands (sigmoid)
//   vad_output   dense U1 → 1 (sigmoid)
//
//   auto fam = models::CreateFamily(model);   // family "ultra", 48000 Hz, frame 384, hop 96
//   auto ch = (*fam)->NewChannel();
//   (*fam)->ProcessHop(*ch, in96, out96, 1.0f);
#pragma once

#include <array>
#include <complex>
#include <memory>

#include "absl/status/statusor.h"
#include "models/family.h"

namespace ghostnv::models::ultra {

constexpr int kSampleRate = 48000;
constexpr int kHop = 96;         // 2 ms
constexpr int kWindow = 384;     // analysis window and FFT size (8 ms)
constexpr int kSynthesis = 192;  // non-zero tail of the synthesis window
constexpr int kBins = kWindow / 2 + 1;
constexpr int kBands = 32;
constexpr int kFeatures = kBands;
constexpr int kLatency = kSynthesis - kHop;  // 96 samples = 2 ms

// FFT bin of each band's centre (bin k is k * 125 Hz). Band b covers the bins from centre b-1
// to centre b+1 with triangular weights; the weights of every bin sum to one.
constexpr std::array<int, kBands> kBandCenters = {
    0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,  12,  13,  14,  16,
    18, 22, 26, 30, 35, 41, 48, 56, 66, 77, 90, 104, 122, 142, 165, 192};

// The window pair (kWindow samples each); analysis[i] * synthesis[i] summed over shifts of kHop
// is one. Computed once, in double precision, then rounded to float.
const std::array<float, kWindow>& AnalysisWindow();
const std::array<float, kWindow>& SynthesisWindow();

// Band energies of a spectrum (kBins bins): E[b] = sum_k w_b(k) |X_k|^2.
void BandEnergies(const std::complex<float>* X, float* E);
// Per-bin gains (kBins) interpolated linearly between band centres from kBands band gains.
void InterpolateGains(const float* band_gains, float* bin_gains);

// Checks the model's header and layers (see above) and builds the family.
absl::StatusOr<std::unique_ptr<Family>> CreateUltraFamily(std::shared_ptr<const Model> model);

// Runs only the network (one stream, state starting at zero) with the kernels and wiring of
// ProcessHop: features [frames][kFeatures] → gains [frames][kBands], vad [frames] (may be null).
// For checking an exported model against PyTorch; allocates, not real-time code.
absl::Status RunNetworkOnFeatures(std::shared_ptr<const Model> model, const float* features,
                                  long frames, float* gains, float* vad);

// Training support: for one stream of time-aligned noisy and clean audio at 48 kHz, computes
// per hop exactly the features ProcessHop computes from the noisy signal, and the target band
// gains sqrt(E_clean / E_noisy) clipped to [0, 1] (-1 = "don't care": both bands below
// 1e-9, about -90 dB). Not real-time code.
class FeatureExtractor {
 public:
  FeatureExtractor();
  ~FeatureExtractor();
  // noisy/clean: kHop samples each.
  void Process(const float* noisy, const float* clean, float* features, float* gains);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ghostnv::models::ultra
