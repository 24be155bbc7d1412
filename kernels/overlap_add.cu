// kernels/overlap_add.cu — framing around the FFT: analysis windowing and synthesis overlap-add
// for 50 %-overlapped frames of 2 * hop samples (the RNNoise family's framing).
//
//   frame_analysis_f32: out[b] = [mem[b], in[b]] * window (2*hop samples); then mem[b] = in[b].
//     Launch: grid.x >= batch (one block per stream), any block.x.
//   overlap_add_f32: with y[b] a time-domain frame (2*hop samples, e.g. an unnormalised inverse
//     FFT), out[b][i] = y[b][i] / divisor * window[i] + mem[b][i] and
//     mem[b][i] = y[b][hop + i] / divisor * window[hop + i], i < hop.
//     Launch: grid.x * block.x >= batch * hop.
// mem rows are hop floats apart; other rows their *_stride apart. The CPU twin is the framing in
// models/rnnoise/rnnoise_family.cc (same operations in the same order).
#include "gpu_common.cuh"

extern "C" __global__ void frame_analysis_f32(const float* __restrict__ in, int in_stride,
                                              float* mem, const float* __restrict__ window,
                                              float* __restrict__ out, int out_stride, int hop,
                                              int batch) {
  for (int b = blockIdx.x; b < batch; b += gridDim.x) {
    const float* ir = in + static_cast<long long>(b) * in_stride;
    float* mr = mem + static_cast<long long>(b) * hop;
    float* orow = out + static_cast<long long>(b) * out_stride;
    for (int i = threadIdx.x; i < 2 * hop; i += blockDim.x) {
      const float v = i < hop ? mr[i] : ir[i - hop];
      orow[i] = v * window[i];
    }
    __syncthreads();  // every read of mem precedes its update
    for (int i = threadIdx.x; i < hop; i += blockDim.x) mr[i] = ir[i];
    __syncthreads();
  }
}

extern "C" __global__ void overlap_add_f32(const float* __restrict__ y, int y_stride,
                                           const float* __restrict__ window, float divisor,
                                           float* __restrict__ mem, float* __restrict__ out,
                                           int out_stride, int hop, int batch) {
  const long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (t >= static_cast<long long>(batch) * hop) return;
  const int b = static_cast<int>(t / hop);
  const int i = static_cast<int>(t - static_cast<long long>(b) * hop);
  const float* yr = y + static_cast<long long>(b) * y_stride;
  float* mr = mem + static_cast<long long>(b) * hop;
  const float wet = yr[i] / divisor * window[i] + mr[i];
  mr[i] = yr[hop + i] / divisor * window[hop + i];
  out[static_cast<long long>(b) * out_stride + i] = wet;
}
