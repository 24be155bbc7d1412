// runtime/sched/cuda_plan_benchmark.cc — ghostnv_cuda_plan_benchmark: the whole RNNoise pipeline
// on the GPU, PCM in -> PCM out per 10 ms hop (CudaPlan: H2D, frontend, network, postprocess,
// iFFT/overlap-add, D2H as one replayed graph), next to the CPU family on one core.
// Never run by ctest; tools/gpu-check.sh runs it.
//
//   ghostnv_cuda_plan_benchmark [--model path.gnvm] [--batches 1024,4096,16384,65536]
//                               [--iters 2000] [--csv out.csv] [--network auto|fp32|fp16|fp16x3] [--quick]
//   --network: CudaPlanOptions::network of the batched plans (default auto, the plans' default:
//   fp16x3 from 4096 sessions on, else fp32).
//   --search n: at most n plans in the deadline search (default 6); 0 = no chunk sweep and no
//   search (throughput, stages and the PCIe bound only).
//   --quick: no CPU/real-time/float passes and no chunk sweep (16 chunks, 4 compute streams,
//   the best of the 2026-11-28 sweep): 16-bit PCM throughput, its stages, the deadline search.
//   --ab "name:KEY=V+KEY=V;name2:...": A/B of plan variants in one process (16-bit PCM, the
//   largest batch): for each, the environment KEYs are set (net=auto|fp16|fp16x3|fp32 sets --network), a
//   plan's hop is timed and a profiling plan's stages printed; then the fastest variant's
//   settings stay for the PCIe bound and the deadline search (replaces the passes).
//   E.g. --ab "base:;occ8:GHOSTNV_CUDA_PLAN_FUSED_OCC=8;tc:net=fp16+GHOSTNV_TC_VARIANT=4".
//   GHOSTNV_CUDA_PLAN_LANE_HIGHPASS=0|1 in the environment selects the frontend's high-pass
//   (cuda_plan.h), GHOSTNV_CUDA_PLAN_LANE_CHAINS=0|1 the fused or the chained frontend
//   (lane_chains); GHOSTNV_CUDA_PLAN_FUSED=0|1 the split or the fused
//   kernels after it (CudaPlanOptions::fused_spectra; the stage names show which ran).
//
// Real time: a plan with realtime=true (greatest stream priority), one session, Submit + Wait
// timed on the host for every hop (p50/p99/max, µs). Throughput: one plan of max(batches)
// slots, every batch size timed over back-to-back hops (Submit + Wait each), reported as time
// per hop and as the number of streams it keeps in real time (batch * 10 ms / time per hop).
// CPU: models::Family::ProcessHop on one thread, per stream.
//
// Batched mode against PCIe (issue 3): the pinned host<->device bandwidth is measured in the
// same run (64 MiB copies, each direction alone and both at once), and with 16-bit PCM (96 KB/s
// per stream per direction) it bounds the streams one GPU can serve; the benchmark prints that
// bound, a sweep of the copy/compute pipeline's chunk count (CudaPlanOptions::batch_chunks), and
// the streams really served in real time = the largest batch whose hop meets the 10 ms deadline
// (p99 of back-to-back hops), found by a search with plans of exactly that many sessions. The
// profiled pass prints every stage's achieved GB/s (global-memory bytes it must move, counted
// per row below) and GFLOP/s against the ceilings measured here (device-to-device copy; PCIe).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "models/family.h"
#include "models/model_loader.h"
#include "runtime/context.h"
#include "runtime/device.h"
#include "runtime/memory.h"
#include "runtime/stream.h"
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

// Pinned host <-> device and device <-> device bandwidth (GB/s), measured with CUDA events.
struct Links {
  double h2d = 0, d2h = 0, h2d_duplex = 0, d2h_duplex = 0, dtod = 0;  // dtod: read + write bytes
};

