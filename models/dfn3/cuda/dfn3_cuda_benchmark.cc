// ghostnv_dfn3_cuda_benchmark — DeepFilterNet3 on the GPU (Dfn3CudaPlan): batch-1 latency per
// 10 ms hop, PCM in -> PCM out (copy into the pinned input row, Submit = one graph launch: H2D,
// 60 kernels, D2H; Wait; read the output row), as p50/p99/max over many hops of real or
// synthetic audio, then mean time per hop and streams in real time at larger batches, and the
// CPU family on one core for reference.
//
//   ghostnv_dfn3_cuda_benchmark --model dfn3.gnvm [--audio noisy48k.f32] [--hops 3000]
//                               [--batches 1,16,64,256,1024]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "models/dfn3/cuda/dfn3_cuda_plan.h"
#include "models/dfn3/dfn3_family.h"
#include "models/family.h"
#include "models/model_loader.h"

namespace {

using namespace ghostnv::models;       // NOLINT
using namespace ghostnv::models::dfn3;  // NOLINT
using Clock = std::chrono::steady_clock;

double Us(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, audio_path, batches_arg = "1,16,64,256,1024";
  int hops = 3000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--model") model_path = next();
    else if (a == "--audio") audio_path = next();
    else if (a == "--hops") hops = std::atoi(next().c_str());
    else if (a == "--batches") batches_arg = next();
    else {
      std::fprintf(stderr, "usage: %s --model dfn3.gnvm [--audio x.f32] [--hops N] [--batches 1,16,...]\n", argv[0]);
      return 2;
    }
  }
  absl::StatusOr<std::shared_ptr<const Model>> model = LoadModel(model_path);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  std::vector<float> audio;
  if (!audio_path.empty()) {
    std::ifstream f(audio_path, std::ios::binary | std::ios::ate);
    const std::streamsize bytes = f ? static_cast<std::streamsize>(f.tellg()) : 0;
    f.seekg(0);
    audio.resize(static_cast<size_t>(bytes) / 4);
    f.read(reinterpret_cast<char*>(audio.data()), static_cast<std::streamsize>(audio.size() * 4));
  }
  if (audio.size() < static_cast<size_t>(kHop) * 10) {
    audio.resize(static_cast<size_t>(48000) * 10);
    uint32_t s = 1;
    for (size_t i = 0; i < audio.size(); ++i) {
      s = s * 1664525u + 1013904223u;
      audio[i] = 0.2f * std::sin(0.01f * static_cast<float>(i)) +
                 0.05f * (static_cast<float>(s >> 8) / 16777216.f - 0.5f);
    }
  }
  const size_t nhops_audio = audio.size() / kHop;

  std::vector<int> batches;
  for (size_t p = 0; p < batches_arg.size();) {
    const size_t q = batches_arg.find(',', p);
    batches.push_back(std::atoi(batches_arg.substr(p, q - p).c_str()));
    if (q == std::string::npos) break;
    p = q + 1;
  }

  // CPU family on one core.
  {
    absl::StatusOr<std::unique_ptr<Family>> fam = CreateFamily(*model);
    if (fam.ok()) {
      auto ch = (*fam)->NewChannel();
      std::vector<float> out(kHop);
      const int n = std::min<int>(500, static_cast<int>(nhops_audio));
      const auto t0 = Clock::now();
      for (int h = 0; h < n; ++h) (*fam)->ProcessHop(*ch, audio.data() + static_cast<size_t>(h) * kHop, out.data(), 1.f);
      std::printf("CPU family, one core: %.1f us per hop (RTF %.3f)\n", Us(t0, Clock::now()) / n,
                  Us(t0, Clock::now()) / n / 10000.0);
    }
  }

  std::vector<std::pair<int, bool>> runs;  // (batch, concurrent branches)
  for (int b : batches) {
    runs.push_back({b, true});
    if (b == 1) runs.push_back({b, false});
  }
  for (auto [batch, concurrent] : runs) {
    Dfn3CudaPlanOptions o;
    o.batch = batch;
    o.realtime = batch == 1;
    o.concurrent_branches = concurrent;
    absl::StatusOr<std::unique_ptr<Dfn3CudaPlan>> plan = Dfn3CudaPlan::Create(*model, o);
    if (!plan.ok()) {
      std::fprintf(stderr, "batch %d: %s\n", batch, std::string(plan.status().message()).c_str());
      return 1;
    }
    Dfn3CudaPlan& p = **plan;
    if (batch == 1) std::printf("device: %s\n", p.device_description().c_str());
    const int n = batch == 1 ? hops : std::max(50, std::min(hops, 20000 / batch + 50));
    std::vector<double> t;
    t.reserve(static_cast<size_t>(n));
    std::vector<float> out(static_cast<size_t>(kHop) * batch);
    double checksum = 0;
    for (int h = 0; h < n + 20; ++h) {
      const auto t0 = Clock::now();
      float* in = p.input_rows();
      for (int r = 0; r < batch; ++r) {
        const float* x = audio.data() + ((static_cast<size_t>(h) + static_cast<size_t>(r) * 7) % nhops_audio) * kHop;
        std::memcpy(in + static_cast<size_t>(r) * kCudaIo, x, sizeof(float) * kHop);
        in[static_cast<size_t>(r) * kCudaIo + kHop] = 1.f;
      }
      if (p.Submit() != cu::kSuccess || p.Wait() != cu::kSuccess) {
        std::fprintf(stderr, "batch %d: GPU error\n", batch);
        return 1;
      }
      const float* y = p.output_rows();
      for (int r = 0; r < batch; ++r)
        std::memcpy(out.data() + static_cast<size_t>(r) * kHop, y + static_cast<size_t>(r) * kCudaIo, sizeof(float) * kHop);
      const auto t1 = Clock::now();
      checksum += out[static_cast<size_t>(h) % out.size()];
      if (h >= 20) t.push_back(Us(t0, t1));
    }
    double mean = 0;
    for (double v : t) mean += v;
    mean /= static_cast<double>(t.size());
    if (batch == 1) {
      std::printf("batch 1 (%s), PCM->PCM per 10 ms hop over %d hops: p50 %.1f us, p99 %.1f us, max %.1f us, mean %.1f us (checksum %.3g)\n",
                  concurrent ? "graph with 2 concurrent branches" : "graph as one chain", n,
                  Pct(t, 0.5), Pct(t, 0.99), Pct(t, 1.0), mean, checksum);
    } else {
      std::printf("batch %5d: %8.1f us per hop (p50 %.1f, p99 %.1f), %.0f streams in real time%s\n", batch, mean,
                  Pct(t, 0.5), Pct(t, 0.99), mean <= 10000.0 ? batch * 10000.0 / mean : 0.0,
                  mean <= 10000.0 ? "" : " (misses the 10 ms hop)");
    }
  }
  return 0;
}
