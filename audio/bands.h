// audio/bands.h — RNNoise's band layout and the band-domain DSP around its network.
//
// 22 bands whose edges are multiples of 200 Hz at 48 kHz (0, 200, ..., 20 kHz), on the 481 bins
// of a 960-point real FFT. Band quantities use triangular weights: bin j of band i contributes
// (1 - frac) to band i and frac to band i + 1, so neighbouring bands overlap; the first and last
// bands are doubled to compensate for their missing half. Bins above 20 kHz get gain 0.
//
//   float Ex[kBands]; BandEnergy(X, Ex);            // X: kBins complex bins
//   float gf[kBins];  InterpolateBandGains(g, gf);   // back from 22 gains to 481 bins
//
// All functions are pure (no allocation) and real-time safe.
#pragma once

#include "audio/fft.h"

namespace ghostnv::audio::bands {

constexpr int kBands = 22;
constexpr int kWindow = 960;           // FFT size
constexpr int kBins = kWindow / 2 + 1;  // 481
// Band edges in bins.
int BandStart(int band);

void BandEnergy(const cfloat* X, float* band_energy);
void BandCorrelation(const cfloat* X, const cfloat* P, float* band_corr);  // Re(X conj P) per band
void InterpolateBandGains(const float* band_gain, float* bin_gain);

// RNNoise's pitch filter: mixes the pitch-delayed spectrum P into X per band, by how much the
// network's gains g leave room for it given the pitch correlation Exp, then renormalises each
// band to its original energy Ex. `strength` (0..1) scales the per-band mixing coefficients
// (1 = RNNoise exactly, 0 = X unchanged); `gain_slope` k > 0 further scales band i's by
// min(1, k * (1 - g[i])), so bands the network passes (g near 1) are left alone (0 = off).
// Models set both in metadata.rnnoise (models/rnnoise/rnnoise_family.h).
void PitchFilter(cfloat* X, const cfloat* P, const float* Ex, const float* Ep, const float* Exp,
                 const float* g, float strength = 1.f, float gain_slope = 0.f);

// DCT-II of kBands values with orthonormal scaling (RNNoise's cepstrum).
void BandDct(const float* in, float* out);

}  // namespace ghostnv::audio::bands
