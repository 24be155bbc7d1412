// audio/alsa_pcm.cc — ALSA PCM negotiation and float transfers (see alsa_pcm.h).
#include "audio/alsa_pcm.h"

#include <string.h>

#include <cerrno>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ghostnv::audio {
namespace {

snd_pcm_format_t ToAlsa(PcmFormat f) {
  switch (f) {
    case PcmFormat::kS16: return SND_PCM_FORMAT_S16_LE;
    case PcmFormat::kS24_3: return SND_PCM_FORMAT_S24_3LE;
    case PcmFormat::kS24: return SND_PCM_FORMAT_S24_LE;
    case PcmFormat::kS32: return SND_PCM_FORMAT_S32_LE;
    case PcmFormat::kFloat: return SND_PCM_FORMAT_FLOAT_LE;
  }
  return SND_PCM_FORMAT_UNKNOWN;
}

// Preference when the caller names no format: the widest first (no quantisation on the way in).
constexpr PcmFormat kPreference[] = {PcmFormat::kFloat, PcmFormat::kS32, PcmFormat::kS24_3,
                                     PcmFormat::kS24, PcmFormat::kS16};

struct HwParamsFree {
  void operator()(snd_pcm_hw_params_t* p) const { snd_pcm_hw_params_free(p); }
};
struct SwParamsFree {
  void operator()(snd_pcm_sw_params_t* p) const { snd_pcm_sw_params_free(p); }
};

void SecureZero(void* p, size_t n) {
  if (p != nullptr && n > 0) ::explicit_bzero(p, n);
}

}  // namespace

const char* PcmDirectionName(PcmDirection d) {
  return d == PcmDirection::kCapture ? "capture" : "playback";
}

std::string PcmParams::Describe() const {
  return absl::StrFormat("%s %s %d Hz %d ch, period %d, buffer %d (%g periods)",
                         access == PcmAccess::kMmap ? "mmap" : "rw", PcmFormatName(format), rate,
                         channels, period_frames, buffer_frames,
                         period_frames > 0 ? static_cast<double>(buffer_frames) / period_frames
                                           : 0.0);
}

