// audio/pitch.cc — see pitch.h. An independent implementation of the algorithm that RNNoise and
// ffmpeg's arnndn use, written from its published description and behaviour.
#include "audio/pitch.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "audio/pitch_internal.h"
#include "kernels/xcorr.h"

namespace ghostnv::audio::pitch {
namespace {

// The two best normalised correlations; best[0] is the strongest lag.
void FindBestPitch(const float* xcorr, const float* y, int len, int max_pitch, int* best) {
  internal::BestPitch scan;
  float syy = 1;
  for (int j = 0; j < len; ++j) syy += y[j] * y[j];
  for (int i = 0; i < max_pitch; ++i) {
    scan.Step(xcorr[i], syy, i);
    syy += y[i + len] * y[i + len] - y[i] * y[i];
    syy = std::max(1.f, syy);
  }
  best[0] = scan.b0;
  best[1] = scan.b1;
}

}  // namespace

void PitchDownsample(const float* x, float* x_lp, int len) {
  const int half = len >> 1;
  for (int i = 1; i < half; ++i) x_lp[i] = .5f * (.5f * (x[2 * i - 1] + x[2 * i + 1]) + x[2 * i]);
  x_lp[0] = .5f * (.5f * x[1] + x[0]);

  // Autocorrelation, lags 0..4, summed in the reference's order (bulk, then the last products):
  // everything downstream (LPC, whitening, pitch decisions) depends on these five numbers, and
  // matching the order keeps our pitch decisions identical to ffmpeg's.
  float ac[5];
  const int fast = half - 4;
  for (int k = 0; k <= 4; ++k) {
    float bulk = 0;
    for (int j = 0; j < fast; ++j) bulk += x_lp[j] * x_lp[j + k];
    ac[k] = bulk;
  }
  for (int k = 0; k <= 4; ++k) {
    float tail = 0;
    for (int i = k + fast; i < half; ++i) tail += x_lp[i] * x_lp[i - k];
    ac[k] += tail;
  }
  // Whitening FIR (LPC of the autocorrelation, with an extra zero at z = -0.8):
  // y[i] = x[i] + sum_k num[k] x[i-1-k].
  float num[5];
  internal::WhiteningFir(ac, num);
  float orig[kBuf / 2 + 5];
  std::fill(orig, orig + 5, 0.f);
  std::copy(x_lp, x_lp + half, orig + 5);
  const float* o = orig + 5;
  for (int i = 0; i < half; ++i)
    x_lp[i] = o[i] + num[0] * o[i - 1] + num[1] * o[i - 2] + num[2] * o[i - 3] + num[3] * o[i - 4] +
              num[4] * o[i - 5];
}

void PitchSearch(const float* x_lp, const float* y, int len, int max_pitch, int* pitch) {
  float x4[kFrame], y4[kFrame], xcorr[kFrame];
  const int lag = len + max_pitch;
  for (int j = 0; j < len >> 2; ++j) x4[j] = x_lp[2 * j];
  for (int j = 0; j < lag >> 2; ++j) y4[j] = y[2 * j];

  int best[2] = {0, 0};
  kernels::PitchXcorr(x4, y4, xcorr, len >> 2, max_pitch >> 2);
  FindBestPitch(xcorr, y4, len >> 2, max_pitch >> 2, best);

  // Fine search at 2x decimation, only around the two coarse candidates.
  for (int i = 0; i < max_pitch >> 1; ++i) {
    xcorr[i] = 0;
    if (std::abs(i - 2 * best[0]) > 2 && std::abs(i - 2 * best[1]) > 2) continue;
    xcorr[i] = std::max(-1.f, kernels::InnerProduct(x_lp, y + i, len >> 1));
  }
  FindBestPitch(xcorr, y, len >> 1, max_pitch >> 1, best);

  int offset = 0;  // pseudo-interpolation of the peak
  if (best[0] > 0 && best[0] < (max_pitch >> 1) - 1) {
    const float a = xcorr[best[0] - 1], b = xcorr[best[0]], c = xcorr[best[0] + 1];
    if (c - a > .7f * (b - a)) offset = 1;
    else if (a - c > .7f * (b - c)) offset = -1;
  }
  *pitch = 2 * best[0] - offset;
}

float RemoveDoubling(const float* x, int maxperiod, int minperiod, int n, int* t0_io,
                     int prev_period, float prev_gain) {
  const int minperiod0 = minperiod;
  maxperiod /= 2;
  minperiod /= 2;
  *t0_io /= 2;
  prev_period /= 2;
  n /= 2;
  x += maxperiod;
  if (*t0_io >= maxperiod) *t0_io = maxperiod - 1;

  const int t0 = *t0_io;
  const float xx = kernels::InnerProduct(x, x, n);
  // Energy of the delayed window for every lag, by a running update.
  float yy_lag[kMaxPeriod + 1];
  yy_lag[0] = xx;
  float yy = xx;
  for (int i = 1; i <= maxperiod; ++i) {
    yy = yy + x[-i] * x[-i] - x[n - i] * x[n - i];
    yy_lag[i] = std::max(0.f, yy);
  }
  return internal::RemoveDoublingDecide(
      t0, maxperiod, minperiod, minperiod0, xx, yy_lag, prev_period, prev_gain,
      [&](int lag) { return kernels::InnerProduct(x, x - lag, n); }, t0_io);
}

}  // namespace ghostnv::audio::pitch
