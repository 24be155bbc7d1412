// models/ultra/ultra_family_benchmark.cc — per-hop CPU time of the ultra family on one core.
//
//   ultra_family_benchmark [model.gnvm] [seconds]
//
// Loads the model (default: $GHOSTNV_SOURCE_DIR/models/weights/ultra.gnvm, else
// models/weights/ultra.gnvm relative to the working directory), runs `seconds` (default 60) of a
// deterministic noisy signal through one channel, hop by hop, and prints the thread CPU time and
// wall time per 96-sample hop (mean, and the 99th percentile / maximum of the wall time per hop)
// and the real-time factor (audio seconds per CPU second). Best of 3 runs. Pin it to a core with
// `taskset -c 0` for stable numbers. Not a test: it asserts nothing about time.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "models/family.h"
#include "models/model_loader.h"
#include "models/ultra/ultra_family.h"

namespace {

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ghostnv;
  std::string path;
  if (argc > 1) {
    path = argv[1];
  } else if (const char* src = std::getenv("GHOSTNV_SOURCE_DIR")) {
    path = std::string(src) + "/models/weights/ultra.gnvm";
  } else {
    path = "models/weights/ultra.gnvm";
  }
  const double seconds = argc > 2 ? std::atof(argv[2]) : 60.0;
  auto model = models::LoadModel(path);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  auto fam = models::CreateFamily(*model);
  if (!fam.ok()) {
    std::fprintf(stderr, "%s\n", std::string(fam.status().message()).c_str());
    return 1;
  }
  const int hop = (*fam)->hop_size();
  const long hops = static_cast<long>(seconds * (*fam)->sample_rate() / hop);
  std::vector<float> x(static_cast<size_t>(hops) * hop), y(x.size());
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.f, 0.05f);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = g(rng) + 0.2f * std::sin(2 * M_PI * 220.0 * i / 48000.0) *
                        (((i / 9600) % 2) ? 1.f : 0.f);

  double best_cpu = 1e30, best_wall = 1e30, best_p99 = 0, best_max = 0;
  std::vector<double> per_hop(hops);
  for (int run = 0; run < 3; ++run) {
    auto ch = (*fam)->NewChannel();
    const double c0 = ThreadCpuSeconds();
    const auto w0 = std::chrono::steady_clock::now();
    for (long h = 0; h < hops; ++h) {
      const auto t0 = std::chrono::steady_clock::now();
      (*fam)->ProcessHop(*ch, x.data() + h * hop, y.data() + h * hop, 1.0f);
      per_hop[h] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    const double cpu = ThreadCpuSeconds() - c0;
    if (cpu < best_cpu) {
      best_cpu = cpu;
      best_wall = wall;
      std::vector<double> s = per_hop;
      std::nth_element(s.begin(), s.begin() + s.size() * 99 / 100, s.end());
      best_p99 = s[s.size() * 99 / 100];
      best_max = *std::max_element(per_hop.begin(), per_hop.end());
    }
  }
  const double audio = static_cast<double>(hops) * hop / (*fam)->sample_rate();
  std::printf(
      "model %s (family %s, hop %d, latency %d samples, %zu parameters)\n"
      "%ld hops (%.1f s of audio), best of 3:\n"
      "  CPU  %.2f us/hop (thread CPU time), real-time factor %.0fx\n"
      "  wall %.2f us/hop mean, p99 %.2f us, max %.2f us\n",
      (*model)->name.c_str(), (*model)->family.c_str(), hop, (*fam)->algorithmic_latency(),
      (*model)->ParameterCount(), hops, audio, best_cpu / hops * 1e6, audio / best_cpu,
      best_wall / hops * 1e6, best_p99 * 1e6, best_max * 1e6);
  return 0;
}
