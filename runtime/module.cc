// runtime/module.cc — Module and Kernel.
#include "runtime/module.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/park_gate.h"

namespace ghostnv::runtime {

int Kernel::Attribute(int attrib) const {
  int v = -1;
  if (api_ == nullptr || api_->FuncGetAttribute(&v, attrib, fn_) != cu::kSuccess) return -1;
  return v;
}

absl::Status Kernel::SetMaxDynamicSharedBytes(int bytes) const {
  cu::CUresult r;
  {
    ParkScope park;  // not measured beside a persistent kernel: gated like the module calls
    r = api_->FuncSetAttribute(fn_, cu::kFuncAttrMaxDynamicSharedSizeBytes, bytes);
  }
  if (r != cu::kSuccess) {
    return CuError(*api_, r, "cuFuncSetAttribute",
                   absl::StrCat("allowing ", bytes, " bytes of dynamic shared memory"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Module> Module::Load(const Context& ctx, std::string_view image,
                                    std::string_view label) {
  if (absl::Status st = ctx.MakeCurrent(); !st.ok()) return st;
  const DriverApi& a = ctx.api();
  cu::CUmodule m = nullptr;
  cu::CUresult r;
  {
    // cuModuleLoadData waits behind a running persistent kernel (measured on the H200, driver
    // 580): resident kernels step aside (park_gate.h).
    ParkScope park;
    r = a.ModuleLoadData(&m, image.data());
  }
  if (r != cu::kSuccess) {
    return CuError(a, r, "cuModuleLoadData",
                   absl::StrCat("loading module '", std::string(label), "' (", image.size(),
                                " bytes) on ", ctx.device().Describe()));
  }
  return Module(&a, m, std::string(label));
}

Module::Module(Module&& other) noexcept
    : api_(std::exchange(other.api_, nullptr)),
      module_(std::exchange(other.module_, nullptr)),
      label_(std::move(other.label_)) {}

Module& Module::operator=(Module&& other) noexcept {
  if (this != &other) {
    if (module_ != nullptr) Unload();
    api_ = std::exchange(other.api_, nullptr);
    module_ = std::exchange(other.module_, nullptr);
    label_ = std::move(other.label_);
  }
  return *this;
}

Module::~Module() {
  if (module_ != nullptr) Unload();
}

void Module::Unload() {
  // cuModuleUnload waits behind a running persistent kernel (measured): resident kernels step
  // aside (park_gate.h).
  ParkScope park;
  api_->ModuleUnload(module_);
}

absl::StatusOr<Kernel> Module::GetKernel(const char* name) const {
  cu::CUfunction fn = nullptr;
  cu::CUresult r;
  {
    // With lazy loading (the default on Linux since CUDA 12.2) the kernel's code is loaded here,
    // not at cuModuleLoadData: gated like the load (park_gate.h).
    ParkScope park;
    r = api_->ModuleGetFunction(&fn, module_, name);
  }
  if (r != cu::kSuccess) {
    return CuError(*api_, r, "cuModuleGetFunction",
                   absl::StrCat("finding kernel '", name, "' in module '", label_, "'"));
  }
  return Kernel(api_, fn);
}

absl::StatusOr<cu::CUdeviceptr> Module::GetGlobal(const char* name, size_t* bytes) const {
  cu::CUdeviceptr p = 0;
  size_t n = 0;
  cu::CUresult r;
  {
    ParkScope park;  // may load the module's data under lazy loading (see GetKernel)
    r = api_->ModuleGetGlobal(&p, &n, module_, name);
  }
  if (r != cu::kSuccess) {
    return CuError(*api_, r, "cuModuleGetGlobal",
                   absl::StrCat("finding variable '", name, "' in module '", label_, "'"));
  }
  if (bytes != nullptr) *bytes = n;
  return p;
}

}  // namespace ghostnv::runtime
