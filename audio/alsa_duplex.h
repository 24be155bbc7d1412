// audio/alsa_duplex.h — full-duplex ALSA capture -> process -> playback on one real-time thread.
//
// A DuplexEngine opens a capture and a playback PCM with the same rate, channel count and period
// (audio/alsa_pcm.h), and runs one audio thread that, per period: waits for a captured period,
// reads it (mmap) into interleaved floats, hands it to a PeriodProcessor, and writes the result
// to playback (mmap). Start order: prepare both, prefill playback with `prefill_periods` periods
// of silence, start capture, wait for its first period, then start playback. A captured frame
// therefore leaves the playback device
//     period (capture buffering) + processor latency + prefill (playback buffering)
// frames after it was captured (plus whatever the devices themselves add, see Delay()).
//
// The audio thread asks for SCHED_FIFO at `rt_priority` (when the process may; otherwise it runs
// at normal priority and rt_note() says why), the process memory is locked (mlockall) at Start()
// when `lock_memory`, and the loop never allocates, locks, logs or blocks on anything but the
// devices (snd_pcm_wait). Everything the control thread learns comes through a lock-free SPSC
// queue of Events (one per period with its timing, plus xruns, recoveries and the end) and a set
// of relaxed atomic counters.
//
// Xruns: an -EPIPE on either stream is counted (per stream), both streams are dropped, prepared,
// re-prefilled and restarted in the order above, so the capture-to-playback offset is the same
// after every recovery (the processor sees a continuous stream; the frames lost in the xrun are
// counted). -ESTRPIPE (suspend) is resumed the same way. Eight xruns of one stream in a row
// without a single period moved in between end the run as that stream's failure (a stream that
// was destroyed under us can report nothing but -EPIPE). Any other error ends the run with the
// failing stream and errno recorded (a device that disappears: -ENODEV, -EBADFD, -EIO, ...); a
// capture that delivers nothing for `stall_timeout_ms` ends the run as "capture ended". At the
// end, both PCMs are dropped and every buffer the engine owns is wiped (explicit_bzero).
//
//   class Denoise : public PeriodProcessor {
//     void Process(const float* in, float* out, size_t frames) noexcept override { ... }
//   };
//   Denoise proc;
//   DuplexConfig cfg;
//   cfg.capture.device = "hw:1";  cfg.playback.device = "hw:1";
//   cfg.rate = 48000; cfg.channels = 1; cfg.period_frames = 64; cfg.periods = 3;
//   auto engine = DuplexEngine::Create(cfg, &proc);          // opens + negotiates (setup path)
//   if (!engine.ok()) return engine.status();
//   (*engine)->Start();                                      // spawns the audio thread
//   DuplexEvent e;
//   while ((*engine)->Running()) { while ((*engine)->PopEvent(&e)) Show(e); Sleep(); }
//   DuplexResult r = (*engine)->Join();
//
// Thread contract: Create/Start/PopEvent/Join/~DuplexEngine on one control thread;
// RequestStop() and counters() from any thread (RequestStop is async-signal-safe: one atomic
// store). PeriodProcessor::Process() runs on the audio thread only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "audio/alsa_event_queue.h"
#include "audio/alsa_pcm.h"

