// Our RNNoise engine against Debian's ffmpeg `-af arnndn` on real noisy speech.
//
// Mixtures are made at test time from ../shared/data (real speech + real noise at 48 kHz);
// nothing from there is committed. Input and both outputs are float32 WAV, so the comparison
// sees the engines' arithmetic only. The ffmpeg filter's output stream has the same 480-sample
// delay as ours, so samples are compared index by index. Requires: ffmpeg on PATH and
// GHOSTNV_SHARED_DIR/data; skips (with the reason) otherwise.
#include <sndfile.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/family.h"
#include "models/model_loader.h"

namespace ghostnv {
namespace {

namespace fs = std::filesystem;

std::vector<float> ReadMono(const fs::path& p, int* rate) {
  SF_INFO info{};
  SNDFILE* f = sf_open(p.c_str(), SFM_READ, &info);
  if (f == nullptr) return {};
  std::vector<float> inter(static_cast<size_t>(info.frames) * info.channels);
  sf_readf_float(f, inter.data(), info.frames);
  sf_close(f);
  *rate = info.samplerate;
  std::vector<float> mono(info.frames);
  for (sf_count_t i = 0; i < info.frames; ++i) mono[i] = inter[i * info.channels];
  return mono;
}

bool WriteFloatWav(const fs::path& p, const std::vector<float>& x) {
  SF_INFO info{};
  info.samplerate = 48000;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
  if (f == nullptr) return false;
  sf_writef_float(f, x.data(), static_cast<sf_count_t>(x.size()));
  sf_close(f);
  return true;
}

std::vector<fs::path> WavsIn(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".wav") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

struct Mixture {
  std::string name;
  std::vector<float> noisy;
};

// Concatenated speech prompts plus a noise recording at a chosen SNR, about `seconds` long.
std::vector<Mixture> MakeMixtures(const fs::path& data) {
  auto speech = WavsIn(data / "speech/freeswitch_callie_en_us_48k");
  std::vector<std::pair<std::string, double>> noises = {
      {"soundpy_cafe_48k", 5.0}, {"soundpy_street_48k", 0.0}, {"soundpy_cafe_48k", 15.0}};
  std::vector<Mixture> out;
  if (speech.size() < 12) return out;
  std::mt19937 rng(2026);
  for (size_t m = 0; m < noises.size(); ++m) {
    std::vector<float> s;
    int rate = 0;
    for (size_t k = 0; s.size() < 48000 * 6; ++k) {
      auto x = ReadMono(speech[(m * 5 + k * 7) % speech.size()], &rate);
      if (rate != 48000) continue;
      s.insert(s.end(), x.begin(), x.end());
      s.insert(s.end(), 4800, 0.f);
    }
    std::vector<float> n;
    auto nfiles = WavsIn(data / "noise" / noises[m].first);
    for (size_t k = 0; n.size() < s.size() && !nfiles.empty(); ++k) {
      auto x = ReadMono(nfiles[(k + m * 3) % nfiles.size()], &rate);
      if (rate == 48000) n.insert(n.end(), x.begin(), x.end());
    }
    if (n.size() < s.size()) continue;
    double es = 1e-12, en = 1e-12;
    for (size_t i = 0; i < s.size(); ++i) { es += s[i] * s[i]; en += n[i] * n[i]; }
    const double gain = std::sqrt(es / en / std::pow(10.0, noises[m].second / 10));
    Mixture mix{noises[m].first + "_snr" + std::to_string(int(noises[m].second)), {}};
    mix.noisy.resize(s.size());
    double peak = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      mix.noisy[i] = static_cast<float>(s[i] + gain * n[i]);
      peak = std::max(peak, double(std::abs(mix.noisy[i])));
    }
    if (peak > 0.99) for (float& v : mix.noisy) v = static_cast<float>(v * 0.99 / peak);
    out.push_back(std::move(mix));
  }
  return out;
}

std::vector<float> RunOurs(const models::Family& fam, const std::vector<float>& x) {
  auto ch = fam.NewChannel();
  const size_t hop = fam.hop_size();
  std::vector<float> y(x.size() / hop * hop);
  for (size_t i = 0; i + hop <= x.size(); i += hop) fam.ProcessHop(*ch, &x[i], &y[i], 1.f);
  return y;
}

class ArnndnConformance : public ::testing::TestWithParam<const char*> {};

TEST_P(ArnndnConformance, MatchesFfmpegOnRealNoisySpeech) {
  const char* shared = std::getenv("GHOSTNV_SHARED_DIR");
  const fs::path data = shared ? fs::path(shared) / "data" : fs::path();
  const fs::path model_path = data / "models/rnnoise" / GetParam();
  if (!shared || !fs::exists(model_path)) GTEST_SKIP() << "no shared data at " << model_path;
  if (std::system("ffmpeg -hide_banner -loglevel error -version > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "ffmpeg is not installed";

  auto model = models::LoadModel(model_path.string());
  ASSERT_TRUE(model.ok()) << model.status();
  auto fam = models::CreateFamily(*model);
  ASSERT_TRUE(fam.ok()) << fam.status();

  auto mixtures = MakeMixtures(data);
  ASSERT_FALSE(mixtures.empty()) << "could not build mixtures from " << data;
  const fs::path dir = fs::temp_directory_path() / ("ghostnv_arnndn_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const Mixture& mix : mixtures) {
    const fs::path in = dir / (mix.name + ".wav"), ref = dir / (mix.name + "_ffmpeg.wav");
    ASSERT_TRUE(WriteFloatWav(in, mix.noisy));
    const std::string cmd = "ffmpeg -nostdin -hide_banner -loglevel error -y -i '" + in.string() +
                            "' -af arnndn=m='" + model_path.string() + "' -c:a pcm_f32le '" +
                            ref.string() + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    int rate = 0;
    auto theirs = ReadMono(ref, &rate);
    auto ours = RunOurs(**fam, mix.noisy);
    const size_t n = std::min(theirs.size(), ours.size());
    ASSERT_GT(n, 48000u * 5);
    double sig = 0, err = 0, in_diff = 0;
    for (size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(std::isfinite(ours[i]));
      sig += double(theirs[i]) * theirs[i];
      err += double(theirs[i] - ours[i]) * (theirs[i] - ours[i]);
      if (i >= 480) in_diff += double(theirs[i] - mix.noisy[i - 480]) * (theirs[i] - mix.noisy[i - 480]);
    }
    const double snr = 10 * std::log10(sig / std::max(err, 1e-30));
    const double changed = 10 * std::log10(sig / std::max(in_diff, 1e-30));
    std::printf("[arnndn] model %-8s file %-24s SNR of difference to ffmpeg %6.1f dB "
                "(ffmpeg output vs its input: %5.1f dB)\n", GetParam(), mix.name.c_str(), snr, changed);
    EXPECT_GE(snr, 30.0) << GetParam() << " " << mix.name;
    // The filter really did something, so agreement is not trivial.
    EXPECT_LT(changed, 20.0);
  }
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Models, ArnndnConformance, ::testing::Values("sh.rnnn", "bd.rnnn", "mp.rnnn"));

}  // namespace
}  // namespace ghostnv