absl::StatusOr<Links> MeasureLinks() {
  absl::StatusOr<runtime::DeviceInfo> dev = runtime::FindDevice("cuda");
  if (!dev.ok()) return dev.status();
  absl::StatusOr<runtime::Context> ctx = runtime::Context::Retain(*dev);
  if (!ctx.ok()) return ctx.status();
  const size_t bytes = size_t{64} << 20, dbytes = size_t{512} << 20;
  absl::StatusOr<runtime::PinnedBlock> h_up = runtime::PinnedBlock::Allocate(*ctx, bytes);
  absl::StatusOr<runtime::PinnedBlock> h_down = runtime::PinnedBlock::Allocate(*ctx, bytes);
  absl::StatusOr<runtime::DeviceBlock> d_up = runtime::DeviceBlock::Allocate(*ctx, bytes);
  absl::StatusOr<runtime::DeviceBlock> d_down = runtime::DeviceBlock::Allocate(*ctx, bytes);
  absl::StatusOr<runtime::DeviceBlock> d_a = runtime::DeviceBlock::Allocate(*ctx, dbytes);
  absl::StatusOr<runtime::DeviceBlock> d_b = runtime::DeviceBlock::Allocate(*ctx, dbytes);
  absl::StatusOr<runtime::Stream> s1 = runtime::Stream::Create(*ctx, runtime::StreamPriority::kBatch);
  absl::StatusOr<runtime::Stream> s2 = runtime::Stream::Create(*ctx, runtime::StreamPriority::kBatch);
  for (const absl::Status& st : {h_up.status(), h_down.status(), d_up.status(), d_down.status(), d_a.status(),
                                 d_b.status(), s1.status(), s2.status()})
    if (!st.ok()) return st;
  std::memset(h_up->data(), 1, bytes);
  std::memset(h_down->data(), 0, bytes);
  std::vector<runtime::Event> ev;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<runtime::Event> e = runtime::Event::Create(*ctx, runtime::EventTiming::kEnabled);
    if (!e.ok()) return e.status();
    ev.push_back(*std::move(e));
  }
  const runtime::DriverApi& api = ctx->api();
  const int reps = 10;
  auto up = [&](const runtime::Stream& s) { return d_up->CopyFromHostAsync(h_up->data(), bytes, s); };
  auto down = [&](const runtime::Stream& s) { return d_down->CopyToHostAsync(h_down->data(), bytes, s); };
  // ms of `reps` copies on s1 (and, with both, `reps` of the other kind on s2 at the same time).
  auto timed = [&](bool h2d, bool both, double* ms2) -> absl::StatusOr<double> {
    for (int w = 0; w < 2; ++w) {
      (void)(h2d ? up(*s1) : down(*s1));
      if (both) (void)(h2d ? down(*s2) : up(*s2));
    }
    (void)ev[0].Record(*s1);
    if (both) {
      (void)ev[0].MakeWait(*s2);
      (void)ev[2].Record(*s2);
    }
    for (int r = 0; r < reps; ++r) {
      if (cu::CUresult e = h2d ? up(*s1) : down(*s1); e != cu::kSuccess) return absl::InternalError("copy failed");
      if (both) (void)(h2d ? down(*s2) : up(*s2));
    }
    (void)ev[1].Record(*s1);
    if (both) (void)ev[3].Record(*s2);
    if (absl::Status st = ctx->Synchronize(); !st.ok()) return st;
    absl::StatusOr<float> ms = runtime::Event::ElapsedMs(ev[0], ev[1]);
    if (!ms.ok()) return ms.status();
    if (both) {
      absl::StatusOr<float> m2 = runtime::Event::ElapsedMs(ev[2], ev[3]);
      if (!m2.ok()) return m2.status();
      *ms2 = *m2;
    }
    return static_cast<double>(*ms);
  };
  Links l;
  const double gb = static_cast<double>(bytes) * reps / 1e9;
  double other = 0;
  absl::StatusOr<double> ms = timed(true, false, &other);
  if (!ms.ok()) return ms.status();
  l.h2d = gb / (*ms / 1e3);
  if (!(ms = timed(false, false, &other)).ok()) return ms.status();
  l.d2h = gb / (*ms / 1e3);
  for (int trial = 0; trial < 3; ++trial) {  // both at once varies from run to run: the best of 3
    if (!(ms = timed(true, true, &other)).ok()) return ms.status();
    l.h2d_duplex = std::max(l.h2d_duplex, gb / (*ms / 1e3));
    l.d2h_duplex = std::max(l.d2h_duplex, gb / (other / 1e3));
  }
  // Device to device: 512 MiB, read + write.
  for (int w = 0; w < 2; ++w) (void)api.MemcpyDtoDAsync(d_b->ptr(), d_a->ptr(), dbytes, s1->get());
  (void)ev[0].Record(*s1);
  for (int r = 0; r < reps; ++r) (void)api.MemcpyDtoDAsync(d_b->ptr(), d_a->ptr(), dbytes, s1->get());
  (void)ev[1].Record(*s1);
  if (absl::Status st = ctx->Synchronize(); !st.ok()) return st;
  absl::StatusOr<float> dms = runtime::Event::ElapsedMs(ev[0], ev[1]);
  if (!dms.ok()) return dms.status();
  l.dtod = 2.0 * static_cast<double>(dbytes) * reps / 1e9 / (*dms / 1e3);
  return l;
}