namespace ghostnv::audio {

// The work done on each period. Called on the audio thread with `frames` interleaved frames
// (the period); must be real-time safe and must not keep the pointers.
class PeriodProcessor {
 public:
  virtual ~PeriodProcessor() = default;
  virtual void Process(const float* in, float* out, size_t frames) noexcept = 0;
  // Called on the audio thread before the streams are (re)started: `restarts` is 0 at the first
  // start, then the number of xrun recoveries so far. Default: nothing.
  virtual void OnStart(int64_t restarts) noexcept { (void)restarts; }
};

struct DuplexConfig {
  std::string capture_device;
  std::string playback_device;
  std::optional<PcmFormat> format;  // both devices; none: the best each offers
  int rate = 48000;
  int channels = 1;
  int period_frames = 256;
  int periods = 2;                  // device buffer, in periods
  int prefill_periods = 1;          // playback periods queued before start (1 .. periods - 1)
  int rt_priority = 70;             // SCHED_FIFO priority; 0 = do not ask
  bool lock_memory = true;          // mlockall(MCL_CURRENT | MCL_FUTURE) at Start()
  int64_t max_frames = 0;           // stop after capturing this many frames (0 = no limit)
  // After each (re)start, once playback runs, watch the ring occupancy for 16 periods; if the
  // devices are paced (real time) and hold whole periods more than capture period + prefill
  // (a sound server that starts playback late), discard that many captured periods once, so
  // the late start does not add latency for the rest of the run.
  bool trim_latency = true;
  int stall_timeout_ms = 2000;      // capture silent this long = "capture ended"
  bool force_rw = false;            // tests: RW access on both devices
  // Tests only: sleep `debug_stall_ms` right after Process() in periods debug_stall_every,
  // 2 * debug_stall_every, ... (a stalled processing thread: counted as processing time, a
  // deadline miss, and on a paced device a real xrun).
  int debug_stall_ms = 0;
  int64_t debug_stall_every = 0;
};

enum class DuplexEventType : uint8_t {
  kStarted,     // streams running (again); value = restarts so far
  kPeriod,      // one period done: value = processing ns, value2 = cycle ns (read + process +
                // write, not counting any wait for playback space),
                // value3 = snd_pcm_delay(capture) + snd_pcm_delay(playback) sampled at wake
                // (frames, -1 if unknown), value4 = frames actually queued in the two rings at
                // wake: capture avail + (playback buffer - playback avail)
  kXrun,        // stream = 0 capture / 1 playback; code = -EPIPE or -ESTRPIPE
  kRecovered,   // streams restarted after an xrun; value = restarts so far
  kSettled,     // 16 periods after a (re)start: value = frames trimmed (discarded captured
                // frames, 0 if none), value2 = 1 if the devices are paced, 0 if not (file/null
                // plugins run as fast as the CPU: their timing means nothing),
                // value4 = the ring occupancy before trimming
  kEnded,       // the loop ended: code = DuplexEnd, stream/value = failing stream/errno
};

enum class DuplexEnd : int32_t {
  kStopRequested = 0,
  kFrameLimit = 1,
  kCaptureEnded = 2,     // no capture data for stall_timeout_ms
  kCaptureFailed = 3,    // capture device error (disappeared, I/O error)
  kPlaybackFailed = 4,   // playback device error
  kStartFailed = 5,      // could not (re)start the streams
};
const char* DuplexEndName(DuplexEnd e);

struct DuplexEvent {
  DuplexEventType type = DuplexEventType::kPeriod;
  uint8_t stream = 0;
  int32_t code = 0;
  int64_t frame = 0;   // captured frames so far when the event happened
  int64_t value = 0;
  int64_t value2 = 0;
  int64_t value3 = 0;
  int64_t value4 = 0;
};

// Relaxed counters, readable from any thread (each exact, not mutually consistent).
struct DuplexCounters {
  int64_t periods = 0;
  int64_t frames_captured = 0;
  int64_t frames_played = 0;       // written to playback, prefill excluded
  int64_t xruns_capture = 0;
  int64_t xruns_playback = 0;
  int64_t restarts = 0;            // recoveries (both streams restarted)
  int64_t deadline_misses = 0;     // periods whose cycle (read + process + write) took longer
                                   // than one period
  int64_t clipped_samples = 0;
  int64_t events_dropped = 0;      // queue full (control thread too slow)
  int64_t frames_trimmed = 0;      // captured frames discarded to remove a late-start excess
  int paced = -1;                  // devices run in real time: 1 yes, 0 no, -1 not known yet
};

struct DuplexResult {
  DuplexEnd end = DuplexEnd::kStopRequested;
  PcmDirection failed_stream = PcmDirection::kCapture;  // for k*Failed
  int error = 0;                                        // negative errno for k*Failed
  std::string message;                                  // one line, for people
  DuplexCounters counters;
};

class DuplexEngine {
 public:
  static constexpr size_t kQueueCapacity = 16384;
  using Queue = SpscQueue<DuplexEvent, kQueueCapacity>;

  // Opens and configures both PCMs (capture first) and allocates every buffer.
  static absl::StatusOr<std::unique_ptr<DuplexEngine>> Create(const DuplexConfig& config,
                                                             PeriodProcessor* processor);
  ~DuplexEngine();  // stops and joins the thread if running; wipes buffers; closes the PCMs
  DuplexEngine(const DuplexEngine&) = delete;
  DuplexEngine& operator=(const DuplexEngine&) = delete;

  const PcmParams& capture_params() const { return capture_.params(); }
  const PcmParams& playback_params() const { return playback_.params(); }
  // Negotiation notes of both devices (RW fallback, adjusted period, ...), one per line.
  const std::string& notes() const { return notes_; }
  int period_frames() const { return period_; }
  int64_t prefill_frames() const { return prefill_; }

  // Locks memory (if asked), spawns the audio thread and waits until it has set its scheduling.
  absl::Status Start();
  // "SCHED_FIFO priority 70" or why not; valid after Start().
  const std::string& rt_note() const { return rt_note_; }
  const std::string& memory_note() const { return memory_note_; }

  // Any thread, async-signal-safe.
  void RequestStop() noexcept { stop_.store(true, std::memory_order_relaxed); }
  bool Running() const noexcept { return running_.load(std::memory_order_acquire); }
  // Control thread: the next event, false when none is queued.
  bool PopEvent(DuplexEvent* e) noexcept { return queue_->TryPop(e); }
  DuplexCounters counters() const noexcept;
  // Control thread: waits for the audio thread to end, wipes the buffers, returns how it ended.
  DuplexResult Join();

 private:
  DuplexEngine() = default;
  void ThreadMain() noexcept;
  // The loop proper; returns how it ended (error details in end_stream_/end_error_).
  DuplexEnd Loop() noexcept;
  // Drops, prepares, prefills and starts both streams (capture first). 0 or negative errno;
  // *stream gets the failing one.
  int StartStreams(int* stream, bool* capture_ended) noexcept;
  void Push(const DuplexEvent& e) noexcept;
  void WipeBuffers() noexcept;

  DuplexConfig config_;
  PeriodProcessor* processor_ = nullptr;
  AlsaPcm capture_, playback_;
  std::string notes_, rt_note_, memory_note_;
  int period_ = 0;
  int64_t prefill_ = 0;
  std::vector<float> in_, out_;
  std::unique_ptr<Queue> queue_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, running_{false}, sched_done_{false};
  std::atomic<int> sched_result_{0};
  bool joined_ = false;
  bool xrun_storm_ = false;
  static constexpr int kMaxXrunsInARow = 8;
  DuplexResult result_;
  int end_stream_ = 0, end_error_ = 0;

  std::atomic<int64_t> periods_{0}, frames_captured_{0}, frames_played_{0}, xruns_capture_{0},
      xruns_playback_{0}, restarts_{0}, deadline_misses_{0}, clipped_{0}, events_dropped_{0},
      frames_trimmed_{0};
  std::atomic<int> paced_{-1};
};

}  // namespace ghostnv::audio
