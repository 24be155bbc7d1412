// tests/integration/library/test_signals.h — test audio the library tests generate themselves.
//
// NoisySpeechLike(): harmonic bursts with a syllable envelope (voice-like for a VAD), one burst
// per second, over white noise — deterministic for a seed, so two tools can be fed identical
// input.
//
//   std::vector<float> x = NoisySpeechLike(48000 * 2, 48000, 2, /*seed=*/7);  // interleaved
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace ghostnv::testing {

inline std::vector<float> NoisySpeechLike(size_t frames, int rate, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.03f);
  std::vector<float> v(frames * static_cast<size_t>(channels));
  const double pi = 3.14159265358979323846;
  for (size_t t = 0; t < frames; ++t) {
    const double s = static_cast<double>(t) / rate;
    const double phase = std::fmod(s, 1.0);
    const double env = phase < 0.5 ? std::sin(pi * phase / 0.5) * (0.6 + 0.4 * std::sin(2 * pi * 5 * s)) : 0.0;
    double voice = 0.0;
    const double f0 = 120.0 + 30.0 * std::sin(2 * pi * 0.7 * s);
    for (int h = 1; h <= 20; ++h) voice += std::sin(2 * pi * f0 * h * s + h) / h;
    for (int c = 0; c < channels; ++c) {
      const double gain = c == 0 ? 0.2 : 0.15;
      v[t * static_cast<size_t>(channels) + static_cast<size_t>(c)] =
          static_cast<float>(gain * env * voice) + noise(rng);
    }
  }
  return v;
}

// SNR of the difference in dB: 10 log10(sum ref^2 / sum (x - ref)^2); 300 for identical.
inline double SnrOfDifference(const float* ref, const float* x, size_t n) {
  double s = 0, d = 0;
  for (size_t i = 0; i < n; ++i) {
    s += static_cast<double>(ref[i]) * ref[i];
    const double e = static_cast<double>(x[i]) - ref[i];
    d += e * e;
  }
  if (d == 0) return 300.0;
  return 10.0 * std::log10(s / d);
}

}  // namespace ghostnv::testing
