// tools/denoise/live.cc — ghostnv-denoise live mode (see live.h).
#include "tools/denoise/live.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "audio/alsa_duplex.h"
#include "audio/alsa_format.h"
#include "ghostnv/ghostnv.hpp"
#include "nlohmann/json.hpp"
#include "tools/denoise/model_arg.h"

namespace ghostnv::tools {
namespace {

namespace audio = ghostnv::audio;
using nlohmann::json;

std::atomic<audio::DuplexEngine*> g_engine{nullptr};
volatile sig_atomic_t g_signal = 0;

extern "C" void OnSignal(int sig) {
  g_signal = sig;
  if (audio::DuplexEngine* e = g_engine.load()) e->RequestStop();
}

void SleepMs(int ms) {
  timespec ts{0, static_cast<long>(ms) * 1000000};
  nanosleep(&ts, nullptr);
}

void Error(const std::string& message) {
  std::string line = message;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::cerr << "ghostnv-denoise: " << line << "\n";
}

// The three presets. Periods are in frames at 48 kHz (doubled at 88.2/96 kHz); quality uses the
// model's hop (10 ms) so periods and hops line up.
struct Preset {
  int period;
  int periods;
  int prefill;
};

std::optional<Preset> PresetFor(const std::string& name, int rate) {
  const int scale = rate >= 88200 ? 2 : 1;
  // ultra: one hop of the ultra model (96 frames = 2 ms at 48 kHz) per period, so every call
  // is a whole hop and the library adds no buffering (period hint).
  if (name == "ultra") return Preset{96 * scale, 3, 1};
  if (name == "realtime") return Preset{128 * scale, 3, 1};
  if (name == "quality") return Preset{rate / 100, 4, 1};
  return std::nullopt;
}

// The period's work on the audio thread: the public API, plus the impulse probe.
class LiveProcessor : public audio::PeriodProcessor {
 public:
  LiveProcessor(ghostnv::Denoiser* d, int channels, int period, int rate, bool probe)
      : d_(d), channels_(static_cast<size_t>(channels)), probe_(probe),
        interval_(static_cast<int64_t>(rate) / 2) {
    if (probe_) probe_in_.assign(static_cast<size_t>(period) * channels_, 0.0f);
  }

  void Process(const float* in, float* out, size_t frames) noexcept override {
    const float* src = in;
    if (probe_) {
      std::fill(probe_in_.begin(), probe_in_.begin() + static_cast<ptrdiff_t>(frames * channels_),
                0.0f);
      for (size_t i = 0; i < frames; ++i) {
        const int64_t t = t_ + static_cast<int64_t>(i);
        if (t % interval_ == 0) {
          if (last_inject_ >= 0 && best_ >= kThreshold) {
            measured_.store(best_at_ - last_inject_, std::memory_order_relaxed);
            measurements_.fetch_add(1, std::memory_order_relaxed);
          }
          best_ = 0.0f;
          last_inject_ = t;
          for (size_t c = 0; c < channels_; ++c) probe_in_[i * channels_ + c] = kAmplitude;
        }
        const float v = std::fabs(in[i * channels_]);
        if (v > best_) {
          best_ = v;
          best_at_ = t;
        }
      }
      src = probe_in_.data();
    }
    d_->process(src, out, frames);
    t_ += static_cast<int64_t>(frames);
  }

  int64_t measured() const { return measured_.load(std::memory_order_relaxed); }
  int64_t measurements() const { return measurements_.load(std::memory_order_relaxed); }

