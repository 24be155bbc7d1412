// Tests for runtime/cubin_cache.h: round trip, and every kind of damaged or stale entry is
// rejected (DataLoss) and rebuilt by GetOrBuild — never returned. No GPU or NVRTC needed: the
// "compiler" here is a counting lambda.
#include "runtime/cubin_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "runtime/test_tmpdir.h"

namespace ghostnv::runtime {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

class CubinCacheTest : public ::testing::Test {
 protected:
  testing::TempDir tmp_;
  std::string dir_ = tmp_.path() + "/nested/cache";
  CubinCache cache_{dir_};
  Sha256::Digest key_ = Sha256::Of("program A for sm_90");
  std::string image_ = std::string("\x7f" "ELF", 4) + std::string(1000, 'k') + std::string(1, '\0');
  int builds_ = 0;

  absl::StatusOr<std::string> Get(CacheOutcome* how) {
    return cache_.GetOrBuild(key_, [&]() -> absl::StatusOr<std::string> {
      ++builds_;
      return image_;
    }, how);
  }
};

TEST_F(CubinCacheTest, MissThenHit) {
  ASSERT_FALSE(tmp_.path().empty());
  CacheOutcome how;
  absl::StatusOr<std::string> a = Get(&how);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(how, CacheOutcome::kMiss);
  EXPECT_EQ(*a, image_);
  EXPECT_TRUE(std::filesystem::exists(cache_.PathFor(key_)));
  absl::StatusOr<std::string> b = Get(&how);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(how, CacheOutcome::kHit);
  EXPECT_EQ(*b, image_);
  EXPECT_EQ(builds_, 1);
  // A different key is a different entry.
  EXPECT_TRUE(absl::IsNotFound(cache_.Lookup(Sha256::Of("program B")).status()));
}

TEST_F(CubinCacheTest, EveryCorruptionIsRejectedAndRebuilt) {
  ASSERT_TRUE(cache_.Store(key_, image_).ok());
  const std::string path = cache_.PathFor(key_);
  const std::string good = ReadAll(path);
  ASSERT_GT(good.size(), image_.size());
  const size_t header = good.size() - image_.size();

  struct Damage {
    const char* what;
    std::string bytes;
  };
  std::vector<Damage> damages;
  auto flip = [&](size_t at) {
    std::string d = good;
    d[at] = static_cast<char>(d[at] ^ 0x20);
    return d;
  };
  damages.push_back({"flipped payload byte", flip(header + 500)});
  damages.push_back({"flipped last byte", flip(good.size() - 1)});
  damages.push_back({"flipped magic", flip(0)});
  damages.push_back({"flipped format", flip(8)});
  damages.push_back({"flipped stored key", flip(20)});
  damages.push_back({"flipped stored size", flip(48)});
  damages.push_back({"flipped payload hash", flip(60)});
  damages.push_back({"truncated payload", good.substr(0, good.size() - 7)});
  damages.push_back({"truncated header", good.substr(0, header - 1)});
  damages.push_back({"empty file", ""});
  damages.push_back({"appended garbage", good + "xyz"});
  // An intact entry of another key copied under this key's name: stale, must not be used.
  {
    CubinCache other(tmp_.path() + "/other");
    const Sha256::Digest k2 = Sha256::Of("program A for sm_86");
    ASSERT_TRUE(other.Store(k2, "different image").ok());
    damages.push_back({"entry of another key", ReadAll(other.PathFor(k2))});
  }

  for (const Damage& d : damages) {
    SCOPED_TRACE(d.what);
    WriteAll(path, d.bytes);
    absl::StatusOr<std::string> lookup = cache_.Lookup(key_);
    EXPECT_TRUE(absl::IsDataLoss(lookup.status())) << lookup.status();
    const int before = builds_;
    CacheOutcome how;
    absl::StatusOr<std::string> img = Get(&how);
    ASSERT_TRUE(img.ok()) << img.status();
    EXPECT_EQ(how, CacheOutcome::kRebuilt);
    EXPECT_EQ(builds_, before + 1);
    EXPECT_EQ(*img, image_);
    // The rebuilt entry replaced the damaged one.
    EXPECT_EQ(ReadAll(path), good);
  }
}

TEST_F(CubinCacheTest, DisabledCacheAlwaysBuilds) {
  CubinCache off("");
  EXPECT_FALSE(off.enabled());
  CacheOutcome how;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::string> img = off.GetOrBuild(key_, [&]() -> absl::StatusOr<std::string> {
      ++builds_;
      return image_;
    }, &how);
    ASSERT_TRUE(img.ok());
    EXPECT_EQ(how, CacheOutcome::kDisabled);
  }
  EXPECT_EQ(builds_, 2);
}

TEST_F(CubinCacheTest, BuildErrorsPropagateAndAreNotStored) {
  CacheOutcome how;
  absl::StatusOr<std::string> img = cache_.GetOrBuild(
      key_, []() -> absl::StatusOr<std::string> { return absl::InvalidArgumentError("syntax error"); },
      &how);
  EXPECT_TRUE(absl::IsInvalidArgument(img.status()));
  EXPECT_FALSE(std::filesystem::exists(cache_.PathFor(key_)));
}

TEST_F(CubinCacheTest, UnwritableDirectoryStillBuilds) {
  WriteAll(tmp_.path() + "/file", "x");
  CubinCache bad(tmp_.path() + "/file/sub");  // a path through a regular file
  CacheOutcome how;
  absl::StatusOr<std::string> img = bad.GetOrBuild(key_, [&]() -> absl::StatusOr<std::string> {
    return image_;
  }, &how);
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(*img, image_);
  EXPECT_FALSE(bad.Store(key_, image_).ok());
}

// Sets an environment variable for the scope, restoring the old value (or its absence).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old, had_ = true;
    if (value != nullptr) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_, old_.c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(CubinCacheDir, DefaultDirFollowsEnvironment) {
  {
    ScopedEnv a("GHOSTNV_CACHE_DIR", "/tmp/ghostnv-x");
    EXPECT_EQ(CubinCache::DefaultDir(), "/tmp/ghostnv-x");
  }
  ScopedEnv a("GHOSTNV_CACHE_DIR", nullptr);
  {
    ScopedEnv b("XDG_CACHE_HOME", "/tmp/xdg");
    EXPECT_EQ(CubinCache::DefaultDir(), "/tmp/xdg/ghostnv/kernels");
  }
  ScopedEnv b("XDG_CACHE_HOME", nullptr);
  ScopedEnv c("HOME", "/home/someone");
  EXPECT_EQ(CubinCache::DefaultDir(), "/home/someone/.cache/ghostnv/kernels");
}

}  // namespace
}  // namespace ghostnv::runtime
