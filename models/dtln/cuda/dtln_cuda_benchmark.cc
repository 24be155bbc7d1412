// ghostnv_dtln_cuda_benchmark — DTLN on the GPU: batch-1 latency per hop (Submit+Wait, p50/p99,
// both LSTM paths) and µs per hop at large batches → how many streams run in real time (one hop
// = 128 samples = 8 ms at 16 kHz), with the CPU family on one core for comparison. Prints a
// table; asserts nothing. Not a test.
//
//   ghostnv_dtln_cuda_benchmark --model dtln.gnvm [--batches 1024,4096,16384,65536]
//                               [--latency_hops 2000] [--batch_hops 40]
// The model: --model, else $GHOSTNV_DTLN_CUDA_DATA/dtln.gnvm. Without a GPU it says so, exit 0.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "models/dtln/cuda/dtln_cuda_plan.h"
#include "models/dtln/dtln_family.h"
#include "models/family.h"
#include "models/model_loader.h"

namespace {

using ghostnv::models::Family;
using ghostnv::models::dtln::DtlnCudaPlan;
using ghostnv::models::dtln::DtlnCudaPlanOptions;
using Clock = std::chrono::steady_clock;
namespace cu = ghostnv::runtime::cu;

constexpr int kHop = 128;
constexpr double kHopDeadlineUs = 8000.0;

double Us(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5));
  return v[i];
}

