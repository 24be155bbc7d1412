// Tests of audio/alsa_pcm.h and audio/alsa_duplex.h on real alsa-lib code paths without a sound
// card: `file` PCMs over `null` (exact, unpaced), `multi` (no mmap: the RW fallback) and `linear`
// (a device that refuses float). The ALSA configuration is written here and selected with
// ALSA_CONFIG_PATH, so nothing on the machine is read or changed.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "audio/alsa_duplex.h"
#include "audio/alsa_format.h"
#include "audio/alsa_pcm.h"
#include "gtest/gtest.h"

namespace ghostnv::audio {
namespace {

std::vector<uint8_t> Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), {});
}

void Spit(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::vector<uint8_t> RandomSamples(PcmFormat f, size_t samples, uint32_t seed) {
  std::mt19937 rng(seed);
  const size_t bytes = static_cast<size_t>(PcmBytes(f));
  std::vector<uint8_t> raw(samples * bytes);
  for (size_t i = 0; i < samples; ++i) {
    uint8_t* p = &raw[i * bytes];
    if (f == PcmFormat::kFloat) {
      const float v = std::uniform_real_distribution<float>(-1, 1)(rng);
      std::memcpy(p, &v, 4);
    } else {
      for (size_t k = 0; k < bytes; ++k) p[k] = static_cast<uint8_t>(rng());
      if (f == PcmFormat::kS24) p[3] = (p[2] & 0x80) ? 0xff : 0;
    }
  }
  return raw;
}

class AlsaPcmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ghostnv_alsa_pcm_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const std::string conf = dir_ + "/asound.conf";
    std::ofstream c(conf);
    c << "pcm.file_play { type file slave.pcm { type null } file \"" << dir_
      << "/play.raw\" format \"raw\" }\n"
      << "pcm.file_cap { type file slave.pcm { type null } file \"/dev/null\" infile \"" << dir_
      << "/cap.raw\" }\n"
      << "pcm.rw_play { type multi slaves.a.pcm \"file_play\" slaves.a.channels 1 "
         "bindings.0 { slave a channel 0 } }\n"
      << "pcm.s16_only { type linear slave { pcm \"file_play\" format S16_LE } }\n";
    c.close();
    // A new path each test: alsa-lib reloads its configuration when the path list changes.
    ::setenv("ALSA_CONFIG_PATH", conf.c_str(), 1);
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string dir_;
};

TEST_F(AlsaPcmTest, CaptureMmapDeliversInfileExactly) {
  for (PcmFormat f : kAllPcmFormats) {
    for (int channels : {1, 2}) {
      const size_t frames = 64 * 10;
      const std::vector<uint8_t> raw = RandomSamples(f, frames * channels, 17);
      Spit(dir_ + "/cap.raw", raw);
      PcmRequest req{.device = "file_cap", .direction = PcmDirection::kCapture, .format = f,
                     .rate = 44100, .channels = channels, .period_frames = 64, .periods = 3};
      absl::StatusOr<AlsaPcm> pcm = AlsaPcm::Open(req);
      ASSERT_TRUE(pcm.ok()) << pcm.status();
      EXPECT_EQ(pcm->params().access, PcmAccess::kMmap);
      EXPECT_EQ(pcm->params().format, f);
      EXPECT_EQ(pcm->params().period_frames, 64);
      EXPECT_EQ(pcm->params().buffer_frames, 192);
      ASSERT_EQ(pcm->Start(), 0);
      std::vector<float> got(frames * channels), want(frames * channels);
      for (size_t pos = 0; pos < frames; pos += 64) {
        ASSERT_GE(pcm->Avail(), 64);
        ASSERT_EQ(pcm->ReadFloat(got.data() + pos * channels, 64), 64);
      }
      DecodeSamples(f, raw.data(), channels * PcmBytes(f), want.data(), channels, channels,
                    frames);
      ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0)
          << PcmFormatName(f) << " " << channels << " ch";
    }
  }
}

