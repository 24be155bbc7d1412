// runtime/sched/cuda_plan_benchmark.cc — ghostnv_cuda_plan_benchmark: the whole RNNoise pipeline
// on the GPU, PCM in -> PCM out per 10 ms hop (CudaPlan: H2D, frontend, network, postprocess,
// iFFT/overlap-add, D2H as one replayed graph), next to the CPU family on one core.
// Never run by ctest; tools/gpu-check.sh runs it.
//
//   ghostnv_cuda_plan_benchmark [--model path.gnvm] [--batches 1024,4096,16384,65536]
//                               [--iters 2000] [--csv out.csv]
//
// Real time: a plan with realtime=true (greatest stream priority), one session, Submit + Wait
// timed on the host for every hop (p50/p99/max, µs). Throughput: one plan of max(batches)
// slots, every batch size timed over back-to-back hops (Submit + Wait each), reported as time
// per hop and as the number of streams it keeps in real time (batch * 10 ms / time per hop).
// CPU: models::Family::ProcessHop on one thread, per stream.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "models/family.h"
#include "models/model_loader.h"
#include "runtime/sched/cuda_plan.h"
#include "runtime/sched/cuda_plan_profile.h"

namespace ghostnv::sched {
namespace {

using Clock = std::chrono::steady_clock;

double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

std::vector<float> Signal(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> x(n);
  const double f0 = 100 + seed % 150;
  for (size_t i = 0; i < n; ++i) {
    const double t = double(i) / 48000;
    const double env = 0.5 + 0.5 * std::sin(2 * M_PI * 3 * t);
    x[i] = static_cast<float>(0.2 * env * (std::sin(2 * M_PI * f0 * t) + 0.5 * std::sin(4 * M_PI * f0 * t + 1))) +
           0.02f * g(rng);
  }
  return x;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

int Main(int argc, char** argv) {
  std::string model_path, csv;
  std::vector<int> batches = {1024, 4096, 16384, 65536};
  int iters = 2000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--model") {
      model_path = next();
    } else if (a == "--csv") {
      csv = next();
    } else if (a == "--iters") {
      iters = std::max(10, std::atoi(next().c_str()));
    } else if (a == "--batches") {
      batches.clear();
      for (absl::string_view s : absl::StrSplit(next(), ',')) {
        int b = 0;
        if (absl::SimpleAtoi(s, &b) && b > 0) batches.push_back(b);
      }
    } else {
      std::cerr << "usage: ghostnv_cuda_plan_benchmark [--model m.gnvm] [--batches a,b] [--iters n] [--csv f]\n";
      return 2;
    }
  }
  if (model_path.empty()) {
    const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
    model_path = std::string(src != nullptr ? src : ".") + "/models/weights/default.gnvm";
  }
  absl::StatusOr<std::shared_ptr<const models::Model>> model = models::LoadModel(model_path);
  if (!model.ok()) {
    std::cerr << "error: " << model.status() << "\n";
    return 1;
  }
  std::ofstream out;
  if (!csv.empty()) {
    out.open(csv);
    out << "impl,mode,batch,us_per_hop,p50_us,p99_us,streams_realtime\n";
  }
  const std::vector<float> sig = Signal(48000 * 4, 1);
  const int hop = 480;
  const size_t hops_in_sig = sig.size() / hop;

  // CPU: one thread, one stream.
  {
    absl::StatusOr<std::unique_ptr<models::Family>> fam = models::CreateFamily(*model);
    if (!fam.ok()) {
      std::cerr << "error: " << fam.status() << "\n";
      return 1;
    }
    auto ch = (*fam)->NewChannel();
    std::vector<float> y(hop);
    const int n = 2000;
    for (int t = 0; t < 100; ++t) (*fam)->ProcessHop(*ch, &sig[(t % hops_in_sig) * hop], y.data(), 1.f);
    const auto t0 = Clock::now();
    for (int t = 0; t < n; ++t) (*fam)->ProcessHop(*ch, &sig[(t % hops_in_sig) * hop], y.data(), 1.f);
    const double us = Us(Clock::now() - t0) / n;
    std::printf("cpu family: %.2f us per hop per stream on one core (%.0f streams in real time per core)\n", us,
                10000.0 / us);
    if (out) out << "cpu,one_core,1," << us << ",,," << 10000.0 / us << "\n";
  }

