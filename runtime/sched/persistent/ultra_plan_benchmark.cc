// runtime/sched/persistent/ultra_plan_benchmark.cc — batch-1 real-time latency as the host sees
// it (PCM in → PCM out: copy the hop into the plan's input row, Submit, spin until done, copy the
// output row out), p50/p99/max over many hops, for:
//   ultra persistent kernel (weights in shared memory / all from L2), ultra graph replay (H2D +
//   the same fused kernel + D2H) — each with the thread-block cluster kernel (NEW, sm_90+) and
//   the single-block kernel (OLD), same binary, same run —, the RNNoise CudaPlan real-time graph
//   (17 nodes), and the CPU families on this core for scale. Not a test (no timing assertions).
//
//   ghostnv_ultra_plan_benchmark [ultra.gnvm] [default.gnvm] [hops=20000]
//   GHOSTNV_BENCH_COEXISTENCE=1 adds the probe of driver calls beside a running persistent kernel.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>
#include <atomic>

#include "models/family.h"
#include "models/model_loader.h"
#include "kernels/ultra_layout.cuh"
#include "runtime/context.h"
#include "runtime/device.h"
#include "runtime/kernel_build.h"
#include "runtime/memory.h"
#include "runtime/module.h"
#include "runtime/stream.h"
#include "runtime/sched/cuda_plan.h"
#include "runtime/sched/persistent/ultra_plan.h"

namespace {

using ghostnv::sched::CudaPlan;
namespace cu = ghostnv::runtime::cu;
using Clock = std::chrono::steady_clock;

struct Stats {
  double p50 = 0, p99 = 0, max = 0, mean = 0;
};

Stats Summarize(std::vector<double> us) {
  Stats s;
  if (us.empty()) return s;
  std::sort(us.begin(), us.end());
  s.p50 = us[us.size() / 2];
  s.p99 = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  s.max = us.back();
  double sum = 0;
  for (double v : us) sum += v;
  s.mean = sum / us.size();
  return s;
}

void Print(const char* what, const Stats& s, int hops) {
  std::printf("| %-58s | %8.2f | %8.2f | %8.2f | %8.2f | %6d |\n", what, s.p50, s.p99, s.max, s.mean, hops);
  std::fflush(stdout);
}

// PCM in -> PCM out through `plan`, one hop at a time; the first `warm` hops are not counted.
Stats RunPlan(CudaPlan& plan, int hops, int warm, bool* ok, std::vector<double>* cycles = nullptr) {
  const int hop = plan.hop_size();
  absl::StatusOr<int> slot = plan.AcquireSlot();
  if (!slot.ok()) {
    std::printf("slot: %s\n", std::string(slot.status().message()).c_str());
    *ok = false;
    return {};
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.f, 0.1f);
  std::vector<float> in(static_cast<size_t>(hop) * 64), out(hop);
  for (float& v : in) v = d(rng);
  std::vector<double> us;
  us.reserve(hops);
  const float strength = 1.f;
  int s = *slot;
  for (int h = 0; h < hops + warm; ++h) {
    const float* x = in.data() + (h % 64) * hop;
    const auto t0 = Clock::now();
    std::copy(x, x + hop, plan.input_rows());
    cu::CUresult r = plan.Submit(&s, &strength, 1);
    if (r == cu::kSuccess) {
      while ((r = plan.Query()) == cu::kErrorNotReady) {
      }
    }
    if (r != cu::kSuccess) {
      std::printf("hop %d failed: %d\n", h, r);
      *ok = false;
      return {};
    }
    std::copy(plan.output_rows(), plan.output_rows() + hop, out.data());
    const auto t1 = Clock::now();
    if (h >= warm) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (cycles != nullptr && h >= warm) {
      // The persistent ultra kernel's stage cycles (diagnostic words of the answer area).
      const int* words = reinterpret_cast<const int*>(plan.output_rows()) - (ULTRA_MB_OUT - ULTRA_MB_CYCLES);
      for (size_t i = 0; i < cycles->size(); ++i) (*cycles)[i] += static_cast<double>(words[i]) / hops;
    }
  }
  plan.ReleaseSlot(s);
  *ok = true;
  return Summarize(us);
}

// The plan's telemetry stages (CudaPlan::stage_times()) that have samples.
void PrintStages(const CudaPlan& plan) {
  const ghostnv::runtime::StageHistograms* st = plan.stage_times();
  if (st == nullptr) return;
  std::printf("|   telemetry stages (us, p50/p99):");
  for (int i = 0; i < ghostnv::runtime::kStageCount; ++i) {
    const auto s = static_cast<ghostnv::runtime::Stage>(i);
    const ghostnv::runtime::LatencyHistogram& h = (*st)[s];
    if (h.count() == 0) continue;
    std::printf(" %s %.2f/%.2f", ghostnv::runtime::StageName(s), static_cast<double>(h.Percentile(0.5)) * 1e-3,
                static_cast<double>(h.Percentile(0.99)) * 1e-3);
  }
  std::printf("\n");
}

Stats RunCpu(const ghostnv::models::Family& fam, int hops) {
  auto ch = fam.NewChannel();
  const int hop = fam.hop_size();
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.f, 0.1f);
  std::vector<float> in(static_cast<size_t>(hop) * 64), out(hop);
  for (float& v : in) v = d(rng);
  std::vector<double> us;
  for (int h = 0; h < hops; ++h) {
    const auto t0 = Clock::now();
    fam.ProcessHop(*ch, in.data() + (h % 64) * hop, out.data(), 1.f);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  return Summarize(us);
}

}  // namespace

