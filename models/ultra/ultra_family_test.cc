// models/ultra/ultra_family_test.cc — the ultra family against independent double-precision
// references: windows, features, the whole hop (network gains applied by a naive DFT/IDFT
// overlap-add), perfect reconstruction, exact latency, reset, odd inputs, model validation.
#include "models/ultra/ultra_family.h"

#include <cmath>
#include <complex>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "models/test_util.h"

namespace ghostnv::models::ultra {
namespace {

using models::testing::MakeModel;
using models::testing::OwnedModel;
using A = kernels::Activation;

// A random ultra model (small weights, so the gains vary but stay away from 0 and 1).
OwnedModel UltraModel(uint32_t seed, int dense = 24, int gru1 = 17, int gru2 = 13) {
  OwnedModel om = MakeModel(
      {{"input_dense", LayerKind::kDense, kFeatures, dense, A::kTanh, true, false, false},
       {"gru1", LayerKind::kGru, dense, gru1, A::kTanh, true, true, true},
       {"gru2", LayerKind::kGru, gru1 + dense, gru2, A::kTanh, true, true, true},
       {"gain_output", LayerKind::kDense, gru2, kBands, A::kSigmoid, true, false, false},
       {"vad_output", LayerKind::kDense, gru1, 1, A::kSigmoid, true, false, false}},
      seed, 0.3f);
  Model& m = *om.model;
  m.family = "ultra";
  m.name = "test-ultra";
  m.sample_rate = kSampleRate;
  m.frame_size = kWindow;
  m.hop_size = kHop;
  m.algorithmic_latency = kLatency;
  // The features are log10 energies (about -10..1): scale the first layer down.
  float* w = const_cast<float*>(m.layers[0].weights);
  for (int i = 0; i < kFeatures * dense; ++i) w[i] *= 0.2f;
  return om;
}

// Forces every band gain to exactly 1 (gain_output weights 0, bias 40: sigmoid(40) == 1.0f).
OwnedModel UnitGainModel(uint32_t seed) {
  OwnedModel om = UltraModel(seed);
  Layer& out = om.model->layers[3];
  float* w = const_cast<float*>(out.weights);
  float* b = const_cast<float*>(out.bias);
  for (int i = 0; i < out.inputs * out.units; ++i) w[i] = 0;
  for (int i = 0; i < out.units; ++i) b[i] = 40;
  return om;
}

std::unique_ptr<Family> Make(const OwnedModel& om) {
  auto f = CreateFamily(om.model);
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? std::move(*f) : nullptr;
}

std::vector<float> Noise(size_t n, uint32_t seed, float amp = 0.3f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, amp);
  std::vector<float> x(n);
  for (float& v : x) v = d(rng);
  return x;
}

std::vector<float> RunHops(const Family& fam, ChannelState& ch, const std::vector<float>& x,
                       float strength = 1.0f) {
  std::vector<float> y(x.size());
  for (size_t h = 0; h + kHop <= x.size(); h += kHop)
    fam.ProcessHop(ch, x.data() + h, y.data() + h, strength);
  return y;
}

// ---- independent double-precision references ----

double RefAnalysis(int i) {
  const int rise = kWindow - kHop, tail = kWindow - kSynthesis;
  return i < rise ? std::sin(M_PI * (i + 0.5) / (2.0 * rise))
                  : std::sin(M_PI * (i - tail + 0.5) / kSynthesis);
}

// Triangular weight of bin k in band b.
double BandWeight(int b, int k) {
  const int c = kBandCenters[b];
  if (k == c) return 1.0;
  if (b > 0 && k > kBandCenters[b - 1] && k < c)
    return double(k - kBandCenters[b - 1]) / (c - kBandCenters[b - 1]);
  if (b + 1 < kBands && k > c && k < kBandCenters[b + 1])
    return double(kBandCenters[b + 1] - k) / (kBandCenters[b + 1] - c);
  return 0.0;
}

std::vector<std::complex<double>> NaiveDft(const std::vector<double>& x) {
  const int n = static_cast<int>(x.size());
  std::vector<std::complex<double>> X(n / 2 + 1);
  for (int k = 0; k <= n / 2; ++k) {
    std::complex<double> acc = 0;
    for (int t = 0; t < n; ++t) acc += x[t] * std::polar(1.0, -2 * M_PI * double(k) * t / n);
    X[k] = acc;
  }
  return X;
}

std::vector<double> NaiveInverse(const std::vector<std::complex<double>>& X, int n) {
  std::vector<double> y(n);
  for (int t = 0; t < n; ++t) {
    double acc = X[0].real() + X[n / 2].real() * (t % 2 ? -1 : 1);
    for (int k = 1; k < n / 2; ++k)
      acc += 2 * (X[k] * std::polar(1.0, 2 * M_PI * double(k) * t / n)).real();
    y[t] = acc / n;
  }
  return y;
}

// Reference features of the frame ending with hop h of x (zeros before the start).
std::vector<std::complex<double>> RefSpectrum(const std::vector<float>& x, long h) {
  std::vector<double> f(kWindow);
  const long end = (h + 1) * kHop;
  for (int i = 0; i < kWindow; ++i) {
    const long t = end - kWindow + i;
    f[i] = (t >= 0 ? x[t] : 0.0) * RefAnalysis(i);
  }
  return NaiveDft(f);
}

std::vector<double> RefFeatures(const std::vector<std::complex<double>>& X) {
  std::vector<double> feat(kBands);
  for (int b = 0; b < kBands; ++b) {
    double e = 0;
    for (int k = 0; k < kBins; ++k) e += BandWeight(b, k) * std::norm(X[k]);
    feat[b] = std::log10(e + 1e-10);
  }
  return feat;
}

TEST(UltraWindows, PerfectReconstructionAndShape) {
  const auto& a = AnalysisWindow();
  const auto& s = SynthesisWindow();
  for (int i = 0; i < kWindow; ++i) {
    EXPECT_NEAR(a[i], RefAnalysis(i), 1e-6) << i;
    if (i < kWindow - kSynthesis) {
      EXPECT_EQ(s[i], 0.f) << i;
    }
  }
  // Every output sample gets analysis × synthesis from two frames kHop apart: sum is one.
  for (int i = kWindow - kSynthesis; i < kWindow - kHop; ++i)
    EXPECT_NEAR(double(a[i]) * s[i] + double(a[i + kHop]) * s[i + kHop], 1.0, 1e-6) << i;
  // Band weights of every bin sum to one.
  for (int k = 0; k < kBins; ++k) {
    double sum = 0;
    for (int b = 0; b < kBands; ++b) sum += BandWeight(b, k);
    EXPECT_NEAR(sum, 1.0, 1e-12) << k;
  }
}

TEST(UltraFeatures, MatchDoubleReference) {
  // Random noise with a level change and a silent stretch; 0..37 hops.
  std::vector<float> x = Noise(37 * kHop, 11, 0.2f);
  for (int i = 10 * kHop; i < 15 * kHop; ++i) x[i] = 0;
  for (int i = 20 * kHop; i < 37 * kHop; ++i) x[i] *= 1e-3f;
  std::vector<float> clean(x.size());
  for (size_t i = 0; i < x.size(); ++i) clean[i] = 0.5f * x[i];
  FeatureExtractor fx;
  for (long h = 0; h < 37; ++h) {
    float feat[kFeatures], gains[kBands];
    fx.Process(x.data() + h * kHop, clean.data() + h * kHop, feat, gains);
    const std::vector<double> ref = RefFeatures(RefSpectrum(x, h));
    for (int b = 0; b < kBands; ++b) {
      // log10 of float energies: 1e-4 absolute is ~0.02 % in energy.
      EXPECT_NEAR(feat[b], ref[b], 2e-4) << "hop " << h << " band " << b;
      if (ref[b] > -8.5) {
        EXPECT_NEAR(gains[b], 0.5f, 1e-3) << "hop " << h << " band " << b;
      }
      if (ref[b] < -9.5) {
        EXPECT_EQ(gains[b], -1.f) << "hop " << h << " band " << b;
      }
    }
  }
}

TEST(UltraFamily, HopMatchesDoubleReferenceWithNetworkGains) {
  const OwnedModel om = UltraModel(5);
  auto fam = Make(om);
  ASSERT_NE(fam, nullptr);
  EXPECT_EQ(fam->hop_size(), 96);
  EXPECT_EQ(fam->algorithmic_latency(), 96);
  constexpr long kHops = 29;
  const std::vector<float> x = Noise(kHops * kHop, 3, 0.1f);
  auto ch = fam->NewChannel();
  const std::vector<float> y = RunHops(*fam, *ch, x);

  // Features from the extractor, gains from the network alone, then a double-precision
  // DFT / gains / IDFT / synthesis window / overlap-add.
  FeatureExtractor fx;
  std::vector<float> feats(kHops * kFeatures), gains(kHops * kBands);
  for (long h = 0; h < kHops; ++h) {
    float g[kBands];
    fx.Process(x.data() + h * kHop, x.data() + h * kHop, feats.data() + h * kFeatures, g);
  }
  ASSERT_TRUE(RunNetworkOnFeatures(om.model, feats.data(), kHops, gains.data(), nullptr).ok());
  float gmin = 1, gmax = 0;
  for (float g : gains) gmin = std::min(gmin, g), gmax = std::max(gmax, g);
  EXPECT_LT(gmin, 0.9f);  // the gains really vary: the check below is not trivially unity
  EXPECT_GT(gmax - gmin, 0.05f);

  std::vector<double> ola(x.size() + kWindow, 0.0);
  const auto& ws = SynthesisWindow();
  for (long h = 0; h < kHops; ++h) {
    std::vector<std::complex<double>> X = RefSpectrum(x, h);
    for (int k = 0; k < kBins; ++k) {
      double g = 0;
      for (int b = 0; b < kBands; ++b) g += BandWeight(b, k) * gains[h * kBands + b];
      X[k] *= g;
    }
    const std::vector<double> t = NaiveInverse(X, kWindow);
    // Frame sample i lies at input time (h+1)*hop - kWindow + i; output time = that + latency.
    for (int i = kWindow - kSynthesis; i < kWindow; ++i) {
      const long out_t = (h + 1) * kHop - kWindow + i + kLatency;
      if (out_t >= 0 && out_t < static_cast<long>(ola.size())) ola[out_t] += t[i] * ws[i];
    }
  }
  double max_err = 0, max_ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    max_err = std::max(max_err, std::abs(y[i] - ola[i]));
    max_ref = std::max(max_ref, std::abs(ola[i]));
  }
  EXPECT_GT(max_ref, 0.1);
  EXPECT_LT(max_err, 2e-5 * max_ref) << "max error " << max_err;
}

