// runtime/mem/pinned_pool.cc — see pinned_pool.h.
#include "runtime/mem/pinned_pool.h"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/mem/secure_wipe.h"

namespace ghostnv::mem {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kMaxAlignment = 4096;

constexpr bool IsPow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }
constexpr size_t RoundUp(size_t x, size_t a) { return (x + a - 1) / a * a; }

enum class Carve { kOk, kZero, kBadAlignment, kAboveSlot, kExhausted, kTooManyBlocks };

}  // namespace

struct PinnedPool::State {
  struct Span {
    size_t offset = 0;
    size_t size = 0;
    bool used = false;
  };

  std::optional<runtime::PinnedBlock> pinned;  // kPinned
  unsigned char* host = nullptr;
  cu::CUdeviceptr device = 0;
  size_t bytes = 0;
  size_t block_bytes = 0;  // slot size (fixed mode), 0 = variable
  size_t alignment = 64;
  size_t max_blocks = 0;
  PoolBacking backing = PoolBacking::kHostOnly;
  size_t live = 0;
  size_t in_use = 0;
  // Fixed mode.
  std::vector<uint32_t> free_slots;  // a stack; the next slot handed out is at the back
  std::vector<uint8_t> slot_live;
  // Variable mode: spans cover [0, bytes) in offset order; no two free spans are adjacent.
  std::vector<Span> spans;

  ~State() {
    if (host != nullptr) SecureWipe(host, bytes);
    if (backing == PoolBacking::kHostOnly) std::free(host);
    // `pinned` returns its memory to the driver in its own destructor.
  }

  Carve Take(size_t n, size_t align, size_t* offset, size_t* size) noexcept {
    if (n == 0) return Carve::kZero;
    if (align == 0) align = alignment;
    if (!IsPow2(align) || align > kMaxAlignment) return Carve::kBadAlignment;
    if (block_bytes != 0) {
      if (align > alignment) return Carve::kBadAlignment;
      if (n > block_bytes) return Carve::kAboveSlot;
      if (free_slots.empty()) return Carve::kExhausted;
      const uint32_t slot = free_slots.back();
      free_slots.pop_back();
      slot_live[slot] = 1;
      *offset = static_cast<size_t>(slot) * block_bytes;
      *size = block_bytes;
    } else {
      if (live >= max_blocks) return Carve::kTooManyBlocks;
      if (n > bytes) return Carve::kExhausted;
      const size_t need = RoundUp(n, alignment);
      size_t i = 0;
      size_t start = 0;
      for (; i < spans.size(); ++i) {
        const Span& s = spans[i];
        if (s.used) continue;
        start = RoundUp(s.offset, align);
        if (start >= s.offset && start - s.offset <= s.size && s.size - (start - s.offset) >= need) break;
      }
      if (i == spans.size()) return Carve::kExhausted;
      const Span s = spans[i];
      const size_t pad = start - s.offset;
      const size_t tail = s.size - pad - need;
      // Capacity was reserved for 2 * max_blocks + 2 spans: these inserts never reallocate.
      if (pad > 0) {
        spans[i] = {s.offset, pad, false};
        spans.insert(spans.begin() + static_cast<std::ptrdiff_t>(++i), Span{start, need, true});
      } else {
        spans[i] = {start, need, true};
      }
      if (tail > 0) spans.insert(spans.begin() + static_cast<std::ptrdiff_t>(i + 1), Span{start + need, tail, false});
      *offset = start;
      *size = need;
    }
    ++live;
    in_use += *size;
    return Carve::kOk;
  }

  void Give(size_t offset) noexcept {
    if (block_bytes != 0) {
      const size_t slot = offset / block_bytes;
      assert(slot < slot_live.size() && slot_live[slot]);
      if (slot >= slot_live.size() || !slot_live[slot]) return;
      SecureWipe(host + offset, block_bytes);
      slot_live[slot] = 0;
      free_slots.push_back(static_cast<uint32_t>(slot));  // capacity reserved: no allocation
      --live;
      in_use -= block_bytes;
      return;
    }
    auto it = std::lower_bound(spans.begin(), spans.end(), offset,
                               [](const Span& s, size_t off) { return s.offset < off; });
    assert(it != spans.end() && it->offset == offset && it->used);
    if (it == spans.end() || it->offset != offset || !it->used) return;
    SecureWipe(host + it->offset, it->size);
    it->used = false;
    --live;
    in_use -= it->size;
    // Coalesce with the free neighbours (erase within capacity: no allocation).
    if (auto next = it + 1; next != spans.end() && !next->used) {
      it->size += next->size;
      spans.erase(next);
    }
    if (it != spans.begin()) {
      if (auto prev = it - 1; !prev->used) {
        prev->size += it->size;
        spans.erase(it);
      }
    }
  }

