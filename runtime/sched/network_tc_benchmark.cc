// runtime/sched/network_tc_benchmark.cc — ghostnv_network_tc_benchmark: the RNNoise network
// alone on the GPU, per batch: the fused fp16 tensor-core kernel (TcNetwork) against the fp32
// network stage CudaPlan runs by default (GpuOps dense/GRU + copy, 7 launches), both as CUDA
// graph replays timed with events, next to PyTorch's graph replay of the same network (parsed
// from runtime/sched/cuda_plan_benchmark_torch.py's output), with achieved GB/s and GFLOP/s per
// kernel against ceilings measured in the same run by probe kernels (copy bandwidth, fp32 FMA
// rate, mma.sync fp16 rate); the fp32-grade split kernels (TcNetwork split = true, variants 6-8)
// in the same table (their fp32 stage / x3 ratio on TCSPLIT lines). Also CudaPlan end to end (PCM in -> PCM out) with network = fp32
// and fp16. Never run by ctest.
//
//   ghostnv_network_tc_benchmark [--batches 1024,4096,16384,65536] [--iters 200]
//                                [--torch torch.txt] [--csv out.csv] [--plan 0|1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "kernels/rnnoise_layout.cuh"
#include "models/model_loader.h"
#include "runtime/context.h"
#include "runtime/cubin_cache.h"
#include "runtime/device.h"
#include "runtime/gpu_ops.h"
#include "runtime/graph.h"
#include "runtime/memory.h"
#include "runtime/sched/cuda_plan.h"
#include "runtime/sched/network_tc.h"
#include "runtime/sched/rnnoise_kernels.h"
#include "runtime/stream.h"

