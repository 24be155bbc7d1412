// runtime/memory.h — owned device memory and page-locked (pinned) host memory.
//
// DeviceBlock is one cuMemAlloc allocation; PinnedBlock one cuMemHostAlloc allocation, which DMA
// engines can copy at full PCIe speed and which, when mapped, kernels can read and write
// directly (the persistent-kernel mailbox of the real-time mode). Both are sized at creation
// and never grow: pools and arenas (runtime/mem/) carve them up.
//
//   absl::StatusOr<PinnedBlock> host = PinnedBlock::Allocate(ctx, 480 * 4, HostMapping::kMapped);
//   absl::StatusOr<DeviceBlock> dev = DeviceBlock::Allocate(ctx, 480 * 4, Wipe::kOnFree);
//   dev->CopyFromHostAsync(host->data(), 480 * 4, stream);   // real-time safe
//
// Wipe::kOnFree zeroes the memory before it is returned to the driver (buffers that held audio):
// host blocks with explicit_bzero, device blocks with a synchronous cuMemsetD8 (the destructor
// then blocks until the zeroing is done — never destroy such a block on the audio thread).
// Move-only. Destroy before the Context. The async copies return the raw CUresult.
#pragma once

#include <cstddef>

#include "absl/status/statusor.h"
#include "runtime/context.h"
#include "runtime/cuda_abi.h"
#include "runtime/stream.h"

namespace ghostnv::runtime {

enum class Wipe { kNo, kOnFree };
enum class HostMapping {
  kUnmapped,  // pinned for fast DMA only
  kMapped,    // also visible to kernels at device_ptr()
};
enum class HostCaching {
  kDefault,
  kWriteCombined,  // faster host->device for buffers the host only writes (never read it back)
};

class DeviceBlock {
 public:
  static absl::StatusOr<DeviceBlock> Allocate(const Context& ctx, size_t bytes, Wipe wipe = Wipe::kNo);

  DeviceBlock() = default;  // empty: ptr() == 0, bytes() == 0
  DeviceBlock(DeviceBlock&& other) noexcept;
  DeviceBlock& operator=(DeviceBlock&& other) noexcept;
  DeviceBlock(const DeviceBlock&) = delete;
  DeviceBlock& operator=(const DeviceBlock&) = delete;
  ~DeviceBlock();

  cu::CUdeviceptr ptr() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  template <typename T>
  T* as() const { return reinterpret_cast<T*>(static_cast<uintptr_t>(ptr_)); }  // for kernel args

  // Async copies/fill on `stream`; offsets and sizes in bytes, caller keeps them in range.
  cu::CUresult CopyFromHostAsync(const void* src, size_t bytes, const Stream& stream,
                                 size_t offset = 0) const {
    return api_->MemcpyHtoDAsync(ptr_ + offset, src, bytes, stream.get());
  }
  cu::CUresult CopyToHostAsync(void* dst, size_t bytes, const Stream& stream, size_t offset = 0) const {
    return api_->MemcpyDtoHAsync(dst, ptr_ + offset, bytes, stream.get());
  }
  cu::CUresult FillBytesAsync(unsigned char value, const Stream& stream) const {
    return api_->MemsetD8Async(ptr_, value, bytes_, stream.get());
  }

 private:
  void Free();
  const DriverApi* api_ = nullptr;
  cu::CUdeviceptr ptr_ = 0;
  size_t bytes_ = 0;
  Wipe wipe_ = Wipe::kNo;
};

class PinnedBlock {
 public:
  static absl::StatusOr<PinnedBlock> Allocate(const Context& ctx, size_t bytes,
                                              HostMapping mapping = HostMapping::kUnmapped,
                                              HostCaching caching = HostCaching::kDefault,
                                              Wipe wipe = Wipe::kNo);

  PinnedBlock() = default;
  PinnedBlock(PinnedBlock&& other) noexcept;
  PinnedBlock& operator=(PinnedBlock&& other) noexcept;
  PinnedBlock(const PinnedBlock&) = delete;
  PinnedBlock& operator=(const PinnedBlock&) = delete;
  ~PinnedBlock();

  void* data() const { return host_; }
  template <typename T>
  T* as() const { return static_cast<T*>(host_); }
  size_t bytes() const { return bytes_; }
  cu::CUdeviceptr device_ptr() const { return device_; }  // 0 unless kMapped

 private:
  void Free();
  const DriverApi* api_ = nullptr;
  void* host_ = nullptr;
  cu::CUdeviceptr device_ = 0;
  size_t bytes_ = 0;
  Wipe wipe_ = Wipe::kNo;
};

}  // namespace ghostnv::runtime