 private:
  static constexpr float kAmplitude = 0.5f;
  static constexpr float kThreshold = 0.25f;
  ghostnv::Denoiser* d_;
  size_t channels_;
  bool probe_;
  int64_t interval_;
  std::vector<float> probe_in_;
  int64_t t_ = 0, last_inject_ = -1, best_at_ = 0;
  float best_ = 0.0f;
  std::atomic<int64_t> measured_{-1}, measurements_{0};
};

struct Percentiles {
  double p50 = 0, p99 = 0, max = 0, mean = 0;
  int64_t count = 0;
};

// Nearest-rank percentiles of a sample set (microseconds in, microseconds out).
Percentiles Summarize(std::vector<double> v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto rank = [&](double q) {
    size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, k == 0 ? 0 : k - 1)];
  };
  p.p50 = rank(0.50);
  p.p99 = rank(0.99);
  p.max = v.back();
  double s = 0;
  for (double x : v) s += x;
  p.mean = s / static_cast<double>(v.size());
  p.count = static_cast<int64_t>(v.size());
  return p;
}

// Percentiles of the whole run without keeping every sample: 0.1 us bins up to 10 ms, 10 us bins
// up to 1 s (about 800 KB), plus the exact maximum.
class Histogram {
 public:
  Histogram() : bins_(kFine + kCoarse + 1, 0) {}
  void Add(double us) {
    size_t b;
    if (us < 10000.0) {
      b = static_cast<size_t>(std::max(us, 0.0) * 10.0);
    } else {
      b = kFine + std::min<size_t>(kCoarse, static_cast<size_t>((us - 10000.0) / 10.0));
    }
    ++bins_[std::min(b, bins_.size() - 1)];
    ++count_;
    sum_ += us;
    max_ = std::max(max_, us);
  }
  Percentiles Get() const {
    Percentiles p;
    p.count = count_;
    if (count_ == 0) return p;
    auto rank = [&](double q) {
      const uint64_t k = std::max<uint64_t>(
          1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
      uint64_t seen = 0;
      for (size_t b = 0; b < bins_.size(); ++b) {
        seen += bins_[b];
        if (seen < k) continue;
        return b < kFine ? (static_cast<double>(b) + 0.5) * 0.1
                         : 10000.0 + (static_cast<double>(b - kFine) + 0.5) * 10.0;
      }
      return max_;
    };
    p.p50 = std::min(rank(0.50), max_);
    p.p99 = std::min(rank(0.99), max_);
    p.max = max_;
    p.mean = sum_ / static_cast<double>(count_);
    return p;
  }

 private:
  static constexpr size_t kFine = 100000;   // 0.1 us .. 10 ms
  static constexpr size_t kCoarse = 99000;  // 10 us .. 1 s
  std::vector<uint32_t> bins_;
  uint64_t count_ = 0;
  double sum_ = 0, max_ = 0;
};

json PercentilesJson(const Percentiles& p) {
  return {{"p50", p.p50}, {"p99", p.p99}, {"max", p.max}, {"mean", p.mean}, {"count", p.count}};
}

json PcmJson(const std::string& device, const audio::PcmParams& p) {
  return {{"device", device},
          {"access", p.access == audio::PcmAccess::kMmap ? "mmap" : "rw"},
          {"format", audio::PcmFormatName(p.format)},
          {"rate", p.rate},
          {"channels", p.channels},
          {"period_frames", p.period_frames},
          {"buffer_frames", p.buffer_frames}};
}

struct Budget {
  int64_t capture = 0, library = 0, algorithmic = 0, processing = 0, playback = 0;
  int64_t total() const { return capture + library + algorithmic + processing + playback; }
};

// The budget, plus what the devices say (null when unknown): `device_frames` is the median of
// snd_pcm_delay(capture) + snd_pcm_delay(playback) (what the drivers/plugins estimate), and
// `queued_frames` the ring occupancy (capture avail + playback frames not yet consumed) when a
// period is taken. The occupancy is exact whenever the devices move their pointers together;
// a sample taken in the middle of a sound-server cycle (playback consumed, capture not yet
// produced) reads one quantum low, and a trim or restart leaves a transient, so the value
// reported is the largest one seen in at least 5% of the samples (since the last settle).
json BudgetJson(const Budget& b, int rate, int64_t library_latency, int64_t device_frames,
                int64_t queued_frames) {
  auto ms = [&](int64_t f) { return 1000.0 * static_cast<double>(f) / rate; };
  json j;
  j["frames"] = {{"capture_buffering", b.capture}, {"library_buffering", b.library},
                 {"algorithmic", b.algorithmic},   {"processing", b.processing},
                 {"playback_buffering", b.playback}, {"total", b.total()}};
  j["ms"] = {{"capture_buffering", ms(b.capture)}, {"library_buffering", ms(b.library)},
             {"algorithmic", ms(b.algorithmic)},   {"processing", ms(b.processing)},
             {"playback_buffering", ms(b.playback)}, {"total", ms(b.total())}};
  auto put = [&](const char* name, const char* total, int64_t v) {
    if (v >= 0) {
      j[name] = v;
      j[total] = v + library_latency;
    } else {
      j[name] = nullptr;
      j[total] = nullptr;
    }
  };
  put("device_frames", "total_device_frames", device_frames);
  put("queued_frames", "total_queued_frames", queued_frames);
  return j;
}

// Occupancy samples: the largest value that makes up at least 5% of them (-1 when none).
class Occupancy {
 public:
  void Add(int64_t v) {
    ++counts_[v];
    ++n_;
  }
  void Clear() {
    counts_.clear();
    n_ = 0;
  }
  int64_t Get() const {
    for (auto it = counts_.rbegin(); it != counts_.rend(); ++it)
      if (it->second * 20 >= n_) return it->first;
    return -1;
  }

