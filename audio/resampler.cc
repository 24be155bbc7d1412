// audio/resampler.cc — libsoxr stream resampler with a push/pull front end.
#include "audio/resampler.h"

#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ghostnv::audio {
namespace {

soxr_t Soxr(void* p) { return static_cast<soxr_t>(p); }

}  // namespace

absl::StatusOr<std::unique_ptr<Resampler>> Resampler::Create(const ResamplerOptions& options) {
  if (options.in_rate <= 0 || options.out_rate <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("resampler: invalid rates ", options.in_rate,
                                                   " -> ", options.out_rate));
  }
  if (options.channels <= 0 || options.channels > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("resampler: invalid channel count ", options.channels));
  }
  if (options.max_push_frames == 0) {
    return absl::InvalidArgumentError("resampler: max_push_frames must be positive");
  }
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_S, SOXR_FLOAT32_S);
  // HQ = 20-bit precision, linear phase (so the delay compensation is exact), small roll-off.
  const soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, SOXR_LINEAR_PHASE);
  const soxr_runtime_spec_t rt = soxr_runtime_spec(1);  // no worker threads
  soxr_error_t err = nullptr;
  soxr_t s = soxr_create(options.in_rate, options.out_rate, static_cast<unsigned>(options.channels),
                         &err, &io, &q, &rt);
  if (s == nullptr || err != nullptr) {
    if (s) soxr_delete(s);
    return absl::InternalError(absl::StrCat("resampler: soxr_create(", options.in_rate, " -> ",
                                            options.out_rate, ") failed: ", soxr_strerror(err)));
  }
  return std::unique_ptr<Resampler>(new Resampler(options, s));
}

Resampler::Resampler(const ResamplerOptions& options, void* soxr)
    : options_(options),
      soxr_(soxr),
      queue_(options.max_push_frames * static_cast<size_t>(options.channels), 0.0f),
      in_ptrs_(static_cast<size_t>(options.channels), nullptr),
      out_ptrs_(static_cast<size_t>(options.channels), nullptr) {}

Resampler::~Resampler() { soxr_delete(Soxr(soxr_)); }

double Resampler::soxr_delay() const { return ::soxr_delay(Soxr(soxr_)); }

size_t Resampler::Push(const float* const* in, size_t frames) {
  if (ended_ || failed_ || frames == 0) return 0;
  const size_t cap = options_.max_push_frames;
  const size_t n = std::min(frames, cap - queued_);
  if (n == 0) return 0;
  const size_t channels = static_cast<size_t>(options_.channels);
  if (head_ + queued_ + n > cap) {  // compact: move the queued frames to the front
    for (size_t c = 0; c < channels; ++c) {
      float* q = queue_.data() + c * cap;
      std::memmove(q, q + head_, queued_ * sizeof(float));
    }
    head_ = 0;
  }
  for (size_t c = 0; c < channels; ++c) {
    std::memcpy(queue_.data() + c * cap + head_ + queued_, in[c], n * sizeof(float));
  }
  queued_ += n;
  return n;
}

size_t Resampler::Pull(float* const* out, size_t max_frames) {
  if (failed_) return 0;
  const size_t channels = static_cast<size_t>(options_.channels);
  const size_t cap = options_.max_push_frames;
  size_t made = 0;
  while (made < max_frames) {
    for (size_t c = 0; c < channels; ++c) {
      out_ptrs_[c] = out[c] + made;
      in_ptrs_[c] = queue_.data() + c * cap + head_;
    }
    size_t idone = 0, odone = 0;
    soxr_error_t err;
    if (queued_ == 0 && ended_) {
      err = soxr_process(Soxr(soxr_), nullptr, 0, nullptr, out_ptrs_.data(), max_frames - made,
                         &odone);
    } else {
      err = soxr_process(Soxr(soxr_), in_ptrs_.data(), queued_, &idone, out_ptrs_.data(),
                         max_frames - made, &odone);
    }
    if (err != nullptr) {
      failed_ = true;
      break;
    }
    head_ += idone;
    queued_ -= idone;
    if (queued_ == 0) head_ = 0;
    made += odone;
    if (idone == 0 && odone == 0) break;
  }
  return made;
}

void Resampler::EndOfStream() { ended_ = true; }

absl::StatusOr<std::vector<std::vector<float>>> ResampleAll(
    const std::vector<std::vector<float>>& in, int in_rate, int out_rate) {
  const int channels = static_cast<int>(in.size());
  if (channels == 0) return std::vector<std::vector<float>>{};
  const size_t n = in[0].size();
  for (const auto& ch : in) {
    if (ch.size() != n) return absl::InvalidArgumentError("ResampleAll: ragged channels");
  }
  const size_t want = static_cast<size_t>(
      std::llround(static_cast<double>(n) * out_rate / static_cast<double>(in_rate)));
  auto rs = Resampler::Create({in_rate, out_rate, channels, 8192});
  if (!rs.ok()) return rs.status();
  std::vector<std::vector<float>> out(static_cast<size_t>(channels));
  for (auto& ch : out) ch.reserve(want + 16);
  constexpr size_t kBlock = 4096;
  std::vector<std::vector<float>> buf(static_cast<size_t>(channels), std::vector<float>(kBlock));
  std::vector<float*> bptr(static_cast<size_t>(channels));
  std::vector<const float*> iptr(static_cast<size_t>(channels));
  for (int c = 0; c < channels; ++c) bptr[static_cast<size_t>(c)] = buf[static_cast<size_t>(c)].data();
  auto drain = [&] {
    for (;;) {
      const size_t got = (*rs)->Pull(bptr.data(), kBlock);
      for (int c = 0; c < channels; ++c) {
        auto& b = buf[static_cast<size_t>(c)];
        out[static_cast<size_t>(c)].insert(out[static_cast<size_t>(c)].end(), b.begin(),
                                           b.begin() + static_cast<std::ptrdiff_t>(got));
      }
      if (got < kBlock) break;
    }
  };
  size_t pos = 0;
  while (pos < n) {
    for (int c = 0; c < channels; ++c) iptr[static_cast<size_t>(c)] = in[static_cast<size_t>(c)].data() + pos;
    pos += (*rs)->Push(iptr.data(), n - pos);
    drain();
  }
  (*rs)->EndOfStream();
  drain();
  if ((*rs)->failed()) return absl::InternalError("ResampleAll: soxr failed");
  for (auto& ch : out) ch.resize(want, 0.0f);
  return out;
}

}  // namespace ghostnv::audio
