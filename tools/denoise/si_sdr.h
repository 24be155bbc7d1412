// tools/denoise/si_sdr.h — scale-invariant signal-to-distortion ratio (SI-SDR), in dB.
//
// SI-SDR (Le Roux et al., "SDR — half-baked or well done?", 2019) of an estimate against a
// clean reference: both are made zero-mean, the reference is scaled by the least-squares gain
// alpha = <est, ref> / <ref, ref>, and SI-SDR = 10 log10(|alpha ref|^2 / |est - alpha ref|^2).
// Computed in double precision. For interleaved multi-channel audio, each channel is scored on
// the frames both signals have and the channel scores are averaged.
//
//   std::optional<double> db = SiSdrInterleaved(clean, noisy, channels);
//
// Thread-safety: pure functions. Not real-time code.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace ghostnv::tools {

// One channel: `n` samples read with `stride` (1 for planar). nullopt when the reference is
// silent (zero energy after removing the mean) or n == 0. A perfect estimate gives +inf
// clamped to 300 dB.
std::optional<double> SiSdr(const float* reference, const float* estimate, size_t n,
                            size_t stride = 1);

// Interleaved buffers of `channels` channels; frames = min of the two lengths. nullopt when any
// channel is undefined.
std::optional<double> SiSdrInterleaved(const std::vector<float>& reference,
                                       const std::vector<float>& estimate, int channels);

}  // namespace ghostnv::tools
