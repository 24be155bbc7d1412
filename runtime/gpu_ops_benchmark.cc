// runtime/gpu_ops_benchmark.cc — ghostnv_gpu_benchmark: the GRU step on the GPU vs batch size,
// launched eagerly and replayed from a CUDA graph, plus cold/warm kernel build times and the
// batch-1 real-time round trip. Never run by ctest (no timing in tests); tools/gpu-check.sh runs
// it next to runtime/gpu_ops_benchmark_torch.py (PyTorch's nn.GRU, same size, same GPU).
//
//   ghostnv_gpu_benchmark [--batches 1,16,256,...] [--iters 200] [--csv out.csv]
//                         [--check torch_case.bin]
//
// The layer is the RNNoise denoise GRU's size (114 inputs, 96 units), reset_after = true with
// tanh and exact math: PyTorch's GRU. Time per step = (event time of `iters` back-to-back steps,
// state chained) / iters, after 20 warm-up steps. --check reads a case written by the torch
// script (weights, input, state and torch's next state, fp32 without TF32), runs one step and
// prints the largest difference: the same numbers as PyTorch, not just the same speed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "kernels/gru.h"
#include "runtime/context.h"
#include "runtime/device.h"
#include "runtime/gpu_ops.h"
#include "runtime/graph.h"
#include "runtime/kernel_build.h"
#include "runtime/memory.h"
#include "runtime/nvrtc.h"
#include "runtime/stream.h"

namespace ghostnv::runtime {
namespace {

constexpr int kInputs = 114, kUnits = 96;

#define CHECK_OK(expr)                                             \
  do {                                                             \
    absl::Status _st = (expr);                                     \
    if (!_st.ok()) {                                               \
      std::cerr << "error: " << _st << " (" << #expr << ")\n";     \
      std::exit(1);                                                \
    }                                                              \
  } while (0)
#define CHECK_CU(expr)                                                       \
  do {                                                                       \
    cu::CUresult _r = (expr);                                                \
    if (_r != cu::kSuccess) {                                                \
      std::cerr << "error: " << CuResultName(nullptr, _r) << " in " << #expr << "\n"; \
      std::exit(1);                                                          \
    }                                                                        \
  } while (0)

template <typename T>
T Must(absl::StatusOr<T> v) {
  CHECK_OK(v.status());
  return *std::move(v);
}

struct Args {
  std::vector<int> batches = {1, 16, 256, 1024, 4096, 16384, 65536};
  int iters = 200;
  std::string csv, check;
};

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

struct Lcg {
  uint32_t s;
  float Next() {
    s = s * 1664525u + 1013904223u;
    return static_cast<float>(s >> 8) / 16777216.f * 2.f - 1.f;
  }
};

// One GRU case written by gpu_ops_benchmark_torch.py: int32 inputs, units, batch; then float32
// W_ih [3u][in], W_hh [3u][u], b_ih [3u], b_hh [3u] (PyTorch gate order r, z, n), x [B][in],
// h0 [B][u], h1 [B][u].
void CheckAgainstTorch(const Context& ctx, const Stream& stream, const GpuOps& ops,
                       const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  int32_t dims[3];
  if (!f.read(reinterpret_cast<char*>(dims), sizeof(dims))) {
    std::cerr << "check: cannot read " << path << "\n";
    std::exit(1);
  }
  const int in = dims[0], u = dims[1], batch = dims[2];
  auto read = [&](size_t n) {
    std::vector<float> v(n);
    f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * 4));
    return v;
  };
  std::vector<float> wih = read(3 * u * in), whh = read(3 * u * u), bih = read(3 * u),
                     bhh = read(3 * u), x = read(static_cast<size_t>(batch) * in),
                     h0 = read(static_cast<size_t>(batch) * u), h1 = read(static_cast<size_t>(batch) * u);
  if (!f) {
    std::cerr << "check: " << path << " is truncated\n";
    std::exit(1);
  }
  // Ours: gates z | r | h, input-major. PyTorch: rows r, z, n.
  const int torch_gate[3] = {1, 0, 2};
  std::vector<float> w(static_cast<size_t>(in) * 3 * u), r(static_cast<size_t>(u) * 3 * u), b(3 * u), rb(3 * u);
  for (int g = 0; g < 3; ++g) {
    for (int i = 0; i < u; ++i) {
      const int src = torch_gate[g] * u + i, dst = g * u + i;
      for (int j = 0; j < in; ++j) w[static_cast<size_t>(j) * 3 * u + dst] = wih[static_cast<size_t>(src) * in + j];
      for (int k = 0; k < u; ++k) r[static_cast<size_t>(k) * 3 * u + dst] = whh[static_cast<size_t>(src) * u + k];
      b[dst] = bih[src];
      rb[dst] = bhh[src];
    }
  }
  kernels::GruParams p{.inputs = in, .units = u, .weights = w.data(), .recurrent = r.data(),
                       .bias = b.data(), .recurrent_bias = rb.data(),
                       .activation = kernels::Activation::kTanh, .math = kernels::MathMode::kExact,
                       .reset_after = true};
  DeviceGru layer = Must(UploadGru(ctx, stream, p));
  DeviceBlock dx = Must(DeviceBlock::Allocate(ctx, x.size() * 4));
  DeviceBlock dh = Must(DeviceBlock::Allocate(ctx, h0.size() * 4));
  CHECK_CU(dx.CopyFromHostAsync(x.data(), x.size() * 4, stream));
  CHECK_CU(dh.CopyFromHostAsync(h0.data(), h0.size() * 4, stream));
  CHECK_CU(ops.GruStep(layer, dx.ptr(), in, dh.ptr(), u, batch, stream));
  std::vector<float> got(h0.size());
  CHECK_CU(dh.CopyToHostAsync(got.data(), got.size() * 4, stream));
  CHECK_OK(stream.Synchronize());
  // The CPU twin on the same case.
  std::vector<float> cpu = h0, scratch(kernels::GruScratchFloats(u));
  for (int row = 0; row < batch; ++row)
    kernels::GruStep_ref(p, x.data() + static_cast<size_t>(row) * in, cpu.data() + static_cast<size_t>(row) * u, scratch.data());
  double max_gpu = 0, max_cpu = 0, sq = 0, ref = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    max_gpu = std::max(max_gpu, std::fabs(static_cast<double>(got[i]) - h1[i]));
    max_cpu = std::max(max_cpu, std::fabs(static_cast<double>(cpu[i]) - h1[i]));
    sq += std::pow(static_cast<double>(got[i]) - h1[i], 2);
    ref += std::pow(static_cast<double>(h1[i]), 2);
  }
  const double snr = 10 * std::log10(ref / std::max(sq, 1e-300));
  std::printf("CHECK gru %dx%d batch %d vs torch.nn.GRU: max |ghostnv gpu - torch| %.3g, "
              "max |ghostnv cpu - torch| %.3g, SNR of the difference %.1f dB\n",
              in, u, batch, max_gpu, max_cpu, snr);
}

