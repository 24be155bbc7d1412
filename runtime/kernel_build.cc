// runtime/kernel_build.cc — NVRTC + cache for the embedded kernel programs.
#include "runtime/kernel_build.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ghostnv::runtime {

const std::vector<std::string>& KernelCompileOptions() {
  // C++17, IEEE division and square root, denormals kept: the kernels must match their CPU
  // twins to rounding. FMA contraction stays on (allowed by the per-op tolerances).
  // GHOSTNV_KERNEL_LINEINFO=1 adds -lineinfo (source lines for Nsight Compute's source view;
  // no change to the code generated; the cache key includes the options).
  static const std::vector<std::string> options = [] {
    std::vector<std::string> o = {"--std=c++17", "--fmad=true", "--prec-div=true", "--prec-sqrt=true",
                                  "--ftz=false"};
    if (const char* e = std::getenv("GHOSTNV_KERNEL_LINEINFO"); e != nullptr && e[0] == '1') o.push_back("-lineinfo");
    return o;
  }();
  return options;
}

Sha256::Digest KernelCacheKey(const Nvrtc& nvrtc, const KernelSource& program, int arch,
                              const std::vector<std::string>& options) {
  Sha256 h;
  h.UpdateField("ghostnv kernel cache key v1");
  h.UpdateField(absl::StrCat("nvrtc ", nvrtc.major(), ".", nvrtc.minor()));
  h.UpdateField(absl::StrCat("arch ", arch));
  h.UpdateField(absl::StrCat("options ", options.size()));
  for (const std::string& o : options) h.UpdateField(o);
  h.UpdateField(absl::StrCat("headers ", KernelHeaders().size()));
  for (const KernelSource& s : KernelHeaders()) {
    h.UpdateField(s.name);
    h.UpdateField(s.text);
  }
  h.UpdateField(program.name);
  h.UpdateField(program.text);
  return h.Finish();
}

absl::StatusOr<BuiltKernel> BuildKernelProgram(const Nvrtc& nvrtc, const KernelSource& program,
                                               int arch, const CubinCache& cache,
                                               const std::vector<std::string>& options) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<NvrtcHeader> headers;
  for (const KernelSource& s : KernelHeaders()) headers.push_back({s.name, s.text});
  const Sha256::Digest key = KernelCacheKey(nvrtc, program, arch, options);
  BuiltKernel out;
  absl::StatusOr<std::string> image = cache.GetOrBuild(
      key,
      [&]() -> absl::StatusOr<std::string> {
        absl::StatusOr<NvrtcOutput> c = nvrtc.Compile(program.text, program.name, headers, options, arch);
        if (!c.ok()) return c.status();
        return std::move(c->image);
      },
      &out.cache);
  if (!image.ok()) return image.status();
  out.image = *std::move(image);
  out.is_cubin = out.image.size() >= 4 && std::memcmp(out.image.data(), "\x7f" "ELF", 4) == 0;
  out.milliseconds =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

absl::StatusOr<BuiltKernel> BuildKernelProgram(const KernelSource& program, int arch,
                                               const CubinCache& cache) {
  absl::StatusOr<const Nvrtc*> nvrtc = Nvrtc::Get();
  if (!nvrtc.ok()) return nvrtc.status();
  return BuildKernelProgram(**nvrtc, program, arch, cache, KernelCompileOptions());
}

}  // namespace ghostnv::runtime