TEST(UltraFamily, UnitGainsReconstructPerfectly) {
  const OwnedModel om = UnitGainModel(7);
  auto fam = Make(om);
  ASSERT_NE(fam, nullptr);
  const std::vector<float> x = Noise(200 * kHop, 9);
  auto ch = fam->NewChannel();
  const std::vector<float> y = RunHops(*fam, *ch, x);
  for (int i = 0; i < kLatency; ++i) EXPECT_NEAR(y[i], 0.f, 1e-6) << i;
  double max_err = 0;
  for (size_t i = kLatency; i < x.size(); ++i)
    max_err = std::max(max_err, double(std::abs(y[i] - x[i - kLatency])));
  EXPECT_LT(max_err, 3e-6);
}

TEST(UltraFamily, ImpulseComesOutExactlyLatencyLater) {
  const OwnedModel om = UnitGainModel(8);
  auto fam = Make(om);
  ASSERT_NE(fam, nullptr);
  // Impulses at positions with every phase within a hop (odd offsets included).
  for (int pos : {0, 1, 47, 95, 96, 113, 500, 513, 1000}) {
    auto ch = fam->NewChannel();
    std::vector<float> x(16 * kHop, 0.f);
    x[pos] = 1.f;
    const std::vector<float> y = RunHops(*fam, *ch, x);
    size_t peak = 0;
    for (size_t i = 0; i < y.size(); ++i)
      if (std::abs(y[i]) > std::abs(y[peak])) peak = i;
    EXPECT_EQ(static_cast<int>(peak), pos + kLatency) << "impulse at " << pos;
    EXPECT_NEAR(y[pos + kLatency], 1.f, 1e-5);
    for (size_t i = 0; i < y.size(); ++i)
      if (static_cast<int>(i) != pos + kLatency) {
        EXPECT_NEAR(y[i], 0.f, 1e-5) << i;
      }
  }
}

