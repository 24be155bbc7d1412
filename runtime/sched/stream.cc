// runtime/sched/stream.cc — the CPU stream: FIFOs, resamplers and hops around a Family.
#include "runtime/sched/stream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <mutex>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ghostnv::sched {
namespace {

constexpr int kMaxChannels = 8;
constexpr size_t kMaxBlockFrames = 1 << 16;
// How long MeasureStreamBuffering runs each resampler on zeros. Each one's hold-back pattern
// repeats within a fraction of a second (checked over minutes for 44.1/48/96 kHz).
constexpr int kSimulatedSeconds = 2;

// NaN/Inf (exponent all ones) or denormal (exponent zero, mantissa non-zero).
inline bool BadSample(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof(b));
  const uint32_t e = (b >> 23) & 0xffu;
  return e == 0xffu || (e == 0 && (b & 0x7fffffu) != 0);
}

inline bool NonFinite(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof(b));
  return ((b >> 23) & 0xffu) == 0xffu;
}

size_t PullCapacity(int hop) { return std::max<size_t>(1024, static_cast<size_t>(hop)); }

}  // namespace

void Stream::Ring::Push(const float* x, size_t n) {
  const size_t cap = data.size();
  size_t tail = head + size;
  if (tail >= cap) tail -= cap;
  const size_t first = std::min(n, cap - tail);
  std::memcpy(data.data() + tail, x, first * sizeof(float));
  std::memcpy(data.data(), x + first, (n - first) * sizeof(float));
  size += n;
}

void Stream::Ring::Pop(float* x, size_t n) {
  const size_t cap = data.size();
  const size_t first = std::min(n, cap - head);
  std::memcpy(x, data.data() + head, first * sizeof(float));
  std::memcpy(x + first, data.data(), (n - first) * sizeof(float));
  head += n;
  if (head >= cap) head -= cap;
  size -= n;
}

absl::StatusOr<int64_t> MeasureStreamBuffering(int host_rate, int model_rate, int hop,
                                               size_t max_block_frames, int64_t* excess) {
  if (host_rate <= 0 || model_rate <= 0 || hop <= 0 || max_block_frames == 0)
    return absl::InvalidArgumentError("MeasureStreamBuffering: bad arguments");
  if (host_rate == model_rate) {
    // Output appears a hop at a time: before hop k completes, up to hop - 1 frames are owed.
    if (excess) *excess = 0;
    return int64_t{hop} - 1;
  }
  // The frames owed to the caller after T input frames split exactly into three terms, each
  // a function of how much has gone through one stage (every stage is drained completely, so
  // none depends on call sizes):
  //   T - U*r           what the up-resampler holds back   (U model frames out of it, r = H/M)
  //   (U - K*hop)*r     the partial hop waiting in the FIFO (K hops run), at most (hop - 1)*r
  //   K*hop*r - O       what the down-resampler holds back (O host frames out of it)
  // Their phases drift against each other over minutes, so the worst case of the sum is
  // bounded by the sum of the worst cases, each measured over its own (short) period.
  const double r = static_cast<double>(host_rate) / model_rate;
  const size_t cap = PullCapacity(hop);
  std::vector<float> zeros(std::max(cap, static_cast<size_t>(hop)), 0.0f);
  std::vector<float> sink(cap);
  const float* zin[1] = {zeros.data()};
  float* sout[1] = {sink.data()};
  auto drain = [&](audio::Resampler& rs) {
    int64_t n = 0;
    for (;;) {
      const size_t got = rs.Pull(sout, cap);
      n += static_cast<int64_t>(got);
      if (got < cap) return n;
    }
  };

  double up_deficit = 0, up_excess = 0;
  {
    auto up = audio::Resampler::Create({host_rate, model_rate, 1, max_block_frames});
    if (!up.ok()) return up.status();
    int64_t u = 0;
    const int64_t horizon = int64_t{kSimulatedSeconds} * host_rate;
    for (int64_t t = 1; t <= horizon; ++t) {
      (*up)->Push(zin, 1);
      u += drain(**up);
      up_deficit = std::max(up_deficit, static_cast<double>(t) - static_cast<double>(u) * r);
      up_excess = std::max(up_excess, static_cast<double>(u) * r - static_cast<double>(t));
    }
    if ((*up)->failed()) return absl::InternalError("MeasureStreamBuffering: resampler failed");
  }
  double down_deficit = 0, down_excess = 0;
  {
    auto down = audio::Resampler::Create({model_rate, host_rate, 1, static_cast<size_t>(hop)});
    if (!down.ok()) return down.status();
    int64_t o = 0;
    const int64_t hops = int64_t{kSimulatedSeconds} * model_rate / hop + 1;
    for (int64_t k = 1; k <= hops; ++k) {
      (*down)->Push(zin, static_cast<size_t>(hop));
      o += drain(**down);
      const double due = static_cast<double>(k) * hop * r;
      down_deficit = std::max(down_deficit, due - static_cast<double>(o));
      down_excess = std::max(down_excess, static_cast<double>(o) - due);
    }
    if ((*down)->failed()) return absl::InternalError("MeasureStreamBuffering: resampler failed");
  }
  const double fifo = (hop - 1) * r;
  if (excess) *excess = static_cast<int64_t>(std::ceil(up_excess + down_excess + 1e-6));
  // The owed count is an integer no larger than the real-valued bound.
  return static_cast<int64_t>(std::floor(up_deficit + fifo + down_deficit + 1e-6));
}

