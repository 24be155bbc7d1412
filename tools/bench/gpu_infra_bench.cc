// tools/bench/gpu_infra_bench.cc — see gpu_infra_bench.h.
#include "tools/bench/gpu_infra_bench.h"

#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "audio/pitch.h"
#include "models/family.h"
#include "models/model_loader.h"
#include "runtime/context.h"
#include "runtime/cubin_cache.h"
#include "runtime/device.h"
#include "runtime/gpu_ops.h"
#include "runtime/kernel_build.h"
#include "runtime/kernel_sources.h"
#include "runtime/mem/device_arena.h"
#include "runtime/nvrtc.h"
#ifdef GHOSTNV_BENCH_HAVE_CUDA_PLAN
#include "runtime/sched/cuda_plan.h"
#endif

namespace ghostnv::bench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

double NowMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A fresh empty directory, removed at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::string t = (fs::temp_directory_path() / "ghostnv_bench_cache_XXXXXX").string();
    if (mkdtemp(t.data()) != nullptr) path_ = t;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// "VmRSS:" (or another field) of /proc/self/status, in bytes; -1 if unreadable.
long long ProcStatusBytes(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) return std::atoll(line.c_str() + key.size()) * 1024;
  }
  return -1;
}

long long MemAvailableBytes() {
  std::ifstream f("/proc/meminfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("MemAvailable:", 0) == 0) return std::atoll(line.c_str() + 13) * 1024;
  }
  return -1;
}

std::string Mib(double bytes) {
  if (bytes < (1 << 20)) return absl::StrFormat("%.1f KiB", bytes / 1024);
  return absl::StrFormat("%.1f MiB", bytes / (1 << 20));
}

// ---- kernels: cold and warm start ----

json KernelsOnGpu(bool print) {
  json j;
  absl::StatusOr<runtime::DeviceInfo> dev = runtime::FindDevice("cuda:0");
  if (!dev.ok()) {
    j["status"] = "skipped";
    j["reason"] = absl::StrCat("no GPU (", std::string(dev.status().message()), ")");
    if (print) std::printf("kernels: skipped: %s\n", j["reason"].get<std::string>().c_str());
    return j;
  }
  absl::StatusOr<runtime::Context> ctx = runtime::Context::Retain(*dev);
  if (!ctx.ok()) {
    j["status"] = "error";
    j["reason"] = std::string(ctx.status().message());
    if (print) std::printf("kernels: error: %s\n", j["reason"].get<std::string>().c_str());
    return j;
  }
  ScratchDir dir;
  runtime::CubinCache cache(dir.path());
  std::vector<runtime::ProgramLoad> cold, warm;
  double t0 = NowMs();
  absl::StatusOr<runtime::GpuOps> a = runtime::GpuOps::Load(*ctx, cache, &cold);
  const double cold_ms = NowMs() - t0;
  if (!a.ok()) {
    j["status"] = absl::IsUnavailable(a.status()) ? "skipped" : "error";
    j["reason"] = std::string(a.status().message());
    if (print) std::printf("kernels: %s: %s\n", j["status"].get<std::string>().c_str(), j["reason"].get<std::string>().c_str());
    return j;
  }
  t0 = NowMs();
  absl::StatusOr<runtime::GpuOps> b = runtime::GpuOps::Load(*ctx, cache, &warm);
  const double warm_ms = NowMs() - t0;
  if (!b.ok()) {
    j["status"] = "error";
    j["reason"] = std::string(b.status().message());
    return j;
  }
  j["status"] = "ok";
  j["device"] = dev->Describe();
  j["cache_dir"] = "fresh temporary directory";
  j["cold_ms"] = cold_ms;
  j["warm_ms"] = warm_ms;
  json programs = json::array();
  for (size_t i = 0; i < cold.size(); ++i) {
    json p = {{"program", cold[i].program},
              {"cold_build_ms", cold[i].build_ms},
              {"cold_load_ms", cold[i].load_ms},
              {"cold_cache", runtime::CacheOutcomeName(cold[i].cache)},
              {"is_cubin", cold[i].is_cubin}};
    if (i < warm.size()) {
      p["warm_build_ms"] = warm[i].build_ms;
      p["warm_load_ms"] = warm[i].load_ms;
      p["warm_cache"] = runtime::CacheOutcomeName(warm[i].cache);
    }
    programs.push_back(p);
  }
  j["programs"] = programs;
  if (print) {
    std::printf("kernels on %s: all %zu programs cold (NVRTC, parallel, empty cache) %.1f ms, warm (cache) %.1f ms\n",
                dev->Describe().c_str(), cold.size(), cold_ms, warm_ms);
    std::printf("  %-20s %14s %13s %14s %13s\n", "program", "cold build ms", "cold load ms", "warm build ms",
                "warm load ms");
    for (const json& p : programs) {
      std::printf("  %-20s %14.1f %13.2f %14.2f %13.2f  (%s -> %s)\n", p["program"].get<std::string>().c_str(),
                  p["cold_build_ms"].get<double>(), p["cold_load_ms"].get<double>(),
                  p.value("warm_build_ms", 0.0), p.value("warm_load_ms", 0.0),
                  p["cold_cache"].get<std::string>().c_str(), p.value("warm_cache", std::string("-")).c_str());
    }
  }
  return j;
}

