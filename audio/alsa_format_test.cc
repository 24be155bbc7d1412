// Tests of audio/alsa_format.h: against naive double-precision references and against the file
// path (audio/sound_file.h through libsndfile), which live output must match byte for byte.
#include "audio/alsa_format.h"

#include <sndfile.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "audio/sound_file.h"
#include "gtest/gtest.h"

namespace ghostnv::audio {
namespace {

// Naive references, written independently of the implementation.
double RefDecode(PcmFormat f, const uint8_t* p) {
  switch (f) {
    case PcmFormat::kS16: return static_cast<int16_t>(p[0] | (p[1] << 8)) / 32768.0;
    case PcmFormat::kS24_3:
    case PcmFormat::kS24: {
      long v = p[0] | (p[1] << 8) | (long{p[2]} << 16);
      if (v >= (1L << 23)) v -= (1L << 24);
      return static_cast<double>(v) / 8388608.0;
    }
    case PcmFormat::kS32: {
      const uint32_t u = uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) |
                         (uint32_t{p[3]} << 24);
      return static_cast<double>(static_cast<float>(static_cast<int32_t>(u))) / 2147483648.0;
    }
    case PcmFormat::kFloat: {
      float x;
      std::memcpy(&x, p, 4);
      return x;
    }
  }
  return 0;
}

long long RefQuantize(float x, int bits, bool* clipped) {
  *clipped = false;
  if (!std::isfinite(x)) return 0;
  const long double scale = std::pow(2.0L, bits - 1);
  long double v = std::nearbyint(static_cast<long double>(x) * scale);
  if (v > scale - 1) v = scale - 1, *clipped = true;
  if (v < -scale) v = -scale, *clipped = true;
  return static_cast<long long>(v);
}

std::vector<float> RandomFloats(size_t n, uint32_t seed, float amp) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-amp, amp);
  std::vector<float> x(n);
  for (float& v : x) v = u(rng);
  return x;
}

TEST(AlsaFormatTest, NamesRoundTrip) {
  for (PcmFormat f : kAllPcmFormats) {
    PcmFormat g;
    ASSERT_TRUE(ParsePcmFormat(PcmFormatName(f), &g)) << PcmFormatName(f);
    EXPECT_EQ(g, f);
  }
  PcmFormat g;
  EXPECT_TRUE(ParsePcmFormat("s24_3", &g));
  EXPECT_EQ(g, PcmFormat::kS24_3);
  EXPECT_TRUE(ParsePcmFormat("pcm16", &g));
  EXPECT_EQ(g, PcmFormat::kS16);
  EXPECT_TRUE(ParsePcmFormat("Float", &g));
  EXPECT_EQ(g, PcmFormat::kFloat);
  EXPECT_FALSE(ParsePcmFormat("U8", &g));
  EXPECT_FALSE(ParsePcmFormat("", &g));
  EXPECT_EQ(PcmBytes(PcmFormat::kS24_3), 3);
  EXPECT_EQ(PcmBytes(PcmFormat::kS24), 4);
}

TEST(AlsaFormatTest, DecodeMatchesNaiveReferenceOnRandomBytes) {
  std::mt19937 rng(7);
  for (PcmFormat f : kAllPcmFormats) {
    for (size_t channels : {1u, 2u}) {
      for (size_t frames : {0u, 1u, 7u, 113u, 513u}) {
        const size_t bytes = static_cast<size_t>(PcmBytes(f));
        std::vector<uint8_t> raw(frames * channels * bytes);
        for (uint8_t& b : raw) b = static_cast<uint8_t>(rng());
        if (f == PcmFormat::kFloat) {  // keep floats finite
          for (size_t i = 0; i < frames * channels; ++i) {
            const float x = std::uniform_real_distribution<float>(-2, 2)(rng);
            std::memcpy(&raw[i * 4], &x, 4);
          }
        }
        std::vector<float> got(frames * channels + 1, 42.0f);
        DecodeSamples(f, raw.data(), channels * bytes, got.data(), channels, channels, frames);
        for (size_t i = 0; i < frames * channels; ++i)
          ASSERT_EQ(static_cast<double>(got[i]), RefDecode(f, &raw[i * bytes]))
              << PcmFormatName(f) << " sample " << i;
        EXPECT_EQ(got.back(), 42.0f);  // nothing written past the end
      }
    }
  }
}