absl::StatusOr<AlsaPcm> AlsaPcm::Open(const PcmRequest& req) {
  const std::string who =
      absl::StrCat(PcmDirectionName(req.direction), " '", req.device, "'");
  if (req.device.empty()) return absl::InvalidArgumentError(absl::StrCat(who, ": no device named"));
  if (req.channels < 1 || req.channels > 8)
    return absl::InvalidArgumentError(absl::StrCat(who, ": channels must be 1..8"));
  if (req.period_frames < 1 || req.periods < 2)
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": period must be >= 1 frame and periods >= 2"));

  AlsaPcm out;
  out.device_ = req.device;
  out.direction_ = req.direction;
  const snd_pcm_stream_t stream =
      req.direction == PcmDirection::kCapture ? SND_PCM_STREAM_CAPTURE : SND_PCM_STREAM_PLAYBACK;
  int err = snd_pcm_open(&out.pcm_, req.device.c_str(), stream, 0);
  if (err < 0) {
    out.pcm_ = nullptr;
    return absl::UnavailableError(absl::StrCat(who, ": cannot open: ", snd_strerror(err)));
  }
  snd_pcm_t* pcm = out.pcm_;
  auto fail = [&](absl::string_view step, int e) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": ", step, ": ", snd_strerror(e)));
  };

  snd_pcm_hw_params_t* hw_raw = nullptr;
  if ((err = snd_pcm_hw_params_malloc(&hw_raw)) < 0) return fail("hw_params_malloc", err);
  std::unique_ptr<snd_pcm_hw_params_t, HwParamsFree> hw(hw_raw);
  if ((err = snd_pcm_hw_params_any(pcm, hw.get())) < 0)
    return fail("no configuration available", err);

  // Access: mmap interleaved, or RW interleaved when the device has no mmap.
  std::string notes;
  if (!req.force_rw &&
      snd_pcm_hw_params_test_access(pcm, hw.get(), SND_PCM_ACCESS_MMAP_INTERLEAVED) == 0) {
    snd_pcm_hw_params_set_access(pcm, hw.get(), SND_PCM_ACCESS_MMAP_INTERLEAVED);
    out.params_.access = PcmAccess::kMmap;
  } else if (snd_pcm_hw_params_test_access(pcm, hw.get(), SND_PCM_ACCESS_RW_INTERLEAVED) == 0) {
    snd_pcm_hw_params_set_access(pcm, hw.get(), SND_PCM_ACCESS_RW_INTERLEAVED);
    out.params_.access = PcmAccess::kReadWrite;
    absl::StrAppend(&notes, who,
                    req.force_rw ? ": read/write access forced"
                                 : ": the device offers no mmap access; using read/write access "
                                   "(one more copy per period)",
                    "\n");
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": offers neither mmap nor read/write interleaved access"));
  }

  // Format.
  auto supported_formats = [&]() {
    std::string list;
    for (PcmFormat f : kAllPcmFormats) {
      if (snd_pcm_hw_params_test_format(pcm, hw.get(), ToAlsa(f)) == 0)
        absl::StrAppend(&list, list.empty() ? "" : ", ", PcmFormatName(f));
    }
    return list.empty() ? std::string("none of S16_LE, S24_3LE, S24_LE, S32_LE, FLOAT_LE") : list;
  };
  if (req.format) {
    if (snd_pcm_hw_params_set_format(pcm, hw.get(), ToAlsa(*req.format)) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": format ", PcmFormatName(*req.format),
                                                     " not supported (device offers ",
                                                     supported_formats(), ")"));
    }
    out.params_.format = *req.format;
  } else {
    bool found = false;
    for (PcmFormat f : kPreference) {
      if (snd_pcm_hw_params_test_format(pcm, hw.get(), ToAlsa(f)) == 0) {
        snd_pcm_hw_params_set_format(pcm, hw.get(), ToAlsa(f));
        out.params_.format = f;
        found = true;
        break;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(
          absl::StrCat(who, ": no supported sample format (device offers ", supported_formats(),
                       ")"));
    }
  }

  // Channels and rate: exact.
  if (snd_pcm_hw_params_set_channels(pcm, hw.get(), static_cast<unsigned>(req.channels)) < 0) {
    unsigned lo = 0, hi = 0;
    snd_pcm_hw_params_get_channels_min(hw.get(), &lo);
    snd_pcm_hw_params_get_channels_max(hw.get(), &hi);
    return absl::InvalidArgumentError(absl::StrCat(who, ": ", req.channels,
                                                   " channels not supported (device offers ", lo,
                                                   "..", hi, ")"));
  }
  if (snd_pcm_hw_params_set_rate(pcm, hw.get(), static_cast<unsigned>(req.rate), 0) < 0) {
    unsigned lo = 0, hi = 0;
    int dir = 0;
    snd_pcm_hw_params_get_rate_min(hw.get(), &lo, &dir);
    snd_pcm_hw_params_get_rate_max(hw.get(), &hi, &dir);
    return absl::InvalidArgumentError(absl::StrCat(who, ": rate ", req.rate,
                                                   " Hz not supported (device offers ", lo, "..",
                                                   hi, " Hz)"));
  }

  // Period and buffer: nearest allowed.
  snd_pcm_uframes_t period = static_cast<snd_pcm_uframes_t>(req.period_frames);
  int dir = 0;
  if ((err = snd_pcm_hw_params_set_period_size_near(pcm, hw.get(), &period, &dir)) < 0)
    return fail(absl::StrCat("period of ", req.period_frames, " frames"), err);
  snd_pcm_uframes_t buffer = period * static_cast<snd_pcm_uframes_t>(req.periods);
  if ((err = snd_pcm_hw_params_set_buffer_size_near(pcm, hw.get(), &buffer)) < 0)
    return fail(absl::StrCat("buffer of ", buffer, " frames"), err);
  if ((err = snd_pcm_hw_params(pcm, hw.get())) < 0) return fail("applying hw params", err);
  snd_pcm_hw_params_get_period_size(hw.get(), &period, &dir);
  snd_pcm_hw_params_get_buffer_size(hw.get(), &buffer);
  out.params_.rate = req.rate;
  out.params_.channels = req.channels;
  out.params_.period_frames = static_cast<int>(period);
  out.params_.buffer_frames = static_cast<int>(buffer);
  if (static_cast<int>(period) != req.period_frames) {
    absl::StrAppend(&notes, who, ": period ", req.period_frames, " requested, the device gave ",
                    period, "\n");
  }
  if (buffer != period * static_cast<snd_pcm_uframes_t>(req.periods)) {
    absl::StrAppend(&notes, who, ": buffer of ", req.periods, " periods requested, the device gave ",
                    buffer, " frames\n");
  }
  if (!req.format) {
    absl::StrAppend(&notes, who, ": format ", PcmFormatName(out.params_.format),
                    " chosen (the widest the device offers)\n");
  }

  // Software params: we start the stream ourselves; wake up per period; xrun when the ring is
  // fully over/under-run.
  snd_pcm_sw_params_t* sw_raw = nullptr;
  if ((err = snd_pcm_sw_params_malloc(&sw_raw)) < 0) return fail("sw_params_malloc", err);
  std::unique_ptr<snd_pcm_sw_params_t, SwParamsFree> sw(sw_raw);
  if ((err = snd_pcm_sw_params_current(pcm, sw.get())) < 0) return fail("sw_params_current", err);
  snd_pcm_uframes_t boundary = 0;
  snd_pcm_sw_params_get_boundary(sw.get(), &boundary);
  if ((err = snd_pcm_sw_params_set_start_threshold(pcm, sw.get(), boundary)) < 0)
    return fail("start threshold", err);
  if ((err = snd_pcm_sw_params_set_stop_threshold(pcm, sw.get(), buffer)) < 0)
    return fail("stop threshold", err);
  if ((err = snd_pcm_sw_params_set_avail_min(pcm, sw.get(), period)) < 0)
    return fail("avail_min", err);
  if ((err = snd_pcm_sw_params(pcm, sw.get())) < 0) return fail("applying sw params", err);

  out.frame_bytes_ = static_cast<size_t>(PcmBytes(out.params_.format)) * req.channels;
  if (out.params_.access == PcmAccess::kReadWrite) out.scratch_.assign(buffer * out.frame_bytes_, 0);
  if (!notes.empty() && notes.back() == '\n') notes.pop_back();
  out.note_ = std::move(notes);
  return out;
}