json KernelsNvrtcOnly(int arch, bool print) {
  json j;
  absl::StatusOr<const runtime::Nvrtc*> nvrtc = runtime::Nvrtc::Get();
  if (!nvrtc.ok()) {
    j["status"] = "skipped";
    j["reason"] = absl::StrCat("no NVRTC (", std::string(nvrtc.status().message()), ")");
    if (print) std::printf("kernels (NVRTC only): skipped: %s\n", j["reason"].get<std::string>().c_str());
    return j;
  }
  ScratchDir dir;
  runtime::CubinCache cache(dir.path());
  json programs = json::array();
  double cold_total = 0, warm_total = 0;
  for (const runtime::KernelSource& p : runtime::KernelPrograms()) {
    double t0 = NowMs();
    absl::StatusOr<runtime::BuiltKernel> c = runtime::BuildKernelProgram(p, arch, cache);
    const double cold_ms = NowMs() - t0;
    t0 = NowMs();
    absl::StatusOr<runtime::BuiltKernel> w = runtime::BuildKernelProgram(p, arch, cache);
    const double warm_ms = NowMs() - t0;
    if (!c.ok() || !w.ok()) {
      j["status"] = "error";
      j["reason"] = std::string((c.ok() ? w : c).status().message());
      return j;
    }
    cold_total += cold_ms;
    warm_total += warm_ms;
    programs.push_back({{"program", std::string(p.name)},
                        {"cold_ms", cold_ms},
                        {"cold_cache", runtime::CacheOutcomeName(c->cache)},
                        {"warm_ms", warm_ms},
                        {"warm_cache", runtime::CacheOutcomeName(w->cache)},
                        {"image_bytes", c->image.size()}});
  }
  j = {{"status", "ok"}, {"arch", absl::StrCat("sm_", arch)}, {"nvrtc", (*nvrtc)->VersionString()},
       {"cold_ms_serial", cold_total}, {"warm_ms_serial", warm_total}, {"programs", programs}};
  if (print) {
    std::printf("kernels (NVRTC only, sm_%d, NVRTC %s, one program at a time): cold %.1f ms, warm %.1f ms\n", arch,
                (*nvrtc)->VersionString().c_str(), cold_total, warm_total);
    for (const json& p : programs) {
      std::printf("  %-20s cold %9.1f ms (%s)  warm %7.2f ms (%s)\n", p["program"].get<std::string>().c_str(),
                  p["cold_ms"].get<double>(), p["cold_cache"].get<std::string>().c_str(), p["warm_ms"].get<double>(),
                  p["warm_cache"].get<std::string>().c_str());
    }
  }
  return j;
}

// ---- memory ----

std::string DefaultModelPath() {
  if (const char* src = std::getenv("GHOSTNV_SOURCE_DIR"); src != nullptr) {
    const fs::path p = fs::path(src) / "models/weights/default.gnvm";
    if (fs::exists(p)) return p.string();
  }
#ifdef GHOSTNV_BENCH_DEFAULT_MODEL
  return GHOSTNV_BENCH_DEFAULT_MODEL;
#else
  return "models/weights/default.gnvm";
#endif
}

// What a CUDA plan keeps on the device for this model, per session and once.
struct DeviceNeeds {
  std::vector<std::pair<std::string, size_t>> per_session;  // name, bytes
  std::vector<std::pair<std::string, size_t>> shared;
  size_t per_session_packed = 0;  // batched layout: buffers are [session][...] rows, no padding
  size_t per_session_arena = 0;   // one arena per session: each buffer 256-byte aligned
  size_t shared_bytes = 0;
};

