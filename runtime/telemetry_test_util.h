// runtime/telemetry_test_util.h — for GPU tests: do a plan's per-stage times hold together?
//
//   const sched::BackendTelemetry t = fam->telemetry();
//   EXPECT_EQ(runtime::StageTimesProblem(t.stages, t.gpu_hops, /*split=*/true), "");
//
// No timing bounds (tests never assert speed): only counts and the identity that h2d, kernels
// and d2h are consecutive intervals of the same hop (runtime/telemetry_hop_timer.h), so their
// means add up to the mean device time.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/telemetry_histogram.h"

namespace ghostnv::runtime {

// `Summary`: any struct with `count` and `mean_us` (sched::LatencySummary), indexed by Stage.
// Empty when "device" has hops - 1 or hops samples (a hop's events are read at the next Submit,
// so the last one may be missing) and, with `split`, h2d / kernels / d2h have as many samples
// as "device", kernels a positive mean, and the three means add up to device's (within 2 % +
// 0.05 µs: float milliseconds per interval); otherwise what is wrong.
template <typename Summary>
std::string StageTimesProblem(const std::array<Summary, kStageCount>& s, uint64_t hops, bool split) {
  const auto& dev = s[static_cast<size_t>(Stage::kDevice)];
  if (hops == 0) return "no hops";
  if (dev.count + 1 < hops || dev.count > hops)
    return absl::StrCat("device has ", dev.count, " samples for ", hops, " hops");
  if (!split) return "";
  const auto& h2d = s[static_cast<size_t>(Stage::kH2D)];
  const auto& ker = s[static_cast<size_t>(Stage::kKernels)];
  const auto& d2h = s[static_cast<size_t>(Stage::kD2H)];
  if (h2d.count != dev.count || ker.count != dev.count || d2h.count != dev.count) {
    return absl::StrCat("counts differ: device ", dev.count, ", h2d ", h2d.count, ", kernels ",
                        ker.count, ", d2h ", d2h.count);
  }
  if (!(ker.mean_us > 0)) return absl::StrCat("kernels mean ", ker.mean_us, " us");
  const double sum = h2d.mean_us + ker.mean_us + d2h.mean_us;
  if (std::fabs(sum - dev.mean_us) > 0.02 * dev.mean_us + 0.05) {
    return absl::StrCat("h2d + kernels + d2h = ", h2d.mean_us, " + ", ker.mean_us, " + ",
                        d2h.mean_us, " = ", sum, " us, device ", dev.mean_us, " us");
  }
  return "";
}

}  // namespace ghostnv::runtime
