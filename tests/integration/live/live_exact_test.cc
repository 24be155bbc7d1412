// Live mode against file mode, exactly: ghostnv-denoise captures from an ALSA `file` PCM and plays
// to an ALSA `file` PCM (mmap on both, no sound card, no pacing), and its playback, aligned by the
// latency the tool reports (prefill + library latency), must equal byte for byte what file mode
// writes for the same input in the same sample format.
//
// The default run covers every format x rate pair once (channels and the period sizes 32, 64,
// 480, 1024, 2048 rotate through them) plus every period size at 48 kHz mono: 19 live runs.
// The whole matrix (5 formats x 3 rates x 2 channel counts x 5 periods = 150, about 20 s) runs
// with GHOSTNV_RUN_LONG=1, e.g. `GHOSTNV_RUN_LONG=1 ctest -L long` (it is skipped otherwise).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audio/sound_file.h"
#include "gtest/gtest.h"
#include "tests/integration/live/live_test_util.h"

namespace ghostnv::live_test {
namespace {

namespace audio = ghostnv::audio;

struct Format {
  const char* alsa;       // the device format the live run asks for
  audio::Subtype file;    // the file subtype holding the same sample values
  int bytes;              // device bytes per sample
  int file_bytes;         // WAV bytes per sample
};
const Format kFormats[] = {{"S16_LE", audio::Subtype::kPcm16, 2, 2},
                           {"S24_3LE", audio::Subtype::kPcm24, 3, 3},
                           {"S24_LE", audio::Subtype::kPcm24, 4, 3},
                           {"S32_LE", audio::Subtype::kPcm32, 4, 4},
                           {"FLOAT_LE", audio::Subtype::kFloat, 4, 4}};
const int kRates[] = {44100, 48000, 96000};
const int kPeriods[] = {32, 64, 480, 1024, 2048};

struct Case {
  int format;  // index into kFormats
  int rate;
  int channels;
  int period;
};

std::string Name(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  std::string f = kFormats[c.format].alsa;
  for (char& ch : f)
    if (ch == '_') ch = 'x';
  return absl::StrCat(f, "_", c.rate, "_", c.channels, "ch_p", c.period);
}

bool RunLong() {
  const char* v = std::getenv("GHOSTNV_RUN_LONG");
  return v != nullptr && std::string(v) == "1";
}

// Every format x rate x channel count x period (run only with GHOSTNV_RUN_LONG=1).
std::vector<Case> FullCases() {
  std::vector<Case> cases;
  for (int f = 0; f < 5; ++f)
    for (int r : kRates)
      for (int ch : {1, 2})
        for (int p : kPeriods) cases.push_back({f, r, ch, p});
  return cases;
}

// The default covering set.
std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (int f = 0; f < 5; ++f)
    for (int r = 0; r < 3; ++r)
      cases.push_back({f, kRates[r], 1 + (f + r) % 2, kPeriods[(f * 3 + r) % 5]});
  for (int p : kPeriods)
    if (p != 32) cases.push_back({0, 48000, 1, p});  // (S16, 48k, 1 ch, 32) is in the set above
  return cases;
}

// Device bytes of S24_LE (4-byte words) -> packed 3-byte samples, checking the sign byte.
std::vector<uint8_t> Pack24(const std::vector<uint8_t>& in, bool* sign_ok) {
  std::vector<uint8_t> out;
  out.reserve(in.size() / 4 * 3);
  *sign_ok = true;
  for (size_t i = 0; i + 4 <= in.size(); i += 4) {
    out.insert(out.end(), {in[i], in[i + 1], in[i + 2]});
    if (in[i + 3] != ((in[i + 2] & 0x80) ? 0xff : 0x00)) *sign_ok = false;
  }
  return out;
}

std::vector<uint8_t> Unpack24(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out;
  out.reserve(in.size() / 3 * 4);
  for (size_t i = 0; i + 3 <= in.size(); i += 3)
    out.insert(out.end(), {in[i], in[i + 1], in[i + 2],
                           static_cast<uint8_t>((in[i + 2] & 0x80) ? 0xff : 0x00)});
  return out;
}

class LiveExactTest : public ::testing::TestWithParam<Case> {};
class LiveExactFullTest : public LiveExactTest {};

void CheckLiveEqualsFile(const Case& c);

TEST_P(LiveExactTest, PlaybackEqualsFileModeOutput) { CheckLiveEqualsFile(GetParam()); }

TEST_P(LiveExactFullTest, PlaybackEqualsFileModeOutput) {
  if (!RunLong()) GTEST_SKIP() << "the full matrix runs with GHOSTNV_RUN_LONG=1 (ctest -L long)";
  CheckLiveEqualsFile(GetParam());
}

void CheckLiveEqualsFile(const Case& c) {
  const Format& fmt = kFormats[c.format];
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());