DeviceNeeds ComputeDeviceNeeds(const models::Model& m) {
  DeviceNeeds d;
  const size_t f = sizeof(float);
  const size_t hop = static_cast<size_t>(m.hop_size), win = static_cast<size_t>(m.frame_size);
  const size_t bins = win / 2 + 1;
  auto per = [&](const std::string& n, size_t bytes) { d.per_session.emplace_back(n, bytes); };
  per("pcm_in_row", hop * f);
  per("pcm_out_row", hop * f);
  if (m.family == "rnnoise") {
    constexpr size_t kBands = 22, kCepsMem = 8;
    per("highpass_state", 2 * f);
    per("analysis_history", hop * f);
    per("pitch_buffer", static_cast<size_t>(audio::pitch::kBuf) * f);
    per("pitch_state", 4 * f);
    per("cepstral_history", kCepsMem * kBands * f);
    per("spectra_x_p", 2 * bins * 2 * f);
    per("band_energies", 3 * kBands * f);
    per("features", 42 * f);
    per("gains_and_last_gains", 2 * kBands * f + f);
    per("synthesis_overlap", hop * f);
    per("dry_history", hop * f);
    per("frame_scratch", win * f);
  }
  size_t weights = 0;
  for (const models::Layer& l : m.layers) {
    const size_t in = static_cast<size_t>(l.inputs), u = static_cast<size_t>(l.units);
    if (l.kind == models::LayerKind::kGru) {
      per(l.name + "_state", u * f);
      per(l.name + "_gate_scratch", 3 * u * f);
      weights += (in * 3 * u + u * 3 * u + 3 * u + (l.recurrent_bias ? 3 * u : 0)) * f;
      d.shared.emplace_back(l.name + "_transposed", (in + u) * 3 * u * f);
      d.shared.emplace_back(l.name + "_split_scratch", runtime::GruSplitScratchFloats(l.units, runtime::kGruSplitMaxBatch) * f);
    } else {
      per(l.name + "_out", u * f);
      weights += (in * u + (l.bias ? u : 0)) * f;
    }
  }
  d.shared.emplace_back("weights", weights);
  d.shared.emplace_back("fft_twiddles_and_window", win * 2 * f + win * f);
  std::vector<size_t> sizes;
  for (const auto& [n, b] : d.per_session) {
    sizes.push_back(b);
    d.per_session_packed += b;
  }
  d.per_session_arena = mem::DeviceArena::Footprint(sizes);
  std::vector<size_t> shared_sizes;
  for (const auto& [n, b] : d.shared) shared_sizes.push_back(b);
  d.shared_bytes = mem::DeviceArena::Footprint(shared_sizes);
  return d;
}

json HostMemory(const models::Family& fam, const std::vector<long>& counts, double max_host_mb, bool print) {
  json rows = json::array();
  const long long avail = MemAvailableBytes();
  const double limit = max_host_mb > 0 ? max_host_mb * (1 << 20) : (avail > 0 ? 0.5 * static_cast<double>(avail) : 4e9);
  std::vector<float> in(static_cast<size_t>(fam.hop_size())), out(in.size());
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.f, 0.05f);
  for (float& x : in) x = g(rng);
  // Warm-up: one-time process state (FFT tables, windows) is not a per-session cost. Kept alive
  // so the measured sessions cannot reuse its memory.
  std::unique_ptr<models::ChannelState> warm = fam.NewChannel();
  fam.ProcessHop(*warm, in.data(), out.data(), 1.0f);
  double per_session = 0;
  long measured_n = 0;
  for (long n : counts) {
    json row = {{"sessions", n}};
    if (per_session > 0 && per_session * static_cast<double>(n) > limit) {
      row["measured"] = false;
      row["bytes_per_session"] = per_session;
      row["total_bytes"] = per_session * static_cast<double>(n);
      row["note"] = absl::StrFormat("extrapolated from %ld sessions: %.0f MiB exceeds the %.0f MiB limit",
                                    measured_n, per_session * static_cast<double>(n) / (1 << 20), limit / (1 << 20));
      rows.push_back(row);
      continue;
    }
    malloc_trim(0);
    const long long before = ProcStatusBytes("VmRSS");
    std::vector<std::unique_ptr<models::ChannelState>> chans;
    chans.reserve(static_cast<size_t>(n));
    const double t0 = NowMs();
    for (long i = 0; i < n; ++i) {
      chans.push_back(fam.NewChannel());
      fam.ProcessHop(*chans.back(), in.data(), out.data(), 1.0f);
    }
    const double create_ms = NowMs() - t0;
    const long long after = ProcStatusBytes("VmRSS");
    chans.clear();
    chans.shrink_to_fit();
    malloc_trim(0);
    const long long released = ProcStatusBytes("VmRSS");
    per_session = n > 0 ? static_cast<double>(after - before) / static_cast<double>(n) : 0;
    measured_n = n;
    row.update({{"measured", true},
                {"rss_before_bytes", before},
                {"rss_after_bytes", after},
                {"rss_after_destroy_bytes", released},
                {"total_bytes", after - before},
                {"bytes_per_session", per_session},
                {"create_and_one_hop_ms", create_ms}});
    rows.push_back(row);
  }
  if (print) {
    std::printf("host RSS per CPU session (%s, NewChannel + one hop each):\n", fam.model().name.c_str());
    for (const json& r : rows) {
      std::printf("  %8ld sessions: %12s total, %9.1f KiB/session%s\n", r["sessions"].get<long>(),
                  Mib(r["total_bytes"].get<double>()).c_str(), r["bytes_per_session"].get<double>() / 1024,
                  r["measured"].get<bool>() ? "" : ("  (" + r["note"].get<std::string>() + ")").c_str());
    }
  }
  return rows;
}

