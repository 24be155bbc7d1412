// audio/alsa_duplex.cc — the full-duplex audio thread (see alsa_duplex.h).
#include "audio/alsa_duplex.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <cerrno>
#include <chrono>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "audio/sanitizer.h"

namespace ghostnv::audio {
namespace {

inline int64_t NowNs() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

inline void SleepNs(int64_t ns) noexcept {
  timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
  }
}

// Touches a stack region so the audio thread never faults a fresh stack page in the loop.
void PrefaultStack() noexcept {
  volatile unsigned char buf[64 * 1024];
  for (size_t i = 0; i < sizeof(buf); i += 4096) buf[i] = 0;
}

bool IsXrun(int err) { return err == -EPIPE || err == -ESTRPIPE; }

}  // namespace

const char* DuplexEndName(DuplexEnd e) {
  switch (e) {
    case DuplexEnd::kStopRequested: return "stopped";
    case DuplexEnd::kFrameLimit: return "duration reached";
    case DuplexEnd::kCaptureEnded: return "capture ended";
    case DuplexEnd::kCaptureFailed: return "capture failed";
    case DuplexEnd::kPlaybackFailed: return "playback failed";
    case DuplexEnd::kStartFailed: return "start failed";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<DuplexEngine>> DuplexEngine::Create(const DuplexConfig& config,
                                                                   PeriodProcessor* processor) {
  if (processor == nullptr) return absl::InvalidArgumentError("duplex: no processor");
  if (config.periods < 2)
    return absl::InvalidArgumentError("duplex: at least 2 periods per buffer are needed");
  if (config.prefill_periods < 0 || config.prefill_periods >= config.periods) {
    return absl::InvalidArgumentError(
        absl::StrCat("duplex: prefill must be 0..", config.periods - 1, " periods (buffer of ",
                     config.periods, " periods), got ", config.prefill_periods));
  }
  std::unique_ptr<DuplexEngine> e(new DuplexEngine());
  e->config_ = config;
  e->processor_ = processor;

  PcmRequest req;
  req.format = config.format;
  req.rate = config.rate;
  req.channels = config.channels;
  req.period_frames = config.period_frames;
  req.periods = config.periods;
  req.force_rw = config.force_rw;
  req.device = config.capture_device;
  req.direction = PcmDirection::kCapture;
  absl::StatusOr<AlsaPcm> cap = AlsaPcm::Open(req);
  if (!cap.ok()) return cap.status();
  e->capture_ = std::move(*cap);
  req.device = config.playback_device;
  req.direction = PcmDirection::kPlayback;
  // Ask playback for what capture got, so the periods match when both devices allow it.
  req.format = e->capture_.params().format;
  req.period_frames = e->capture_.params().period_frames;
  absl::StatusOr<AlsaPcm> play = AlsaPcm::Open(req);
  if (!play.ok() && !config.format &&
      play.status().message().find("format") != absl::string_view::npos) {
    req.format.reset();  // capture's format is not offered by playback: let it choose
    play = AlsaPcm::Open(req);
  }
  if (!play.ok()) return play.status();
  e->playback_ = std::move(*play);

  const PcmParams& c = e->capture_.params();
  const PcmParams& p = e->playback_.params();
  e->period_ = c.period_frames;
  e->prefill_ = int64_t{config.prefill_periods} * e->period_;
  if (p.buffer_frames < e->prefill_ + e->period_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "playback '", config.playback_device, "': buffer of ", p.buffer_frames,
        " frames cannot hold the prefill (", e->prefill_, ") plus one period (", e->period_,
        "); use more periods or fewer prefill periods"));
  }
  for (const std::string* n : {&e->capture_.note(), &e->playback_.note()}) {
    if (!n->empty()) absl::StrAppend(&e->notes_, e->notes_.empty() ? "" : "\n", *n);
  }
  if (p.period_frames != c.period_frames) {
    absl::StrAppend(&e->notes_, e->notes_.empty() ? "" : "\n", "periods differ (capture ",
                    c.period_frames, ", playback ", p.period_frames,
                    "): processing in capture periods");
  }
  const size_t samples = static_cast<size_t>(e->period_) * static_cast<size_t>(config.channels);
  e->in_.assign(samples, 0.0f);
  e->out_.assign(samples, 0.0f);
  e->queue_ = std::make_unique<Queue>();
  return e;
}

