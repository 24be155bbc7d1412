// tools/denoise/si_sdr.cc — SI-SDR in double precision.
#include "tools/denoise/si_sdr.h"

#include <algorithm>
#include <cmath>

namespace ghostnv::tools {

std::optional<double> SiSdr(const float* reference, const float* estimate, size_t n,
                            size_t stride) {
  if (n == 0 || stride == 0) return std::nullopt;
  double mr = 0, me = 0;
  for (size_t i = 0; i < n; ++i) {
    mr += reference[i * stride];
    me += estimate[i * stride];
  }
  mr /= static_cast<double>(n);
  me /= static_cast<double>(n);
  double rr = 0, er = 0;
  for (size_t i = 0; i < n; ++i) {
    const double r = reference[i * stride] - mr, e = estimate[i * stride] - me;
    rr += r * r;
    er += e * r;
  }
  if (!(rr > 0)) return std::nullopt;
  const double alpha = er / rr;
  double target = 0, noise = 0;
  for (size_t i = 0; i < n; ++i) {
    const double t = alpha * (reference[i * stride] - mr);
    const double d = (estimate[i * stride] - me) - t;
    target += t * t;
    noise += d * d;
  }
  if (target <= 0) return -300.0;  // silent or orthogonal estimate
  if (noise <= 0) return 300.0;    // perfect estimate
  return std::clamp(10.0 * std::log10(target / noise), -300.0, 300.0);
}

std::optional<double> SiSdrInterleaved(const std::vector<float>& reference,
                                       const std::vector<float>& estimate, int channels) {
  if (channels <= 0) return std::nullopt;
  const size_t ch = static_cast<size_t>(channels);
  const size_t frames = std::min(reference.size(), estimate.size()) / ch;
  double sum = 0;
  for (size_t c = 0; c < ch; ++c) {
    const std::optional<double> s = SiSdr(reference.data() + c, estimate.data() + c, frames, ch);
    if (!s) return std::nullopt;
    sum += *s;
  }
  return sum / static_cast<double>(ch);
}

}  // namespace ghostnv::tools