void FillNoise(float* x, size_t n, std::mt19937& rng) {
  std::normal_distribution<float> d(0.f, 0.05f);
  for (size_t i = 0; i < n; ++i) x[i] = d(rng);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path;
  std::vector<int> batches = {1024, 4096, 16384, 65536};
  int latency_hops = 2000, batch_hops = 40;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&](const char* name) -> const char* {
      const std::string n = std::string("--") + name;
      if (a == n && i + 1 < argc) return argv[++i];
      if (a.rfind(n + "=", 0) == 0) return argv[i] + n.size() + 1;
      return nullptr;
    };
    if (const char* v = val("model")) {
      model_path = v;
    } else if (const char* b = val("batches")) {
      batches.clear();
      for (const char* p = b; *p != '\0';) {
        batches.push_back(std::atoi(p));
        const char* c = std::strchr(p, ',');
        if (c == nullptr) break;
        p = c + 1;
      }
    } else if (const char* l = val("latency_hops")) {
      latency_hops = std::max(10, std::atoi(l));
    } else if (const char* h = val("batch_hops")) {
      batch_hops = std::max(3, std::atoi(h));
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (model_path.empty()) {
    const char* d = std::getenv("GHOSTNV_DTLN_CUDA_DATA");
    if (d != nullptr) model_path = std::string(d) + "/dtln.gnvm";
  }
  if (model_path.empty()) {
    std::fprintf(stderr, "usage: %s --model dtln.gnvm (ghostnv-convert of DTLN's model_1/2.onnx)\n", argv[0]);
    return 2;
  }
  absl::StatusOr<std::shared_ptr<const ghostnv::models::Model>> model =
      ghostnv::models::LoadModel(model_path);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  std::mt19937 rng(1);

  // CPU family, one core.
  double cpu_us = 0;
  {
    absl::StatusOr<std::unique_ptr<Family>> fam = ghostnv::models::dtln::CreateDtlnFamily(*model);
    if (!fam.ok()) {
      std::fprintf(stderr, "%s\n", std::string(fam.status().message()).c_str());
      return 1;
    }
    auto ch = (*fam)->NewChannel();
    std::vector<float> in(kHop), out(kHop);
    const int hops = 1000;
    for (int h = 0; h < 50; ++h) {
      FillNoise(in.data(), kHop, rng);
      (*fam)->ProcessHop(*ch, in.data(), out.data(), 1.f);
    }
    const auto t0 = Clock::now();
    for (int h = 0; h < hops; ++h) {
      FillNoise(in.data(), kHop, rng);
      (*fam)->ProcessHop(*ch, in.data(), out.data(), 1.f);
    }
    cpu_us = Us(t0, Clock::now()) / hops;
  }

  std::printf("# DTLN (%s) on the GPU: ghostnv_dtln_cuda_benchmark\n", model_path.c_str());
  std::printf("CPU family, one core: %.1f us per stream-hop (%.0f streams in real time per core)\n",
              cpu_us, kHopDeadlineUs / cpu_us);

  // Batch 1: latency, both LSTM paths.
  std::printf("\n| batch 1, realtime stream | Submit+Wait p50 (us) | p99 (us) | max (us) |\n"
              "| --- | ---: | ---: | ---: |\n");
  for (int split : {-1, 0}) {
    DtlnCudaPlanOptions o;
    o.max_sessions = 1;
    o.realtime = true;
    o.split_max_batch = split;
    absl::StatusOr<std::unique_ptr<DtlnCudaPlan>> plan = DtlnCudaPlan::Create(*model, o);
    if (!plan.ok()) {
      std::printf("skipped: %s\n", std::string(plan.status().message()).c_str());
      return 0;
    }
    if (split == -1) std::printf("<!-- device: %s -->\n", (*plan)->device_description().c_str());
    int slot = *(*plan)->AcquireSlot();
    float strength = 1.f;
    std::vector<double> t;
    t.reserve(latency_hops);
    for (int h = 0; h < latency_hops + 100; ++h) {
      FillNoise((*plan)->input_rows(), kHop, rng);
      const auto t0 = Clock::now();
      if ((*plan)->Submit(&slot, &strength, 1) != cu::kSuccess || (*plan)->Wait() != cu::kSuccess) {
        std::printf("hop failed\n");
        return 1;
      }
      const auto t1 = Clock::now();
      if (h >= 100) t.push_back(Us(t0, t1));
    }
    std::printf("| %s | %.1f | %.1f | %.1f |\n",
                split == -1 ? "split LSTM kernel (default)" : "row-tiled lstm.cu", Pct(t, 50),
                Pct(t, 99), *std::max_element(t.begin(), t.end()));
  }

  // Large batches: throughput.
  std::printf("\n| batch | us per hop (mean) | best | streams in real time | x one CPU core |\n"
              "| ---: | ---: | ---: | ---: | ---: |\n");
  for (int b : batches) {
    if (b < 1) continue;
    DtlnCudaPlanOptions o;
    o.max_sessions = b;
    absl::StatusOr<std::unique_ptr<DtlnCudaPlan>> plan = DtlnCudaPlan::Create(*model, o);
    if (!plan.ok()) {
      std::printf("| %d | failed: %s | | | |\n", b, std::string(plan.status().message()).c_str());
      continue;
    }
    std::vector<int> slots(b);
    std::vector<float> str(b, 1.f);
    for (int i = 0; i < b; ++i) slots[i] = *(*plan)->AcquireSlot();
    FillNoise((*plan)->input_rows(), static_cast<size_t>(b) * kHop, rng);
    std::vector<double> t;
    for (int h = 0; h < batch_hops + 3; ++h) {
      const auto t0 = Clock::now();
      if ((*plan)->Submit(slots.data(), str.data(), b) != cu::kSuccess ||
          (*plan)->Wait() != cu::kSuccess) {
        std::printf("hop failed\n");
        return 1;
      }
      if (h >= 3) t.push_back(Us(t0, Clock::now()));
    }
    double mean = 0;
    for (double v : t) mean += v;
    mean /= t.size();
    const double best = *std::min_element(t.begin(), t.end());
    const double streams = b * kHopDeadlineUs / mean;
    std::printf("| %d | %.0f | %.0f | %.0f%s | %.0f |\n", b, mean, best, streams,
                mean <= kHopDeadlineUs ? "" : " (batch misses the 8 ms hop)", cpu_us * b / mean);
  }
  // Where the time goes: a profiled plan (stages launched directly, events between them).
  std::printf("\nProfiled pass (stages launched directly with timing events; GPU us of the last "
              "hop; batch 1 includes per-launch gaps the graph does not have):\n");
  bool header = false;
  std::vector<int> prof_batches = {1};
  for (int b : batches) prof_batches.push_back(b);
  for (int b : prof_batches) {
    if (b < 1) continue;
    DtlnCudaPlanOptions o;
    o.max_sessions = b;
    o.profile = true;
    absl::StatusOr<std::unique_ptr<DtlnCudaPlan>> plan = DtlnCudaPlan::Create(*model, o);
    if (!plan.ok()) {
      std::printf("batch %d: %s\n", b, std::string(plan.status().message()).c_str());
      continue;
    }
    std::vector<int> slots(b);
    std::vector<float> str(b, 1.f);
    for (int i = 0; i < b; ++i) slots[i] = *(*plan)->AcquireSlot();
    FillNoise((*plan)->input_rows(), static_cast<size_t>(b) * kHop, rng);
    for (int h = 0; h < 5; ++h) {
      if ((*plan)->Submit(slots.data(), str.data(), b) != cu::kSuccess ||
          (*plan)->Wait() != cu::kSuccess) {
        std::printf("hop failed\n");
        return 1;
      }
    }
    const std::vector<ghostnv::models::dtln::DtlnStageTime> st = (*plan)->StageTimesUs();
    if (!header) {
      std::printf("| batch |");
      for (const auto& s : st) std::printf(" %s |", s.stage);
      std::printf(" total |\n| ---: |");
      for (size_t i = 0; i <= st.size(); ++i) std::printf(" ---: |");
      std::printf("\n");
      header = true;
    }
    double total = 0;
    std::printf("| %d |", b);
    for (const auto& s : st) {
      std::printf(" %.0f |", s.us);
      total += s.us;
    }
    std::printf(" %.0f |\n", total);
  }
  std::printf("\nstreams in real time = batch x 8000 us / (us per hop): the sessions one GPU keeps "
              "up with at that batch size, one hop in flight.\n");
  return 0;
}
