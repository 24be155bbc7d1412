// audio/resampler.h — streaming sample-rate conversion (libsoxr, high quality, linear phase).
//
// A Resampler converts planar float audio from one rate to another in a stream. It is
// time-aligned: soxr compensates its own filter delay, so output sample k corresponds exactly to
// input time k * in_rate / out_rate (an impulse at input sample n comes out at n * ratio). The
// price is hold-back: early output appears only once enough input has arrived to compute it, so
// a Pull() may return fewer frames than the pushed input "is worth"; EndOfStream() releases the
// rest. After EndOfStream() the stream has produced round(total_in * out_rate / in_rate) frames.
//
//   auto rs = Resampler::Create({.in_rate = 44100, .out_rate = 48000, .channels = 1});
//   const float* in[1] = {block};
//   (*rs)->Push(in, n);                          // copies; at most max_push_frames() per call
//   float* out[1] = {buf};
//   while (size_t got = (*rs)->Pull(out, cap)) consume(buf, got);
//   (*rs)->EndOfStream();                        // then Pull until it returns 0
//
// Definitions: a frame is one sample per channel; buffers are planar (one pointer per channel).
//
// Memory and real-time use: Create() allocates the input queue and soxr's filters. Push() and
// Pull() do not allocate themselves, but soxr grows its internal FIFOs with realloc() while the
// stream warms up (the first blocks, and whenever a Pull asks for more output in one go than any
// earlier Pull). Once every buffer has reached its steady-state size (after a few hops of a
// stream that Pushes and Pulls with bounded sizes) soxr stops allocating. soxr takes no locks
// and does no I/O. The flush after EndOfStream() pads with zeros internally (may allocate).
//
// Thread-safety: one Resampler per thread at a time; distinct Resamplers are independent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"

namespace ghostnv::audio {

struct ResamplerOptions {
  int in_rate = 48000;
  int out_rate = 48000;
  int channels = 1;
  // Most frames one Push() accepts (the input queue's capacity).
  size_t max_push_frames = 4096;
};

class Resampler {
 public:
  // Errors: InvalidArgument for non-positive rates/channels/capacity; Internal if soxr fails.
  static absl::StatusOr<std::unique_ptr<Resampler>> Create(const ResamplerOptions& options);
  ~Resampler();
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;

  // Queues up to `frames` frames (one pointer per channel); returns how many were accepted
  // (fewer only when the queue is full: Pull, then push the rest). Ignored after EndOfStream().
  size_t Push(const float* const* in, size_t frames);

  // Produces up to `max_frames` output frames into `out` (one pointer per channel), consuming
  // queued input as needed. Returns fewer than max_frames only when everything computable from
  // the input so far has been delivered (the queue is then empty).
  size_t Pull(float* const* out, size_t max_frames);

  // No more input: the next Pulls drain the filter tail, then return 0.
  void EndOfStream();

  // Frames queued by Push and not yet consumed by soxr.
  size_t queued_frames() const { return queued_; }
  // soxr's current internal delay, in output frames (informational).
  double soxr_delay() const;
  // True after a soxr error (the stream then produces nothing).
  bool failed() const { return failed_; }

  int in_rate() const { return options_.in_rate; }
  int out_rate() const { return options_.out_rate; }
  int channels() const { return options_.channels; }
  size_t max_push_frames() const { return options_.max_push_frames; }

 private:
  Resampler(const ResamplerOptions& options, void* soxr);

  ResamplerOptions options_;
  void* soxr_;                            // soxr_t
  std::vector<float> queue_;              // planar: channel c at [c * max_push_frames, ...)
  std::vector<const float*> in_ptrs_;
  std::vector<float*> out_ptrs_;
  size_t head_ = 0;                       // first queued frame
  size_t queued_ = 0;
  bool ended_ = false;
  bool failed_ = false;
};

// Convenience for tests and tools (not real-time): resamples a whole planar signal, including
// the flush, into round(n * out_rate / in_rate) frames per channel.
absl::StatusOr<std::vector<std::vector<float>>> ResampleAll(
    const std::vector<std::vector<float>>& in, int in_rate, int out_rate);

}  // namespace ghostnv::audio