  // Input: a quarter second (odd length) in the file subtype.
  const size_t frames = static_cast<size_t>(c.rate / 4 + 37);
  const std::vector<float> x = VoicePlusNoise(c.rate, c.channels, frames, 1234u + c.rate);
  const std::string in_wav = dir / "in.wav", ref_wav = dir / "ref.wav";
  ASSERT_TRUE(audio::WriteSoundFile(in_wav, {audio::kContainerWav, fmt.file, c.rate, c.channels}, x)
                  .ok());

  // File mode: the reference.
  const ToolResult ref = RunTool(DenoiseBinary(), {in_wav, ref_wav, "--report", "json"}, {});
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  const std::vector<uint8_t> want = WavData(ref_wav);
  const size_t file_frame_bytes = static_cast<size_t>(fmt.file_bytes * c.channels);
  ASSERT_EQ(want.size(), frames * file_frame_bytes);

  // Live mode: capture the same samples (then silence) from a file PCM.
  std::vector<uint8_t> cap = WavData(in_wav);
  ASSERT_EQ(cap.size(), frames * file_frame_bytes);
  if (fmt.bytes == 4 && fmt.file_bytes == 3) cap = Unpack24(cap);
  const size_t dev_frame_bytes = static_cast<size_t>(fmt.bytes * c.channels);
  const size_t pad = 16384;  // > library latency + prefill + one period at every rate
  cap.resize((frames + pad) * dev_frame_bytes, 0);
  ASSERT_TRUE(WriteBytes(dir / "cap.raw", cap));
  const std::string conf = dir / "asound.conf";
  ASSERT_TRUE(WriteText(
      conf, absl::StrCat("pcm.file_play { type file slave.pcm { type null } file \"", dir / "play.raw",
                         "\" format \"raw\" }\n",
                         "pcm.file_cap { type file slave.pcm { type null } file \"/dev/null\" "
                         "infile \"",
                         dir / "cap.raw", "\" }\n")));
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::remove(std::string(dir / "play.raw").c_str());  // a retry starts from an empty file
    const double duration = static_cast<double>(frames + pad - 2 * c.period) / c.rate;
    const ToolResult live = RunTool(
        DenoiseBinary(),
        {"--capture", "file_cap", "--playback", "file_play", "--format", fmt.alsa, "--rate",
         absl::StrCat(c.rate), "--channels", absl::StrCat(c.channels), "--period",
         absl::StrCat(c.period), "--report", "json", "--duration", absl::StrCat(duration),
         "--rt_priority", "0", "--nomlock"},
        {{"ALSA_CONFIG_PATH", conf}});
    ASSERT_EQ(live.exit_code, 0) << live.err << live.out;
    const nlohmann::json sum = live.Find("summary");
    ASSERT_TRUE(sum.is_object()) << live.out;
    EXPECT_EQ(sum["capture"]["access"], "mmap");
    EXPECT_EQ(sum["playback"]["access"], "mmap");
    EXPECT_EQ(sum["capture"]["format"], fmt.alsa);
    EXPECT_EQ(sum["playback"]["format"], fmt.alsa);
    EXPECT_EQ(sum["capture"]["period_frames"], c.period);
    EXPECT_EQ(sum["capture"]["rate"], c.rate);
    EXPECT_EQ(sum["xruns"]["capture"], 0);
    EXPECT_EQ(sum["xruns"]["playback"], 0);
    const int64_t latency = sum["library_latency_frames"].get<int64_t>();
    const int64_t prefill = sum["prefill_frames"].get<int64_t>();
    EXPECT_EQ(prefill, c.period);
    EXPECT_EQ(sum["latency"]["frames"]["total"].get<int64_t>(), c.period + latency + prefill);

