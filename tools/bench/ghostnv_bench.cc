// ghostnv-bench — per-model speed of the CPU path on one core, against ffmpeg's `arnndn` filter
// on the same input and model, measured in the same run.
//
//   ghostnv-bench                          # default model + the RNNoise models in ../shared
//   ghostnv-bench --model=a.rnnn --model=default --seconds=60 --repeats=5 --report=json
//
// For each model: our µs per 10 ms hop and × real time (48 kHz mono through the public API,
// 480-frame periods, best of --repeats), ffmpeg's (wall time of `ffmpeg -threads 1 -af arnndn`
// minus the same command with `-af anull`, best of --repeats), the ratio, and the SNR of the
// difference between the two outputs (after aligning the latencies). Both run pinned to one
// CPU core. Exit status 1 when a model's outputs differ by less than --min_snr_db.
//
// Device-layer sections (gpu_infra_bench.h), off by default:
//   ghostnv-bench --speed=false --kernels --memory [--sessions=1,1000,100000] --report=json
// --kernels: kernel cold start (NVRTC, empty cache) and warm start (cache hit) on device 0;
// --memory: host RSS and device memory per 1, 1k, 100k sessions. Without a GPU the GPU parts
// say "skipped: no GPU (...)" and the exit status is unaffected.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "audio/sound_file.h"
#include "ghostnv/ghostnv.h"
#include "nlohmann/json.hpp"
#include "tools/bench/gpu_infra_bench.h"

ABSL_FLAG(std::vector<std::string>, model, {},
          "models to measure (path, or 'default'); default: the embedded model plus "
          "$GHOSTNV_SHARED_DIR/data/models/rnnoise/*.rnnn when present");
ABSL_FLAG(std::string, input, "", "48 kHz WAV/FLAC input (first channel used); default: a "
          "synthetic noisy-speech-like signal");
ABSL_FLAG(double, seconds, 30.0, "length of the synthetic input in seconds");
ABSL_FLAG(int, repeats, 3, "timing repeats per measurement (the best is kept)");
ABSL_FLAG(int, cpu, 0, "CPU core to pin to (-1: no pinning)");
ABSL_FLAG(bool, ffmpeg, true, "also time ffmpeg -af arnndn on .rnnn models");
ABSL_FLAG(std::string, report, "text", "text | json");
ABSL_FLAG(double, min_snr_db, 0.0, "fail when our output differs from ffmpeg's by less than this");
ABSL_FLAG(bool, speed, true, "run the CPU speed comparison (the models above against ffmpeg)");
ABSL_FLAG(bool, kernels, false, "kernel cold start (NVRTC, empty cache) and warm start (cache) on GPU 0");
ABSL_FLAG(int, nvrtc_only_arch, 0, "with --kernels: also time NVRTC alone for this sm (e.g. 90), no GPU needed");
ABSL_FLAG(bool, memory, false, "host RSS and device memory per --sessions sessions of --memory_model");
ABSL_FLAG(std::vector<std::string>, sessions, std::vector<std::string>({"1", "1000", "100000"}),
          "session counts for --memory");
ABSL_FLAG(std::string, memory_model, "default", "model for --memory (path, or 'default')");
ABSL_FLAG(double, max_host_mb, 0, "--memory: extrapolate session counts whose host RSS would exceed this "
          "(0: half of MemAvailable)");