namespace ghostnv::sched {
namespace {

using cu::CUdeviceptr;
using cu::CUresult;
using runtime::DeviceBlock;

#define CHECK_OK(expr)                                                   \
  do {                                                                   \
    const absl::Status _st = (expr);                                     \
    if (!_st.ok()) {                                                     \
      std::fprintf(stderr, "error: %s\n", std::string(_st.message()).c_str()); \
      std::exit(1);                                                      \
    }                                                                    \
  } while (0)
#define CHECK_CU(expr)                                                       \
  do {                                                                       \
    const CUresult _r = (expr);                                              \
    if (_r != cu::kSuccess) {                                                \
      std::fprintf(stderr, "error: %s -> CUresult %d\n", #expr, static_cast<int>(_r)); \
      std::exit(1);                                                          \
    }                                                                        \
  } while (0)

template <typename T>
T Must(absl::StatusOr<T> v) {
  CHECK_OK(v.status());
  return *std::move(v);
}

int RoundUp(int n, int m) { return (n + m - 1) / m * m; }

struct Timer {
  const runtime::Context& ctx;
  const runtime::Stream& s;
  runtime::Event a = Must(runtime::Event::Create(ctx, runtime::EventTiming::kEnabled));
  runtime::Event b = Must(runtime::Event::Create(ctx, runtime::EventTiming::kEnabled));
  // µs per call of `fn` over `iters` calls after `warm` calls.
  double Us(const std::function<CUresult()>& fn, int iters, int warm = 10) {
    for (int i = 0; i < warm; ++i) CHECK_CU(fn());
    CHECK_CU(a.Record(s));
    for (int i = 0; i < iters; ++i) CHECK_CU(fn());
    CHECK_CU(b.Record(s));
    CHECK_OK(b.Synchronize());
    return Must(runtime::Event::ElapsedMs(a, b)) * 1000.0 / iters;
  }
  double GraphUs(const std::function<absl::Status()>& record, int iters) {
    runtime::CapturedGraph g = Must(runtime::CaptureGraph(ctx, s, record));
    return Us([&] { return g.exec.Launch(s); }, iters, 20);
  }
};

int Main(int argc, char** argv) {
  std::vector<int> batches = {1024, 4096, 16384, 65536};
  int iters = 200;
  bool plan = true;
  std::string torch_file, csv, model_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--batches") {
      batches.clear();
      for (absl::string_view s : absl::StrSplit(next(), ',')) {
        int b = 0;
        if (absl::SimpleAtoi(s, &b) && b > 0) batches.push_back(b);
      }
    } else if (a == "--iters") {
      iters = std::max(10, std::atoi(next().c_str()));
    } else if (a == "--torch") {
      torch_file = next();
    } else if (a == "--csv") {
      csv = next();
    } else if (a == "--model") {
      model_path = next();
    } else if (a == "--plan") {
      plan = next() != "0";
    } else {
      std::fprintf(stderr, "usage: ghostnv_network_tc_benchmark [--batches a,b] [--iters n] [--torch f] [--csv f] [--plan 0|1]\n");
      return 2;
    }
  }
  if (batches.empty()) return 2;
  if (model_path.empty()) {
    const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
    model_path = std::string(src != nullptr ? src : ".") + "/models/weights/default.gnvm";
  }
  std::map<int, double> torch_graph;
  if (!torch_file.empty()) {
    std::ifstream in(torch_file);
    std::string line;
    while (std::getline(in, line)) {
      int b = 0;
      double eager = 0, graph = 0;
      if (std::sscanf(line.c_str(), "torch network batch %d: eager %lf us, graph %lf us", &b, &eager, &graph) == 3)
        torch_graph[b] = graph;
    }
  }
  std::shared_ptr<const models::Model> model = Must(models::LoadModel(model_path));
  const runtime::DeviceInfo dev = Must(runtime::FindDevice("cuda"));
  runtime::Context ctx = Must(runtime::Context::Retain(dev));
  CHECK_OK(ctx.MakeCurrent());
  runtime::Stream s = Must(runtime::Stream::Create(ctx, runtime::StreamPriority::kBatch));
  const runtime::CubinCache cache(runtime::CubinCache::DefaultDir());
  const TcNetwork net = Must(TcNetwork::Create(ctx, s, cache, *model));
  const TcNetwork net3 = Must(TcNetwork::Create(ctx, s, cache, *model, /*split=*/true));
  const runtime::GpuOps ops = Must(runtime::GpuOps::Load(ctx, cache));
  const RnnoiseKernels rk = Must(RnnoiseKernels::Load(ctx, cache));
  const models::Model& m = *model;
  const models::Layer &in = *m.FindLayer("input_dense"), &vg = *m.FindLayer("vad_gru"), &ng = *m.FindLayer("noise_gru"),
                      &dg = *m.FindLayer("denoise_gru"), &dout = *m.FindLayer("denoise_output"),
                      &vout = *m.FindLayer("vad_output");
  const runtime::DeviceDense d_in = Must(runtime::UploadDense(ctx, s, DenseParamsOf(in, m.math)));
  const runtime::DeviceDense d_vout = Must(runtime::UploadDense(ctx, s, DenseParamsOf(vout, m.math)));
  const runtime::DeviceDense d_dout = Must(runtime::UploadDense(ctx, s, DenseParamsOf(dout, m.math)));
  const runtime::DeviceGru g_v = Must(runtime::UploadGru(ctx, s, GruParamsOf(vg, m.math)));
  const runtime::DeviceGru g_n = Must(runtime::UploadGru(ctx, s, GruParamsOf(ng, m.math)));
  const runtime::DeviceGru g_d = Must(runtime::UploadGru(ctx, s, GruParamsOf(dg, m.math)));
  const int u0 = in.units, u1 = vg.units, u2 = ng.units, u3 = dg.units;
  const int as = RoundUp(u0 + u1 + RNN_FEATURES, 4), bs = RoundUp(u1 + u2 + RNN_FEATURES, 4), cs = RoundUp(u3, 4);
  const int bmax = *std::max_element(batches.begin(), batches.end());
  auto alloc = [&](size_t floats) {
    DeviceBlock b = Must(DeviceBlock::Allocate(ctx, std::max<size_t>(floats, 1) * 4));
    CHECK_CU(b.FillBytesAsync(0, s));
    return b;
  };
  DeviceBlock net_a = alloc(size_t(bmax) * as), net_b = alloc(size_t(bmax) * bs), net_c = alloc(size_t(bmax) * cs),
              gains = alloc(size_t(bmax) * RNN_BANDS), vad = alloc(bmax), ctl = alloc(16);
  {  // features: a smooth random walk in a plausible range, in both net_a and net_b rows
    std::vector<float> a(size_t(bmax) * as, 0.f), b(size_t(bmax) * bs, 0.f);
    std::mt19937 rng(1);
    std::normal_distribution<float> g;
    for (int r = 0; r < bmax; ++r)
      for (int c = 0; c < RNN_FEATURES; ++c) {
        const float v = (c < 22 ? -4.f : 0.f) + g(rng) * (c < 22 ? 3.f : 0.5f);
        a[size_t(r) * as + u0 + u1 + c] = v;
        b[size_t(r) * bs + u1 + u2 + c] = v;
      }
    CHECK_CU(net_a.CopyFromHostAsync(a.data(), a.size() * 4, s));
    CHECK_CU(net_b.CopyFromHostAsync(b.data(), b.size() * 4, s));
  }
  CHECK_OK(s.Synchronize());
  const auto f = [](const DeviceBlock& blk, long long floats) { return blk.ptr() + floats * 4; };
  Timer timer{ctx, s};

