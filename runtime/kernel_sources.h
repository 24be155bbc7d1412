// runtime/kernel_sources.h — the CUDA kernel sources, embedded in the binary at build time.
//
// Every kernels/*.cu file is a program (one op per file) and every kernels/*.cuh file a header
// the programs may #include by its bare name. The build (runtime/CMakeLists.txt) turns them into
// string literals, so a GhostNV binary needs no source files at run time; NVRTC compiles them for
// the device in hand (kernel_build.h).
//
//   for (const KernelSource& p : KernelPrograms()) std::cout << p.name << "\n";  // "gru.cu" ...
//   const KernelSource* gru = FindKernelProgram("gru.cu");
//
// Thread-safety: immutable data.
#pragma once

#include <string_view>

#include "absl/types/span.h"

namespace ghostnv::runtime {

struct KernelSource {
  std::string_view name;  // file name, e.g. "gru.cu" or "gpu_common.cuh"
  std::string_view text;
};

absl::Span<const KernelSource> KernelPrograms();  // kernels/*.cu
absl::Span<const KernelSource> KernelHeaders();   // kernels/*.cuh

inline const KernelSource* FindKernelProgram(std::string_view name) {
  for (const KernelSource& k : KernelPrograms())
    if (k.name == name) return &k;
  return nullptr;
}

}  // namespace ghostnv::runtime
