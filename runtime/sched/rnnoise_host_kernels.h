// runtime/sched/rnnoise_host_kernels.h — test-only: the batched RNNoise kernels
// (kernels/rnnoise_pitch.cu, kernels/rnnoise_features.cu) compiled as C++ for host threads
// (cuda_host_shim.h), and the default model's layer parameters as the host tests use them.
// One copy of the shim include block and the model setup for the host tests of the plan's
// kernels (cuda_plan_fused_host_test.cc, rnnoise_kernels_host_test.cc, ...).
//
//   #include "runtime/sched/rnnoise_host_kernels.h"   // LAST include of the test file
//   RnnoiseHostModel hm;
//   if (absl::Status st = LoadRnnoiseHostModel(&hm); !st.ok()) GTEST_SKIP() << st;  // or ASSERT
//   ... rnn_spec_features_f32 / rnn_post_synthesis_f32 / hm.fam->ProcessHop ...
//
// Include it after every other header: the shim's macros (threadIdx, __shared__, ...) must not
// reach them.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/dense.h"
#include "kernels/gru.h"
#include "models/family.h"
#include "models/ir.h"
#include "models/model_loader.h"

// The shim last (its macros), then the kernels.
#include "runtime/sched/cuda_host_shim.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpedantic"
#include "kernels/rnnoise_pitch.cu"
#include "kernels/rnnoise_features.cu"
#pragma GCC diagnostic pop

namespace ghostnv::sched {

// The default model (models/weights/default.gnvm), its CPU family and the network's layer
// parameters with the row widths of the plan's buffers (net_a / net_b / net_c rows A / B / C
// floats, slot state rows S floats; rnnoise_layout.cuh).
struct RnnoiseHostModel {
  std::shared_ptr<const models::Model> model;
  std::unique_ptr<models::Family> fam;
  kernels::DenseParams in_d, vad_d, out_d;
  kernels::GruParams vg, ng, dg;
  int u0 = 0, u1 = 0, u2 = 0, u3 = 0;
  int A = 0, B = 0, C = 0, S = 0;
};

// FailedPrecondition when GHOSTNV_SOURCE_DIR is not set (the caller skips), else the loader's
// and CreateFamily's errors.
inline absl::Status LoadRnnoiseHostModel(RnnoiseHostModel* out) {
  const char* src = std::getenv("GHOSTNV_SOURCE_DIR");
  if (src == nullptr) return absl::FailedPreconditionError("GHOSTNV_SOURCE_DIR not set");
  absl::StatusOr<std::shared_ptr<const models::Model>> model =
      models::LoadModel(std::string(src) + "/models/weights/default.gnvm");
  if (!model.ok()) return model.status();
  absl::StatusOr<std::unique_ptr<models::Family>> fam = models::CreateFamily(*model);
  if (!fam.ok()) return fam.status();
  RnnoiseHostModel& h = *out;
  h.model = *model;
  h.fam = *std::move(fam);
  const models::Model& m = *h.model;
  h.in_d = DenseParamsOf(*m.FindLayer("input_dense"), m.math);
  h.vad_d = DenseParamsOf(*m.FindLayer("vad_output"), m.math);
  h.out_d = DenseParamsOf(*m.FindLayer("denoise_output"), m.math);
  h.vg = GruParamsOf(*m.FindLayer("vad_gru"), m.math);
  h.ng = GruParamsOf(*m.FindLayer("noise_gru"), m.math);
  h.dg = GruParamsOf(*m.FindLayer("denoise_gru"), m.math);
  h.u0 = h.in_d.units;
  h.u1 = h.vg.units;
  h.u2 = h.ng.units;
  h.u3 = h.dg.units;
  h.A = h.u0 + h.u1 + RNN_FEATURES + 1;
  h.B = h.u1 + h.u2 + RNN_FEATURES + 3;
  h.C = h.u3 + 1;
  h.S = RNN_ST_GRU + h.u1 + h.u2 + h.u3;
  return absl::OkStatus();
}

}  // namespace ghostnv::sched
