// GPU test (label gpu) of kernels/lstm.cu: the batched LSTM step built with NVRTC for the
// device's architecture, against LstmStep_ref (kernels/lstm.h) on the CPU, for every row
// variant (R = 1, 2, 4, 8), odd sizes, batches that do not fill the last block, strided rows,
// a null bias, and 20 steps with h and c carried on the device. Skips without a GPU/NVRTC.
//
// Tolerance: the kernel uses fmaf and the CUDA tanhf/expf-based activations; per step it must
// stay within 2e-5 absolute (|h| <= 1; c grows slowly) of the CPU reference fed with the GPU's own
// previous state.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/lstm.h"
#include "runtime/gpu_test_util.h"
#include "runtime/kernel_build.h"
#include "runtime/kernel_sources.h"
#include "runtime/module.h"

namespace ghostnv::runtime {
namespace {

using testing::GpuEnv;
using testing::Rng;

TEST(LstmGpuTest, MatchesCpuReference) {
  GPU_TEST_OR_SKIP(env);
  const KernelSource* src = FindKernelProgram("lstm.cu");
  ASSERT_NE(src, nullptr) << "lstm.cu is not embedded";
  const int arch = env->device->cc_major * 10 + env->device->cc_minor;
  absl::StatusOr<BuiltKernel> built =
      BuildKernelProgram(*src, arch, CubinCache(env->cache_dir.path()));
  ASSERT_TRUE(built.ok()) << built.status();
  absl::StatusOr<Module> mod = Module::Load(*env->ctx, built->image, "lstm.cu");
  ASSERT_TRUE(mod.ok()) << mod.status();

  struct Case {
    int inputs, units, batch, rows;
    bool bias;
  };
  const Case cases[] = {{257, 128, 3, 1, true}, {128, 128, 5, 2, true}, {7, 9, 13, 4, false},
                        {1, 113, 9, 8, true},   {0, 5, 4, 2, true},     {33, 40, 1, 8, true}};
  Rng rng(77);
  for (const Case& c : cases) {
    const std::string name = "lstm_step_f32_r" + std::to_string(c.rows);
    absl::StatusOr<Kernel> k = mod->GetKernel(name.c_str());
    ASSERT_TRUE(k.ok()) << k.status();
    const int n4 = 4 * c.units;
    const float scale = 1.5f / std::sqrt(static_cast<float>(c.inputs + c.units + 1));
    std::vector<float> w = rng.Uniform(static_cast<size_t>(c.inputs + c.units) * n4, -scale, scale);
    std::vector<float> b = rng.Uniform(n4, -0.5f, 0.5f);
    const int x_stride = c.inputs + 3, st_stride = c.units + 2;
    std::vector<float> h = rng.Uniform(static_cast<size_t>(c.batch) * st_stride, -1.f, 1.f);
    std::vector<float> cs = rng.Uniform(static_cast<size_t>(c.batch) * st_stride, -2.f, 2.f);
    DeviceBlock dw = env->Upload(w), db = env->Upload(b), dh = env->Upload(h),
                dc = env->Upload(cs);
    kernels::LstmParams p{.inputs = c.inputs, .units = c.units, .weights = w.data(),
                          .recurrent = w.data() + static_cast<size_t>(c.inputs) * n4,
                          .bias = c.bias ? b.data() : nullptr};
    std::vector<float> scratch(kernels::LstmScratchFloats(c.units));
    for (int step = 0; step < 20; ++step) {
      std::vector<float> x = rng.Uniform(static_cast<size_t>(c.batch) * x_stride + 1, -2.f, 2.f);
      DeviceBlock dx = env->Upload(x);
      cu::CUdeviceptr pw = dw.ptr(), prw = dw.ptr() + static_cast<size_t>(c.inputs) * n4 * 4,
                      pb = c.bias ? db.ptr() : 0, px = dx.ptr(), ph = dh.ptr(), pc = dc.ptr();
      int inputs = c.inputs, units = c.units, math = 0, xs = x_stride, ss = st_stride,
          batch = c.batch;
      void* args[] = {&pw, &prw, &pb, &inputs, &units, &math, &px, &xs, &ph, &pc, &ss, &batch};
      const unsigned grid = static_cast<unsigned>((c.batch + c.rows - 1) / c.rows);
      const unsigned smem =
          static_cast<unsigned>((c.inputs + 5 * c.units) * c.rows * sizeof(float));
      ASSERT_EQ(k->Launch({grid, 1, 1}, {128, 1, 1}, smem, *env->stream, args), cu::kSuccess);
      std::vector<float> gh = env->Download(dh, h.size()), gc = env->Download(dc, cs.size());
      for (int s = 0; s < c.batch; ++s) {
        std::vector<float> hh(h.begin() + s * st_stride, h.begin() + s * st_stride + c.units);
        std::vector<float> cc(cs.begin() + s * st_stride, cs.begin() + s * st_stride + c.units);
        kernels::LstmStep_ref(p, x.data() + s * x_stride, hh.data(), cc.data(), scratch.data());
        for (int u = 0; u < c.units; ++u) {
          ASSERT_NEAR(gh[s * st_stride + u], hh[u], 2e-5) << name << " step " << step;
          ASSERT_NEAR(gc[s * st_stride + u], cc[u], 2e-5 * (1 + std::fabs(cc[u])))
              << name << " step " << step;
        }
        // the padding between rows is untouched
        for (int u = c.units; u < st_stride; ++u) ASSERT_EQ(gh[s * st_stride + u], h[s * st_stride + u]);
      }
      h = gh;
      cs = gc;
    }
  }
}

}  // namespace
}  // namespace ghostnv::runtime