namespace {

// MeasureStreamBuffering costs tens of milliseconds; streams of one shape share the answer.
absl::StatusOr<std::pair<int64_t, int64_t>> CachedBuffering(int host, int model, int hop,
                                                            size_t block) {
  using Key = std::tuple<int, int, int, size_t>;
  static std::mutex mu;
  static std::map<Key, std::pair<int64_t, int64_t>>* cache =
      new std::map<Key, std::pair<int64_t, int64_t>>();
  const Key key{host, model, hop, block};
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache->find(key);
    if (it != cache->end()) return it->second;
  }
  int64_t excess = 0;
  absl::StatusOr<int64_t> d = MeasureStreamBuffering(host, model, hop, block, &excess);
  if (!d.ok()) return d.status();
  std::lock_guard<std::mutex> lock(mu);
  (*cache)[key] = {*d, excess};
  return std::make_pair(*d, excess);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Stream>> Stream::Create(
    std::shared_ptr<const models::Family> family, const StreamConfig& config) {
  if (!family) return absl::InvalidArgumentError("stream: no model family");
  if (config.sample_rate < 8000 || config.sample_rate > 384000) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream: unsupported sample rate ", config.sample_rate, " Hz"));
  }
  if (config.channels < 1 || config.channels > kMaxChannels) {
    return absl::InvalidArgumentError(absl::StrCat("stream: unsupported channel count ",
                                                   config.channels, " (1..", kMaxChannels, ")"));
  }
  if (config.max_block_frames == 0 || config.max_block_frames > kMaxBlockFrames) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream: max_block_frames must be in 1..", kMaxBlockFrames));
  }
  if (!(config.strength >= 0.0f && config.strength <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream: strength ", config.strength, " is outside [0, 1]"));
  }
  if (family->hop_size() <= 0 || family->sample_rate() <= 0 || family->algorithmic_latency() < 0)
    return absl::InvalidArgumentError("stream: the model has an invalid hop, rate or latency");
  std::unique_ptr<Stream> s(new Stream(std::move(family), config));
  absl::Status st = s->Init();
  if (!st.ok()) return st;
  return s;
}

Stream::Stream(std::shared_ptr<const models::Family> family, const StreamConfig& config)
    : family_(std::move(family)), config_(config), hop_(family_->hop_size()) {
  strength_.store(config.strength, std::memory_order_relaxed);
}

// Every buffer that held audio is zeroed before it is freed (the channel states wipe themselves).
Stream::~Stream() {
  auto wipe = [](std::vector<float>& v) { explicit_bzero(v.data(), v.size() * sizeof(float)); };
  for (auto* group : {&host_in_, &hop_in_, &hop_out_, &up_scratch_, &down_scratch_})
    for (std::vector<float>& v : *group) wipe(v);
  for (Ring& r : out_fifo_) wipe(r.data);
  for (audio::Framer& f : framers_) f.Clear();
}

