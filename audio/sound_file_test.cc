#include "audio/sound_file.h"

#include <dirent.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ghostnv::audio {
namespace {

class SoundFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ghostnv_sound_file_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& name : ListDir()) std::remove((dir_ + "/" + name).c_str());
    ::rmdir(dir_.c_str());
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::vector<std::string> ListDir() const {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(dir_.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
      }
      ::closedir(d);
    }
    return names;
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  std::string dir_;
};

// Independent writer: libsndfile directly, with integer samples.
void WriteRawInts(const std::string& path, int format, int rate, int channels,
                  const std::vector<int>& samples) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
  ASSERT_EQ(sf_writef_int(f, samples.data(), static_cast<sf_count_t>(samples.size() / channels)),
            static_cast<sf_count_t>(samples.size() / channels));
  sf_close(f);
}

void WriteRawFloats(const std::string& path, int format, int rate, int channels,
                    const std::vector<float>& samples) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
  ASSERT_EQ(sf_writef_float(f, samples.data(), static_cast<sf_count_t>(samples.size() / channels)),
            static_cast<sf_count_t>(samples.size() / channels));
  sf_close(f);
}

std::vector<int> ReadRawInts(const std::string& path, SF_INFO* info) {
  *info = SF_INFO{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, info);
  if (!f) return {};
  std::vector<int> v(static_cast<size_t>(info->frames * info->channels));
  sf_readf_int(f, v.data(), info->frames);
  sf_close(f);
  return v;
}

TEST(SoundFileNames, SubtypesAndContainers) {
  Subtype s;
  EXPECT_TRUE(ParseSubtype("pcm16", &s));
  EXPECT_EQ(s, Subtype::kPcm16);
  EXPECT_TRUE(ParseSubtype("PCM_24", &s));
  EXPECT_EQ(s, Subtype::kPcm24);
  EXPECT_TRUE(ParseSubtype("float", &s));
  EXPECT_EQ(s, Subtype::kFloat);
  EXPECT_FALSE(ParseSubtype("pcm8", &s));
  EXPECT_STREQ(SubtypeName(Subtype::kPcm32), "PCM_32");
  EXPECT_EQ(ContainerName(kContainerWav), "wav");
  EXPECT_EQ(ContainerName(kContainerFlac), "flac");
  int c = 0;
  EXPECT_TRUE(ContainerFromExtension("a/b.FLAC", &c));
  EXPECT_EQ(c, kContainerFlac);
  EXPECT_FALSE(ContainerFromExtension("noext", &c));
  EXPECT_TRUE(IsSupportedRate(44100));
  EXPECT_FALSE(IsSupportedRate(22050));
  EXPECT_TRUE(IsSupportedRate(16000));
  EXPECT_FALSE(IsSupportedRate(8000));
}

TEST(SoundFileSanitize, CountsAndZeroes) {
  std::vector<float> v = {0.5f, std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::denorm_min(), -1e-40f, 1e-30f, 0.0f};
  EXPECT_EQ(SanitizeSamples(absl::MakeSpan(v)), 5);
  EXPECT_EQ(v[0], 0.5f);
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(v[i], 0.0f) << i;
  EXPECT_EQ(v[6], 1e-30f);
}

// Reading: integer PCM written by libsndfile directly must come back as s / 2^(bits-1).
TEST_F(SoundFileTest, ReadsIntegerPcmExactly) {
  struct Case {
    int container, subtype, bits;
  };
  const Case cases[] = {{SF_FORMAT_WAV, SF_FORMAT_PCM_16, 16}, {SF_FORMAT_WAV, SF_FORMAT_PCM_24, 24},
                        {SF_FORMAT_FLAC, SF_FORMAT_PCM_16, 16}, {SF_FORMAT_FLAC, SF_FORMAT_PCM_24, 24},
                        {SF_FORMAT_AIFF, SF_FORMAT_PCM_16, 16}};
  std::mt19937 rng(7);
  for (const Case& k : cases) {
    for (int channels : {1, 2}) {
      const int frames = 1013;
      std::vector<int> raw(static_cast<size_t>(frames * channels));
      std::uniform_int_distribution<int> d(-(1 << (k.bits - 1)), (1 << (k.bits - 1)) - 1);
      for (int& x : raw) x = d(rng) * (1 << (32 - k.bits));  // left-justified
      raw[0] = std::numeric_limits<int>::min() >> (32 - k.bits) << (32 - k.bits);
      const std::string p = Path("in");
      WriteRawInts(p, k.container | k.subtype, 44100, channels, raw);
      auto f = ReadSoundFile(p);
      ASSERT_TRUE(f.ok()) << f.status();
      EXPECT_EQ(f->format.container, k.container);
      EXPECT_EQ(SubtypeBits(f->format.subtype), k.bits);
      EXPECT_EQ(f->format.sample_rate, 44100);
      EXPECT_EQ(f->format.channels, channels);
      EXPECT_EQ(f->frames, frames);
      ASSERT_EQ(f->samples.size(), raw.size());
      for (size_t i = 0; i < raw.size(); ++i) {
        ASSERT_EQ(static_cast<double>(f->samples[i]), static_cast<double>(raw[i]) / 2147483648.0)
            << i;
      }
      EXPECT_EQ(f->sanitized, 0);
    }
  }
}

