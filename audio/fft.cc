// audio/fft.cc — Stockham autosort mixed-radix FFT (radices 4, 2, 3, 5) on split complex data.
#include "audio/fft.h"

#include <cmath>
#include <stdexcept>

#include "audio/fft_internal.h"
#include "kernels/cpu.h"

namespace ghostnv::audio {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Radices in stage order. A stage's inner loop has ns iterations (the product of the radices
// before it) and the SIMD build does 8 at a time, so cheap radices (4, 2) go first until ns
// reaches 8, then the costly odd radices, then the remaining 4s and 2s (480: 4 2 5 3 4).
std::vector<int> Factorise(int n) {
  int c4 = 0, c2 = 0, c3 = 0, c5 = 0;
  while (n % 4 == 0) { ++c4; n /= 4; }
  while (n % 2 == 0) { ++c2; n /= 2; }
  while (n % 3 == 0) { ++c3; n /= 3; }
  while (n % 5 == 0) { ++c5; n /= 5; }
  if (n != 1) return {};
  std::vector<int> order;
  int ns = 1;
  // The first stage (ns = 1) has a dedicated vector loop for radix 4; after it, radix 2 is the
  // cheapest way to reach ns >= 8.
  while (ns < 8 && (c4 > 0 || c2 > 0)) {
    const int p = (ns == 1 && c4 > 0) || c2 == 0 ? 4 : 2;
    (p == 4 ? c4 : c2)--;
    order.push_back(p);
    ns *= p;
  }
  order.insert(order.end(), c5, 5);
  order.insert(order.end(), c3, 3);
  order.insert(order.end(), c4, 4);
  order.insert(order.end(), c2, 2);
  return order;
}

constexpr int kLanes = 1;
using Vec = float;
#include "audio/fft_stages.inc"

}  // namespace

// The AVX2 build of the same stages (fft_avx2.cc).
namespace fft_avx2 {
void Radix2(const StageArgs& a);
void Radix3(const StageArgs& a);
void Radix4(const StageArgs& a);
void Radix5(const StageArgs& a);
}  // namespace fft_avx2

bool Fft::IsSupportedSize(int n) { return n == 1 || (n > 1 && !Factorise(n).empty()); }

Fft::Fft(int n) : n_(n) {
  if (!IsSupportedSize(n)) throw std::invalid_argument("Fft: size must factor into 2, 3, 5");
  int ns = 1;
  for (int p : (n > 1 ? Factorise(n) : std::vector<int>{})) {
    stages_.push_back({p, ns, static_cast<int>(tw_re_.size())});
    for (int r = 1; r < p; ++r)
      for (int k = 0; k < ns; ++k) {
        const double a = -2.0 * kPi * r * k / (static_cast<double>(ns) * p);
        tw_re_.push_back(static_cast<float>(std::cos(a)));
        tw_im_.push_back(static_cast<float>(std::sin(a)));
      }
    ns *= p;
  }
  a_re_.resize(n);
  a_im_.resize(n);
  b_re_.resize(n);
  b_im_.resize(n);
  c_re_.resize(n);
  c_im_.resize(n);
}

void Fft::ForwardSplit(float* re, float* im) {
  const bool avx2 = kernels::ActiveSimd() == kernels::SimdLevel::kAvx2;
  float *sr = re, *si = im, *dr = a_re_.data(), *di = a_im_.data();
  for (const Stage& st : stages_) {
    const StageArgs args{sr, si, dr, di, tw_re_.data() + st.offset, tw_im_.data() + st.offset, n_, st.ns};
    if (avx2) {
      switch (st.radix) {
        case 2: fft_avx2::Radix2(args); break;
        case 3: fft_avx2::Radix3(args); break;
        case 4: fft_avx2::Radix4(args); break;
        case 5: fft_avx2::Radix5(args); break;
      }
    } else {
      switch (st.radix) {
        case 2: Radix2(args); break;
        case 3: Radix3(args); break;
        case 4: Radix4(args); break;
        case 5: Radix5(args); break;
      }
    }
    // Ping-pong between the two scratch pairs, never writing the caller's arrays until the end.
    sr = dr;
    si = di;
    const bool in_a = dr == a_re_.data();
    dr = in_a ? b_re_.data() : a_re_.data();
    di = in_a ? b_im_.data() : a_im_.data();
  }
  if (sr != re) {
    std::copy(sr, sr + n_, re);
    std::copy(si, si + n_, im);
  }
}

