// audio/pitch.h — pitch analysis of RNNoise (derived from the Opus/CELT pitch search).
//
// The signal is low-passed and decimated by 2 (PitchDownsample), a coarse search at 4x
// decimation and a fine search at 2x find the best period (PitchSearch), and RemoveDoubling
// checks sub-multiples of that period to avoid octave errors, returning a pitch gain.
//
//   float lp[kBuf / 2];
//   PitchDownsample(buf, lp, kBuf);
//   int idx; PitchSearch(lp + kMaxPeriod / 2, lp, kFrame, kMaxPeriod - 3 * kMinPeriod, &idx);
//   idx = kMaxPeriod - idx;
//   float gain = RemoveDoubling(lp, kMaxPeriod, kMinPeriod, kFrame, &idx, last_idx, last_gain);
//
// Real-time safe (stack buffers only, sized for the constants below).
#pragma once

namespace ghostnv::audio::pitch {

constexpr int kMinPeriod = 60;
constexpr int kMaxPeriod = 768;
constexpr int kFrame = 960;
constexpr int kBuf = kMaxPeriod + kFrame;  // 1728

// x: len samples (len <= kBuf); x_lp: len/2 samples, low-passed, decimated and whitened.
void PitchDownsample(const float* x, float* x_lp, int len);
// x_lp: len/2 samples; y: (len + max_pitch)/2 samples; *pitch in 2x-decimated lag units * 2.
void PitchSearch(const float* x_lp, const float* y, int len, int max_pitch, int* pitch);
// x: the decimated buffer (maxperiod/2 + N/2 samples); *t0 in/out (full-rate period).
float RemoveDoubling(const float* x, int maxperiod, int minperiod, int n, int* t0,
                     int prev_period, float prev_gain);

}  // namespace ghostnv::audio::pitch