  // ---- ceilings ----
  const runtime::Kernel pcopy = Must(net.module().GetKernel("gnv_probe_copy"));
  const runtime::Kernel pfma = Must(net.module().GetKernel("gnv_probe_fma"));
  const runtime::Kernel pmma = Must(net.module().GetKernel("gnv_probe_mma"));
  const int sms = std::max(1, dev.multiprocessors);
  double copy_gbs = 0, fma_gflops = 0, mma_gflops = 0;
  {
    long long n4 = 32ll << 20;  // 32 Mi float4 = 512 MiB per buffer
    DeviceBlock src = alloc(size_t(n4) * 4), dst = alloc(size_t(n4) * 4);
    CUdeviceptr ps = src.ptr(), pd = dst.ptr();
    void* args[] = {&ps, &pd, &n4};
    const double us = timer.Us([&] { return pcopy.Launch({unsigned(sms * 8)}, {256}, 0, s, args); }, 20, 3);
    copy_gbs = 2.0 * n4 * 16 / (us * 1e3);
    DeviceBlock out = alloc(1024);
    CUdeviceptr po = out.ptr();
    int it = 4096;
    float seed = 1.f;
    void* fargs[] = {&po, &it, &seed};
    const unsigned fgrid = unsigned(sms * 16);
    const double fus = timer.Us([&] { return pfma.Launch({fgrid}, {256}, 0, s, fargs); }, 10, 2);
    fma_gflops = double(fgrid) * 256 * 16 * it / (fus * 1e3);
    unsigned useed = 0x3c003c00u;
    void* margs[] = {&po, &it, &useed};
    const unsigned mgrid = unsigned(sms * 4);
    const double mus = timer.Us([&] { return pmma.Launch({mgrid}, {256}, 0, s, margs); }, 10, 2);
    mma_gflops = double(mgrid) * 8 * it * 4 * 4096.0 / (mus * 1e3);
  }
  std::printf("device: %s (sm_%d, %d SMs)\n", dev.name.c_str(), dev.Arch(), sms);
  std::printf("ceilings (probes, this run): copy %.0f GB/s (read+write), fp32 FMA %.1f TFLOP/s, "
              "mma.sync fp16->fp32 %.1f TFLOP/s\n",
              copy_gbs, fma_gflops / 1e3, mma_gflops / 1e3);

