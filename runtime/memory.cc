// runtime/memory.cc — DeviceBlock and PinnedBlock.
#include "runtime/memory.h"

#include <string.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/park_gate.h"

namespace ghostnv::runtime {

absl::StatusOr<DeviceBlock> DeviceBlock::Allocate(const Context& ctx, size_t bytes, Wipe wipe) {
  if (absl::Status st = ctx.MakeCurrent(); !st.ok()) return st;
  DeviceBlock b;
  if (bytes == 0) return b;
  const DriverApi& a = ctx.api();
  if (cu::CUresult r = a.MemAlloc(&b.ptr_, bytes); r != cu::kSuccess) {
    return CuError(a, r, "cuMemAlloc",
                   absl::StrCat("allocating ", bytes, " bytes on ", ctx.device().Describe()));
  }
  b.api_ = &a;
  b.bytes_ = bytes;
  b.wipe_ = wipe;
  return b;
}

DeviceBlock::DeviceBlock(DeviceBlock&& other) noexcept
    : api_(std::exchange(other.api_, nullptr)),
      ptr_(std::exchange(other.ptr_, 0)),
      bytes_(std::exchange(other.bytes_, 0)),
      wipe_(other.wipe_) {}

DeviceBlock& DeviceBlock::operator=(DeviceBlock&& other) noexcept {
  if (this != &other) {
    Free();
    api_ = std::exchange(other.api_, nullptr);
    ptr_ = std::exchange(other.ptr_, 0);
    bytes_ = std::exchange(other.bytes_, 0);
    wipe_ = other.wipe_;
  }
  return *this;
}

DeviceBlock::~DeviceBlock() { Free(); }

void DeviceBlock::Free() {
  if (ptr_ != 0 && api_ != nullptr) {
    // cuMemFree waits for the device to go idle: resident kernels step aside (park_gate.h).
    ParkScope park;
    if (wipe_ == Wipe::kOnFree) api_->MemsetD8(ptr_, 0, bytes_);
    api_->MemFree(ptr_);
  }
  ptr_ = 0;
  bytes_ = 0;
}

absl::StatusOr<PinnedBlock> PinnedBlock::Allocate(const Context& ctx, size_t bytes,
                                                  HostMapping mapping, HostCaching caching,
                                                  Wipe wipe) {
  if (absl::Status st = ctx.MakeCurrent(); !st.ok()) return st;
  PinnedBlock b;
  if (bytes == 0) return b;
  const DriverApi& a = ctx.api();
  unsigned flags = cu::kMemHostAllocPortable;
  if (mapping == HostMapping::kMapped) flags |= cu::kMemHostAllocDeviceMap;
  if (caching == HostCaching::kWriteCombined) flags |= cu::kMemHostAllocWriteCombined;
  if (mapping == HostMapping::kMapped && !ctx.device().can_map_host_memory) {
    return absl::FailedPreconditionError(
        absl::StrCat(ctx.device().Describe(), " cannot map host memory"));
  }
  if (cu::CUresult r = a.MemHostAlloc(&b.host_, bytes, flags); r != cu::kSuccess) {
    return CuError(a, r, "cuMemHostAlloc",
                   absl::StrCat("pinning ", bytes, " bytes of host memory for ",
                                ctx.device().Describe()));
  }
  b.api_ = &a;
  b.bytes_ = bytes;
  b.wipe_ = wipe;
  if (mapping == HostMapping::kMapped) {
    if (cu::CUresult r = a.MemHostGetDevicePointer(&b.device_, b.host_, 0); r != cu::kSuccess) {
      return CuError(a, r, "cuMemHostGetDevicePointer",
                     absl::StrCat("mapping ", bytes, " pinned bytes into ", ctx.device().Describe()));
    }
  }
  return b;
}

PinnedBlock::PinnedBlock(PinnedBlock&& other) noexcept
    : api_(std::exchange(other.api_, nullptr)),
      host_(std::exchange(other.host_, nullptr)),
      device_(std::exchange(other.device_, 0)),
      bytes_(std::exchange(other.bytes_, 0)),
      wipe_(other.wipe_) {}

PinnedBlock& PinnedBlock::operator=(PinnedBlock&& other) noexcept {
  if (this != &other) {
    Free();
    api_ = std::exchange(other.api_, nullptr);
    host_ = std::exchange(other.host_, nullptr);
    device_ = std::exchange(other.device_, 0);
    bytes_ = std::exchange(other.bytes_, 0);
    wipe_ = other.wipe_;
  }
  return *this;
}

PinnedBlock::~PinnedBlock() { Free(); }

void PinnedBlock::Free() {
  if (host_ != nullptr && api_ != nullptr) {
    if (wipe_ == Wipe::kOnFree) explicit_bzero(host_, bytes_);
    ParkScope park;  // cuMemFreeHost synchronises like cuMemFree (park_gate.h)
    api_->MemFreeHost(host_);
  }
  host_ = nullptr;
  device_ = 0;
  bytes_ = 0;
}

}  // namespace ghostnv::runtime
