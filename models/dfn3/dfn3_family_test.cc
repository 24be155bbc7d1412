// models/dfn3/dfn3_family_test.cc — DeepFilterNet3 family: ERB bands, layer checks, and the
// real-time loop on a random-weight model (finite output, latency of the dry path, reset), and
// the SIMD networks (split GRUs) against the scalar reference on the same random weights.
// The networks' numerics are checked against onnxruntime in tools/convert/tests/dfn3_*.py.

#include "models/dfn3/dfn3_family.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu.h"
#include "models/dfn3/dfn3_test_model.h"
#include "nlohmann/json.hpp"

// Counts every operator new of the process (ProcessHop must not allocate).
static std::atomic<long> g_news{0};
void* operator new(size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
void* operator new[](size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
namespace {
__attribute__((noinline)) void Release(void* p) { std::free(p); }
}  // namespace
void operator delete(void* p) noexcept { Release(p); }
void operator delete[](void* p) noexcept { Release(p); }
void operator delete(void* p, size_t) noexcept { Release(p); }
void operator delete[](void* p, size_t) noexcept { Release(p); }

namespace ghostnv::models::dfn3 {
namespace {

TEST(Dfn3, ErbBandWidthsCoverTheSpectrum) {
  const std::vector<int> w = ErbBandWidths(48000, 960, 32, 2);
  ASSERT_EQ(w.size(), 32u);
  int sum = 0;
  for (int v : w) {
    EXPECT_GE(v, 2);
    sum += v;
  }
  EXPECT_EQ(sum, 481);
  // Bands widen with frequency on the ERB scale.
  EXPECT_LT(w[5], w[31]);
  for (int bands : {1, 7, 24}) {
    int s = 0;
    for (int v : ErbBandWidths(48000, 960, bands, 1)) s += v;
    EXPECT_EQ(s, 481) << bands;
  }
}

// A dfn3 model with random weights (scaled so that activations stay moderate), optionally
// without one layer (dfn3_test_model.h).
std::shared_ptr<Model> RandomModel(const std::string& drop = "") {
  return testing::RandomDfn3Model(7, drop);
}

TEST(Dfn3, RejectsMissingLayerAndWrongRate) {
  auto m = RandomModel("erb.gru1");
  absl::StatusOr<Networks> n = BuildNetworks(*m);
  ASSERT_FALSE(n.ok());
  EXPECT_NE(std::string(n.status().message()).find("erb.gru1"), std::string::npos);
  auto m2 = RandomModel();
  m2->sample_rate = 16000;
  EXPECT_FALSE(BuildNetworks(*m2).ok());
  auto m3 = RandomModel();
  m3->metadata_json = "{}";
  EXPECT_FALSE(BuildNetworks(*m3).ok());
}

TEST(Dfn3, RealTimeLoopOnRandomWeights) {
  absl::StatusOr<std::unique_ptr<Family>> fam = CreateDfn3Family(RandomModel());
  ASSERT_TRUE(fam.ok()) << fam.status();
  EXPECT_TRUE((*fam)->computes_vad());  // HopInfo::vad from the network's local SNR
  EXPECT_EQ((*fam)->algorithmic_latency(), 1440);
  auto ch = (*fam)->NewChannel();
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.f, 0.1f);
  const int hops = 23;
  std::vector<float> in(static_cast<size_t>(hops) * kHop), out(in.size()), dry(in.size());
  for (float& v : in) v = g(rng);
  double energy = 0;
  const long news_before = g_news.load();
  for (int h = 0; h < hops; ++h) {
    (*fam)->ProcessHop(*ch, &in[static_cast<size_t>(h) * kHop], &out[static_cast<size_t>(h) * kHop], 1.f);
  }
  EXPECT_EQ(g_news.load(), news_before) << "ProcessHop allocated";
  for (float v : out) {
    ASSERT_TRUE(std::isfinite(v));
    energy += v * v;
  }
  EXPECT_GT(energy, 0.0);
  // Strength 0: the input delayed by exactly the latency.
  ch->Reset();
  for (int h = 0; h < hops; ++h)
    (*fam)->ProcessHop(*ch, &in[static_cast<size_t>(h) * kHop], &dry[static_cast<size_t>(h) * kHop], 0.f);
  for (size_t i = 0; i < in.size(); ++i)
    ASSERT_EQ(dry[i], i < 1440 ? 0.f : in[i - 1440]) << i;
  // Reset makes the channel start over: same output again.
  ch->Reset();
  std::vector<float> again(in.size());
  for (int h = 0; h < hops; ++h)
    (*fam)->ProcessHop(*ch, &in[static_cast<size_t>(h) * kHop], &again[static_cast<size_t>(h) * kHop], 1.f);
  EXPECT_EQ(again, out);
}

// The networks on the SIMD paths (GRUs as kernels::GruSplit: recurrent halves one hop ahead,
// look-aheads fused into the next GRU, ReLU-zero input rows skipped) against the scalar
// reference (GruStep_ref, Dense_ref, ...), frame by frame over 30 frames of random features
// with the states carried: rounding-level differences only. A second state run through
// ResetState must repeat the first run exactly.
TEST(Dfn3, SimdNetworksMatchScalarReference) {
  if (kernels::ActiveSimd() != kernels::SimdLevel::kAvx2) GTEST_SKIP() << "no SIMD path";
  auto model = RandomModel();
  kernels::ForceScalar(true);
  absl::StatusOr<Networks> ref = BuildNetworks(*model);
  kernels::ForceScalar(false);
  absl::StatusOr<Networks> simd = BuildNetworks(*model);
  ASSERT_TRUE(ref.ok() && simd.ok());
  EXPECT_EQ(ref->split, nullptr);
  ASSERT_NE(simd->split, nullptr);
  Networks::State rs = ref->NewState(), ss = simd->NewState(), again = simd->NewState();
  Networks::Work rw = ref->NewWork(), sw = simd->NewWork();
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0.f, 1.f);
  struct Out {
    std::vector<float> e0 = std::vector<float>(kErb * kCh), e1 = std::vector<float>(16 * kCh),
                       e2 = std::vector<float>(8 * kCh), e3 = std::vector<float>(8 * kCh),
                       c0 = std::vector<float>(kDf * kCh), emb = std::vector<float>(kEmb),
                       m = std::vector<float>(kErb), coefs = std::vector<float>(kDf * 2 * kOrder);
    float lsnr = 0.f, alpha = 0.f;
    void Run(const Networks& n, const float* erb, const float* spec, Networks::State& s,
             Networks::Work& w) {
      Networks::EncOut o{e0.data(), e1.data(), e2.data(), e3.data(), c0.data(), emb.data(),
                         &lsnr};
      n.RunEncoder(erb, spec, s, w, o);
      n.RunErbDecoder(emb.data(), e3.data(), e2.data(), e1.data(), e0.data(), s, w, m.data());
      n.RunDfDecoder(emb.data(), c0.data(), s, w, coefs.data(), &alpha);
    }
  };
  Out ro, so;
  std::vector<Out> first;
  for (int pass = 0; pass < 2; ++pass) {
    Networks::State& st = pass == 0 ? ss : again;
    std::mt19937 frames(5);
    for (int t = 0; t < 30; ++t) {
      std::vector<float> erb(kErb), spec(2 * kDf);
      for (float& v : erb) v = 0.5f * g(frames);
      for (float& v : spec) v = 0.5f * g(frames);
      so.Run(*simd, erb.data(), spec.data(), st, sw);
      if (pass == 1) {
        ASSERT_EQ(so.coefs, first[static_cast<size_t>(t)].coefs) << "frame " << t;
        ASSERT_EQ(so.m, first[static_cast<size_t>(t)].m) << "frame " << t;
        continue;
      }
      first.push_back(so);
      kernels::ForceScalar(true);
      ro.Run(*ref, erb.data(), spec.data(), rs, rw);
      kernels::ForceScalar(false);
      auto near = [&](const std::vector<float>& a, const std::vector<float>& b, const char* what) {
        for (size_t i = 0; i < a.size(); ++i)
          ASSERT_NEAR(a[i], b[i], 1e-4f * (1.f + std::fabs(b[i]))) << what << " frame " << t
                                                                   << " index " << i;
      };
      near(so.emb, ro.emb, "emb");
      near(so.m, ro.m, "m");
      near(so.coefs, ro.coefs, "coefs");
      ASSERT_NEAR(so.alpha, ro.alpha, 1e-4f);
    }
    simd->ResetState(again);
  }
}

}  // namespace
}  // namespace ghostnv::models::dfn3
