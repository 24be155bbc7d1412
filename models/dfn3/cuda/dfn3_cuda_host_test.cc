// CPU-side test (label unit, no GPU) of kernels/dfn3.cu: the CUDA source compiled as C++ and run
// on host threads (runtime/sched/cuda_host_shim.h) through the very launch sequence the GPU plan
// captures (EnqueueDfn3Hop, dfn3_cuda_hop.h), on a DeepFilterNet3 with random weights, 2 rows
// with different signals and strengths (row 1 sits one hop out: run flag 0), against
// models/dfn3's ProcessHop (whole output) and Networks::Run* fed with the kernels' features
// (every network output, states carried); and the same hops with each fork's side branch run
// before its main branch give the same output bit for bit, and the two branches of a fork write
// disjoint arena floats (no dependency and no shared scratch between branches that run
// concurrently on the GPU).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <utility>
#include <cstdint>
#include <memory>
#include <random>
#include <type_traits>
#include <vector>

#include "runtime/sched/cuda_host_shim.h"
#include "kernels/dfn3.cu"

#include "models/dfn3/cuda/dfn3_cuda_hop.h"
#include "models/dfn3/dfn3_family.h"
#include "models/dfn3/dfn3_test_model.h"
#include "models/family.h"

namespace ghostnv::models::dfn3 {
namespace {

template <class Fn, class... A>
void CallIf(Fn fn, A... a) {
  if constexpr (std::is_invocable_v<Fn, A...>) {
    fn(a...);
  } else {
    std::abort();
  }
}

struct HostExec {
  using F = float*;
  using I = int*;
  using D = double*;
  std::vector<float> arena, weights, pcm_in, pcm_out;
  std::vector<int> hops, ints;
  std::vector<double> twd;

