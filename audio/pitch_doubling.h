// audio/pitch_doubling.h — RemoveDoubling's decision (octave-error check of a pitch candidate),
// shared by the two summation orders: audio/pitch.cc (RNNoise's) and audio/pitch_parallel
// (which computes the energies and inner products in its own order and passes them in). Inline,
// so each caller's translation unit (and its floating-point flags) compiles it. Internal to
// audio/.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace ghostnv::audio::pitch::internal {

inline float PitchGain(float xy, float xx, float yy) { return xy / std::sqrt(1.f + xx * yy); }

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