TEST_F(AlsaPcmTest, PlaybackMmapWritesExactBytesAcrossRingWraps) {
  for (PcmFormat f : kAllPcmFormats) {
    const int channels = 2;
    const size_t period = 113, frames = period * 9;  // odd period: wraps mid-period
    std::mt19937 rng(5);
    std::vector<float> x(frames * channels);
    for (float& v : x) v = std::uniform_real_distribution<float>(-1.1f, 1.1f)(rng);
    {
      PcmRequest req{.device = "file_play", .direction = PcmDirection::kPlayback, .format = f,
                     .rate = 96000, .channels = channels, .period_frames = 113, .periods = 2};
      absl::StatusOr<AlsaPcm> pcm = AlsaPcm::Open(req);
      ASSERT_TRUE(pcm.ok()) << pcm.status();
      EXPECT_EQ(pcm->params().period_frames, 113);
      ASSERT_EQ(pcm->WriteSilence(period), static_cast<snd_pcm_sframes_t>(period));
      ASSERT_EQ(pcm->Start(), 0);
      uint64_t clipped = 0;
      for (size_t pos = 0; pos < frames; pos += period) {
        ASSERT_GE(pcm->Avail(), static_cast<snd_pcm_sframes_t>(period));
        ASSERT_EQ(pcm->WriteFloat(x.data() + pos * channels, period, &clipped),
                  static_cast<snd_pcm_sframes_t>(period));
      }
      if (f != PcmFormat::kFloat) {
        EXPECT_GT(clipped, 0u);
      }
    }  // close flushes the file
    const size_t fb = static_cast<size_t>(PcmBytes(f)) * channels;
    std::vector<uint8_t> want(period * fb, 0);
    std::vector<uint8_t> body(frames * fb);
    EncodeSamples(f, x.data(), channels, body.data(), fb, channels, frames, nullptr);
    want.insert(want.end(), body.begin(), body.end());
    EXPECT_EQ(Slurp(dir_ + "/play.raw"), want) << PcmFormatName(f);
  }
}

TEST_F(AlsaPcmTest, DeviceWithoutMmapFallsBackToReadWriteAndSaysSo) {
  PcmRequest req{.device = "rw_play", .direction = PcmDirection::kPlayback,
                 .format = PcmFormat::kS16, .rate = 48000, .channels = 1, .period_frames = 32,
                 .periods = 4};
  std::vector<float> x(32 * 5);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) / 1024.0f - 0.05f;
  {
    absl::StatusOr<AlsaPcm> pcm = AlsaPcm::Open(req);
    ASSERT_TRUE(pcm.ok()) << pcm.status();
    EXPECT_EQ(pcm->params().access, PcmAccess::kReadWrite);
    EXPECT_NE(pcm->note().find("no mmap"), std::string::npos) << pcm->note();
    EXPECT_NE(pcm->params().Describe().find("rw "), std::string::npos);
    ASSERT_EQ(pcm->Start(), 0);
    for (size_t pos = 0; pos < x.size(); pos += 32)
      ASSERT_EQ(pcm->WriteFloat(x.data() + pos, 32, nullptr), 32);
  }
  std::vector<uint8_t> want(x.size() * 2);
  EncodeSamples(PcmFormat::kS16, x.data(), 1, want.data(), 2, 1, x.size(), nullptr);
  EXPECT_EQ(Slurp(dir_ + "/play.raw"), want);
}

