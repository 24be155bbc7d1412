// CI-side tests for NVRTC and the kernel build (no GPU needed): every embedded kernel program
// compiles for sm_75, sm_86 and sm_90 without warnings and contains its kernels; the cache
// works with real compiler output; errors are clear. Skips with a message when NVRTC cannot be
// loaded (no CUDA toolkit).
#include "runtime/nvrtc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include "runtime/kernel_build.h"
#include "runtime/kernel_sources.h"
#include "runtime/test_tmpdir.h"

namespace ghostnv::runtime {
namespace {

const Nvrtc* GetNvrtcOrNull(std::string* why) {
  absl::StatusOr<const Nvrtc*> n = Nvrtc::Get();
  if (!n.ok()) {
    *why = std::string(n.status().message());
    return nullptr;
  }
  return *n;
}

#define NVRTC_OR_SKIP(var)                                                    \
  std::string why_##var;                                                      \
  const Nvrtc* var = GetNvrtcOrNull(&why_##var);                              \
  if (var == nullptr) GTEST_SKIP() << "NVRTC not available: " << why_##var

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The __global__ entry points each program must define (what runtime/gpu_ops.cc looks up).
const std::set<std::string>& ExpectedKernels(const std::string& program) {
  static const std::map<std::string, std::set<std::string>> k = {
      {"activations.cu", {"activate_f32"}},
      {"dense.cu", {"dense_f32_r1", "dense_f32_r2", "dense_f32_r4", "dense_f32_r8", "dense_f32_r16"}},
      {"gru.cu", {"gru_step_f32_r1", "gru_step_f32_r2", "gru_step_f32_r4", "gru_step_f32_r8", "gru_step_f32_r16", "gru_gates_split_f32", "gru_update_split_f32"}},
      {"xcorr.cu", {"pitch_xcorr_f32"}},
      {"bands.cu", {"band_sums_f32", "interp_band_gains_f32"}},
      {"overlap_add.cu", {"frame_analysis_f32", "overlap_add_f32"}},
      {"fft.cu", {"rfft_forward_f32", "rfft_inverse_f32"}},
      {"lstm.cu", {"lstm_step_f32_r1", "lstm_step_f32_r2", "lstm_step_f32_r4", "lstm_step_f32_r8"}},
      {"rnnoise_pitch.cu", {"rnn_frontend_f32", "rnn_frontend_s16", "rnn_frontend_f32_r3", "rnn_frontend_s16_r3", "rnn_frontend_hp", "rnn_highpass_f32", "rnn_highpass_s16", "rnn_frontend_lp_f32",
        "rnn_frontend_lp_s16", "rnn_frontend_lp_hp", "rnn_lpc_lanes", "rnn_frontend_tail", "rnn_frontend_relaxed_f32",
        "rnn_frontend_relaxed_s16", "rnn_frontend_relaxed_hp"}},
      {"ultra_persistent.cu", {"ultra_persistent_f32", "ultra_hop_f32"}},
      {"demucs.cu", {"demucs_input_f32", "demucs_upsample2_f32", "demucs_downsample2_f32", "demucs_dense_sk_f32", "demucs_dense_f32_t4", "demucs_dense_f32_t16", "demucs_lstm_cell_f32", "demucs_dec_ola_f32", "demucs_lstm_state_f32", "demucs_out_history_f32", "demucs_finish_f32", "demucs_skip_delay_f32"}},
      {"dfn3.cu", {"dfn3_input_f32", "dfn3_dft_f32", "dfn3_features_f32", "dfn3_conv_f32", "dfn3_convt_f32", "dfn3_gemv_f32", "dfn3_gru_f32", "dfn3_c0_push_f32", "dfn3_convp_f32", "dfn3_convp_pw_f32", "dfn3_filter_f32", "dfn3_idft_f32", "dfn3_output_f32"}},
      {"dtln.cu", {"dtln_frame_f32", "dtln_magnitude_f32", "dtln_apply_mask_f32", "dtln_layer_norm_f32", "dtln_mul_f32", "dtln_ola_f32", "dtln_lstm_split_f32"}},
      {"network_tc.cu", {"rnn_network_f16_t1", "rnn_network_f16_t2", "rnn_network_f16_g2w8_t1", "rnn_network_f16_gw8_t1_b2", "rnn_network_f16_gw8_t1_b4", "rnn_network_f16_gw16_t2_b2", "rnn_network_f16x3_gw8_t1_b2", "rnn_network_f16x3_gw8_t1_b4", "rnn_network_f16x3_gw16_t2_b1", "gnv_probe_copy", "gnv_probe_fma", "gnv_probe_mma"}},
      {"rnnoise_features.cu", {"rnn_features_f32", "rnn_copy_cols_f32", "rnn_postprocess_f32", "rnn_synthesis_f32", "rnn_synthesis_s16", "rnn_spec_features_f32", "rnn_spec_features_f32_o10", "rnn_spec_features_f32_o10p", "rnn_post_synthesis_f32", "rnn_post_synthesis_s16", "rnn_post_synthesis_f32_o10", "rnn_post_synthesis_s16_o10", "rnn_post_synthesis_f32_o10p", "rnn_post_synthesis_s16_o10p"}},
  };
  static const std::set<std::string> none;
  auto it = k.find(program);
  return it == k.end() ? none : it->second;
}

TEST(KernelSources, EveryKernelsCuFileIsEmbedded) {
  const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
  if (src == nullptr) GTEST_SKIP() << "GHOSTNV_SOURCE_DIR not set";
  std::set<std::string> on_disk, embedded;
  for (const auto& e : std::filesystem::directory_iterator(std::string(src) + "/kernels")) {
    const std::string ext = e.path().extension().string();
    if (ext == ".cu" || ext == ".cuh") on_disk.insert(e.path().filename().string());
  }
  for (const KernelSource& k : KernelPrograms()) embedded.insert(std::string(k.name));
  for (const KernelSource& k : KernelHeaders()) embedded.insert(std::string(k.name));
  EXPECT_EQ(on_disk, embedded);
  for (const KernelSource& k : KernelPrograms()) {
    EXPECT_FALSE(ExpectedKernels(std::string(k.name)).empty())
        << k.name << " has no entry in ExpectedKernels (add its kernels to this test)";
  }
  ASSERT_NE(FindKernelProgram("gru.cu"), nullptr);
  EXPECT_TRUE(Contains(std::string(FindKernelProgram("gru.cu")->text), "gru_step_f32"));
}

TEST(Nvrtc, ReportsVersionAndArchitectures) {
  NVRTC_OR_SKIP(nvrtc);
  EXPECT_GE(nvrtc->major(), 11);
  EXPECT_FALSE(nvrtc->supported_archs().empty());
  std::cout << "NVRTC " << nvrtc->VersionString() << " from " << nvrtc->library() << "\n";
}

// The CI architectures: Turing, Ampere (consumer), Hopper.
class EveryProgram : public ::testing::TestWithParam<int> {};

TEST_P(EveryProgram, CompilesToCubinWithoutWarnings) {
  NVRTC_OR_SKIP(nvrtc);
  const int arch = GetParam();
  const auto& archs = nvrtc->supported_archs();
  if (std::find(archs.begin(), archs.end(), arch) == archs.end())
    GTEST_SKIP() << "NVRTC " << nvrtc->VersionString() << " cannot target sm_" << arch;
  const CubinCache no_cache("");
  ASSERT_FALSE(KernelPrograms().empty());
  for (const KernelSource& prog : KernelPrograms()) {
    SCOPED_TRACE(std::string(prog.name) + " sm_" + std::to_string(arch));
    std::vector<NvrtcHeader> headers;
    for (const KernelSource& h : KernelHeaders()) headers.push_back({h.name, h.text});
    absl::StatusOr<NvrtcOutput> out =
        nvrtc->Compile(prog.text, prog.name, headers, KernelCompileOptions(), arch);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(out->is_cubin);
    EXPECT_EQ(out->arch, arch);
    ASSERT_GE(out->image.size(), 4u);
    EXPECT_EQ(out->image.substr(0, 4), std::string("\x7f" "ELF", 4));
    EXPECT_FALSE(Contains(out->log, "warning")) << out->log;
    for (const std::string& k : ExpectedKernels(std::string(prog.name)))
      EXPECT_TRUE(Contains(out->image, k)) << "kernel " << k << " missing from the cubin";
  }
}

INSTANTIATE_TEST_SUITE_P(Arch, EveryProgram, ::testing::Values(75, 86, 90),
                         [](const ::testing::TestParamInfo<int>& i) {
                           return "sm_" + std::to_string(i.param);
                         });

TEST(Nvrtc, CompileErrorCarriesTheLog) {
  NVRTC_OR_SKIP(nvrtc);
  absl::StatusOr<NvrtcOutput> out =
      nvrtc->Compile("extern \"C\" __global__ void k() { undefined_name(); }", "broken.cu", {},
                     KernelCompileOptions(), 90);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(out.status()));
  const std::string msg(out.status().message());
  EXPECT_PRED2(Contains, msg, "broken.cu");
  EXPECT_PRED2(Contains, msg, "undefined_name");
}

TEST(Nvrtc, ArchitectureOutsideTheRange) {
  NVRTC_OR_SKIP(nvrtc);
  const std::string src = "extern \"C\" __global__ void k(float* x) { x[0] = 1.f; }";
  absl::StatusOr<NvrtcOutput> old = nvrtc->Compile(src, "k.cu", {}, {}, 20);
  EXPECT_TRUE(absl::IsInvalidArgument(old.status())) << old.status();
  // Newer than this NVRTC knows: PTX for its newest architecture (the driver compiles it).
  const int newest = nvrtc->supported_archs().back();
  absl::StatusOr<NvrtcOutput> future = nvrtc->Compile(src, "k.cu", {}, {}, newest + 1);
  ASSERT_TRUE(future.ok()) << future.status();
  EXPECT_FALSE(future->is_cubin);
  EXPECT_EQ(future->arch, newest);
  EXPECT_PRED2(Contains, future->image, ".entry k");
  EXPECT_EQ(future->image.back(), '\0');
}

TEST(KernelBuild, CacheKeyCoversArchOptionsAndSource) {
  NVRTC_OR_SKIP(nvrtc);
  const KernelSource& gru = *FindKernelProgram("gru.cu");
  const KernelSource& dense = *FindKernelProgram("dense.cu");
  const auto& opts = KernelCompileOptions();
  const Sha256::Digest k = KernelCacheKey(*nvrtc, gru, 90, opts);
  EXPECT_EQ(k, KernelCacheKey(*nvrtc, gru, 90, opts));
  EXPECT_NE(k, KernelCacheKey(*nvrtc, gru, 86, opts));
  EXPECT_NE(k, KernelCacheKey(*nvrtc, dense, 90, opts));
  std::vector<std::string> more = opts;
  more.push_back("-lineinfo");
  EXPECT_NE(k, KernelCacheKey(*nvrtc, gru, 90, more));
  KernelSource edited{gru.name, "// edited\n"};
  EXPECT_NE(k, KernelCacheKey(*nvrtc, edited, 90, opts));
}

TEST(KernelBuild, MissHitAndCorruptEntryRebuilt) {
  NVRTC_OR_SKIP(nvrtc);
  testing::TempDir tmp;
  CubinCache cache(tmp.path());
  const KernelSource& prog = *FindKernelProgram("activations.cu");
  absl::StatusOr<BuiltKernel> a = BuildKernelProgram(*nvrtc, prog, 86, cache, KernelCompileOptions());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->cache, CacheOutcome::kMiss);
  EXPECT_TRUE(a->is_cubin);
  absl::StatusOr<BuiltKernel> b = BuildKernelProgram(*nvrtc, prog, 86, cache, KernelCompileOptions());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->cache, CacheOutcome::kHit);
  EXPECT_EQ(a->image, b->image);
  std::cout << "activations.cu for sm_86: compile " << a->milliseconds << " ms, cache hit "
            << b->milliseconds << " ms\n";
  // Damage the entry in the middle of the cubin: rebuilt, and the same code comes back.
  const std::string path = cache.PathFor(KernelCacheKey(*nvrtc, prog, 86, KernelCompileOptions()));
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x55');
  }
  absl::StatusOr<BuiltKernel> c = BuildKernelProgram(*nvrtc, prog, 86, cache, KernelCompileOptions());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->cache, CacheOutcome::kRebuilt);
  EXPECT_EQ(c->image, a->image);
}

}  // namespace
}  // namespace ghostnv::runtime
