// Tests of the RNNoise DSP primitives against direct double-precision formulas.
#include <cmath>
#include <complex>
#include <random>
#include <vector>

#include "audio/bands.h"
#include "audio/filters.h"
#include "audio/pitch.h"
#include "gtest/gtest.h"

namespace ghostnv::audio {
namespace {

TEST(Window, PowerComplementaryAndSymmetric) {
  for (int n : {2, 8, 960}) {
    std::vector<float> w = PowerComplementaryWindow(n);
    for (int i = 0; i < n / 2; ++i) {
      EXPECT_NEAR(w[i] * w[i] + w[i + n / 2] * w[i + n / 2], 1.0, 1e-6) << n << " " << i;
      EXPECT_EQ(w[i], w[n - 1 - i]);
    }
  }
}

TEST(Biquad, MatchesDirectFormDifferenceEquation) {
  const float b[2] = {-2.f, 1.f}, a[2] = {-1.99599f, 0.99600f};
  Biquad bq(b, a);
  std::mt19937 rng(5);
  std::normal_distribution<float> g;
  std::vector<float> x(1013), y(1013);
  for (float& v : x) v = g(rng);
  bq.Process(x.data(), y.data(), 500);
  bq.Process(x.data() + 500, y.data() + 500, 513);  // state carries across calls
  double x1 = 0, x2 = 0, y1 = 0, y2 = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    double yi = x[i] + b[0] * x1 + b[1] * x2 - a[0] * y1 - a[1] * y2;
    x2 = x1; x1 = x[i]; y2 = y1; y1 = yi;
    ASSERT_NEAR(y[i], yi, 1e-3 * (1 + std::abs(yi))) << i;
  }
}

TEST(Bands, EnergyIsTriangularWeightingOfBinPower) {
  std::mt19937 rng(7);
  std::normal_distribution<float> g;
  std::vector<cfloat> X(bands::kBins);
  for (auto& v : X) v = {g(rng), g(rng)};
  float e[bands::kBands];
  bands::BandEnergy(X.data(), e);
  std::vector<double> ref(bands::kBands, 0.0);
  for (int b = 0; b + 1 < bands::kBands; ++b) {
    int s = bands::BandStart(b), size = bands::BandStart(b + 1) - s;
    for (int j = 0; j < size; ++j) {
      double p = std::norm(std::complex<double>(X[s + j]));
      ref[b] += (1.0 - double(j) / size) * p;
      ref[b + 1] += double(j) / size * p;
    }
  }
  ref[0] *= 2;
  ref[bands::kBands - 1] *= 2;
  for (int b = 0; b < bands::kBands; ++b) EXPECT_NEAR(e[b], ref[b], 1e-4 * ref[b]) << b;
  // Correlation of a spectrum with itself is its energy.
  float c[bands::kBands];
  bands::BandCorrelation(X.data(), X.data(), c);
  for (int b = 0; b < bands::kBands; ++b) EXPECT_NEAR(c[b], e[b], 1e-5 * e[b]);
}

TEST(Bands, InterpolationIsExactAtBandStartsAndZeroAbove20k) {
  float g[bands::kBands], gf[bands::kBins];
  for (int b = 0; b < bands::kBands; ++b) g[b] = 0.1f + 0.03f * b;
  bands::InterpolateBandGains(g, gf);
  for (int b = 0; b + 1 < bands::kBands; ++b) EXPECT_FLOAT_EQ(gf[bands::BandStart(b)], g[b]);
  for (int i = bands::BandStart(bands::kBands - 1); i < bands::kBins; ++i) EXPECT_EQ(gf[i], 0.f);
  // Monotone gains stay monotone between band starts.
  for (int i = 1; i < bands::BandStart(bands::kBands - 1); ++i) EXPECT_GE(gf[i], gf[i - 1]);
}

TEST(Bands, DctIsOrthonormal) {
  std::mt19937 rng(9);
  std::normal_distribution<float> g;
  float x[bands::kBands], y[bands::kBands];
  double ex = 0, ey = 0;
  for (float& v : x) { v = g(rng); ex += v * v; }
  bands::BandDct(x, y);
  for (float v : y) ey += v * v;
  EXPECT_NEAR(ex, ey, 1e-4 * ex);  // Parseval
  double y3 = 0;
  for (int n = 0; n < bands::kBands; ++n) y3 += x[n] * std::cos((n + .5) * 3 * M_PI / bands::kBands);
  EXPECT_NEAR(y[3], y3 * std::sqrt(2.0 / bands::kBands), 1e-4);
}

TEST(Bands, PitchFilterKeepsBandEnergy) {
  std::mt19937 rng(11);
  std::normal_distribution<float> g;
  std::vector<cfloat> X(bands::kBins), P(bands::kBins);
  for (auto& v : X) v = {g(rng), g(rng)};
  for (size_t i = 0; i < P.size(); ++i) P[i] = 0.5f * X[i] + cfloat(g(rng), g(rng)) * 0.5f;
  float Ex[bands::kBands], Ep[bands::kBands], Exp[bands::kBands], gains[bands::kBands], after[bands::kBands];
  bands::BandEnergy(X.data(), Ex);
  bands::BandEnergy(P.data(), Ep);
  bands::BandCorrelation(X.data(), P.data(), Exp);
  for (int i = 0; i < bands::kBands; ++i) {
    Exp[i] /= std::sqrt(.001f + Ex[i] * Ep[i]);
    gains[i] = 0.3f;
  }
  bands::PitchFilter(X.data(), P.data(), Ex, Ep, Exp, gains);
  bands::BandEnergy(X.data(), after);
  // Renormalisation restores each band's energy up to the overlap of neighbouring bands.
  for (int i = 1; i + 2 < bands::kBands; ++i) EXPECT_NEAR(after[i], Ex[i], 0.25 * Ex[i]) << i;
}

// The family's pitch pipeline on one full buffer: (period at full rate, pitch gain).
std::pair<int, float> AnalysePitch(const std::vector<float>& x) {
  std::vector<float> lp(pitch::kBuf / 2);
  pitch::PitchDownsample(x.data(), lp.data(), pitch::kBuf);
  int idx;
  pitch::PitchSearch(lp.data() + pitch::kMaxPeriod / 2, lp.data(), pitch::kFrame,
                     pitch::kMaxPeriod - 3 * pitch::kMinPeriod, &idx);
  idx = pitch::kMaxPeriod - idx;
  const float gain = pitch::RemoveDoubling(lp.data(), pitch::kMaxPeriod, pitch::kMinPeriod,
                                           pitch::kFrame, &idx, 0, 0);
  return {idx, gain};
}

// A harmonic signal with a known period must be found (at full rate) within a few samples. The
// gain estimate has a +1 regulariser tuned for 16-bit sample scale, so the signal is given at
// that scale here.
TEST(Pitch, FindsThePeriodOfAPulseTrain) {
  for (int period : {100, 163, 240, 311, 500}) {
    std::vector<float> x(pitch::kBuf);
    std::mt19937 rng(period);
    std::normal_distribution<float> g;
    for (int i = 0; i < pitch::kBuf; ++i) {
      double ph = 2 * M_PI * i / period;
      x[i] = 10000.f * (static_cast<float>(0.5 * std::sin(ph) + 0.3 * std::sin(2 * ph + 1) +
                                           0.2 * std::sin(3 * ph + 2)) + 0.01f * g(rng));
    }
    auto [idx, gain] = AnalysePitch(x);
    EXPECT_NEAR(idx, period, 3) << "period " << period;
    EXPECT_GT(gain, 0.8f) << "period " << period;
  }
}

TEST(Pitch, NoiseHasLowPitchGain) {
  std::vector<float> x(pitch::kBuf);
  std::mt19937 rng(3);
  std::normal_distribution<float> g;
  for (float& v : x) v = g(rng);
  auto [idx, gain] = AnalysePitch(x);
  EXPECT_LT(gain, 0.3f);
  EXPECT_GE(idx, pitch::kMinPeriod);
  EXPECT_LE(idx, pitch::kMaxPeriod);
}

}  // namespace
}  // namespace ghostnv::audio
