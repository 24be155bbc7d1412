// runtime/sched/persistent/ultra_kernel_host_test.cc — kernels/ultra_persistent.cu's hop kernel
// (ultra_hop_f32, the code the persistent kernel runs too) compiled as C++ and run as one block of
// 256 host threads (runtime/sched/cuda_host_shim.h), against the CPU ultra family: two slots
// interleaved, a zeroed slot, strengths 1 / 0.5, both GRU conventions and math modes. No GPU
// needed (label unit), so every CI run checks the kernel's indexing and arithmetic.
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/activations.h"
#include "kernels/ultra_layout.cuh"
#include "models/family.h"
#include "models/ir.h"
#include "models/test_util.h"
#include "models/ultra/ultra_family.h"
#include "runtime/sched/cuda_host_shim.h"
#include "runtime/sched/persistent/ultra_plan.h"

// What cuda_host_shim.h does not have and the hop kernel uses.
inline int __float_as_int(float f) {
  int i;
  std::memcpy(&i, &f, sizeof(i));
  return i;
}
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof(f));
  return f;
}
inline long long clock64() { return 0; }  // stage timestamps (diagnostics only)
// A warp shuffle for a block in which every thread calls it equally often (the band loop).
inline float __shfl_xor_sync(unsigned, float v, int lane_mask) {
  static float buf[ULTRA_THREADS];
  const unsigned t = threadIdx.x;
  buf[t] = v;
  __syncthreads();
  const float r = buf[t ^ static_cast<unsigned>(lane_mask)];
  __syncthreads();
  return r;
}

#define GHOSTNV_ULTRA_HOST_TEST 1
#include "kernels/ultra_persistent.cu"

