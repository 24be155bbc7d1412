// models/dtln/cuda/dtln_cuda_test_data.h — the converted DTLN model and real noisy speech for
// the GPU tests (dtln_cuda_plan_test, dtln_backend_gpu_test); not part of the library.
//
//   const TestData& d = LoadTestData(/*files=*/4);   // once per process
//   if (!d.skip.empty()) GTEST_SKIP() << d.skip;
//
// $GHOSTNV_DTLN_CUDA_DATA names the folder the ctest fixture dtln_cuda_data fills
// (make_test_data.py: dtln.gnvm converted from ../shared/data, noisy_K.f32 raw 16 kHz float).
// The loading itself is models/cuda_test_util.h's, shared with the other families' GPU tests.
#pragma once

#include <string>
#include <vector>

#include "models/cuda_test_util.h"

namespace ghostnv::models::dtln::testing {

using TestData = models::testing::CudaTestData;

// Loads dtln.gnvm and noisy_0.f32 .. noisy_<files-1>.f32 on the first call; later calls return
// the same data (the first call's `files` counts).
inline const TestData& LoadTestData(int files) {
  static const TestData* d = [files] {
    std::vector<std::string> names;
    for (int k = 0; k < files; ++k) names.push_back("noisy_" + std::to_string(k) + ".f32");
    return new TestData(
        models::testing::LoadCudaTestData("GHOSTNV_DTLN_CUDA_DATA", "DTLN", "dtln.gnvm", names));
  }();
  return *d;
}

}  // namespace ghostnv::models::dtln::testing
