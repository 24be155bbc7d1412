// models/dtln/cuda/dtln_cuda_test_data.h — the converted DTLN model and real noisy speech for
// the GPU tests (dtln_cuda_plan_test, dtln_backend_gpu_test); not part of the library.
//
//   const TestData& d = LoadTestData(/*files=*/4);   // once per process
//   if (!d.skip.empty()) GTEST_SKIP() << d.skip;
//
// $GHOSTNV_DTLN_CUDA_DATA names the folder the ctest fixture dtln_cuda_data fills
// (make_test_data.py: dtln.gnvm converted from ../shared/data, noisy_K.f32 raw 16 kHz float).
#pragma once

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "models/ir.h"
#include "models/model_loader.h"

namespace ghostnv::models::dtln::testing {

struct TestData {
  std::string skip;  // why the tests must skip; empty when the data loaded
  std::shared_ptr<const Model> model;
  std::vector<std::vector<float>> noisy;
};

// Loads dtln.gnvm and noisy_0.f32 .. noisy_<files-1>.f32 on the first call; later calls return
// the same data (the first call's `files` counts).
inline const TestData& LoadTestData(int files) {
  static const TestData* d = [files] {
    auto* data = new TestData();
    const char* dir = std::getenv("GHOSTNV_DTLN_CUDA_DATA");
    if (dir == nullptr) {
      data->skip = "no DTLN test data: GHOSTNV_DTLN_CUDA_DATA is not set (ctest fixture dtln_cuda_data)";
      return data;
    }
    const std::string base(dir);
    absl::StatusOr<std::shared_ptr<const Model>> m = LoadModel(base + "/dtln.gnvm");
    if (!m.ok()) {
      data->skip = "no DTLN test data in " + base + " (needs ../shared/data; make_test_data.py): " +
                   std::string(m.status().message());
      return data;
    }
    data->model = *m;
    for (int k = 0; k < files; ++k) {
      std::ifstream f(base + "/noisy_" + std::to_string(k) + ".f32", std::ios::binary | std::ios::ate);
      if (!f) {
        data->skip = "no noisy_" + std::to_string(k) + ".f32 in " + base;
        return data;
      }
      const std::streamsize bytes = f.tellg();
      f.seekg(0);
      std::vector<float> v(static_cast<size_t>(bytes) / 4);
      f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
      data->noisy.push_back(std::move(v));
    }
    return data;
  }();
  return *d;
}

}  // namespace ghostnv::models::dtln::testing
