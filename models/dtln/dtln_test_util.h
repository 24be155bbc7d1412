// models/dtln/dtln_test_util.h — a small random DTLN for the DTLN tests (CPU family, GPU plan
// host test, backend adapter test); not part of the library.
//
//   testing::OwnedModel om = dtln::testing::SmallDtln(/*seed=*/1, /*scale=*/0.3f);
//   auto family = models::CreateFamily(om.model);
//
// The real topology (257 bins, 512-sample frames, 128 hop, both stages) with odd LSTM and
// feature sizes (kSmallU1 = 7, kSmallU2 = 9, kSmallFeat = 13), random weights in ±scale.
#pragma once

#include <cstdint>
#include <string>

#include "models/test_util.h"

namespace ghostnv::models::dtln::testing {

inline constexpr int kSmallU1 = 7, kSmallU2 = 9, kSmallFeat = 13;

inline models::testing::OwnedModel SmallDtln(
    uint32_t seed, float scale, const std::string& metadata = R"({"dtln":{"norm_epsilon":0.001}})") {
  using models::testing::LayerShape;
  constexpr int kBinsN = 257, kFrameN = 512, kHopN = 128;
  constexpr int u1 = kSmallU1, u2 = kSmallU2, feat = kSmallFeat;
  const auto D = LayerKind::kDense;
  const auto I = kernels::Activation::kIdentity, S = kernels::Activation::kSigmoid;
  models::testing::OwnedModel om = models::testing::MakeModel(
      {LayerShape{"stage1.lstm0", D, kBinsN + u1, 4 * u1, I, true, false, false},
       LayerShape{"stage1.lstm1", D, 2 * u1, 4 * u1, I, true, false, false},
       LayerShape{"stage1.mask", D, u1, kBinsN, S, true, false, false},
       LayerShape{"stage2.encoder", D, kFrameN, feat, I, false, false, false},
       LayerShape{"stage2.norm", D, 1, feat, I, true, false, false},
       LayerShape{"stage2.lstm0", D, feat + u2, 4 * u2, I, true, false, false},
       LayerShape{"stage2.lstm1", D, 2 * u2, 4 * u2, I, true, false, false},
       LayerShape{"stage2.mask", D, u2, feat, S, true, false, false},
       LayerShape{"stage2.decoder", D, feat, kFrameN, I, false, false, false}},
      seed, scale);
  Model& m = *om.model;
  m.family = "dtln";
  m.name = "small-dtln";
  m.sample_rate = 16000;
  m.frame_size = kFrameN;
  m.hop_size = kHopN;
  m.algorithmic_latency = kFrameN - kHopN;
  m.metadata_json = metadata;
  return om;
}

}  // namespace ghostnv::models::dtln::testing
