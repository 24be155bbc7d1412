// tools/denoise/main.cc — ghostnv-denoise: denoise an audio file with the GhostNV library.
//
//   ghostnv-denoise IN OUT [--model FILE|default|ultra|enhanced|maximum] [--backend auto|cpu|cuda|cuda:N]
//                   [--strength 0..1] [--report text|json] [--reference CLEAN]
//                   [--format same|pcm16|pcm24|pcm32|float]
//   ghostnv-denoise --capture PCM --playback PCM [--latency ultra|realtime|quality] [--period N]
//                   [--periods K] [--rate R] [--format F] [--channels C] [--model M]
//                   [--backend auto|cpu|cuda|cuda:N] [--strength S] [--report text|json]
//                   [--duration S]
//
// --model: tools/denoise/model_arg.h (default, ultra and enhanced are built into the library).
// --backend: where the library runs the model (auto = the first GPU that can run it, else the
// CPU; cuda:N = CUDA device N, an error when it cannot be used). The report names the backend
// chosen, the device, and any fallback to the CPU after a device failure ("fallback").
//
// With --capture/--playback the tool runs live (tools/denoise/live.h, docs/live.md); otherwise:
//
// Reads IN whole, runs it through the public API (include/ghostnv/) in blocks, removes the
// library's latency (drops the first latency_frames() output frames, feeds as many zeros at
// the end) so OUT has IN's length and timing, and writes OUT atomically in IN's container and
// sample format (or --format; the container follows OUT's extension when it names one). A
// report goes to stdout. Errors: one line on stderr starting "ghostnv-denoise: ", exit 1 (2 for
// usage errors); OUT is then untouched.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "audio/sound_file.h"
#include "ghostnv/ghostnv.hpp"
#include "nlohmann/json.hpp"
#include "tools/denoise/model_arg.h"
#include "tools/denoise/si_sdr.h"
#if GHOSTNV_HAVE_ALSA
#include "tools/denoise/live.h"
#endif

ABSL_FLAG(std::string, model, "default",
          "'default', 'ultra' or 'enhanced' (the models built into the library: RNNoise-class, "
          "10 ms; ultra-low-latency, 2 ms; GhostNV's causal Demucs, 16 ms, unless an "
          "enhanced.gnvm or a converted DTLN dtln.gnvm is installed in a model folder: "
          "$GHOSTNV_MODEL_PATH, ~/.local/share/ghostnv/models), 'maximum' (a converted "
          "DeepFilterNet3 installed there as dfn3.gnvm), or a model file (.gnvm or RNNoise "
          ".rnnn). Names win: a file "
          "named 'ultra' in the current directory is './ultra' (an argument with a '/' or a '.' "
          "is always a path)");
ABSL_FLAG(std::string, backend, "auto",
          "auto | cpu | cuda | cuda:N (N = CUDA device index; auto = the first GPU that can run "
          "the model, else the CPU)");
ABSL_FLAG(std::string, strength, "1", "suppression strength, 0 (none) .. 1 (full)");
ABSL_FLAG(std::string, report, "text", "report format on stdout: text | json");
ABSL_FLAG(std::string, reference, "",
          "clean reference file: report the SI-SDR of IN and OUT against it");
ABSL_FLAG(std::string, format, "same",
          "OUT sample format: same (as IN) | pcm16 | pcm24 | pcm32 | float; live mode: the "
          "device format S16_LE | S24_3LE | S24_LE | S32_LE | FLOAT_LE (default: the widest the "
          "devices offer)");
// Live mode (docs/live.md).
ABSL_FLAG(std::string, capture, "", "live mode: ALSA capture PCM (e.g. hw:1,0, plughw:1, default)");
ABSL_FLAG(std::string, playback, "", "live mode: ALSA playback PCM");
ABSL_FLAG(std::string, latency, "realtime",
          "live mode: ultra | realtime | quality (period sizes; unless --model is given, ultra "
          "also picks the 2 ms model and quality the enhanced one; see docs/live.md)");
