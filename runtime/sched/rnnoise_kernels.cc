// runtime/sched/rnnoise_kernels.cc — see rnnoise_kernels.h.
#include "runtime/sched/rnnoise_kernels.h"

#include <algorithm>
#include <cstdlib>
#include <future>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/kernel_build.h"
#include "runtime/kernel_sources.h"
#include "runtime/nvrtc.h"

namespace ghostnv::sched {

using cu::CUresult;
using runtime::Stream;

absl::StatusOr<RnnoiseKernels> RnnoiseKernels::Load(const runtime::Context& ctx,
                                                    const runtime::CubinCache& cache) {
  static constexpr const char* kPrograms[] = {"rnnoise_pitch.cu", "rnnoise_features.cu"};
  const int arch = ctx.device().Arch();
  // GHOSTNV_RNN_FRONTEND_BLOCKS=n (1..16, A/B runs): the frontend kernels built for n resident
  // blocks per SM (their __launch_bounds__, RNN_FRONTEND_BLOCKS_PER_SM) instead of the default.
  std::vector<std::string> pitch_options;
  if (const char* e = std::getenv("GHOSTNV_RNN_FRONTEND_BLOCKS"); e != nullptr) {
    const int n = std::atoi(e);
    if (n >= 1 && n <= 16) {
      pitch_options = runtime::KernelCompileOptions();
      pitch_options.push_back(absl::StrCat("-DRNN_FRONTEND_BLOCKS_PER_SM=", n));
    }
  }
  std::vector<std::future<absl::StatusOr<runtime::BuiltKernel>>> builds;
  for (const char* name : kPrograms) {
    const runtime::KernelSource* src = runtime::FindKernelProgram(name);
    if (src == nullptr) return absl::InternalError(absl::StrCat("kernel program ", name, " is not embedded"));
    const bool custom = !pitch_options.empty() && src == runtime::FindKernelProgram("rnnoise_pitch.cu");
    const auto build = [src, arch, &cache, custom, &pitch_options]() -> absl::StatusOr<runtime::BuiltKernel> {
      if (!custom) return runtime::BuildKernelProgram(*src, arch, cache);
      absl::StatusOr<const runtime::Nvrtc*> nvrtc = runtime::Nvrtc::Get();
      if (!nvrtc.ok()) return nvrtc.status();
      return runtime::BuildKernelProgram(**nvrtc, *src, arch, cache, pitch_options);
    };
    builds.push_back(std::async(std::launch::async, build));
  }
  std::vector<absl::StatusOr<runtime::BuiltKernel>> built;
  for (auto& f : builds) built.push_back(f.get());
  RnnoiseKernels k;
  for (size_t i = 0; i < built.size(); ++i) {
    if (!built[i].ok()) return built[i].status();
    absl::StatusOr<runtime::Module> m = runtime::Module::Load(ctx, built[i]->image, kPrograms[i]);
    if (!m.ok()) return m.status();
    k.modules_.push_back(*std::move(m));
  }
  struct {
    int module;
    const char* name;
    runtime::Kernel* out;
  } fns[] = {{0, "rnn_frontend_f32", &k.frontend_},
             {0, "rnn_frontend_s16", &k.frontend_s16_},
             {0, "rnn_frontend_relaxed_f32", &k.relaxed_},
             {0, "rnn_frontend_relaxed_s16", &k.relaxed_s16_},
             {1, "rnn_synthesis_s16", &k.synthesis_s16_},
             {1, "rnn_features_f32", &k.features_},
             {1, "rnn_copy_cols_f32", &k.copy_cols_},
             {1, "rnn_postprocess_f32", &k.postprocess_},
             {1, "rnn_synthesis_f32", &k.synthesis_}};
  for (auto& f : fns) {
    absl::StatusOr<runtime::Kernel> kern = k.modules_[f.module].GetKernel(f.name);
    if (!kern.ok()) return kern.status();
    *f.out = *kern;
  }
  k.grid_cap_ = std::max(1, ctx.device().multiprocessors) * 16;
  // GHOSTNV_RNN_FRONTEND_ROWS=3 (A/B runs): the frontend with three rows per block
  // (rnn_frontend_*_r3, 384 threads: its one-lane chains serve three rows per instruction).
  if (const char* e = std::getenv("GHOSTNV_RNN_FRONTEND_ROWS"); e != nullptr && e[0] == '3' && e[1] == '\0') {
    for (auto& f : {std::pair{"rnn_frontend_f32_r3", &k.frontend_},
                    std::pair{"rnn_frontend_s16_r3", &k.frontend_s16_}}) {
      absl::StatusOr<runtime::Kernel> kern = k.modules_[0].GetKernel(f.first);
      if (!kern.ok()) return kern.status();
      *f.second = *kern;
    }
    k.frontend_rows_ = 3;
  }
  return k;
}

namespace {
unsigned Grid(int rows, int cap) { return static_cast<unsigned>(std::max(1, std::min(rows, cap))); }
}  // namespace

CUresult RnnoiseKernels::Frontend(Ptr in, int in_stride, Ptr ctl, Ptr state, int state_stride,
                                  Ptr window, Ptr frames, int rows, int avx2, const Stream& s,
                                  bool pcm16, bool relaxed) const {
  if (rows <= 0) return cu::kSuccess;
  void* args[] = {&in, &in_stride, &ctl, &state, &state_stride, &window, &frames, &avx2};
  if (relaxed) return (pcm16 ? relaxed_s16_ : relaxed_).Launch({Grid(rows, grid_cap_)}, {128}, 0, s, args);
  const int r = frontend_rows_;  // rows per block (the kernel takes them r at a time)
  const unsigned threads = 128u * static_cast<unsigned>(r);
  return (pcm16 ? frontend_s16_ : frontend_)
      .Launch({Grid((rows + r - 1) / r, std::max(1, grid_cap_ / r))}, {threads}, 0, s, args);
}

CUresult RnnoiseKernels::Features(Ptr spec, Ptr ctl, Ptr state, int state_stride, Ptr dct,
                                  Ptr bands, Ptr net_a, int a_stride, Ptr net_b, int b_stride,
                                  Ptr net_c, int c_stride, int u0, int u1, int u2, int u3,
                                  int rows, const Stream& s) const {
  if (rows <= 0) return cu::kSuccess;
  void* args[] = {&spec,  &ctl,      &state, &state_stride, &dct, &bands, &net_a, &a_stride,
                  &net_b, &b_stride, &net_c, &c_stride,     &u0,  &u1,    &u2,    &u3};
  return features_.Launch({Grid(rows, grid_cap_)}, {128}, 0, s, args);
}

CUresult RnnoiseKernels::CopyCols(Ptr src, int src_stride, Ptr dst, int dst_stride, int cols,
                                  Ptr ctl, int rows, const Stream& s) const {
  if (rows <= 0 || cols <= 0) return cu::kSuccess;
  void* args[] = {&src, &src_stride, &dst, &dst_stride, &cols, &ctl};
  const long long n = static_cast<long long>(rows) * cols;
  return copy_cols_.Launch({static_cast<unsigned>((n + 255) / 256)}, {256}, 0, s, args);
}

CUresult RnnoiseKernels::Postprocess(Ptr spec, Ptr ctl, Ptr state, int state_stride, Ptr bands,
                                     Ptr gains, Ptr vad, Ptr net_a, int a_stride, Ptr net_b,
                                     int b_stride, Ptr net_c, int c_stride, int u0, int u1, int u2,
                                     int u3, Ptr info, int rows, const Stream& s) const {
  if (rows <= 0) return cu::kSuccess;
  void* args[] = {&spec,     &ctl,   &state,    &state_stride, &bands, &gains, &vad,
                  &net_a,    &a_stride, &net_b, &b_stride,     &net_c, &c_stride, &u0,
                  &u1,       &u2,    &u3,       &info};
  return postprocess_.Launch({Grid(rows, grid_cap_)}, {256}, 0, s, args);
}

CUresult RnnoiseKernels::Synthesis(Ptr y, int y_stride, Ptr in, int in_stride, Ptr ctl,
                                   Ptr strengths, Ptr state, int state_stride, Ptr window, Ptr out,
                                   int out_stride, int rows, const Stream& s, bool pcm16) const {
  if (rows <= 0) return cu::kSuccess;
  void* args[] = {&y, &y_stride, &in, &in_stride, &ctl, &strengths, &state, &state_stride,
                  &window, &out, &out_stride};
  return (pcm16 ? synthesis_s16_ : synthesis_).Launch({Grid(rows, grid_cap_)}, {256}, 0, s, args);
}

}  // namespace ghostnv::sched