absl::Status Stream::Init() {
  const int host = config_.sample_rate, model = family_->sample_rate();
  const int64_t lat_num = int64_t{family_->algorithmic_latency()} * host;
  if (lat_num % model != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stream: at ", host, " Hz the model's latency of ", family_->algorithmic_latency(),
        " samples at ", model, " Hz is not a whole number of frames"));
  }
  const size_t channels = static_cast<size_t>(config_.channels);
  const size_t block = config_.max_block_frames;
  pull_frames_ = PullCapacity(hop_);

  absl::StatusOr<std::pair<int64_t, int64_t>> d = CachedBuffering(host, model, hop_, block);
  if (!d.ok()) return d.status();
  buffer_frames_ = d->first;
  const int64_t excess = d->second;
  step_frames_ = block;
  if (const size_t p = config_.period_frames; p > 0 && host == model) {
    // Calls are multiples of p: cut them into blocks that are multiples of p too, so input only
    // ever arrives in multiples of g frames; the output then lags a hop boundary by at most
    // hop - g frames, and that is all the prefill has to cover.
    size_t g = std::gcd(p, static_cast<size_t>(hop_));
    if (p <= block) {
      step_frames_ = block / p * p;
    } else {
      g = std::gcd(g, block);
    }
    buffer_frames_ = hop_ - static_cast<int64_t>(g);
  }
  latency_frames_ = buffer_frames_ + lat_num / model;

  if (host != model) {
    auto up = audio::Resampler::Create({host, model, config_.channels, block});
    if (!up.ok()) return up.status();
    auto down = audio::Resampler::Create({model, host, config_.channels, static_cast<size_t>(hop_)});
    if (!down.ok()) return down.status();
    up_ = std::move(*up);
    down_ = std::move(*down);
  }

  // The output FIFO holds the prefill, at most one block still owed to the caller, and the
  // most the chain ever runs ahead; a hop and a pull of slack on top.
  const size_t out_cap = static_cast<size_t>(buffer_frames_) + block +
                         static_cast<size_t>(std::max<int64_t>(excess, 0)) +
                         static_cast<size_t>(hop_) + pull_frames_;
  host_in_.assign(channels, std::vector<float>(block, 0.0f));
  framers_.clear();
  for (size_t c = 0; c < channels; ++c)
    framers_.emplace_back(hop_, static_cast<size_t>(hop_) + std::max(block, pull_frames_));
  hop_in_.assign(channels, std::vector<float>(static_cast<size_t>(hop_), 0.0f));
  hop_out_.assign(channels, std::vector<float>(static_cast<size_t>(hop_), 0.0f));
  up_scratch_.assign(channels, std::vector<float>(pull_frames_, 0.0f));
  down_scratch_.assign(channels, std::vector<float>(pull_frames_, 0.0f));
  out_fifo_.resize(channels);
  for (Ring& r : out_fifo_) {
    r.data.assign(out_cap, 0.0f);
    r.head = 0;
    r.size = static_cast<size_t>(buffer_frames_);  // the D zero frames
  }
  cptrs_.assign(channels, nullptr);
  ptrs_.assign(channels, nullptr);
  hop_cptrs_.assign(channels, nullptr);
  hop_ptrs_.assign(channels, nullptr);
  states_.clear();
  for (size_t c = 0; c < channels; ++c) {
    std::unique_ptr<models::ChannelState> st = family_->NewChannel();
    if (!st) return absl::InternalError("stream: the family could not make a channel state");
    states_.push_back(std::move(st));
  }
  return absl::OkStatus();
}

void Stream::set_strength(float strength) noexcept {
  if (std::isnan(strength)) return;
  strength_.store(std::clamp(strength, 0.0f, 1.0f), std::memory_order_relaxed);
}

StreamStats Stream::stats() const noexcept {
  StreamStats s;
  s.frames_in = frames_in_.load(std::memory_order_relaxed);
  s.frames_out = frames_out_.load(std::memory_order_relaxed);
  s.hops = hops_.load(std::memory_order_relaxed);
  s.sanitized_in = sanitized_in_.load(std::memory_order_relaxed);
  s.sanitized_out = sanitized_out_.load(std::memory_order_relaxed);
  s.underruns = underruns_.load(std::memory_order_relaxed);
  const double n = static_cast<double>(s.hops) * config_.channels;
  s.mean_vad = n > 0 ? vad_sum_.load(std::memory_order_relaxed) / n : 0.0;
  s.process_seconds = static_cast<double>(process_ns_.load(std::memory_order_relaxed)) * 1e-9;
  return s;
}

void Stream::Process(const float* in, float* out, size_t frames) noexcept {
  if (frames == 0 || in == nullptr || out == nullptr) return;
  const auto t0 = std::chrono::steady_clock::now();
  const size_t ch = static_cast<size_t>(config_.channels);
  const size_t block = step_frames_;
  for (size_t pos = 0; pos < frames; pos += block) {
    const size_t n = std::min(block, frames - pos);
    ProcessBlock(in + pos * ch, out + pos * ch, n, strength_.load(std::memory_order_relaxed));
  }
  frames_in_.fetch_add(frames, std::memory_order_relaxed);
  frames_out_.fetch_add(frames, std::memory_order_relaxed);
  const auto dt = std::chrono::steady_clock::now() - t0;
  process_ns_.fetch_add(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(dt).count()),
      std::memory_order_relaxed);
}

