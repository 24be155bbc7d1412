// runtime/nvrtc.h — NVRTC (the CUDA run-time compiler), loaded at run time.
//
// Like the driver (driver.h), libnvrtc is dlopen'ed, never linked: a machine without the CUDA
// toolkit gets a clear Unavailable status and GhostNV still runs on the CPU. NVRTC needs no GPU,
// so CI compiles every kernel for several architectures with it.
//
//   absl::StatusOr<const Nvrtc*> nvrtc = Nvrtc::Get();
//   absl::StatusOr<NvrtcOutput> out = (*nvrtc)->Compile(source, "gru.cu", headers, {"--std=c++17"}, 90);
//   // out->image: a cubin for sm_90 (or PTX for the newest NVRTC arch below 90, see Compile)
//
// Search order: $GHOSTNV_LIBNVRTC (only that file when set), then libnvrtc.so.13, .so.12, .so
// through the normal library path, then the same names under $CUDA_HOME/lib64,
// /usr/local/cuda/lib64 and /usr/local/cuda/lib.
// Thread-safety: Get() is thread-safe; Compile() may run concurrently (one program per call).
// Setup path only: compiling takes tens to hundreds of milliseconds.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/cuda_abi.h"

namespace ghostnv::runtime {

struct NvrtcHeader {
  std::string_view name;  // as written in #include "name"
  std::string_view text;
};

struct NvrtcOutput {
  std::string image;     // cubin bytes, or PTX text (NUL-terminated) when !is_cubin
  bool is_cubin = true;
  int arch = 0;          // the architecture compiled for (e.g. 90)
  std::string log;       // compiler messages (warnings), possibly empty
};

class Nvrtc {
 public:
  // The process-wide instance (loaded once; the same error is returned every time).
  static absl::StatusOr<const Nvrtc*> Get();
  // Loads `path` into a new instance (tests, diagnostics).
  static absl::StatusOr<std::unique_ptr<Nvrtc>> Load(const std::string& path);

  int major() const { return major_; }
  int minor() const { return minor_; }
  std::string VersionString() const;                       // "13.0"
  const std::vector<int>& supported_archs() const { return archs_; }  // {75, 80, ..., 120}
  const std::string& library() const { return library_; }

  // Compiles `source` (named `name` in messages) for compute capability `arch` (e.g. 86).
  // If NVRTC can emit a cubin for sm_<arch> it does (is_cubin = true). If the device is newer
  // than this NVRTC knows, it emits PTX for the newest older virtual architecture and the driver
  // compiles that at load (is_cubin = false). Older than NVRTC supports: InvalidArgument.
  // A compile error returns InvalidArgument whose message holds the compiler log.
  absl::StatusOr<NvrtcOutput> Compile(std::string_view source, std::string_view name,
                                      absl::Span<const NvrtcHeader> headers,
                                      const std::vector<std::string>& options, int arch) const;

 private:
  Nvrtc() = default;
  using Result = cu::nvrtcResult;
  using Program = cu::nvrtcProgram;
  const char* (*GetErrorString_)(Result) = nullptr;
  Result (*Version_)(int*, int*) = nullptr;
  Result (*GetNumSupportedArchs_)(int*) = nullptr;
  Result (*GetSupportedArchs_)(int*) = nullptr;
  Result (*CreateProgram_)(Program*, const char*, const char*, int, const char* const*,
                           const char* const*) = nullptr;
  Result (*DestroyProgram_)(Program*) = nullptr;
  Result (*CompileProgram_)(Program, int, const char* const*) = nullptr;
  Result (*GetProgramLogSize_)(Program, size_t*) = nullptr;
  Result (*GetProgramLog_)(Program, char*) = nullptr;
  Result (*GetCUBINSize_)(Program, size_t*) = nullptr;
  Result (*GetCUBIN_)(Program, char*) = nullptr;
  Result (*GetPTXSize_)(Program, size_t*) = nullptr;
  Result (*GetPTX_)(Program, char*) = nullptr;

  std::string library_;
  int major_ = 0, minor_ = 0;
  std::vector<int> archs_;
};

}  // namespace ghostnv::runtime