ABSL_FLAG(int, period, 0, "live mode: period in frames (16..8192; default from --latency)");
ABSL_FLAG(int, periods, 0, "live mode: periods per device buffer (default from --latency)");
ABSL_FLAG(int, rate, 48000, "live mode: sample rate, 44100 | 48000 | 96000");
ABSL_FLAG(int, channels, 1, "live mode: 1 or 2");
ABSL_FLAG(double, duration, 0, "live mode: stop after this many seconds (0 = until Ctrl-C)");
// Live mode, for tests and benchmarks (not in the usage line).
ABSL_FLAG(int, prefill, 0, "live mode: playback periods queued before start (default 1)");
ABSL_FLAG(int, rt_priority, 70, "live mode: SCHED_FIFO priority of the audio thread (0 = none)");
ABSL_FLAG(bool, mlock, true, "live mode: lock memory (mlockall)");
ABSL_FLAG(int, stall_timeout_ms, 2000, "live mode: a capture silent this long has ended");
ABSL_FLAG(bool, measure_latency, false,
          "live mode: inject an impulse every 0.5 s (strength 0) and report the round trip seen "
          "on the capture (wire playback to capture)");
ABSL_FLAG(int, debug_stall_ms, 0, "live mode, tests: sleep this long in the audio loop ...");
ABSL_FLAG(int64_t, debug_stall_every, 0, "... every this many periods");

