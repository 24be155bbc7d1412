// runtime/nvrtc.cc — dlopen loader and compile wrapper for NVRTC.
#include "runtime/nvrtc.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ghostnv::runtime {
namespace {

template <typename Fn>
bool Sym(void* lib, const char* name, Fn* out) {
  *out = reinterpret_cast<Fn>(dlsym(lib, name));
  return *out != nullptr;
}

std::vector<std::string> Candidates() {
  std::vector<std::string> names = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"};
  std::vector<std::string> dirs;
  if (const char* home = std::getenv("CUDA_HOME"); home != nullptr && home[0] != '\0')
    dirs.push_back(absl::StrCat(home, "/lib64"));
  dirs.push_back("/usr/local/cuda/lib64");
  dirs.push_back("/usr/local/cuda/lib");
  std::vector<std::string> out = names;
  for (const std::string& d : dirs)
    for (const std::string& n : names) out.push_back(absl::StrCat(d, "/", n));
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Nvrtc>> Nvrtc::Load(const std::string& path) {
  dlerror();
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    return absl::UnavailableError(absl::StrCat("no NVRTC: cannot load ", path, " (",
                                               why != nullptr ? why : "unknown reason", ")"));
  }
  std::unique_ptr<Nvrtc> n(new Nvrtc());
  n->library_ = path;
  const bool ok = Sym(lib, "nvrtcGetErrorString", &n->GetErrorString_) &&
                  Sym(lib, "nvrtcVersion", &n->Version_) &&
                  Sym(lib, "nvrtcCreateProgram", &n->CreateProgram_) &&
                  Sym(lib, "nvrtcDestroyProgram", &n->DestroyProgram_) &&
                  Sym(lib, "nvrtcCompileProgram", &n->CompileProgram_) &&
                  Sym(lib, "nvrtcGetProgramLogSize", &n->GetProgramLogSize_) &&
                  Sym(lib, "nvrtcGetProgramLog", &n->GetProgramLog_) &&
                  Sym(lib, "nvrtcGetPTXSize", &n->GetPTXSize_) && Sym(lib, "nvrtcGetPTX", &n->GetPTX_);
  if (!ok) return absl::UnavailableError(absl::StrCat(path, " is not a usable NVRTC library"));
  // Optional in old NVRTCs (added in 11.1/11.2); without them only PTX can be produced.
  Sym(lib, "nvrtcGetCUBINSize", &n->GetCUBINSize_);
  Sym(lib, "nvrtcGetCUBIN", &n->GetCUBIN_);
  Sym(lib, "nvrtcGetNumSupportedArchs", &n->GetNumSupportedArchs_);
  Sym(lib, "nvrtcGetSupportedArchs", &n->GetSupportedArchs_);
  if (n->Version_(&n->major_, &n->minor_) != cu::kNvrtcSuccess)
    return absl::UnavailableError(absl::StrCat(path, ": nvrtcVersion failed"));
  int count = 0;
  if (n->GetNumSupportedArchs_ != nullptr && n->GetSupportedArchs_ != nullptr &&
      n->GetNumSupportedArchs_(&count) == cu::kNvrtcSuccess && count > 0) {
    n->archs_.resize(count);
    if (n->GetSupportedArchs_(n->archs_.data()) != cu::kNvrtcSuccess) n->archs_.clear();
  }
  std::sort(n->archs_.begin(), n->archs_.end());
  return n;
}

absl::StatusOr<const Nvrtc*> Nvrtc::Get() {
  static const absl::StatusOr<std::unique_ptr<Nvrtc>>* const loaded = [] {
    const char* env = std::getenv("GHOSTNV_LIBNVRTC");
    if (env != nullptr && env[0] != '\0')
      return new absl::StatusOr<std::unique_ptr<Nvrtc>>(Load(env));
    std::vector<std::string> tried;
    for (const std::string& c : Candidates()) {
      absl::StatusOr<std::unique_ptr<Nvrtc>> n = Load(c);
      if (n.ok()) return new absl::StatusOr<std::unique_ptr<Nvrtc>>(std::move(n));
      tried.push_back(c);
    }
    return new absl::StatusOr<std::unique_ptr<Nvrtc>>(absl::UnavailableError(absl::StrCat(
        "no NVRTC (the CUDA toolkit's run-time compiler) found; tried ", absl::StrJoin(tried, ", "),
        ". Install the CUDA toolkit or set GHOSTNV_LIBNVRTC")));
  }();
  if (!loaded->ok()) return loaded->status();
  return loaded->value().get();
}

std::string Nvrtc::VersionString() const { return absl::StrCat(major_, ".", minor_); }

absl::StatusOr<NvrtcOutput> Nvrtc::Compile(std::string_view source, std::string_view name,
                                           absl::Span<const NvrtcHeader> headers,
                                           const std::vector<std::string>& options,
                                           int arch) const {
  NvrtcOutput out;
  bool cubin = GetCUBIN_ != nullptr && GetCUBINSize_ != nullptr;
  int target = arch;
  if (!archs_.empty()) {
    if (arch < archs_.front()) {
      return absl::InvalidArgumentError(absl::StrCat("NVRTC ", VersionString(),
                                                     " cannot compile for sm_", arch, " (oldest: sm_",
                                                     archs_.front(), ")"));
    }
    if (std::find(archs_.begin(), archs_.end(), arch) == archs_.end()) {
      cubin = false;  // PTX for the newest architecture below the device's; the driver JITs it
      target = *std::prev(std::upper_bound(archs_.begin(), archs_.end(), arch));
    }
  }
  out.is_cubin = cubin;
  out.arch = target;

  const std::string src(source), prog_name(name);
  std::vector<std::string> hdr_text, hdr_name;
  for (const NvrtcHeader& h : headers) {
    hdr_text.emplace_back(h.text);
    hdr_name.emplace_back(h.name);
  }
  std::vector<const char*> hp, hn;
  for (size_t i = 0; i < hdr_text.size(); ++i) {
    hp.push_back(hdr_text[i].c_str());
    hn.push_back(hdr_name[i].c_str());
  }
  Program prog = nullptr;
  if (Result r = CreateProgram_(&prog, src.c_str(), prog_name.c_str(), static_cast<int>(hp.size()),
                                hp.data(), hn.data());
      r != cu::kNvrtcSuccess) {
    return absl::InternalError(absl::StrCat("nvrtcCreateProgram failed for ", prog_name, ": ",
                                            GetErrorString_(r)));
  }
  struct Destroy {
    const Nvrtc* n;
    Program* p;
    ~Destroy() { n->DestroyProgram_(p); }
  } destroy{this, &prog};

  std::vector<std::string> opts = options;
  opts.push_back(absl::StrCat("--gpu-architecture=", cubin ? "sm_" : "compute_", target));
  std::vector<const char*> op;
  for (const std::string& o : opts) op.push_back(o.c_str());
  const Result cr = CompileProgram_(prog, static_cast<int>(op.size()), op.data());
  size_t log_size = 0;
  if (GetProgramLogSize_(prog, &log_size) == cu::kNvrtcSuccess && log_size > 1) {
    out.log.resize(log_size);
    if (GetProgramLog_(prog, out.log.data()) != cu::kNvrtcSuccess) out.log.clear();
    while (!out.log.empty() && (out.log.back() == '\0' || out.log.back() == '\n')) out.log.pop_back();
  }
  if (cr != cu::kNvrtcSuccess) {
    return absl::InvalidArgumentError(absl::StrCat(
        "NVRTC ", VersionString(), " failed to compile ", prog_name, " for ",
        cubin ? "sm_" : "compute_", target, " (", GetErrorString_(cr), "):\n", out.log));
  }
  size_t size = 0;
  const Result sr = cubin ? GetCUBINSize_(prog, &size) : GetPTXSize_(prog, &size);
  if (sr != cu::kNvrtcSuccess || size == 0)
    return absl::InternalError(absl::StrCat("NVRTC produced no code for ", prog_name));
  out.image.resize(size);
  const Result gr = cubin ? GetCUBIN_(prog, out.image.data()) : GetPTX_(prog, out.image.data());
  if (gr != cu::kNvrtcSuccess)
    return absl::InternalError(absl::StrCat("NVRTC could not return the code for ", prog_name));
  return out;
}

}  // namespace ghostnv::runtime
