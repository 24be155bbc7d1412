// runtime/context.h — a device's primary context, retained for as long as the object lives.
//
// GhostNV uses the primary context (the one the CUDA runtime and PyTorch share), never a private
// one. Driver calls act on the calling thread's current context: every setup function in
// runtime/ makes its context current itself; a thread that only launches work (the audio or
// scheduler thread) calls MakeCurrent() once when it starts.
//
//   absl::StatusOr<DeviceInfo> dev = FindDevice("cuda:0");
//   absl::StatusOr<Context> ctx = Context::Retain(*dev);   // also current on this thread
//   StreamPriorityRange pr = ctx->priorities();            // e.g. {least 0, greatest -5}
//
// Move-only; the destructor releases the primary context (it is destroyed when the last user
// releases it). Everything created from a Context must be destroyed before it.
// Thread-safety: const methods may be called from any thread.
#pragma once

#include <cstddef>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/cuda_abi.h"
#include "runtime/device.h"
#include "runtime/driver.h"

namespace ghostnv::runtime {

// Stream priorities as the driver numbers them: lower numbers run first.
struct StreamPriorityRange {
  int least = 0;     // the lowest priority (default streams get this)
  int greatest = 0;  // the highest priority (the real-time path uses it)
};

class Context {
 public:
  static absl::StatusOr<Context> Retain(const DeviceInfo& device);

  Context(Context&& other) noexcept;
  Context& operator=(Context&& other) noexcept;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context();

  // Binds the context to the calling thread (cuCtxSetCurrent). Real-time safe.
  absl::Status MakeCurrent() const;
  // Waits for all work in the context. Setup/teardown and tests only.
  absl::Status Synchronize() const;
  // Free and total device memory.
  absl::Status MemoryInfo(size_t* free_bytes, size_t* total_bytes) const;

  const DriverApi& api() const { return *api_; }
  const DeviceInfo& device() const { return device_; }
  cu::CUcontext get() const { return ctx_; }
  StreamPriorityRange priorities() const { return priorities_; }

 private:
  Context(const DriverApi* api, DeviceInfo device, cu::CUcontext ctx, StreamPriorityRange pr)
      : api_(api), device_(std::move(device)), ctx_(ctx), priorities_(pr) {}
  void Release();

  const DriverApi* api_ = nullptr;
  DeviceInfo device_;
  cu::CUcontext ctx_ = nullptr;
  StreamPriorityRange priorities_;
};

}  // namespace ghostnv::runtime
