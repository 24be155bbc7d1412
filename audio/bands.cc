// audio/bands.cc — see bands.h.
#include "audio/bands.h"

#include <algorithm>
#include <cmath>

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

// For every bin below 20 kHz: the band it starts from and its weight towards the next band.
struct BinWeights {
  int band[kBins];
  float frac[kBins];
  int end;  // first bin above the last band start
  BinWeights() {
    end = 0;
    for (int b = 0; b < kBands - 1; ++b) {
      const int start = kEdges200Hz[b] * kBinsPerUnit;
      const int size = (kEdges200Hz[b + 1] - kEdges200Hz[b]) * kBinsPerUnit;
      for (int j = 0; j < size; ++j) {
        band[start + j] = b;
        frac[start + j] = static_cast<float>(j) / size;
      }
      end = start + size;
    }
  }
};
const BinWeights& Weights() {
  static const BinWeights w;
  return w;
}

// Applies f(bin, weight_low, weight_high, band) over the triangular band weighting.
template <typename F>
void ForEachWeightedBin(F&& f) {
  const BinWeights& w = Weights();
  for (int i = 0; i < w.end; ++i) f(i, 1.f - w.frac[i], w.frac[i], w.band[i]);
}

}  // namespace

int BandStart(int band) { return kEdges200Hz[band] * kBinsPerUnit; }

void BandEnergy(const cfloat* X, float* band_energy) {
  float sum[kBands] = {};
  ForEachWeightedBin([&](int bin, float wl, float wh, int b) {
    const float e = X[bin].real() * X[bin].real() + X[bin].imag() * X[bin].imag();
    sum[b] += wl * e;
    sum[b + 1] += wh * e;
  });
  sum[0] *= 2;
  sum[kBands - 1] *= 2;
  std::copy(sum, sum + kBands, band_energy);
}

void BandCorrelation(const cfloat* X, const cfloat* P, float* band_corr) {
  float sum[kBands] = {};
  ForEachWeightedBin([&](int bin, float wl, float wh, int b) {
    const float c = X[bin].real() * P[bin].real() + X[bin].imag() * P[bin].imag();
    sum[b] += wl * c;
    sum[b + 1] += wh * c;
  });
  sum[0] *= 2;
  sum[kBands - 1] *= 2;
  std::copy(sum, sum + kBands, band_corr);
}

void InterpolateBandGains(const float* band_gain, float* bin_gain) {
  std::fill(bin_gain, bin_gain + kBins, 0.f);
  ForEachWeightedBin([&](int bin, float wl, float wh, int b) {
    bin_gain[bin] = wl * band_gain[b] + wh * band_gain[b + 1];
  });
}

void PitchFilter(cfloat* X, const cfloat* P, const float* Ex, const float* Ep, const float* Exp,
                 const float* g) {
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
    r[i] = ri;
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
