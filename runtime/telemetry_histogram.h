// runtime/telemetry_histogram.h — the latency histogram and the stage names of telemetry.h,
// header-only and without dependencies, so that the GPU plans (runtime/sched) can record per-stage
// times without linking the JSON/NVML part (ghostnv_telemetry).
//
//   runtime::StageHistograms st;                       // a plan member
//   st.Record(runtime::Stage::kKernels, 4200);         // real-time path: relaxed atomics only
//   uint64_t p99 = st[runtime::Stage::kKernels].Percentile(0.99);   // any thread
//
// Stages (what the GPU path of one hop is split into; a plan records the ones it can measure
// and leaves the others empty):
//   h2d              the upload (timing events around the copy)
//   kernels          the hop's kernels (timing events, or the kernel's own %globaltimer)
//   d2h              the download
//   end_to_end       submit -> the host sees the answer (host clock)
//   device           the whole hop on the GPU: from a timing event before the launch to the
//                    done event (copies + kernels + the gaps between them)
//   outside_kernels  end_to_end minus kernels, per hop: PCIe both ways, the launch, the polls
// Resolution: values are nanoseconds; buckets are exact below 16 ns and then 8 per octave, so a
// reported percentile is within 1/16 (6.25 %) of the true sample value; max, min, count and mean
// are exact.
// Thread-safety: Record and Clear from any thread at any time (lock-free, allocation-free).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>

namespace ghostnv::runtime {

enum class Stage : uint8_t {
  kH2D = 0,
  kKernels = 1,
  kD2H = 2,
  kEndToEnd = 3,
  kDevice = 4,
  kOutsideKernels = 5,
};
inline constexpr int kStageCount = 6;
// "h2d", "kernels", "d2h", "end_to_end", "device", "outside_kernels".
inline const char* StageName(Stage s) {
  switch (s) {
    case Stage::kH2D: return "h2d";
    case Stage::kKernels: return "kernels";
    case Stage::kD2H: return "d2h";
    case Stage::kEndToEnd: return "end_to_end";
    case Stage::kDevice: return "device";
    case Stage::kOutsideKernels: return "outside_kernels";
  }
  return "unknown";
}

class LatencyHistogram {
 public:
  static constexpr int kSubBuckets = 8;                  // per octave
  static constexpr int kBuckets = 16 + 60 * kSubBuckets;  // exact 0..15, then 2^4 .. 2^64

  LatencyHistogram() = default;
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  // Lock-free, allocation-free; any thread.
  void Record(uint64_t ns) noexcept {
    buckets_[BucketOf(ns)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(ns, std::memory_order_relaxed);
    uint64_t m = max_.load(std::memory_order_relaxed);
    while (ns > m && !max_.compare_exchange_weak(m, ns, std::memory_order_relaxed)) {
    }
    m = min_.load(std::memory_order_relaxed);
    while (ns < m && !min_.compare_exchange_weak(m, ns, std::memory_order_relaxed)) {
    }
    count_.fetch_add(1, std::memory_order_relaxed);
  }
  void Clear() noexcept {
    for (auto& b : buckets_) b.store(0, std::memory_order_relaxed);
    count_.store(0, std::memory_order_relaxed);
    sum_.store(0, std::memory_order_relaxed);
    max_.store(0, std::memory_order_relaxed);
    min_.store(UINT64_MAX, std::memory_order_relaxed);
  }

  uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  uint64_t max_ns() const noexcept { return max_.load(std::memory_order_relaxed); }
  uint64_t min_ns() const noexcept {  // 0 when empty
    const uint64_t m = min_.load(std::memory_order_relaxed);
    return m == UINT64_MAX ? 0 : m;
  }
  double mean_ns() const noexcept {  // 0 when empty
    const uint64_t n = count();
    return n == 0 ? 0.0 : static_cast<double>(sum_.load(std::memory_order_relaxed)) / static_cast<double>(n);
  }
  // The q-quantile (0 < q <= 1) in ns: the midpoint of the bucket holding the ceil(q * count)-th
  // smallest sample, clamped to [min, max]. 0 when empty.
  uint64_t Percentile(double q) const noexcept {
    // Count from the buckets themselves (a concurrent Record may have bumped count_ first).
    uint64_t total = 0;
    for (const auto& b : buckets_) total += b.load(std::memory_order_relaxed);
    if (total == 0) return 0;
    q = std::min(1.0, std::max(q, 0.0));
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    int b = 0;
    for (; b < kBuckets; ++b) {
      seen += buckets_[b].load(std::memory_order_relaxed);
      if (seen >= rank) break;
    }
    if (b == kBuckets) b = kBuckets - 1;
    const uint64_t lo = BucketLow(b), hi = BucketHigh(b);
    uint64_t v = lo + (hi - lo) / 2;
    const uint64_t mn = min_ns(), mx = max_ns();
    if (v < mn) v = mn;
    if (v > mx) v = mx;
    return v;
  }

  // Bucket arithmetic (exposed for tests).
  static int BucketOf(uint64_t ns) noexcept {
    if (ns < 16) return static_cast<int>(ns);
    const int e = 63 - std::countl_zero(ns);  // 4..63
    const int sub = static_cast<int>((ns >> (e - 3)) & 7);
    return 16 + (e - 4) * kSubBuckets + sub;
  }
  static uint64_t BucketLow(int b) noexcept {  // smallest value in bucket b
    if (b < 16) return static_cast<uint64_t>(b);
    const int e = 4 + (b - 16) / kSubBuckets;
    const uint64_t sub = static_cast<uint64_t>((b - 16) % kSubBuckets);
    return (8 + sub) << (e - 3);
  }
  static uint64_t BucketHigh(int b) noexcept {  // largest value in bucket b
    if (b < 16) return static_cast<uint64_t>(b);
    const int e = 4 + (b - 16) / kSubBuckets;
    return BucketLow(b) + ((uint64_t{1} << (e - 3)) - 1);
  }

 private:
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_{0};
  std::atomic<uint64_t> max_{0};
  std::atomic<uint64_t> min_{UINT64_MAX};
};

// One histogram per Stage.
class StageHistograms {
 public:
  void Record(Stage s, uint64_t ns) noexcept { h_[static_cast<int>(s)].Record(ns); }
  const LatencyHistogram& operator[](Stage s) const { return h_[static_cast<int>(s)]; }
  void Clear() noexcept {
    for (auto& h : h_) h.Clear();
  }

 private:
  std::array<LatencyHistogram, kStageCount> h_;
};

}  // namespace ghostnv::runtime
