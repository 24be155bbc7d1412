// runtime/module.h — a loaded code image (cubin or PTX) and the kernels in it.
//
//   absl::StatusOr<Module> m = Module::Load(ctx, cubin, "gru");      // setup
//   absl::StatusOr<Kernel> k = m->GetKernel("gru_step_f32_r8");       // setup
//   void* args[] = {&x, &state, &batch};
//   CUresult r = k->Launch({grid, 1, 1}, {256, 1, 1}, shared_bytes, stream, args);  // real time
//
// Module is move-only and unloads its image in the destructor; a Kernel is a plain handle that is
// valid while its Module lives. Kernel::Launch returns the raw CUresult (no allocation, no
// Status) so the real-time path can call it; the launch is asynchronous.
// Load, GetKernel, GetGlobal, SetMaxDynamicSharedBytes and the unload pass through the park gate
// (park_gate.h): beside a running persistent kernel they would wait for it forever. Setup only.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/context.h"
#include "runtime/cuda_abi.h"
#include "runtime/stream.h"

namespace ghostnv::runtime {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

class Kernel {
 public:
  Kernel() = default;
  Kernel(const DriverApi* api, cu::CUfunction fn) : api_(api), fn_(fn) {}

  cu::CUresult Launch(Dim3 grid, Dim3 block, unsigned shared_bytes, const Stream& stream,
                      void** args) const {
    return api_->LaunchKernel(fn_, grid.x, grid.y, grid.z, block.x, block.y, block.z,
                              shared_bytes, stream.get(), args, nullptr);
  }
  cu::CUresult Launch(Dim3 grid, Dim3 block, unsigned shared_bytes, cu::CUstream stream,
                      void** args) const {
    return api_->LaunchKernel(fn_, grid.x, grid.y, grid.z, block.x, block.y, block.z,
                              shared_bytes, stream, args, nullptr);
  }
  // cuFuncGetAttribute (registers, static shared memory, local memory, max threads).
  int Attribute(int attrib) const;
  // Allows up to `bytes` of dynamic shared memory per block (above 48 KB needs this).
  absl::Status SetMaxDynamicSharedBytes(int bytes) const;

  cu::CUfunction get() const { return fn_; }
  bool valid() const { return fn_ != nullptr; }

 private:
  const DriverApi* api_ = nullptr;
  cu::CUfunction fn_ = nullptr;
};

class Module {
 public:
  // `image` is a cubin or a NUL-terminated PTX text; `label` names it in errors.
  static absl::StatusOr<Module> Load(const Context& ctx, std::string_view image,
                                     std::string_view label);

  Module(Module&& other) noexcept;
  Module& operator=(Module&& other) noexcept;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  ~Module();

  absl::StatusOr<Kernel> GetKernel(const char* name) const;
  // Address and size of a __device__ / __constant__ variable.
  absl::StatusOr<cu::CUdeviceptr> GetGlobal(const char* name, size_t* bytes) const;

  cu::CUmodule get() const { return module_; }
  const std::string& label() const { return label_; }

 private:
  void Unload();  // through the park gate (park_gate.h)
  Module(const DriverApi* api, cu::CUmodule m, std::string label)
      : api_(api), module_(m), label_(std::move(label)) {}
  const DriverApi* api_ = nullptr;
  cu::CUmodule module_ = nullptr;
  std::string label_;
};

}  // namespace ghostnv::runtime
