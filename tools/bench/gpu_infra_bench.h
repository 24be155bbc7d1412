// tools/bench/gpu_infra_bench.h — ghostnv-bench's device-layer sections: kernel cold/warm start
// and memory per 1, 1k, 100k sessions (host RSS, device memory).
//
//   ghostnv-bench --speed=false --kernels --memory --report=json
//
// Kernels (needs a GPU): every kernel program is built and loaded for device 0 twice through
// a cache in a fresh, empty directory — cold (NVRTC compiles, in parallel, as GpuOps::Load does
// at first use of a model) and warm (every program a verified cache hit) — with per-program
// build and load times. Optionally (--nvrtc_only_arch=90) the same compile without a GPU,
// program by program, to time NVRTC alone on this CPU.
//
// Memory: host RSS (VmRSS from /proc/self/status) before and after creating N CPU sessions of
// the model (models::CreateFamily + NewChannel, one hop processed on each so every buffer is
// touched; one warm-up session first, so one-time tables are not counted), for each N; RSS is
// page-granular, so the 1-session figure is rounded to 4 KiB pages; sizes too large for --max_host_mb are extrapolated from the largest
// measured N and marked so. Device memory per session is computed from the model: the buffers
// a CUDA plan keeps per session (state, history, PCM rows, per-hop scratch) and once per device
// (weights, transposed GRU weights, FFT tables), as DeviceArena::Footprint would size them.
// On a GPU, one DeviceArena of that size per N is created and cuMemGetInfo read before and
// after; when this build has the CUDA plan (runtime/sched), CudaPlan::Create(max_sessions = N)
// is measured the same way.
//
// Without a GPU the GPU parts report "skipped: no GPU (<reason>)" and the exit status stays 0.
#pragma once

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace ghostnv::bench {

struct InfraOptions {
  bool kernels = false;
  bool memory = false;
  int nvrtc_only_arch = 0;             // e.g. 90: also time NVRTC alone (no GPU needed)
  std::vector<long> sessions = {1, 1000, 100000};
  std::string model = "default";       // path, or "default" (models/weights/default.gnvm)
  double max_host_mb = 0;              // 0: half of MemAvailable
  bool print = true;                   // human-readable lines on stdout as sections run
};

// Runs the requested sections into doc["kernels"] / doc["memory"]. Returns 0, or 2 when a
// section could not run for a reason other than a missing GPU (e.g. the model does not load).
int RunInfraSections(const InfraOptions& options, nlohmann::json* doc);

}  // namespace ghostnv::bench