TEST(AlsaFormatTest, EncodeMatchesNaiveReferenceWithClipping) {
  std::vector<float> x = RandomFloats(513 * 2, 11, 1.3f);
  x[0] = 1.0f;
  x[1] = -1.0f;
  x[2] = std::numeric_limits<float>::quiet_NaN();
  x[3] = std::numeric_limits<float>::infinity();
  x[4] = 0.99999994f;
  x[5] = -0.5f / 32768.0f;  // rounds to 0 (ties to even)
  x[6] = 1.5f / 32768.0f;   // rounds to 2
  for (PcmFormat f : kAllPcmFormats) {
    const size_t bytes = static_cast<size_t>(PcmBytes(f));
    std::vector<uint8_t> raw(x.size() * bytes);
    uint64_t clipped = 0;
    EncodeSamples(f, x.data(), 2, raw.data(), 2 * bytes, 2, x.size() / 2, &clipped);
    uint64_t want_clipped = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const uint8_t* p = &raw[i * bytes];
      if (f == PcmFormat::kFloat) {
        float y;
        std::memcpy(&y, p, 4);
        ASSERT_EQ(y, std::isfinite(x[i]) ? x[i] : 0.0f) << i;
        continue;
      }
      bool c;
      const long long want = RefQuantize(x[i], PcmBits(f), &c);
      want_clipped += c;
      long long got = 0;
      if (f == PcmFormat::kS16) got = static_cast<int16_t>(p[0] | (p[1] << 8));
      else if (f == PcmFormat::kS24_3 || f == PcmFormat::kS24) {
        got = p[0] | (p[1] << 8) | (static_cast<long long>(p[2]) << 16);
        if (got >= (1LL << 23)) got -= (1LL << 24);
        if (f == PcmFormat::kS24) {
          EXPECT_EQ(p[3], got < 0 ? 0xff : 0x00) << "sign byte " << i;
        }
      } else {
        uint32_t u;
        std::memcpy(&u, p, 4);
        got = static_cast<int32_t>(u);
      }
      ASSERT_EQ(got, want) << PcmFormatName(f) << " sample " << i << " x=" << x[i];
    }
    EXPECT_EQ(clipped, want_clipped) << PcmFormatName(f);
    if (f != PcmFormat::kFloat) {
      EXPECT_GT(want_clipped, 0u);
    }
  }
}

TEST(AlsaFormatTest, IntegerRoundTripIsExact) {
  for (PcmFormat f : {PcmFormat::kS16, PcmFormat::kS24_3, PcmFormat::kS24}) {
    const size_t bytes = static_cast<size_t>(PcmBytes(f));
    std::mt19937 rng(3);
    std::vector<uint8_t> raw(1000 * bytes), back(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(rng());
    if (f == PcmFormat::kS24) {
      for (size_t i = 0; i < 1000; ++i) raw[i * 4 + 3] = (raw[i * 4 + 2] & 0x80) ? 0xff : 0;
    }
    std::vector<float> mid(1000);
    DecodeSamples(f, raw.data(), bytes, mid.data(), 1, 1, 1000);
    uint64_t clipped = 0;
    EncodeSamples(f, mid.data(), 1, back.data(), bytes, 1, 1000, &clipped);
    EXPECT_EQ(back, raw) << PcmFormatName(f);
    EXPECT_EQ(clipped, 0u);
  }
}

TEST(AlsaFormatTest, SilenceIsZeroBytesAndRespectsStride) {
  std::vector<uint8_t> buf(5 * 8, 0xAA);
  SilenceSamples(PcmFormat::kS16, buf.data(), 8, 2, 5);  // 4 bytes of each 8-byte frame
  for (size_t i = 0; i < buf.size(); ++i) EXPECT_EQ(buf[i], (i % 8) < 4 ? 0 : 0xAA) << i;
}

// The file path's conversions, through libsndfile: a WAV written by WriteSoundFile holds exactly
// the bytes EncodeSamples produces, and ReadSoundFile of raw bytes gives what DecodeSamples gives.
class AlsaFormatFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ghostnv_alsa_format_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string dir_;
};

