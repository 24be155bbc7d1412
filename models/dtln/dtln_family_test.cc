// Tests for the DTLN family: ProcessHop against an independent double-precision implementation
// of DTLN's published streaming loop (naive DFTs, naive LSTMs), on a small random model of the
// real topology (257 bins, 512-sample frames, odd LSTM and feature sizes), with states carried
// over 40 hops; strength 0 is the input delayed by 384 samples; Reset; dispatch through
// models::CreateFamily; and the model checks (names, sizes, epsilon).

#include "models/dtln/dtln_family.h"

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <random>
#include <string>
#include <vector>

#include "models/family.h"
#include "models/dtln/dtln_test_util.h"
#include "models/test_util.h"

namespace ghostnv::models::dtln {
namespace {

using kernels::Activation;
using models::testing::OwnedModel;

constexpr int kU1 = testing::kSmallU1, kU2 = testing::kSmallU2, kFeat = testing::kSmallFeat;

OwnedModel SmallDtln(uint32_t seed, const std::string& metadata =
                                        R"({"dtln":{"norm_epsilon":0.001}})") {
  return testing::SmallDtln(seed, 0.4f, metadata);
}

// ---- double-precision reference -------------------------------------------------------------
struct RefLstm {
  const Layer* l;
  int in, u;
  std::vector<double> h, c;
  void Step(const std::vector<double>& x) {
    const int n4 = 4 * u;
    std::vector<double> z(n4);
    for (int k = 0; k < n4; ++k) z[k] = l->bias[k];
    for (int j = 0; j < in; ++j)
      for (int k = 0; k < n4; ++k) z[k] += x[j] * l->weights[j * n4 + k];
    for (int j = 0; j < u; ++j)
      for (int k = 0; k < n4; ++k) z[k] += h[j] * l->weights[(in + j) * n4 + k];
    auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
    for (int k = 0; k < u; ++k) {
      c[k] = sig(z[u + k]) * c[k] + sig(z[k]) * std::tanh(z[2 * u + k]);
      h[k] = sig(z[3 * u + k]) * std::tanh(c[k]);
    }
  }
};

std::vector<double> RefDense(const Layer& l, const std::vector<double>& x, bool sigmoid) {
  std::vector<double> y(l.units);
  for (int k = 0; k < l.units; ++k) {
    double s = l.bias != nullptr ? l.bias[k] : 0.0;
    for (int j = 0; j < l.inputs; ++j) s += x[j] * l.weights[j * l.units + k];
    y[k] = sigmoid ? 1.0 / (1.0 + std::exp(-s)) : s;
  }
  return y;
}

class RefDtln {
 public:
  RefDtln(const Model& m, double eps)
      : m_(m), eps_(eps), in_(kFrame, 0.0), out_(kFrame, 0.0) {
    lstm_[0] = {m.FindLayer("stage1.lstm0"), kBins, kU1, {}, {}};
    lstm_[1] = {m.FindLayer("stage1.lstm1"), kU1, kU1, {}, {}};
    lstm_[2] = {m.FindLayer("stage2.lstm0"), kFeat, kU2, {}, {}};
    lstm_[3] = {m.FindLayer("stage2.lstm1"), kU2, kU2, {}, {}};
    for (RefLstm& l : lstm_) l.h.assign(l.u, 0.0), l.c.assign(l.u, 0.0);
  }

  std::vector<double> Hop(const float* x) {
    for (int i = 0; i < kFrame - kHop; ++i) in_[i] = in_[i + kHop];
    for (int i = 0; i < kHop; ++i) in_[kFrame - kHop + i] = x[i];
    std::vector<std::complex<double>> X(kBins);
    std::vector<double> mag(kBins);
    for (int k = 0; k < kBins; ++k) {
      std::complex<double> s = 0;
      for (int n = 0; n < kFrame; ++n) s += in_[n] * std::polar(1.0, -2 * M_PI * k * n / kFrame);
      X[k] = s;
      mag[k] = std::abs(s);
    }
    lstm_[0].Step(mag);
    lstm_[1].Step(lstm_[0].h);
    const std::vector<double> mask = RefDense(*m_.FindLayer("stage1.mask"), lstm_[1].h, true);
    std::vector<double> frame(kFrame);
    for (int n = 0; n < kFrame; ++n) {
      double s = (X[0] * mask[0]).real() + (X[kBins - 1] * mask[kBins - 1]).real() * (n % 2 ? -1 : 1);
      for (int k = 1; k < kBins - 1; ++k)
        s += 2 * (X[k] * mask[k] * std::polar(1.0, 2 * M_PI * k * n / kFrame)).real();
      frame[n] = s / kFrame;
    }
    const std::vector<double> enc = RefDense(*m_.FindLayer("stage2.encoder"), frame, false);
    double mean = 0, var = 0;
    for (double v : enc) mean += v / kFeat;
    for (double v : enc) var += (v - mean) * (v - mean) / kFeat;
    const Layer& nl = *m_.FindLayer("stage2.norm");
    std::vector<double> nrm(kFeat);
    for (int i = 0; i < kFeat; ++i)
      nrm[i] = (enc[i] - mean) / std::sqrt(var + eps_) * nl.weights[i] + nl.bias[i];
    lstm_[2].Step(nrm);
    lstm_[3].Step(lstm_[2].h);
    std::vector<double> m2 = RefDense(*m_.FindLayer("stage2.mask"), lstm_[3].h, true);
    for (int i = 0; i < kFeat; ++i) m2[i] *= enc[i];
    const std::vector<double> y = RefDense(*m_.FindLayer("stage2.decoder"), m2, false);
    for (int i = 0; i < kFrame - kHop; ++i) out_[i] = out_[i + kHop];
    for (int i = kFrame - kHop; i < kFrame; ++i) out_[i] = 0;
    for (int i = 0; i < kFrame; ++i) out_[i] += y[i];
    return std::vector<double>(out_.begin(), out_.begin() + kHop);
  }