// Global-memory bytes and FLOPs one row (session) of a stage must at least move / compute
// (counted from the kernels: the state and buffers each reads and writes once; the pitch
// search's correlations, the FFTs as 2.5 N log2 N per real transform, the network's MACs x 2).
struct StageCost {
  const char* name;
  double bytes, flops;
};

std::vector<StageCost> StageCosts(const models::Model& m, int sample_bytes) {
  const double s = sample_bytes, f = 4;
  const double fft = 2.5 * 960 * std::log2(960.0);
  double net = 0;
  for (const models::Layer& l : m.layers)
    net += 2.0 * (l.kind == models::LayerKind::kDense ? l.inputs * l.units : 3.0 * l.units * (l.inputs + l.units));
  double gru_units = 0;
  for (const models::Layer& l : m.layers)
    if (l.kind != models::LayerKind::kDense) gru_units += l.units;
  // Pitch: coarse xcorr 147 x 240, fine <= 10 x 480, RemoveDoubling 59 x 480, autocorrelation
  // 5 x 864, energies/running energies, low-pass/FIR 864 x 14, high-pass 480 x 6 (x 2 flops).
  const double pitch = 2.0 * (147 * 240 + 10 * 480 + 59 * 480 + 5 * 864 + 240 + 480 + 480 + 3 * 441 + 384 * 2) +
                       864 * 14 + 480 * 6;
  return {
      {"h2d", 480 * s, 0},
      // input row; state read and written (analysis 480 + pitch history 1728); both frames
      {"frontend", 480 * s + f * (2 * (480 + 1728) + 2 * 960), pitch + 2 * 960},
      {"fft", f * (2 * 960 + 2 * 964), 2 * fft},
      // both spectra; cepstral memory read + written; band data, net rows, GRU states
      {"features", f * (2 * 964 + 2 * 8 * 22 + 68 + 42 * 2 + gru_units), 2 * 4 * 481 + 22 * 22 * 2 + 500},
      {"network", f * (2 * 42 + 2 * 2 * gru_units + 22 + 1), net},
      // both spectra read, X written; gains, band data, last gains, GRU states written back
      {"postprocess", f * (3 * 964 + 22 + 68 + 2 * 24 + 2 * gru_units), 481 * 12.0},
      {"ifft", f * (964 + 960), fft},
      // frame, input row, overlap tail + dry history read and written, output row
      {"synthesis", f * (960 + 4 * 480) + 2 * 480 * s, 480 * 6.0},
      {"d2h", 480 * s + 8, 0},
      // CudaPlanOptions::fused_spectra's stages: both frames read, X (481 bins) and P (400) written,
      // then what features moves without the spectra
      {"fft+features", f * (2 * 960 + 2 * 481 + 2 * 400 + 2 * 8 * 22 + 68 + 42 * 2 + gru_units),
       2 * fft + 2 * 4 * 481 + 22 * 22 * 2 + 500},
      // X and P read; gains, band data, last gains, GRU states; overlap tail + dry history read and
      // written; input row read, output row written
      {"post+ifft+synth", f * (2 * 481 + 2 * 400 + 22 + 68 + 2 * 24 + 2 * gru_units + 4 * 480) + 2 * 480 * s,
       481 * 12.0 + fft + 480 * 6.0},
  };
}

const StageCost* CostOf(const std::vector<StageCost>& costs, const char* name) {
  for (const StageCost& c : costs)
    if (std::strcmp(c.name, name) == 0) return &c;
  return nullptr;
}

bool ParseNetwork(const std::string& v, NetworkPrecision* p) {
  if (v == "fp16") *p = NetworkPrecision::kFp16;
  else if (v == "fp16x3") *p = NetworkPrecision::kFp16x3;
  else if (v == "fp32") *p = NetworkPrecision::kFp32;
  else if (v == "auto") *p = NetworkPrecision::kAuto;
  else return false;
  return true;
}
const char* NetworkName(NetworkPrecision p) {
  return p == NetworkPrecision::kFp16 ? "fp16" : p == NetworkPrecision::kFp16x3 ? "fp16x3"
         : p == NetworkPrecision::kAuto ? "auto" : "fp32";
}

