// audio/pitch_parallel_impl.h — the body of audio/pitch_parallel.h, compiled twice: by
// pitch_parallel.cc (any x86-64) and pitch_parallel_avx2.cc (-mavx2 -mfma), each inside its own
// namespace (GHOSTNV_PITCH_PARALLEL_NS). Both with -ffp-contract=off: every product and sum
// below rounds where it is written (std::fma where the order fuses), so both builds give the
// same bits, and so does the GPU twin (kernels/rnnoise_pitch.cu, rnn_frontend_relaxed_*).
// Included by those two files only.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "audio/pitch.h"
#include "audio/pitch_internal.h"
#include "audio/pitch_parallel.h"
#include "kernels/xcorr.h"

namespace ghostnv::audio::pitch::GHOSTNV_PITCH_PARALLEL_NS {
namespace {

constexpr int kSeg = kParallelHop / 32;  // 15 samples per segment of the high-pass scan
constexpr int kLp = kBuf / 2;            // 864 low-passed samples
constexpr int kChunks = kLp / 8;         // 108 chunks of 8 whitened samples
constexpr int kLen4 = kFrame / 4;        // 240: the coarse search's frame
constexpr int kMaxPitch = kMaxPeriod - 3 * kMinPeriod;  // 588
constexpr int kCoarse = kMaxPitch / 4;                  // 147 coarse lags
constexpr int kFine = kMaxPitch / 2;                    // 294 fine lags
constexpr int kY4 = (kFrame + kMaxPitch) / 4;           // 387
constexpr int kMaxp = kMaxPeriod / 2, kMinp = kMinPeriod / 2, kN = kFrame / 2;  // 384, 30, 480

// y = x + m0; m0 = a1 y + (m1 - 2 x); m1 = x - a2 y (double, each operation rounded).
inline double HpStep(double x, double& m0, double& m1, double a1, double a2) {
  const double y = x + m0;
  m0 = a1 * y + (m1 - 2.0 * x);
  m1 = x - a2 * y;
  return y;
}

// sum_{i<n} x[i] y[i] as 32 FMA partial sums (kernels/xcorr_avx2.cc's InnerProduct order): lane
// l of group g takes elements 32 q + 8 g + l; the whole 8-blocks past the last 32-block go to
// group 0, the last n % 8 elements to group 1; then (g0 + g1) + (g2 + g3) per lane, lanes l and
// l + 4, and (s0 + s2) + (s1 + s3).
float Inner32(const float* x, const float* y, int n) {
#if defined(__AVX2__) && defined(__FMA__)
  return kernels::InnerProduct_avx2(x, y, n);  // (this very order, in registers)
#endif
  const int whole = n / 32 * 32;
  float a[4][8] = {};
  for (int i = 0; i < whole; i += 32)
    for (int g = 0; g < 4; ++g)
      for (int l = 0; l < 8; ++l) a[g][l] = std::fma(x[i + 8 * g + l], y[i + 8 * g + l], a[g][l]);
  int i = whole;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) a[0][l] = std::fma(x[i + l], y[i + l], a[0][l]);
  if (i < n)
    for (int l = 0; l < 8; ++l) {
      const bool in = i + l < n;
      a[1][l] = std::fma(in ? x[i + l] : 0.f, in ? y[i + l] : 0.f, a[1][l]);
    }
  float t[8];
  for (int l = 0; l < 8; ++l) t[l] = (a[0][l] + a[1][l]) + (a[2][l] + a[3][l]);
  float s[4];
  for (int l = 0; l < 4; ++l) s[l] = t[l] + t[l + 4];
  return (s[0] + s[2]) + (s[1] + s[3]);
}

// B(c): the sum of chunks < c from the per-32 inclusive scans incl and the groups' totals wt.
double Prefix(const double* incl, const double* wt, int c) {
  if (c == 0) return 0.0;
  double v = incl[c - 1];
  for (int w = 0; w < (c - 1) >> 5; ++w) v += wt[w];
  return v;
}

// Inclusive Hillis-Steele scan of v[0..32) (step d: v[l] += v[l - d] for l >= d, old values).
void Scan32(double* v) {
  for (int d = 1; d < 32; d <<= 1) {
    double u[32];
    std::copy(v, v + 32, u);
    for (int l = d; l < 32; ++l) v[l] = v[l] + u[l - d];
  }
}

}  // namespace

