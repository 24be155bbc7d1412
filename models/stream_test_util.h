// models/stream_test_util.h — audio through a sched::Stream in uneven calls, for the model
// families' backend tests (models/*/cuda/*backend*_test.cc; not part of the library).
//
//   const std::vector<float> want = RunStream(cpu_family, in, 48000, 2, {1024});
//   const std::vector<float> got = RunStream(gpu_family, in, 48000, 2, {480, 7, 113, 1});
//   EXPECT_EQ(got, want);
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "models/family.h"
#include "runtime/sched/stream.h"

namespace ghostnv::models::testing {

// `in` (interleaved, channels per frame; a trailing partial frame is not processed) through a
// Stream over fam at `rate` (strength 1), in calls of sizes[0], sizes[1], ... frames (cycled,
// the last call cut short); returns the output, -7 where nothing was written. Empty, and a test
// failure, when the Stream cannot be created.
inline std::vector<float> RunStream(std::shared_ptr<const Family> fam, const std::vector<float>& in,
                                    int rate, int channels, const std::vector<size_t>& sizes) {
  auto s = sched::Stream::Create(std::move(fam), {rate, channels, 1.0f});
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return {};
  std::vector<float> out(in.size(), -7.0f);
  const size_t frames = in.size() / static_cast<size_t>(channels);
  size_t pos = 0, k = 0;
  while (pos < frames) {
    const size_t n = std::min(sizes[k++ % sizes.size()], frames - pos);
    (*s)->Process(in.data() + pos * channels, out.data() + pos * channels, n);
    pos += n;
  }
  return out;
}

}  // namespace ghostnv::models::testing
