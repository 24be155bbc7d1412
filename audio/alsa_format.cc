// audio/alsa_format.cc — device sample formats <-> float (see alsa_format.h).
#include "audio/alsa_format.h"

#include <cmath>
#include <cstring>
#include <string>

namespace ghostnv::audio {
namespace {

// Same rule as audio/sound_file.cc's Quantize(): round to nearest in double, clip, count.
inline int32_t Quantize(float x, int bits, uint64_t* clipped) {
  if (!std::isfinite(x)) return 0;
  const double scale = std::ldexp(1.0, bits - 1);
  double v = std::nearbyint(static_cast<double>(x) * scale);
  if (v > scale - 1.0) {
    v = scale - 1.0;
    ++*clipped;
  } else if (v < -scale) {
    v = -scale;
    ++*clipped;
  }
  return static_cast<int32_t>(v);
}

inline int32_t Load24(const uint8_t* p) {
  const uint32_t u = uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16);
  return static_cast<int32_t>(u << 8) >> 8;  // sign-extend bit 23
}

inline void Store24(uint8_t* p, int32_t v) {
  const uint32_t u = static_cast<uint32_t>(v);
  p[0] = static_cast<uint8_t>(u);
  p[1] = static_cast<uint8_t>(u >> 8);
  p[2] = static_cast<uint8_t>(u >> 16);
}

std::string Normalize(std::string_view s) {
  std::string n;
  for (char c : s) {
    if (c == '-') c = '_';
    n += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return n;
}

}  // namespace

const char* PcmFormatName(PcmFormat f) {
  switch (f) {
    case PcmFormat::kS16: return "S16_LE";
    case PcmFormat::kS24_3: return "S24_3LE";
    case PcmFormat::kS24: return "S24_LE";
    case PcmFormat::kS32: return "S32_LE";
    case PcmFormat::kFloat: return "FLOAT_LE";
  }
  return "?";
}

bool ParsePcmFormat(std::string_view name, PcmFormat* out) {
  const std::string n = Normalize(name);
  if (n == "s16_le" || n == "s16" || n == "pcm16") *out = PcmFormat::kS16;
  else if (n == "s24_3le" || n == "s24_3" || n == "pcm24") *out = PcmFormat::kS24_3;
  else if (n == "s24_le" || n == "s24") *out = PcmFormat::kS24;
  else if (n == "s32_le" || n == "s32" || n == "pcm32") *out = PcmFormat::kS32;
  else if (n == "float_le" || n == "float" || n == "f32" || n == "float32") *out = PcmFormat::kFloat;
  else return false;
  return true;
}

int PcmBytes(PcmFormat f) {
  switch (f) {
    case PcmFormat::kS16: return 2;
    case PcmFormat::kS24_3: return 3;
    case PcmFormat::kS24:
    case PcmFormat::kS32:
    case PcmFormat::kFloat: return 4;
  }
  return 0;
}

int PcmBits(PcmFormat f) {
  switch (f) {
    case PcmFormat::kS16: return 16;
    case PcmFormat::kS24_3:
    case PcmFormat::kS24: return 24;
    case PcmFormat::kS32:
    case PcmFormat::kFloat: return 32;
  }
  return 0;
}

void DecodeSamples(PcmFormat f, const uint8_t* src, size_t src_stride, float* dst,
                   size_t dst_stride, size_t channels, size_t frames) noexcept {
  const size_t bytes = static_cast<size_t>(PcmBytes(f));
  for (size_t i = 0; i < frames; ++i) {
    const uint8_t* s = src + i * src_stride;
    float* d = dst + i * dst_stride;
    for (size_t c = 0; c < channels; ++c, s += bytes) {
      switch (f) {
        case PcmFormat::kS16: {
          int16_t v;
          std::memcpy(&v, s, 2);
          d[c] = static_cast<float>(v) * (1.0f / 32768.0f);
          break;
        }
        case PcmFormat::kS24_3:
        case PcmFormat::kS24:
          d[c] = static_cast<float>(Load24(s)) * (1.0f / 8388608.0f);
          break;
        case PcmFormat::kS32: {
          int32_t v;
          std::memcpy(&v, s, 4);
          d[c] = static_cast<float>(v) * (1.0f / 2147483648.0f);
          break;
        }
        case PcmFormat::kFloat:
          std::memcpy(&d[c], s, 4);
          break;
      }
    }
  }
}

void EncodeSamples(PcmFormat f, const float* src, size_t src_stride, uint8_t* dst,
                   size_t dst_stride, size_t channels, size_t frames, uint64_t* clipped) noexcept {
  uint64_t clip = 0;
  const size_t bytes = static_cast<size_t>(PcmBytes(f));
  for (size_t i = 0; i < frames; ++i) {
    const float* s = src + i * src_stride;
    uint8_t* d = dst + i * dst_stride;
    for (size_t c = 0; c < channels; ++c, d += bytes) {
      switch (f) {
        case PcmFormat::kS16: {
          const int16_t v = static_cast<int16_t>(Quantize(s[c], 16, &clip));
          std::memcpy(d, &v, 2);
          break;
        }
        case PcmFormat::kS24_3:
          Store24(d, Quantize(s[c], 24, &clip));
          break;
        case PcmFormat::kS24: {
          const int32_t v = Quantize(s[c], 24, &clip);  // already sign-extended
          std::memcpy(d, &v, 4);
          break;
        }
        case PcmFormat::kS32: {
          const int32_t v = Quantize(s[c], 32, &clip);
          std::memcpy(d, &v, 4);
          break;
        }
        case PcmFormat::kFloat: {
          const float v = std::isfinite(s[c]) ? s[c] : 0.0f;
          std::memcpy(d, &v, 4);
          break;
        }
      }
    }
  }
  if (clipped) *clipped += clip;
}

void SilenceSamples(PcmFormat f, uint8_t* dst, size_t dst_stride, size_t channels,
                    size_t frames) noexcept {
  const size_t row = channels * static_cast<size_t>(PcmBytes(f));
  if (dst_stride == row) {
    std::memset(dst, 0, row * frames);
    return;
  }
  for (size_t i = 0; i < frames; ++i) std::memset(dst + i * dst_stride, 0, row);
}

}  // namespace ghostnv::audio