void Stream::ProcessBlock(const float* in, float* out, size_t n, float strength) {
  const size_t ch = static_cast<size_t>(config_.channels);
  // Deinterleave and sanitise (before anything is written: in may equal out).
  uint64_t bad = 0;
  for (size_t c = 0; c < ch; ++c) {
    float* dst = host_in_[c].data();
    for (size_t f = 0; f < n; ++f) {
      float x = in[f * ch + c];
      if (BadSample(x)) {
        x = 0.0f;
        ++bad;
      }
      dst[f] = x;
    }
  }
  if (bad) sanitized_in_.fetch_add(bad, std::memory_order_relaxed);

  for (size_t c = 0; c < ch; ++c) cptrs_[c] = host_in_[c].data();
  if (!up_) {
    FeedModel(cptrs_.data(), n, strength);
  } else {
    up_->Push(cptrs_.data(), n);  // always fits: the queue is drained below every block
    for (;;) {
      for (size_t c = 0; c < ch; ++c) ptrs_[c] = up_scratch_[c].data();
      const size_t got = up_->Pull(ptrs_.data(), pull_frames_);
      for (size_t c = 0; c < ch; ++c) cptrs_[c] = up_scratch_[c].data();
      FeedModel(cptrs_.data(), got, strength);
      if (got < pull_frames_) break;
    }
  }

  // Hand out exactly n frames.
  uint64_t nonfinite = 0;
  const size_t avail = out_fifo_[0].size;
  const size_t take = std::min(avail, n);
  if (take < n) underruns_.fetch_add(n - take, std::memory_order_relaxed);
  for (size_t c = 0; c < ch; ++c) {
    float* tmp = host_in_[c].data();  // reuse: its input has been consumed
    out_fifo_[c].Pop(tmp, take);
    std::fill(tmp + take, tmp + n, 0.0f);
    for (size_t f = 0; f < n; ++f) {
      float y = tmp[f];
      if (NonFinite(y)) {
        y = 0.0f;
        ++nonfinite;
      }
      out[f * ch + c] = y;
    }
  }
  if (nonfinite) sanitized_out_.fetch_add(nonfinite, std::memory_order_relaxed);
}

// Appends model-rate frames to the input FIFO and runs every whole hop.
void Stream::FeedModel(const float* const* chunk, size_t frames, float strength) {
  const size_t ch = static_cast<size_t>(config_.channels);
  size_t done = 0;
  while (done < frames) {
    size_t taken = 0;  // every channel's framer holds the same count, so takes the same
    for (size_t c = 0; c < ch; ++c) taken = framers_[c].Push(chunk[c] + done, frames - done);
    done += taken;
    RunHops(strength);
  }
}

void Stream::RunHops(float strength) {
  const size_t ch = static_cast<size_t>(config_.channels);
  double vad = 0.0;
  uint64_t hops = 0;
  while (framers_[0].size() >= static_cast<size_t>(hop_)) {
    for (size_t c = 0; c < ch; ++c) {
      framers_[c].PopHop(hop_in_[c].data());
      const models::HopInfo info =
          family_->ProcessHop(*states_[c], hop_in_[c].data(), hop_out_[c].data(), strength);
      vad += static_cast<double>(info.vad);
    }
    ++hops;
    EmitHop();
  }
  if (hops > 0) {
    hops_.fetch_add(hops, std::memory_order_relaxed);
    vad_sum_.store(vad_sum_.load(std::memory_order_relaxed) + vad, std::memory_order_relaxed);
  }
}

// Moves hop_out_ into the output FIFO (through the down-resampler when there is one).
void Stream::EmitHop() {
  const size_t ch = static_cast<size_t>(config_.channels);
  const size_t hop = static_cast<size_t>(hop_);
  auto push_out = [&](const std::vector<std::vector<float>>& src, size_t n) {
    const size_t room = out_fifo_[0].data.size() - out_fifo_[0].size;
    n = std::min(n, room);  // cannot happen with the capacity chosen in Init()
    for (size_t c = 0; c < ch; ++c) out_fifo_[c].Push(src[c].data(), n);
  };
  if (!down_) {
    push_out(hop_out_, hop);
    return;
  }
  for (size_t c = 0; c < ch; ++c) hop_cptrs_[c] = hop_out_[c].data();
  down_->Push(hop_cptrs_.data(), hop);
  for (;;) {
    for (size_t c = 0; c < ch; ++c) hop_ptrs_[c] = down_scratch_[c].data();
    const size_t got = down_->Pull(hop_ptrs_.data(), pull_frames_);
    push_out(down_scratch_, got);
    if (got < pull_frames_) break;
  }
}

}  // namespace ghostnv::sched