AlsaPcm::AlsaPcm(AlsaPcm&& o) noexcept
    : pcm_(std::exchange(o.pcm_, nullptr)),
      device_(std::move(o.device_)),
      direction_(o.direction_),
      params_(o.params_),
      note_(std::move(o.note_)),
      frame_bytes_(o.frame_bytes_),
      scratch_(std::move(o.scratch_)) {}

AlsaPcm& AlsaPcm::operator=(AlsaPcm&& o) noexcept {
  if (this != &o) {
    Close();
    pcm_ = std::exchange(o.pcm_, nullptr);
    device_ = std::move(o.device_);
    direction_ = o.direction_;
    params_ = o.params_;
    note_ = std::move(o.note_);
    frame_bytes_ = o.frame_bytes_;
    scratch_ = std::move(o.scratch_);
  }
  return *this;
}

AlsaPcm::~AlsaPcm() { Close(); }

void AlsaPcm::Close() noexcept {
  Wipe();
  if (pcm_ != nullptr) {
    snd_pcm_drop(pcm_);
    snd_pcm_close(pcm_);
    pcm_ = nullptr;
  }
}

void AlsaPcm::Wipe() noexcept { SecureZero(scratch_.data(), scratch_.size()); }

int AlsaPcm::Prepare() noexcept { return snd_pcm_prepare(pcm_); }
int AlsaPcm::Start() noexcept { return snd_pcm_start(pcm_); }
int AlsaPcm::Drop() noexcept { return snd_pcm_drop(pcm_); }
snd_pcm_sframes_t AlsaPcm::Avail() noexcept { return snd_pcm_avail_update(pcm_); }
int AlsaPcm::Wait(int timeout_ms) noexcept { return snd_pcm_wait(pcm_, timeout_ms); }
int AlsaPcm::Delay(snd_pcm_sframes_t* frames) noexcept { return snd_pcm_delay(pcm_, frames); }
snd_pcm_state_t AlsaPcm::State() noexcept { return snd_pcm_state(pcm_); }