  size_t LargestFree() const {
    if (block_bytes != 0) return free_slots.empty() ? 0 : block_bytes;
    size_t best = 0;
    for (const Span& s : spans)
      if (!s.used) best = std::max(best, s.size);
    return best;
  }
};

PinnedPool::PinnedPool(std::unique_ptr<State> s) : state_(std::move(s)) {}
PinnedPool::PinnedPool(PinnedPool&&) noexcept = default;
PinnedPool& PinnedPool::operator=(PinnedPool&&) noexcept = default;
PinnedPool::~PinnedPool() {
  assert(state_ == nullptr || state_->live == 0);  // every Block must be gone first
}

namespace {

absl::Status CheckOptions(const PinnedPoolOptions& o) {
  if (o.bytes == 0) return absl::InvalidArgumentError("pinned pool: size must be > 0 bytes");
  if (!IsPow2(o.alignment) || o.alignment < 16 || o.alignment > kMaxAlignment) {
    return absl::InvalidArgumentError(
        absl::StrCat("pinned pool: alignment ", o.alignment, " is not a power of two in [16, 4096]"));
  }
  if (o.block_bytes > RoundUp(o.bytes, kPage)) {
    return absl::InvalidArgumentError(absl::StrCat("pinned pool: block size ", o.block_bytes,
                                                   " bytes exceeds the pool's ", o.bytes, " bytes"));
  }
  if (o.block_bytes == 0 && o.max_blocks == 0)
    return absl::InvalidArgumentError("pinned pool: max_blocks must be > 0");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PinnedPool> PinnedPool::Build(std::unique_ptr<State> s, const PinnedPoolOptions& o) {
  s->alignment = o.alignment;
  SecureWipe(s->host, s->bytes);  // free bytes read zero from the start
  if (o.block_bytes != 0) {
    s->block_bytes = RoundUp(o.block_bytes, o.alignment);
    const size_t slots = s->bytes / s->block_bytes;
    if (slots > UINT32_MAX) return absl::InvalidArgumentError("pinned pool: more than 2^32 slots");
    s->free_slots.reserve(slots);
    for (size_t k = slots; k-- > 0;) s->free_slots.push_back(static_cast<uint32_t>(k));
    s->slot_live.assign(slots, 0);
    s->max_blocks = slots;
  } else {
    s->max_blocks = o.max_blocks;
    s->spans.reserve(2 * o.max_blocks + 2);
    s->spans.push_back({0, s->bytes, false});
  }
  return PinnedPool(std::move(s));
}

absl::StatusOr<PinnedPool> PinnedPool::Create(const runtime::Context& ctx, const PinnedPoolOptions& o) {
  if (absl::Status st = CheckOptions(o); !st.ok()) return st;
  const size_t bytes = RoundUp(o.bytes, kPage);
  absl::StatusOr<runtime::PinnedBlock> b =
      runtime::PinnedBlock::Allocate(ctx, bytes, o.mapping, o.caching, runtime::Wipe::kNo);
  if (!b.ok()) return b.status();
  auto s = std::make_unique<State>();
  s->backing = PoolBacking::kPinned;
  s->pinned.emplace(*std::move(b));
  s->host = s->pinned->as<unsigned char>();
  s->device = s->pinned->device_ptr();
  s->bytes = bytes;
  return Build(std::move(s), o);
}

absl::StatusOr<PinnedPool> PinnedPool::CreateHostOnly(const PinnedPoolOptions& o) {
  if (absl::Status st = CheckOptions(o); !st.ok()) return st;
  const size_t bytes = RoundUp(o.bytes, kPage);
  void* p = std::aligned_alloc(kPage, bytes);
  if (p == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("pinned pool (host only): cannot allocate ", bytes, " bytes of host memory"));
  }
  auto s = std::make_unique<State>();
  s->backing = PoolBacking::kHostOnly;
  s->host = static_cast<unsigned char*>(p);
  s->bytes = bytes;
  return Build(std::move(s), o);
}

PinnedPool::Block PinnedPool::TryAllocate(size_t bytes, size_t alignment) noexcept {
  Block b;
  size_t offset = 0, size = 0;
  if (state_ == nullptr || state_->Take(bytes, alignment, &offset, &size) != Carve::kOk) return b;
  b.state_ = state_.get();
  b.host_ = state_->host + offset;
  b.device_ = state_->device != 0 ? state_->device + offset : 0;
  b.offset_ = offset;
  b.bytes_ = bytes;
  return b;
}

absl::StatusOr<PinnedPool::Block> PinnedPool::Allocate(size_t bytes, size_t alignment) {
  if (state_ == nullptr) return absl::FailedPreconditionError("pinned pool: moved-from pool");
  const State& s = *state_;
  const size_t align = alignment == 0 ? s.alignment : alignment;
  // Try first; explain only on failure (the explanation allocates).
  Block b;
  size_t offset = 0, size = 0;
  const Carve c = state_->Take(bytes, alignment, &offset, &size);
  if (c == Carve::kOk) {
    b.state_ = state_.get();
    b.host_ = state_->host + offset;
    b.device_ = s.device != 0 ? s.device + offset : 0;
    b.offset_ = offset;
    b.bytes_ = bytes;
    return b;
  }
  const std::string where =
      absl::StrCat(s.backing == PoolBacking::kPinned ? "pinned pool" : "pinned pool (host only)", " of ",
                   s.bytes, " bytes");
  switch (c) {
    case Carve::kZero:
      return absl::InvalidArgumentError(absl::StrCat(where, ": cannot allocate 0 bytes"));
    case Carve::kBadAlignment:
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": alignment ", align, " is not a power of two up to ",
          s.block_bytes != 0 ? s.alignment : kMaxAlignment));
    case Carve::kAboveSlot:
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", bytes, " bytes exceed the fixed block size ",
                                                     s.block_bytes));
    case Carve::kTooManyBlocks:
      return absl::ResourceExhaustedError(absl::StrCat(where, ": cannot allocate ", bytes, " bytes: all ",
                                                       s.max_blocks, " blocks are in use (max_blocks)"));
    case Carve::kExhausted:
    default:
      return absl::ResourceExhaustedError(absl::StrCat(
          where, ": cannot allocate ", bytes, " bytes (alignment ", align, "): ", s.bytes - s.in_use,
          " bytes free, largest free block ", s.LargestFree(), " bytes, ", s.live, " blocks in use"));
  }
}

