// runtime/mem/device_arena.h — one device allocation per context, handed out by bumping.
//
// Everything a session (or a batch plan) keeps on the device — recurrent state, overlap and
// pitch buffers, PCM staging, scratch — is sub-allocated at session creation from one
// cuMemAlloc made at the same time, so the audio path never calls cuMemAlloc and the plan
// knows its whole footprint up front (Footprint() computes it from the list of buffers).
// Allocation is a bump with alignment (absolute device addresses, default 256 bytes, the
// driver's own guarantee); nothing is freed one by one. Reset(stream) zeroes every byte handed
// out since the last wipe with cuMemsetD8Async on `stream` and rewinds; the wipe is ordered
// before any later work on that stream. Release(stream) does the same and closes the arena.
//
//   std::vector<size_t> sizes = {gru_state_bytes, overlap_bytes, pcm_bytes};
//   absl::StatusOr<DeviceArena> arena = DeviceArena::Create(ctx, DeviceArena::Footprint(sizes));
//   absl::StatusOr<DeviceSpan> state = arena->Allocate(gru_state_bytes);   // setup path
//   ... kernels use state->ptr ...
//   arena->Reset(stream);     // session reset: wipe (async, ordered on `stream`) and rewind
//   arena->Release(stream);   // session end: wipe; destroy the arena once the stream passed it
//
// Without a GPU, CreateHostOnly() gives the same arena over host memory (span pointers are host
// addresses, wipes are synchronous SecureWipe, the stream argument is ignored): the bookkeeping
// is tested in CI with ASan; the GPU tests (label gpu) run the real thing.
//
// Ownership and threads: move-only; owns the allocation; destroy before the Context. If any
// byte may still hold data when it is destroyed (no Release), the destructor wipes it with
// cuMemsetD8 and waits for that — so destroy an un-Released arena off the audio thread. Either
// way, destroy it only once the streams that used it have finished with it (synchronize them).
// Thread-compatible: Allocate/Reset/Release of one arena from one thread at a time. Allocate
// builds a Status only on failure; TryAllocate, Reset and Release never allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/context.h"
#include "runtime/cuda_abi.h"
#include "runtime/memory.h"
#include "runtime/stream.h"

namespace ghostnv::mem {

namespace cu = ::ghostnv::runtime::cu;

inline constexpr size_t kDeviceAlignment = 256;

// A piece of an arena. Not an owner: valid until the arena's next Reset/Release.
struct DeviceSpan {
  cu::CUdeviceptr ptr = 0;  // 0 for an empty span
  size_t offset = 0;        // from the arena's start
  size_t bytes = 0;
  template <typename T>
  T* as() const { return reinterpret_cast<T*>(static_cast<uintptr_t>(ptr)); }  // kernel arguments
  explicit operator bool() const { return ptr != 0; }
};

class DeviceArena {
 public:
  // One cuMemAlloc of `bytes` on ctx's device. `what` names the owner in error text.
  static absl::StatusOr<DeviceArena> Create(const runtime::Context& ctx, size_t bytes,
                                            std::string what = "device arena");
  // The same over host memory (tests, no GPU).
  static absl::StatusOr<DeviceArena> CreateHostOnly(size_t bytes, std::string what = "device arena");

  // Bytes an arena needs to hand out `sizes` in this order at `alignment` (worst case for the
  // first one: the base is always at least kDeviceAlignment-aligned).
  static size_t Footprint(absl::Span<const size_t> sizes, size_t alignment = kDeviceAlignment);

  DeviceArena(DeviceArena&& other) noexcept;
  DeviceArena& operator=(DeviceArena&& other) noexcept;
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;
  ~DeviceArena();

  // `bytes` (> 0) aligned to `alignment` (a power of two). ResourceExhausted names the request
  // and what is left; InvalidArgument for 0 bytes or a bad alignment; FailedPrecondition after
  // Release.
  absl::StatusOr<DeviceSpan> Allocate(size_t bytes, size_t alignment = kDeviceAlignment);
  // The same, an empty span on any failure; never allocates.
  DeviceSpan TryAllocate(size_t bytes, size_t alignment = kDeviceAlignment) noexcept;

  // Zeroes [0, high water) with cuMemsetD8Async on `stream` and rewinds. Raw CUresult; on
  // failure nothing is rewound. Real-time safe (one async driver call).
  cu::CUresult Reset(cu::CUstream stream) noexcept;
  cu::CUresult Reset(const runtime::Stream& stream) noexcept { return Reset(stream.get()); }
  // Reset, then refuse further allocations.
  cu::CUresult Release(cu::CUstream stream) noexcept;
  cu::CUresult Release(const runtime::Stream& stream) noexcept { return Release(stream.get()); }

  cu::CUdeviceptr base() const { return base_; }
  size_t capacity() const { return capacity_; }
  size_t used() const { return used_; }            // bump position
  size_t allocations() const { return count_; }    // since the last Reset
  bool host_only() const { return api_ == nullptr; }
  bool released() const { return released_; }
  // Host-only arenas: the bytes (tests). Empty for device arenas (copy them back instead).
  absl::Span<const unsigned char> DebugView() const;

 private:
  DeviceArena() = default;
  void Destroy() noexcept;

  const runtime::DriverApi* api_ = nullptr;  // null: host only
  std::string what_;
  std::optional<runtime::DeviceBlock> block_;
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> host_{nullptr, nullptr};
  cu::CUdeviceptr base_ = 0;
  size_t capacity_ = 0;
  size_t used_ = 0;
  size_t dirty_ = 0;  // bytes that may hold data (high water since the last wipe)
  size_t count_ = 0;
  bool released_ = false;
};

}  // namespace ghostnv::mem