int Main(int argc, char** argv) {
  std::string model_path, csv;
  std::vector<int> batches = {1024, 4096, 16384, 65536};
  int iters = 2000;
  bool quick = false;
  int search = 6;  // deadline-search attempts (plans of the candidate size); 0: no chunk sweep, no search
  NetworkPrecision network = NetworkPrecision::kAuto;  // the plans' default
  std::string ab;  // --ab variants
  // Line-buffered: a run cut short by a time limit keeps every line printed so far.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--model") {
      model_path = next();
    } else if (a == "--csv") {
      csv = next();
    } else if (a == "--iters") {
      iters = std::max(10, std::atoi(next().c_str()));
    } else if (a == "--ab") {
      ab = next();
    } else if (a == "--quick") {
      quick = true;
    } else if (a == "--search") {
      search = std::clamp(std::atoi(next().c_str()), 0, 12);
    } else if (a == "--network") {
      const std::string v = next();
      if (!ParseNetwork(v, &network)) {
        std::cerr << "--network auto|fp16|fp16x3|fp32\n";
        return 2;
      }
    } else if (a == "--batches") {
      batches.clear();
      for (absl::string_view s : absl::StrSplit(next(), ',')) {
        int b = 0;
        if (absl::SimpleAtoi(s, &b) && b > 0) batches.push_back(b);
      }
    } else {
      std::cerr << "usage: ghostnv_cuda_plan_benchmark [--model m.gnvm] [--batches a,b] [--iters n] [--csv f] "
                   "[--network auto|fp32|fp16|fp16x3] [--quick] [--search attempts] [--ab \"name:K=V+K=V;...\"]\n";
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

  const char* lane_hp = std::getenv("GHOSTNV_CUDA_PLAN_LANE_HIGHPASS");
  const char* fused = std::getenv("GHOSTNV_CUDA_PLAN_FUSED");
  std::printf("batched plans: network %s, lane_highpass %s, fused_spectra %s%s\n",
              NetworkName(network), lane_hp != nullptr ? lane_hp : "default",
              fused != nullptr ? fused : "default",
              quick ? ", quick" : "");
  // CPU: one thread, one stream.
  if (!quick) {
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
  if (!quick) {
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
  // where the GPU time goes; profiling plans launch stage by stage without chunks, so pass 0 is
  // the measurement); pass 2: 16-bit PCM rows, pass 3: their stages at the largest batch.
  const int max_b = *std::max_element(batches.begin(), batches.end());
  absl::StatusOr<Links> links = MeasureLinks();
  if (!links.ok()) {
    std::cerr << "error: " << links.status() << "\n";
    return 1;
  }
  struct Timing {
    double mean = 0, p50 = 0, p99 = 0;
  };
  // A plan of `sessions` slots with every slot acquired and every input row filled.
  auto make_plan = [&](int sessions, bool pcm16, int chunks) -> absl::StatusOr<std::unique_ptr<CudaPlan>> {
    CudaPlanOptions o;
    o.max_sessions = sessions;
    o.pcm16 = pcm16;
    o.batch_chunks = chunks;
    o.network = network;
    absl::StatusOr<std::unique_ptr<CudaPlan>> plan = CudaPlan::Create(*model, o);
    if (!plan.ok()) return plan.status();
    CudaPlan& p = **plan;
    for (int b = 0; b < sessions; ++b) {
      if (absl::StatusOr<int> sl = p.AcquireSlot(); !sl.ok()) return sl.status();
      const float* x = &sig[((b * 7) % hops_in_sig) * hop];
      if (pcm16) {
        int16_t* row = p.input_rows16() + static_cast<size_t>(b) * hop;
        for (int i = 0; i < hop; ++i)
          row[i] = static_cast<int16_t>(std::clamp(std::lrint(x[i] * 32768.f), -32768L, 32767L));
      } else {
        std::copy_n(x, hop, p.input_rows() + static_cast<size_t>(b) * hop);
      }
    }
    return plan;
  };
  std::vector<int> slots(std::max(max_b, 1 << 20));
  std::iota(slots.begin(), slots.end(), 0);  // a plan's slots come out 0, 1, 2, ...
  std::vector<float> strengths(slots.size(), 1.f);
  auto time_batch = [&](CudaPlan& p, int batch, int n) -> absl::StatusOr<Timing> {
    for (int t = 0; t < 3; ++t) {
      p.Submit(slots.data(), strengths.data(), batch);
      p.Wait();
    }
    std::vector<double> lat;
    const auto t0 = Clock::now();
    for (int t = 0; t < n; ++t) {
      const auto s0 = Clock::now();
      if (p.Submit(slots.data(), strengths.data(), batch) != cu::kSuccess || p.Wait() != cu::kSuccess)
        return absl::InternalError(absl::StrCat("submit/wait failed at batch ", batch));
      lat.push_back(Us(Clock::now() - s0));
    }
    return Timing{Us(Clock::now() - t0) / n, Percentile(lat, .5), Percentile(lat, .99)};
  };
  auto iters_for = [](int batch) { return std::max(10, std::min(200, 2000000 / batch)); };

  // --ab: each variant's hop (pipeline plan) and stages (profiling plan), 16-bit PCM, max_b rows.
  if (!ab.empty()) {
    struct Variant {
      std::string name;
      std::vector<std::pair<std::string, std::string>> env;
      NetworkPrecision net;
    };
    std::vector<Variant> variants;
    std::vector<std::string> keys;
    for (absl::string_view item : absl::StrSplit(ab, ';', absl::SkipEmpty())) {
      const size_t colon = item.find(':');
      Variant v{std::string(item.substr(0, colon)), {}, network};
      if (colon != absl::string_view::npos)
        for (absl::string_view kv : absl::StrSplit(item.substr(colon + 1), '+', absl::SkipEmpty())) {
          const size_t eq = kv.find('=');
          if (eq == absl::string_view::npos) continue;
          const std::string k(kv.substr(0, eq)), val(kv.substr(eq + 1));
          if (k == "net") {
            if (!ParseNetwork(val, &v.net)) v.net = NetworkPrecision::kFp32;
          } else {
            v.env.emplace_back(k, val);
            if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
          }
        }
      variants.push_back(std::move(v));
    }
    const auto apply = [&](const Variant& v) {
      for (const std::string& k : keys) unsetenv(k.c_str());
      for (const auto& [k, val] : v.env) setenv(k.c_str(), val.c_str(), 1);
      network = v.net;
    };
    size_t best = 0;
    double best_mean = 1e30;
    for (size_t vi = 0; vi < variants.size(); ++vi) {
      const Variant& v = variants[vi];
      apply(v);
      unsetenv("GHOSTNV_CUDA_PLAN_PROFILE");
      absl::StatusOr<std::unique_ptr<CudaPlan>> plan = make_plan(max_b, true, 0);
      if (!plan.ok()) {
        std::printf("ab %-12s error: %s\n", v.name.c_str(), plan.status().ToString().c_str());
        continue;
      }
      absl::StatusOr<Timing> tm = time_batch(**plan, max_b, std::max(30, iters_for(max_b)));
      plan->reset();
      if (!tm.ok()) {
        std::printf("ab %-12s error: %s\n", v.name.c_str(), tm.status().ToString().c_str());
        continue;
      }
      setenv("GHOSTNV_CUDA_PLAN_PROFILE", "1", 1);
      absl::StatusOr<std::unique_ptr<CudaPlan>> pp = make_plan(max_b, true, 0);
      unsetenv("GHOSTNV_CUDA_PLAN_PROFILE");
      std::string line;
      float total = 0;
      if (pp.ok()) {
        for (int t = 0; t < 4; ++t) {
          (*pp)->Submit(slots.data(), strengths.data(), max_b);
          (*pp)->Wait();
        }
        for (const CudaPlanStage& st : CudaPlanStageTimes(**pp)) {
          absl::StrAppend(&line, " ", st.name, " ", static_cast<int>(st.us + 0.5f));
          total += st.us;
        }
      }
      std::printf("ab %-12s pcm16 batch %6d: hop %8.1f us (p50 %.1f, p99 %.1f) = %.0f streams (throughput) | stages:%s "
                  "| total %.0f\n",
                  v.name.c_str(), max_b, tm->mean, tm->p50, tm->p99, max_b * 10000.0 / tm->mean, line.c_str(), total);
      if (tm->mean < best_mean) best_mean = tm->mean, best = vi;
    }
    if (variants.empty()) return 0;
    apply(variants[best]);
    std::printf("ab best: %s (hop %.1f us)\n", variants[best].name.c_str(), best_mean);
  }

  for (int pass = ab.empty() ? (quick ? 2 : 0) : 4; pass < 4; ++pass) {
    const bool profiled = pass == 1 || pass == 3, pcm16 = pass >= 2;
    if (profiled) setenv("GHOSTNV_CUDA_PLAN_PROFILE", "1", 1);
    else unsetenv("GHOSTNV_CUDA_PLAN_PROFILE");
    absl::StatusOr<std::unique_ptr<CudaPlan>> plan = make_plan(max_b, pcm16, 0);
    if (!plan.ok()) {
      std::cerr << "error: " << plan.status() << "\n";
      return 1;
    }
    CudaPlan& p = **plan;
    std::vector<int> run = batches;
    if (pass == 1) run.insert(run.begin(), 1);
    if (pass == 3) run = {max_b};
    for (int batch : run) {
      if (profiled) {
        for (int t = 0; t < 3; ++t) {
          p.Submit(slots.data(), strengths.data(), batch);
          p.Wait();
        }
        std::string line, rates;
        float total = 0;
        const std::vector<CudaPlanStage> stages = CudaPlanStageTimes(p);
        const std::vector<StageCost> costs = StageCosts(**model, pcm16 ? 2 : 4);
        for (size_t i = 0; i < stages.size(); ++i) {
          const CudaPlanStage& st = stages[i];
          absl::StrAppend(&line, " ", st.name, " ", static_cast<int>(st.us + 0.5f));
          total += st.us;
          const StageCost* cost = CostOf(costs, st.name);
          if (cost != nullptr && st.us > 0) {
            const double sec = st.us * 1e-6;
            const double gbs = cost->bytes * batch / sec / 1e9, gfs = cost->flops * batch / sec / 1e9;
            // Profiled stages run one at a time: the copies against one direction alone.
            const double ceil = (i == 0 ? links->h2d : i + 1 == stages.size() ? links->d2h : links->dtod);
            char buf[160];
            std::snprintf(buf, sizeof(buf), "  %-15s %7.0f us %8.1f GB/s (%5.1f %% of %.0f) %9.1f GFLOP/s\n", st.name,
                          st.us, gbs, 100 * gbs / ceil, ceil, gfs);
            rates += buf;
          }
        }
        std::printf("cuda_plan %sstages (us, GPU, profiled) batch %6d:%s | total %.0f\n", pcm16 ? "pcm16 " : "",
                    batch, line.c_str(), total);
        if (batch >= 1024) std::printf("%s", rates.c_str());
        continue;
      }
      absl::StatusOr<Timing> tm = time_batch(p, batch, iters_for(batch));
      if (!tm.ok()) {
        std::cerr << "error: " << tm.status() << "\n";
        return 1;
      }
      const double streams = batch * 10000.0 / tm->mean;
      std::printf("cuda_plan %sbatch %6d: %9.1f us per hop (p50 %.1f, p99 %.1f) = %.3f us per stream-hop, %.0f "
                  "streams in real time (throughput)\n",
                  pcm16 ? "pcm16 " : "", batch, tm->mean, tm->p50, tm->p99, tm->mean / batch, streams);
      if (out)
        out << (pcm16 ? "ghostnv,batched_graph_pcm16," : "ghostnv,batched_graph,") << batch << "," << tm->mean << ","
            << tm->p50 << "," << tm->p99 << "," << streams << "\n";
    }
  }
  unsetenv("GHOSTNV_CUDA_PLAN_PROFILE");

  // PCIe: the bound for 16-bit PCM (480 samples x 2 bytes per 10 ms = 96 KB/s per direction).
  const double per_stream = 480 * 2 / 0.010;
  const double bound = std::min(links->h2d_duplex, links->d2h_duplex) * 1e9 / per_stream;
  std::printf("links: pinned H2D %.1f GB/s, D2H %.1f GB/s alone; both at once H2D %.1f + D2H %.1f GB/s; device "
              "copy %.0f GB/s (read + write)\n",
              links->h2d, links->d2h, links->h2d_duplex, links->d2h_duplex, links->dtod);
  std::printf("pcie bound (pcm16, 96 KB/s per stream per direction, both directions at once): %.0f streams\n", bound);

  if (search == 0) return 0;  // (--search 0: the stages and the hop only)
  // The copy/compute pipeline: chunk count at the largest batch (16-bit PCM).
  int best_chunks = 0;
  double best_us = 1e30;
  int best_streams = 2;
  const std::pair<int, int> configs[] = {{1, 4}, {2, 4}, {4, 4}, {8, 4}, {16, 4}, {16, 1}, {16, 2}, {16, 3}};
  for (auto [chunks, streams] : configs) {
    if (quick && (chunks != 16 || streams != 4)) continue;
    // streams: compute streams (GHOSTNV_CUDA_PLAN_COMPUTE_STREAMS; the plan's default is 4).
    const std::string k = std::to_string(streams);
    setenv("GHOSTNV_CUDA_PLAN_COMPUTE_STREAMS", k.c_str(), 1);
    absl::StatusOr<std::unique_ptr<CudaPlan>> plan = make_plan(max_b, true, chunks);
    unsetenv("GHOSTNV_CUDA_PLAN_COMPUTE_STREAMS");
    if (!plan.ok()) {
      std::cerr << "error: " << plan.status() << "\n";
      return 1;
    }
    absl::StatusOr<Timing> tm = time_batch(**plan, max_b, iters_for(max_b));
    if (!tm.ok()) {
      std::cerr << "error: " << tm.status() << "\n";
      return 1;
    }
    std::printf("cuda_plan pcm16 batch %6d, batch_chunks %2d, compute streams %d: %9.1f us per hop (p50 %.1f, p99 "
                "%.1f)\n",
                max_b, chunks, streams, tm->mean, tm->p50, tm->p99);
    if (tm->mean < best_us) best_us = tm->mean, best_chunks = chunks, best_streams = streams;
  }

  // Streams in real time: the largest batch whose hop meets the 10 ms deadline (p99), searched
  // with plans of exactly that many sessions (so no bucket padding), 16-bit PCM, best chunks.
  int best_ok = 0, lowest_miss = 1 << 21;
  Timing best_t;
  int b = static_cast<int>(std::min(1e6, max_b * 10000.0 / best_us * 0.98)) / 256 * 256;
  for (int attempt = 0; attempt < search && b >= 256; ++attempt) {
    setenv("GHOSTNV_CUDA_PLAN_COMPUTE_STREAMS", std::to_string(best_streams).c_str(), 1);
    absl::StatusOr<std::unique_ptr<CudaPlan>> plan = make_plan(b, true, best_chunks);
    unsetenv("GHOSTNV_CUDA_PLAN_COMPUTE_STREAMS");
    if (!plan.ok()) {
      std::cerr << "error: " << plan.status() << "\n";
      return 1;
    }
    absl::StatusOr<Timing> tm = time_batch(**plan, b, std::max(30, iters_for(b)));
    if (!tm.ok()) {
      std::cerr << "error: " << tm.status() << "\n";
      return 1;
    }
    const bool ok = tm->p99 <= 10000.0;
    std::printf("deadline search: batch %6d (batch_chunks %d, compute streams %d): p50 %.1f us, p99 %.1f us -> %s\n", b,
                best_chunks, best_streams, tm->p50, tm->p99, ok ? "meets 10 ms" : "misses");
    if (ok && b > best_ok) best_ok = b, best_t = *tm;
    if (!ok) lowest_miss = std::min(lowest_miss, b);
    if (lowest_miss - best_ok <= 512) break;
    int next = static_cast<int>(b * 10000.0 / tm->p99 * (ok ? 1.0 : 0.985)) / 256 * 256;
    next = std::clamp(next, best_ok + 256, lowest_miss - 256);
    if (next == b) break;
    b = next;
  }
  std::printf("streams in real time per GPU (pcm16, largest batch meeting the 10 ms deadline at p99): %d "
              "(p50 %.1f us, p99 %.1f us) = %.1f %% of the PCIe bound %.0f\n",
              best_ok, best_t.p50, best_t.p99, 100.0 * best_ok / bound, bound);
  if (out) out << "ghostnv,deadline_pcm16," << best_ok << "," << best_t.mean << "," << best_t.p50 << "," << best_t.p99
               << "," << best_ok << "\n";
  return 0;
}

}  // namespace
}  // namespace ghostnv::sched

int main(int argc, char** argv) { return ghostnv::sched::Main(argc, argv); }
