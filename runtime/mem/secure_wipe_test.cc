// Tests for SecureWipe: odd sizes, offsets, null/empty, containers.
#include "runtime/mem/secure_wipe.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <vector>

namespace ghostnv::mem {
namespace {

TEST(SecureWipe, ZeroesExactlyTheRangeAtOddSizesAndOffsets) {
  std::mt19937 rng(7);
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{113}, size_t{513}, size_t{4099}}) {
    for (size_t off : {size_t{0}, size_t{1}, size_t{3}}) {
      std::vector<unsigned char> buf(n + off + 9);
      for (auto& b : buf) b = static_cast<unsigned char>(1 + rng() % 255);  // never 0
      const std::vector<unsigned char> before = buf;
      SecureWipe(buf.data() + off, n);
      for (size_t i = 0; i < buf.size(); ++i) {
        const bool inside = i >= off && i < off + n;
        ASSERT_EQ(buf[i], inside ? 0 : before[i]) << "n=" << n << " off=" << off << " i=" << i;
      }
    }
  }
}

TEST(SecureWipe, NullAndEmptyAreNoOps) {
  SecureWipe(nullptr, 0);
  SecureWipe(nullptr, 16);  // null pointer: nothing to do, no crash
  std::vector<float> empty;
  SecureWipe(empty);
  SUCCEED();
}

TEST(SecureWipe, Containers) {
  std::vector<float> v(481, 0.25f);
  SecureWipe(v);
  for (float f : v) ASSERT_EQ(f, 0.0f);
  std::array<int16_t, 7> a{1, 2, 3, 4, 5, 6, 7};
  SecureWipe(a);
  for (int16_t s : a) ASSERT_EQ(s, 0);
}

}  // namespace
}  // namespace ghostnv::mem