    // Playback = prefill silence, then the stream; the stream's frame t is input frame t - latency.
    std::vector<uint8_t> play = ReadBytes(dir / "play.raw");
    const size_t offset = static_cast<size_t>(prefill + latency) * dev_frame_bytes;
    ASSERT_GE(play.size(), offset + frames * dev_frame_bytes)
        << "captured " << sum["frames_captured"] << " frames";
    for (size_t i = 0; i < static_cast<size_t>(prefill) * dev_frame_bytes; ++i)
      ASSERT_EQ(play[i], 0) << "prefill byte " << i;
    std::vector<uint8_t> got(play.begin() + static_cast<ptrdiff_t>(offset),
                             play.begin() + static_cast<ptrdiff_t>(offset + frames * dev_frame_bytes));
    if (fmt.bytes == 4 && fmt.file_bytes == 3) {
      bool sign_ok = false;
      got = Pack24(got, &sign_ok);
      EXPECT_TRUE(sign_ok) << "S24_LE top bytes are not the sign extension";
    }
    ASSERT_EQ(got.size(), want.size());
    size_t first_diff = got.size();
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i] != want[i]) {
        first_diff = i;
        break;
      }
    }
    if (first_diff != got.size() && attempt == 0) {
      // Seen once in CI on a loaded machine (ASan build, S24_3LE 96 kHz stereo, 32-frame periods):
      // the whole output differed although no xrun was reported; the case passes when run alone.
      // One more run separates such a hiccup from a real difference, which fails both runs.
      std::cerr << "live output differs from file mode at frame " << first_diff / file_frame_bytes
                << " of " << frames << "; running the live side once more\n";
      continue;
    }
    EXPECT_EQ(first_diff, got.size()) << "first differing byte at frame "
                                      << first_diff / file_frame_bytes << " of " << frames;
    break;
  }
}

INSTANTIATE_TEST_SUITE_P(Matrix, LiveExactTest, ::testing::ValuesIn(Cases()), Name);
INSTANTIATE_TEST_SUITE_P(Full, LiveExactFullTest, ::testing::ValuesIn(FullCases()), Name);

// A playback device without mmap (`multi` offers none): RW access, said once, still exact.
TEST(LiveExactRwTest, DeviceWithoutMmapFallsBackSaysSoOnceAndStaysExact) {
  TempDir dir;
  const int rate = 48000;
  const size_t frames = 6000;
  const std::vector<float> x = VoicePlusNoise(rate, 1, frames, 77);
  const std::string in_wav = dir / "in.wav", ref_wav = dir / "ref.wav";
  ASSERT_TRUE(
      audio::WriteSoundFile(in_wav, {audio::kContainerWav, audio::Subtype::kPcm16, rate, 1}, x).ok());
  const ToolResult ref = RunTool(DenoiseBinary(), {in_wav, ref_wav}, {});
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  std::vector<uint8_t> cap = WavData(in_wav);
  cap.resize((frames + 8192) * 2, 0);
  ASSERT_TRUE(WriteBytes(dir / "cap.raw", cap));
  const std::string conf = dir / "asound.conf";
  ASSERT_TRUE(WriteText(
      conf, absl::StrCat("pcm.file_play { type file slave.pcm { type null } file \"", dir / "play.raw",
                         "\" format \"raw\" }\n",
                         "pcm.rw_play { type multi slaves.a.pcm \"file_play\" slaves.a.channels 1 "
                         "bindings.0 { slave a channel 0 } }\n",
                         "pcm.file_cap { type file slave.pcm { type null } file \"/dev/null\" "
                         "infile \"",
                         dir / "cap.raw", "\" }\n")));
  for (const char* report : {"json", "text"}) {
    const ToolResult live = RunTool(
        DenoiseBinary(),
        {"--capture", "file_cap", "--playback", "rw_play", "--format", "S16_LE", "--period", "64",
         "--report", report, "--duration", absl::StrCat((frames + 4096.0) / rate), "--rt_priority",
         "0", "--nomlock"},
        {{"ALSA_CONFIG_PATH", conf}});
    ASSERT_EQ(live.exit_code, 0) << live.err;
    const std::string all = live.out + live.err;
    size_t count = 0;
    for (size_t pos = all.find("no mmap"); pos != std::string::npos; pos = all.find("no mmap", pos + 1))
      ++count;
    if (std::string(report) == "text") {
      EXPECT_EQ(count, 1u) << all;  // said once
      EXPECT_NE(live.out.find("summary:"), std::string::npos) << live.out;
      continue;
    }
    const nlohmann::json sum = live.Find("summary");
    ASSERT_TRUE(sum.is_object()) << live.out;
    EXPECT_EQ(sum["playback"]["access"], "rw");
    EXPECT_EQ(sum["capture"]["access"], "mmap");
    EXPECT_EQ(count, 2u) << "once in the start line, once in the summary: " << all;
    const int64_t offset = sum["prefill_frames"].get<int64_t>() + sum["library_latency_frames"].get<int64_t>();
    const std::vector<uint8_t> play = ReadBytes(dir / "play.raw");
    const std::vector<uint8_t> want = WavData(ref_wav);
    ASSERT_GE(play.size(), static_cast<size_t>(offset) * 2 + want.size());
    EXPECT_TRUE(std::equal(want.begin(), want.end(), play.begin() + offset * 2));
  }
}

}  // namespace
}  // namespace ghostnv::live_test
