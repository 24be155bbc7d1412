// models/dtln/dtln_family.h — DTLN (Westhausen & Meyer 2020): 16 kHz, 512-sample frames, 128 hop.
//
// Per hop of 128 samples (the published real-time loop): the last 512 input samples (no
// window) → 512-point rFFT → stage 1 on the magnitude (LSTM 257→128, LSTM 128→128, dense
// sigmoid → 257 bin mask) → mask × complex spectrum → inverse rFFT → stage 2 on that time
// frame (learned-basis encoder 512→256, instant layer norm, two LSTMs, sigmoid mask on the
// encoded frame, decoder 256→512) → overlap-add of the 512-sample output; the first 128
// samples of the overlap-add buffer are the output. Latency 384 samples (frame - hop).
// Both stages carry their LSTM states (h and c of two layers) per channel.
//
// The model comes from ghostnv-convert (tools/convert/) of the published model_1.onnx and
// model_2.onnx; the .gnvm layout (LSTMs as their gate dense layer over [x; h], the layer norm
// as a 1-row dense layer) is described in tools/convert/README.md.
//
//   auto fam = models::CreateFamily(model);   // family "dtln"
//   auto ch = (*fam)->NewChannel();
//   (*fam)->ProcessHop(*ch, in128, out128, 1.0f);
//
// Networks exposes each stage on its own (conformance tests against onnxruntime, other
// backends sharing the wiring).
//
// Two ways to run a stage. Stateless (RunStage1/RunStage2 with a state only): plain
// LstmStep/Dense on the model's weights; the state may come from anywhere (the conformance
// tests hand onnxruntime's states in). Streaming (the same calls with a Carries): every layer
// as a row pass over packed copies (kernels/lstm_split.h), each LSTM's recurrent half computed
// one hop ahead while R is in L2 and that look-ahead fused with the next layer's pass: about
// 3.4 MB instead of 3.9 MB from memory per hop. The four LSTMs alternate in phase (one R read
// per stage per hop). A Carries belongs to one state: reset both together, never hand the
// stateful calls a state changed elsewhere. The results differ from the stateless ones by
// rounding only (each pre-activation is (b + W·x) + R·h instead of one running sum).
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/dense.h"
#include "kernels/lstm.h"
#include "kernels/lstm_split.h"
#include "models/family.h"

namespace ghostnv::models::dtln {

constexpr int kFrame = 512;
constexpr int kHop = 128;
constexpr int kBins = kFrame / 2 + 1;
constexpr int kSampleRate = 16000;

// The two stages' layers, checked against each other. Holds pointers into the Model.
struct Networks {
  struct Stage {
    kernels::LstmParams lstm[2];
    kernels::DenseParams mask;
  };
  Stage stage1, stage2;
  kernels::DenseParams encoder, decoder;
  const float* norm_gamma = nullptr;
  const float* norm_beta = nullptr;
  int features = 0;          // encoder width (256)
  float norm_epsilon = 1e-7f;

  // Floats of per-stage recurrent state: [layer 0 h | layer 0 c | layer 1 h | layer 1 c].
  int StateFloats(int stage) const;
  // Floats of scratch RunStage1/RunStage2 need.
  size_t ScratchFloats() const;

  // Real-time steps. state: StateFloats(stage) floats, updated in place.
  void RunStage1(const float* magnitude, float* mask, float* state, float* scratch) const;
  void RunStage2(const float* frame, float* out_frame, float* state, float* scratch) const;

  // The streaming path's packed layers (built by BuildNetworks; immutable, shared by copies).
  struct Packed;
  std::shared_ptr<const Packed> packed;
  // Per-stream look-ahead carries of the four LSTMs ([stage - 1][layer]).
  struct Carries {
    kernels::LstmSplit::Carry lstm[2][2];
  };
  Carries NewCarries() const;                // for zero states (allocates: create time)
  static void ResetCarries(Carries& c);      // the same for existing carries; no allocation
  // Streaming steps: as above, with the carries of this state (updated in place).
  void RunStage1(const float* magnitude, float* mask, float* state, float* scratch,
                 Carries& carries) const;
  // mask (optional, [features]): receives stage 2's mask (tests compare it with other backends).
  void RunStage2(const float* frame, float* out_frame, float* state, float* scratch,
                 Carries& carries, float* mask = nullptr) const;
};

// Validates the layers of a "dtln" model (names, kinds, sizes, the metadata epsilon).
absl::StatusOr<Networks> BuildNetworks(const Model& model);

absl::StatusOr<std::unique_ptr<Family>> CreateDtlnFamily(std::shared_ptr<const Model> model);

}  // namespace ghostnv::models::dtln
