// CPU-side test (label unit, no GPU) of kernels/dtln.cu: the CUDA source compiled as C++ and run
// on host threads (runtime/sched/cuda_host_shim.h), each kernel against its CPU twin, and the
// whole DtlnCudaPlan hop sequence (frame → CPU rFFT → magnitude → LSTMs → mask → CPU iFFT →
// encoder → layer norm → LSTMs → mask × encoded → decoder → overlap-add) on a small random DTLN
// with sessions on scattered slots, rows shuffled every hop, a bucket larger than the batch, both
// LSTM paths, against models/dtln's ProcessHop. The device-only parts (GpuOps dense/FFT and
// lstm.cu) are replaced by their CPU twins; dtln_cuda_plan_test.cc checks the real thing.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "runtime/sched/cuda_host_shim.h"
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof(f));
  return f;
}
#include "kernels/dtln.cu"

#include "audio/fft.h"
#include "kernels/dense.h"
#include "kernels/lstm.h"
#include "models/dtln/cuda/dtln_cuda_plan.h"
#include "models/dtln/dtln_family.h"
#include "models/family.h"
#include "models/dtln/dtln_test_util.h"
#include "models/test_util.h"

namespace ghostnv::models::dtln {
namespace {

using models::testing::OwnedModel;

constexpr int kU1 = testing::kSmallU1, kU2 = testing::kSmallU2, kFeat = testing::kSmallFeat;

OwnedModel SmallDtln(uint32_t seed) { return testing::SmallDtln(seed, 0.3f); }

std::vector<float> Uniform(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(DtlnKernelsHost, LayerNormMatchesDoublePrecision) {
  std::mt19937 rng(3);
  for (int n : {1, 7, 13, 113, 256, 513}) {
    const int rows = 5, stride = n + 3;
    std::vector<float> x = Uniform(rng, static_cast<size_t>(rows) * stride, -3.f, 5.f);
    std::vector<float> g = Uniform(rng, n, 0.5f, 2.f), b = Uniform(rng, n, -1.f, 1.f);
    std::vector<float> y(static_cast<size_t>(rows) * stride, -99.f);
    const float eps = 1e-7f;
    cuda_host::LaunchGrid(2, 64, [&] {
      dtln_layer_norm_f32(x.data(), stride, g.data(), b.data(), eps, y.data(), stride, n, rows);
    });
    for (int r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * stride;
      double mean = 0, var = 0;
      for (int i = 0; i < n; ++i) mean += xr[i];
      mean /= n;
      for (int i = 0; i < n; ++i) var += (xr[i] - mean) * (xr[i] - mean);
      var /= n;
      for (int i = 0; i < n; ++i) {
        const double want = (xr[i] - mean) / std::sqrt(var + eps) * g[i] + b[i];
        ASSERT_NEAR(y[r * stride + i], want, 2e-5 * (1 + std::fabs(want))) << "n " << n;
      }
      for (int i = n; i < stride; ++i) ASSERT_EQ(y[r * stride + i], -99.f);
    }
  }
}

TEST(DtlnKernelsHost, SplitLstmMatchesLstmStepRef) {
  std::mt19937 rng(4);
  struct Case {
    int inputs, units, rows;
    bool bias;
  };
  for (Case c : {Case{257, 7, 3, true}, Case{13, 9, 2, true}, Case{1, 17, 1, false},
                 Case{0, 5, 2, true}, Case{33, 8, 4, true}}) {
    const int n4 = 4 * c.units, ss = 4 * c.units + 5, xs = c.inputs + 2;
    const float scale = 1.5f / std::sqrt(static_cast<float>(c.inputs + c.units + 1));
    std::vector<float> w = Uniform(rng, static_cast<size_t>(c.inputs + c.units) * n4 + 1, -scale, scale);
    std::vector<float> b = Uniform(rng, n4, -0.5f, 0.5f);
    kernels::LstmParams p{.inputs = c.inputs, .units = c.units, .weights = w.data(),
                          .recurrent = w.data() + static_cast<size_t>(c.inputs) * n4,
                          .bias = c.bias ? b.data() : nullptr};
    std::vector<float> old = Uniform(rng, static_cast<size_t>(c.rows) * ss, -1.f, 1.f);
    std::vector<float> nw(old.size(), -7.f);
    std::vector<float> x = Uniform(rng, static_cast<size_t>(c.rows) * xs + 1, -2.f, 2.f);
    const int gx = (c.units + DTLN_SPLIT_UNITS - 1) / DTLN_SPLIT_UNITS;
    cuda_host::LaunchGrid(gx, DTLN_SPLIT_THREADS, [&] {
      dtln_lstm_split_f32(p.weights, p.recurrent, p.bias, c.inputs, c.units, 0, x.data(), xs,
                          old.data(), old.data() + c.units, nw.data(), nw.data() + c.units, ss,
                          c.rows);
    });
    std::vector<float> scratch(kernels::LstmScratchFloats(c.units));
    for (int r = 0; r < c.rows; ++r) {
      std::vector<float> h(old.begin() + r * ss, old.begin() + r * ss + c.units);
      std::vector<float> cc(old.begin() + r * ss + c.units, old.begin() + r * ss + 2 * c.units);
      kernels::LstmStep_ref(p, x.data() + r * xs, h.data(), cc.data(), scratch.data());
      for (int u = 0; u < c.units; ++u) {
        ASSERT_NEAR(nw[r * ss + u], h[u], 2e-6) << "inputs " << c.inputs << " row " << r;
        ASSERT_NEAR(nw[r * ss + c.units + u], cc[u], 2e-6 * (1 + std::fabs(cc[u])));
      }
      for (int u = 2 * c.units; u < ss; ++u) ASSERT_EQ(nw[r * ss + u], -7.f);
    }
  }
}

// The plan's hop, run on the host with CPU twins for dense, FFT and the row-tiled LSTM.
class HostPlan {
 public:
  HostPlan(const Networks& net, int max_slots, bool split)
      : net_(net), split_(split), fft_(kFrame), max_(max_slots), f_(net.features),
        u1_(net.stage1.lstm[0].units), u2_(net.stage2.lstm[0].units),
        ss_(((4 * (u1_ + u2_)) + 31) / 32 * 32),
        in_buf_(static_cast<size_t>(max_) * kFrame, 0.f), out_buf_(in_buf_.size(), 0.f),
        state_(static_cast<size_t>(max_) * ss_, 0.f) {}

  // One hop for `bucket` rows, the first n live (slots/strengths), pcm rows of kHop.
  void Hop(int bucket, int n, const int* slots, const float* strengths, const float* pcm,
           float* out) {
    std::vector<int> ctl(2 + 2 * static_cast<size_t>(bucket), -1);
    ctl[0] = n;
    ctl[1] = 0;
    for (int i = 0; i < n; ++i) {
      ctl[2 + 2 * i] = slots[i];
      std::memcpy(&ctl[3 + 2 * i], &strengths[i], 4);
    }
    const size_t B = bucket;
    std::vector<float> pcm_rows(B * kHop, 1e30f);  // rows past n: garbage that must not leak
    std::copy_n(pcm, static_cast<size_t>(n) * kHop, pcm_rows.begin());
    std::vector<float> frame(B * kFrame), spec(B * (2 * kBins + 2)), mag(B * (kBins + 3)),
        mask1(B * (kBins + 3)), tframe(B * kFrame), enc(B * f_), norm(B * f_), mask2(B * f_),
        dec(B * f_), y(B * kFrame), st_a(B * ss_, 5.f), st_b(B * ss_, 0.f), o(B * kHop, -3.f);
    const int sp = 2 * kBins + 2, bs = kBins + 3, rows = bucket;
    cuda_host::LaunchGrid(3, 64, [&] {
      dtln_frame_f32(ctl.data(), pcm_rows.data(), in_buf_.data(), frame.data(), kFrame,
                     state_.data(), st_a.data(), ss_, rows);
    });
    for (int r = 0; r < rows; ++r)
      fft_.Forward(frame.data() + r * kFrame, reinterpret_cast<audio::cfloat*>(spec.data() + r * sp));
    cuda_host::LaunchGrid(2, 128, [&] { dtln_magnitude_f32(spec.data(), sp, mag.data(), bs, kBins, rows); });
    const std::vector<float>& st_out = split_ ? st_b : st_a;
    const size_t s2 = 4 * static_cast<size_t>(u1_);
    Lstm(net_.stage1.lstm[0], mag.data(), bs, 0, rows, st_a, st_b);
    Lstm(net_.stage1.lstm[1], st_out.data(), ss_, 2 * u1_, rows, st_a, st_b);
    for (int r = 0; r < rows; ++r)
      kernels::Dense(net_.stage1.mask, st_out.data() + r * ss_ + 2 * u1_, mask1.data() + r * bs);
    cuda_host::LaunchGrid(2, 128, [&] {
      dtln_apply_mask_f32(spec.data(), sp, mask1.data(), bs, 1.f / kFrame, kBins, rows);
    });
    for (int r = 0; r < rows; ++r)
      fft_.Inverse(reinterpret_cast<const audio::cfloat*>(spec.data() + r * sp), tframe.data() + r * kFrame);
    for (int r = 0; r < rows; ++r)
      kernels::Dense(net_.encoder, tframe.data() + r * kFrame, enc.data() + r * f_);
    cuda_host::LaunchGrid(2, 16, [&] {
      dtln_layer_norm_f32(enc.data(), f_, net_.norm_gamma, net_.norm_beta, net_.norm_epsilon,
                          norm.data(), f_, f_, rows);
    });
    Lstm(net_.stage2.lstm[0], norm.data(), f_, s2, rows, st_a, st_b);
    Lstm(net_.stage2.lstm[1], st_out.data() + s2, ss_, s2 + 2 * u2_, rows, st_a, st_b);
    for (int r = 0; r < rows; ++r)
      kernels::Dense(net_.stage2.mask, st_out.data() + r * ss_ + s2 + 2 * u2_, mask2.data() + r * f_);
    cuda_host::LaunchGrid(2, 64, [&] {
      dtln_mul_f32(mask2.data(), f_, enc.data(), f_, dec.data(), f_, f_, rows);
    });
    for (int r = 0; r < rows; ++r)
      kernels::Dense(net_.decoder, dec.data() + r * f_, y.data() + r * kFrame);
    cuda_host::LaunchGrid(3, 64, [&] {
      dtln_ola_f32(ctl.data(), y.data(), kFrame, out_buf_.data(), in_buf_.data(), o.data(),
                   st_out.data(), state_.data(), ss_, rows);
    });
    std::copy_n(o.begin(), static_cast<size_t>(n) * kHop, out);
    for (size_t i = static_cast<size_t>(n) * kHop; i < o.size(); ++i) ASSERT_EQ(o[i], -3.f);
  }

 private:
  void Lstm(const kernels::LstmParams& p, const float* x, int xs, size_t h_off, int rows,
            std::vector<float>& a, std::vector<float>& b) {
    if (split_) {
      const int gx = (p.units + DTLN_SPLIT_UNITS - 1) / DTLN_SPLIT_UNITS;
      cuda_host::LaunchGrid(gx, DTLN_SPLIT_THREADS, [&] {
        dtln_lstm_split_f32(p.weights, p.recurrent, p.bias, p.inputs, p.units, 0, x, xs,
                            a.data() + h_off, a.data() + h_off + p.units, b.data() + h_off,
                            b.data() + h_off + p.units, ss_, rows);
      });
    } else {
      std::vector<float> scratch(kernels::LstmScratchFloats(p.units));
      for (int r = 0; r < rows; ++r)
        kernels::LstmStep_ref(p, x + static_cast<size_t>(r) * xs, a.data() + r * ss_ + h_off,
                              a.data() + r * ss_ + h_off + p.units, scratch.data());
    }
  }

  const Networks& net_;
  bool split_;
  audio::RealFft fft_;
  int max_, f_, u1_, u2_, ss_;
  std::vector<float> in_buf_, out_buf_, state_;
};

class DtlnHostPipeline : public ::testing::TestWithParam<bool> {};

TEST_P(DtlnHostPipeline, MatchesProcessHop) {
  OwnedModel om = SmallDtln(21);
  absl::StatusOr<Networks> net = BuildNetworks(*om.model);
  ASSERT_TRUE(net.ok()) << net.status();
  absl::StatusOr<std::unique_ptr<Family>> fam = CreateDtlnFamily(om.model);
  ASSERT_TRUE(fam.ok()) << fam.status();
  constexpr int kMax = 11, kSessions = 3, kHops = 30, kBucket = 4;
  const int slot_of[kSessions] = {10, 0, 6};
  const float strength[kSessions] = {1.f, 0.6f, 1.f};
  HostPlan plan(*net, kMax, GetParam());
  std::mt19937 rng(8);
  std::vector<std::unique_ptr<ChannelState>> ch;
  std::vector<std::vector<float>> in(kSessions), got(kSessions), want(kSessions);
  for (int k = 0; k < kSessions; ++k) {
    ch.push_back((*fam)->NewChannel());
    in[k] = Uniform(rng, kHops * kHop, -0.5f, 0.5f);
    for (int i = 0; i < kHops * kHop; ++i) in[k][i] *= 0.5f + 0.5f * std::sin(0.003f * i * (k + 1));
  }
  for (int hop = 0; hop < kHops; ++hop) {
    std::vector<int> order(kSessions);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    const int n = hop % 5 == 4 ? 2 : kSessions;  // sometimes a session sits a hop out
    std::vector<int> slots(n);
    std::vector<float> str(n), pcm(static_cast<size_t>(n) * kHop), out(static_cast<size_t>(n) * kHop);
    for (int i = 0; i < n; ++i) {
      slots[i] = slot_of[order[i]];
      str[i] = strength[order[i]];
      std::copy_n(in[order[i]].data() + hop * kHop, kHop, pcm.data() + i * kHop);
    }
    plan.Hop(kBucket, n, slots.data(), str.data(), pcm.data(), out.data());
    for (int i = 0; i < n; ++i) {
      const int k = order[i];
      got[k].insert(got[k].end(), out.begin() + i * kHop, out.begin() + (i + 1) * kHop);
      std::vector<float> ref(kHop);
      (*fam)->ProcessHop(*ch[k], pcm.data() + i * kHop, ref.data(), strength[k]);
      want[k].insert(want[k].end(), ref.begin(), ref.end());
    }
  }
  for (int k = 0; k < kSessions; ++k) {
    double s = 0, d = 0;
    for (size_t i = 0; i < want[k].size(); ++i) {
      s += static_cast<double>(want[k][i]) * want[k][i];
      d += (static_cast<double>(got[k][i]) - want[k][i]) * (static_cast<double>(got[k][i]) - want[k][i]);
    }
    const double snr = 10 * std::log10(s / std::max(d, 1e-30));
    std::printf("session %d: SNR of the difference %.1f dB\n", k, snr);
    EXPECT_GE(snr, 90.0) << "session " << k;
  }
}

// The plan checks the model and options before any device work, so these hold without a GPU.
TEST(DtlnCudaPlanSetup, RejectsBadModelsAndOptionsBeforeTouchingTheDevice) {
  EXPECT_TRUE(absl::IsInvalidArgument(DtlnCudaPlan::Create(nullptr, {}).status()));
  OwnedModel om = SmallDtln(2);
  DtlnCudaPlanOptions o;
  o.max_sessions = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(DtlnCudaPlan::Create(om.model, o).status()));
  OwnedModel other = SmallDtln(3);
  other.model->family = "rnnoise";
  o.max_sessions = 4;
  absl::StatusOr<std::unique_ptr<DtlnCudaPlan>> p = DtlnCudaPlan::Create(other.model, o);
  EXPECT_TRUE(absl::IsInvalidArgument(p.status())) << p.status();
  // A valid model: a plan on a GPU machine, else a clear Unavailable (never a crash).
  p = DtlnCudaPlan::Create(om.model, o);
  EXPECT_TRUE(p.ok() || absl::IsUnavailable(p.status())) << p.status();
}

INSTANTIATE_TEST_SUITE_P(LstmPath, DtlnHostPipeline, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return std::string(i.param ? "split" : "tiled");
                         });

}  // namespace
}  // namespace ghostnv::models::dtln
