// runtime/kernel_build.h — compile an embedded kernel program for a device, through the cache.
//
// At first use of a model the backend builds the programs it needs for the device's exact
// architecture: BuildKernelProgram looks the program up in the on-disk cache (cubin_cache.h)
// under a key that covers the program text, every embedded header, the options, the NVRTC
// version and the architecture, and compiles with NVRTC only on a miss (or when the entry fails
// verification). ghostnv-bench reports the cold (compile) and warm (cache) times.
//
//   absl::StatusOr<BuiltKernel> k = BuildKernelProgram(*FindKernelProgram("gru.cu"), 90, cache);
//   absl::StatusOr<Module> m = Module::Load(ctx, k->image, "gru.cu");
//
// Thread-safety: safe to call concurrently. Setup path only.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cubin_cache.h"
#include "runtime/kernel_sources.h"
#include "runtime/nvrtc.h"
#include "runtime/sha256.h"

namespace ghostnv::runtime {

// The NVRTC options every kernel program is compiled with.
const std::vector<std::string>& KernelCompileOptions();

struct BuiltKernel {
  std::string image;      // cubin, or PTX text (NUL-terminated) for a device newer than NVRTC
  bool is_cubin = true;
  CacheOutcome cache = CacheOutcome::kDisabled;
  double milliseconds = 0;  // time spent (compile or cache read)
};

// The cache key of `program` for `arch` (see the banner).
Sha256::Digest KernelCacheKey(const Nvrtc& nvrtc, const KernelSource& program, int arch,
                              const std::vector<std::string>& options);

// Builds `program` for compute capability `arch` (e.g. 90) with the process-wide NVRTC.
absl::StatusOr<BuiltKernel> BuildKernelProgram(const KernelSource& program, int arch,
                                               const CubinCache& cache);
// The same with an explicit NVRTC and options (tests).
absl::StatusOr<BuiltKernel> BuildKernelProgram(const Nvrtc& nvrtc, const KernelSource& program,
                                               int arch, const CubinCache& cache,
                                               const std::vector<std::string>& options);

}  // namespace ghostnv::runtime