json DeviceMemory(const models::Model& model, const std::vector<long>& counts, bool print) {
  const DeviceNeeds d = ComputeDeviceNeeds(model);
  json est;
  est["per_session_packed_bytes"] = d.per_session_packed;
  est["per_session_arena_bytes"] = d.per_session_arena;
  est["shared_bytes"] = d.shared_bytes;
  json bufs = json::object();
  for (const auto& [n, b] : d.per_session) bufs[n] = b;
  est["per_session_buffers"] = bufs;
  json shared = json::object();
  for (const auto& [n, b] : d.shared) shared[n] = b;
  est["shared_buffers"] = shared;
  json totals = json::array();
  for (long n : counts) {
    totals.push_back({{"sessions", n},
                      {"bytes", static_cast<double>(d.shared_bytes) + static_cast<double>(n) * d.per_session_packed}});
  }
  est["totals"] = totals;
  json out;
  out["estimate"] = est;
  if (print) {
    std::printf("device memory (computed from the model: %zu per-session buffers, %zu shared):\n", d.per_session.size(),
                d.shared.size());
    std::printf("  shared %s; per session %.1f KiB batched (%.1f KiB as its own arena)\n",
                Mib(static_cast<double>(d.shared_bytes)).c_str(), d.per_session_packed / 1024.0,
                d.per_session_arena / 1024.0);
    for (const json& t : totals)
      std::printf("  %8ld sessions: %s\n", t["sessions"].get<long>(), Mib(t["bytes"].get<double>()).c_str());
  }

  // Measured on the GPU.
  absl::StatusOr<runtime::DeviceInfo> dev = runtime::FindDevice("cuda:0");
  if (!dev.ok()) {
    out["measured"] = {{"status", "skipped"}, {"reason", absl::StrCat("no GPU (", std::string(dev.status().message()), ")")}};
    if (print) std::printf("  measured on the GPU: skipped: %s\n", out["measured"]["reason"].get<std::string>().c_str());
    return out;
  }
  absl::StatusOr<runtime::Context> ctx = runtime::Context::Retain(*dev);
  if (!ctx.ok()) {
    out["measured"] = {{"status", "error"}, {"reason", std::string(ctx.status().message())}};
    return out;
  }
  json arenas = json::array();
  for (long n : counts) {
    const size_t bytes = d.shared_bytes + static_cast<size_t>(n) * d.per_session_packed;
    size_t free0 = 0, free1 = 0, total = 0;
    json row = {{"sessions", n}, {"arena_bytes", bytes}};
    if (!ctx->MemoryInfo(&free0, &total).ok()) break;
    {
      absl::StatusOr<mem::DeviceArena> a = mem::DeviceArena::Create(*ctx, bytes, "bench arena");
      if (!a.ok()) {
        row["error"] = std::string(a.status().message());
      } else if (ctx->MemoryInfo(&free1, &total).ok()) {
        row["cuMemGetInfo_delta_bytes"] = static_cast<long long>(free0) - static_cast<long long>(free1);
      }
    }
    arenas.push_back(row);
  }
  out["measured"] = {{"status", "ok"}, {"device", dev->Describe()}, {"arenas", arenas}};
  if (print) {
    std::printf("  measured on %s (one DeviceArena, cuMemGetInfo before/after):\n", dev->Describe().c_str());
    for (const json& r : arenas) {
      if (r.contains("error")) {
        std::printf("  %8ld sessions: error: %s\n", r["sessions"].get<long>(), r["error"].get<std::string>().c_str());
      } else {
        std::printf("  %8ld sessions: arena %s, device free memory went down %s\n", r["sessions"].get<long>(),
                    Mib(r["arena_bytes"].get<double>()).c_str(),
                    Mib(r.value("cuMemGetInfo_delta_bytes", 0.0)).c_str());
      }
    }
  }
#ifdef GHOSTNV_BENCH_HAVE_CUDA_PLAN
  json plans = json::array();
  auto shared_model = std::make_shared<const models::Model>(model);
  for (long n : counts) {
    json row = {{"sessions", n}};
    size_t free0 = 0, free1 = 0, total = 0;
    if (!ctx->MemoryInfo(&free0, &total).ok()) break;
    sched::CudaPlanOptions o;
    o.max_sessions = static_cast<int>(n);
    const double t0 = NowMs();
    absl::StatusOr<std::unique_ptr<sched::CudaPlan>> plan = sched::CudaPlan::Create(shared_model, o);
    row["create_ms"] = NowMs() - t0;
    if (!plan.ok()) {
      row["error"] = std::string(plan.status().message());
    } else if (ctx->MemoryInfo(&free1, &total).ok()) {
      row["cuMemGetInfo_delta_bytes"] = static_cast<long long>(free0) - static_cast<long long>(free1);
      row["bytes_per_session"] = static_cast<double>(free0 - free1) / static_cast<double>(n);
    }
    plans.push_back(row);
  }
  out["cuda_plan"] = plans;
  if (print) {
    std::printf("  measured with CudaPlan::Create(max_sessions = N):\n");
    for (const json& r : plans) {
      if (r.contains("error")) {
        std::printf("  %8ld sessions: error: %s\n", r["sessions"].get<long>(), r["error"].get<std::string>().c_str());
      } else {
        std::printf("  %8ld sessions: device free memory went down %s (%.1f KiB/session), create %.0f ms\n",
                    r["sessions"].get<long>(), Mib(r.value("cuMemGetInfo_delta_bytes", 0.0)).c_str(),
                    r.value("bytes_per_session", 0.0) / 1024, r["create_ms"].get<double>());
      }
    }
  }
#endif
  return out;
}

}  // namespace