TEST_F(AlsaPcmTest, ForcedReadWriteCaptureIsExact) {
  const std::vector<uint8_t> raw = RandomSamples(PcmFormat::kS32, 480 * 4, 8);
  Spit(dir_ + "/cap.raw", raw);
  PcmRequest req{.device = "file_cap", .direction = PcmDirection::kCapture,
                 .format = PcmFormat::kS32, .rate = 48000, .channels = 1, .period_frames = 480,
                 .periods = 2, .force_rw = true};
  absl::StatusOr<AlsaPcm> pcm = AlsaPcm::Open(req);
  ASSERT_TRUE(pcm.ok()) << pcm.status();
  EXPECT_EQ(pcm->params().access, PcmAccess::kReadWrite);
  ASSERT_EQ(pcm->Start(), 0);
  std::vector<float> got(480 * 4), want(480 * 4);
  for (size_t pos = 0; pos < got.size(); pos += 480) ASSERT_EQ(pcm->ReadFloat(&got[pos], 480), 480);
  DecodeSamples(PcmFormat::kS32, raw.data(), 4, want.data(), 1, 1, want.size());
  EXPECT_EQ(got, want);
}

TEST_F(AlsaPcmTest, NegotiationErrorsNameTheDeviceAndTheChoices) {
  PcmRequest req{.device = "no_such_pcm", .direction = PcmDirection::kCapture};
  absl::StatusOr<AlsaPcm> pcm = AlsaPcm::Open(req);
  ASSERT_FALSE(pcm.ok());
  EXPECT_NE(pcm.status().message().find("capture 'no_such_pcm'"), std::string::npos)
      << pcm.status();

  req = {.device = "s16_only", .direction = PcmDirection::kPlayback, .format = PcmFormat::kFloat};
  pcm = AlsaPcm::Open(req);
  ASSERT_FALSE(pcm.ok());
  EXPECT_NE(pcm.status().message().find("FLOAT_LE not supported"), std::string::npos)
      << pcm.status();
  EXPECT_NE(pcm.status().message().find("S16_LE"), std::string::npos) << pcm.status();

  // No format asked: the widest one the device takes, and a note saying so.
  req.format.reset();
  pcm = AlsaPcm::Open(req);
  ASSERT_TRUE(pcm.ok()) << pcm.status();
  EXPECT_NE(pcm->params().format, PcmFormat::kFloat);
  EXPECT_NE(pcm->note().find("chosen"), std::string::npos) << pcm->note();

  req = {.device = "file_play", .direction = PcmDirection::kPlayback, .channels = 9};
  EXPECT_FALSE(AlsaPcm::Open(req).ok());
}

// ---- the duplex engine on file PCMs (unpaced: runs as fast as the CPU allows) ----

class CopyProcessor : public PeriodProcessor {
 public:
  void Process(const float* in, float* out, size_t frames) noexcept override {
    std::memcpy(out, in, frames * channels * sizeof(float));
    calls.fetch_add(1);
  }
  void OnStart(int64_t) noexcept override { starts.fetch_add(1); }
  size_t channels = 1;
  std::atomic<int> calls{0}, starts{0};
};