// Raw data bytes of a WAV (the "data" chunk), parsed here without libsndfile.
std::vector<uint8_t> WavData(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<uint8_t> b((std::istreambuf_iterator<char>(f)), {});
  size_t pos = 12;
  while (pos + 8 <= b.size()) {
    const uint32_t len = b[pos + 4] | (b[pos + 5] << 8) | (b[pos + 6] << 16) |
                         (uint32_t{b[pos + 7]} << 24);
    if (std::memcmp(&b[pos], "data", 4) == 0)
      return std::vector<uint8_t>(b.begin() + pos + 8, b.begin() + pos + 8 + len);
    pos += 8 + len + (len & 1);
  }
  return {};
}

TEST_F(AlsaFormatFileTest, EncodeEqualsFileWriterBytes) {
  const std::vector<float> x = RandomFloats(2 * 777, 5, 1.2f);
  const struct {
    PcmFormat f;
    Subtype s;
  } cases[] = {{PcmFormat::kS16, Subtype::kPcm16},
               {PcmFormat::kS24_3, Subtype::kPcm24},
               {PcmFormat::kS32, Subtype::kPcm32},
               {PcmFormat::kFloat, Subtype::kFloat}};
  for (const auto& c : cases) {
    const std::string path = dir_ + "/w.wav";
    ASSERT_TRUE(WriteSoundFile(path, {kContainerWav, c.s, 48000, 2}, x).ok());
    const std::vector<uint8_t> file = WavData(path);
    std::vector<uint8_t> live(x.size() * static_cast<size_t>(PcmBytes(c.f)));
    EncodeSamples(c.f, x.data(), 2, live.data(), 2 * PcmBytes(c.f), 2, x.size() / 2, nullptr);
    EXPECT_EQ(live, file) << PcmFormatName(c.f);
  }
}

TEST_F(AlsaFormatFileTest, DecodeEqualsFileReaderFloats) {
  const struct {
    PcmFormat f;
    int sf_subtype;
  } cases[] = {{PcmFormat::kS16, SF_FORMAT_PCM_16},
               {PcmFormat::kS24_3, SF_FORMAT_PCM_24},
               {PcmFormat::kS32, SF_FORMAT_PCM_32},
               {PcmFormat::kFloat, SF_FORMAT_FLOAT}};
  for (const auto& c : cases) {
    // Raw little-endian samples, wrapped in a WAV by libsndfile's raw writer (no conversion).
    const size_t n = 1001, bytes = static_cast<size_t>(PcmBytes(c.f));
    std::mt19937 rng(9);
    std::vector<uint8_t> raw(n * bytes);
    for (uint8_t& b : raw) b = static_cast<uint8_t>(rng());
    if (c.f == PcmFormat::kFloat) {
      for (size_t i = 0; i < n; ++i) {
        const float v = std::uniform_real_distribution<float>(-1, 1)(rng);
        std::memcpy(&raw[i * 4], &v, 4);
      }
    }
    const std::string path = dir_ + "/r.wav";
    SF_INFO info{};
    info.samplerate = 48000;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | c.sf_subtype;
    SNDFILE* sf = sf_open(path.c_str(), SFM_WRITE, &info);
    ASSERT_NE(sf, nullptr);
    ASSERT_EQ(sf_write_raw(sf, raw.data(), static_cast<sf_count_t>(raw.size())),
              static_cast<sf_count_t>(raw.size()));
    sf_close(sf);
    absl::StatusOr<SoundFile> in = ReadSoundFile(path);
    ASSERT_TRUE(in.ok()) << in.status();
    ASSERT_EQ(in->samples.size(), n);
    std::vector<float> live(n);
    DecodeSamples(c.f, raw.data(), bytes, live.data(), 1, 1, n);
    for (size_t i = 0; i < n; ++i) {
      if (live[i] != 0.0f && std::fpclassify(live[i]) == FP_SUBNORMAL) continue;  // file sanitises
      ASSERT_EQ(live[i], in->samples[i]) << PcmFormatName(c.f) << " " << i;
    }
  }
}

}  // namespace
}  // namespace ghostnv::audio
