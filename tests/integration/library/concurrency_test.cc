// 32 denoisers at once, each on its own thread with its own rate, channel count, API surface,
// call sizes and settings; every output must equal a single-threaded run of the same stream,
// bit for bit. Contexts share the model family code and the embedded weights; nothing else.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ghostnv/ghostnv.h"
#include "ghostnv/ghostnv.hpp"
#include "gtest/gtest.h"
#include "tests/integration/library/test_signals.h"

namespace {

constexpr int kStreams = 32;

struct Job {
  uint32_t rate = 48000;
  uint32_t channels = 1;
  bool spec_api = false;   // ghostnv_init_audio / ghostnv_denoise_audio / ghostnv_cleanup
  float strength = 1.0f;
  float vad_threshold = 0.0f;
  uint32_t seed = 0;
  std::vector<float> in;
};

std::vector<Job> MakeJobs() {
  const uint32_t rates[] = {44100, 48000, 96000};
  std::vector<Job> jobs(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    Job& j = jobs[static_cast<size_t>(i)];
    j.rate = rates[i % 3];
    j.channels = 1 + static_cast<uint32_t>((i / 3) % 2);
    j.spec_api = i % 4 == 0;
    j.strength = i % 5 == 1 ? 0.5f : 1.0f;
    j.vad_threshold = i % 7 == 2 ? 0.5f : 0.0f;
    j.seed = 1000 + static_cast<uint32_t>(i);
    // Half a second each (a third at 96 kHz): enough for hundreds of hops, quick under ASan.
    const size_t frames = j.rate == 96000 ? 32000 : j.rate / 2;
    j.in = ghostnv::testing::NoisySpeechLike(frames, static_cast<int>(j.rate),
                                             static_cast<int>(j.channels), j.seed);
  }
  return jobs;
}

// Runs one stream with pseudo-random call sizes (from `call_seed`); returns its output.
std::vector<float> RunJob(const Job& j, uint32_t call_seed, std::string* error) {
  std::vector<float> out(j.in.size(), -99.0f);
  const size_t ch = j.channels;
  const size_t frames = j.in.size() / ch;
  std::mt19937 rng(call_seed);
  ghostnv_options o;
  ghostnv_options_init(&o);
  o.sample_rate = j.rate;
  o.channels = j.channels;
  o.strength = j.strength;
  o.vad_threshold = j.vad_threshold;
  o.backend = GHOSTNV_BACKEND_CPU;
  ghostnv_context_t* ctx = nullptr;
  ghostnv_denoiser* d = nullptr;
  if (j.spec_api) {
    ctx = j.channels == 1 && j.strength == 1.0f && j.vad_threshold == 0.0f
              ? ghostnv_init_audio(-1, j.rate)
              : ghostnv_init_audio_ex(&o);
    if (ctx == nullptr) *error = ghostnv_last_error();
  } else if (ghostnv_create(&o, &d) != GHOSTNV_OK) {
    *error = ghostnv_last_error();
  }
  if (!error->empty()) return {};
  size_t pos = 0;
  while (pos < frames) {
    const size_t n = std::min<size_t>(frames - pos, 1 + rng() % 1500);
    std::vector<float> in(j.in.begin() + static_cast<std::ptrdiff_t>(pos * ch),
                          j.in.begin() + static_cast<std::ptrdiff_t>((pos + n) * ch));
    const int rc = ctx ? ghostnv_denoise_audio(ctx, in.data(), out.data() + pos * ch, n * ch)
                       : ghostnv_process(d, in.data(), out.data() + pos * ch, n);
    if (rc != 0) {
      *error = ghostnv_strerror(rc);
      break;
    }
    pos += n;
  }
  if (ctx) ghostnv_cleanup(ctx);
  ghostnv_destroy(d);
  return out;
}

TEST(ConcurrencyTest, ThirtyTwoStreamsInParallelEqualSingleThreadedRuns) {
  ghostnv_options probe;
  ghostnv_options_init(&probe);
  ghostnv_denoiser* p = nullptr;
  if (ghostnv_create(&probe, &p) == GHOSTNV_ERROR_MODEL_NOT_FOUND)
    GTEST_SKIP() << "this build embeds no default model";
  ghostnv_destroy(p);

  const std::vector<Job> jobs = MakeJobs();
  // Single-threaded references, each in one kind of call pattern.
  std::vector<std::vector<float>> want(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    std::string error;
    want[static_cast<size_t>(i)] = RunJob(jobs[static_cast<size_t>(i)], 1, &error);
    ASSERT_TRUE(error.empty()) << "stream " << i << ": " << error;
  }
  // All at once, each with different call sizes, released together.
  std::vector<std::vector<float>> got(kStreams);
  std::vector<std::string> errors(kStreams);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kStreams) std::this_thread::yield();
      const size_t k = static_cast<size_t>(i);
      got[k] = RunJob(jobs[k], 777 + static_cast<uint32_t>(i), &errors[k]);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kStreams; ++i) {
    const size_t k = static_cast<size_t>(i);
    ASSERT_TRUE(errors[k].empty()) << "stream " << i << ": " << errors[k];
    ASSERT_EQ(got[k].size(), want[k].size());
    size_t first = 0;
    while (first < got[k].size() && got[k][first] == want[k][first]) ++first;
    EXPECT_EQ(first, got[k].size())
        << "stream " << i << " (" << jobs[k].rate << " Hz, " << jobs[k].channels
        << " ch) differs first at sample " << first;
  }
  // The streams did denoise (not a pass-through that would match trivially).
  double diff = 0;
  for (size_t s = 0; s < want[1].size(); ++s) diff += std::abs(want[1][s] - jobs[1].in[s]);
  EXPECT_GT(diff, 1.0);
}

}  // namespace
