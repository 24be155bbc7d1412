#include "audio/fft.h"

#include <cmath>
#include <complex>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace ghostnv::audio {
namespace {

std::vector<std::complex<double>> NaiveDft(const std::vector<cfloat>& x, bool inverse) {
  const size_t n = x.size();
  std::vector<std::complex<double>> y(n);
  for (size_t k = 0; k < n; ++k) {
    std::complex<double> acc = 0;
    for (size_t t = 0; t < n; ++t) {
      double a = (inverse ? 2.0 : -2.0) * M_PI * static_cast<double>((k * t) % n) / n;
      acc += std::complex<double>(x[t]) * std::polar(1.0, a);
    }
    y[k] = acc;
  }
  return y;
}

double MaxErr(const std::vector<cfloat>& a, const std::vector<std::complex<double>>& b) {
  double e = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    e = std::max(e, std::abs(std::complex<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return e / scale;
}

class FftSizes : public ::testing::TestWithParam<int> {};

TEST_P(FftSizes, ComplexMatchesNaiveDft) {
  const int n = GetParam();
  std::mt19937 rng(1234 + n);
  std::normal_distribution<float> g;
  std::vector<cfloat> x(n), y(n);
  for (auto& v : x) v = {g(rng), g(rng)};
  Fft fft(n);
  fft.Forward(x.data(), y.data());
  EXPECT_LT(MaxErr(y, NaiveDft(x, false)), 2e-6) << "n=" << n;
  fft.Inverse(x.data(), y.data());
  EXPECT_LT(MaxErr(y, NaiveDft(x, true)), 2e-6) << "n=" << n;
}

TEST_P(FftSizes, RealForwardAndInverse) {
  const int n = 2 * GetParam();
  std::mt19937 rng(99 + n);
  std::normal_distribution<float> g;
  std::vector<float> x(n), back(n);
  std::vector<cfloat> xc(n), bins(n / 2 + 1);
  for (int i = 0; i < n; ++i) xc[i] = x[i] = g(rng);
  RealFft fft(n);
  fft.Forward(x.data(), bins.data());
  auto ref = NaiveDft(xc, false);
  ref.resize(n / 2 + 1);
  EXPECT_LT(MaxErr(bins, ref), 2e-6) << "n=" << n;
  // Imaginary junk on DC/Nyquist must be ignored by the inverse, like a c2r transform.
  bins[0] += cfloat(0, 3.0f);
  bins[n / 2] += cfloat(0, -2.0f);
  fft.Inverse(bins.data(), back.data());
  double err = 0;
  for (int i = 0; i < n; ++i) err = std::max(err, static_cast<double>(std::abs(back[i] / n - x[i])));
  EXPECT_LT(err, 2e-6) << "n=" << n;
}

INSTANTIATE_TEST_SUITE_P(Sizes, FftSizes, ::testing::Values(1, 2, 3, 4, 5, 6, 15, 30, 45, 60, 64, 75, 240, 480, 960));

TEST(Fft, RejectsUnsupportedSizes) {
  EXPECT_FALSE(Fft::IsSupportedSize(7));
  EXPECT_FALSE(Fft::IsSupportedSize(0));
  EXPECT_FALSE(Fft::IsSupportedSize(113));
  EXPECT_TRUE(Fft::IsSupportedSize(960));
}

}  // namespace
}  // namespace ghostnv::audio