DuplexEngine::~DuplexEngine() {
  if (thread_.joinable()) {
    RequestStop();
    thread_.join();
  }
  WipeBuffers();
}

void DuplexEngine::WipeBuffers() noexcept {
  if (!in_.empty()) ::explicit_bzero(in_.data(), in_.size() * sizeof(float));
  if (!out_.empty()) ::explicit_bzero(out_.data(), out_.size() * sizeof(float));
  capture_.Wipe();
  playback_.Wipe();
}

DuplexCounters DuplexEngine::counters() const noexcept {
  DuplexCounters c;
  c.periods = periods_.load(std::memory_order_relaxed);
  c.frames_captured = frames_captured_.load(std::memory_order_relaxed);
  c.frames_played = frames_played_.load(std::memory_order_relaxed);
  c.xruns_capture = xruns_capture_.load(std::memory_order_relaxed);
  c.xruns_playback = xruns_playback_.load(std::memory_order_relaxed);
  c.restarts = restarts_.load(std::memory_order_relaxed);
  c.deadline_misses = deadline_misses_.load(std::memory_order_relaxed);
  c.clipped_samples = clipped_.load(std::memory_order_relaxed);
  c.events_dropped = events_dropped_.load(std::memory_order_relaxed);
  c.frames_trimmed = frames_trimmed_.load(std::memory_order_relaxed);
  c.paced = paced_.load(std::memory_order_relaxed);
  return c;
}

absl::Status DuplexEngine::Start() {
  if (thread_.joinable() || joined_) return absl::FailedPreconditionError("duplex: already started");
  if (config_.lock_memory) {
#if defined(GHOSTNV_ASAN)
    memory_note_ = "memory not locked (AddressSanitizer build: its shadow memory is too large)";
#else
    if (::mlockall(MCL_CURRENT | MCL_FUTURE) == 0) {
      memory_note_ = "memory locked (mlockall)";
    } else {
      const int err = errno;
      memory_note_ = absl::StrCat("memory not locked: mlockall failed: ", ::strerror(err),
                                  " (raise RLIMIT_MEMLOCK, e.g. 'ulimit -l unlimited')");
    }
#endif
  } else {
    memory_note_ = "memory not locked (not asked)";
  }
  running_.store(true, std::memory_order_release);
  thread_ = std::thread([this] { ThreadMain(); });
  while (!sched_done_.load(std::memory_order_acquire)) SleepNs(200000);
  const int r = sched_result_.load(std::memory_order_relaxed);
  if (config_.rt_priority <= 0) {
    rt_note_ = "normal scheduling (real-time priority not asked)";
  } else if (r == 0) {
    rt_note_ = absl::StrCat("SCHED_FIFO priority ", config_.rt_priority);
  } else {
    rt_note_ = absl::StrCat(
        "SCHED_FIFO not permitted (", ::strerror(r),
        "): running at normal priority, expect xruns under load; allow real-time scheduling "
        "(rtprio in /etc/security/limits.conf, the 'audio' group, or CAP_SYS_NICE)");
  }
  return absl::OkStatus();
}

void DuplexEngine::Push(const DuplexEvent& e) noexcept {
  if (!queue_->TryPush(e)) events_dropped_.fetch_add(1, std::memory_order_relaxed);
}

void DuplexEngine::ThreadMain() noexcept {
  int r = 0;
  if (config_.rt_priority > 0) {
    sched_param sp{};
    sp.sched_priority = config_.rt_priority;
    r = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
  }
  PrefaultStack();
  sched_result_.store(r, std::memory_order_relaxed);
  sched_done_.store(true, std::memory_order_release);

  const DuplexEnd end = Loop();
  capture_.Drop();
  playback_.Drop();
  DuplexEvent e;
  e.type = DuplexEventType::kEnded;
  e.code = static_cast<int32_t>(end);
  e.stream = static_cast<uint8_t>(end_stream_);
  e.value = end_error_;
  e.frame = frames_captured_.load(std::memory_order_relaxed);
  Push(e);
  result_.end = end;
  running_.store(false, std::memory_order_release);
}