void Fft::Forward(const cfloat* in, cfloat* out) { Interleaved(in, out, false); }
void Fft::Inverse(const cfloat* in, cfloat* out) { Interleaved(in, out, true); }

void Fft::Interleaved(const cfloat* in, cfloat* out, bool inverse) {
  const float sign = inverse ? -1.f : 1.f;  // inverse = conj(forward(conj(x)))
  for (int i = 0; i < n_; ++i) {
    c_re_[i] = in[i].real();
    c_im_[i] = sign * in[i].imag();
  }
  ForwardSplit(c_re_.data(), c_im_.data());
  for (int i = 0; i < n_; ++i) out[i] = {c_re_[i], sign * c_im_[i]};
}

RealFft::RealFft(int n) : n_(n), half_(n / 2) {
  if (n < 2 || n % 2 != 0) throw std::invalid_argument("RealFft: size must be even");
  const int m = n / 2;
  rot_re_.resize(m + 1);
  rot_im_.resize(m + 1);
  for (int k = 0; k <= m; ++k) {
    const double a = -2.0 * kPi * k / n;
    rot_re_[k] = static_cast<float>(std::cos(a));
    rot_im_[k] = static_cast<float>(std::sin(a));
  }
  z_re_.resize(m + 1);
  z_im_.resize(m + 1);
}

void RealFft::Forward(const float* in, cfloat* out) {
  const int m = n_ / 2;
  float* zr = z_re_.data();
  float* zi = z_im_.data();
  for (int i = 0; i < m; ++i) {
    zr[i] = in[2 * i];
    zi[i] = in[2 * i + 1];
  }
  half_.ForwardSplit(zr, zi);
  zr[m] = zr[0];
  zi[m] = zi[0];
  // X[k] = E[k] + w^k O[k], E = (Z[k] + conj Z[m-k]) / 2, O = (Z[k] - conj Z[m-k]) / 2i.
  for (int k = 0; k <= m; ++k) {
    const float ar = zr[k], ai = zi[k], br = zr[m - k], bi = -zi[m - k];
    const float er = 0.5f * (ar + br), ei = 0.5f * (ai + bi);
    const float or_ = 0.5f * (ai - bi), oi = -0.5f * (ar - br);
    out[k] = {er + rot_re_[k] * or_ - rot_im_[k] * oi, ei + rot_re_[k] * oi + rot_im_[k] * or_};
  }
}

void RealFft::Inverse(const cfloat* in, float* out) {
  const int m = n_ / 2;
  float* zr = z_re_.data();
  float* zi = z_im_.data();
  // Z[k] = (X[k] + conj X[m-k]) + i w^-k (X[k] - conj X[m-k]); computed conjugated so the forward
  // transform can serve as the inverse.
  for (int k = 0; k < m; ++k) {
    float xr = in[k].real(), xi = in[k].imag(), yr = in[m - k].real(), yi = -in[m - k].imag();
    if (k == 0) xi = yi = 0;  // DC and Nyquist imaginary parts carry no real signal
    const float er = xr + yr, ei = xi + yi;
    const float dr = xr - yr, di = xi - yi;
    // odd = d * conj(rot)
    const float odr = dr * rot_re_[k] + di * rot_im_[k], odi = di * rot_re_[k] - dr * rot_im_[k];
    zr[k] = er - odi;
    zi[k] = -(ei + odr);
  }
  half_.ForwardSplit(zr, zi);
  for (int i = 0; i < m; ++i) {
    out[2 * i] = zr[i];
    out[2 * i + 1] = -zi[i];
  }
}

}  // namespace ghostnv::audio
