// pw_compare — the file side of pipewire_test.sh.
//
//   pw_compare gen IN.wav SECONDS          writes the test input (48 kHz mono float): voiced
//                                          bursts in the first half of every second, noise alone
//                                          in the second half, then 0.25 s of silence
//   pw_compare check IN.wav DRY.wav WET.wav
//     DRY: recorded through the filter-chain at strength 0 — must be IN, delayed, sample-exact
//          (SNR of the difference >= 100 dB once aligned at the first non-zero sample);
//     WET: recorded at strength 1 — aligned by 10 ms envelopes, the noise-only stretches must
//          be at least 10 dB quieter than in IN and the voiced ones within 6 dB of IN.
// Prints one line per check; exit status 0 when all pass.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "audio/sound_file.h"
#include "tests/integration/library/test_signals.h"

namespace {

namespace audio = ghostnv::audio;
constexpr int kRate = 48000;
constexpr size_t kHop = 480;
// Trailing silence on the generated input: pw-play may cut its last partial buffer.
constexpr size_t kTail = kRate / 4;

std::vector<float> ReadMono(const std::string& path) {
  auto f = audio::ReadSoundFile(path);
  if (!f.ok()) {
    std::fprintf(stderr, "pw_compare: %s\n", std::string(f.status().message()).c_str());
    std::exit(2);
  }
  if (f->format.channels != 1) {
    std::vector<float> m(static_cast<size_t>(f->frames));
    for (size_t i = 0; i < m.size(); ++i) m[i] = f->samples[i * static_cast<size_t>(f->format.channels)];
    return m;
  }
  return f->samples;
}

std::vector<double> Envelope(const std::vector<float>& x) {
  std::vector<double> e(x.size() / kHop);
  for (size_t k = 0; k < e.size(); ++k) {
    double s = 0;
    for (size_t i = 0; i < kHop; ++i) s += static_cast<double>(x[k * kHop + i]) * x[k * kHop + i];
    e[k] = s / kHop;
  }
  return e;
}

double Db(double x) { return 10.0 * std::log10(std::max(x, 1e-20)); }

int Check(const std::string& in_path, const std::string& dry_path, const std::string& wet_path) {
  const std::vector<float> in = ReadMono(in_path), dry = ReadMono(dry_path),
                           wet = ReadMono(wet_path);
  int failures = 0;
  // DRY: the first non-zero sample is in[0].
  size_t lag = 0;
  while (lag < dry.size() && dry[lag] == 0.0f) ++lag;
  const size_t n = lag < dry.size() ? std::min(in.size(), dry.size() - lag) : 0;
  const double snr = n ? ghostnv::testing::SnrOfDifference(in.data(), dry.data() + lag, n) : 0.0;
  const bool dry_ok = n >= in.size() * 9 / 10 && snr >= 100.0;
  std::printf("dry: starts at %zu, %zu of %zu samples compared, SNR of difference %.1f dB: %s\n",
              lag, n, in.size(), snr, dry_ok ? "OK" : "FAIL");
  failures += !dry_ok;

  // WET: align 10 ms envelopes (log domain) over lags up to 3 s.
  const std::vector<double> ei = Envelope(in), ew = Envelope(wet);
  long best = -1;
  double best_score = -1e300;
  for (size_t l = 0; l + ei.size() / 2 < ew.size() && l < 300; ++l) {
    // Correlation of the dB envelopes, centred.
    const size_t m = std::min(ei.size(), ew.size() - l);
    double mi = 0, mw = 0;
    for (size_t k = 0; k < m; ++k) {
      mi += Db(ei[k]);
      mw += Db(ew[k + l]);
    }
    mi /= static_cast<double>(m);
    mw /= static_cast<double>(m);
    double c = 0, vi = 0, vw = 0;
    for (size_t k = 0; k < m; ++k) {
      c += (Db(ei[k]) - mi) * (Db(ew[k + l]) - mw);
      vi += (Db(ei[k]) - mi) * (Db(ei[k]) - mi);
      vw += (Db(ew[k + l]) - mw) * (Db(ew[k + l]) - mw);
    }
    const double score = c / std::sqrt(std::max(vi * vw, 1e-30));
    if (score > best_score) {
      best_score = score;
      best = static_cast<long>(l);
    }
  }
  double noise_in = 0, noise_wet = 0, voice_in = 0, voice_wet = 0;
  size_t noise_n = 0, voice_n = 0;
  const size_t signal_hops = (in.size() - std::min(in.size(), kTail)) / kHop;
  for (size_t k = 0; best >= 0 && k < signal_hops && k + static_cast<size_t>(best) < ew.size();
       ++k) {
    const double t = std::fmod(static_cast<double>(k * kHop) / kRate, 1.0);
    const double w = ew[k + static_cast<size_t>(best)];
    if (t > 0.6 && t < 0.95) {
      noise_in += ei[k];
      noise_wet += w;
      ++noise_n;
    } else if (t > 0.15 && t < 0.35) {
      voice_in += ei[k];
      voice_wet += w;
      ++voice_n;
    }
  }
  const double noise_drop = Db(noise_in) - Db(noise_wet);
  const double voice_drop = Db(voice_in) - Db(voice_wet);
  const bool wet_ok = noise_n > 50 && voice_n > 50 && noise_drop >= 10.0 && voice_drop <= 6.0 &&
                      best_score > 0.5;
  std::printf("wet: envelope lag %ld hops (correlation %.2f), noise %.1f dB quieter, voice %.1f dB "
              "quieter: %s\n",
              best, best_score, noise_drop, voice_drop, wet_ok ? "OK" : "FAIL");
  failures += !wet_ok;
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "gen" && argc == 4) {
    const double seconds = std::atof(argv[3]);
    audio::SoundFormat f;
    f.subtype = audio::Subtype::kFloat;
    f.sample_rate = kRate;
    f.channels = 1;
    auto x = ghostnv::testing::NoisySpeechLike(static_cast<size_t>(seconds * kRate), kRate, 1, 3);
    x.resize(x.size() + kTail, 0.0f);
    auto w = audio::WriteSoundFile(argv[2], f, x);
    if (!w.ok()) {
      std::fprintf(stderr, "pw_compare: %s\n", std::string(w.status().message()).c_str());
      return 2;
    }
    return 0;
  }
  if (cmd == "check" && argc == 5) return Check(argv[2], argv[3], argv[4]);
  std::fprintf(stderr, "usage: pw_compare gen IN.wav SECONDS | check IN.wav DRY.wav WET.wav\n");
  return 2;
}
