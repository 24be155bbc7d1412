// audio/pitch_parallel.cc — see pitch_parallel.h. The portable build of pitch_parallel_impl.h
// and the dispatch to the AVX2/FMA build (the same bits, faster) where the CPU has it.
#include "audio/pitch_parallel.h"

#include "kernels/cpu.h"

#define GHOSTNV_PITCH_PARALLEL_NS parallel_generic
#include "audio/pitch_parallel_impl.h"

namespace ghostnv::audio::pitch {
void HighpassParallel(const float* in, float* out, float* mem, bool on) {
  if (kernels::CpuHasAvx2Fma()) return parallel_avx2::HighpassParallel(in, out, mem, on);
  return parallel_generic::HighpassParallel(in, out, mem, on);
}

ParallelPitch AnalyseParallel(const float* buf, int last_period, float last_gain) {
  if (kernels::CpuHasAvx2Fma()) return parallel_avx2::AnalyseParallel(buf, last_period, last_gain);
  return parallel_generic::AnalyseParallel(buf, last_period, last_gain);
}

}  // namespace ghostnv::audio::pitch