  const double tc_flop = net.packed().flop_per_row;
  const double tc_bytes = 4.0 * (RNN_FEATURES + 2 * (u1 + u2 + u3) + u0 + u1 + RNN_BANDS + 1);
  std::ofstream out;
  if (!csv.empty()) {
    out.open(csv);
    out << "kernel,batch,us,gbs,gflops\n";
  }
  struct Row {
    int batch;
    double fp16, fp16_16, fp16_32, fp32, torch;
    int tile;
    double variant_us[kTcVariants];  // 0 where the variant is not usable
    int best;                        // the fastest fp16 variant
    int best3;                       // the fastest split (x3) variant
  };
  std::vector<Row> rows;
  for (int batch : batches) {
    Row r{batch, 0, 0, 0, 0, torch_graph.count(batch) ? torch_graph[batch] : 0, net.AutoTileRows(batch), {}, 0,
          kTcFirstSplitVariant};
    int n = batch;
    CHECK_CU(ctl.CopyFromHostAsync(&n, 4, s));
    GnvTcIo io{f(net_a, u0 + u1), net_a.ptr(), f(net_a, u0), net_b.ptr(), f(net_b, u1), net_c.ptr(), gains.ptr(),
               vad.ptr(), as, as, as, bs, bs, cs, RNN_BANDS, 1};
    auto graph_tc = [&](int tile) {
      return timer.GraphUs(
          [&]() -> absl::Status {
            const CUresult res = net.Run(io, ctl.ptr(), batch, s, tile);
            return res == cu::kSuccess ? absl::OkStatus() : absl::InternalError("rnn_network_f16 launch");
          },
          iters);
    };
    r.fp16 = graph_tc(0);
    r.fp16_16 = graph_tc(16);
    r.fp16_32 = net.max_tile_rows() >= 32 ? graph_tc(32) : 0;
    // Every kernel variant (warp groups per block), side by side in the same run.
    for (int v = 0; v < kTcVariants; ++v) {
      const bool split = TcVariantAt(v).split;
      const TcNetwork& nv = split ? net3 : net;
      if (!nv.has_variant(v)) continue;
      r.variant_us[v] = timer.GraphUs(
          [&]() -> absl::Status {
            const CUresult res = nv.RunVariant(io, ctl.ptr(), batch, s, v);
            return res == cu::kSuccess ? absl::OkStatus() : absl::InternalError(TcVariantAt(v).kernel);
          },
          iters);
      int& best = split ? r.best3 : r.best;
      if (r.variant_us[best] <= 0 || r.variant_us[v] < r.variant_us[best]) best = v;
    }
    // The fp32 stage exactly as CudaPlan records it.
    std::vector<std::pair<const char*, std::function<CUresult()>>> fp32_ops = {
        {"dense input_dense", [&] { return ops.Dense(d_in, f(net_a, u0 + u1), as, net_a.ptr(), as, batch, s); }},
        {"gru vad_gru", [&] { return ops.GruStep(g_v, net_a.ptr(), as, f(net_a, u0), as, batch, s); }},
        {"dense vad_output", [&] { return ops.Dense(d_vout, f(net_a, u0), as, vad.ptr(), 1, batch, s); }},
        {"copy vad state", [&] { return rk.CopyCols(f(net_a, u0), as, net_b.ptr(), bs, u1, ctl.ptr(), batch, s); }},
        {"gru noise_gru", [&] { return ops.GruStep(g_n, net_a.ptr(), as, f(net_b, u1), bs, batch, s); }},
        {"gru denoise_gru", [&] { return ops.GruStep(g_d, net_b.ptr(), bs, net_c.ptr(), cs, batch, s); }},
        {"dense denoise_output", [&] { return ops.Dense(d_dout, net_c.ptr(), cs, gains.ptr(), RNN_BANDS, batch, s); }}};
    r.fp32 = timer.GraphUs(
        [&]() -> absl::Status {
          for (auto& op : fp32_ops)
            if (op.second() != cu::kSuccess) return absl::InternalError(op.first);
          return absl::OkStatus();
        },
        iters);
    rows.push_back(r);
    auto report = [&](const char* name, double us, double bytes, double flop) {
      const double gbs = bytes / (us * 1e3), gflops = flop / (us * 1e3);
      std::printf("  %-22s batch %6d: %9.2f us  %7.1f GB/s (%4.1f%% of copy)  %9.1f GFLOP/s (%4.1f%% of %s)\n", name,
                  batch, us, gbs, 100 * gbs / copy_gbs, gflops,
                  100 * gflops / (std::string(name).find("fp16") != std::string::npos ? mma_gflops : fma_gflops),
                  std::string(name).find("fp16") != std::string::npos ? "mma" : "FMA");
      if (out) out << name << "," << batch << "," << us << "," << gbs << "," << gflops << "\n";
    };
    std::printf("network batch %d:\n", batch);
    report("fp16 fused (auto)", r.fp16, tc_bytes * batch, tc_flop * batch);
    report("fp16 fused tile 16", r.fp16_16, tc_bytes * batch, tc_flop * batch);
    if (r.fp16_32 > 0) report("fp16 fused tile 32", r.fp16_32, tc_bytes * batch, tc_flop * batch);
    for (int v = 0; v < kTcVariants; ++v) {
      if (r.variant_us[v] <= 0) continue;
      const std::string name = std::string("fp16 ") + (TcVariantAt(v).kernel + 12);  // "f16[x3]_..." after "rnn_network_"
      report(name.c_str(), r.variant_us[v], tc_bytes * batch, tc_flop * batch);
    }
    report("fp32 stage (7 launches)", r.fp32, 0, tc_flop * batch);
    const int layer_in[] = {RNN_FEATURES, u0, u1, u1, u0 + u1 + RNN_FEATURES, u1 + u2 + RNN_FEATURES, u3};
    const int layer_units[] = {u0, u1, 1, u1, u2, u3, dout.units};
    const bool is_gru[] = {false, true, false, false, true, true, false};
    for (size_t i = 0; i < fp32_ops.size(); ++i) {
      const double us = timer.Us(fp32_ops[i].second, iters);
      const double ins = layer_in[i], u = layer_units[i];
      const bool copy = i == 3;
      const double bytes = copy ? 8.0 * u1 * batch : 4.0 * batch * (ins + (is_gru[i] ? 2 * u : u));
      const double flop = copy ? 0 : batch * (is_gru[i] ? 2.0 * 3 * u * (ins + u) : 2.0 * ins * u);
      report(fp32_ops[i].first, us, bytes, flop);
    }
  }
  std::printf("\n| batch | ours fp16 (fused, tensor cores) | ours fp32 (network stage) | torch graph (fp32) | torch / fp16 | torch / fp32 |\n");
  std::printf("| ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const Row& r : rows) {
    if (r.torch > 0)
      std::printf("| %d | %.1f us (tile %d) | %.1f us | %.1f us | %.2fx | %.2fx |\n", r.batch, r.fp16, r.tile, r.fp32,
                  r.torch, r.torch / r.fp16, r.torch / r.fp32);
    else
      std::printf("| %d | %.1f us (tile %d) | %.1f us | - | - | - |\n", r.batch, r.fp16, r.tile, r.fp32);
  }
  for (const Row& r : rows)
    std::printf("TCRATIO batch %d fp16 %.2f fp32 %.2f torch %.2f ratio %.2f\n", r.batch, r.fp16, r.fp32, r.torch,
                r.torch > 0 ? r.torch / r.fp16 : 0.0);
  std::printf("\n| batch | torch graph |");
  for (int v = 0; v < kTcVariants; ++v) std::printf(" %s |", TcVariantAt(v).kernel + 12);
  std::printf(" best | torch / best |\n");
  for (const Row& r : rows) {
    std::printf("| %d | %.1f |", r.batch, r.torch);
    for (int v = 0; v < kTcVariants; ++v) std::printf(" %.1f |", r.variant_us[v]);
    std::printf(" %s | %.2fx |\n", TcVariantAt(r.best).kernel + 12,
                r.torch > 0 && r.variant_us[r.best] > 0 ? r.torch / r.variant_us[r.best] : 0.0);
  }
  for (const Row& r : rows)
    std::printf("TCVARIANT batch %d best %d %s %.2f us torch %.2f ratio %.2f auto %.2f\n", r.batch, r.best,
                TcVariantAt(r.best).kernel, r.variant_us[r.best], r.torch,
                r.torch > 0 ? r.torch / r.variant_us[r.best] : 0.0, r.fp16);
  for (const Row& r : rows)
    std::printf("TCSPLIT batch %d best %d %s %.2f us fp32 stage %.2f us fp32/x3 %.2f fp16 best %.2f us x3/fp16 %.2f\n",
                r.batch, r.best3, TcVariantAt(r.best3).kernel, r.variant_us[r.best3], r.fp32,
                r.variant_us[r.best3] > 0 ? r.fp32 / r.variant_us[r.best3] : 0.0, r.variant_us[r.best],
                r.variant_us[r.best] > 0 ? r.variant_us[r.best3] / r.variant_us[r.best] : 0.0);

