// audio/fft.h — mixed-radix FFTs (radix 2, 3, 4, 5) for the frame sizes audio models use.
//
// Fft is a complex transform of any size whose factors are 2, 3 and 5 (960, 480, 512, 320...).
// RealFft is a real-input transform of an even size N built on an N/2 complex Fft.
// Both are unnormalised in both directions: Inverse(Forward(x)) = N * x.
//
//   audio::RealFft fft(960);                 // setup: allocates twiddles and scratch
//   fft.Forward(time960, bins481);           // real-time safe
//   fft.Inverse(bins481, time960);           // ignores Im(bin 0) and Im(bin N/2)
//
// Internally the data is kept split (real and imaginary arrays) so that every stage's inner
// loop is contiguous; the stage loops are compiled for AVX2 and for baseline x86-64 and the
// CPU picks one at load time (GCC target_clones).
// Thread-safety: Forward/Inverse use the object's scratch; one thread per object at a time.
#pragma once

#include <complex>
#include <vector>

namespace ghostnv::audio {

using cfloat = std::complex<float>;

class Fft {
 public:
  // n must be > 0 and factor into 2, 3 and 5; IsSupportedSize() tells.
  explicit Fft(int n);
  static bool IsSupportedSize(int n);
  int size() const { return n_; }
  // X[k] = sum_n x[n] exp(-2 pi i k n / N)  (inverse: +). in and out may alias.
  void Forward(const cfloat* in, cfloat* out);
  void Inverse(const cfloat* in, cfloat* out);
  // In place on split data: re[0..n), im[0..n). Forward only (conjugate for the inverse).
  void ForwardSplit(float* re, float* im);

 private:
  struct Stage {
    int radix;
    int ns;      // product of the radices before this stage
    int offset;  // this stage's twiddles: tw_re_/tw_im_[offset + (r - 1) * ns + k]
  };
  void Interleaved(const cfloat* in, cfloat* out, bool inverse);
  int n_;
  std::vector<Stage> stages_;
  std::vector<float> tw_re_, tw_im_;
  std::vector<float> a_re_, a_im_, b_re_, b_im_;  // ping-pong between stages
  std::vector<float> c_re_, c_im_;                // split copy for the interleaved entry points
};

class RealFft {
 public:
  explicit RealFft(int n);  // n even, n/2 supported by Fft
  int size() const { return n_; }
  int bins() const { return n_ / 2 + 1; }
  void Forward(const float* in, cfloat* out);   // n reals -> n/2+1 bins
  void Inverse(const cfloat* in, float* out);   // n/2+1 bins -> n reals (unnormalised)

 private:
  int n_;
  Fft half_;
  std::vector<float> rot_re_, rot_im_;  // exp(-2 pi i k / n), k in [0, n/2]
  std::vector<float> z_re_, z_im_;
};

}  // namespace ghostnv::audio