int Main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : "";
    if (k == "--batches") {
      a.batches.clear();
      for (absl::string_view s : absl::StrSplit(v, ',')) {
        int b;
        if (absl::SimpleAtoi(s, &b) && b > 0) a.batches.push_back(b);
      }
      ++i;
    } else if (k == "--iters") {
      a.iters = std::max(1, std::atoi(v));
      ++i;
    } else if (k == "--csv") {
      a.csv = v;
      ++i;
    } else if (k == "--check") {
      a.check = v;
      ++i;
    } else {
      std::cerr << "usage: ghostnv_gpu_benchmark [--batches 1,16,...] [--iters N] [--csv FILE] [--check FILE]\n";
      return 2;
    }
  }
  const DeviceInfo dev = Must(FindDevice("cuda:0"));
  const Context ctx = Must(Context::Retain(dev));
  const Nvrtc* nvrtc = Must(Nvrtc::Get());
  const absl::StatusOr<const DriverApi*> api = Driver();
  std::printf("device: %s, %d SMs, driver CUDA %d.%d, NVRTC %s\n", dev.Describe().c_str(),
              dev.multiprocessors, (*api)->driver_version / 1000, ((*api)->driver_version % 1000) / 10,
              nvrtc->VersionString().c_str());

  // Cold (compile) and warm (cache) start of all kernel programs.
  char tmpl[] = "/tmp/ghostnv_bench_cache_XXXXXX";
  const std::string cache_dir = mkdtemp(tmpl) != nullptr ? tmpl : "";
  double cold = 0, warm = 0;
  {
    const auto t0 = std::chrono::steady_clock::now();
    GpuOps first = Must(GpuOps::Load(ctx, CubinCache(cache_dir)));
    cold = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  std::vector<ProgramLoad> loads;
  const auto t1 = std::chrono::steady_clock::now();
  const GpuOps ops = Must(GpuOps::Load(ctx, CubinCache(cache_dir), &loads));
  warm = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
  std::printf("kernel load, all %zu programs: cold (NVRTC, parallel) %.1f ms, warm (cache) %.1f ms\n",
              loads.size(), cold, warm);
  if (!cache_dir.empty()) std::system(("rm -rf '" + cache_dir + "'").c_str());

  const Stream stream = Must(Stream::Create(ctx, StreamPriority::kRealtime));
  if (!a.check.empty()) CheckAgainstTorch(ctx, stream, ops, a.check);

  // The layer, random weights (fixed seed).
  Lcg rng{12345};
  std::vector<float> w(kInputs * 3 * kUnits), r(kUnits * 3 * kUnits), b(3 * kUnits), rb(3 * kUnits);
  for (float& v : w) v = rng.Next() * 0.1f;
  for (float& v : r) v = rng.Next() * 0.1f;
  for (float& v : b) v = rng.Next() * 0.1f;
  for (float& v : rb) v = rng.Next() * 0.1f;
  kernels::GruParams p{.inputs = kInputs, .units = kUnits, .weights = w.data(), .recurrent = r.data(),
                       .bias = b.data(), .recurrent_bias = rb.data(),
                       .activation = kernels::Activation::kTanh, .math = kernels::MathMode::kExact,
                       .reset_after = true};
  const DeviceGru layer = Must(UploadGru(ctx, stream, p));
  const Event start = Must(Event::Create(ctx, EventTiming::kEnabled));
  const Event stop = Must(Event::Create(ctx, EventTiming::kEnabled));

  std::FILE* csv = a.csv.empty() ? nullptr : std::fopen(a.csv.c_str(), "w");
  if (csv != nullptr) std::fprintf(csv, "impl,mode,batch,us_per_step\n");
  std::printf("%-8s %-6s %9s %12s %14s %8s\n", "impl", "mode", "batch", "us/step", "streams/s", "GFLOP/s");
  const double flops_per_row = 2.0 * 3 * kUnits * (kInputs + kUnits);
  for (int batch : a.batches) {
    std::vector<float> hx(static_cast<size_t>(batch) * kInputs), hs(static_cast<size_t>(batch) * kUnits);
    for (float& v : hx) v = rng.Next();
    for (float& v : hs) v = rng.Next() * 0.5f;
    DeviceBlock x = Must(DeviceBlock::Allocate(ctx, hx.size() * 4));
    DeviceBlock s = Must(DeviceBlock::Allocate(ctx, hs.size() * 4));
    CHECK_CU(x.CopyFromHostAsync(hx.data(), hx.size() * 4, stream));
    CHECK_CU(s.CopyFromHostAsync(hs.data(), hs.size() * 4, stream));
    auto step = [&]() { return ops.GruStep(layer, x.ptr(), kInputs, s.ptr(), kUnits, batch, stream); };
    CapturedGraph g = Must(CaptureGraph(ctx, stream, [&]() -> absl::Status {
      return step() == cu::kSuccess ? absl::OkStatus() : absl::InternalError("launch failed in capture");
    }));
    for (int mode = 0; mode < 2; ++mode) {
      auto run = [&]() { CHECK_CU(mode == 0 ? step() : g.exec.Launch(stream)); };
      for (int i = 0; i < 20; ++i) run();
      CHECK_CU(start.Record(stream));
      for (int i = 0; i < a.iters; ++i) run();
      CHECK_CU(stop.Record(stream));
      CHECK_OK(stop.Synchronize());
      const double us = Must(Event::ElapsedMs(start, stop)) * 1000.0 / a.iters;
      const char* name = mode == 0 ? "eager" : "graph";
      std::printf("%-8s %-6s %9d %12.2f %14.3g %8.0f\n", "ghostnv", name, batch, us, batch / us * 1e6,
                  flops_per_row * batch / us / 1e3);
      if (csv != nullptr) std::fprintf(csv, "ghostnv,%s,%d,%.3f\n", name, batch, us);
    }
  }
  if (csv != nullptr) std::fclose(csv);

  // Rows per block (weight reuse vs parallelism): the automatic choice against every variant.
  std::printf("rows-per-block sweep, eager us/step (auto picks *; -1 = split path):\n%9s", "batch");
  for (int rows : {kGruSplit, 1, 2, 4, 8, 16}) std::printf(" %8d", rows);
  std::printf("\n");
  for (int batch : {1, 16, 64, 256, 1024, 4096, 16384, 65536}) {
    DeviceBlock x = Must(DeviceBlock::Allocate(ctx, static_cast<size_t>(batch) * kInputs * 4));
    DeviceBlock s = Must(DeviceBlock::Allocate(ctx, static_cast<size_t>(batch) * kUnits * 4));
    CHECK_CU(x.FillBytesAsync(0x3c, stream));  // 0.0115 in every float: finite, not zero
    CHECK_CU(s.FillBytesAsync(0x3c, stream));
    const int auto_rows = batch <= kGruAutoSplitBatch ? kGruSplit : ops.AutoRowsPerBlock(batch, kInputs + 5 * kUnits);
    std::printf("%9d", batch);
    for (int rows : {kGruSplit, 1, 2, 4, 8, 16}) {
      if (rows == kGruSplit && batch > kGruSplitMaxBatch) {
        std::printf(" %7s ", "-");
        continue;
      }
      auto step = [&]() { return ops.GruStep(layer, x.ptr(), kInputs, s.ptr(), kUnits, batch, stream, rows); };
      for (int i = 0; i < 10; ++i) CHECK_CU(step());
      CHECK_CU(start.Record(stream));
      for (int i = 0; i < a.iters / 2; ++i) CHECK_CU(step());
      CHECK_CU(stop.Record(stream));
      CHECK_OK(stop.Synchronize());
      std::printf(" %7.2f%s", Must(Event::ElapsedMs(start, stop)) * 1000.0 / (a.iters / 2), rows == auto_rows ? "*" : " ");
    }
    std::printf("\n");
  }

  // Batch-1 real-time round trip: pinned input -> H2D -> GRU step -> D2H -> host sees it,
  // replayed as one graph per frame and timed on the host (launch to completion).
  {
    PinnedBlock in = Must(PinnedBlock::Allocate(ctx, kInputs * 4));
    PinnedBlock out = Must(PinnedBlock::Allocate(ctx, kUnits * 4));
    DeviceBlock x = Must(DeviceBlock::Allocate(ctx, kInputs * 4));
    DeviceBlock s = Must(DeviceBlock::Allocate(ctx, kUnits * 4));
    CHECK_CU(s.FillBytesAsync(0, stream));
    CapturedGraph g = Must(CaptureGraph(ctx, stream, [&]() -> absl::Status {
      if (x.CopyFromHostAsync(in.data(), kInputs * 4, stream) != cu::kSuccess ||
          ops.GruStep(layer, x.ptr(), kInputs, s.ptr(), kUnits, 1, stream) != cu::kSuccess ||
          s.CopyToHostAsync(out.data(), kUnits * 4, stream) != cu::kSuccess)
        return absl::InternalError("capture failed");
      return absl::OkStatus();
    }));
    std::vector<double> graph_us, eager_us;
    for (int i = 0; i < 2000 + 100; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      CHECK_CU(g.exec.Launch(stream));
      CHECK_OK(stream.Synchronize());
      const auto t2 = std::chrono::steady_clock::now();
      CHECK_CU(x.CopyFromHostAsync(in.data(), kInputs * 4, stream));
      CHECK_CU(ops.GruStep(layer, x.ptr(), kInputs, s.ptr(), kUnits, 1, stream));
      CHECK_CU(s.CopyToHostAsync(out.data(), kUnits * 4, stream));
      CHECK_OK(stream.Synchronize());
      const auto t3 = std::chrono::steady_clock::now();
      if (i >= 100) {
        graph_us.push_back(std::chrono::duration<double, std::micro>(t2 - t0).count());
        eager_us.push_back(std::chrono::duration<double, std::micro>(t3 - t2).count());
      }
    }
    std::printf("batch-1 round trip (H2D 114 floats + GRU step + D2H 96 floats + sync), host-timed:\n"
                "  graph replay p50 %.1f us, p99 %.1f us; eager p50 %.1f us, p99 %.1f us\n",
                Percentile(graph_us, .5), Percentile(graph_us, .99), Percentile(eager_us, .5),
                Percentile(eager_us, .99));
  }
  return 0;
}

}  // namespace
}  // namespace ghostnv::runtime

int main(int argc, char** argv) { return ghostnv::runtime::Main(argc, argv); }