void HighpassParallel(const float* in, float* out, float* mem, bool on) {
  if (!on) {
    std::copy(in, in + kParallelHop, out);
    return;
  }
  const double a1 = static_cast<double>(1.99599f), a2 = static_cast<double>(0.99600f);
  double c0[32], c1[32];
  for (int l = 0; l < 32; ++l) {  // each segment's response from a zero state
    c0[l] = 0.0;
    c1[l] = 0.0;
    for (int i = 0; i < kSeg; ++i) HpStep(in[kSeg * l + i], c0[l], c1[l], a1, a2);
  }
  double p00 = 1.0, p01 = 0.0, p10 = 0.0, p11 = 1.0;  // P = M^15
  for (int i = 0; i < kSeg; ++i) {
    const double q00 = a1 * p00 + p10, q01 = a1 * p01 + p11;
    p10 = -a2 * p00;
    p11 = -a2 * p01;
    p00 = q00;
    p01 = q01;
  }
  const double s0 = mem[0], s1 = mem[1];
  c0[0] = c0[0] + (p00 * s0 + p01 * s1);
  c1[0] = c1[0] + (p10 * s0 + p11 * s1);
  for (int d = 1; d < 32; d <<= 1) {  // the segments' end states: scan of the affine maps
    double u0[32], u1[32];
    std::copy(c0, c0 + 32, u0);
    std::copy(c1, c1 + 32, u1);
    for (int l = d; l < 32; ++l) {
      c0[l] = c0[l] + (p00 * u0[l - d] + p01 * u1[l - d]);
      c1[l] = c1[l] + (p10 * u0[l - d] + p11 * u1[l - d]);
    }
    const double q00 = p00 * p00 + p01 * p10, q01 = p00 * p01 + p01 * p11;
    const double q10 = p10 * p00 + p11 * p10, q11 = p10 * p01 + p11 * p11;
    p00 = q00;
    p01 = q01;
    p10 = q10;
    p11 = q11;
  }
  for (int l = 31; l >= 0; --l) {  // each segment again from its start state (backwards: in == out)
    double m0 = l == 0 ? s0 : c0[l - 1], m1 = l == 0 ? s1 : c1[l - 1];
    for (int i = 0; i < kSeg; ++i) out[kSeg * l + i] = static_cast<float>(HpStep(in[kSeg * l + i], m0, m1, a1, a2));
    if (l == 31) {
      mem[0] = static_cast<float>(m0);
      mem[1] = static_cast<float>(m1);
    }
  }
}

