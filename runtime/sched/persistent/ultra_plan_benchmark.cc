// runtime/sched/persistent/ultra_plan_benchmark.cc — batch-1 real-time latency as the host sees
// it (PCM in → PCM out: copy the hop into the plan's input row, Submit, spin until done, copy the
// output row out), p50/p99/max over many hops, for:
//   ultra persistent kernel (weights in shared memory / all from L2), ultra graph replay (H2D +
//   the same fused kernel + D2H) — each with the thread-block cluster kernel (NEW, sm_90+) and
//   the single-block kernel (OLD), same binary, same run —, the RNNoise CudaPlan real-time graph
//   (17 nodes), and the CPU families on this core for scale. Not a test (no timing assertions).
//
//   ghostnv_ultra_plan_benchmark [ultra.gnvm] [default.gnvm] [hops=20000]
//   GHOSTNV_BENCH_COEXISTENCE=1 adds the probe of driver calls beside a running persistent kernel
//   (which raw calls block; the gated path; plans created and destroyed beside a streaming plan).
//   GHOSTNV_BENCH_VARIANTS=quick: only the default persistent and graph variants.
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
#include <functional>

#include "models/family.h"
#include "models/model_loader.h"
#include "kernels/ultra_layout.cuh"
#include "runtime/context.h"
#include "runtime/device.h"
#include "runtime/kernel_build.h"
#include "runtime/memory.h"
#include "runtime/module.h"
#include "runtime/park_gate.h"
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
      {"ultra cluster x8: persistent, smem (backend default, s8)", ghostnv::sched::UltraPlanMode::kPersistent, true,
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
      {"ultra cluster x8: graph replay (the fallback)", ghostnv::sched::UltraPlanMode::kGraph, false, true},
      {"ultra cluster x8: graph replay, Stockham FFT", ghostnv::sched::UltraPlanMode::kGraph, false, true, true, true,
       false},
  };
  int rc = 0;
  const char* which = std::getenv("GHOSTNV_BENCH_VARIANTS");
  const bool quick = which != nullptr && std::string(which) == "quick";
  for (const Variant& v : variants) {
    if (quick && std::string(v.name).find("default") == std::string::npos &&
        std::string(v.name).find("fallback") == std::string::npos &&
        std::string(v.name) != "ultra one block: persistent, smem, warp FFT")
      continue;
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
  // Coexistence probe (GHOSTNV_BENCH_COEXISTENCE=1), session 8: which driver calls wait behind a
  // running persistent kernel. Each call is made RAW (not through runtime/park_gate.h) on a
  // worker thread; if it has not returned after 300 ms it is reported as blocking and rescued:
  // a ParkScope on this thread parks the kernel (a stop command in mapped memory, no driver
  // call), the call then returns, and the scope's end relaunches the kernel. Then the gated
  // path (DeviceBlock frees etc. through the gate) is timed, and the churn: hops on one thread
  // while other plans are created and destroyed on this one (worst gap).
  if (const char* co = std::getenv("GHOSTNV_BENCH_COEXISTENCE"); co != nullptr && co[0] == '1') {
    std::atomic<bool> done{false};
    std::thread dog([&done] {
      const char* lim = std::getenv("GHOSTNV_BENCH_COEXISTENCE_S");  // watchdog, default 30 s
      const int tenths = lim != nullptr ? std::max(1, std::atoi(lim)) * 10 : 300;
      for (int i = 0; i < tenths && !done.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!done.load()) {
        std::printf("coexistence: HANG (a call blocked and the park did not free it)\n");
        std::fflush(stdout);
        std::_Exit(3);
      }
    });
    o.max_sessions = 2;
    auto a = ghostnv::sched::CreateUltraPlan(*ultra, o, {});
    if (a.ok()) {
      using namespace ghostnv::runtime;
      std::printf("coexistence: persistent plan %s; gate members %d\n", (*a)->device_description().c_str(),
                  ParkGate::Get().members());
      auto dev = FindDevice(o.device.empty() ? "cuda" : o.device);
      auto ctx = Context::Retain(*dev);
      const DriverApi& api = ctx->api();
      cu::CUstream side = nullptr;
      api.StreamCreateWithPriority(&side, cu::kStreamNonBlocking, 0);
      cu::CUdeviceptr dptr = 0, aptr = 0;
      void* hptr = nullptr;
      cu::CUstream s2 = nullptr;
      cu::CUevent ev = nullptr;
      cu::CUmodule mod = nullptr;
      cu::CUgraph graph = nullptr;
      cu::CUgraphExec gexec = nullptr;
      auto k = BuildKernelProgram(*FindKernelProgram("gru.cu"), dev->Arch(), CubinCache(CubinCache::DefaultDir()));
      int blocking = 0;
      auto probe = [&](const char* what, const std::function<int()>& call) {
        std::atomic<bool> back{false};
        std::atomic<int> res{0};
        const auto t0 = Clock::now();
        std::thread w([&] {
          (void)ctx->MakeCurrent();
          res = call();
          back = true;
        });
        while (!back.load() && Clock::now() - t0 < std::chrono::milliseconds(300)) std::this_thread::yield();
        if (back.load()) {
          w.join();
          std::printf("coexistence: %-52s returned in %8.3f ms (rc %d)\n", what,
                      std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), res.load());
          return;
        }
        ++blocking;
        const auto p0 = Clock::now();
        {
          ParkScope park;  // parks the persistent kernel: the blocked call can finish
          while (!back.load()) std::this_thread::yield();
          w.join();
        }
        std::printf("coexistence: %-52s BLOCKS (returned %.3f ms after the park; rc %d)\n", what,
                    std::chrono::duration<double, std::milli>(Clock::now() - p0).count(), res.load());
      };
      probe("cuMemAlloc 1 MiB", [&] { return api.MemAlloc(&dptr, 1 << 20); });
      probe("cuMemsetD8 (synchronous, legacy stream) 1 MiB", [&] { return api.MemsetD8(dptr, 0, 1 << 20); });
      probe("cuMemFree 1 MiB", [&] { return api.MemFree(dptr); });
      probe("cuMemHostAlloc 4 KiB mapped", [&] {
        return api.MemHostAlloc(&hptr, 4096, cu::kMemHostAllocPortable | cu::kMemHostAllocDeviceMap);
      });
      probe("cuMemFreeHost 4 KiB", [&] { return api.MemFreeHost(hptr); });
      probe("cuStreamCreateWithPriority", [&] { return api.StreamCreateWithPriority(&s2, cu::kStreamNonBlocking, 0); });
      probe("cuStreamSynchronize (another, empty stream)", [&] { return api.StreamSynchronize(s2); });
      probe("cuStreamDestroy", [&] { return api.StreamDestroy(s2); });
      probe("cuEventCreate + cuEventRecord + cuEventSynchronize", [&] {
        int r = api.EventCreate(&ev, cu::kEventDisableTiming);
        if (r == 0) r = api.EventRecord(ev, side);
        if (r == 0) r = api.EventSynchronize(ev);
        return r;
      });
      probe("cuEventDestroy", [&] { return api.EventDestroy(ev); });
      if (k.ok()) {
        probe("cuModuleLoadData (gru.cu)", [&] { return api.ModuleLoadData(&mod, k->image.data()); });
        probe("cuModuleUnload", [&] { return api.ModuleUnload(mod); });
      }
      probe("cuMemAlloc 64 KiB + graph capture/instantiate/launch/sync", [&] {
        int r = api.MemAlloc(&aptr, 65536);
        if (r == 0) r = api.StreamBeginCapture(side, cu::kStreamCaptureModeThreadLocal);
        if (r == 0) r = api.MemsetD8Async(aptr, 1, 65536, side);
        if (r == 0) r = api.StreamEndCapture(side, &graph);
        if (r == 0) r = api.GraphInstantiateWithFlags(&gexec, graph, 0);
        if (r == 0) r = api.GraphLaunch(gexec, side);
        if (r == 0) r = api.StreamSynchronize(side);
        return r;
      });
      probe("cuGraphExecDestroy", [&] { return api.GraphExecDestroy(gexec); });
      probe("cuGraphDestroy", [&] { return api.GraphDestroy(graph); });
      probe("cuMemFree 64 KiB (the graph's buffer)", [&] { return api.MemFree(aptr); });
      if (api.MemAllocAsync != nullptr && api.MemFreeAsync != nullptr) {
        probe("cuMemAllocAsync 1 MiB + cuStreamSynchronize (side)", [&] {
          int r = api.MemAllocAsync(&aptr, 1 << 20, side);
          if (r == 0) r = api.StreamSynchronize(side);
          return r;
        });
        probe("cuMemFreeAsync + cuStreamSynchronize (side)", [&] {
          int r = api.MemFreeAsync(aptr, side);
          if (r == 0) r = api.StreamSynchronize(side);
          return r;
        });
      }
      probe("cuMemGetInfo", [&] {
        size_t f = 0, t = 0;
        return api.MemGetInfo(&f, &t);
      });
      probe("cuStreamSynchronize (legacy NULL stream)", [&] { return api.StreamSynchronize(nullptr); });
      probe("cuCtxSynchronize", [&] { return api.CtxSynchronize(); });
      std::printf("coexistence: %d raw calls blocked behind the persistent kernel\n", blocking);
      bool ok1 = false;
      RunPlan(**a, 200, 10, &ok1);
      std::printf("coexistence: persistent plan %s after the probe\n", ok1 ? "still answers" : "FAILED");
      // The gated path: what this library's own setup/teardown calls cost beside the kernel.
      {
        const uint64_t p0 = ParkGate::Get().parks();
        const auto t0 = Clock::now();
        for (int i = 0; i < 20; ++i) {
          auto blk = DeviceBlock::Allocate(*ctx, 1 << 20, Wipe::kOnFree);
        }
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        std::printf("coexistence: 20 x DeviceBlock 1 MiB alloc+wipe+free through the gate: %.3f ms (%.3f ms each, "
                    "%llu parks)\n", ms, ms / 20, static_cast<unsigned long long>(ParkGate::Get().parks() - p0));
      }
      // Churn: hops on a thread (paced 200 us apart) while plans come and go on this one.
      {
        std::atomic<bool> stop{false};
        std::vector<double> gaps;
        gaps.reserve(200000);
        bool hop_ok = true;
        std::thread audio([&] {
          CudaPlan& plan = **a;
          absl::StatusOr<int> slot = plan.AcquireSlot();
          if (!slot.ok()) { hop_ok = false; return; }
          int sl = *slot;
          const float strength = 1.f;
          std::mt19937 rng(3);
          std::normal_distribution<float> d(0.f, 0.1f);
          while (!stop.load()) {
            const auto t0 = Clock::now();
            for (int i = 0; i < plan.hop_size(); ++i) plan.input_rows()[i] = d(rng);
            cu::CUresult r = plan.Submit(&sl, &strength, 1);
            if (r == cu::kSuccess) r = plan.Wait();
            if (r != cu::kSuccess) { hop_ok = false; break; }
            gaps.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
            while (Clock::now() - t0 < std::chrono::microseconds(200)) {
            }
          }
          plan.ReleaseSlot(sl);
        });
        const uint64_t p0 = ParkGate::Get().parks();
        const auto t0 = Clock::now();
        int made = 0;
        for (int round = 0; round < 6; ++round) {
          ghostnv::sched::CudaPlanOptions bo;
          bo.max_sessions = 256;
          bo.realtime = false;
          if (rn.ok()) {
            auto p = CudaPlan::Create(*rn, bo);
            if (p.ok()) ++made;
          }
          ghostnv::sched::UltraPlanOptions g;
          g.mode = ghostnv::sched::UltraPlanMode::kGraph;
          auto q = ghostnv::sched::CreateUltraPlan(*ultra, o, g);
          if (q.ok()) ++made;
        }
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        stop = true;
        audio.join();
        const Stats st = Summarize(gaps);
        std::printf("coexistence: churn %d plans created+destroyed in %.1f ms (%llu parks) beside %zu hops: "
                    "hop p50 %.2f p99 %.2f worst %.2f us; hops %s\n",
                    made, ms, static_cast<unsigned long long>(ParkGate::Get().parks() - p0), gaps.size(), st.p50,
                    st.p99, st.max, hop_ok ? "all answered" : "FAILED");
      }
      api.StreamDestroy(side);
    }
    done = true;
    dog.join();
  }
  auto ufam = ghostnv::models::CreateFamily(*ultra);
  if (ufam.ok()) Print("ultra: CPU family, this core", RunCpu(**ufam, 20000), 20000);
  return rc;
}