namespace ghostnv::sched {
namespace {

namespace ultra = ::ghostnv::models::ultra;
using models::LayerKind;
using models::testing::MakeModel;
using models::testing::OwnedModel;
using A = kernels::Activation;

OwnedModel SmallUltra(uint32_t seed, bool reset_after, kernels::MathMode math) {
  const int dense = 24, g1 = 40, g2 = 33;
  OwnedModel om = MakeModel(
      {{"input_dense", LayerKind::kDense, ultra::kFeatures, dense, A::kTanh, true, false, false},
       {"gru1", LayerKind::kGru, dense, g1, A::kTanh, true, true, reset_after},
       {"gru2", LayerKind::kGru, g1 + dense, g2, A::kTanh, true, reset_after, reset_after},
       {"gain_output", LayerKind::kDense, g2, ultra::kBands, A::kSigmoid, true, false, false},
       {"vad_output", LayerKind::kDense, g1, 1, A::kSigmoid, false, false, false}},
      seed, 1.0f);
  models::Model& m = *om.model;
  m.family = "ultra";
  m.name = "host-test-ultra";
  m.sample_rate = ultra::kSampleRate;
  m.frame_size = ultra::kWindow;
  m.hop_size = ultra::kHop;
  m.algorithmic_latency = ultra::kLatency;
  m.math = math;
  for (models::Layer& l : m.layers) {
    float* w = const_cast<float*>(l.weights);
    const float s = 0.9f / std::sqrt(static_cast<float>(l.inputs)) * (l.name == "input_dense" ? 0.3f : 1.f);
    for (size_t i = 0; i < models::testing::WeightsCount(l); ++i) w[i] *= s;
    if (l.recurrent != nullptr) {
      float* r = const_cast<float*>(l.recurrent);
      for (size_t i = 0; i < models::testing::RecurrentCount(l); ++i) r[i] *= 0.9f / std::sqrt(float(l.units));
    }
  }
  return om;
}

unsigned long long Addr(const float* p) { return reinterpret_cast<unsigned long long>(p); }

struct HostNet {
  UltraNet net{};
  std::vector<float> tables, state;
};

HostNet MakeNet(const models::Model& m, int slots) {
  HostNet h;
  h.tables = UltraKernelTables();
  const char* names[5] = {"input_dense", "gru1", "gru2", "gain_output", "vad_output"};
  UltraLayer* dst[5] = {&h.net.dense_in, &h.net.gru1, &h.net.gru2, &h.net.gain, &h.net.vad};
  for (int j = 0; j < 5; ++j) {
    const models::Layer& l = *m.FindLayer(names[j]);
    UltraLayer& d = *dst[j];
    d.inputs = l.inputs;
    d.units = l.units;
    if (l.kind == LayerKind::kGru) {
      const kernels::GruParams g = models::GruParamsOf(l, m.math);
      d.w = Addr(g.weights);
      d.r = Addr(g.recurrent);
      d.b = Addr(g.bias);
      d.rb = Addr(g.recurrent_bias);
      d.act = static_cast<int>(g.activation);
      d.reset_after = g.reset_after ? 1 : 0;
    } else {
      const kernels::DenseParams p = models::DenseParamsOf(l, m.math);
      d.w = Addr(p.weights);
      d.b = Addr(p.bias);
      d.act = static_cast<int>(p.activation);
    }
  }
  h.net.state_stride = (ULTRA_ST_GRU + h.net.gru1.units + h.net.gru2.units + 31) / 32 * 32;
  h.state.assign(static_cast<size_t>(slots) * h.net.state_stride, 123.f);  // garbage until zeroed
  h.net.tables = Addr(h.tables.data());
  h.net.state = Addr(h.state.data());
  h.net.max_slots = slots;
  h.net.math = static_cast<int>(m.math);
  return h;
}

// One command through the kernel on 1024 host threads; returns the answer words.
std::vector<int> RunCommand(const HostNet& h, int cmd, int slot, float strength, const float* in) {
  std::vector<int> req(ULTRA_MB_REQ_WORDS, 0), ans(ULTRA_MB_WORDS - ULTRA_MB_DONE, -7);
  req[ULTRA_MB_REQ] = 5;
  req[ULTRA_MB_CMD] = cmd;
  req[ULTRA_MB_SLOT] = slot;
  req[ULTRA_MB_STRENGTH] = __float_as_int(strength);
  if (in != nullptr) std::memcpy(&req[ULTRA_MB_IN], in, ULTRA_HOP * sizeof(float));
  // 256 threads (the device launches 1024): every block-strided loop then takes several turns.
  cuda_host::Launch(256, [&] { ultra_hop_f32(&h.net, req.data(), ans.data()); });
  return ans;
}

double SnrDb(const std::vector<float>& ref, const std::vector<float>& got) {
  double e = 0, d = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    e += double(ref[i]) * ref[i];
    d += (double(ref[i]) - got[i]) * (double(ref[i]) - got[i]);
  }
  return d == 0 ? 300 : 10 * std::log10(e / d);
}

class HostKernel : public ::testing::TestWithParam<int> {};

TEST_P(HostKernel, MatchesTheCpuFamily) {
  const int variant = GetParam();
  std::memcpy(ghostnv_tansig_table, kernels::TansigTable(), sizeof(ghostnv_tansig_table));
  // Variants 0, 1: the fast FFT (ULTRA_NET_FAST_FFT, the default); 2, 3: the Stockham FFT.
  const int model = variant % 2;
  const bool fast = variant < 2;
  OwnedModel om = SmallUltra(40 + model, model == 0,
                             model == 0 ? kernels::MathMode::kExact : kernels::MathMode::kRnnoiseApprox);
  absl::StatusOr<std::unique_ptr<models::Family>> fam = ultra::CreateUltraFamily(om.model);
  ASSERT_TRUE(fam.ok()) << fam.status();
  HostNet h = MakeNet(*om.model, 3);
  h.net.flags = fast ? ULTRA_NET_FAST_FFT : 0;
  constexpr int kHops = 10;
  const int slots[2] = {2, 0};
  const float strengths[2] = {1.f, 0.5f};
  for (int slot : slots) {
    std::vector<int> a = RunCommand(h, ULTRA_CMD_ZERO, slot, 0.f, nullptr);
    EXPECT_EQ(a[0], 5);
    EXPECT_EQ(a[ULTRA_MB_STATUS - ULTRA_MB_DONE], 0);
  }
  std::mt19937 rng(variant);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (int s = 0; s < 2; ++s) {
    auto ch = (*fam)->NewChannel();
    std::vector<float> in(kHops * ULTRA_HOP), ref(in.size()), got(in.size());
    for (size_t i = 0; i < in.size(); ++i)
      in[i] = 0.3f * std::sin(0.013f * i * (s + 1)) + (i / 200 % 2 ? 0.2f : 0.002f) * nd(rng);
    for (int hop = 0; hop < kHops; ++hop) {
      const size_t off = static_cast<size_t>(hop) * ULTRA_HOP;
      const models::HopInfo info = (*fam)->ProcessHop(*ch, in.data() + off, ref.data() + off, strengths[s]);
      std::vector<int> a = RunCommand(h, ULTRA_CMD_HOP, slots[s], strengths[s], in.data() + off);
      ASSERT_EQ(a[ULTRA_MB_STATUS - ULTRA_MB_DONE], 0);
      std::memcpy(got.data() + off, &a[ULTRA_MB_OUT - ULTRA_MB_DONE], ULTRA_HOP * sizeof(float));
      EXPECT_NEAR(__int_as_float(a[ULTRA_MB_VAD - ULTRA_MB_DONE]), info.vad, 1e-5) << "hop " << hop;
    }
    const double snr = SnrDb(ref, got);
    std::cout << "variant " << variant << " slot " << slots[s] << ": SNR of the difference " << snr << " dB\n";
    EXPECT_GE(snr, 100.0);
  }
  // A bad slot is refused and touches nothing.
  std::vector<int> a = RunCommand(h, ULTRA_CMD_HOP, 3, 1.f, std::vector<float>(ULTRA_HOP, 1.f).data());
  EXPECT_EQ(a[ULTRA_MB_STATUS - ULTRA_MB_DONE], 1);
  // Slot 1 was never zeroed (still the 123.f garbage): zeroing it leaves zeros.
  RunCommand(h, ULTRA_CMD_ZERO, 1, 0.f, nullptr);
  for (int i = 0; i < h.net.state_stride; ++i) ASSERT_EQ(h.state[h.net.state_stride + i], 0.f);
}

INSTANTIATE_TEST_SUITE_P(Variants, HostKernel, ::testing::Values(0, 1, 2, 3));

}  // namespace
}  // namespace ghostnv::sched
