// runtime/cubin_cache.cc — on-disk entries: header (magic, format, key, size, payload hash) + payload.
#include "runtime/cubin_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ghostnv::runtime {
namespace {

constexpr char kMagic[8] = {'G', 'N', 'V', 'K', 'E', 'R', 'N', '1'};
constexpr uint32_t kFormat = 1;
// magic(8) format(4) reserved(4) key(32) size(8) payload sha256(32)
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 32 + 8 + 32;
constexpr size_t kMaxPayload = size_t{256} << 20;  // no kernel image comes near this

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// mkdir -p with mode 0700 for the parts we create.
bool MakeDirs(const std::string& dir) {
  if (dir.empty()) return false;
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty()) continue;
    if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  struct stat st;
  return stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool ReadFile(const std::string& path, std::string* out, bool* exists) {
  *exists = false;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  *exists = true;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < 0 || static_cast<size_t>(st.st_size) > kMaxPayload + kHeaderBytes) {
    close(fd);
    return false;
  }
  out->resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out->size()) {
    const ssize_t n = read(fd, out->data() + got, out->size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  out->resize(got);
  return true;
}

}  // namespace

const char* CacheOutcomeName(CacheOutcome o) {
  switch (o) {
    case CacheOutcome::kHit: return "hit";
    case CacheOutcome::kMiss: return "miss";
    case CacheOutcome::kRebuilt: return "rebuilt";
    case CacheOutcome::kDisabled: return "disabled";
  }
  return "?";
}

std::string CubinCache::DefaultDir() {
  if (const char* d = std::getenv("GHOSTNV_CACHE_DIR"); d != nullptr && d[0] != '\0') return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && x[0] == '/')
    return absl::StrCat(x, "/ghostnv/kernels");
  if (const char* h = std::getenv("HOME"); h != nullptr && h[0] == '/')
    return absl::StrCat(h, "/.cache/ghostnv/kernels");
  return "";
}

std::string CubinCache::PathFor(const Sha256::Digest& key) const {
  return absl::StrCat(dir_, "/", Sha256::Hex(key), ".gnvk");
}

absl::StatusOr<std::string> CubinCache::Lookup(const Sha256::Digest& key) const {
  if (!enabled()) return absl::NotFoundError("kernel cache disabled");
  const std::string path = PathFor(key);
  std::string data;
  bool exists = false;
  if (!ReadFile(path, &data, &exists)) {
    if (!exists) return absl::NotFoundError(absl::StrCat("no cache entry ", path));
    return absl::DataLossError(absl::StrCat("cache entry ", path, " is unreadable or too large"));
  }
  auto corrupt = [&](const char* why) {
    return absl::DataLossError(absl::StrCat("cache entry ", path, " rejected: ", why));
  };
  if (data.size() < kHeaderBytes) return corrupt("shorter than its header");
  const uint8_t* h = reinterpret_cast<const uint8_t*>(data.data());
  if (std::memcmp(h, kMagic, sizeof(kMagic)) != 0) return corrupt("bad magic");
  if (GetU32(h + 8) != kFormat) return corrupt("unknown format version");
  if (std::memcmp(h + 16, key.data(), key.size()) != 0) return corrupt("stored key differs (stale)");
  const uint64_t size = GetU64(h + 48);
  if (size != data.size() - kHeaderBytes) return corrupt("size does not match (truncated?)");
  if (size == 0) return corrupt("empty payload");
  std::string payload = data.substr(kHeaderBytes);
  const Sha256::Digest got = Sha256::Of(payload);
  if (std::memcmp(h + 56, got.data(), got.size()) != 0) return corrupt("payload hash mismatch");
  return payload;
}

absl::Status CubinCache::Store(const Sha256::Digest& key, std::string_view image) const {
  if (!enabled()) return absl::FailedPreconditionError("kernel cache disabled");
  if (image.empty() || image.size() > kMaxPayload)
    return absl::InvalidArgumentError("kernel image size out of range");
  if (!MakeDirs(dir_)) return absl::UnavailableError(absl::StrCat("cannot create cache directory ", dir_));
  uint8_t header[kHeaderBytes] = {};
  std::memcpy(header, kMagic, sizeof(kMagic));
  PutU32(header + 8, kFormat);
  std::memcpy(header + 16, key.data(), key.size());
  PutU64(header + 48, image.size());
  const Sha256::Digest sum = Sha256::Of(image);
  std::memcpy(header + 56, sum.data(), sum.size());

  const std::string path = PathFor(key);
  std::string tmp = absl::StrCat(path, ".tmp.XXXXXX");
  const int fd = mkstemp(tmp.data());
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot write to cache directory ", dir_));
  auto write_all = [fd](const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      const ssize_t w = write(fd, c, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      c += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  const bool ok = write_all(header, sizeof(header)) && write_all(image.data(), image.size()) &&
                  fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot store cache entry ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CubinCache::GetOrBuild(
    const Sha256::Digest& key, const std::function<absl::StatusOr<std::string>()>& build,
    CacheOutcome* outcome) const {
  CacheOutcome how = CacheOutcome::kDisabled;
  if (enabled()) {
    absl::StatusOr<std::string> hit = Lookup(key);
    if (hit.ok()) {
      if (outcome != nullptr) *outcome = CacheOutcome::kHit;
      return hit;
    }
    how = absl::IsDataLoss(hit.status()) ? CacheOutcome::kRebuilt : CacheOutcome::kMiss;
  }
  absl::StatusOr<std::string> image = build();
  if (!image.ok()) return image;
  if (enabled()) Store(key, *image).IgnoreError();  // a read-only cache still compiles
  if (outcome != nullptr) *outcome = how;
  return image;
}

}  // namespace ghostnv::runtime