namespace {

namespace audio = ghostnv::audio;

constexpr size_t kBlockFrames = 4096;
constexpr const char* kUsage =
    "usage: ghostnv-denoise IN OUT [--model FILE|default|ultra|enhanced|maximum] [--backend auto|cpu|cuda|cuda:N] "
    "[--strength 0..1] [--report text|json] [--reference CLEAN] "
    "[--format same|pcm16|pcm24|pcm32|float]\n"
    "       ghostnv-denoise --capture PCM --playback PCM [--latency ultra|realtime|quality] "
    "[--period N] [--periods K] [--rate R] [--format F] [--channels C] [--model M] "
    "[--backend auto|cpu|cuda|cuda:N] [--strength S] [--report text|json] [--duration SECONDS]\n"
    "       --model default|ultra|enhanced: the models built into the library (RNNoise-class, "
    "10 ms; ultra-low-latency, 2 ms; GhostNV's causal Demucs, 16 ms: an installed "
    "enhanced.gnvm or converted DTLN dtln.gnvm takes its place); --model maximum: a converted "
    "DeepFilterNet3 installed in $GHOSTNV_MODEL_PATH or ~/.local/share/ghostnv/models "
    "(dfn3.gnvm); "
    "names win over files, an argument with a '/' or '.' is a path "
    "(a file named 'ultra' here: ./ultra); --latency ultra picks the ultra model and --latency "
    "quality the enhanced one unless --model is given";

// Thrown inside this program only; main() prints it as the one error line.
struct Failure {
  std::string message;
  int exit_code = 1;
};

[[noreturn]] void Fail(std::string message, int exit_code = 1) {
  throw Failure{std::move(message), exit_code};
}

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// OUT must not be IN (same inode, whatever the spelling), nor a directory, and its directory
// must exist and be writable.
void CheckOutputPath(const std::string& in, const std::string& out) {
  struct stat si, so;
  if (::stat(out.c_str(), &so) == 0) {
    if (::stat(in.c_str(), &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
      Fail(absl::StrCat("OUT '", out, "' is the same file as IN; choose another output"));
    if (S_ISDIR(so.st_mode)) Fail(absl::StrCat("OUT '", out, "' is a directory"));
  }
  char* rin = ::realpath(in.c_str(), nullptr);
  char* rout = ::realpath(out.c_str(), nullptr);
  const bool same = rin && rout && std::string(rin) == std::string(rout);
  std::free(rin);
  std::free(rout);
  if (same) Fail(absl::StrCat("OUT '", out, "' is the same file as IN; choose another output"));
  const std::string dir = DirName(out);
  struct stat sd;
  if (::stat(dir.c_str(), &sd) != 0 || !S_ISDIR(sd.st_mode))
    Fail(absl::StrCat("OUT directory '", dir, "' does not exist"));
  if (::access(dir.c_str(), W_OK) != 0)
    Fail(absl::StrCat("OUT directory '", dir, "' is not writable"));
}

// The container for OUT: the one its extension names, except that a .wav name keeps IN's
// WAV flavour (WAVEX, RF64); IN's container when the extension names none.
int OutputContainer(const std::string& out, int in_container) {
  int c;
  if (!audio::ContainerFromExtension(out, &c)) return in_container;
  if (c == audio::kContainerWav &&
      (in_container == audio::kContainerWavex || in_container == audio::kContainerRf64))
    return in_container;
  return c;
}

std::string Describe(const audio::SoundFormat& f, int64_t frames) {
  return absl::StrFormat("%s %s, %d Hz, %d ch, %d frames (%.2f s)", audio::ContainerName(f.container),
                         audio::SubtypeName(f.subtype), f.sample_rate, f.channels, frames,
                         static_cast<double>(frames) / f.sample_rate);
}

nlohmann::json FormatJson(const std::string& path, const audio::SoundFormat& f, int64_t frames) {
  return {{"path", path},
          {"container", audio::ContainerName(f.container)},
          {"subtype", audio::SubtypeName(f.subtype)},
          {"sample_rate", f.sample_rate},
          {"channels", f.channels},
          {"frames", frames},
          {"seconds", static_cast<double>(frames) / f.sample_rate}};
}

class Progress {
 public:
  Progress(bool enabled, size_t total) : enabled_(enabled), total_(std::max<size_t>(total, 1)) {}
  void Update(size_t done) {
    if (!enabled_) return;
    const int pct = static_cast<int>(100 * std::min(done, total_) / total_);
    if (pct == last_) return;
    last_ = pct;
    const int width = 40, fill = pct * width / 100;
    std::fprintf(stderr, "\r[%s%s] %3d%%", std::string(static_cast<size_t>(fill), '#').c_str(),
                 std::string(static_cast<size_t>(width - fill), '.').c_str(), pct);
    std::fflush(stderr);
  }
  void Done() {
    if (enabled_ && last_ >= 0) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool enabled_;
  size_t total_;
  int last_ = -1;
};

// Abseil reports an unknown flag in its own words; check first so every error is one
// "ghostnv-denoise: " line. Values of known flags given as a separate argument are skipped
// (so "--strength -0.5" is a bad value, not an unknown flag).
void CheckFlagNames(int argc, char** argv) {
  static const char* const kValued[] = {
      "model", "backend", "strength", "report", "reference", "format", "flagfile", "fromenv",
      "tryfromenv", "undefok", "capture", "playback", "latency", "period", "periods", "rate",
      "channels", "duration", "prefill", "rt_priority", "stall_timeout_ms", "debug_stall_ms",
      "debug_stall_every"};
  static const char* const kBool[] = {"help",      "helpfull",        "helpshort",
                                      "helppackage", "version",       "only_check_args",
                                      "mlock",     "measure_latency"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    if (a.size() < 2 || a[0] != '-') continue;
    std::string name = a.substr(a[1] == '-' ? 2 : 1);
    const bool inline_value = name.find('=') != std::string::npos;
    name = name.substr(0, name.find('='));
    bool valued = false, known = false;
    for (const char* k : kValued) valued = valued || name == k;
    for (const char* k : kBool) known = known || name == k || name == std::string("no") + k;
    if (valued && !inline_value) ++i;  // the next argument is the value
    if (!valued && !known) Fail(absl::StrCat("unknown option '", a, "'; ", kUsage), 2);
  }
}

int ParseBackend(const std::string& text) {
  if (text == "auto") return GHOSTNV_BACKEND_AUTO;
  if (text == "cpu") return GHOSTNV_BACKEND_CPU;
  if (text == "cuda") return GHOSTNV_BACKEND_CUDA;
  if (text.rfind("cuda:", 0) == 0) {
    int n = -1;
    if (absl::SimpleAtoi(text.substr(5), &n) && n >= 0 && n < 256 &&
        text.find_first_not_of("0123456789", 5) == std::string::npos)
      return GHOSTNV_BACKEND_CUDA_DEVICE(n);
  }
  Fail(absl::StrCat("unknown backend '", text, "' (expected auto, cpu, cuda or cuda:N)"), 2);
}

// --strength and --report, validated the same way in file and live mode.
double StrengthFlag() {
  double strength = 0;
  const std::string text = absl::GetFlag(FLAGS_strength);
  if (!absl::SimpleAtod(text, &strength) || !std::isfinite(strength) || strength < 0 ||
      strength > 1) {
    Fail(absl::StrCat("--strength must be a number in [0, 1], got '", text, "'"), 2);
  }
  return strength;
}

std::string ReportFlag() {
  const std::string report = absl::GetFlag(FLAGS_report);
  if (report != "text" && report != "json")
    Fail(absl::StrCat("--report must be text or json, got '", report, "'"), 2);
  return report;
}

// --capture/--playback given: the live mode (tools/denoise/live.h).
int RunLiveMode(const std::vector<char*>& args) {
#if GHOSTNV_HAVE_ALSA
  if (absl::GetFlag(FLAGS_capture).empty() || absl::GetFlag(FLAGS_playback).empty())
    Fail(absl::StrCat("live mode needs both --capture and --playback; ", kUsage), 2);
  if (args.size() != 1) Fail(absl::StrCat("live mode takes no IN/OUT files; ", kUsage), 2);
  if (!absl::GetFlag(FLAGS_reference).empty()) Fail("--reference is for file mode only", 2);
  ghostnv::tools::LiveOptions o;
  o.capture = absl::GetFlag(FLAGS_capture);
  o.playback = absl::GetFlag(FLAGS_playback);
  o.latency = absl::GetFlag(FLAGS_latency);
  o.period = absl::GetFlag(FLAGS_period);
  o.periods = absl::GetFlag(FLAGS_periods);
  o.prefill = absl::GetFlag(FLAGS_prefill);
  o.rate = absl::GetFlag(FLAGS_rate);
  o.channels = absl::GetFlag(FLAGS_channels);
  o.format = absl::GetFlag(FLAGS_format);
  o.model = absl::GetFlag(FLAGS_model);
  o.backend = ParseBackend(absl::GetFlag(FLAGS_backend));
  o.strength = static_cast<float>(StrengthFlag());
  o.report = ReportFlag();
  o.duration = absl::GetFlag(FLAGS_duration);
  o.rt_priority = absl::GetFlag(FLAGS_rt_priority);
  o.lock_memory = absl::GetFlag(FLAGS_mlock);
  o.stall_timeout_ms = absl::GetFlag(FLAGS_stall_timeout_ms);
  o.measure_latency = absl::GetFlag(FLAGS_measure_latency);
  o.debug_stall_ms = absl::GetFlag(FLAGS_debug_stall_ms);
  o.debug_stall_every = absl::GetFlag(FLAGS_debug_stall_every);
  return ghostnv::tools::RunLive(o);
#else
  (void)args;
  Fail("live mode is not in this build (it was built without ALSA: install libasound2-dev)");
#endif
}

int Run(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  CheckFlagNames(argc, argv);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_capture).empty() || !absl::GetFlag(FLAGS_playback).empty())
    return RunLiveMode(args);
  if (args.size() != 3) {
    Fail(args.size() < 3 ? absl::StrCat("expected IN and OUT; ", kUsage)
                         : absl::StrCat("too many arguments; ", kUsage),
         2);
  }
  const std::string in_path = args[1], out_path = args[2];

  // Options.
  const double strength = StrengthFlag();
  const int backend = ParseBackend(absl::GetFlag(FLAGS_backend));
  const std::string report = ReportFlag();
  const std::string format_text = absl::GetFlag(FLAGS_format);
  std::optional<audio::Subtype> out_subtype;
  if (format_text != "same") {
    audio::Subtype st;
    if (!audio::ParseSubtype(format_text, &st)) {
      Fail(absl::StrCat("--format must be same, pcm16, pcm24, pcm32 or float, got '", format_text,
                        "'"),
           2);
    }
    out_subtype = st;
  }
  const std::string model_flag = absl::GetFlag(FLAGS_model);
  const std::string reference_path = absl::GetFlag(FLAGS_reference);

  CheckOutputPath(in_path, out_path);

  // Input (and reference).
  absl::StatusOr<audio::SoundFile> in = audio::ReadSoundFile(in_path);
  if (!in.ok()) Fail(absl::StrCat("IN: ", in.status().message()));
  const audio::SoundFormat in_fmt = in->format;
  audio::SoundFormat out_fmt = in_fmt;
  out_fmt.container = OutputContainer(out_path, in_fmt.container);
  if (out_subtype) out_fmt.subtype = *out_subtype;
  if (!audio::CanWrite(out_fmt)) {
    Fail(absl::StrCat("OUT: cannot write ", audio::SubtypeName(out_fmt.subtype), " samples in a ",
                      audio::ContainerName(out_fmt.container), " file",
                      out_fmt.container == audio::kContainerFlac
                          ? " (FLAC holds 16- or 24-bit integers: use --format pcm16 or pcm24)"
                          : ""));
  }
  std::optional<audio::SoundFile> reference;
  if (!reference_path.empty()) {
    absl::StatusOr<audio::SoundFile> r = audio::ReadSoundFile(reference_path);
    if (!r.ok()) Fail(absl::StrCat("--reference: ", r.status().message()));
    if (r->format.sample_rate != in_fmt.sample_rate || r->format.channels != in_fmt.channels) {
      Fail(absl::StrCat("--reference: ", reference_path, " is ", r->format.sample_rate, " Hz, ",
                        r->format.channels, " ch; IN is ", in_fmt.sample_rate, " Hz, ",
                        in_fmt.channels, " ch"));
    }
    reference = std::move(*r);
  }

  // The denoiser.
  ghostnv::Options opt;
  const ghostnv::tools::LibraryModel named = ghostnv::tools::LibraryModelArg(model_flag);
  opt.model = named.model;
  opt.mode = named.mode;
  opt.backend = backend;
  opt.sample_rate = static_cast<uint32_t>(in_fmt.sample_rate);
  opt.channels = static_cast<uint32_t>(in_fmt.channels);
  opt.strength = static_cast<float>(strength);
  ghostnv::Denoiser denoiser;
  std::string error;
  if (ghostnv::Denoiser::Create(opt, &denoiser, &error) != GHOSTNV_OK) Fail(error);
  const int64_t latency = denoiser.latency_frames();

  // Run: IN, then `latency` zero frames; keep everything after the first `latency` frames.
  const size_t ch = static_cast<size_t>(in_fmt.channels);
  const size_t frames = static_cast<size_t>(in->frames);
  const size_t lat = static_cast<size_t>(latency);
  std::vector<float> out(frames * ch, 0.0f);
  std::vector<float> block_in(kBlockFrames * ch), block_out(kBlockFrames * ch);
  Progress progress(::isatty(STDERR_FILENO) && in->seconds() > 3.0, frames + lat);
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t pos = 0; pos < frames + lat; pos += kBlockFrames) {
    const size_t n = std::min(kBlockFrames, frames + lat - pos);
    const size_t real = pos < frames ? std::min(n, frames - pos) : 0;
    std::copy_n(in->samples.data() + pos * ch, real * ch, block_in.data());
    std::fill(block_in.begin() + static_cast<std::ptrdiff_t>(real * ch),
              block_in.begin() + static_cast<std::ptrdiff_t>(n * ch), 0.0f);
    if (denoiser.process(block_in.data(), block_out.data(), n) != GHOSTNV_OK)
      Fail("processing failed");
    // Output frame pos + i is result frame pos + i - lat.
    for (size_t i = 0; i < n; ++i) {
      const size_t t = pos + i;
      if (t < lat) continue;
      std::copy_n(block_out.data() + i * ch, ch, out.data() + (t - lat) * ch);
    }
    progress.Update(pos + n);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress.Done();

  // Write.
  absl::StatusOr<audio::WriteReport> written = audio::WriteSoundFile(out_path, out_fmt, out);
  if (!written.ok()) Fail(absl::StrCat("OUT: ", written.status().message()));

  // Report.
  const nlohmann::json info = nlohmann::json::parse(denoiser.info_json());
  const uint64_t sanitized = static_cast<uint64_t>(in->sanitized) +
                             info["counters"]["sanitized_input_samples"].get<uint64_t>() +
                             info["counters"]["sanitized_output_samples"].get<uint64_t>();
  const double audio_seconds = in->seconds();
  const double rtf = seconds > 0 ? audio_seconds / seconds : 0.0;
  const double total_latency_ms = 1000.0 * static_cast<double>(latency) / in_fmt.sample_rate;
  std::optional<double> sdr_in, sdr_out;
  if (reference) {
    sdr_in = ghostnv::tools::SiSdrInterleaved(reference->samples, in->samples, in_fmt.channels);
    sdr_out = ghostnv::tools::SiSdrInterleaved(reference->samples, out, in_fmt.channels);
  }

  if (report == "json") {
    nlohmann::json j;
    j["model"] = info["model"];
    j["family"] = info["family"];
    j["model_source"] = info.value("model_source", "");
    j["model_sample_rate"] = info["model_sample_rate"];
    j["backend"] = info["backend"];
    j["backend_note"] = info["backend_note"];
    j["device"] = info.value("device", "");
    j["backend_active"] = info.value("backend_active", info["backend"].get<std::string>());
    j["fallback"] = info.value("fallback", nlohmann::json::object());
    if (info.contains("gpu")) j["gpu"] = info["gpu"];
    j["simd"] = info["simd"];
    j["strength"] = strength;
    j["input"] = FormatJson(in_path, in_fmt, in->frames);
    j["output"] = FormatJson(out_path, out_fmt, in->frames);
    j["processing_seconds"] = seconds;
    j["realtime_factor"] = rtf;
    j["algorithmic_latency_ms"] = info["algorithmic_latency_ms"];
    j["total_latency_ms"] = total_latency_ms;
    j["latency_frames"] = latency;
    j["sanitized_samples"] = sanitized;
    j["clipped_samples"] = written->clipped;
    j["mean_vad"] = info["counters"]["mean_vad"];
    if (reference) {
      j["reference"] = reference_path;
      j["si_sdr_db"] = {{"input", sdr_in ? nlohmann::json(*sdr_in) : nlohmann::json(nullptr)},
                        {"output", sdr_out ? nlohmann::json(*sdr_out) : nlohmann::json(nullptr)}};
    }
    std::cout << j.dump(2) << "\n";
  } else {
    const std::string note = info["backend_note"].get<std::string>();
    std::cout << absl::StrFormat("model:             %s (%s, %d Hz)\n",
                                 info["model"].get<std::string>(),
                                 info["family"].get<std::string>(),
                                 info["model_sample_rate"].get<int>());
    std::cout << absl::StrFormat("backend:           %s%s\n", info["backend"].get<std::string>(),
                                 note.empty() ? "" : absl::StrCat(" (", note, ")"));
    if (const std::string dev = info.value("device", ""); !dev.empty())
      std::cout << "device:            " << dev << "\n";
    if (info.contains("fallback") && info["fallback"].value("events", 0) > 0)
      std::cout << "fallback:          " << info["fallback"].value("note", "") << "\n";
    std::cout << absl::StrFormat("simd:              %s\n", info["simd"].get<std::string>());
    std::cout << absl::StrFormat("strength:          %.2f\n", strength);
    std::cout << "input:             " << in_path << ": " << Describe(in_fmt, in->frames) << "\n";
    std::cout << "output:            " << out_path << ": " << Describe(out_fmt, in->frames) << "\n";
    std::cout << absl::StrFormat("real-time factor:  %.1fx (%.3f s of processing)\n", rtf, seconds);
    std::cout << absl::StrFormat("latency:           %.2f ms algorithmic, %.2f ms total (%d frames)\n",
                                 info["algorithmic_latency_ms"].get<double>(), total_latency_ms,
                                 latency);
    std::cout << absl::StrFormat("sanitized samples: %d\n", sanitized);
    std::cout << absl::StrFormat("clipped samples:   %d\n", written->clipped);
    if (reference) {
      auto db = [](const std::optional<double>& v) {
        return v ? absl::StrFormat("%.2f dB", *v) : std::string("n/a");
      };
      std::cout << "SI-SDR:            input " << db(sdr_in) << ", output " << db(sdr_out);
      if (sdr_in && sdr_out) std::cout << absl::StrFormat(" (%+.2f dB)", *sdr_out - *sdr_in);
      std::cout << "\n";
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const Failure& f) {
    std::string line = f.message;  // exactly one line
    std::replace(line.begin(), line.end(), '\n', ' ');
    std::cerr << "ghostnv-denoise: " << line << "\n";
    return f.exit_code;
  } catch (const std::exception& e) {
    std::cerr << "ghostnv-denoise: " << e.what() << "\n";
    return 1;
  }
}
