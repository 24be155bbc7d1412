// Tests for the DTLN family: ProcessHop against an independent double-precision implementation
// of DTLN's published streaming loop (naive DFTs, naive LSTMs), on a small random model of the
// real topology (257 bins, 512-sample frames, odd LSTM and feature sizes), with states carried
// over 40 hops; strength 0 is the input delayed by 384 samples; Reset; dispatch through
// models::CreateFamily; and the model checks (names, sizes, epsilon).

#include "models/dtln/dtln_family.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <random>
#include <string>
#include <vector>

#include "audio/fft.h"
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
    EXPECT_EQ((*fam)->ProcessHop(*ch, in, out, 1.0f).vad, 0.f);  // no voice probability
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

// The streaming path (packed layers, look-ahead carries: what ProcessHop runs) against the
// stateless one (LstmStep / Dense on the model's weights) over 40 hops of random inputs: the
// same network up to the regrouped sums; ResetCarries with zeroed states restarts exactly.
TEST(DtlnFamilyTest, StreamingNetworksMatchStatelessOnesOverHops) {
  OwnedModel om = SmallDtln(13);
  absl::StatusOr<Networks> net = BuildNetworks(*om.model);
  ASSERT_TRUE(net.ok()) << net.status();
  ASSERT_NE(net->packed, nullptr);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mag_dist(0.f, 4.f), frame_dist(-0.3f, 0.3f);
  constexpr int kHops = 40;
  std::vector<float> mags(kHops * kBins), frames(kHops * kFrame);
  for (float& v : mags) v = mag_dist(rng);
  for (float& v : frames) v = frame_dist(rng);
  std::vector<float> scratch(net->ScratchFloats());
  std::vector<float> a1(net->StateFloats(1), 0.f), a2(net->StateFloats(2), 0.f), b1 = a1,
                     b2 = a2;
  Networks::Carries carries = net->NewCarries();
  std::vector<float> mask_a(kBins), mask_b(kBins), out_a(kFrame), out_b(kFrame);
  std::vector<float> first_masks, first_outs;
  auto close = [](const std::vector<float>& x, const std::vector<float>& y, const char* what,
                  int hop) {
    double peak = 0;
    for (float v : x) peak = std::max(peak, static_cast<double>(std::fabs(v)));
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_NEAR(x[i], y[i], 2e-5 * (peak + 1e-3)) << what << " hop " << hop << " i " << i;
  };
  for (int hop = 0; hop < kHops; ++hop) {
    net->RunStage1(&mags[hop * kBins], mask_a.data(), a1.data(), scratch.data());
    net->RunStage2(&frames[hop * kFrame], out_a.data(), a2.data(), scratch.data());
    net->RunStage1(&mags[hop * kBins], mask_b.data(), b1.data(), scratch.data(), carries);
    net->RunStage2(&frames[hop * kFrame], out_b.data(), b2.data(), scratch.data(), carries);
    close(mask_a, mask_b, "mask", hop);
    close(out_a, out_b, "frame", hop);
    close(a1, b1, "state1", hop);
    close(a2, b2, "state2", hop);
    first_masks.insert(first_masks.end(), mask_b.begin(), mask_b.end());
    first_outs.insert(first_outs.end(), out_b.begin(), out_b.end());
  }
  // Restart: zero states and reset carries give the same run bit for bit.
  std::fill(b1.begin(), b1.end(), 0.f);
  std::fill(b2.begin(), b2.end(), 0.f);
  Networks::ResetCarries(carries);
  for (int hop = 0; hop < kHops; ++hop) {
    net->RunStage1(&mags[hop * kBins], mask_b.data(), b1.data(), scratch.data(), carries);
    net->RunStage2(&frames[hop * kFrame], out_b.data(), b2.data(), scratch.data(), carries);
    ASSERT_TRUE(std::equal(mask_b.begin(), mask_b.end(), first_masks.begin() + hop * kBins));
    ASSERT_TRUE(std::equal(out_b.begin(), out_b.end(), first_outs.begin() + hop * kFrame));
  }
}

// ProcessHop is exactly: rFFT, RunStage1 (streaming), mask, iFFT / 512, RunStage2 (streaming),
// overlap-add, dry mix; other backends' tests (models/dtln/cuda/dtln_cuda_plan_test.cc) rebuild
// it from these calls to expose the intermediates, and rely on bit equality.
TEST(DtlnFamilyTest, StreamingCallsReproduceProcessHopBitForBit) {
  OwnedModel om = SmallDtln(14);
  absl::StatusOr<Networks> net = BuildNetworks(*om.model);
  ASSERT_TRUE(net.ok()) << net.status();
  auto fam = CreateDtlnFamily(om.model);
  ASSERT_TRUE(fam.ok()) << fam.status();
  auto ch = (*fam)->NewChannel();
  audio::RealFft fft(kFrame);
  std::vector<float> in(kFrame, 0.f), ob(kFrame, 0.f), st1(net->StateFloats(1), 0.f),
      st2(net->StateFloats(2), 0.f), scratch(net->ScratchFloats()), mag(kBins), mask1(kBins),
      frame(kFrame), mask2(net->features), yout(kFrame), out(kHop), fam_out(kHop);
  std::vector<audio::cfloat> spec(kBins);
  Networks::Carries carries = net->NewCarries();
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
  for (int hop = 0; hop < 30; ++hop) {
    float pcm[kHop];
    for (float& v : pcm) v = dist(rng);
    const float strength = hop % 3 == 0 ? 0.6f : 1.f;
    std::copy(in.begin() + kHop, in.end(), in.begin());
    std::copy(pcm, pcm + kHop, in.end() - kHop);
    fft.Forward(in.data(), spec.data());
    for (int k = 0; k < kBins; ++k) mag[k] = std::abs(spec[k]);
    net->RunStage1(mag.data(), mask1.data(), st1.data(), scratch.data(), carries);
    for (int k = 0; k < kBins; ++k) spec[k] *= mask1[k];
    fft.Inverse(spec.data(), frame.data());
    for (float& v : frame) v *= 1.0f / kFrame;
    net->RunStage2(frame.data(), yout.data(), st2.data(), scratch.data(), carries, mask2.data());
    std::copy(ob.begin() + kHop, ob.end(), ob.begin());
    std::fill(ob.end() - kHop, ob.end(), 0.f);
    for (int i = 0; i < kFrame; ++i) ob[i] += yout[i];
    for (int i = 0; i < kHop; ++i) out[i] = strength * ob[i] + (1.f - strength) * in[i];
    (*fam)->ProcessHop(*ch, pcm, fam_out.data(), strength);
    ASSERT_EQ(fam_out, out) << "hop " << hop;
  }
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
