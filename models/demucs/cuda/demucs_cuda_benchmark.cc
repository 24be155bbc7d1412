// models/demucs/cuda/demucs_cuda_benchmark.cc — DemucsCudaPlan: batch-1 latency (Submit+Wait
// per hop, PCM in to PCM out, real-time stream) and hop time / streams in real time at large
// batches, plus the CPU family on one core. Not a test.
//
//   ghostnv_demucs_cuda_benchmark [--model x.gnvm | --shape dns48|48k|small] [--batches 1,64,...]
//                                 [--latency_hops 2000] [--hops 30] [--cpu_hops 50]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "models/demucs/cuda/demucs_cuda_plan.h"
#include "models/demucs/cuda/demucs_test_model.h"
#include "models/demucs/demucs_family.h"
#include "models/family.h"
#include "models/gnvm.h"

namespace {

using ghostnv::models::Model;
using Clock = std::chrono::steady_clock;
namespace dm = ghostnv::models::demucs;

double Us(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, shape = "dns48";
  std::vector<int> batches = {1, 16, 64, 256, 1024, 2048, 4096};
  int latency_hops = 2000, hops = 30, cpu_hops = 50;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--model") model_path = v;
    else if (a == "--shape") shape = v;
    else if (a == "--latency_hops") latency_hops = std::atoi(v.c_str());
    else if (a == "--hops") hops = std::atoi(v.c_str());
    else if (a == "--cpu_hops") cpu_hops = std::atoi(v.c_str());
    else if (a == "--batches") {
      batches.clear();
      for (size_t p = 0; p < v.size();) {
        size_t q = v.find(',', p);
        if (q == std::string::npos) q = v.size();
        batches.push_back(std::atoi(v.substr(p, q - p).c_str()));
        p = q + 1;
      }
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  std::shared_ptr<const Model> model;
  if (!model_path.empty()) {
    auto m = ghostnv::models::LoadGnvmFile(model_path);
    if (!m.ok()) {
      std::fprintf(stderr, "%s\n", std::string(m.status().message()).c_str());
      return 1;
    }
    model = *m;
  } else {
    dm::DemucsShape s;
    if (shape == "dns48") {
      s.depth = 5;
      s.hidden = 48;
    } else if (shape == "48k") {
      s.depth = 5;
      s.hidden = 48;
      s.resample = 2;
      s.sample_rate = 48000;
      s.lookahead = 96;
    } else {
      s.depth = 4;
      s.hidden = 8;
    }
    model = dm::MakeRandomDemucs(s, 1);
  }
  const int H = model->hop_size;
  const double hop_us = 1e6 * H / model->sample_rate;
  std::printf("model %s: %d Hz, hop %d (%.2f ms), %zu layers\n", model->name.c_str(),
              model->sample_rate, H, hop_us / 1000, model->layers.size());
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 0.1f);
  double cpu_us = 0;

  // CPU family, one core.
  {
    auto fam = ghostnv::models::CreateFamily(model);
    if (!fam.ok()) {
      std::fprintf(stderr, "%s\n", std::string(fam.status().message()).c_str());
      return 1;
    }
    auto ch = (*fam)->NewChannel();
    std::vector<float> x(H), y(H);
    for (float& v : x) v = nd(rng);
    for (int k = 0; k < 8; ++k) (*fam)->ProcessHop(*ch, x.data(), y.data(), 1.f);
    const auto t0 = Clock::now();
    for (int k = 0; k < cpu_hops; ++k) (*fam)->ProcessHop(*ch, x.data(), y.data(), 1.f);
    const double us = Us(t0, Clock::now()) / cpu_hops;
    cpu_us = us;
    std::printf("CPU family, one core: %.1f us per stream-hop (%.1f streams per core)\n", us, hop_us / us);
  }

  // Batch-1 latency on a real-time stream.
  {
    dm::DemucsCudaPlanOptions o;
    o.max_sessions = 1;
    o.realtime = true;
    auto t0 = Clock::now();
    auto plan = dm::DemucsCudaPlan::Create(model, o);
    if (!plan.ok()) {
      std::fprintf(stderr, "%s\n", std::string(plan.status().message()).c_str());
      return 1;
    }
    std::printf("device %s; plan created in %.0f ms; %d graph nodes per hop at batch 1\n",
                (*plan)->device_description().c_str(), Us(t0, Clock::now()) / 1000,
                (*plan)->NodesPerHop(1));
    const int slot = *(*plan)->AcquireSlot();
    const float s = 1.f;
    std::vector<double> lat;
    for (int k = 0; k < latency_hops + 20; ++k) {
      for (int i = 0; i < H; ++i) (*plan)->input_rows()[i] = nd(rng);
      const auto a = Clock::now();
      if ((*plan)->Submit(&slot, &s, 1) != 0 || (*plan)->Wait() != 0) {
        std::fprintf(stderr, "hop failed\n");
        return 1;
      }
      if (k >= 20) lat.push_back(Us(a, Clock::now()));
    }
    std::printf("batch 1, realtime stream, Submit+Wait (PCM in -> PCM out): p50 %.1f us, p99 %.1f us, max %.1f us (hop %.0f us)\n",
                Pct(lat, 0.5), Pct(lat, 0.99), Pct(lat, 1.0), hop_us);
  }

  // Throughput.
  int maxb = 1;
  for (int b : batches) maxb = std::max(maxb, b);
  dm::DemucsCudaPlanOptions o;
  o.max_sessions = maxb;
  auto t0 = Clock::now();
  auto plan = dm::DemucsCudaPlan::Create(model, o);
  if (!plan.ok()) {
    std::fprintf(stderr, "%s\n", std::string(plan.status().message()).c_str());
    return 1;
  }
  std::printf("batched plan (%d slots) created in %.0f ms\n", maxb, Us(t0, Clock::now()) / 1000);
  std::vector<int> slots;
  for (int i = 0; i < maxb; ++i) slots.push_back(*(*plan)->AcquireSlot());
  std::vector<float> str(maxb, 1.f);
  for (size_t i = 0; i < static_cast<size_t>(maxb) * H; ++i) (*plan)->input_rows()[i] = nd(rng);
  std::printf("| batch | bucket | LSTM | us per hop | streams in real time | x one CPU core |\n");
  for (int b : batches) {
    for (int k = 0; k < 8; ++k) {
      (*plan)->Submit(slots.data(), str.data(), b);
      (*plan)->Wait();
    }
    const auto a = Clock::now();
    for (int k = 0; k < hops; ++k) {
      if ((*plan)->Submit(slots.data(), str.data(), b) != 0 || (*plan)->Wait() != 0) {
        std::fprintf(stderr, "hop failed at batch %d\n", b);
        return 1;
      }
    }
    const double us = Us(a, Clock::now()) / hops;
    const double rt = us <= hop_us ? b : b * hop_us / us;
    std::printf("| %d | %d | %s | %.1f | %.0f%s | %.0f |\n", b, (*plan)->BucketFor(b),
                (*plan)->UsesSplitLstm((*plan)->BucketFor(b)) ? "split" : "dense", us, rt,
                us <= hop_us ? "" : " (misses the hop)", cpu_us * rt / hop_us);
  }
  // Where the time goes: a profiling plan (nodes launched directly, an event after each),
  // GPU time summed per kernel name, at batch 1 and the largest batch.
  for (int b : {1, maxb}) {
    dm::DemucsCudaPlanOptions po;
    po.max_sessions = b;
    po.profile = true;
    auto pp = dm::DemucsCudaPlan::Create(model, po);
    if (!pp.ok()) break;
    std::vector<int> ps;
    for (int i = 0; i < b; ++i) ps.push_back(*(*pp)->AcquireSlot());
    std::vector<float> pstr(b, 1.f);
    for (int k = 0; k < 8; ++k) {
      (*pp)->Submit(ps.data(), pstr.data(), b);
      (*pp)->Wait();
    }
    std::vector<std::pair<std::string, float>> sum;
    float total = 0;
    for (const auto& t : (*pp)->NodeTimesUs()) {
      total += t.us;
      auto it = std::find_if(sum.begin(), sum.end(), [&](const auto& p) { return p.first == t.node; });
      if (it == sum.end()) sum.push_back({t.node, t.us});
      else it->second += t.us;
    }
    std::sort(sum.begin(), sum.end(), [](const auto& a, const auto& c) { return a.second > c.second; });
    std::printf("profile, batch %d (GPU us per hop, nodes launched directly): total %.1f;", b, total);
    for (const auto& [name, us] : sum) std::printf(" %s %.1f;", name.c_str(), us);
    std::printf("\n");
  }
  return 0;
}