TEST_F(AlsaPcmTest, DuplexPassThroughIsExactAfterThePrefill) {
  for (int period : {32, 480, 2048}) {
    const int channels = 2;
    const PcmFormat f = PcmFormat::kS24_3;
    const int64_t frames = 4 * 2048 + 17;
    const std::vector<uint8_t> raw = RandomSamples(f, static_cast<size_t>(frames + 4096) * channels, 21);
    Spit(dir_ + "/cap.raw", raw);
    std::remove((dir_ + "/play.raw").c_str());
    CopyProcessor proc;
    proc.channels = channels;
    DuplexConfig cfg;
    cfg.capture_device = "file_cap";
    cfg.playback_device = "file_play";
    cfg.format = f;
    cfg.rate = 48000;
    cfg.channels = channels;
    cfg.period_frames = period;
    cfg.periods = 3;
    cfg.prefill_periods = 2;
    cfg.rt_priority = 0;
    cfg.lock_memory = false;
    cfg.max_frames = frames;
    absl::StatusOr<std::unique_ptr<DuplexEngine>> e = DuplexEngine::Create(cfg, &proc);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ((*e)->capture_params().access, PcmAccess::kMmap);
    EXPECT_EQ((*e)->playback_params().access, PcmAccess::kMmap);
    EXPECT_EQ((*e)->prefill_frames(), 2 * period);
    ASSERT_TRUE((*e)->Start().ok());
    std::vector<DuplexEvent> events;
    DuplexEvent ev;
    while ((*e)->Running()) {
      while ((*e)->PopEvent(&ev)) events.push_back(ev);
      ::usleep(1000);
    }
    const DuplexResult r = (*e)->Join();
    while ((*e)->PopEvent(&ev)) events.push_back(ev);
    e->reset();  // closes: flushes play.raw

    EXPECT_EQ(r.end, DuplexEnd::kFrameLimit) << r.message;
    const int64_t periods = (frames + period - 1) / period;
    EXPECT_EQ(r.counters.periods, periods);
    EXPECT_EQ(r.counters.frames_captured, periods * period);
    EXPECT_EQ(r.counters.frames_played, periods * period);
    EXPECT_EQ(r.counters.xruns_capture + r.counters.xruns_playback, 0);
    EXPECT_EQ(proc.calls.load(), periods);
    EXPECT_EQ(proc.starts.load(), 1);
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events.front().type, DuplexEventType::kStarted);
    EXPECT_EQ(events.back().type, DuplexEventType::kEnded);
    EXPECT_EQ(events.back().code, static_cast<int32_t>(DuplexEnd::kFrameLimit));
    int64_t period_events = 0;
    for (const DuplexEvent& x : events) period_events += x.type == DuplexEventType::kPeriod;
    EXPECT_EQ(period_events + r.counters.events_dropped, periods);

    const size_t fb = 3 * channels;
    std::vector<uint8_t> want(static_cast<size_t>(2 * period) * fb, 0);
    want.insert(want.end(), raw.begin(), raw.begin() + static_cast<ptrdiff_t>(periods * period * fb));
    EXPECT_EQ(Slurp(dir_ + "/play.raw"), want) << "period " << period;
  }
}

TEST_F(AlsaPcmTest, DuplexStalledProcessingCountsDeadlineMisses) {
  Spit(dir_ + "/cap.raw", std::vector<uint8_t>(48000 * 4, 0));
  CopyProcessor proc;
  DuplexConfig cfg;
  cfg.capture_device = "file_cap";
  cfg.playback_device = "file_play";
  cfg.format = PcmFormat::kFloat;
  cfg.period_frames = 64;
  cfg.periods = 2;
  cfg.rt_priority = 0;
  cfg.lock_memory = false;
  cfg.max_frames = 64 * 20;
  cfg.debug_stall_ms = 5;  // 5 ms > one 1.33 ms period
  cfg.debug_stall_every = 4;
  absl::StatusOr<std::unique_ptr<DuplexEngine>> e = DuplexEngine::Create(cfg, &proc);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_TRUE((*e)->Start().ok());
  const DuplexResult r = (*e)->Join();
  EXPECT_EQ(r.end, DuplexEnd::kFrameLimit);
  EXPECT_EQ(r.counters.periods, 20);
  // Stalls in periods 4, 8, 12, 16 and 20, each longer than a period; more misses are possible
  // on a loaded machine, fewer are not. Unpaced devices never xrun.
  EXPECT_GE(r.counters.deadline_misses, 5);
  EXPECT_EQ(r.counters.xruns_capture + r.counters.xruns_playback, 0);
}

TEST_F(AlsaPcmTest, DuplexRefusesPrefillThatDoesNotFit) {
  CopyProcessor proc;
  DuplexConfig cfg;
  cfg.capture_device = "file_cap";
  cfg.playback_device = "file_play";
  cfg.periods = 2;
  cfg.prefill_periods = 2;
  EXPECT_FALSE(DuplexEngine::Create(cfg, &proc).ok());
}

}  // namespace
}  // namespace ghostnv::audio
