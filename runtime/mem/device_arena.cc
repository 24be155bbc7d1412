// runtime/mem/device_arena.cc — see device_arena.h.
#include "runtime/mem/device_arena.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/mem/secure_wipe.h"
#include "runtime/park_gate.h"

namespace ghostnv::mem {
namespace {

constexpr bool IsPow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }
constexpr size_t kHostAlignment = 4096;

// The offset at which `bytes` aligned to `alignment` fit after `used`, or SIZE_MAX.
size_t Fit(cu::CUdeviceptr base, size_t used, size_t capacity, size_t bytes, size_t alignment) {
  const uint64_t at = base + used;
  const uint64_t aligned = (at + alignment - 1) & ~static_cast<uint64_t>(alignment - 1);
  const size_t off = static_cast<size_t>(aligned - base);
  if (aligned < at || off > capacity || capacity - off < bytes) return SIZE_MAX;
  return off;
}

}  // namespace

size_t DeviceArena::Footprint(absl::Span<const size_t> sizes, size_t alignment) {
  if (!IsPow2(alignment)) return 0;
  size_t total = 0;
  for (size_t s : sizes) {
    if (s == 0) continue;
    total = (total + alignment - 1) / alignment * alignment + s;
  }
  // A base aligned only to kDeviceAlignment may need up to (alignment - kDeviceAlignment) more.
  if (alignment > kDeviceAlignment && total > 0) total += alignment - kDeviceAlignment;
  return total;
}

absl::StatusOr<DeviceArena> DeviceArena::Create(const runtime::Context& ctx, size_t bytes, std::string what) {
  if (bytes == 0) return absl::InvalidArgumentError(absl::StrCat(what, ": size must be > 0 bytes"));
  absl::StatusOr<runtime::DeviceBlock> b = runtime::DeviceBlock::Allocate(ctx, bytes, runtime::Wipe::kNo);
  if (!b.ok()) {
    return absl::Status(b.status().code(), absl::StrCat(what, " of ", bytes, " bytes: ", b.status().message()));
  }
  DeviceArena a;
  a.api_ = &ctx.api();
  a.what_ = absl::StrCat(std::move(what), " of ", bytes, " bytes on ", ctx.device().Describe());
  a.base_ = b->ptr();
  a.capacity_ = bytes;
  a.block_.emplace(*std::move(b));
  // cuMemAlloc does not zero: start from zeros so that "unused reads zero" holds everywhere.
  // cuMemsetD8 runs on the legacy default stream, which our (non-blocking) streams do not wait
  // for: wait for it here (setup path) so no later work can overtake it.
  cu::CUresult r = a.api_->MemsetD8(a.base_, 0, bytes);
  if (r == cu::kSuccess) r = a.api_->StreamSynchronize(nullptr);
  if (r != cu::kSuccess)
    return runtime::CuError(*a.api_, r, "cuMemsetD8", absl::StrCat("zeroing a new ", a.what_));
  return a;
}

absl::StatusOr<DeviceArena> DeviceArena::CreateHostOnly(size_t bytes, std::string what) {
  if (bytes == 0) return absl::InvalidArgumentError(absl::StrCat(what, ": size must be > 0 bytes"));
  const size_t rounded = (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
  auto* p = static_cast<unsigned char*>(std::aligned_alloc(kHostAlignment, rounded));
  if (p == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(what, ": cannot allocate ", bytes, " bytes of host memory"));
  }
  SecureWipe(p, rounded);
  DeviceArena a;
  a.what_ = absl::StrCat(std::move(what), " of ", bytes, " bytes (host only)");
  a.host_ = std::unique_ptr<unsigned char, void (*)(unsigned char*)>(p, [](unsigned char* q) { std::free(q); });
  a.base_ = static_cast<cu::CUdeviceptr>(reinterpret_cast<uintptr_t>(p));
  a.capacity_ = bytes;
  return a;
}

DeviceArena::DeviceArena(DeviceArena&& o) noexcept
    : api_(std::exchange(o.api_, nullptr)),
      what_(std::move(o.what_)),
      block_(std::move(o.block_)),
      host_(std::move(o.host_)),
      base_(std::exchange(o.base_, 0)),
      capacity_(std::exchange(o.capacity_, 0)),
      used_(std::exchange(o.used_, 0)),
      dirty_(std::exchange(o.dirty_, 0)),
      count_(std::exchange(o.count_, 0)),
      released_(std::exchange(o.released_, false)) {
  o.block_.reset();
}