namespace {

namespace fs = std::filesystem;
constexpr int kRate = 48000;
constexpr int kHop = 480;

std::vector<float> SyntheticInput(double seconds) {
  // Harmonic "voiced" bursts with a moving pitch over pink-ish noise: exercises pitch search,
  // the silence floor and the gains the way speech in noise does. Deterministic.
  const size_t n = static_cast<size_t>(seconds * kRate);
  std::vector<float> x(n);
  std::mt19937 rng(12345);
  std::normal_distribution<float> g;
  float b0 = 0, b1 = 0;
  double phase = 0;
  for (size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / kRate;
    const double f0 = 120 + 40 * std::sin(2 * M_PI * 0.7 * t);
    phase += 2 * M_PI * f0 / kRate;
    const double env = std::max(0.0, std::sin(2 * M_PI * 1.3 * t));
    double v = 0;
    for (int h = 1; h <= 12; ++h) v += std::sin(h * phase) / h;
    const float w = g(rng);
    b0 = 0.99f * b0 + 0.1f * w;
    b1 = 0.6f * b1 + 0.4f * w;
    x[i] = static_cast<float>(0.12 * env * v) + 0.02f * (b0 + 0.5f * b1);
  }
  return x;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Ours {
  double seconds = 0;     // best processing time for the whole input
  int64_t latency = 0;
  std::vector<float> out;
  std::string error;
};

Ours RunOurs(const std::string& model, const std::vector<float>& in, int repeats) {
  Ours r;
  r.seconds = 1e30;
  for (int rep = 0; rep < repeats; ++rep) {
    ghostnv_options o;
    ghostnv_options_init(&o);
    o.model = model.c_str();
    o.backend = GHOSTNV_BACKEND_CPU;
    o.sample_rate = kRate;
    o.channels = 1;
    ghostnv_denoiser* d = nullptr;
    if (int st = ghostnv_create(&o, &d); st < 0) {
      r.error = absl::StrFormat("%s: %s", ghostnv_strerror(st), ghostnv_last_error());
      return r;
    }
    r.latency = ghostnv_latency_frames(d);
    std::vector<float> out(in.size());
    const double t0 = Now();
    for (size_t i = 0; i + kHop <= in.size(); i += kHop) ghostnv_process(d, &in[i], &out[i], kHop);
    r.seconds = std::min(r.seconds, Now() - t0);
    ghostnv_destroy(d);
    r.out = std::move(out);
  }
  return r;
}

double TimeCommand(const std::string& cmd, int repeats) {
  double best = 1e30;
  for (int rep = 0; rep < repeats; ++rep) {
    const double t0 = Now();
    if (std::system(cmd.c_str()) != 0) return -1;
    best = std::min(best, Now() - t0);
  }
  return best;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// The device-layer sections (--kernels, --memory) into `doc`; returns a non-zero status on error.
int RunInfra(nlohmann::json* doc, bool print) {
  ghostnv::bench::InfraOptions o;
  o.kernels = absl::GetFlag(FLAGS_kernels);
  o.memory = absl::GetFlag(FLAGS_memory);
  o.nvrtc_only_arch = absl::GetFlag(FLAGS_nvrtc_only_arch);
  o.model = absl::GetFlag(FLAGS_memory_model);
  o.max_host_mb = absl::GetFlag(FLAGS_max_host_mb);
  o.print = print;
  o.sessions.clear();
  for (const std::string& n : absl::GetFlag(FLAGS_sessions)) {
    const long v = std::atol(n.c_str());
    if (v < 1) {
      std::fprintf(stderr, "ghostnv-bench: --sessions: '%s' is not a positive count\n", n.c_str());
      return 2;
    }
    o.sessions.push_back(v);
  }
  if (!o.kernels && !o.memory) return 0;
  return ghostnv::bench::RunInfraSections(o, doc);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("ghostnv-bench [--model=M ...] [--input=WAV] [--report=json]");
  absl::ParseCommandLine(argc, argv);
  const int repeats = std::max(1, absl::GetFlag(FLAGS_repeats));
  const bool json_report = absl::GetFlag(FLAGS_report) == "json";

  if (!absl::GetFlag(FLAGS_speed)) {  // only the device-layer sections
    nlohmann::json doc = nlohmann::json::object();
    const int st = RunInfra(&doc, !json_report);
    if (json_report) std::printf("%s\n", doc.dump(2).c_str());
    return st;
  }

  if (int cpu = absl::GetFlag(FLAGS_cpu); cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
      std::fprintf(stderr, "ghostnv-bench: note: could not pin to CPU %d\n", cpu);
  }

  std::vector<std::string> models = absl::GetFlag(FLAGS_model);
  if (models.empty()) {
    models.push_back("default");
    const char* shared = std::getenv("GHOSTNV_SHARED_DIR");
    const fs::path dir = fs::path(shared ? shared : "../shared") / "data/models/rnnoise";
    if (fs::is_directory(dir)) {
      std::vector<std::string> found;
      for (auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".rnnn") found.push_back(e.path().string());
      std::sort(found.begin(), found.end());
      models.insert(models.end(), found.begin(), found.end());
    }
  }

  std::vector<float> input;
  if (const std::string path = absl::GetFlag(FLAGS_input); !path.empty()) {
    auto f = ghostnv::audio::ReadSoundFile(path);
    if (!f.ok() || f->format.sample_rate != kRate) {
      std::fprintf(stderr, "ghostnv-bench: %s: need a readable 48 kHz file\n", path.c_str());
      return 2;
    }
    for (int64_t i = 0; i < f->frames; ++i) input.push_back(f->samples[i * f->format.channels]);
  } else {
    input = SyntheticInput(absl::GetFlag(FLAGS_seconds));
  }
  input.resize(input.size() / kHop * kHop);
  const double audio_s = static_cast<double>(input.size()) / kRate;
  const double hops = static_cast<double>(input.size()) / kHop;

  // ffmpeg's fixed cost (start-up, decode, null mux) on the same input, to subtract.
  const fs::path tmp = fs::temp_directory_path() / absl::StrFormat("ghostnv_bench_%d", getpid());
  fs::create_directories(tmp);
  const std::string in_wav = (tmp / "in.wav").string();
  const bool have_ffmpeg = absl::GetFlag(FLAGS_ffmpeg) &&
                           std::system("ffmpeg -hide_banner -loglevel error -version >/dev/null 2>&1") == 0;
  double ff_base = 0;
  if (have_ffmpeg) {
    ghostnv::audio::SoundFormat fmt;
    fmt.subtype = ghostnv::audio::Subtype::kFloat;
    if (!ghostnv::audio::WriteSoundFile(in_wav, fmt, input).ok()) {
      std::fprintf(stderr, "ghostnv-bench: cannot write %s\n", in_wav.c_str());
      return 2;
    }
    ff_base = TimeCommand("ffmpeg -nostdin -hide_banner -loglevel error -threads 1 -filter_threads 1 -i " +
                              Quote(in_wav) + " -af anull -f null -", repeats);
  }

  nlohmann::json report = nlohmann::json::array();
  int status = 0;
  for (const std::string& m : models) {
    nlohmann::json row;
    row["model"] = m == "default" ? "default" : fs::path(m).filename().string();
    Ours ours = RunOurs(m, input, repeats);
    if (!ours.error.empty()) {
      std::fprintf(stderr, "ghostnv-bench: %s: %s\n", m.c_str(), ours.error.c_str());
      status = 2;
      continue;
    }
    row["ours_us_per_hop"] = ours.seconds / hops * 1e6;
    row["ours_x_realtime"] = audio_s / ours.seconds;
    const bool rnnn = fs::path(m).extension() == ".rnnn";
    if (have_ffmpeg && rnnn) {
      const std::string filter = "arnndn=m=" + Quote(m);
      const double t = TimeCommand("ffmpeg -nostdin -hide_banner -loglevel error -threads 1 -filter_threads 1 -i " +
                                       Quote(in_wav) + " -af " + filter + " -f null -", repeats);
      const std::string out_wav = (tmp / "ff.wav").string();
      const bool wrote = std::system(("ffmpeg -nostdin -hide_banner -loglevel error -y -i " + Quote(in_wav) +
                                      " -af " + filter + " -c:a pcm_f32le " + Quote(out_wav)).c_str()) == 0;
      if (t > 0 && wrote) {
        const double net = std::max(1e-9, t - ff_base);
        row["ffmpeg_us_per_hop"] = net / hops * 1e6;
        row["ffmpeg_x_realtime"] = audio_s / net;
        row["speedup"] = net / ours.seconds;
        // ffmpeg's stream is delayed by one hop; ours by latency_frames.
        auto ff = ghostnv::audio::ReadSoundFile(out_wav);
        const int64_t shift = ours.latency - kHop;
        double sig = 0, err = 0;
        if (ff.ok() && shift >= 0) {
          for (int64_t i = 0; i < ff->frames && i + shift < static_cast<int64_t>(ours.out.size()); ++i) {
            const double a = ff->samples[i * ff->format.channels], b = ours.out[i + shift];
            sig += a * a;
            err += (a - b) * (a - b);
          }
        }
        const double snr = 10 * std::log10(sig / std::max(err, 1e-30));
        row["snr_vs_ffmpeg_db"] = snr;
        if (snr < absl::GetFlag(FLAGS_min_snr_db)) status = 1;
      }
    }
    report.push_back(row);
  }
  fs::remove_all(tmp);

  if (json_report) {
    nlohmann::json doc = {{"audio_seconds", audio_s}, {"hop", kHop}, {"sample_rate", kRate},
                          {"ffmpeg_baseline_s", ff_base}, {"models", report}};
    if (const int st = RunInfra(&doc, false); st != 0 && status == 0) status = st;
    std::printf("%s\n", doc.dump(2).c_str());
    return status;
  }
  std::printf("ghostnv-bench: %.1f s of 48 kHz mono, %d-sample hops, best of %d, one core\n", audio_s, kHop,
              repeats);
  std::printf("%-12s %12s %10s %14s %12s %9s %14s\n", "model", "ours us/hop", "ours xRT", "ffmpeg us/hop",
              "ffmpeg xRT", "speedup", "SNR vs ffmpeg");
  for (const auto& r : report) {
    auto num = [&](const char* k, const char* fmt) {
      return r.contains(k) ? absl::StrFormat(fmt, r[k].get<double>()) : std::string("-");
    };
    std::printf("%-12s %12s %10s %14s %12s %9s %14s\n", r["model"].get<std::string>().c_str(),
                num("ours_us_per_hop", "%.1f").c_str(), num("ours_x_realtime", "%.0f").c_str(),
                num("ffmpeg_us_per_hop", "%.1f").c_str(), num("ffmpeg_x_realtime", "%.0f").c_str(),
                num("speedup", "%.2fx").c_str(), num("snr_vs_ffmpeg_db", "%.1f dB").c_str());
  }
  nlohmann::json infra = nlohmann::json::object();
  if (const int st = RunInfra(&infra, true); st != 0 && status == 0) status = st;
  return status;
}
