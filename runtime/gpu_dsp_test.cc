// GPU tests (label `gpu`) for the DSP kernels: real FFT (forward and inverse), band sums and
// band-gain interpolation, pitch cross-correlation, analysis framing and overlap-add — each
// against an independent double-precision reference written here from the definitions, on
// random data at odd sizes and batch sizes. And one chain: frame → FFT → unit gains → inverse
// FFT → overlap-add gives back the input delayed by one hop.
// (The CPU twins live in audio/ and models/, which the device layer may not include; the
// whole-model GPU-vs-CPU test belongs to runtime/sched/.)
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <string>
#include <vector>

#include "runtime/gpu_ops.h"
#include "runtime/gpu_test_util.h"

namespace ghostnv::runtime {
namespace {

using testing::kFloatEps;
using testing::Rng;
using cd = std::complex<double>;

// ---------------------------------------------------------------- FFT

std::vector<cd> Dft(const float* x, int n) {
  std::vector<cd> X(n / 2 + 1);
  for (int k = 0; k <= n / 2; ++k) {
    cd s = 0;
    for (int t = 0; t < n; ++t)
      s += static_cast<double>(x[t]) * std::polar(1.0, -2 * M_PI * static_cast<double>((static_cast<long long>(k) * t) % n) / n);
    X[k] = s;
  }
  return X;
}

TEST(GpuFft, ForwardMatchesDft) {
  GPU_TEST_OR_SKIP(env);
  Rng rng(1);
  for (int n : {2, 4, 6, 8, 10, 30, 64, 120, 480, 960, 1920}) {
    absl::StatusOr<DeviceFftPlan> plan = MakeFftPlan(*env->ctx, *env->stream, n);
    ASSERT_TRUE(plan.ok()) << plan.status();
    for (int batch : {1, 7, 113}) {
      SCOPED_TRACE("n=" + std::to_string(n) + " batch=" + std::to_string(batch));
      const int xs = n + 3, Xs = 2 * (n / 2 + 1) + 2;
      std::vector<float> x = rng.Uniform(static_cast<size_t>(batch) * xs, -1.f, 1.f);
      DeviceBlock dx = env->Upload(x);
      DeviceBlock dX = env->Alloc(static_cast<size_t>(batch) * Xs);
      env->Poison(dX);
      ASSERT_EQ(env->ops->RealFftForward(*plan, dx.ptr(), xs, dX.ptr(), Xs, batch, *env->stream), cu::kSuccess);
      std::vector<float> X = env->Download(dX, static_cast<size_t>(batch) * Xs);
      for (int b = 0; b < batch; ++b) {
        const std::vector<cd> want = Dft(x.data() + static_cast<size_t>(b) * xs, n);
        double err = 0, norm = 0;
        for (int k = 0; k <= n / 2; ++k) {
          const cd got(X[static_cast<size_t>(b) * Xs + 2 * k], X[static_cast<size_t>(b) * Xs + 2 * k + 1]);
          err += std::norm(got - want[k]);
          norm += std::norm(want[k]);
        }
        // float FFT: relative RMS error grows like eps * log2(n); 20x margin.
        EXPECT_LE(std::sqrt(err / norm), 20 * kFloatEps * std::log2(2.0 * n)) << "row " << b;
        for (int k = 2 * (n / 2 + 1); k < Xs; ++k)
          EXPECT_TRUE(std::isnan(X[static_cast<size_t>(b) * Xs + k])) << "padding written";
      }
    }
  }
}

TEST(GpuFft, InverseOfForwardIsNTimesInput) {
  GPU_TEST_OR_SKIP(env);
  Rng rng(2);
  for (int n : {2, 8, 30, 480, 960}) {
    absl::StatusOr<DeviceFftPlan> plan = MakeFftPlan(*env->ctx, *env->stream, n);
    ASSERT_TRUE(plan.ok());
    const int batch = 9, bins2 = 2 * (n / 2 + 1);
    std::vector<float> x = rng.Uniform(static_cast<size_t>(batch) * n, -1.f, 1.f);
    DeviceBlock dx = env->Upload(x);
    DeviceBlock dX = env->Alloc(static_cast<size_t>(batch) * bins2);
    DeviceBlock dy = env->Alloc(static_cast<size_t>(batch) * n);
    env->Poison(dy);
    ASSERT_EQ(env->ops->RealFftForward(*plan, dx.ptr(), n, dX.ptr(), bins2, batch, *env->stream), cu::kSuccess);
    // Garbage in the imaginary parts of DC and Nyquist must be ignored.
    std::vector<float> X = env->Download(dX, static_cast<size_t>(batch) * bins2);
    for (int b = 0; b < batch; ++b) {
      X[static_cast<size_t>(b) * bins2 + 1] = 123.f;
      X[static_cast<size_t>(b) * bins2 + bins2 - 1] = -45.f;
    }
    DeviceBlock dX2 = env->Upload(X);
    ASSERT_EQ(env->ops->RealFftInverse(*plan, dX2.ptr(), bins2, dy.ptr(), n, batch, *env->stream), cu::kSuccess);
    std::vector<float> y = env->Download(dy, static_cast<size_t>(batch) * n);
    double err = 0, norm = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      err += std::pow(y[i] - static_cast<double>(n) * x[i], 2);
      norm += std::pow(static_cast<double>(n) * x[i], 2);
    }
    EXPECT_LE(std::sqrt(err / norm), 40 * kFloatEps * std::log2(2.0 * n)) << "n=" << n;
  }
}

TEST(GpuFft, PlanRejectsUnsupportedSizes) {
  GPU_TEST_OR_SKIP(env);
  for (int n : {0, 1, 3, 14, 2 * 7 * 4, kMaxFftSize + 2})
    EXPECT_FALSE(MakeFftPlan(*env->ctx, *env->stream, n).ok()) << n;
}

// ---------------------------------------------------------------- bands

std::vector<int> RnnoiseStarts() {
  const int e[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 34, 40, 48, 60, 78, 100};
  std::vector<int> s;
  for (int v : e) s.push_back(4 * v);
  return s;
}

// out[i] and a bound from the definition (triangular weights, first and last bands doubled).
void NaiveBandSums(const std::vector<int>& starts, const float* X, const float* P,
                   std::vector<double>* out, std::vector<double>* bound) {
  const int nb = static_cast<int>(starts.size());
  out->assign(nb, 0.0);
  bound->assign(nb, 0.0);
  std::vector<double> mag(nb, 0.0);
  for (int i = 0; i + 1 < nb; ++i) {
    const int size = starts[i + 1] - starts[i];
    for (int j = 0; j < size; ++j) {
      const int k = starts[i] + j;
      const double e = P != nullptr ? double(X[2 * k]) * P[2 * k] + double(X[2 * k + 1]) * P[2 * k + 1]
                                    : double(X[2 * k]) * X[2 * k] + double(X[2 * k + 1]) * X[2 * k + 1];
      const double ae = P != nullptr ? std::fabs(double(X[2 * k]) * P[2 * k]) + std::fabs(double(X[2 * k + 1]) * P[2 * k + 1]) : e;
      const double frac = static_cast<double>(j) / size;
      (*out)[i] += (1 - frac) * e;
      (*out)[i + 1] += frac * e;
      mag[i] += ae;
      mag[i + 1] += ae;
    }
  }
  for (int i = 0; i < nb; ++i) {
    const int terms = (i > 0 ? starts[i] - starts[i - 1] : 0) + (i + 1 < nb ? starts[i + 1] - starts[i] : 0);
    const double f = (i == 0 || i == nb - 1) ? 2.0 : 1.0;
    (*out)[i] *= f;
    (*bound)[i] = f * (terms + 4) * kFloatEps * mag[i] * 1.1 + 1e-30;
  }
}

TEST(GpuBands, SumsMatchDefinition) {
  GPU_TEST_OR_SKIP(env);
  Rng rng(4);
  const std::vector<std::vector<int>> layouts = {RnnoiseStarts(), {0, 1}, {3, 4, 11, 12, 40, 113}};
  for (const std::vector<int>& starts : layouts) {
    absl::StatusOr<DeviceBands> bands = UploadBands(*env->ctx, *env->stream, starts);
    ASSERT_TRUE(bands.ok()) << bands.status();
    const int bins = starts.back() + 5;
    const int nb = static_cast<int>(starts.size());
    for (int batch : {1, 7, 113}) {
      for (bool corr : {false, true}) {
        SCOPED_TRACE("bands=" + std::to_string(nb) + " batch=" + std::to_string(batch) + " corr=" + std::to_string(corr));
        const int Xs = 2 * bins + 2, os = nb + 1;
        std::vector<float> X = rng.Uniform(static_cast<size_t>(batch) * Xs, -3.f, 3.f);
        std::vector<float> P = rng.Uniform(static_cast<size_t>(batch) * Xs, -3.f, 3.f);
        DeviceBlock dX = env->Upload(X), dP = env->Upload(P);
        DeviceBlock dout = env->Alloc(static_cast<size_t>(batch) * os);
        env->Poison(dout);
        ASSERT_EQ(env->ops->BandSums(*bands, dX.ptr(), corr ? dP.ptr() : 0, Xs, dout.ptr(), os, batch,
                                     *env->stream),
                  cu::kSuccess);
        std::vector<float> out = env->Download(dout, static_cast<size_t>(batch) * os);
        std::vector<double> want, bound;
        for (int b = 0; b < batch; ++b) {
          NaiveBandSums(starts, X.data() + static_cast<size_t>(b) * Xs,
                        corr ? P.data() + static_cast<size_t>(b) * Xs : nullptr, &want, &bound);
          for (int i = 0; i < nb; ++i)
            EXPECT_LE(std::fabs(out[static_cast<size_t>(b) * os + i] - want[i]), bound[i]) << "row " << b << " band " << i;
          EXPECT_TRUE(std::isnan(out[static_cast<size_t>(b) * os + nb])) << "padding written";
        }
      }
    }
  }
}

TEST(GpuBands, InterpolatedGainsMatchDefinitionAndScaleSpectrum) {
  GPU_TEST_OR_SKIP(env);
  Rng rng(5);
  for (const std::vector<int>& starts : {RnnoiseStarts(), std::vector<int>{2, 3, 9, 20}}) {
    absl::StatusOr<DeviceBands> bands = UploadBands(*env->ctx, *env->stream, starts);
    ASSERT_TRUE(bands.ok());
    const int nb = static_cast<int>(starts.size()), bins = starts.back() + 81;
    for (int batch : {1, 7, 113}) {
      const int gs = nb + 2, fs = bins + 1, Xs = 2 * bins;
      std::vector<float> g = rng.Uniform(static_cast<size_t>(batch) * gs, 0.f, 1.f);
      std::vector<float> X = rng.Uniform(static_cast<size_t>(batch) * Xs, -2.f, 2.f);
      DeviceBlock dg = env->Upload(g), dX = env->Upload(X);
      DeviceBlock df = env->Alloc(static_cast<size_t>(batch) * fs);
      env->Poison(df);
      ASSERT_EQ(env->ops->InterpBandGains(*bands, dg.ptr(), gs, df.ptr(), fs, dX.ptr(), Xs, bins, batch,
                                          *env->stream),
                cu::kSuccess);
      std::vector<float> f = env->Download(df, static_cast<size_t>(batch) * fs);
      std::vector<float> Y = env->Download(dX, static_cast<size_t>(batch) * Xs);
      for (int b = 0; b < batch; ++b) {
        const float* gr = g.data() + static_cast<size_t>(b) * gs;
        for (int k = 0; k < bins; ++k) {
          double want = 0;
          for (int i = 0; i + 1 < nb; ++i) {
            if (k >= starts[i] && k < starts[i + 1]) {
              const double frac = static_cast<double>(k - starts[i]) / (starts[i + 1] - starts[i]);
              want = (1 - frac) * gr[i] + frac * gr[i + 1];
            }
          }
          const float got = f[static_cast<size_t>(b) * fs + k];
          ASSERT_NEAR(got, want, 4 * kFloatEps) << "row " << b << " bin " << k;
          for (int part = 0; part < 2; ++part) {
            const size_t at = static_cast<size_t>(b) * Xs + 2 * k + part;
            ASSERT_EQ(Y[at], X[at] * got) << "spectrum not scaled by the gain, bin " << k;
          }
        }
        EXPECT_TRUE(std::isnan(f[static_cast<size_t>(b) * fs + bins])) << "padding written";
      }
    }
  }
}

// ---------------------------------------------------------------- pitch xcorr

TEST(GpuXcorr, MatchesDefinition) {
  GPU_TEST_OR_SKIP(env);
  Rng rng(6);
  for (int len : {0, 1, 7, 240, 513}) {
    for (int lags : {1, 7, 113, 354}) {
      for (int batch : {1, 7, 113}) {
        SCOPED_TRACE("len=" + std::to_string(len) + " lags=" + std::to_string(lags) + " batch=" + std::to_string(batch));
        const int xs = len + 1, ys = len + lags - 1 + 3, os = lags + 2;
        std::vector<float> x = rng.Uniform(static_cast<size_t>(batch) * xs, -1.f, 1.f);
        std::vector<float> y = rng.Uniform(static_cast<size_t>(batch) * ys, -1.f, 1.f);
        DeviceBlock dx = env->Upload(x), dy = env->Upload(y);
        DeviceBlock dout = env->Alloc(static_cast<size_t>(batch) * os);
        env->Poison(dout);
        ASSERT_EQ(env->ops->PitchXcorr(dx.ptr(), xs, dy.ptr(), ys, dout.ptr(), os, len, lags, batch,
                                       *env->stream),
                  cu::kSuccess);
        std::vector<float> out = env->Download(dout, static_cast<size_t>(batch) * os);
        for (int b = 0; b < batch; ++b) {
          for (int k = 0; k < lags; ++k) {
            double sum = 0, mag = 0;
            for (int i = 0; i < len; ++i) {
              const double t = double(x[static_cast<size_t>(b) * xs + i]) * y[static_cast<size_t>(b) * ys + i + k];
              sum += t;
              mag += std::fabs(t);
            }
            ASSERT_LE(std::fabs(out[static_cast<size_t>(b) * os + k] - sum), (len + 1) * kFloatEps * mag * 1.01 + 1e-30)
                << "row " << b << " lag " << k;
          }
          EXPECT_TRUE(std::isnan(out[static_cast<size_t>(b) * os + lags])) << "padding written";
        }
      }
    }
  }
}

// ---------------------------------------------------------------- framing

std::vector<float> VorbisWindow(int n) {
  std::vector<float> w(n);
  for (int i = 0; i < n; ++i) {
    const double s = std::sin(M_PI * (i + 0.5) / n);
    w[i] = static_cast<float>(std::sin(M_PI / 2 * s * s));
  }
  return w;
}

TEST(GpuFraming, AnalysisAndOverlapAddOverSeveralHops) {
  GPU_TEST_OR_SKIP(env);
  Rng rng(7);
  for (int hop : {1, 7, 113, 480}) {
    for (int batch : {1, 7, 113}) {
      SCOPED_TRACE("hop=" + std::to_string(hop) + " batch=" + std::to_string(batch));
      const std::vector<float> w = VorbisWindow(2 * hop);
      DeviceBlock dw = env->Upload(w);
      std::vector<float> amem(static_cast<size_t>(batch) * hop, 0.f), smem = amem;
      DeviceBlock dam = env->Upload(amem), dsm = env->Upload(smem);
      const float divisor = 960.f;
      for (int step = 0; step < 3; ++step) {
        const int is = hop + 1, os = 2 * hop + 1;
        std::vector<float> in = rng.Uniform(static_cast<size_t>(batch) * is, -1.f, 1.f);
        std::vector<float> frame = rng.Uniform(static_cast<size_t>(batch) * os, -500.f, 500.f);
        DeviceBlock din = env->Upload(in), dframe = env->Upload(frame);
        DeviceBlock dout = env->Alloc(static_cast<size_t>(batch) * os);
        DeviceBlock dsyn = env->Alloc(static_cast<size_t>(batch) * is);
        ASSERT_EQ(env->ops->FrameAnalysis(din.ptr(), is, dam.ptr(), dw.ptr(), dout.ptr(), os, hop, batch,
                                          *env->stream),
                  cu::kSuccess);
        ASSERT_EQ(env->ops->OverlapAdd(dframe.ptr(), os, dw.ptr(), divisor, dsm.ptr(), dsyn.ptr(), is, hop,
                                       batch, *env->stream),
                  cu::kSuccess);
        std::vector<float> out = env->Download(dout, static_cast<size_t>(batch) * os);
        std::vector<float> syn = env->Download(dsyn, static_cast<size_t>(batch) * is);
        for (int b = 0; b < batch; ++b) {
          float* am = amem.data() + static_cast<size_t>(b) * hop;
          float* sm = smem.data() + static_cast<size_t>(b) * hop;
          const float* ir = in.data() + static_cast<size_t>(b) * is;
          const float* fr = frame.data() + static_cast<size_t>(b) * os;
          for (int i = 0; i < 2 * hop; ++i) {
            const float v = (i < hop ? am[i] : ir[i - hop]) * w[i];  // same single rounding
            ASSERT_EQ(out[static_cast<size_t>(b) * os + i], v) << "analysis row " << b << " i " << i;
          }
          for (int i = 0; i < hop; ++i) {
            const float wet = fr[i] / divisor * w[i] + sm[i];
            ASSERT_NEAR(syn[static_cast<size_t>(b) * is + i], wet, 2 * kFloatEps * (std::fabs(wet) + std::fabs(sm[i])))
                << "synthesis row " << b << " i " << i;
            sm[i] = fr[hop + i] / divisor * w[hop + i];
          }
          std::copy(ir, ir + hop, am);
        }
      }
    }
  }
}

// frame → FFT → gains of 1 → inverse FFT → overlap-add: the input comes back one hop late.
TEST(GpuFraming, UnitGainChainReconstructsInput) {
  GPU_TEST_OR_SKIP(env);
  const int hop = 480, n = 960, bins = 481, batch = 13, hops = 5;
  absl::StatusOr<DeviceFftPlan> plan = MakeFftPlan(*env->ctx, *env->stream, n);
  // One band over all 481 bins: every bin gets gain 1 (the RNNoise layout would zero 20-24 kHz).
  absl::StatusOr<DeviceBands> bands = UploadBands(*env->ctx, *env->stream, {0, bins});
  ASSERT_TRUE(plan.ok() && bands.ok());
  DeviceBlock dw = env->Upload(VorbisWindow(n));
  DeviceBlock amem = env->Upload(std::vector<float>(batch * hop, 0.f));
  DeviceBlock smem = env->Upload(std::vector<float>(batch * hop, 0.f));
  DeviceBlock ones = env->Upload(std::vector<float>(batch * 2, 1.f));
  DeviceBlock frame = env->Alloc(batch * n), spec = env->Alloc(batch * 2 * bins), out = env->Alloc(batch * hop);
  Rng rng(8);
  std::vector<float> prev;
  for (int h = 0; h < hops; ++h) {
    std::vector<float> in = rng.Uniform(batch * hop, -1.f, 1.f);
    DeviceBlock din = env->Upload(in);
    const Stream& s = *env->stream;
    ASSERT_EQ(env->ops->FrameAnalysis(din.ptr(), hop, amem.ptr(), dw.ptr(), frame.ptr(), n, hop, batch, s), cu::kSuccess);
    ASSERT_EQ(env->ops->RealFftForward(*plan, frame.ptr(), n, spec.ptr(), 2 * bins, batch, s), cu::kSuccess);
    ASSERT_EQ(env->ops->InterpBandGains(*bands, ones.ptr(), 2, 0, 0, spec.ptr(), 2 * bins, bins, batch, s), cu::kSuccess);
    ASSERT_EQ(env->ops->RealFftInverse(*plan, spec.ptr(), 2 * bins, frame.ptr(), n, batch, s), cu::kSuccess);
    ASSERT_EQ(env->ops->OverlapAdd(frame.ptr(), n, dw.ptr(), static_cast<float>(n), smem.ptr(), out.ptr(), hop, hop, batch, s), cu::kSuccess);
    std::vector<float> y = env->Download(out, batch * hop);
    if (h > 0) {
      // The window is power complementary: exact reconstruction up to float rounding.
      double err = 0, norm = 0;
      for (size_t i = 0; i < y.size(); ++i) {
        err += std::pow(y[i] - prev[i], 2);
        norm += std::pow(prev[i], 2);
      }
      EXPECT_LT(std::sqrt(err / norm), 1e-5) << "hop " << h;
    }
    prev = in;
  }
}

}  // namespace
}  // namespace ghostnv::runtime