 private:
  std::map<int64_t, int64_t> counts_;
  int64_t n_ = 0;
};

int64_t Median(std::vector<int64_t> v) {
  if (v.empty()) return -1;
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

}  // namespace

int RunLive(const LiveOptions& o) {
  // ---- options ----
  const std::optional<Preset> preset = PresetFor(o.latency, o.rate);
  if (!preset) {
    Error(absl::StrCat("--latency must be ultra, realtime or quality, got '", o.latency, "'"));
    return 2;
  }
  if (o.rate != 44100 && o.rate != 48000 && o.rate != 96000) {
    Error(absl::StrCat("--rate must be 44100, 48000 or 96000, got ", o.rate));
    return 2;
  }
  if (o.channels < 1 || o.channels > 2) {
    Error(absl::StrCat("--channels must be 1 or 2, got ", o.channels));
    return 2;
  }
  const int period = o.period > 0 ? o.period : preset->period;
  const int periods = o.periods > 0 ? o.periods : preset->periods;
  const int prefill = o.prefill > 0 ? o.prefill : preset->prefill;
  if (period < 16 || period > 8192) {
    Error(absl::StrCat("--period must be 16..8192 frames, got ", period));
    return 2;
  }
  if (periods < 2 || periods > 64) {
    Error(absl::StrCat("--periods must be 2..64, got ", periods));
    return 2;
  }
  if (prefill < 1 || prefill >= periods) {
    Error(absl::StrCat("--prefill must be 1..", periods - 1, " periods, got ", prefill));
    return 2;
  }
  std::optional<audio::PcmFormat> format;
  if (o.format != "auto" && o.format != "same") {
    audio::PcmFormat f;
    if (!audio::ParsePcmFormat(o.format, &f)) {
      Error(absl::StrCat("--format must be S16_LE, S24_3LE, S24_LE, S32_LE, FLOAT_LE or auto, got '",
                         o.format, "'"));
      return 2;
    }
    format = f;
  }
  if (o.duration < 0 || !std::isfinite(o.duration)) {
    Error("--duration must be >= 0 seconds");
    return 2;
  }
  const bool json_report = o.report == "json";

  // ---- the denoiser ----
  // --latency also picks the model when --model is left at "default": ultra the embedded
  // ultra-low-latency model ("builtin:ultra", 2 ms; on the GPU real-time path when --backend
  // picks a GPU), quality the ENHANCED mode's model (an installed enhanced/DTLN model, else the
  // embedded GhostNV Demucs) when this build has one; otherwise the BASIC RNNoise-class model.
  const LibraryModel named = LibraryModelArg(o.model);
  int mode = named.mode;
  std::string mode_note;
  const char* model_arg = named.model;
  if (o.model == "default" && o.latency == "quality") {
    const char* name = "";
    if (ghostnv_mode_status(GHOSTNV_MODE_ENHANCED, &name) == GHOSTNV_OK) {
      mode = GHOSTNV_MODE_ENHANCED;
    } else {
      mode_note = absl::StrCat("--latency quality would use the '", name,
                               "' model, which this build does not have: using 'basic'");
    }
  }
  ghostnv::Options opt;
  opt.mode = mode;
  opt.model = model_arg;
  opt.backend = o.backend;
  opt.sample_rate = static_cast<uint32_t>(o.rate);
  opt.channels = static_cast<uint32_t>(o.channels);
  opt.strength = o.measure_latency ? 0.0f : o.strength;
  // The period hint: every call is one period, so the library buffers hop - gcd(period, hop)
  // frames instead of hop - 1. Set to the requested period here (so a bad model fails before
  // any device is opened) and re-created below if the devices negotiate another period.
  opt.period_frames = static_cast<uint32_t>(period);
  ghostnv::Denoiser denoiser;
  std::string error;
  if (o.model == "default" && o.latency == "ultra") {
    opt.model = "builtin:ultra";
    if (ghostnv::Denoiser::Create(opt, &denoiser, &error) != GHOSTNV_OK) {
      mode_note = absl::StrCat("--latency ultra would use the 'ultra' model, which this build ",
                               "does not have (", error, "): using 'basic'");
      opt.model = nullptr;
    }
  }
  if (!denoiser && ghostnv::Denoiser::Create(opt, &denoiser, &error) != GHOSTNV_OK) {
    Error(error);
    return 1;
  }

  // ---- the devices ----
  LiveProcessor proc(&denoiser, o.channels, period, o.rate, o.measure_latency);
  audio::DuplexConfig cfg;
  cfg.capture_device = o.capture;
  cfg.playback_device = o.playback;
  cfg.format = format;
  cfg.rate = o.rate;
  cfg.channels = o.channels;
  cfg.period_frames = period;
  cfg.periods = periods;
  cfg.prefill_periods = prefill;
  cfg.rt_priority = o.rt_priority;
  cfg.lock_memory = o.lock_memory;
  cfg.max_frames = o.duration > 0 ? static_cast<int64_t>(std::ceil(o.duration * o.rate)) : 0;
  cfg.stall_timeout_ms = o.stall_timeout_ms;
  cfg.debug_stall_ms = o.debug_stall_ms;
  cfg.debug_stall_every = o.debug_stall_every;
  absl::StatusOr<std::unique_ptr<audio::DuplexEngine>> created =
      audio::DuplexEngine::Create(cfg, &proc);
  if (!created.ok()) {
    Error(std::string(created.status().message()));
    return 1;
  }
  audio::DuplexEngine& engine = **created;
  const int n = engine.period_frames();
  if (n != period) {
    // The devices negotiated another period: the hint must be the one the calls will have. The
    // audio thread has not started yet (Start() below), so the processor's denoiser is replaced
    // in place.
    opt.period_frames = static_cast<uint32_t>(n);
    ghostnv::Denoiser renegotiated;
    if (ghostnv::Denoiser::Create(opt, &renegotiated, &error) != GHOSTNV_OK) {
      Error(error);
      return 1;
    }
    denoiser = std::move(renegotiated);
  }
  const json info = json::parse(denoiser.info_json());
  const int64_t lib_latency = denoiser.latency_frames();
  const int64_t algorithmic = std::min<int64_t>(
      lib_latency, std::llround(info.value("algorithmic_latency_ms", 0.0) * o.rate / 1000.0));
  Budget budget;
  budget.capture = n;
  budget.algorithmic = algorithmic;
  budget.library = lib_latency - algorithmic;
  budget.processing = n;
  budget.playback = engine.prefill_frames() - n;
  std::vector<std::string> notes;
  if (!mode_note.empty()) notes.push_back(mode_note);
  {
    std::string all = engine.notes();
    size_t pos = 0;
    while (!all.empty() && pos <= all.size()) {
      const size_t nl = all.find('\n', pos);
      notes.push_back(all.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
  }

  // ---- run ----
  g_engine.store(&engine);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  if (absl::Status s = engine.Start(); !s.ok()) {
    g_engine.store(nullptr);
    Error(std::string(s.message()));
    return 1;
  }
  if (engine.rt_note().find("not permitted") != std::string::npos) notes.push_back(engine.rt_note());
  if (engine.memory_note().find("not locked: ") != std::string::npos)
    notes.push_back(engine.memory_note());

  const json cap_json = PcmJson(o.capture, engine.capture_params());
  const json play_json = PcmJson(o.playback, engine.playback_params());
  if (json_report) {
    json j;
    j["type"] = "start";
    j["capture"] = cap_json;
    j["playback"] = play_json;
    j["latency_setting"] = o.latency;
    j["prefill_frames"] = engine.prefill_frames();
    j["model"] = info.value("model", "");
    j["backend"] = info.value("backend", "");
    j["backend_note"] = info.value("backend_note", "");
    j["device"] = info.value("device", "");
    j["library_latency_frames"] = lib_latency;
    j["latency"] = BudgetJson(budget, o.rate, lib_latency, -1, -1);
    j["scheduling"] = engine.rt_note();
    j["memory"] = engine.memory_note();
    j["notes"] = notes;
    std::cout << j.dump() << std::endl;
  } else {
    std::cerr << "capture:  " << o.capture << ": " << engine.capture_params().Describe() << "\n"
              << "playback: " << o.playback << ": " << engine.playback_params().Describe()
              << ", prefill " << engine.prefill_frames() << "\n"
              << "model:    " << info.value("model", "") << " on " << info.value("backend", "")
              << (info.value("device", "").empty() ? "" : " " + info.value("device", ""))
              << " (library latency " << lib_latency << " frames)\n"
              << "thread:   " << engine.rt_note() << "; " << engine.memory_note() << "\n";
    for (const std::string& note : notes) std::cerr << "note:     " << note << "\n";
    std::cerr << absl::StrFormat(
        "latency:  %.2f ms = capture %.2f + library %.2f + algorithmic %.2f + processing %.2f + "
        "playback %.2f\n",
        1000.0 * budget.total() / o.rate, 1000.0 * budget.capture / o.rate,
        1000.0 * budget.library / o.rate, 1000.0 * budget.algorithmic / o.rate,
        1000.0 * budget.processing / o.rate, 1000.0 * budget.playback / o.rate);
  }

  // Control loop: drain events every 10 ms, report every second.
  std::vector<double> win_proc, win_cycle;
  std::vector<int64_t> win_delay, all_delay;
  Occupancy win_queued, run_queued;  // this second; since the last settle
  win_proc.reserve(1 << 16);
  win_cycle.reserve(1 << 16);
  win_delay.reserve(1 << 16);
  Histogram hist_proc, hist_cycle;
  audio::DuplexCounters last{};
  const double t_start = [] {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
  }();
  auto now = [] {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
  };
  double next_report = t_start + 1.0;
  std::vector<json> xrun_events, settled;
  auto drain = [&] {
    audio::DuplexEvent e;
    while (engine.PopEvent(&e)) {
      switch (e.type) {
        case audio::DuplexEventType::kPeriod: {
          const double p = static_cast<double>(e.value) / 1000.0, c = static_cast<double>(e.value2) / 1000.0;
          win_proc.push_back(p);
          win_cycle.push_back(c);
          hist_proc.Add(p);
          hist_cycle.Add(c);
          if (e.value3 >= 0) {
            win_delay.push_back(e.value3);
            if (all_delay.size() < (1u << 20)) all_delay.push_back(e.value3);
          }
          if (e.value4 >= 0) {
            win_queued.Add(e.value4);
            run_queued.Add(e.value4);
          }
          break;
        }
        case audio::DuplexEventType::kRecovered:
          run_queued.Clear();  // the streams were restarted: the occupancy starts over
          break;
        case audio::DuplexEventType::kSettled:
          run_queued.Clear();  // settled (or trimmed): measure from here
          settled.push_back({{"frame", e.frame},
                             {"paced", e.value2 == 1},
                             {"queued_frames", e.value4},
                             {"trimmed_frames", e.value}});
          break;
        case audio::DuplexEventType::kXrun:
          if (xrun_events.size() < 1000) {
            xrun_events.push_back({{"stream", e.stream == 0 ? "capture" : "playback"},
                                   {"error", snd_strerror(e.code)},
                                   {"frame", e.frame}});
          }
          break;
        default:
          break;
      }
    }
  };
  auto report = [&](double t) {
    const audio::DuplexCounters c = engine.counters();
    const Percentiles pp = Summarize(win_proc), pc = Summarize(win_cycle);
    const int64_t delay = Median(win_delay), queued = win_queued.Get();
    if (json_report) {
      json j;
      j["type"] = "stats";
      j["t"] = t - t_start;
      j["periods"] = c.periods - last.periods;
      j["processing_us"] = PercentilesJson(pp);
      j["cycle_us"] = PercentilesJson(pc);
      j["deadline_misses"] = c.deadline_misses - last.deadline_misses;
      j["xruns"] = {{"capture", c.xruns_capture - last.xruns_capture},
                    {"playback", c.xruns_playback - last.xruns_playback}};
      j["totals"] = {{"deadline_misses", c.deadline_misses},
                     {"xruns_capture", c.xruns_capture},
                     {"xruns_playback", c.xruns_playback}};
      j["latency"] = BudgetJson(budget, o.rate, lib_latency, delay, queued);
      if (o.measure_latency) {
        j["measured_round_trip_frames"] =
            proc.measurements() > 0 ? json(proc.measured()) : json(nullptr);
      }
      std::cout << j.dump() << std::endl;
    } else {
      std::string line = absl::StrFormat(
          "[%6.1f s] processing p50 %.3f p99 %.3f max %.3f ms | deadline misses %d | xruns %d "
          "capture, %d playback | latency %.2f ms",
          t - t_start, pp.p50 / 1000, pp.p99 / 1000, pp.max / 1000,
          c.deadline_misses - last.deadline_misses, c.xruns_capture - last.xruns_capture,
          c.xruns_playback - last.xruns_playback, 1000.0 * budget.total() / o.rate);
      if (queued >= 0) {
        absl::StrAppend(&line, absl::StrFormat(" (rings hold %.2f)",
                                               1000.0 * (queued + lib_latency) / o.rate));
      }
      if (o.measure_latency && proc.measurements() > 0)
        absl::StrAppend(&line, " | round trip ", proc.measured(), " frames");
      std::cout << line << std::endl;
    }
    last = c;
    win_proc.clear();
    win_cycle.clear();
    win_delay.clear();
    win_queued.Clear();
  };
  while (engine.Running()) {
    SleepMs(10);
    drain();
    const double t = now();
    if (t >= next_report) {
      report(t);
      next_report += 1.0;
      if (next_report < t) next_report = t + 1.0;
    }
  }
  const audio::DuplexResult result = engine.Join();
  drain();
  g_engine.store(nullptr);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  const double seconds = now() - t_start;

  // ---- summary ----
  const bool failed = result.end != audio::DuplexEnd::kStopRequested &&
                      result.end != audio::DuplexEnd::kFrameLimit;
  const int exit_code = failed ? 1 : 0;
  const Percentiles pp = hist_proc.Get(), pc = hist_cycle.Get();
  const int64_t delay = Median(all_delay), queued = run_queued.Get();
  const json lib_info = json::parse(denoiser.info_json());
  std::string end_text = result.message;
  if (result.end == audio::DuplexEnd::kStopRequested && g_signal != 0)
    end_text = g_signal == SIGINT ? "stopped (SIGINT)" : "stopped (SIGTERM)";
  if (json_report) {
    json j;
    j["type"] = "summary";
    j["end"] = audio::DuplexEndName(result.end);
    j["message"] = end_text;
    j["exit_code"] = exit_code;
    j["seconds"] = seconds;
    j["periods"] = result.counters.periods;
    j["frames_captured"] = result.counters.frames_captured;
    j["frames_played"] = result.counters.frames_played;
    j["xruns"] = {{"capture", result.counters.xruns_capture},
                  {"playback", result.counters.xruns_playback}};
    j["xrun_events"] = xrun_events;
    j["restarts"] = result.counters.restarts;
    j["deadline_misses"] = result.counters.deadline_misses;
    j["clipped_samples"] = result.counters.clipped_samples;
    j["events_dropped"] = result.counters.events_dropped;
    j["frames_trimmed"] = result.counters.frames_trimmed;
    j["settled"] = settled;
    j["paced"] = result.counters.paced < 0 ? json(nullptr) : json(result.counters.paced == 1);
    j["processing_us"] = PercentilesJson(pp);
    j["cycle_us"] = PercentilesJson(pc);
    j["period_us"] = 1e6 * n / o.rate;
    j["latency"] = BudgetJson(budget, o.rate, lib_latency, delay, queued);
    j["library_latency_frames"] = lib_latency;
    j["prefill_frames"] = engine.prefill_frames();
    j["capture"] = cap_json;
    j["playback"] = play_json;
    j["scheduling"] = engine.rt_note();
    j["memory"] = engine.memory_note();
    j["notes"] = notes;
    j["model"] = lib_info.value("model", "");
    j["backend"] = lib_info.value("backend", "");
    j["device"] = lib_info.value("device", "");
    j["backend_active"] = lib_info.value("backend_active", lib_info.value("backend", ""));
    j["fallback"] = lib_info.value("fallback", json::object());
    if (lib_info.contains("gpu")) j["gpu"] = lib_info["gpu"];
    if (lib_info.contains("telemetry")) j["telemetry"] = lib_info["telemetry"];
    if (o.measure_latency) {
      j["measured_round_trip_frames"] =
          proc.measurements() > 0 ? json(proc.measured()) : json(nullptr);
      j["round_trip_measurements"] = proc.measurements();
    }
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << absl::StrFormat(
        "summary: %s after %.1f s; %d periods of %d frames; xruns %d capture, %d playback "
        "(%d restarts); deadline misses %d; processing p50 %.3f p99 %.3f max %.3f ms (period "
        "%.3f ms); latency %.2f ms nominal%s%s\n",
        end_text, seconds, result.counters.periods, n, result.counters.xruns_capture,
        result.counters.xruns_playback, result.counters.restarts, result.counters.deadline_misses,
        pp.p50 / 1000, pp.p99 / 1000, pp.max / 1000, 1000.0 * n / o.rate,
        1000.0 * budget.total() / o.rate,
        queued >= 0 && result.counters.paced == 1
                    ? absl::StrFormat(", %.2f ms from the ring occupancy",
                                      1000.0 * (queued + lib_latency) / o.rate)
                    : std::string(),
        o.measure_latency && proc.measurements() > 0
            ? absl::StrFormat("; measured round trip %d frames", proc.measured())
            : std::string());
  }
  if (result.counters.paced == 0 && !json_report) {
    std::cerr << "note:     the devices are not paced (file/null plugins run as fast as the CPU): "
                 "the timings above are not real time\n";
  }
  if (failed) Error(result.message);
  return exit_code;
}

}  // namespace ghostnv::tools
