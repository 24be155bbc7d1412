// audio/fft.cc — Stockham autosort mixed-radix FFT (radices 4, 2, 3, 5) on split complex data.
#include "audio/fft.h"

#include <cmath>
#include <stdexcept>

namespace ghostnv::audio {
namespace {

constexpr double kPi = 3.14159265358979323846;

std::vector<int> Factorise(int n) {
  std::vector<int> f;
  while (n % 4 == 0) { f.push_back(4); n /= 4; }
  while (n % 2 == 0) { f.push_back(2); n /= 2; }
  while (n % 3 == 0) { f.push_back(3); n /= 3; }
  while (n % 5 == 0) { f.push_back(5); n /= 5; }
  if (n != 1) f.clear();
  return f;
}

// Arguments shared by every stage: source and destination (split), twiddles for this stage.
struct StageArgs {
  const float* sr;
  const float* si;
  float* dr;
  float* di;
  const float* wr;  // [(r - 1) * ns + k]
  const float* wi;
  int n;
  int ns;
};

// One Stockham stage of radix P: for every j = jb + k (k < ns), the P inputs
// src[j + r * n / P] are twiddled by w^(r k) and transformed, landing at dst[jb * P + k + r * ns].
// The k loop is contiguous in src, dst and twiddles, so it vectorises.
#define GHOSTNV_CLONES __attribute__((target_clones("arch=haswell", "default")))

GHOSTNV_CLONES void Radix2(const StageArgs& a) {
  const int stride = a.n / 2, ns = a.ns;
  for (int jb = 0; jb < stride; jb += ns) {
    const float *s0r = a.sr + jb, *s0i = a.si + jb, *s1r = s0r + stride, *s1i = s0i + stride;
    float *d0r = a.dr + 2 * jb, *d0i = a.di + 2 * jb, *d1r = d0r + ns, *d1i = d0i + ns;
    for (int k = 0; k < ns; ++k) {
      const float br = s1r[k] * a.wr[k] - s1i[k] * a.wi[k];
      const float bi = s1r[k] * a.wi[k] + s1i[k] * a.wr[k];
      d0r[k] = s0r[k] + br;
      d0i[k] = s0i[k] + bi;
      d1r[k] = s0r[k] - br;
      d1i[k] = s0i[k] - bi;
    }
  }
}

GHOSTNV_CLONES void Radix4(const StageArgs& a) {
  const int stride = a.n / 4, ns = a.ns;
  const float *w1r = a.wr, *w1i = a.wi, *w2r = a.wr + ns, *w2i = a.wi + ns, *w3r = a.wr + 2 * ns,
              *w3i = a.wi + 2 * ns;
  for (int jb = 0; jb < stride; jb += ns) {
    const float* s0r = a.sr + jb;
    const float* s0i = a.si + jb;
    float* d0r = a.dr + 4 * jb;
    float* d0i = a.di + 4 * jb;
    for (int k = 0; k < ns; ++k) {
      const float x0r = s0r[k], x0i = s0i[k];
      const float y1r = s0r[k + stride], y1i = s0i[k + stride];
      const float y2r = s0r[k + 2 * stride], y2i = s0i[k + 2 * stride];
      const float y3r = s0r[k + 3 * stride], y3i = s0i[k + 3 * stride];
      const float x1r = y1r * w1r[k] - y1i * w1i[k], x1i = y1r * w1i[k] + y1i * w1r[k];
      const float x2r = y2r * w2r[k] - y2i * w2i[k], x2i = y2r * w2i[k] + y2i * w2r[k];
      const float x3r = y3r * w3r[k] - y3i * w3i[k], x3i = y3r * w3i[k] + y3i * w3r[k];
      const float t0r = x0r + x2r, t0i = x0i + x2i, t1r = x0r - x2r, t1i = x0i - x2i;
      const float t2r = x1r + x3r, t2i = x1i + x3i;
      const float t3r = x1i - x3i, t3i = x3r - x1r;  // (x1 - x3) * -i
      d0r[k] = t0r + t2r;
      d0i[k] = t0i + t2i;
      d0r[k + ns] = t1r + t3r;
      d0i[k + ns] = t1i + t3i;
      d0r[k + 2 * ns] = t0r - t2r;
      d0i[k + 2 * ns] = t0i - t2i;
      d0r[k + 3 * ns] = t1r - t3r;
      d0i[k + 3 * ns] = t1i - t3i;
    }
  }
}

GHOSTNV_CLONES void Radix3(const StageArgs& a) {
  const int stride = a.n / 3, ns = a.ns;
  const float s3 = static_cast<float>(std::sin(2 * kPi / 3));
  const float *w1r = a.wr, *w1i = a.wi, *w2r = a.wr + ns, *w2i = a.wi + ns;
  for (int jb = 0; jb < stride; jb += ns) {
    const float* s0r = a.sr + jb;
    const float* s0i = a.si + jb;
    float* d0r = a.dr + 3 * jb;
    float* d0i = a.di + 3 * jb;
    for (int k = 0; k < ns; ++k) {
      const float x0r = s0r[k], x0i = s0i[k];
      const float y1r = s0r[k + stride], y1i = s0i[k + stride];
      const float y2r = s0r[k + 2 * stride], y2i = s0i[k + 2 * stride];
      const float x1r = y1r * w1r[k] - y1i * w1i[k], x1i = y1r * w1i[k] + y1i * w1r[k];
      const float x2r = y2r * w2r[k] - y2i * w2i[k], x2i = y2r * w2i[k] + y2i * w2r[k];
      const float t1r = x1r + x2r, t1i = x1i + x2i;
      const float t2r = x0r - 0.5f * t1r, t2i = x0i - 0.5f * t1i;
      const float t3r = s3 * (x1i - x2i), t3i = -s3 * (x1r - x2r);  // -i s3 (x1 - x2)
      d0r[k] = x0r + t1r;
      d0i[k] = x0i + t1i;
      d0r[k + ns] = t2r + t3r;
      d0i[k + ns] = t2i + t3i;
      d0r[k + 2 * ns] = t2r - t3r;
      d0i[k + 2 * ns] = t2i - t3i;
    }
  }
}

GHOSTNV_CLONES void Radix5(const StageArgs& a) {
  const int stride = a.n / 5, ns = a.ns;
  const float c1 = static_cast<float>(std::cos(2 * kPi / 5)), s1 = static_cast<float>(std::sin(2 * kPi / 5));
  const float c2 = static_cast<float>(std::cos(4 * kPi / 5)), s2 = static_cast<float>(std::sin(4 * kPi / 5));
  for (int jb = 0; jb < stride; jb += ns) {
    const float* s0r = a.sr + jb;
    const float* s0i = a.si + jb;
    float* d0r = a.dr + 5 * jb;
    float* d0i = a.di + 5 * jb;
    for (int k = 0; k < ns; ++k) {
      float xr[5], xi[5];
      xr[0] = s0r[k];
      xi[0] = s0i[k];
      for (int r = 1; r < 5; ++r) {
        const float yr = s0r[k + r * stride], yi = s0i[k + r * stride];
        const float wr = a.wr[(r - 1) * ns + k], wi = a.wi[(r - 1) * ns + k];
        xr[r] = yr * wr - yi * wi;
        xi[r] = yr * wi + yi * wr;
      }
      const float b1r = xr[1] + xr[4], b1i = xi[1] + xi[4], b2r = xr[2] + xr[3], b2i = xi[2] + xi[3];
      const float d1r = xr[1] - xr[4], d1i = xi[1] - xi[4], d2r = xr[2] - xr[3], d2i = xi[2] - xi[3];
      const float e1r = xr[0] + c1 * b1r + c2 * b2r, e1i = xi[0] + c1 * b1i + c2 * b2i;
      const float e2r = xr[0] + c2 * b1r + c1 * b2r, e2i = xi[0] + c2 * b1i + c1 * b2i;
      // f1 = -i (s1 d1 + s2 d2), f2 = -i (s2 d1 - s1 d2)
      const float f1r = s1 * d1i + s2 * d2i, f1i = -(s1 * d1r + s2 * d2r);
      const float f2r = s2 * d1i - s1 * d2i, f2i = -(s2 * d1r - s1 * d2r);
      d0r[k] = xr[0] + b1r + b2r;
      d0i[k] = xi[0] + b1i + b2i;
      d0r[k + ns] = e1r + f1r;
      d0i[k + ns] = e1i + f1i;
      d0r[k + 4 * ns] = e1r - f1r;
      d0i[k + 4 * ns] = e1i - f1i;
      d0r[k + 2 * ns] = e2r + f2r;
      d0i[k + 2 * ns] = e2i + f2i;
      d0r[k + 3 * ns] = e2r - f2r;
      d0i[k + 3 * ns] = e2i - f2i;
    }
  }
}

}  // namespace

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
  float *sr = re, *si = im, *dr = a_re_.data(), *di = a_im_.data();
  for (const Stage& st : stages_) {
    const StageArgs args{sr, si, dr, di, tw_re_.data() + st.offset, tw_im_.data() + st.offset, n_, st.ns};
    switch (st.radix) {
      case 2: Radix2(args); break;
      case 3: Radix3(args); break;
      case 4: Radix4(args); break;
      case 5: Radix5(args); break;
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