// Writing integer formats: our quantiser (round to nearest, clip to [-1, 1)) checked against a
// double-precision reference, read back with libsndfile's integer reader.
TEST_F(SoundFileTest, WritesIntegerPcmWithClippingCount) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> d(-1.3f, 1.3f);
  for (Subtype st : {Subtype::kPcm16, Subtype::kPcm24, Subtype::kPcm32}) {
    for (int container : {kContainerWav, kContainerFlac}) {
      if (container == kContainerFlac && st == Subtype::kPcm32) continue;
      std::vector<float> x(2 * 777);
      for (float& v : x) v = d(rng);
      x[0] = 1.0f;    // clipped to the top code
      x[1] = -1.0f;   // exactly representable, not clipped
      x[2] = std::numeric_limits<float>::quiet_NaN();  // written as 0, not counted
      const int bits = SubtypeBits(st);
      const double scale = std::ldexp(1.0, bits - 1);
      int64_t want_clipped = 0;
      std::vector<int64_t> want(x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        if (!std::isfinite(x[i])) {
          want[i] = 0;
          continue;
        }
        double q = std::nearbyint(static_cast<double>(x[i]) * scale);
        if (q > scale - 1) q = scale - 1, ++want_clipped;
        if (q < -scale) q = -scale, ++want_clipped;
        want[i] = static_cast<int64_t>(q);
      }
      const std::string p = Path("out.x");
      auto r = WriteSoundFile(p, {container, st, 96000, 2}, x);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->clipped, want_clipped);
      SF_INFO info;
      std::vector<int> got = ReadRawInts(p, &info);
      ASSERT_EQ(info.format, container | (st == Subtype::kPcm16   ? SF_FORMAT_PCM_16
                                          : st == Subtype::kPcm24 ? SF_FORMAT_PCM_24
                                                                  : SF_FORMAT_PCM_32));
      EXPECT_EQ(info.samplerate, 96000);
      ASSERT_EQ(got.size(), x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_EQ(static_cast<int64_t>(got[i]) >> (32 - bits), want[i]) << i;
      }
      // And our own reader gets back exactly q / scale.
      auto back = ReadSoundFile(p);
      ASSERT_TRUE(back.ok()) << back.status();
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_EQ(static_cast<double>(back->samples[i]),
                  static_cast<double>(static_cast<float>(want[i] / scale)))
            << i;
      }
    }
  }
}