int DuplexEngine::StartStreams(int* stream, bool* capture_ended) noexcept {
  const size_t n = static_cast<size_t>(period_);
  capture_.Drop();
  playback_.Drop();
  int err;
  if ((err = playback_.Prepare()) < 0) return *stream = 1, err;
  if ((err = capture_.Prepare()) < 0) return *stream = 0, err;
  processor_->OnStart(restarts_.load(std::memory_order_relaxed));
  if (prefill_ > 0) {
    const snd_pcm_sframes_t w = playback_.WriteSilence(static_cast<size_t>(prefill_));
    if (w < 0) return *stream = 1, static_cast<int>(w);
  }
  if ((err = capture_.Start()) < 0) return *stream = 0, err;
  const int64_t deadline = NowNs() + int64_t{config_.stall_timeout_ms} * 1000000;
  const int wait_ms = std::max(10, 4 * period_ * 1000 / config_.rate);
  for (;;) {
    const snd_pcm_sframes_t a = capture_.Avail();
    if (a < 0) return *stream = 0, static_cast<int>(a);
    if (static_cast<size_t>(a) >= n) break;
    if (stop_.load(std::memory_order_relaxed)) break;
    const int w = capture_.Wait(wait_ms);
    if (w < 0) return *stream = 0, w;
    if (NowNs() > deadline) {
      *capture_ended = true;
      return *stream = 0, -ETIMEDOUT;
    }
  }
  if ((err = playback_.Start()) < 0) return *stream = 1, err;
  return 0;
}