int AlsaPcm::Resume() noexcept {
  int err = snd_pcm_resume(pcm_);
  if (err == -EAGAIN) return err;  // still suspended; call again later
  if (err < 0) err = snd_pcm_prepare(pcm_);
  return err;
}

template <typename Fn>
snd_pcm_sframes_t AlsaPcm::Transfer(size_t frames, Fn&& fn) noexcept {
  if (params_.access == PcmAccess::kMmap) {
    size_t done = 0;
    while (done < frames) {
      const snd_pcm_channel_area_t* areas = nullptr;
      snd_pcm_uframes_t offset = 0, n = frames - done;
      int err = snd_pcm_mmap_begin(pcm_, &areas, &offset, &n);
      if (err < 0) return err;
      if (n == 0) return -EAGAIN;  // nothing available although the caller checked Avail()
      // Interleaved: channel c of frame f at addr + first/8 + f * step/8 + c * sample bytes.
      uint8_t* base = static_cast<uint8_t*>(areas[0].addr) + areas[0].first / 8 +
                      offset * (areas[0].step / 8);
      fn(base, static_cast<size_t>(areas[0].step / 8), done, static_cast<size_t>(n));
      const snd_pcm_sframes_t c = snd_pcm_mmap_commit(pcm_, offset, n);
      if (c < 0) return c;
      if (static_cast<snd_pcm_uframes_t>(c) != n) return -EPIPE;
      done += n;
    }
    return static_cast<snd_pcm_sframes_t>(frames);
  }
  // RW access: convert through the scratch buffer.
  size_t done = 0;
  const size_t cap = scratch_.size() / frame_bytes_;
  while (done < frames) {
    const size_t n = std::min(frames - done, cap);
    if (direction_ == PcmDirection::kPlayback) fn(scratch_.data(), frame_bytes_, done, n);
    size_t moved = 0;
    while (moved < n) {
      snd_pcm_sframes_t r;
      uint8_t* p = scratch_.data() + moved * frame_bytes_;
      if (direction_ == PcmDirection::kPlayback)
        r = snd_pcm_writei(pcm_, p, n - moved);
      else
        r = snd_pcm_readi(pcm_, p, n - moved);
      if (r < 0) return r;
      if (r == 0) return -EAGAIN;
      moved += static_cast<size_t>(r);
    }
    if (direction_ == PcmDirection::kCapture) fn(scratch_.data(), frame_bytes_, done, n);
    done += n;
  }
  return static_cast<snd_pcm_sframes_t>(frames);
}

snd_pcm_sframes_t AlsaPcm::ReadFloat(float* dst, size_t frames) noexcept {
  const size_t ch = static_cast<size_t>(params_.channels);
  const PcmFormat f = params_.format;
  return Transfer(frames, [&](uint8_t* bytes, size_t stride, size_t at, size_t n) {
    DecodeSamples(f, bytes, stride, dst + at * ch, ch, ch, n);
  });
}

snd_pcm_sframes_t AlsaPcm::WriteFloat(const float* src, size_t frames,
                                      uint64_t* clipped) noexcept {
  const size_t ch = static_cast<size_t>(params_.channels);
  const PcmFormat f = params_.format;
  return Transfer(frames, [&](uint8_t* bytes, size_t stride, size_t at, size_t n) {
    EncodeSamples(f, src + at * ch, ch, bytes, stride, ch, n, clipped);
  });
}

snd_pcm_sframes_t AlsaPcm::WriteSilence(size_t frames) noexcept {
  const size_t ch = static_cast<size_t>(params_.channels);
  const PcmFormat f = params_.format;
  return Transfer(frames, [&](uint8_t* bytes, size_t stride, size_t, size_t n) {
    SilenceSamples(f, bytes, stride, ch, n);
  });
}

}  // namespace ghostnv::audio