int main(int argc, char** argv) {
  const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
  const std::string root = src != nullptr ? src : ".";
  const std::string ultra_path = argc > 1 ? argv[1] : root + "/models/weights/ultra.gnvm";
  const std::string rnnoise_path = argc > 2 ? argv[2] : root + "/models/weights/default.gnvm";
  const int hops = argc > 3 ? std::max(100, std::atoi(argv[3])) : 20000;
  const int warm = 500;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  auto ultra = ghostnv::models::LoadModel(ultra_path);
  if (!ultra.ok()) {
    std::printf("cannot load %s: %s\n", ultra_path.c_str(), std::string(ultra.status().message()).c_str());
    return 1;
  }
  std::printf("batch-1 real-time latency, PCM in -> PCM out as the host sees it (us)\n");
  std::printf("| %-58s | %8s | %8s | %8s | %8s | %6s |\n", "path", "p50", "p99", "max", "mean", "hops");
  std::printf("|%s|---:|---:|---:|---:|---:|\n", std::string(60, '-').c_str());
  ghostnv::sched::CudaPlanOptions o;
  o.max_sessions = 2;
  o.realtime = true;
  struct Variant {
    const char* name;
    ghostnv::sched::UltraPlanMode mode;
    bool smem;
    bool cluster;
    bool ll = true;     // persistent cluster kernel: the LL mailbox (2026-11-29)
    bool early = true;  // persistent cluster kernel: early states (2026-11-29)
    bool fast = true;   // the warp-shuffle FFT (2026-11-29 session 7; false: Stockham)
    bool pre2 = true;   // gru2's early parts on ranks 1.. (session 7)
    bool half = true;   // half-warp input_dense on ranks 1.. (session 7)
    bool band = true;   // rank 0's band warps send the features (session 7)
  } variants[] = {
      // The whole hop in one block (the fallback below sm_90).
      {"ultra one block: persistent, smem, warp FFT", ghostnv::sched::UltraPlanMode::kPersistent, true, false},
      {"ultra one block: persistent, smem, Stockham FFT", ghostnv::sched::UltraPlanMode::kPersistent, true, false,
       true, true, false},
      {"ultra one block: graph replay, warp FFT", ghostnv::sched::UltraPlanMode::kGraph, false, false},
      // sm_90+: the hop on a cluster of 8 blocks, GRU units spread over 7 of them.
      {"ultra cluster x8: persistent, smem (default, session 7)", ghostnv::sched::UltraPlanMode::kPersistent, true,
       true},
      {"ultra cluster x8: persistent, L2 (session 7)", ghostnv::sched::UltraPlanMode::kPersistent, false, true},
      {"ultra cluster x8: persistent, smem, features via smem", ghostnv::sched::UltraPlanMode::kPersistent, true,
       true, true, true, true, true, true, false},
      {"ultra cluster x8: persistent, smem, s6 ranks", ghostnv::sched::UltraPlanMode::kPersistent, true, true, true,
       true, true, false, false, false},
      {"ultra cluster x8: persistent, smem, s6 ranks + half dense", ghostnv::sched::UltraPlanMode::kPersistent, true,
       true, true, true, true, false, true, false},
      {"ultra cluster x8: persistent, smem, Stockham FFT, s6 ranks", ghostnv::sched::UltraPlanMode::kPersistent, true,
       true, true, true, false, false, false, false},
      {"ultra cluster x8: persistent, smem, no early states", ghostnv::sched::UltraPlanMode::kPersistent, true, true,
       true, false},
      {"ultra cluster x8: persistent, smem, 11-28 mailbox", ghostnv::sched::UltraPlanMode::kPersistent, true, true,
       false, false},
      {"ultra cluster x8: graph replay (backend default)", ghostnv::sched::UltraPlanMode::kGraph, false, true},
      {"ultra cluster x8: graph replay, Stockham FFT", ghostnv::sched::UltraPlanMode::kGraph, false, true, true, true,
       false},
  };
  int rc = 0;
  for (const Variant& v : variants) {
    ghostnv::sched::UltraPlanOptions u;
    u.mode = v.mode;
    u.weights_in_shared = v.smem;
    u.cluster = v.cluster;
    u.ll_mailbox = v.ll;
    u.early_states = v.early;
    u.fast_fft = v.fast;
    u.gru2_early_parts = v.pre2;
    u.half_warp_dense = v.half;
    u.band_send = v.band;
    const auto c0 = Clock::now();
    auto plan = ghostnv::sched::CreateUltraPlan(*ultra, o, u);
    const double create_ms = std::chrono::duration<double, std::milli>(Clock::now() - c0).count();
    if (!plan.ok()) {
      std::printf("| %-58s | skipped: %s |\n", v.name, std::string(plan.status().message()).c_str());
      rc = 2;
      continue;
    }
    bool ok = false;
    // 6 stage words, then the cluster kernel's ULTRA_MB_FINE words (0 for the single block).
    std::vector<double> cycles(ULTRA_MB_RANK1 + ULTRA_MB_RANK1_WORDS - ULTRA_MB_CYCLES, 0.0);
    const bool persistent = v.mode == ghostnv::sched::UltraPlanMode::kPersistent;
    const Stats s = RunPlan(**plan, hops, warm, &ok, persistent ? &cycles : nullptr);
    if (ok) Print(v.name, s, hops);
    std::printf("|   plan: %s\n", (*plan)->device_description().c_str());
    if (ok && persistent)
      std::printf("|   kernel stages (block 0), mean SM cycles: input read %.0f, analysis %.0f, network %.0f, "
                  "synthesis %.0f, output+fence %.0f, total %.0f\n",
                  cycles[0], cycles[1], cycles[2], cycles[3], cycles[4], cycles[5]);
    if (ok && persistent && cycles.back() > 0) {
      const double* f = cycles.data() + (ULTRA_MB_FINE - ULTRA_MB_CYCLES);
      std::printf("|   block 0 after the input read, mean SM cycles to: DFT %.0f, features %.0f, request sent %.0f, "
                  "gru1 state in %.0f, gru2 state in %.0f, output layers %.0f, synthesis %.0f\n",
                  f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
      const double* r = cycles.data() + (ULTRA_MB_RANK1 - ULTRA_MB_CYCLES);
      std::printf("|   rank 1 (own SM cycles) after the features are in, to: input_dense %.0f, gru1 sent %.0f, gru1 state "
                  "in %.0f, gru2 sent %.0f; states in before the features by %.0f; hop %.0f\n",
                  r[0], r[1], r[2], r[3], r[4], r[5]);
    }
    if (ok) PrintStages(**plan);
    const auto d0 = Clock::now();
    plan->reset();
    std::printf("|   (create %.1f ms, destroy %.1f ms)\n", create_ms,
                std::chrono::duration<double, std::milli>(Clock::now() - d0).count());
  }
  auto rn = ghostnv::models::LoadModel(rnnoise_path);
  if (rn.ok()) {
    o.max_sessions = 1;
    auto plan = CudaPlan::Create(*rn, o);
    if (plan.ok()) {
      bool ok = false;
      const Stats s = RunPlan(**plan, std::min(hops, 5000), warm, &ok);
      if (ok) Print("rnnoise (480 samples): CudaPlan graph, 17 nodes", s, std::min(hops, 5000));
      if (ok) PrintStages(**plan);
    } else {
      std::printf("| rnnoise CudaPlan | skipped: %s |\n", std::string(plan.status().message()).c_str());
    }
    auto fam = ghostnv::models::CreateFamily(*rn);
    if (fam.ok()) Print("rnnoise: CPU family, this core", RunCpu(**fam, 3000), 3000);
  }
  // Coexistence probe (GHOSTNV_BENCH_COEXISTENCE=1): driver calls made while a persistent
  // kernel runs, each timed; a watchdog ends the process (exit 3) when one blocks. Measured on
  // the H200 (2026-11-28): cuMemAlloc returns, cuMemFree blocks for good.
  if (const char* co = std::getenv("GHOSTNV_BENCH_COEXISTENCE"); co != nullptr && co[0] == '1') {
    std::atomic<bool> done{false};
    std::thread dog([&done] {
      const char* lim = std::getenv("GHOSTNV_BENCH_COEXISTENCE_S");  // watchdog, default 12 s
      const int tenths = lim != nullptr ? std::max(1, std::atoi(lim)) * 10 : 120;
      for (int i = 0; i < tenths && !done.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!done.load()) {
        std::printf("coexistence: HANG (another plan's setup/teardown blocked behind the persistent kernel)\n");
        std::fflush(stdout);
        std::_Exit(3);
      }
    });
    o.max_sessions = 2;
    auto a = ghostnv::sched::CreateUltraPlan(*ultra, o, {});
    if (a.ok()) {
      const auto t0 = Clock::now();
      auto ms = [&t0] { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); };
      auto step = [&](const char* what) { std::printf("coexistence: %-58s at %8.2f ms\n", what, ms()); };
      using namespace ghostnv::runtime;
      auto dev = FindDevice("cuda");
      auto ctx = Context::Retain(*dev);
      step("start (persistent kernel running)");
      {
        auto blk = DeviceBlock::Allocate(*ctx, 1 << 20);
        step(blk.ok() ? "cuMemAlloc 1 MiB returned" : "cuMemAlloc failed");
      }
      step("cuMemFree 1 MiB returned");
      {
        auto h = PinnedBlock::Allocate(*ctx, 4096, HostMapping::kMapped);
        step(h.ok() ? "cuMemHostAlloc 4 KiB returned" : "cuMemHostAlloc failed");
      }
      step("cuMemFreeHost 4 KiB returned");
      {
        auto st = Stream::Create(*ctx, StreamPriority::kBatch);
        step(st.ok() ? "cuStreamCreate returned" : "cuStreamCreate failed");
      }
      step("cuStreamDestroy returned");
      {
        auto k = BuildKernelProgram(*FindKernelProgram("gru.cu"), dev->Arch(), CubinCache(CubinCache::DefaultDir()));
        if (k.ok()) {
          auto m = Module::Load(*ctx, k->image, "gru.cu");
          step(m.ok() ? "cuModuleLoadData returned" : "cuModuleLoadData failed");
        }
      }
      step("cuModuleUnload returned");
      ghostnv::sched::UltraPlanOptions g;
      g.mode = ghostnv::sched::UltraPlanMode::kGraph;
      {
        auto b = ghostnv::sched::CreateUltraPlan(*ultra, o, g);
        step(b.ok() ? "graph-mode ultra plan created" : "graph-mode ultra plan failed");
        bool ok2 = false;
        if (b.ok()) RunPlan(**b, 200, 10, &ok2);
        step(ok2 ? "graph-mode ultra plan ran 200 hops" : "graph-mode plan did not run");
      }
      step("graph-mode ultra plan destroyed");
      bool ok1 = false;
      RunPlan(**a, 200, 10, &ok1);
      step(ok1 ? "persistent plan still answers" : "persistent plan failed");
    }
    done = true;
    dog.join();
  }
  auto ufam = ghostnv::models::CreateFamily(*ultra);
  if (ufam.ok()) Print("ultra: CPU family, this core", RunCpu(**ufam, 20000), 20000);
  return rc;
}
