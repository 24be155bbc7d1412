// runtime/mem/pinned_pool.h — one page-locked (pinned) host region, carved into blocks.
//
// A session's host staging (PCM in and out, mailboxes of the real-time mode) comes from a
// PinnedPool created once per device: one cuMemHostAlloc of a size fixed at creation (optionally
// mapped, so kernels can read and write it), carved into blocks by bookkeeping that was
// reserved at creation. Allocate/Free never call malloc, the driver or a lock; blocks that are
// released are wiped (SecureWipe) before they can be handed out again, and the whole region is
// wiped before it goes back to the driver. Free bytes therefore always read zero.
//
// Two ways to carve (PinnedPoolOptions::block_bytes):
//   - fixed blocks (block_bytes > 0): O(1) allocate/free from a free list of equal slots;
//   - variable blocks (block_bytes == 0): first fit over an offset-sorted span table with
//     alignment, splitting and coalescing; O(live blocks), at most max_blocks live at once.
//
//   PinnedPoolOptions o;
//   o.bytes = 64 << 20;                         // 64 MiB for all sessions on this device
//   o.mapping = runtime::HostMapping::kMapped;  // kernels see it at Block::device_ptr()
//   absl::StatusOr<PinnedPool> pool = PinnedPool::Create(ctx, o);
//   absl::StatusOr<PinnedPool::Block> pcm = pool->Allocate(480 * sizeof(int16_t) * 2);
//   if (!pcm.ok()) return pcm.status();      // ResourceExhausted: "... 960 bytes ... 512 free"
//   int16_t* in = pcm->as<int16_t>();          // host view; pcm->device_ptr() for kernels
//   ...                                         // ~Block wipes the bytes and returns them
//
// Without a GPU (unit tests, CPU-only machines) CreateHostOnly() gives the same pool over
// ordinary page-aligned memory (device_ptr() is 0): every line of the carving code is the
// same, only the region's origin differs.
//
// Ownership and threads: the pool owns the region; a Block is a move-only lease that returns
// itself (wiped) when destroyed or Release()d. Destroy every Block before its pool, and the pool
// before the Context. The pool is thread-compatible, not thread-safe: Allocate and Block
// release for one pool must not run concurrently (do them on the control thread at session
// create/destroy; the audio thread only reads and writes the blocks it was given).
// Latency: Allocate/TryAllocate/release are bounded (fixed: O(1); variable: O(live blocks) plus
// the wipe of the block); Allocate builds a Status only on failure, TryAllocate never does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/context.h"
#include "runtime/cuda_abi.h"
#include "runtime/memory.h"

namespace ghostnv::mem {

namespace cu = ::ghostnv::runtime::cu;

struct PinnedPoolOptions {
  size_t bytes = 0;        // region size (rounded up to whole pages)
  size_t block_bytes = 0;  // 0: variable-size blocks; else every block is a slot of this size
  size_t alignment = 64;   // of every block (power of two, 16..4096; one cache line by default)
  size_t max_blocks = 4096;  // variable mode: most blocks live at once (bookkeeping reserved now)
  runtime::HostMapping mapping = runtime::HostMapping::kUnmapped;
  runtime::HostCaching caching = runtime::HostCaching::kDefault;
};

enum class PoolBacking {
  kPinned,    // cuMemHostAlloc
  kHostOnly,  // ordinary page-aligned host memory (tests, no GPU)
};

class PinnedPool {
  struct State;

 public:
  // A lease on one block. Move-only; an empty Block has data() == nullptr.
  class Block {
   public:
    Block() = default;
    Block(Block&& other) noexcept;
    Block& operator=(Block&& other) noexcept;
    Block(const Block&) = delete;
    Block& operator=(const Block&) = delete;
    ~Block() { Release(); }

    void* data() const { return host_; }
    template <typename T>
    T* as() const { return static_cast<T*>(host_); }
    size_t bytes() const { return bytes_; }      // as requested
    size_t offset() const { return offset_; }    // from the region's start
    cu::CUdeviceptr device_ptr() const { return device_; }  // 0 unless the pool is mapped
    explicit operator bool() const { return host_ != nullptr; }
    // Wipes the block and returns it to the pool now (also done by the destructor).
    void Release() noexcept;

   private:
    friend class PinnedPool;
    State* state_ = nullptr;
    void* host_ = nullptr;
    cu::CUdeviceptr device_ = 0;
    size_t offset_ = 0;
    size_t bytes_ = 0;
  };

  // Pins options.bytes with cuMemHostAlloc on `ctx`'s device (mapped if asked).
  static absl::StatusOr<PinnedPool> Create(const runtime::Context& ctx, const PinnedPoolOptions& options);
  // The same pool over ordinary host memory: no driver needed (tests, CPU-only machines).
  static absl::StatusOr<PinnedPool> CreateHostOnly(const PinnedPoolOptions& options);

  PinnedPool(PinnedPool&&) noexcept;
  PinnedPool& operator=(PinnedPool&&) noexcept;
  PinnedPool(const PinnedPool&) = delete;
  PinnedPool& operator=(const PinnedPool&) = delete;
  ~PinnedPool();  // wipes the whole region, then frees it

  // A block of `bytes` (> 0) aligned to `alignment` (0: the pool's; at most the pool's in fixed
  // mode, at most 4096 in variable mode). Errors: ResourceExhausted naming the request and what
  // is free; InvalidArgument for a size of 0, a bad alignment or (fixed mode) a size above the slot.
  absl::StatusOr<Block> Allocate(size_t bytes, size_t alignment = 0);
  // The same without a Status: an empty Block on any failure. Never allocates.
  Block TryAllocate(size_t bytes, size_t alignment = 0) noexcept;

  size_t capacity() const;        // region bytes
  size_t bytes_in_use() const;    // bytes held by live blocks (slot/rounded sizes)
  size_t blocks_in_use() const;
  size_t largest_free() const;    // the biggest block Allocate could still return (alignment 1)
  size_t block_bytes() const;     // slot size in fixed mode, 0 in variable mode
  size_t alignment() const;
  bool mapped() const;
  PoolBacking backing() const;
  // The whole region as bytes, for tests and debugging (e.g. "freed blocks read zero").
  absl::Span<const unsigned char> DebugView() const;

 private:
  explicit PinnedPool(std::unique_ptr<State> s);
  static absl::StatusOr<PinnedPool> Build(std::unique_ptr<State> s, const PinnedPoolOptions& o);
  std::unique_ptr<State> state_;
};

}  // namespace ghostnv::mem
