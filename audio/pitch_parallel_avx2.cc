// audio/pitch_parallel_avx2.cc — pitch_parallel_impl.h built with -mavx2 -mfma (called by
// pitch_parallel.cc only where the CPU has both).
#define GHOSTNV_PITCH_PARALLEL_NS parallel_avx2
#include "audio/pitch_parallel_impl.h"