DuplexEnd DuplexEngine::Loop() noexcept {
  const size_t n = static_cast<size_t>(period_);
  const int64_t period_ns = int64_t{period_} * 1000000000 / config_.rate;
  const int64_t stall_ns = int64_t{config_.stall_timeout_ms} * 1000000;
  const int wait_ms = std::max(10, 4 * period_ * 1000 / config_.rate);
  uint64_t clipped = 0;

  // Settling after each (re)start (see DuplexConfig::trim_latency).
  constexpr int kSettlePeriods = 16;
  int64_t written = 0;           // frames written to playback since the (re)start, prefill included
  int settle_periods = -1;       // periods counted since playback began to move; -1 = waiting
  int64_t settle_t0 = 0, settle_max = -1, discard = 0;
  bool settling = true;

  // Starts (or restarts) both streams; false ends the loop with *end set.
  DuplexEnd end = DuplexEnd::kStopRequested;
  auto start = [&]() -> bool {
    int stream = 0;
    bool ended = false;
    const int err = StartStreams(&stream, &ended);
    written = prefill_;
    settle_periods = -1;
    settle_max = -1;
    discard = 0;
    settling = true;
    if (err == 0) return true;
    end_stream_ = stream;
    end_error_ = err;
    end = ended ? DuplexEnd::kCaptureEnded
                : (err == -EPIPE || err == -ESTRPIPE) ? DuplexEnd::kStartFailed
                : stream == 0 ? DuplexEnd::kCaptureFailed
                              : DuplexEnd::kPlaybackFailed;
    return false;
  };
  int in_a_row[2] = {0, 0};  // xruns per stream since its last successful transfer
  // Handles an error on `stream`: xruns are recovered (true), anything else ends (false).
  auto recover = [&](int stream, int err) -> bool {
    if (!IsXrun(err)) {
      end_stream_ = stream;
      end_error_ = err;
      end = stream == 0 ? DuplexEnd::kCaptureFailed : DuplexEnd::kPlaybackFailed;
      return false;
    }
    (stream == 0 ? xruns_capture_ : xruns_playback_).fetch_add(1, std::memory_order_relaxed);
    // A stream that xruns again and again without moving a single period in between is not
    // overloaded: it is gone (a sound server stream destroyed under us keeps saying -EPIPE).
    if (++in_a_row[stream] >= kMaxXrunsInARow) {
      end_stream_ = stream;
      end_error_ = err;
      xrun_storm_ = true;
      end = stream == 0 ? DuplexEnd::kCaptureFailed : DuplexEnd::kPlaybackFailed;
      return false;
    }
    DuplexEvent x;
    x.type = DuplexEventType::kXrun;
    x.stream = static_cast<uint8_t>(stream);
    x.code = err;
    x.frame = frames_captured_.load(std::memory_order_relaxed);
    Push(x);
    if (err == -ESTRPIPE) {
      AlsaPcm& pcm = stream == 0 ? capture_ : playback_;
      const int64_t give_up = NowNs() + stall_ns;
      int r;
      while ((r = pcm.Resume()) == -EAGAIN && NowNs() < give_up) SleepNs(1000000);
      if (r < 0) {
        end_stream_ = stream;
        end_error_ = r;
        end = stream == 0 ? DuplexEnd::kCaptureFailed : DuplexEnd::kPlaybackFailed;
        return false;
      }
    }
    const int64_t restarts = restarts_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (!start()) return false;
    DuplexEvent rec;
    rec.type = DuplexEventType::kRecovered;
    rec.value = restarts;
    rec.frame = x.frame;
    Push(rec);
    return true;
  };

  if (!start()) return end;
  {
    DuplexEvent s;
    s.type = DuplexEventType::kStarted;
    Push(s);
  }
  int64_t last_data = NowNs();
  while (!stop_.load(std::memory_order_relaxed)) {
    const int64_t captured = frames_captured_.load(std::memory_order_relaxed);
    if (config_.max_frames > 0 && captured >= config_.max_frames) return DuplexEnd::kFrameLimit;

    // 1. A captured period.
    const snd_pcm_sframes_t avail = capture_.Avail();
    if (avail < 0) {
      if (!recover(0, static_cast<int>(avail))) return end;
      last_data = NowNs();
      continue;
    }
    if (static_cast<size_t>(avail) < n) {
      if (NowNs() - last_data > stall_ns) {
        end_stream_ = 0;
        end_error_ = -ETIMEDOUT;
        return DuplexEnd::kCaptureEnded;
      }
      const int w = capture_.Wait(wait_ms);
      if (w < 0 && !recover(0, w)) return end;
      if (w < 0) last_data = NowNs();
      continue;
    }
    const int64_t t0 = NowNs();
    last_data = t0;
    snd_pcm_sframes_t dc = 0, dp = 0;
    const bool delays = capture_.Delay(&dc) == 0 && playback_.Delay(&dp) == 0;
    const snd_pcm_sframes_t play_avail = playback_.Avail();
    const int64_t queued =
        play_avail >= 0 ? avail + (playback_.params().buffer_frames - play_avail) : -1;
    const snd_pcm_sframes_t r = capture_.ReadFloat(in_.data(), n);
    if (r < 0) {
      if (!recover(0, static_cast<int>(r))) return end;
      continue;
    }
    frames_captured_.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
    in_a_row[0] = 0;
    if (discard >= static_cast<int64_t>(n)) {  // trimming a late-start excess: drop this period
      discard -= static_cast<int64_t>(n);
      frames_trimmed_.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
      if (discard < static_cast<int64_t>(n)) {  // done: measure again (another kSettled)
        discard = 0;
        settling = true;
        settle_periods = -1;
        settle_max = -1;
      }
      continue;
    }

    // 2. Process.
    const int64_t t1 = NowNs();
    processor_->Process(in_.data(), out_.data(), n);
    // Test hook: a stalled processing thread (counted as processing time).
    if (config_.debug_stall_ms > 0 && config_.debug_stall_every > 0 &&
        (periods_.load(std::memory_order_relaxed) + 1) % config_.debug_stall_every == 0) {
      SleepNs(int64_t{config_.debug_stall_ms} * 1000000);
    }
    const int64_t t2 = NowNs();

    // 3. Play it.
    bool restarted = false;
    int64_t waited = 0;  // time spent waiting for playback space: the devices', not ours
    for (;;) {
      const snd_pcm_sframes_t pa = playback_.Avail();
      if (pa < 0) {
        if (!recover(1, static_cast<int>(pa))) return end;
        restarted = true;
        break;
      }
      if (static_cast<size_t>(pa) >= n) break;
      const int64_t tw = NowNs();
      const int w = playback_.Wait(wait_ms);
      waited += NowNs() - tw;
      if (w < 0) {
        if (!recover(1, w)) return end;
        restarted = true;
        break;
      }
      if (w == 0 && NowNs() - t2 > stall_ns) {
        end_stream_ = 1;
        end_error_ = -ETIMEDOUT;
        return DuplexEnd::kPlaybackFailed;
      }
    }
    if (!restarted) {
      const snd_pcm_sframes_t w = playback_.WriteFloat(out_.data(), n, &clipped);
      if (w < 0) {
        if (!recover(1, static_cast<int>(w))) return end;
      } else {
        frames_played_.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
        written += static_cast<int64_t>(n);
        in_a_row[1] = 0;
      }
    }
    if (settling && !restarted && queued >= 0) {
      // Playback has begun to move once it consumed anything of what we wrote.
      const int64_t play_queued = queued - avail;
      if (settle_periods < 0 && written - static_cast<int64_t>(n) - play_queued > 0) {
        settle_periods = 0;
        settle_t0 = NowNs();
      }
      if (settle_periods >= 0) {
        settle_max = std::max(settle_max, queued);
        if (++settle_periods == kSettlePeriods) {
          settling = false;
          const int64_t expected_ns = period_ns * kSettlePeriods;
          const bool paced = (NowNs() - settle_t0) * 2 > expected_ns;
          paced_.store(paced ? 1 : 0, std::memory_order_relaxed);
          const int64_t excess = settle_max - (static_cast<int64_t>(n) + prefill_);
          if (paced && config_.trim_latency && excess >= static_cast<int64_t>(n))
            discard = excess / static_cast<int64_t>(n) * static_cast<int64_t>(n);
          DuplexEvent se;
          se.type = DuplexEventType::kSettled;
          se.frame = captured + static_cast<int64_t>(n);
          se.value = discard;
          se.value2 = paced ? 1 : 0;
          se.value4 = settle_max;
          Push(se);
        }
      }
    }
    // A period lost to a playback xrun is still counted as processed: the processor saw it.
    const int64_t t3 = NowNs();
    periods_.fetch_add(1, std::memory_order_relaxed);
    const int64_t cycle = t3 - t0 - waited;
    if (cycle > period_ns) deadline_misses_.fetch_add(1, std::memory_order_relaxed);
    clipped_.store(static_cast<int64_t>(clipped), std::memory_order_relaxed);
    DuplexEvent pe;
    pe.type = DuplexEventType::kPeriod;
    pe.frame = captured + static_cast<int64_t>(n);
    pe.value = t2 - t1;
    pe.value2 = cycle;
    pe.value3 = delays ? static_cast<int64_t>(dc + dp) : -1;
    pe.value4 = queued;
    Push(pe);
  }
  return DuplexEnd::kStopRequested;
}

