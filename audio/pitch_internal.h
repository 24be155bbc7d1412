// audio/pitch_internal.h — the parts of the pitch analysis that do not depend on the summation
// order, shared by audio/pitch.cc (RNNoise's sequential order) and audio/pitch_parallel (which
// computes the sums in its own order and passes them in): the whitening filter from the
// autocorrelation, FindBestPitch's scan, RemoveDoubling's decision. Inline, so each caller's
// translation unit (and its floating-point flags: none of them contracts) compiles it. The GPU
// kernels (kernels/rnnoise_pitch.cu: rnn_lpc_fir, rnn_best_step, ...) are these operations'
// twins. Internal to audio/.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace ghostnv::audio::pitch::internal {

inline float PitchGain(float xy, float xx, float yy) { return xy / std::sqrt(1.f + xx * yy); }

// PitchDownsample's whitening filter from the low-passed signal's autocorrelation ac[0..4]: the
// -40 dB noise floor and lag window, a 4th-order Levinson-Durbin recursion (stopping at 30 dB of
// prediction gain), bandwidth expansion by 0.9^k and an extra zero at z = -0.8 folded in:
// y[i] = x[i] + sum_k fir[k] x[i - 1 - k].
inline void WhiteningFir(const float* ac_in, float* fir) {
  float ac[5];
  ac[0] = ac_in[0] * 1.0001f;
  for (int i = 1; i <= 4; ++i) {
    const float w = .008f * static_cast<float>(i);
    ac[i] = ac_in[i] - (ac_in[i] * w) * w;
  }
  float lpc[4] = {0.f, 0.f, 0.f, 0.f};
  float err = ac[0];
  if (ac[0] != 0.f) {
    for (int i = 0; i < 4; ++i) {
      float acc = 0.f;
      for (int j = 0; j < i; ++j) acc = acc + lpc[j] * ac[i - j];
      acc = acc + ac[i + 1];
      const float k = -acc / err;
      lpc[i] = k;
      for (int j = 0; j < (i + 1) >> 1; ++j) {
        const float p = lpc[j], q = lpc[i - 1 - j];
        lpc[j] = p + k * q;
        lpc[i - 1 - j] = q + k * p;
      }
      err = err - (k * k) * err;
      if (err < .001f * ac[0]) break;
    }
  }
  float bw = 1.f;
  for (int i = 0; i < 4; ++i) {
    bw = bw * .9f;
    lpc[i] = lpc[i] * bw;
  }
  fir[0] = lpc[0] + .8f;
  fir[1] = lpc[1] + .8f * lpc[0];
  fir[2] = lpc[2] + .8f * lpc[1];
  fir[3] = lpc[3] + .8f * lpc[2];
  fir[4] = .8f * lpc[3];
}

// FindBestPitch's scan: Step(xcorr[i], syy[i], i) for i in increasing order keeps the two best
// normalised correlations (b0 the strongest); lags whose xcorr is not > 0 change nothing.
struct BestPitch {
  float num0 = -1.f, num1 = -1.f, den0 = 0.f, den1 = 0.f;
  int b0 = 0, b1 = 1;
  void Step(float xcorr, float syy, int i) {
    if (!(xcorr > 0.f)) return;
    const float c = xcorr * 1e-12f;  // keeps the square inside float range
    const float c2 = c * c;
    if (c2 * den1 > num1 * syy) {
      if (c2 * den0 > num0 * syy) {
        num1 = num0;
        den1 = den0;
        b1 = b0;
        num0 = c2;
        den0 = syy;
        b0 = i;
      } else {
        num1 = c2;
        den1 = syy;
        b1 = i;
      }
    }
  }
};

// In the 2x-decimated domain: t0 < maxp the candidate lag, xx the frame's energy, yy_lag[0..maxp]
// the delayed windows' energies, inner(lag) = <x, x - lag> over the frame, prev_period the last
// hop's period / 2, prev_gain its gain. Tries the sub-multiples t0 / k (k = 2..15, each with a
// second lag) against thresholds that favour continuity, refines the winner by +-1 (three inner
// products) and returns the pitch gain; *period = the full-rate period, at least min_period.
template <typename Inner>
inline float RemoveDoublingDecide(int t0, int maxp, int minp, int min_period, float xx, const float* yy_lag,
                                  int prev_period, float prev_gain, Inner inner, int* period) {
  static constexpr int kSecondCheck[16] = {0, 0, 3, 2, 3, 2, 5, 2, 3, 2, 3, 2, 5, 2, 3, 2};
  const float xy = inner(t0);
  int best_t = t0;
  float best_xy = xy, best_yy = yy_lag[t0];
  const float g0 = PitchGain(xy, xx, yy_lag[t0]);
  float g = g0;
  for (int k = 2; k <= 15; ++k) {
    const int t1 = (2 * t0 + k) / (2 * k);
    if (t1 < minp) break;
    int t1b;
    if (k == 2) t1b = (t1 + t0 > maxp) ? t0 : t0 + t1;
    else t1b = (2 * kSecondCheck[k] * t0 + k) / (2 * k);
    const float xy1 = inner(t1);
    const float xy2 = inner(t1b);
    const float cxy = .5f * (xy1 + xy2);
    const float cyy = .5f * (yy_lag[t1] + yy_lag[t1b]);
    const float g1 = PitchGain(cxy, xx, cyy);
    float cont;
    if (std::abs(t1 - prev_period) <= 1) cont = prev_gain;
    else if (std::abs(t1 - prev_period) <= 2 && 5 * k * k < t0) cont = prev_gain * .5f;
    else cont = 0;
    float thresh = std::max(.3f, .7f * g0 - cont);
    // Bias against very short periods (short-term correlation gives false positives).
    if (t1 < 3 * minp) thresh = std::max(.4f, .85f * g0 - cont);
    else if (t1 < 2 * minp) thresh = std::max(.5f, .9f * g0 - cont);
    if (g1 > thresh) {
      best_xy = cxy;
      best_yy = cyy;
      best_t = t1;
      g = g1;
    }
  }
  best_xy = std::max(0.f, best_xy);
  float pg = (best_yy <= best_xy) ? 1.f : best_xy / (best_yy + 1);
  float xc[3];
  for (int k = 0; k < 3; ++k) xc[k] = inner(best_t + k - 1);
  int offset = 0;
  if (xc[2] - xc[0] > .7f * (xc[1] - xc[0])) offset = 1;
  else if (xc[0] - xc[2] > .7f * (xc[1] - xc[2])) offset = -1;
  if (pg > g) pg = g;
  *period = 2 * best_t + offset;
  if (*period < min_period) *period = min_period;
  return pg;
}

}  // namespace ghostnv::audio::pitch::internal