DeviceArena& DeviceArena::operator=(DeviceArena&& o) noexcept {
  if (this != &o) {
    Destroy();
    api_ = std::exchange(o.api_, nullptr);
    what_ = std::move(o.what_);
    block_ = std::move(o.block_);
    o.block_.reset();
    host_ = std::move(o.host_);
    base_ = std::exchange(o.base_, 0);
    capacity_ = std::exchange(o.capacity_, 0);
    used_ = std::exchange(o.used_, 0);
    dirty_ = std::exchange(o.dirty_, 0);
    count_ = std::exchange(o.count_, 0);
    released_ = std::exchange(o.released_, false);
  }
  return *this;
}

DeviceArena::~DeviceArena() { Destroy(); }

void DeviceArena::Destroy() noexcept {
  if (dirty_ > 0) {
    if (host_ != nullptr) {
      SecureWipe(host_.get(), dirty_);
    } else if (api_ != nullptr && base_ != 0) {
      // On the legacy default stream: wait for it before cuMemFree hands the memory back. One
      // park of the resident kernels for the wipe and the free (runtime/park_gate.h).
      runtime::ParkScope park;
      if (api_->MemsetD8(base_, 0, dirty_) == cu::kSuccess) api_->StreamSynchronize(nullptr);
      block_.reset();  // cuMemFree (nested scope: no second park)
    }
  }
  block_.reset();  // cuMemFree
  host_.reset();
  api_ = nullptr;
  base_ = 0;
  capacity_ = used_ = dirty_ = count_ = 0;
}

DeviceSpan DeviceArena::TryAllocate(size_t bytes, size_t alignment) noexcept {
  if (released_ || bytes == 0 || !IsPow2(alignment) || base_ == 0) return {};
  const size_t off = Fit(base_, used_, capacity_, bytes, alignment);
  if (off == SIZE_MAX) return {};
  used_ = off + bytes;
  if (used_ > dirty_) dirty_ = used_;
  ++count_;
  return DeviceSpan{base_ + off, off, bytes};
}

absl::StatusOr<DeviceSpan> DeviceArena::Allocate(size_t bytes, size_t alignment) {
  if (DeviceSpan s = TryAllocate(bytes, alignment)) return s;
  if (base_ == 0) return absl::FailedPreconditionError("device arena: moved-from arena");
  if (released_) return absl::FailedPreconditionError(absl::StrCat(what_, ": allocation after Release"));
  if (bytes == 0) return absl::InvalidArgumentError(absl::StrCat(what_, ": cannot allocate 0 bytes"));
  if (!IsPow2(alignment)) {
    return absl::InvalidArgumentError(absl::StrCat(what_, ": alignment ", alignment, " is not a power of two"));
  }
  return absl::ResourceExhaustedError(absl::StrCat(what_, ": cannot allocate ", bytes, " bytes (alignment ",
                                                   alignment, "): ", capacity_ - used_, " of ", capacity_,
                                                   " bytes left after ", count_, " allocations"));
}

cu::CUresult DeviceArena::Reset(cu::CUstream stream) noexcept {
  if (dirty_ > 0) {
    if (host_ != nullptr) {
      SecureWipe(host_.get(), dirty_);
    } else if (api_ != nullptr) {
      if (cu::CUresult r = api_->MemsetD8Async(base_, 0, dirty_, stream); r != cu::kSuccess) return r;
    }
  }
  used_ = dirty_ = count_ = 0;
  return cu::kSuccess;
}

cu::CUresult DeviceArena::Release(cu::CUstream stream) noexcept {
  const cu::CUresult r = Reset(stream);
  if (r == cu::kSuccess) released_ = true;
  return r;
}

absl::Span<const unsigned char> DeviceArena::DebugView() const {
  if (host_ == nullptr) return {};
  return absl::Span<const unsigned char>(host_.get(), capacity_);
}

}  // namespace ghostnv::mem
