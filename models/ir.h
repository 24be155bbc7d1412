// models/ir.h — the in-memory model: what every loader produces and every backend consumes.
//
// A Model is immutable once built. It names its family (which fixes how layers are wired and
// what DSP surrounds the network), its rates and framing, and holds its layers, whose tensors are
// float32 views into storage the Model owns (an mmap of a .gnvm file, or vectors filled by a
// loader). Sharing: pass std::shared_ptr<const Model>; sessions keep it alive.
//
//   absl::StatusOr<std::shared_ptr<const Model>> m = LoadModelFile("x.gnvm");
//   const Layer* gru = (*m)->FindLayer("denoise_gru");
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/activations.h"
#include "kernels/dense.h"
#include "kernels/gru.h"

namespace ghostnv::models {

enum class LayerKind : uint8_t { kDense, kGru };

// One layer. Layouts are input-major so kernels can vectorise over outputs:
//   dense: weights [inputs][units], bias [units];  y = act(bias + x·W)
//   gru:   weights [inputs][3*units], recurrent [units][3*units], gates ordered z, r, h
//          (update, reset, candidate); bias [3*units] (input side), recurrent_bias [3*units]
//          or nullptr (all zero). reset_after=false is RNNoise/Keras (reset applied to the
//          state before the recurrent product); reset_after=true is PyTorch/ONNX
//          linear_before_reset=1 (reset applied to the recurrent product plus its bias).
//          h' = z*h + (1-z)*cand.
struct Layer {
  std::string name;
  LayerKind kind = LayerKind::kDense;
  int inputs = 0;
  int units = 0;
  kernels::Activation activation = kernels::Activation::kIdentity;
  bool reset_after = false;
  const float* weights = nullptr;
  const float* recurrent = nullptr;
  const float* bias = nullptr;
  const float* recurrent_bias = nullptr;
};

struct Model {
  std::string family;          // "rnnoise" — selects the DSP and the wiring of the layers
  std::string name;            // human-readable, e.g. "ghostnv-default" or "sh.rnnn"
  int sample_rate = 48000;     // the rate the network runs at
  int frame_size = 960;        // analysis window, samples
  int hop_size = 480;          // new samples per network step
  int algorithmic_latency = 480;  // samples of delay the model itself adds (at sample_rate)
  kernels::MathMode math = kernels::MathMode::kExact;  // activation implementation
  std::string metadata_json = "{}";  // free-form provenance (training data, loss, licence)
  std::vector<Layer> layers;
  std::shared_ptr<const void> storage;  // keeps the tensors' memory alive

  const Layer* FindLayer(std::string_view layer_name) const {
    for (const Layer& l : layers)
      if (l.name == layer_name) return &l;
    return nullptr;
  }
  // Number of float parameters over all layers.
  size_t ParameterCount() const;
};

// The kernels' parameter views of a dense or GRU layer, in the given math mode. They point into
// the layer's weights (no copy), so they are valid as long as the Model is.
kernels::DenseParams DenseParamsOf(const Layer& layer, kernels::MathMode math);
kernels::GruParams GruParamsOf(const Layer& layer, kernels::MathMode math);

}  // namespace ghostnv::models