TEST(UltraFamily, StrengthZeroIsTheDelayedInput) {
  const OwnedModel om = UltraModel(4);
  auto fam = Make(om);
  ASSERT_NE(fam, nullptr);
  const std::vector<float> x = Noise(50 * kHop, 2);
  auto ch = fam->NewChannel();
  const std::vector<float> y = RunHops(*fam, *ch, x, 0.0f);
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(y[i], i < kLatency ? 0.f : x[i - kLatency]) << i;
}

TEST(UltraFamily, ResetRestoresAFreshChannel) {
  const OwnedModel om = UltraModel(6);
  auto fam = Make(om);
  ASSERT_NE(fam, nullptr);
  const std::vector<float> a = Noise(60 * kHop, 21), b = Noise(40 * kHop, 22);
  auto fresh = fam->NewChannel();
  const std::vector<float> want = RunHops(*fam, *fresh, b);
  auto ch = fam->NewChannel();
  const std::vector<float> other = RunHops(*fam, *ch, a);
  const std::vector<float> dirty = RunHops(*fam, *ch, b);
  EXPECT_NE(dirty, want);  // the state really carries over...
  ch->Reset();
  EXPECT_EQ(RunHops(*fam, *ch, b), want);  // ...and Reset removes all of it
  // Channels are independent: interleaving two channels changes nothing.
  auto c1 = fam->NewChannel(), c2 = fam->NewChannel();
  std::vector<float> y1(b.size()), y2(a.size());
  for (size_t h = 0; h + kHop <= b.size(); h += kHop) {
    fam->ProcessHop(*c1, b.data() + h, y1.data() + h, 1.f);
    fam->ProcessHop(*c2, a.data() + h, y2.data() + h, 1.f);
  }
  EXPECT_EQ(y1, want);
}

