// runtime/cubin_cache.h — compiled kernels kept on disk between runs.
//
// Compiling the kernels with NVRTC costs a few hundred milliseconds per program; the cache makes
// every start after the first a file read. An entry is keyed by a SHA-256 of everything that
// determines the code (KeyFor: source, headers, options, NVRTC version, architecture) and stores
// its own key, size and a SHA-256 of the payload: an entry that is truncated, bit-flipped,
// renamed or written by another version fails verification and is rebuilt, never trusted.
//
//   CubinCache cache(CubinCache::DefaultDir());
//   CacheOutcome how;
//   absl::StatusOr<std::string> image = cache.GetOrBuild(key, [&] { return Compile(...); }, &how);
//
// Directory: $GHOSTNV_CACHE_DIR, else $XDG_CACHE_HOME/ghostnv/kernels, else
// $HOME/.cache/ghostnv/kernels; created on first store (mode 0700). If none can be used the cache
// is disabled (every lookup misses) and compiling still works. Entries are written to a
// temporary file and renamed into place, so concurrent processes never see a partial entry.
// Thread-safety: concurrent calls are safe (the file system arbitrates). Setup path only.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/sha256.h"

namespace ghostnv::runtime {

enum class CacheOutcome {
  kHit,           // a verified entry was used
  kMiss,          // no entry: built and stored
  kRebuilt,       // an entry existed but failed verification: rebuilt and replaced
  kDisabled,      // no cache directory: built, not stored
};
const char* CacheOutcomeName(CacheOutcome o);  // "hit", "miss", "rebuilt", "disabled"

class CubinCache {
 public:
  // An empty `dir` disables the cache.
  explicit CubinCache(std::string dir) : dir_(std::move(dir)) {}
  static std::string DefaultDir();

  const std::string& dir() const { return dir_; }
  bool enabled() const { return !dir_.empty(); }
  std::string PathFor(const Sha256::Digest& key) const;  // <dir>/<64 hex>.gnvk

  // The verified payload; NotFound when absent, DataLoss when present but not intact.
  absl::StatusOr<std::string> Lookup(const Sha256::Digest& key) const;
  // Writes atomically (temp file + rename).
  absl::Status Store(const Sha256::Digest& key, std::string_view image) const;

  // Lookup, else build and Store. A failure to store is not an error (the image is returned).
  absl::StatusOr<std::string> GetOrBuild(const Sha256::Digest& key,
                                         const std::function<absl::StatusOr<std::string>()>& build,
                                         CacheOutcome* outcome) const;

 private:
  std::string dir_;
};

}  // namespace ghostnv::runtime
