// runtime/sched/stream.h — one audio stream on the CPU backend: host frames in, denoised out.
//
// A Stream takes interleaved float audio at the host's rate and channel count, in calls of ANY
// frame count, and returns exactly as many frames as it was given, denoised and delayed by a
// fixed, reported latency:
//
//     out[t] = denoise(in)[t - latency_frames()]        (per channel, t in host frames)
//
// Inside: deinterleave → sanitise → resample to the model rate (only when the rates differ) →
// per-channel input FIFO → whole hops through Family::ProcessHop (one ChannelState per channel)
// → resample back → output FIFO → interleave. The output FIFO starts with D zero frames so it
// can never run dry, whatever the call sizes. D is fixed at Create(): (hop - 1) host frames
// without resampling; with it, the sum of the worst-case hold-back of each stage (up-resampler,
// partial hop, down-resampler), each measured by running a scratch resampler of the same
// configuration on zeros (once per shape and process); about 2200 frames (50 ms) at 44.1 kHz
// with soxr's HQ filters.
// latency_frames() = D + the model's algorithmic latency converted to host frames
// (480 → 441 at 44.1 kHz, 960 at 96 kHz). Rates where that conversion is not a whole number
// of frames (22050 Hz for a 48 kHz model, say) are refused.
//
//   auto family = models::CreateFamily(model);                       // setup path
//   auto stream = Stream::Create(std::move(*family), {.sample_rate = 44100, .channels = 2});
//   (*stream)->Process(in, out, frames);                             // audio thread
//   (*stream)->set_strength(0.5f);                                   // any thread
//
// Definitions: sample = one value of one channel; frame = one sample per channel; hop = the
// model's step (480 frames at 48 kHz for RNNoise); block = the internal slice (at most
// StreamConfig::max_block_frames) a Process() call is cut into.
//
// Real-time contract for Process(): never throws, never locks, never logs, never allocates
// itself; all buffers, channel states and resamplers are made in Create(). The one exception is
// libsoxr (only when the host rate differs from the model's): it grows its internal FIFOs with
// realloc() during the first few hops of a stream and then stops (audio/resampler.h). NaN, Inf
// and denormal input samples are replaced by 0 and counted; non-finite output samples too.
//
// Thread-safety: Process() from one thread at a time (the audio thread). set_strength(),
// strength(), stats() and latency_frames() may be called from any thread at any time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "audio/framer.h"
#include "audio/resampler.h"
#include "models/family.h"

namespace ghostnv::sched {

struct StreamConfig {
  int sample_rate = 48000;          // host rate, 8000..384000 Hz
  int channels = 1;                 // 1..8, interleaved
  float strength = 1.0f;            // 0 = input delayed by the latency, 1 = full suppression
  size_t max_block_frames = 1024;   // internal block; calls of any size are cut into these
  // 0, or P: every Process() call is a multiple of P frames. Without resampling the prefill D
  // is then hop - gcd(P, hop[, max_block_frames when P exceeds it]) instead of hop - 1.
  size_t period_frames = 0;
};

struct StreamStats {
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  uint64_t hops = 0;                // model steps, per channel
  uint64_t sanitized_in = 0;        // input samples replaced by 0 (NaN/Inf/denormal)
  uint64_t sanitized_out = 0;       // non-finite output samples replaced by 0
  uint64_t underruns = 0;           // output frames that had to be zero-filled (0 unless a bug)
  double mean_vad = 0.0;            // mean voice probability over all hops and channels
  double process_seconds = 0.0;     // wall time spent inside Process()
};

class Stream {
 public:
  // Errors: InvalidArgument for a bad config (rate, channels, block size, strength) or a rate
  // whose latency is not a whole number of frames; Internal if a resampler cannot be made.
  static absl::StatusOr<std::unique_ptr<Stream>> Create(
      std::shared_ptr<const models::Family> family, const StreamConfig& config);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Audio thread. `in` and `out` hold frames * channels interleaved floats; in == out is
  // allowed (other overlaps are not). frames may be 0.
  void Process(const float* in, float* out, size_t frames) noexcept;

  // Total delay between input and output, in host frames (constant for the stream's life).
  int64_t latency_frames() const { return latency_frames_; }
  // The part of it that is buffering (D above) rather than the model's own latency.
  int64_t buffering_frames() const { return buffer_frames_; }

  // Any thread; clamped to [0, 1] (NaN is ignored). Takes effect at the next block.
  void set_strength(float strength) noexcept;
  float strength() const noexcept { return strength_.load(std::memory_order_relaxed); }

  // Any thread; a snapshot of relaxed counters (each exact, not mutually consistent).
  StreamStats stats() const noexcept;

  int sample_rate() const { return config_.sample_rate; }
  int channels() const { return config_.channels; }
  int model_rate() const { return family_->sample_rate(); }
  bool resampling() const { return up_ != nullptr; }
  const models::Family& family() const { return *family_; }

 private:
  Stream(std::shared_ptr<const models::Family> family, const StreamConfig& config);
  absl::Status Init();
  void ProcessBlock(const float* in, float* out, size_t frames, float strength);
  void FeedModel(const float* const* chunk, size_t frames, float strength);
  void RunHops(float strength);
  void EmitHop();

  // A single-channel ring buffer of fixed capacity.
  struct Ring {
    std::vector<float> data;
    size_t head = 0, size = 0;
    void Push(const float* x, size_t n);
    void Pop(float* x, size_t n);
  };

  std::shared_ptr<const models::Family> family_;
  StreamConfig config_;
  int hop_ = 0;
  int64_t buffer_frames_ = 0;
  size_t step_frames_ = 0;  // Process() cuts calls into blocks of this many frames
  int64_t latency_frames_ = 0;

  std::vector<std::unique_ptr<models::ChannelState>> states_;
  std::unique_ptr<audio::Resampler> up_;    // host → model rate (null when equal)
  std::unique_ptr<audio::Resampler> down_;  // model → host rate
  size_t pull_frames_ = 0;                  // capacity of the resampler scratch

  // Planar scratch, one vector per channel, all sized in Init().
  std::vector<std::vector<float>> host_in_;    // [max_block]
  std::vector<audio::Framer> framers_;         // model-rate samples → hops: [hop + pull]
  std::vector<std::vector<float>> hop_in_;     // [hop]
  std::vector<std::vector<float>> hop_out_;    // [hop]
  std::vector<std::vector<float>> up_scratch_;    // [pull_frames_]
  std::vector<std::vector<float>> down_scratch_;  // [pull_frames_]
  std::vector<Ring> out_fifo_;
  std::vector<const float*> cptrs_, hop_cptrs_;   // per-channel pointer tables
  std::vector<float*> ptrs_, hop_ptrs_;

  std::atomic<float> strength_{1.0f};
  std::atomic<uint64_t> frames_in_{0}, frames_out_{0}, hops_{0}, sanitized_in_{0},
      sanitized_out_{0}, underruns_{0}, process_ns_{0};
  std::atomic<double> vad_sum_{0.0};
};

// The output prefill (in host frames) that keeps a stream of this shape from ever running dry
// (see D above; exactly hop - 1 without resampling, a tight upper bound with it); exposed for
// tests. `excess` (may be null) gets a bound on how far output can run ahead of input.
absl::StatusOr<int64_t> MeasureStreamBuffering(int host_rate, int model_rate, int hop,
                                               size_t max_block_frames, int64_t* excess);

}  // namespace ghostnv::sched
