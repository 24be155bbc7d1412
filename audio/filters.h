// audio/filters.h — small DSP building blocks: analysis windows and a biquad section.
//
//   std::vector<float> w = PowerComplementaryWindow(960);  // w[i]^2 + w[i+480]^2 == 1
//   Biquad hp({-2.f, 1.f}, {-1.99599f, 0.99600f});         // RNNoise's DC-blocking high-pass
//   hp.Process(in, out, 480);                               // real-time safe, in == out allowed
#pragma once

#include <vector>

namespace ghostnv::audio {

// The Vorbis window sin(pi/2 sin^2(pi (i + 1/2) / n)) of even length n: power complementary for
// 50 % overlap, so windowing at analysis and at synthesis reconstructs the signal exactly.
std::vector<float> PowerComplementaryWindow(int n);

// Second-order section with a leading 1 in both polynomials:
// y = (1 + b0 z^-1 + b1 z^-2) / (1 + a0 z^-1 + a1 z^-2) x, in transposed direct form II.
class Biquad {
 public:
  Biquad() = default;
  Biquad(const float b[2], const float a[2]) : b_{b[0], b[1]}, a_{a[0], a[1]} {}
  void Process(const float* in, float* out, int n);
  void Reset() { mem_[0] = mem_[1] = 0; }

 private:
  float b_[2] = {0, 0};
  float a_[2] = {0, 0};
  float mem_[2] = {0, 0};
};

}  // namespace ghostnv::audio
