// audio/alsa_format.h — device sample formats of the live path and their float conversions.
//
// The live path (audio/alsa_pcm.h, audio/alsa_duplex.h) moves periods between an ALSA ring buffer
// in the device's format and interleaved float frames for the library. This file names the five
// device formats GhostNV accepts and converts between them and float with exactly the rules of the
// file path (audio/sound_file.h), so live output and file output of the same input are
// bit-identical:
//   decode  integer s of b bits  ->  s / 2^(b-1)          (exact for 16 and 24 bits; for 32 bits
//                                                          the int->float conversion rounds, as
//                                                          libsndfile's does)
//   encode  float x  ->  nearbyint(x * 2^(b-1)) in double, clipped to [-2^(b-1), 2^(b-1) - 1]
//           (clipped samples counted; NaN/Inf become 0); FLOAT passes through (NaN/Inf -> 0).
//
//   PcmFormat f;
//   if (!ParsePcmFormat("S24_3LE", &f)) ...;
//   DecodeSamples(f, device_bytes, /*src_stride=*/PcmBytes(f) * channels, floats, channels, frames);
//   EncodeSamples(f, floats, channels, device_bytes, PcmBytes(f) * channels, frames, &clipped);
//
// Definitions: a sample is one value of one channel; a frame is one sample per channel. Strides
// are in bytes (device side) and floats (host side) from one frame to the next, so the same calls
// serve interleaved buffers and single channels of an mmap area.
//
// Thread-safety: pure functions. Real-time safe: no allocation, no locks, no logging.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ghostnv::audio {

// Little-endian device formats (ALSA names in comments).
enum class PcmFormat {
  kS16,    // S16_LE: 16-bit signed in 2 bytes
  kS24_3,  // S24_3LE: 24-bit signed packed in 3 bytes
  kS24,    // S24_LE: 24-bit signed in the low 3 bytes of a 4-byte word (sign-extended on read,
           //         top byte written as the sign extension)
  kS32,    // S32_LE: 32-bit signed
  kFloat,  // FLOAT_LE: IEEE-754 binary32
};

inline constexpr PcmFormat kAllPcmFormats[] = {PcmFormat::kS16, PcmFormat::kS24_3, PcmFormat::kS24,
                                               PcmFormat::kS32, PcmFormat::kFloat};

// ALSA's name: "S16_LE", "S24_3LE", "S24_LE", "S32_LE", "FLOAT_LE".
const char* PcmFormatName(PcmFormat f);
// Accepts the ALSA names and short forms, any case: s16, s24_3, s24_3le, s24, s32, float, f32,
// and the file tool's names pcm16, pcm24 (= S24_3LE), pcm32.
bool ParsePcmFormat(std::string_view name, PcmFormat* out);
// Bytes one sample occupies in the device buffer (2, 3, 4, 4, 4).
int PcmBytes(PcmFormat f);
// Significant bits (16, 24, 24, 32, 32 for float's container).
int PcmBits(PcmFormat f);

// Device bytes -> float. `src` points at the first sample of frame 0; frame i, channel c is at
// src + i * src_stride + c * PcmBytes(f). `dst` gets frame i, channel c at
// dst[i * dst_stride + c]. Converts `channels` samples of each of `frames` frames.
void DecodeSamples(PcmFormat f, const uint8_t* src, size_t src_stride, float* dst,
                   size_t dst_stride, size_t channels, size_t frames) noexcept;

// Float -> device bytes, with the quantisation above. `clipped` (may be null) is incremented by
// the number of integer samples that had to be clipped.
void EncodeSamples(PcmFormat f, const float* src, size_t src_stride, uint8_t* dst,
                   size_t dst_stride, size_t channels, size_t frames, uint64_t* clipped) noexcept;

// Writes silence (all-zero bytes are silence in every format above).
void SilenceSamples(PcmFormat f, uint8_t* dst, size_t dst_stride, size_t channels,
                    size_t frames) noexcept;

}  // namespace ghostnv::audio
