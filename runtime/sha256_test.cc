// Tests for runtime/sha256.h against the FIPS 180-4 / NIST example vectors, and streaming in
// pieces of every size against one-shot hashing.
#include "runtime/sha256.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace ghostnv::runtime {
namespace {

TEST(Sha256, NistVectors) {
  EXPECT_EQ(Sha256::Hex(Sha256::Of("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256::Hex(Sha256::Of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256::Hex(Sha256::Of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256::Hex(Sha256::Of(std::string(1000000, 'a'))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, StreamingMatchesOneShot) {
  std::mt19937 gen(7);
  std::string data(1000, '\0');
  for (char& c : data) c = static_cast<char>(gen());
  for (size_t len : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 119u, 120u, 513u, 1000u}) {
    const std::string s = data.substr(0, len);
    const Sha256::Digest want = Sha256::Of(s);
    for (size_t piece : {1u, 3u, 63u, 64u, 100u}) {
      Sha256 h;
      for (size_t i = 0; i < s.size(); i += piece) h.Update(std::string_view(s).substr(i, piece));
      EXPECT_EQ(h.Finish(), want) << "len " << len << " piece " << piece;
    }
  }
}

TEST(Sha256, FieldsAreLengthPrefixed) {
  Sha256 a, b;
  a.UpdateField("ab");
  a.UpdateField("c");
  b.UpdateField("a");
  b.UpdateField("bc");
  EXPECT_NE(a.Finish(), b.Finish());
}

}  // namespace
}  // namespace ghostnv::runtime