TEST_F(SoundFileTest, FloatRoundTripAndSanitiseOnRead) {
  std::vector<float> x = {0.25f, -3.5f, std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::infinity(), 1e-42f, 0.125f};
  WriteRawFloats(Path("f.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 48000, 1, x);
  auto f = ReadSoundFile(Path("f.wav"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->format.subtype, Subtype::kFloat);
  EXPECT_EQ(f->sanitized, 3);
  EXPECT_EQ(f->samples, (std::vector<float>{0.25f, -3.5f, 0.0f, 0.0f, 0.0f, 0.125f}));
  // Float output is not clipped.
  auto w = WriteSoundFile(Path("g.wav"), f->format, f->samples);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->clipped, 0);
  auto g = ReadSoundFile(Path("g.wav"));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->samples, f->samples);
}

TEST_F(SoundFileTest, EmptyFileIsFine) {
  auto w = WriteSoundFile(Path("e.wav"), {kContainerWav, Subtype::kPcm16, 48000, 2}, {});
  ASSERT_TRUE(w.ok()) << w.status();
  auto f = ReadSoundFile(Path("e.wav"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->frames, 0);
  EXPECT_EQ(f->format.channels, 2);
  // libsndfile cannot produce an empty FLAC stream: refused rather than left unreadable.
  auto fl = WriteSoundFile(Path("e.flac"), {kContainerFlac, Subtype::kPcm16, 48000, 2}, {});
  EXPECT_EQ(fl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ListDir().size(), 1u);
}

TEST(SoundFileCanWrite, KnowsFlacLimits) {
  EXPECT_TRUE(CanWrite({kContainerFlac, Subtype::kPcm24, 96000, 2}));
  EXPECT_FALSE(CanWrite({kContainerFlac, Subtype::kFloat, 48000, 1}));
  EXPECT_TRUE(CanWrite({kContainerWav, Subtype::kFloat, 44100, 2}));
  EXPECT_FALSE(CanWrite({kContainerWav, Subtype::kPcm16, 48000, 0}));
}

TEST_F(SoundFileTest, DetectsTruncatedWavAndFlac) {
  std::vector<float> x(48000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.5f * std::sin(0.01f * static_cast<float>(i));
  for (int container : {kContainerWav, kContainerFlac, kContainerAiff}) {
    const std::string full = Path("full"), cut = Path("cut");
    ASSERT_TRUE(WriteSoundFile(full, {container, Subtype::kPcm24, 48000, 1}, x).ok());
    const std::string bytes = Slurp(full);
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() * 2 / 3);
    auto f = ReadSoundFile(cut);
    ASSERT_FALSE(f.ok()) << ContainerName(container);
    EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss) << f.status();
    EXPECT_NE(f.status().message().find("truncated"), std::string::npos) << f.status();
    EXPECT_TRUE(ReadSoundFile(full).ok());
  }
}

TEST_F(SoundFileTest, RejectsUnsupportedInput) {
  std::vector<int> s(200, 0);
  WriteRawInts(Path("r.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 22050, 1, s);
  auto f = ReadSoundFile(Path("r.wav"));
  EXPECT_EQ(f.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(f.status().message().find("sample rate 22050"), std::string::npos) << f.status();

  WriteRawInts(Path("c.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 48000, 3, std::vector<int>(300));
  f = ReadSoundFile(Path("c.wav"));
  EXPECT_EQ(f.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(f.status().message().find("channel"), std::string::npos) << f.status();

  WriteRawInts(Path("u8.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 48000, 1, s);
  f = ReadSoundFile(Path("u8.wav"));
  EXPECT_EQ(f.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(f.status().message().find("sample format"), std::string::npos) << f.status();

  WriteRawFloats(Path("d.wav"), SF_FORMAT_WAV | SF_FORMAT_DOUBLE, 48000, 1, std::vector<float>(9));
  f = ReadSoundFile(Path("d.wav"));
  EXPECT_EQ(f.status().code(), absl::StatusCode::kUnimplemented);

  std::ofstream(Path("junk.wav")) << "this is not audio at all, just some text\n";
  f = ReadSoundFile(Path("junk.wav"));
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
  EXPECT_NE(f.status().message().find(Path("junk.wav")), std::string::npos);

  f = ReadSoundFile(Path("missing.wav"));
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound) << f.status();
  f = ReadSoundFile(dir_);
  EXPECT_FALSE(f.ok());
}

TEST_F(SoundFileTest, FailedWritesLeaveNoTraceAndKeepExistingOut) {
  const std::string out = Path("out.flac");
  std::vector<float> x(4800, 0.1f);
  ASSERT_TRUE(WriteSoundFile(out, {kContainerFlac, Subtype::kPcm16, 48000, 1}, x).ok());
  const std::string before = Slurp(out);

  // FLAC cannot hold float samples: refused before anything is created.
  auto r = WriteSoundFile(out, {kContainerFlac, Subtype::kFloat, 48000, 1}, x);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  // Not a whole number of frames.
  r = WriteSoundFile(out, {kContainerFlac, Subtype::kPcm16, 48000, 2}, std::vector<float>(3));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Slurp(out), before);

  // The rename fails (the target is a non-empty directory): the temp file must be gone.
  ASSERT_EQ(::mkdir(Path("adir").c_str(), 0755), 0);
  std::ofstream(Path("adir/keep")) << "x";
  r = WriteSoundFile(Path("adir"), {kContainerWav, Subtype::kPcm16, 48000, 1}, x);
  EXPECT_FALSE(r.ok());
  std::remove(Path("adir/keep").c_str());
  ::rmdir(Path("adir").c_str());

  // A directory that does not exist.
  r = WriteSoundFile(Path("nodir/out.wav"), {kContainerWav, Subtype::kPcm16, 48000, 1}, x);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cannot create"), std::string::npos) << r.status();

  std::vector<std::string> names = ListDir();
  EXPECT_EQ(names, std::vector<std::string>{"out.flac"});
  EXPECT_EQ(Slurp(out), before);
}

TEST_F(SoundFileTest, OverwriteReplacesAtomicallyAndKeepsMode) {
  const std::string out = Path("o.wav");
  ASSERT_TRUE(WriteSoundFile(out, {kContainerWav, Subtype::kPcm16, 48000, 1},
                             std::vector<float>(100, 0.5f)).ok());
  ASSERT_EQ(::chmod(out.c_str(), 0640), 0);
  ASSERT_TRUE(WriteSoundFile(out, {kContainerWav, Subtype::kPcm24, 44100, 1},
                             std::vector<float>(50, -0.5f)).ok());
  struct stat st;
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  auto f = ReadSoundFile(out);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->frames, 50);
  EXPECT_EQ(f->format.subtype, Subtype::kPcm24);
  EXPECT_EQ(ListDir().size(), 1u);
}

}  // namespace
}  // namespace ghostnv::audio
