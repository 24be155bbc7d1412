// GPU test (label gpu) of Dfn3CudaPlan on the converted published DeepFilterNet3 and real noisy
// speech (48 kHz). Skips with "no GPU: " without a device, and without the test data
// ($GHOSTNV_DFN3_CUDA_DATA: dfn3.gnvm + noisy48k.f32, see make_test_data.py / the ctest fixture
// dfn3_cuda_data).
//   - Per network, per hop and row, states carried on both sides (no teacher forcing): the CPU
//     networks (Networks::Run*) fed with the features the GPU computed; every output of the
//     encoder (e0..e3, c0, emb, lsnr), the ERB decoder (gains) and the DF decoder (coefs, alpha)
//     within 1e-4 relative L2 error of the GPU's (lsnr, one value in dB: relative to
//     max(|lsnr|, 1 dB)).
//   - Whole pipeline: the GPU output vs the CPU family's ProcessHop, SNR of the difference
//     >= 60 dB per row; 3 rows (three mixtures, strengths 1, 1, 0.7), 300 hops.
//   - Batch 1: graph replay (two concurrent branches) = direct launches = a one-stream graph,
//     bit for bit; ResetRow = a fresh session.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "models/cuda_test_util.h"
#include "models/dfn3/cuda/dfn3_cuda_plan.h"
#include "models/dfn3/dfn3_family.h"
#include "models/family.h"
#include "models/model_loader.h"