DuplexResult DuplexEngine::Join() {
  if (thread_.joinable()) thread_.join();
  joined_ = true;
  WipeBuffers();
  DuplexResult r = result_;
  r.counters = counters();
  r.error = end_error_;
  r.failed_stream = end_stream_ == 0 ? PcmDirection::kCapture : PcmDirection::kPlayback;
  const std::string& dev = end_stream_ == 0 ? config_.capture_device : config_.playback_device;
  const char* dir = end_stream_ == 0 ? "capture" : "playback";
  switch (r.end) {
    case DuplexEnd::kStopRequested:
      r.message = "stopped";
      break;
    case DuplexEnd::kFrameLimit:
      r.message = absl::StrCat("duration reached (", r.counters.frames_captured, " frames)");
      break;
    case DuplexEnd::kCaptureEnded:
      r.message = absl::StrCat("capture '", config_.capture_device, "' delivered no audio for ",
                               config_.stall_timeout_ms, " ms: the source ended or stalled");
      break;
    case DuplexEnd::kCaptureFailed:
    case DuplexEnd::kPlaybackFailed:
    case DuplexEnd::kStartFailed: {
      const bool gone = end_error_ == -ENODEV || end_error_ == -EBADFD || end_error_ == -ENXIO ||
                        end_error_ == -ENOENT || end_error_ == -ESHUTDOWN;
      r.message = absl::StrCat(
          dir, " '", dev, "' ",
          r.end == DuplexEnd::kStartFailed ? "could not be restarted" : "failed", ": ",
          end_error_ == -ETIMEDOUT ? "no progress for the stall timeout" : snd_strerror(end_error_),
          gone ? " (the device disappeared)" : "",
          xrun_storm_ ? absl::StrCat(" (", kMaxXrunsInARow,
                                     " xruns in a row right after restarting: the device no "
                                     "longer runs)")
                      : std::string());
      break;
    }
  }
  return r;
}

}  // namespace ghostnv::audio
