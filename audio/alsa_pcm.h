// audio/alsa_pcm.h — one ALSA PCM (capture or playback), negotiated and moved in float frames.
//
// AlsaPcm::Open() opens a PCM by name, negotiates access, format, rate, channels, period and
// buffer size with the device, and allocates everything later calls need. It asks for
// SND_PCM_ACCESS_MMAP_INTERLEAVED and moves data with snd_pcm_mmap_begin/commit; only when the
// device offers no mmap access at all does it fall back to RW interleaved access
// (snd_pcm_readi/writei through a scratch buffer allocated here) and says so in note().
// Format: the requested one, or with none requested the first of FLOAT_LE, S32_LE, S24_3LE,
// S24_LE, S16_LE that the device accepts. Rate and channels must be exactly available; the period
// and buffer are taken as near the request as the device allows, and every difference from the
// request is written in note(). Automatic start is disabled (the caller starts the stream:
// capture first, see audio/alsa_duplex.h); avail_min is one period.
//
//   PcmRequest req{.device = "hw:1,0", .direction = PcmDirection::kCapture,
//                  .rate = 48000, .channels = 1, .period_frames = 64, .periods = 2};
//   absl::StatusOr<AlsaPcm> cap = AlsaPcm::Open(req);     // setup path
//   if (!cap.ok()) return cap.status();    // "capture 'hw:1,0': rate 44100 Hz not supported
//                                          //  (device offers 48000..48000 Hz)"
//   cap->Start();                                         // real-time thread from here on
//   if (cap->Avail() >= period) cap->ReadFloat(buf, period);
//
// Definitions: sample = one value of one channel; frame = one sample per channel; period = the
// number of frames between device interrupts/wake-ups (our processing block); buffer = the ring
// of `periods` periods the device and we share.
//
// Errors: Open() returns absl::Status with text naming the direction, the device and the failing
// step. The real-time calls return what alsa-lib returns: >= 0 on success, a negative errno
// (-EPIPE xrun, -ESTRPIPE suspended, -ENODEV/-EBADFD/-EIO device gone or failed, -EAGAIN).
//
// Thread-safety: Open(), the destructor and the accessors run on a setup/control thread; after
// that one thread at a time may use the real-time calls (the duplex engine's audio thread).
// Real-time calls (Prepare .. Delay) never allocate, lock (in our code) or log; what alsa-lib and
// its plugins do inside is theirs (hw devices: ioctls only).
#pragma once

#include <alsa/asoundlib.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "audio/alsa_format.h"

namespace ghostnv::audio {

enum class PcmDirection { kCapture, kPlayback };
enum class PcmAccess { kMmap, kReadWrite };

const char* PcmDirectionName(PcmDirection d);  // "capture" | "playback"

struct PcmRequest {
  std::string device;                       // an ALSA PCM name: "hw:1,0", "plughw:0", "pw_loop_cap"
  PcmDirection direction = PcmDirection::kCapture;
  std::optional<PcmFormat> format;          // none: the best the device offers (see above)
  int rate = 48000;                         // Hz, exact
  int channels = 1;                         // exact
  int period_frames = 256;                  // nearest the device allows
  int periods = 2;                          // buffer = periods * period, nearest allowed
  bool force_rw = false;                    // use RW access even when mmap is offered (tests)
};

// What the device agreed to.
struct PcmParams {
  PcmAccess access = PcmAccess::kMmap;
  PcmFormat format = PcmFormat::kS16;
  int rate = 0;
  int channels = 0;
  int period_frames = 0;
  int buffer_frames = 0;
  // "mmap S16_LE 48000 Hz 2 ch, period 64, buffer 128 (2 periods)"
  std::string Describe() const;
};

class AlsaPcm {
 public:
  static absl::StatusOr<AlsaPcm> Open(const PcmRequest& request);

  AlsaPcm() = default;
  AlsaPcm(AlsaPcm&& other) noexcept;
  AlsaPcm& operator=(AlsaPcm&& other) noexcept;
  AlsaPcm(const AlsaPcm&) = delete;
  AlsaPcm& operator=(const AlsaPcm&) = delete;
  ~AlsaPcm();  // closes the PCM and wipes the scratch buffer

  explicit operator bool() const { return pcm_ != nullptr; }
  const PcmParams& params() const { return params_; }
  const std::string& device() const { return device_; }
  PcmDirection direction() const { return direction_; }
  // Negotiation notes: RW fallback, period/buffer adjusted, format chosen; "" when exactly as
  // requested. One line per note.
  const std::string& note() const { return note_; }
  snd_pcm_t* handle() const { return pcm_; }

  // ---- real-time calls (one thread) ----
  int Prepare() noexcept;
  int Start() noexcept;
  int Drop() noexcept;
  // snd_pcm_avail_update(): frames ready to read (capture) or free to write (playback).
  snd_pcm_sframes_t Avail() noexcept;
  // snd_pcm_wait(): 1 ready, 0 timeout, < 0 error.
  int Wait(int timeout_ms) noexcept;
  // snd_pcm_delay() into *frames; 0 or a negative errno.
  int Delay(snd_pcm_sframes_t* frames) noexcept;
  snd_pcm_state_t State() noexcept;
  // Tries snd_pcm_resume() after -ESTRPIPE; falls back to Prepare().
  int Resume() noexcept;

  // Capture: reads exactly `frames` (<= Avail()) frames into `dst` (frames * channels interleaved
  // floats). Returns frames, or a negative errno (nothing partial is reported as success).
  snd_pcm_sframes_t ReadFloat(float* dst, size_t frames) noexcept;
  // Playback: writes exactly `frames` (<= Avail()) frames from `src`, quantised to the device
  // format; clipped samples are added to *clipped (may be null).
  snd_pcm_sframes_t WriteFloat(const float* src, size_t frames, uint64_t* clipped) noexcept;
  // Playback: writes `frames` frames of silence (the prefill).
  snd_pcm_sframes_t WriteSilence(size_t frames) noexcept;

  // Zeroes the RW scratch buffer (the device's own ring is released by close); control thread,
  // after the stream is stopped.
  void Wipe() noexcept;

 private:
  // Applies `fn(bytes, stride, frames)` to the next `frames` frames through mmap areas or the
  // RW scratch; fn converts into/out of the bytes.
  template <typename Fn>
  snd_pcm_sframes_t Transfer(size_t frames, Fn&& fn) noexcept;
  void Close() noexcept;

  snd_pcm_t* pcm_ = nullptr;
  std::string device_;
  PcmDirection direction_ = PcmDirection::kCapture;
  PcmParams params_;
  std::string note_;
  size_t frame_bytes_ = 0;
  std::vector<uint8_t> scratch_;  // RW access only: buffer_frames frames
};

}  // namespace ghostnv::audio
