// audio/bands.cc — see bands.h.
#include "audio/bands.h"

#include <algorithm>
#include <cmath>

#include "kernels/xcorr.h"

namespace ghostnv::audio::bands {
namespace {

// Edges in units of 200 Hz; times 4 gives 50 Hz bins of the 960-point FFT at 48 kHz.
constexpr int kEdges200Hz[kBands] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  10, 12,
                                     14, 16, 20, 24, 28, 34, 40, 48, 60, 78, 100};
constexpr int kBinsPerUnit = 4;

struct DctTable {
  float c[kBands][kBands];
  DctTable() {
    for (int k = 0; k < kBands; ++k)
      for (int n = 0; n < kBands; ++n) {
        c[k][n] = std::cos((n + .5f) * k * static_cast<float>(M_PI) / kBands);
        if (k == 0) c[k][n] *= std::sqrt(.5f);
      }
  }
};
const DctTable& Dct() {
  static const DctTable t;
  return t;
}

// Per-bin triangular weights: bin i (below 20 kHz) belongs to band band[i] with weight lo[i] and
// to band band[i] + 1 with weight hi[i] = j / size (j its offset in the band).
struct BinWeights {
  int band[kBins];
  float lo[kBins];
  float hi[kBins];
  int start[kBands];
  int size[kBands];
  int end;  // first bin above the last band start
  BinWeights() {
    for (int b = 0; b < kBands; ++b) {
      start[b] = kEdges200Hz[b] * kBinsPerUnit;
      size[b] = b + 1 < kBands ? (kEdges200Hz[b + 1] - kEdges200Hz[b]) * kBinsPerUnit : 0;
    }
    for (int b = 0; b < kBands - 1; ++b)
      for (int j = 0; j < size[b]; ++j) {
        const float frac = static_cast<float>(j) / size[b];
        band[start[b] + j] = b;
        lo[start[b] + j] = 1.f - frac;
        hi[start[b] + j] = frac;
      }
    end = start[kBands - 1];
  }
};
const BinWeights& Weights() {
  static const BinWeights w;
  return w;
}

// Triangular band sums of a per-bin quantity v: each band's two weighted sums are dot products
// (SIMD), so the result differs from a sequential sum only in rounding.
void WeightedBandSums(const float* v, float* out) {
  const BinWeights& w = Weights();
  float sum[kBands] = {};
  for (int b = 0; b < kBands - 1; ++b) {
    sum[b] += kernels::InnerProduct(w.lo + w.start[b], v + w.start[b], w.size[b]);
    sum[b + 1] += kernels::InnerProduct(w.hi + w.start[b], v + w.start[b], w.size[b]);
  }
  sum[0] *= 2;
  sum[kBands - 1] *= 2;
  std::copy(sum, sum + kBands, out);
}

}  // namespace

int BandStart(int band) { return kEdges200Hz[band] * kBinsPerUnit; }

void BandEnergy(const cfloat* X, float* band_energy) {
  float e[kBins];
  const int end = Weights().end;
  for (int i = 0; i < end; ++i) e[i] = X[i].real() * X[i].real() + X[i].imag() * X[i].imag();
  WeightedBandSums(e, band_energy);
}

void BandCorrelation(const cfloat* X, const cfloat* P, float* band_corr) {
  float c[kBins];
  const int end = Weights().end;
  for (int i = 0; i < end; ++i) c[i] = X[i].real() * P[i].real() + X[i].imag() * P[i].imag();
  WeightedBandSums(c, band_corr);
}

void InterpolateBandGains(const float* band_gain, float* bin_gain) {
  const BinWeights& w = Weights();
  for (int b = 0; b < kBands - 1; ++b) {
    const float g0 = band_gain[b], g1 = band_gain[b + 1];
    const int s = w.start[b], e = s + w.size[b];
    for (int i = s; i < e; ++i) bin_gain[i] = w.lo[i] * g0 + w.hi[i] * g1;
  }
  std::fill(bin_gain + w.end, bin_gain + kBins, 0.f);
}

void PitchFilter(cfloat* X, const cfloat* P, const float* Ex, const float* Ep, const float* Exp,
                 const float* g, float strength, float gain_slope) {
  float r[kBands], norm[kBands], new_e[kBands];
  float rf[kBins], normf[kBins];
  for (int i = 0; i < kBands; ++i) {
    // How much pitch-delayed signal the band can take: full when the pitch correlation exceeds
    // the gain, else the ratio that restores the expected correlation (double precision, like
    // the reference implementation's constants).
    float ri;
    if (Exp[i] > g[i]) {
      ri = 1;
    } else {
      const float e2 = Exp[i] * Exp[i], g2 = g[i] * g[i];
      ri = static_cast<float>(e2 * (1 - g2) / (.001 + g2 * (1 - e2)));
    }
    ri = std::sqrt(std::clamp(ri, 0.f, 1.f));
    ri *= std::sqrt(static_cast<float>(Ex[i] / (1e-8 + Ep[i])));
    r[i] = strength == 1.f ? ri : ri * strength;
    if (gain_slope > 0) r[i] *= std::min(1.f, gain_slope * (1.f - g[i]));
  }
  InterpolateBandGains(r, rf);
  for (int i = 0; i < kBins; ++i) X[i] += rf[i] * P[i];
  BandEnergy(X, new_e);
  for (int i = 0; i < kBands; ++i) norm[i] = std::sqrt(static_cast<float>(Ex[i] / (1e-8 + new_e[i])));
  InterpolateBandGains(norm, normf);
  for (int i = 0; i < kBins; ++i) X[i] *= normf[i];
}

void BandDct(const float* in, float* out) {
  const DctTable& t = Dct();
  const float scale = std::sqrt(2.f / kBands);
  for (int k = 0; k < kBands; ++k) {
    float sum = 0;
    for (int n = 0; n < kBands; ++n) sum += in[n] * t.c[k][n];
    out[k] = sum * scale;
  }
}

}  // namespace ghostnv::audio::bands
