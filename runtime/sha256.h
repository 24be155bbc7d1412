// runtime/sha256.h — SHA-256 (FIPS 180-4), for cache keys and integrity checks.
//
//   Sha256 h;
//   h.Update("source text");
//   h.Update(options);
//   Sha256::Digest d = h.Finish();          // 32 bytes
//   std::string hex = Sha256::Hex(d);       // 64 lower-case hex digits
//
// Used by the on-disk cubin cache (cubin_cache.h): not a security boundary against an attacker who
// can write the cache directory, but it makes accidental corruption and stale entries detectable.
// Setup path only. Not thread-safe per object.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ghostnv::runtime {

class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;

  Sha256();
  void Update(const void* data, size_t n);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Appends a length-prefixed field, so that ("ab","c") and ("a","bc") hash differently.
  void UpdateField(std::string_view s);
  Digest Finish();  // the object must not be used afterwards

  static Digest Of(std::string_view s);
  static std::string Hex(const Digest& d);

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace ghostnv::runtime