  F Arena() { return arena.data(); }
  F Wt(long off) { return off < 0 ? nullptr : weights.data() + off; }
  F PcmIn() { return pcm_in.data(); }
  F PcmOut() { return pcm_out.data(); }
  I Hops() { return hops.data(); }
  I BandStart() { return ints.data(); }
  I BandOf() { return ints.data() + 33; }
  D Twd() { return twd.data(); }
  F At(F base, long floats) { return base + floats; }
  unsigned Grid(long long, int) { return 1; }  // kernels loop; one block keeps threads few
  unsigned RowGrid(int rows) { return static_cast<unsigned>(std::min(rows, 2)); }
  template <class... A>
  void Go(Dfn3Kernel k, unsigned grid, unsigned block, A... a) {
    const int g = static_cast<int>(grid), b = static_cast<int>(block);
    std::function<void()> job;
    switch (k) {
      case Dfn3Kernel::kInput: job = [=] { cuda_host::LaunchGrid(g, b, [&] { CallIf(dfn3_input_f32, a...); }); }; break;
      case Dfn3Kernel::kDft: job = [=] { cuda_host::LaunchGrid(g, b, [&] { CallIf(dfn3_dft_f32, a...); }); }; break;
      case Dfn3Kernel::kFeatures: job = [=] { cuda_host::LaunchGrid(g, b, [&] { CallIf(dfn3_features_f32, a...); }); }; break;
      case Dfn3Kernel::kConv: job = [=] { cuda_host::LaunchGrid(g, b, [&] { CallIf(dfn3_conv_f32, a...); }); }; break;
      case Dfn3Kernel::kConvT: job = [=] { cuda_host::LaunchGrid(g, b, [&] { CallIf(dfn3_convt_f32, a...); }); }; break;
      case Dfn3Kernel::kGemv: job = [=] { cuda_host::LaunchGrid(g, b, [&] { CallIf(dfn3_gemv_f32, a...); }); }; break;
      case Dfn3Kernel::kGru: job = [=] { cuda_host::LaunchGrid(g, b, [&] { CallIf(dfn3_gru_f32, a...); }); }; break;
      case Dfn3Kernel::kC0Push: job = [=] { cuda_host::LaunchGrid(g, b, [&] { CallIf(dfn3_c0_push_f32, a...); }); }; break;
      case Dfn3Kernel::kConvp: job = [=] { cuda_host::LaunchGrid(g, b, [&] { CallIf(dfn3_convp_f32, a...); }); }; break;
      case Dfn3Kernel::kConvpPw: job = [=] { cuda_host::LaunchGrid(g, b, [&] { CallIf(dfn3_convp_pw_f32, a...); }); }; break;
      case Dfn3Kernel::kFilter: job = [=] { cuda_host::LaunchGrid(g, b, [&] { CallIf(dfn3_filter_f32, a...); }); }; break;
      case Dfn3Kernel::kIdft: job = [=] { cuda_host::LaunchGrid(g, b, [&] { CallIf(dfn3_idft_f32, a...); }); }; break;
      case Dfn3Kernel::kOutput: job = [=] { cuda_host::LaunchGrid(g, b, [&] { CallIf(dfn3_output_f32, a...); }); }; break;
      case Dfn3Kernel::kCount: std::abort();
    }
    if (!in_fork) {
      job();
    } else {
      (side ? side_jobs : main_jobs).push_back(std::move(job));
    }
  }
  // Branches run one after the other, main first or (side_first) side first: a dependency
  // between the branches would make the two orders differ.
  void Fork(int) {
    in_fork = true;
    side = false;
  }
  void Side(bool s) { side = s; }
  void Join(int) {
    std::vector<std::function<void()>>* order[2] = {&main_jobs, &side_jobs};
    if (side_first) std::swap(order[0], order[1]);
    // The arena floats each branch changes (a snapshot diff around every launch): the two
    // branches must write disjoint floats (shared scratch would race on the GPU).
    std::vector<uint8_t> wrote[2];
    std::vector<float> before;
    for (int b = 0; b < 2; ++b) {
      wrote[b].assign(arena.size(), 0);
      for (std::function<void()>& j : *order[b]) {
        before = arena;
        j();
        for (size_t i = 0; i < arena.size(); ++i)
          if (std::memcmp(&before[i], &arena[i], sizeof(float)) != 0) wrote[b][i] = 1;
      }
    }
    for (size_t i = 0; i < arena.size(); ++i)
      if (wrote[0][i] && wrote[1][i]) {
        ADD_FAILURE() << "both branches of a fork write arena float " << i;
        break;
      }
    main_jobs.clear();
    side_jobs.clear();
    in_fork = false;
  }
  bool in_fork = false, side = false, side_first = false;
  std::vector<std::function<void()>> main_jobs, side_jobs;
};

double RelErr(const float* a, const float* b, int n) {
  double num = 0, den = 0;
  for (int i = 0; i < n; ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

TEST(Dfn3CudaHost, HopSequenceMatchesCpuFamily) {
  std::shared_ptr<Model> model = testing::RandomDfn3Model(11);
  absl::StatusOr<Networks> net = BuildNetworks(*model);
  ASSERT_TRUE(net.ok()) << net.status();
  absl::StatusOr<Dfn3Pack> pack = PackDfn3(*net);
  ASSERT_TRUE(pack.ok()) << pack.status();
  const Dfn3Layout L = MakeDfn3Layout(pack->la);
  constexpr int kRows = 2, kHops = 9;
  HostExec x;
  x.arena.assign(static_cast<size_t>(kRows) * L.stride, 0.f);
  for (int r = 0; r < kRows; ++r) {
    float* nr = x.arena.data() + static_cast<size_t>(r) * L.stride + L.norm;
    for (int i = 0; i < kErb; ++i) nr[i] = -60.f + (-30.f) * static_cast<float>(i) / (kErb - 1);
    for (int i = 0; i < kDf; ++i)
      nr[kErb + i] = 0.001f + (0.0001f - 0.001f) * static_cast<float>(i) / (kDf - 1);
  }
  x.weights = pack->floats;
  x.twd = pack->twd;
  x.ints.assign(pack->ints.begin(), pack->ints.end());
  x.hops.assign(kRows, 0);
  x.pcm_in.assign(static_cast<size_t>(kRows) * kCudaIo, 0.f);
  x.pcm_out.assign(static_cast<size_t>(kRows) * kCudaIo, 0.f);

  HostExec x2 = x;  // the same hops with the side branches first
  x2.side_first = true;
  absl::StatusOr<std::unique_ptr<Family>> fam = CreateFamily(model);
  ASSERT_TRUE(fam.ok()) << fam.status();
  std::vector<std::unique_ptr<ChannelState>> ch;
  std::vector<Networks::State> st;
  std::vector<Networks::Work> wk;
  for (int r = 0; r < kRows; ++r) {
    ch.push_back((*fam)->NewChannel());
    st.push_back(net->NewState());
    wk.push_back(net->NewWork());
  }
  const float strength[kRows] = {1.f, 0.6f};
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.f, 0.05f);
  double sig = 0, err = 0, worst_net = 0;
  long t = 0;
  for (int hop = 0; hop < kHops; ++hop) {
    std::vector<float> in(static_cast<size_t>(kRows) * kHop);
    for (int r = 0; r < kRows; ++r) {
      for (int i = 0; i < kHop; ++i, ++t) {
        const float v = 0.3f * std::sin(0.013f * static_cast<float>(t) * (r + 1)) + nd(rng);
        in[static_cast<size_t>(r) * kHop + i] = v;
        x.pcm_in[static_cast<size_t>(r) * kCudaIo + i] = v;
      }
      x.pcm_in[static_cast<size_t>(r) * kCudaIo + kHop] = strength[r];
      x.pcm_in[static_cast<size_t>(r) * kCudaIo + kHop + 1] = (r == 1 && hop == 4) ? 0.f : 1.f;
    }
    x2.pcm_in = x.pcm_in;
    EnqueueDfn3Hop(x, *pack, L, kRows);
    EnqueueDfn3Hop(x2, *pack, L, kRows);
    ASSERT_EQ(x.pcm_out, x2.pcm_out) << "hop " << hop << ": the branch order changes the output";
    for (int r = 0; r < kRows; ++r) {
      if (r == 1 && hop == 4) {  // row 1 sits this hop out: zeros, state untouched
        const float* g = x.pcm_out.data() + static_cast<size_t>(r) * kCudaIo;
        for (int i = 0; i <= kHop; ++i) ASSERT_EQ(g[i], 0.f) << i;
        continue;
      }
      std::vector<float> out(kHop);
      (*fam)->ProcessHop(*ch[static_cast<size_t>(r)], in.data() + static_cast<size_t>(r) * kHop,
                         out.data(), strength[r]);
      const float* g = x.pcm_out.data() + static_cast<size_t>(r) * kCudaIo;
      for (int i = 0; i < kHop; ++i) {
        sig += static_cast<double>(out[static_cast<size_t>(i)]) * out[static_cast<size_t>(i)];
        err += (static_cast<double>(g[i]) - out[static_cast<size_t>(i)]) *
               (static_cast<double>(g[i]) - out[static_cast<size_t>(i)]);
      }
      if (hop < pack->la) continue;
      // Per network: the CPU networks fed with the kernels' features, states carried.
      const float* a = x.arena.data() + static_cast<size_t>(r) * L.stride;
      std::vector<float> e0(kErb * kCh), e1(16 * kCh), e2(8 * kCh), e3(8 * kCh), c0(kDf * kCh),
          emb(kEmb), misc(4), m(kErb), coefs(kDf * 10);
      Networks::EncOut eo{e0.data(), e1.data(), e2.data(), e3.data(), c0.data(), emb.data(),
                          misc.data()};
      net->RunEncoder(a + L.feat_erb(), a + L.feat_spec(), st[static_cast<size_t>(r)],
                      wk[static_cast<size_t>(r)], eo);
      net->RunErbDecoder(emb.data(), e3.data(), e2.data(), e1.data(), e0.data(),
                         st[static_cast<size_t>(r)], wk[static_cast<size_t>(r)], m.data());
      net->RunDfDecoder(emb.data(), c0.data(), st[static_cast<size_t>(r)],
                        wk[static_cast<size_t>(r)], coefs.data(), misc.data() + 1);
      struct Cmp {
        const char* what;
        int off;
        const std::vector<float>* cpu;
        int n;
      };
      for (Cmp c : {Cmp{"e0", L.e0, &e0, kErb * kCh}, Cmp{"e1", L.e1, &e1, 16 * kCh},
                    Cmp{"e2", L.e2, &e2, 8 * kCh}, Cmp{"e3", L.e3, &e3, 8 * kCh},
                    Cmp{"c0", L.c0, &c0, kDf * kCh}, Cmp{"emb", L.emb, &emb, kEmb},
                    Cmp{"lsnr+alpha", L.misc, &misc, 2}, Cmp{"gains", L.m, &m, kErb},
                    Cmp{"coefs", L.coefs, &coefs, kDf * 10}}) {
        const double e = RelErr(a + c.off, c.cpu->data(), c.n);
        worst_net = std::max(worst_net, e);
        EXPECT_LT(e, 1e-5) << c.what << " row " << r << " hop " << hop;
      }
    }
  }
  const double snr = 10.0 * std::log10(sig / std::max(err, 1e-30));
  std::printf("host hop sequence: output SNR of the difference %.1f dB, worst network rel. error %.2e\n",
              snr, worst_net);
  EXPECT_GT(snr, 90.0);
}

}  // namespace
}  // namespace ghostnv::models::dfn3
