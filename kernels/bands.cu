// kernels/bands.cu — triangular band sums and band-gain interpolation on a spectrum (GPU twins of
// audio/bands.h's BandEnergy, BandCorrelation and InterpolateBandGains, for any band layout).
//
// Spectra are interleaved complex floats (re, im per bin, as std::complex<float>), rows
// x_stride floats apart. starts[0..nbands) are the bands' first bins (increasing); band i spans
// size_i = starts[i+1] - starts[i] bins; bin starts[i] + j belongs to band i with weight
// 1 - j/size_i and to band i+1 with weight j/size_i. Bins from starts[nbands-1] on belong to
// no band.
//
//   band_sums_f32: out[b][i] = sum over the bins of bands i-1 and i of weight * e(bin), where
//     e = |X|^2 (p == null) or Re(X conj P); the first and last bands are doubled.
//     Launch: grid.x * block.x >= batch * nbands (one thread per band).
//   interp_band_gains_f32: gain(bin) = (1 - j/size_i) g[i] + (j/size_i) g[i+1] for bins inside
//     the bands, 0 outside them (below starts[0], from starts[nbands-1] on); written to gf (if
//     not null) and multiplied into X (if not null, both parts).
//     Launch: grid.x * block.x >= batch * bins.
#include "gpu_common.cuh"

extern "C" __global__ void band_sums_f32(const float* __restrict__ x, const float* __restrict__ p,
                                         int x_stride, const int* __restrict__ starts, int nbands,
                                         float* __restrict__ out, int out_stride, int batch) {
  const long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (t >= static_cast<long long>(batch) * nbands) return;
  const int b = static_cast<int>(t / nbands);
  const int band = static_cast<int>(t - static_cast<long long>(b) * nbands);
  const float* xr = x + static_cast<long long>(b) * x_stride;
  const float* pr = p != nullptr ? p + static_cast<long long>(b) * x_stride : nullptr;
  float sum = 0.f;
  // The rising half of this band's triangle lies in the previous band's bins ...
  if (band > 0) {
    const int s = starts[band - 1], size = starts[band] - s;
    for (int j = 0; j < size; ++j) {
      const int k = s + j;
      const float e = pr != nullptr ? xr[2 * k] * pr[2 * k] + xr[2 * k + 1] * pr[2 * k + 1]
                                    : xr[2 * k] * xr[2 * k] + xr[2 * k + 1] * xr[2 * k + 1];
      sum += (static_cast<float>(j) / size) * e;
    }
  }
  // ... the falling half in its own.
  if (band < nbands - 1) {
    const int s = starts[band], size = starts[band + 1] - s;
    for (int j = 0; j < size; ++j) {
      const int k = s + j;
      const float e = pr != nullptr ? xr[2 * k] * pr[2 * k] + xr[2 * k + 1] * pr[2 * k + 1]
                                    : xr[2 * k] * xr[2 * k] + xr[2 * k + 1] * xr[2 * k + 1];
      sum += (1.f - static_cast<float>(j) / size) * e;
    }
  }
  if (band == 0 || band == nbands - 1) sum *= 2.f;
  out[static_cast<long long>(b) * out_stride + band] = sum;
}

extern "C" __global__ void interp_band_gains_f32(const float* __restrict__ g, int g_stride,
                                                 const int* __restrict__ starts, int nbands,
                                                 float* __restrict__ gf, int gf_stride,
                                                 float* __restrict__ x, int x_stride, int bins,
                                                 int batch) {
  const long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (t >= static_cast<long long>(batch) * bins) return;
  const int b = static_cast<int>(t / bins);
  const int bin = static_cast<int>(t - static_cast<long long>(b) * bins);
  float gain = 0.f;
  if (nbands > 1 && bin >= starts[0] && bin < starts[nbands - 1]) {
    int i = 0;
    while (i + 2 < nbands && starts[i + 1] <= bin) ++i;
    const int size = starts[i + 1] - starts[i];
    const float frac = static_cast<float>(bin - starts[i]) / size;
    const float* gr = g + static_cast<long long>(b) * g_stride;
    gain = (1.f - frac) * gr[i] + frac * gr[i + 1];
  }
  if (gf != nullptr) gf[static_cast<long long>(b) * gf_stride + bin] = gain;
  if (x != nullptr) {
    float* xr = x + static_cast<long long>(b) * x_stride;
    xr[2 * bin] *= gain;
    xr[2 * bin + 1] *= gain;
  }
}
