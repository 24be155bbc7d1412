// audio/filters.cc — see filters.h.
#include "audio/filters.h"

#include <cmath>

namespace ghostnv::audio {

std::vector<float> PowerComplementaryWindow(int n) {
  std::vector<float> w(n);
  const int half = n / 2;
  for (int i = 0; i < half; ++i) {
    const double s = std::sin(.5 * M_PI * (i + .5) / half);
    w[i] = static_cast<float>(std::sin(.5 * M_PI * s * s));
    w[n - 1 - i] = w[i];
  }
  return w;
}

void Biquad::Process(const float* in, float* out, int n) {
  for (int i = 0; i < n; ++i) {
    const float x = in[i];
    const float y = x + mem_[0];
    mem_[0] = mem_[1] + (b_[0] * x - a_[0] * y);
    mem_[1] = b_[1] * x - a_[1] * y;
    out[i] = y;
  }
}

}  // namespace ghostnv::audio