  if (plan) {  // CudaPlan end to end, float PCM rows, Submit + Wait per hop
    for (NetworkPrecision prec : {NetworkPrecision::kFp32, NetworkPrecision::kFp16}) {
      CudaPlanOptions o;
      o.max_sessions = bmax;
      o.network = prec;
      std::unique_ptr<CudaPlan> p = Must(CudaPlan::Create(model, o));
      std::vector<int> slots(bmax);
      for (int& sl : slots) sl = Must(p->AcquireSlot());
      std::mt19937 rng(2);
      std::normal_distribution<float> g;
      for (size_t i = 0; i < size_t(bmax) * 480; ++i) p->input_rows()[i] = 0.05f * g(rng);
      for (int batch : batches) {
        for (int i = 0; i < 3; ++i) {
          CHECK_CU(p->Submit(slots.data(), nullptr, batch));
          CHECK_CU(p->Wait());
        }
        const int hops = 30;
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < hops; ++i) {
          CHECK_CU(p->Submit(slots.data(), nullptr, batch));
          CHECK_CU(p->Wait());
        }
        const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / hops;
        std::printf("cuda_plan network=%s batch %6d: %9.1f us per hop (whole pipeline, float PCM)\n",
                    prec == NetworkPrecision::kFp16 ? "fp16" : "fp32", batch, us);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace ghostnv::sched

int main(int argc, char** argv) { return ghostnv::sched::Main(argc, argv); }