TEST(UltraFamily, OddInputsStayFinite) {
  const OwnedModel om = UltraModel(10);
  auto fam = Make(om);
  ASSERT_NE(fam, nullptr);
  EXPECT_TRUE(fam->computes_vad());  // HopInfo::vad is the network's voice probability
  auto ch = fam->NewChannel();
  std::vector<float> in(kHop), out(kHop);
  // Digital silence, denormals, full-scale square, DC, alternating max.
  for (int pass = 0; pass < 5; ++pass) {
    for (int h = 0; h < 30; ++h) {
      for (int i = 0; i < kHop; ++i) {
        switch (pass) {
          case 0: in[i] = 0; break;
          case 1: in[i] = 1e-39f * ((i % 3) - 1); break;
          case 2: in[i] = ((h * kHop + i) / 37) % 2 ? 1.f : -1.f; break;
          case 3: in[i] = 0.999f; break;
          default: in[i] = i % 2 ? 1.f : -1.f; break;
        }
      }
      const HopInfo info = fam->ProcessHop(*ch, in.data(), out.data(), 1.f);
      EXPECT_TRUE(std::isfinite(info.vad));
      EXPECT_GE(info.vad, 0.f);
      EXPECT_LE(info.vad, 1.f);
      for (float v : out) {
        ASSERT_TRUE(std::isfinite(v)) << "pass " << pass;
        ASSERT_LE(std::abs(v), 2.5f) << "pass " << pass;
      }
      if (pass == 0 && h > 4) {
        for (float v : out) ASSERT_EQ(v, 0.f);
      }
    }
  }
}

TEST(UltraFamily, RejectsModelsThatDoNotFit) {
  {
    OwnedModel om = UltraModel(1);
    om.model->hop_size = 480;
    EXPECT_FALSE(CreateFamily(om.model).ok());
  }
  {
    OwnedModel om = UltraModel(1);
    om.model->algorithmic_latency = 0;
    EXPECT_FALSE(CreateFamily(om.model).ok());
  }
  {
    OwnedModel om = UltraModel(1);
    om.model->layers[2].name = "gru3";
    auto f = CreateFamily(om.model);
    ASSERT_FALSE(f.ok());
    EXPECT_NE(f.status().message().find("gru2"), std::string::npos) << f.status();
  }
  {
    // gru2 wired to gru1 only (missing the dense skip input).
    OwnedModel om = MakeModel(
        {{"input_dense", LayerKind::kDense, kFeatures, 8, A::kTanh, true, false, false},
         {"gru1", LayerKind::kGru, 8, 5, A::kTanh, true, true, true},
         {"gru2", LayerKind::kGru, 5, 5, A::kTanh, true, true, true},
         {"gain_output", LayerKind::kDense, 5, kBands, A::kSigmoid, true, false, false},
         {"vad_output", LayerKind::kDense, 5, 1, A::kSigmoid, true, false, false}},
        1);
    om.model->family = "ultra";
    om.model->sample_rate = kSampleRate;
    om.model->frame_size = kWindow;
    om.model->hop_size = kHop;
    om.model->algorithmic_latency = kLatency;
    EXPECT_FALSE(CreateFamily(om.model).ok());
  }
  EXPECT_FALSE(CreateUltraFamily(nullptr).ok());
}

}  // namespace
}  // namespace ghostnv::models::ultra
