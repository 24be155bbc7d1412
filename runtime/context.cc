// runtime/context.cc — primary context retain/release.
#include "runtime/context.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/park_gate.h"

namespace ghostnv::runtime {

absl::StatusOr<Context> Context::Retain(const DeviceInfo& device) {
  absl::StatusOr<const DriverApi*> api = Driver();
  if (!api.ok()) return api.status();
  const DriverApi& a = **api;
  const std::string on = absl::StrCat("on ", device.Describe());
  cu::CUcontext ctx = nullptr;
  if (cu::CUresult r = a.DevicePrimaryCtxRetain(&ctx, device.handle); r != cu::kSuccess)
    return CuError(a, r, "cuDevicePrimaryCtxRetain", absl::StrCat("retaining the primary context ", on));
  Context c(&a, device, ctx, {});
  if (cu::CUresult r = a.CtxSetCurrent(ctx); r != cu::kSuccess)
    return CuError(a, r, "cuCtxSetCurrent", absl::StrCat("making the context current ", on));
  if (cu::CUresult r = a.CtxGetStreamPriorityRange(&c.priorities_.least, &c.priorities_.greatest);
      r != cu::kSuccess)
    return CuError(a, r, "cuCtxGetStreamPriorityRange", absl::StrCat("reading stream priorities ", on));
  return c;
}

Context::Context(Context&& other) noexcept
    : api_(std::exchange(other.api_, nullptr)),
      device_(std::move(other.device_)),
      ctx_(std::exchange(other.ctx_, nullptr)),
      priorities_(other.priorities_) {}

Context& Context::operator=(Context&& other) noexcept {
  if (this != &other) {
    Release();
    api_ = std::exchange(other.api_, nullptr);
    device_ = std::move(other.device_);
    ctx_ = std::exchange(other.ctx_, nullptr);
    priorities_ = other.priorities_;
  }
  return *this;
}

Context::~Context() { Release(); }

void Context::Release() {
  // Other holders (another Context, the CUDA runtime, PyTorch) keep the primary context alive;
  // the thread's current-context binding is left alone, as cuDevicePrimaryCtxRelease does.
  if (ctx_ != nullptr && api_ != nullptr) api_->DevicePrimaryCtxRelease(device_.handle);
  ctx_ = nullptr;
}

absl::Status Context::MakeCurrent() const {
  if (cu::CUresult r = api_->CtxSetCurrent(ctx_); r != cu::kSuccess)
    return CuError(*api_, r, "cuCtxSetCurrent", absl::StrCat("binding the context of ", device_.Describe()));
  return absl::OkStatus();
}

absl::Status Context::Synchronize() const {
  if (absl::Status st = MakeCurrent(); !st.ok()) return st;
  ParkScope park;  // a resident kernel would never let it return (park_gate.h)
  if (cu::CUresult r = api_->CtxSynchronize(); r != cu::kSuccess)
    return CuError(*api_, r, "cuCtxSynchronize", absl::StrCat("waiting for ", device_.Describe()));
  return absl::OkStatus();
}

absl::Status Context::MemoryInfo(size_t* free_bytes, size_t* total_bytes) const {
  if (absl::Status st = MakeCurrent(); !st.ok()) return st;
  if (cu::CUresult r = api_->MemGetInfo(free_bytes, total_bytes); r != cu::kSuccess)
    return CuError(*api_, r, "cuMemGetInfo", absl::StrCat("reading memory of ", device_.Describe()));
  return absl::OkStatus();
}

}  // namespace ghostnv::runtime