size_t PinnedPool::capacity() const { return state_ ? state_->bytes : 0; }
size_t PinnedPool::bytes_in_use() const { return state_ ? state_->in_use : 0; }
size_t PinnedPool::blocks_in_use() const { return state_ ? state_->live : 0; }
size_t PinnedPool::largest_free() const { return state_ ? state_->LargestFree() : 0; }
size_t PinnedPool::block_bytes() const { return state_ ? state_->block_bytes : 0; }
size_t PinnedPool::alignment() const { return state_ ? state_->alignment : 0; }
bool PinnedPool::mapped() const { return state_ && state_->device != 0; }
PoolBacking PinnedPool::backing() const { return state_ ? state_->backing : PoolBacking::kHostOnly; }
absl::Span<const unsigned char> PinnedPool::DebugView() const {
  if (!state_) return {};
  return absl::Span<const unsigned char>(state_->host, state_->bytes);
}

PinnedPool::Block::Block(Block&& o) noexcept
    : state_(std::exchange(o.state_, nullptr)),
      host_(std::exchange(o.host_, nullptr)),
      device_(std::exchange(o.device_, 0)),
      offset_(std::exchange(o.offset_, 0)),
      bytes_(std::exchange(o.bytes_, 0)) {}

PinnedPool::Block& PinnedPool::Block::operator=(Block&& o) noexcept {
  if (this != &o) {
    Release();
    state_ = std::exchange(o.state_, nullptr);
    host_ = std::exchange(o.host_, nullptr);
    device_ = std::exchange(o.device_, 0);
    offset_ = std::exchange(o.offset_, 0);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void PinnedPool::Block::Release() noexcept {
  if (state_ != nullptr) state_->Give(offset_);
  state_ = nullptr;
  host_ = nullptr;
  device_ = 0;
  offset_ = 0;
  bytes_ = 0;
}

}  // namespace ghostnv::mem