int RunInfraSections(const InfraOptions& o, nlohmann::json* doc) {
  int status = 0;
  if (o.kernels) {
    json k = KernelsOnGpu(o.print);
    if (o.nvrtc_only_arch > 0) k["nvrtc_only"] = KernelsNvrtcOnly(o.nvrtc_only_arch, o.print);
    if (k["status"] == "error") status = 2;
    (*doc)["kernels"] = k;
  }
  if (o.memory) {
    json m;
    const std::string path = o.model == "default" ? DefaultModelPath() : o.model;
    absl::StatusOr<std::shared_ptr<const models::Model>> model = models::LoadModel(path);
    absl::StatusOr<std::unique_ptr<models::Family>> fam =
        model.ok() ? models::CreateFamily(*model) : absl::StatusOr<std::unique_ptr<models::Family>>(model.status());
    if (!fam.ok()) {
      m["status"] = "error";
      m["reason"] = absl::StrCat(path, ": ", std::string(fam.status().message()));
      std::fprintf(stderr, "ghostnv-bench: memory: %s\n", m["reason"].get<std::string>().c_str());
      status = 2;
    } else {
      m["status"] = "ok";
      m["model"] = (*model)->name;
      m["model_path"] = path;
      m["parameters"] = (*model)->ParameterCount();
      m["host"] = HostMemory(**fam, o.sessions, o.max_host_mb, o.print);
      m["device"] = DeviceMemory(**model, o.sessions, o.print);
    }
    (*doc)["memory"] = m;
  }
  return status;
}

}  // namespace ghostnv::bench
