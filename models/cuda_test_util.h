// models/cuda_test_util.h — helpers shared by the models' GPU plan tests (models/*/cuda/*_test.cc;
// not part of the library): the converted model and noisy speech that a ctest fixture wrote to
// a folder named by an environment variable, and plan creation that skips without a GPU.
//
//   const CudaTestData d = LoadCudaTestData("GHOSTNV_DTLN_CUDA_DATA", "DTLN", "dtln.gnvm",
//                                           {"noisy_0.f32", "noisy_1.f32"});
//   if (!d.skip.empty()) GTEST_SKIP() << d.skip;            // no data: the test skips
//   GHOSTNV_PLAN_OR_SKIP(plan, DtlnCudaPlan::Create(d.model, opts));   // no GPU: skips
//
// Skip messages: "no <what> test data: ..." (the variable is unset, or the model does not
// load), "no <file> in <dir>" (an audio file is missing), "no GPU: ..." (the plan's Create
// returned Unavailable: no driver or device). Any other Create error is a test failure.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/ir.h"
#include "models/model_loader.h"

namespace ghostnv::models::testing {

// Reads a raw float32 file (native byte order, no header) into *out; false when it cannot be
// opened.
inline bool ReadF32File(const std::string& path, std::vector<float>* out) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return false;
  const std::streamsize bytes = f.tellg();
  f.seekg(0);
  out->assign(static_cast<size_t>(bytes) / sizeof(float), 0.f);
  f.read(reinterpret_cast<char*>(out->data()),
         static_cast<std::streamsize>(out->size() * sizeof(float)));
  return true;
}

struct CudaTestData {
  std::string skip;  // why the tests must skip; empty when everything loaded
  std::shared_ptr<const Model> model;
  std::vector<std::vector<float>> noisy;  // the audio files, in the order asked for
};

// Loads <$env>/<model_file> and <$env>/<audio file> for each of audio_files. `what` names the
// data in the skip messages ("DTLN"). Stops at the first thing missing, with skip set.
inline CudaTestData LoadCudaTestData(const char* env, const std::string& what,
                                     const std::string& model_file,
                                     const std::vector<std::string>& audio_files) {
  CudaTestData data;
  const char* dir = std::getenv(env);
  if (dir == nullptr) {
    data.skip = "no " + what + " test data: " + env + " is not set (its ctest fixture fills it)";
    return data;
  }
  const std::string base(dir);
  absl::StatusOr<std::shared_ptr<const Model>> m = LoadModel(base + "/" + model_file);
  if (!m.ok()) {
    data.skip = "no " + what + " test data in " + base + " (" + model_file +
                "; needs ../shared/data, make_test_data.py): " + std::string(m.status().message());
    return data;
  }
  data.model = *std::move(m);
  for (const std::string& name : audio_files) {
    std::vector<float> v;
    if (!ReadF32File(base + "/" + name, &v)) {
      data.skip = "no " + name + " in " + base;
      return data;
    }
    data.noisy.push_back(std::move(v));
  }
  return data;
}

// A created plan, or nullptr with *skip = "no GPU: ..." when Create said Unavailable; any other
// error is a test failure (nullptr, skip left empty).
template <typename Plan>
std::unique_ptr<Plan> PlanOrSkip(absl::StatusOr<std::unique_ptr<Plan>> p, std::string* skip) {
  if (!p.ok()) {
    if (absl::IsUnavailable(p.status())) {
      *skip = "no GPU: " + std::string(p.status().message());
    } else {
      ADD_FAILURE() << p.status();
    }
    return nullptr;
  }
  return *std::move(p);
}

}  // namespace ghostnv::models::testing

// Declares `plan` (a std::unique_ptr to the plan) from a Create(...) expression, or skips the
// test without a GPU (fails it on any other error).
#define GHOSTNV_PLAN_OR_SKIP(plan, create)                                             \
  std::string plan##_skip;                                                             \
  auto plan = ::ghostnv::models::testing::PlanOrSkip((create), &plan##_skip);          \
  if (!plan##_skip.empty()) GTEST_SKIP() << plan##_skip;                               \
  ASSERT_NE(plan, nullptr)