ParallelPitch AnalyseParallel(const float* buf, int last_period, float last_gain) {
  // PitchDownsample's low-pass (pitch.cc's operations), 8 zeros before it.
  float oo[8 + kLp + 128 + 8];  // 8 zeros before, zeros after (the autocorrelation's padding)
  std::fill(oo, oo + 8, 0.f);
  std::fill(oo + 8 + kLp, oo + 8 + kLp + 136, 0.f);
  float* const o = oo + 8;
  o[0] = .5f * (.5f * buf[1] + buf[0]);
  for (int i = 1; i < kLp; ++i) o[i] = .5f * (.5f * (buf[2 * i - 1] + buf[2 * i + 1]) + buf[2 * i]);

  // Autocorrelation: 128 partial sums, a butterfly per 32, then the four groups.
  // (Lane l of group w sums j = 32 w + l + 128 m; the terms past the signal, j + k >= kLp, are
  // products with the zero padding: adding them to a sum that starts at +0 changes no bit, for
  // finite signals.)
  float acw[4][5];
  for (int w = 0; w < 4; ++w) {
    float a[5][32] = {};
    for (int j0 = 32 * w; j0 < kLp; j0 += 128)
      for (int k = 0; k < 5; ++k)
        for (int l = 0; l < 32; ++l) a[k][l] = std::fma(o[j0 + l], o[j0 + l + k], a[k][l]);
    for (int k = 0; k < 5; ++k) {
      for (int m = 16; m >= 1; m >>= 1) {
        float b[32];
        for (int l = 0; l < 32; ++l) b[l] = a[k][l] + a[k][l ^ m];
        std::copy(b, b + 32, a[k]);
      }
      acw[w][k] = a[k][0];
    }
  }
  float ac[5], fir[5];
  for (int k = 0; k < 5; ++k) ac[k] = (acw[0][k] + acw[1][k]) + (acw[2][k] + acw[3][k]);
  internal::WhiteningFir(ac, fir);

  // Whitening (an FMA chain per sample) and the chunks' energies in double.
  float lp[kLp];
  double pa[128], pe[128];
  for (int c = 0; c < 128; ++c) {
    double sa = 0.0, se = 0.0;
    if (c < kChunks) {
      const float* v = o + 8 * c - 8;
      for (int u = 0; u < 8; ++u) {
        float t = std::fma(fir[0], v[7 + u], v[8 + u]);
        t = std::fma(fir[1], v[6 + u], t);
        t = std::fma(fir[2], v[5 + u], t);
        t = std::fma(fir[3], v[4 + u], t);
        const float wv = std::fma(fir[4], v[3 + u], t);
        lp[8 * c + u] = wv;
        const double d2 = static_cast<double>(wv) * static_cast<double>(wv);
        sa += d2;
        if ((u & 1) == 0) se += d2;
      }
    }
    pa[c] = sa;
    pe[c] = se;
  }
  double wt[8];
  for (int w = 0; w < 4; ++w) {
    Scan32(pa + 32 * w);
    Scan32(pe + 32 * w);
    wt[w] = pa[32 * w + 31];
    wt[4 + w] = pe[32 * w + 31];
  }
  // Window energies: fine search syy_f (1 + W(s)), RemoveDoubling's yy_lag (W(384 - i)) and xx
  // (W(384)) from W(s) = sum_{t=s}^{s+479} lp[t]^2; the coarse search's syy_c from
  // Wc(i) = sum_{j=i}^{i+239} lp[2 j]^2. Each run of 16 (8) starts at a chunk boundary.
  float syy_f[kFine], syy_c[kCoarse], yy_lag[kMaxp + 1], xx = 0.f;
  for (int t = 0; t < 25; ++t) {
    double w = Prefix(pa, wt, 2 * t + 60) - Prefix(pa, wt, 2 * t);
    for (int s = 16 * t; s < 16 * t + 16 && s <= kMaxp; ++s) {
      const double wc = w > 0.0 ? w : 0.0;
      if (s < kFine) syy_f[s] = static_cast<float>(1.0 + wc);
      yy_lag[kMaxp - s] = static_cast<float>(wc);
      if (s == kMaxp) xx = static_cast<float>(wc);
      if (s < kMaxp) {
        const double a = lp[s + kN], b = lp[s];
        w += a * a - b * b;
      }
    }
  }
  for (int v = 0; v < 19; ++v) {
    double w = Prefix(pe, wt + 4, 2 * v + 60) - Prefix(pe, wt + 4, 2 * v);
    for (int i = 8 * v; i < 8 * v + 8 && i < kCoarse; ++i) {
      syy_c[i] = static_cast<float>(1.0 + (w > 0.0 ? w : 0.0));
      const double a = lp[2 * (i + kLen4)], b = lp[2 * i];
      w += a * a - b * b;
    }
  }

  // Coarse search at 4x decimation: each lag one FMA chain in index order (16 lags side by
  // side; y4 padded with zeros for the lags past the last).
  float x4[kLen4], y4[kY4 + 16] = {}, xc[kCoarse + 16];
  for (int j = 0; j < kLen4; ++j) x4[j] = lp[kMaxp + 2 * j];
  for (int j = 0; j < kY4; ++j) y4[j] = lp[2 * j];
#if defined(__AVX2__) && defined(__FMA__)
  // kernels::PitchXcorr_avx2 sums each lag of whole groups of 8 as one FMA chain in index
  // order: this very order for 152 lags (the last five read the zero padding; unused).
  kernels::PitchXcorr_avx2(x4, y4, xc, kLen4, 152);
#else
  for (int k0 = 0; k0 < kCoarse; k0 += 16) {
    float s[16] = {};
    for (int i = 0; i < kLen4; ++i)
      for (int l = 0; l < 16; ++l) s[l] = std::fma(x4[i], y4[i + k0 + l], s[l]);
    std::copy(s, s + 16, xc + k0);
  }
#endif
  internal::BestPitch coarse;
  for (int i = 0; i < kCoarse; ++i) coarse.Step(xc[i], syy_c[i], i);
  const int b0 = coarse.b0, b1 = coarse.b1;

  // Fine search at 2x decimation on the lags within 2 of twice a coarse candidate (increasing).
  const float* xlp = lp + kMaxp;
  float fine[kFine];
  int lags[10], nl = 0;
  const int lo = std::min(b0, b1), hi = std::max(b0, b1);
  for (int i = std::max(0, 2 * lo - 2); i <= 2 * lo + 2 && i < kFine; ++i) lags[nl++] = i;
  for (int i = std::max(2 * hi - 2, 2 * lo + 3); i <= 2 * hi + 2 && i < kFine; ++i) lags[nl++] = i;
  internal::BestPitch fb;
  for (int q = 0; q < nl; ++q) {
    const int i = lags[q];
    fine[i] = std::max(-1.f, Inner32(xlp, lp + i, kN));
    fb.Step(fine[i], syy_f[i], i);
  }
  const auto fine_at = [&](int i) { return (std::abs(i - 2 * b0) <= 2 || std::abs(i - 2 * b1) <= 2) ? fine[i] : 0.f; };
  int offset = 0;
  if (fb.b0 > 0 && fb.b0 < kFine - 1) {
    const float a = fine_at(fb.b0 - 1), b = fine_at(fb.b0), c = fine_at(fb.b0 + 1);
    if (c - a > .7f * (b - a)) offset = 1;
    else if (a - c > .7f * (b - c)) offset = -1;
  }

  // RemoveDoubling in the decimated domain.
  int t0 = (kMaxPeriod - (2 * fb.b0 - offset)) / 2;
  if (t0 >= kMaxp) t0 = kMaxp - 1;
  const float* x = lp + kMaxp;
  int period = 0;
  const float pg = internal::RemoveDoublingDecide(
      t0, kMaxp, kMinp, kMinPeriod, xx, yy_lag, last_period / 2, last_gain,
      [&](int lag) { return Inner32(x, x - lag, kN); }, &period);
  return {period, pg};
}

}  // namespace ghostnv::audio::pitch::GHOSTNV_PITCH_PARALLEL_NS