  // Real time: batch 1, greatest priority.
  {
    CudaPlanOptions o;
    o.max_sessions = 1;
    o.realtime = true;
    const auto c0 = Clock::now();
    absl::StatusOr<std::unique_ptr<CudaPlan>> plan = CudaPlan::Create(*model, o);
    if (!plan.ok()) {
      std::cerr << "error: " << plan.status() << "\n";
      return 1;
    }
    std::printf("device: %s; plan created in %.1f ms\n", (*plan)->device_description().c_str(),
                Us(Clock::now() - c0) / 1000);
    CudaPlan& p = **plan;
    const int slot = *p.AcquireSlot();
    const float one = 1.f;
    std::vector<double> lat;
    lat.reserve(iters);
    for (int t = 0; t < iters + 200; ++t) {
      std::copy_n(&sig[(t % hops_in_sig) * hop], hop, p.input_rows());
      const auto t0 = Clock::now();
      if (p.Submit(&slot, &one, 1) != cu::kSuccess || p.Wait() != cu::kSuccess) {
        std::cerr << "error: submit/wait failed\n";
        return 1;
      }
      if (t >= 200) lat.push_back(Us(Clock::now() - t0));
    }
    const double p50 = Percentile(lat, .5), p99 = Percentile(lat, .99), mx = Percentile(lat, 1);
    std::printf("cuda_plan realtime batch 1: Submit+Wait p50 %.1f us, p99 %.1f us, max %.1f us (%d hops)\n", p50,
                p99, mx, iters);
    if (out) out << "ghostnv,realtime_graph,1,," << p50 << "," << p99 << ",\n";
  }

  // Throughput (pass 0), then the same plan with a timing event after every stage (pass 1:
  // where the GPU time goes; the events add graph nodes, so pass 0 is the measurement).
  const int max_b = *std::max_element(batches.begin(), batches.end());
  // Pass 2: 16-bit PCM rows (half the PCIe traffic), throughput only.
  for (int pass = 0; pass < 3; ++pass) {
    if (pass == 1) setenv("GHOSTNV_CUDA_PLAN_PROFILE", "1", 1);
    if (pass == 2) unsetenv("GHOSTNV_CUDA_PLAN_PROFILE");
    CudaPlanOptions o;
    o.max_sessions = max_b;
    o.pcm16 = pass == 2;
    absl::StatusOr<std::unique_ptr<CudaPlan>> plan = CudaPlan::Create(*model, o);
    if (!plan.ok()) {
      std::cerr << "error: " << plan.status() << "\n";
      return 1;
    }
    CudaPlan& p = **plan;
    std::vector<int> slots(max_b);
    for (int& s : slots) s = *p.AcquireSlot();
    std::vector<float> strengths(max_b, 1.f);
    for (int b = 0; b < max_b; ++b) {
      const float* x = &sig[((b * 7) % hops_in_sig) * hop];
      if (o.pcm16) {
        int16_t* row = p.input_rows16() + static_cast<size_t>(b) * hop;
        for (int i = 0; i < hop; ++i)
          row[i] = static_cast<int16_t>(std::clamp(std::lrint(x[i] * 32768.f), -32768L, 32767L));
      } else {
        std::copy_n(x, hop, p.input_rows() + static_cast<size_t>(b) * hop);
      }
    }
    std::vector<int> run = batches;
    if (pass == 1) run.insert(run.begin(), 1);
    for (int batch : run) {
      for (int t = 0; t < 3; ++t) {
        p.Submit(slots.data(), strengths.data(), batch);
        p.Wait();
      }
      if (pass == 1) {
        std::string line;
        float total = 0;
        for (const CudaPlanStage& st : CudaPlanStageTimes(p)) {
          absl::StrAppend(&line, " ", st.name, " ", static_cast<int>(st.us + 0.5f));
          total += st.us;
        }
        std::printf("cuda_plan stages (us, GPU, profiled) batch %6d:%s | total %.0f\n", batch, line.c_str(), total);
        continue;
      }
      const int n = std::max(5, std::min(200, 2000000 / batch));
      std::vector<double> lat;
      const auto t0 = Clock::now();
      for (int t = 0; t < n; ++t) {
        const auto s0 = Clock::now();
        if (p.Submit(slots.data(), strengths.data(), batch) != cu::kSuccess || p.Wait() != cu::kSuccess) {
          std::cerr << "error: submit/wait failed at batch " << batch << "\n";
          return 1;
        }
        lat.push_back(Us(Clock::now() - s0));
      }
      const double us = Us(Clock::now() - t0) / n;
      const double streams = batch * 10000.0 / us;
      std::printf("cuda_plan %sbatch %6d: %9.1f us per hop (p50 %.1f, p99 %.1f) = %.3f us per stream-hop, %.0f "
                  "streams in real time\n",
                  o.pcm16 ? "pcm16 " : "", batch, us, Percentile(lat, .5), Percentile(lat, .99), us / batch, streams);
      if (out) out << (o.pcm16 ? "ghostnv,batched_graph_pcm16," : "ghostnv,batched_graph,") << batch << "," << us << "," << Percentile(lat, .5) << ","
                   << Percentile(lat, .99) << "," << streams << "\n";
    }
  }
  return 0;
}

}  // namespace
}  // namespace ghostnv::sched

int main(int argc, char** argv) { return ghostnv::sched::Main(argc, argv); }
