#include "audio/framer.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace ghostnv::audio {
namespace {

TEST(Framer, ArbitraryBlocksBecomeHopsInOrder) {
  for (int hop : {1, 7, 113, 480}) {
    Framer f(hop, hop + 3000);
    std::mt19937 rng(hop);
    std::vector<float> pushed, popped, block, h(hop);
    float next = 0;
    for (int iter = 0; iter < 200; ++iter) {
      block.resize(std::uniform_int_distribution<int>(0, 2048)(rng));
      for (float& v : block) v = next++;
      size_t taken = f.Push(block.data(), block.size());
      pushed.insert(pushed.end(), block.begin(), block.begin() + taken);
      next -= static_cast<float>(block.size() - taken);
      while (f.PopHop(h.data())) popped.insert(popped.end(), h.begin(), h.end());
      ASSERT_LT(f.size(), static_cast<size_t>(hop));
    }
    ASSERT_EQ(popped.size() + f.size(), pushed.size());
    for (size_t i = 0; i < popped.size(); ++i) ASSERT_EQ(popped[i], pushed[i]) << "hop " << hop;
  }
}

TEST(Framer, FullBufferRefusesExtra) {
  Framer f(4, 10);
  std::vector<float> x(25, 1.f);
  EXPECT_EQ(f.Push(x.data(), x.size()), 10u);
  EXPECT_EQ(f.Push(x.data(), 1), 0u);
  float h[4];
  EXPECT_TRUE(f.PopHop(h));
  EXPECT_TRUE(f.PopHop(h));
  EXPECT_FALSE(f.PopHop(h));
  f.Clear();
  EXPECT_EQ(f.size(), 0u);
}

}  // namespace
}  // namespace ghostnv::audio