namespace ghostnv::models::dfn3 {
namespace {

using models::testing::CudaTestData;

// The converted model and noisy speech ($GHOSTNV_DFN3_CUDA_DATA), loaded once.
const CudaTestData& TestData() {
  static const CudaTestData* d = new CudaTestData(models::testing::LoadCudaTestData(
      "GHOSTNV_DFN3_CUDA_DATA", "DFN3", "dfn3.gnvm", {"noisy48k.f32"}));
  return *d;
}

#define DATA_OR_SKIP() \
  if (!TestData().skip.empty()) GTEST_SKIP() << TestData().skip
// Creates `plan`, or skips without a GPU (models/cuda_test_util.h).
#define PLAN_OR_SKIP(plan, opts) \
  GHOSTNV_PLAN_OR_SKIP(plan, Dfn3CudaPlan::Create(TestData().model, opts))

double RelErr(const float* gpu, const float* cpu, int n) {
  double num = 0, den = 0;
  for (int i = 0; i < n; ++i) {
    const double d = static_cast<double>(gpu[i]) - cpu[i];
    num += d * d;
    den += static_cast<double>(cpu[i]) * cpu[i];
  }
  return std::sqrt(num / std::max(den, 1e-12 * n));
}

// lsnr is a single value in dB that crosses 0: its error relative to max(|lsnr|, 1 dB).
double LsnrErr(float gpu, float cpu) {
  return std::abs(static_cast<double>(gpu) - cpu) / std::max(std::abs(static_cast<double>(cpu)), 1.0);
}

TEST(Dfn3CudaPlan, NetworksAndPipelineMatchCpuOnRealSpeech) {
  DATA_OR_SKIP();
  constexpr int kRows = 3, kHops = 300;
  Dfn3CudaPlanOptions o;
  o.batch = kRows;
  PLAN_OR_SKIP(plan, o);
  std::printf("device: %s\n", plan->device_description().c_str());
  const std::vector<float>& noisy = TestData().noisy[0];
  const size_t per = noisy.size() / kRows;
  ASSERT_GE(per, static_cast<size_t>(kHops) * kHop);
  absl::StatusOr<Networks> net = BuildNetworks(*TestData().model);
  ASSERT_TRUE(net.ok()) << net.status();
  absl::StatusOr<std::unique_ptr<Family>> fam = CreateFamily(TestData().model);
  ASSERT_TRUE(fam.ok()) << fam.status();
  const Dfn3Layout& L = plan->layout();
  const float strength[kRows] = {1.f, 1.f, 0.7f};
  std::vector<std::unique_ptr<ChannelState>> ch;
  std::vector<Networks::State> st;
  std::vector<Networks::Work> wk;
  for (int r = 0; r < kRows; ++r) {
    ch.push_back((*fam)->NewChannel());
    st.push_back(net->NewState());
    wk.push_back(net->NewWork());
  }
  struct Worst {
    const char* what;
    double err = 0;
  };
  Worst worst[] = {{"e0"}, {"e1"}, {"e2"}, {"e3"}, {"c0"}, {"emb"}, {"lsnr"}, {"gains"},
                   {"coefs"}, {"alpha"}};
  double sig[kRows] = {}, err[kRows] = {};
  std::vector<float> arena, out(kHop);
  for (int hop = 0; hop < kHops; ++hop) {
    float* in = plan->input_rows();
    for (int r = 0; r < kRows; ++r) {
      const float* x = noisy.data() + static_cast<size_t>(r) * per + static_cast<size_t>(hop) * kHop;
      std::copy(x, x + kHop, in + static_cast<size_t>(r) * kCudaIo);
      in[static_cast<size_t>(r) * kCudaIo + kHop] = strength[r];
    }
    ASSERT_EQ(plan->Submit(), cu::kSuccess);
    ASSERT_EQ(plan->Wait(), cu::kSuccess);
    for (int r = 0; r < kRows; ++r) {
      const float* x = noisy.data() + static_cast<size_t>(r) * per + static_cast<size_t>(hop) * kHop;
      (*fam)->ProcessHop(*ch[static_cast<size_t>(r)], x, out.data(), strength[r]);
      const float* g = plan->output_rows() + static_cast<size_t>(r) * kCudaIo;
      for (int i = 0; i < kHop; ++i) {
        const double c = out[static_cast<size_t>(i)];
        sig[r] += c * c;
        err[r] += (g[i] - c) * (g[i] - c);
      }
      if (hop < net->lookahead) continue;
      ASSERT_TRUE(plan->ReadArena(r, 0, L.stride, &arena).ok());
      const float* a = arena.data();
      std::vector<float> e0(kErb * kCh), e1(16 * kCh), e2(8 * kCh), e3(8 * kCh), c0(kDf * kCh),
          emb(kEmb), misc(4), m(kErb), coefs(kDf * 10);
      Networks::EncOut eo{e0.data(), e1.data(), e2.data(), e3.data(), c0.data(), emb.data(),
                          misc.data()};
      Networks::State& s = st[static_cast<size_t>(r)];
      Networks::Work& w = wk[static_cast<size_t>(r)];
      net->RunEncoder(a + L.feat_erb(), a + L.feat_spec(), s, w, eo);
      net->RunErbDecoder(emb.data(), e3.data(), e2.data(), e1.data(), e0.data(), s, w, m.data());
      net->RunDfDecoder(emb.data(), c0.data(), s, w, coefs.data(), misc.data() + 1);
      const double errs[] = {RelErr(a + L.e0, e0.data(), kErb * kCh),
                             RelErr(a + L.e1, e1.data(), 16 * kCh),
                             RelErr(a + L.e2, e2.data(), 8 * kCh),
                             RelErr(a + L.e3, e3.data(), 8 * kCh),
                             RelErr(a + L.c0, c0.data(), kDf * kCh),
                             RelErr(a + L.emb, emb.data(), kEmb),
                             LsnrErr(a[L.misc], misc[0]),
                             RelErr(a + L.m, m.data(), kErb),
                             RelErr(a + L.coefs, coefs.data(), kDf * 10),
                             RelErr(a + L.misc + 1, misc.data() + 1, 1)};
      for (size_t i = 0; i < std::size(errs); ++i) {
        worst[i].err = std::max(worst[i].err, errs[i]);
        EXPECT_LT(errs[i], 1e-4) << worst[i].what << " row " << r << " hop " << hop;
      }
    }
  }
  std::printf("per network, worst relative L2 error per hop (GPU vs CPU networks, %d rows x %d hops):\n",
              kRows, kHops);
  for (const Worst& w : worst) std::printf("  %-6s %.2e\n", w.what, w.err);
  for (int r = 0; r < kRows; ++r) {
    const double snr = 10.0 * std::log10(sig[r] / std::max(err[r], 1e-30));
    std::printf("row %d (strength %.1f): output SNR of the difference to the CPU family %.1f dB\n",
                r, strength[r], snr);
    EXPECT_GE(snr, 60.0) << "row " << r;
  }
}

TEST(Dfn3CudaPlan, GraphEqualsDirectLaunchesAndChainAndResetIsAFreshSession) {
  DATA_OR_SKIP();
  Dfn3CudaPlanOptions o;
  PLAN_OR_SKIP(graph, o);
  o.use_graph = false;
  PLAN_OR_SKIP(direct, o);
  o.use_graph = true;
  o.concurrent_branches = false;
  PLAN_OR_SKIP(chain, o);
  const std::vector<float>& noisy = TestData().noisy[0];
  constexpr int kHops = 60;
  auto run = [&](Dfn3CudaPlan& p, size_t offset) {
    std::vector<float> y;
    for (int hop = 0; hop < kHops; ++hop) {
      const float* x = noisy.data() + offset + static_cast<size_t>(hop) * kHop;
      std::copy(x, x + kHop, p.input_rows());
      p.input_rows()[kHop] = 1.f;
      EXPECT_EQ(p.Submit(), cu::kSuccess);
      EXPECT_EQ(p.Wait(), cu::kSuccess);
      y.insert(y.end(), p.output_rows(), p.output_rows() + kHop);
    }
    return y;
  };
  const std::vector<float> a = run(*graph, 0), b = run(*direct, 0), d = run(*chain, 0);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, d);  // the forked graph computes exactly what the one-stream chain does
  // After a reset the graph plan starts over: same output as at the start.
  ASSERT_TRUE(graph->ResetRow(0).ok());
  const std::vector<float> c = run(*graph, 0);
  EXPECT_EQ(a, c);
}

}  // namespace
}  // namespace ghostnv::models::dfn3