 private:
  const Model& m_;
  double eps_;
  std::vector<double> in_, out_;
  RefLstm lstm_[4];
};

TEST(DtlnFamilyTest, MatchesDoubleReferenceOverHops) {
  OwnedModel om = SmallDtln(11);
  auto fam = CreateFamily(om.model);  // through models::CreateFamily (family.cc dispatch)
  ASSERT_TRUE(fam.ok()) << fam.status();
  EXPECT_EQ((*fam)->hop_size(), 128);
  EXPECT_EQ((*fam)->sample_rate(), 16000);
  EXPECT_EQ((*fam)->algorithmic_latency(), 384);
  auto ch = (*fam)->NewChannel();
  RefDtln ref(*om.model, 1e-3);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
  double max_ref = 0, max_err = 0;
  for (int hop = 0; hop < 40; ++hop) {
    float in[kHop], out[kHop];
    for (float& v : in) v = dist(rng) * (hop % 7 == 3 ? 0.f : 1.f);  // include a silent hop
    (*fam)->ProcessHop(*ch, in, out, 1.0f);
    const std::vector<double> want = ref.Hop(in);
    for (int i = 0; i < kHop; ++i) {
      max_ref = std::max(max_ref, std::fabs(want[i]));
      max_err = std::max(max_err, std::fabs(out[i] - want[i]));
      ASSERT_NEAR(out[i], want[i], 2e-5 * (1 + std::fabs(want[i]))) << "hop " << hop << " i " << i;
    }
  }
  EXPECT_GT(max_ref, 1e-2);  // the test signal really went through
  RecordProperty("max_abs_error", std::to_string(max_err));
}

TEST(DtlnFamilyTest, StrengthZeroIsInputDelayedAndResetRestarts) {
  OwnedModel om = SmallDtln(12);
  auto fam = CreateDtlnFamily(om.model);
  ASSERT_TRUE(fam.ok()) << fam.status();
  auto ch = (*fam)->NewChannel();
  std::vector<float> in(kHop * 12), out(in.size());
  std::mt19937 rng(6);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (float& v : in) v = dist(rng);
  for (size_t h = 0; h < 12; ++h) (*fam)->ProcessHop(*ch, &in[h * kHop], &out[h * kHop], 0.f);
  for (size_t i = 0; i < in.size(); ++i)
    ASSERT_EQ(out[i], i >= 384 ? in[i - 384] : 0.f) << i;
  // Full strength twice from the start: a Reset channel equals a fresh one.
  std::vector<float> a(in.size()), b(in.size());
  ch->Reset();
  auto fresh = (*fam)->NewChannel();
  for (size_t h = 0; h < 12; ++h) {
    (*fam)->ProcessHop(*ch, &in[h * kHop], &a[h * kHop], 1.f);
    (*fam)->ProcessHop(*fresh, &in[h * kHop], &b[h * kHop], 1.f);
  }
  EXPECT_EQ(a, b);
}

TEST(DtlnFamilyTest, RejectsModelsThatDoNotFit) {
  {
    OwnedModel om = SmallDtln(1, R"({"other":1})");
    auto f = CreateDtlnFamily(om.model);
    ASSERT_FALSE(f.ok());
    EXPECT_NE(std::string(f.status().message()).find("norm_epsilon"), std::string::npos);
  }
  {
    OwnedModel om = SmallDtln(1);
    om.model->hop_size = 160;
    EXPECT_FALSE(CreateDtlnFamily(om.model).ok());
  }
  {
    OwnedModel om = SmallDtln(1);
    for (Layer& l : om.model->layers)
      if (l.name == "stage2.mask") l.activation = Activation::kTanh;
    auto f = CreateDtlnFamily(om.model);
    ASSERT_FALSE(f.ok());
    EXPECT_NE(std::string(f.status().message()).find("stage2.mask"), std::string::npos)
        << f.status();
  }
  {
    OwnedModel om = SmallDtln(1);
    std::erase_if(om.model->layers, [](const Layer& l) { return l.name == "stage1.lstm1"; });
    auto f = CreateDtlnFamily(om.model);
    ASSERT_FALSE(f.ok());
    EXPECT_NE(std::string(f.status().message()).find("stage1.lstm1"), std::string::npos);
  }
  EXPECT_FALSE(CreateDtlnFamily(nullptr).ok());
}

}  // namespace
}  // namespace ghostnv::models::dtln
