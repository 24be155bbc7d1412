// models/rnnn.h — load RNNoise text models (.rnnn), the files ffmpeg's `arnndn` filter reads.
//
// The text starts with "rnnoise-nu model file version 1" and lists six layers in a fixed order:
// input_dense, vad_gru, noise_gru, denoise_gru, denoise_output, vad_output. Each has a line
// "nb_inputs nb_neurons activation" followed by its integer weights; every integer is scaled by
// 1/256 as ffmpeg does. The result is a Model of family "rnnoise" (48 kHz, 960-sample window,
// 480-sample hop and latency, MathMode::kRnnoiseApprox, reset_after = false). The exact layout is
// in models/README.md ("File formats").
//
// The loader checks everything ffmpeg checks (sizes 0..128, every value an integer) plus the
// wiring RNNoise's network implies (input 42 features, 22 band gains, 1 VAD output, GRU input
// sizes), and rejects trailing data and size 0; failures are absl::InvalidArgumentError naming the
// file, the line and the layer. No input can make it crash.
//
//   absl::StatusOr<std::shared_ptr<const Model>> m = LoadRnnnFile("sh.rnnn");
//   const Layer* gru = (*m)->FindLayer("denoise_gru");   // 114 inputs, 96 units
//
// Thread-safety: re-entrant. Not for the real-time path (allocates, does I/O).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "models/ir.h"

namespace ghostnv::models {

// The header line every .rnnn file starts with.
inline constexpr std::string_view kRnnnHeader = "rnnoise-nu model file version";

// Reads and parses a .rnnn file; the model is named after the file's basename.
absl::StatusOr<std::shared_ptr<const Model>> LoadRnnnFile(const std::string& path);

// Parses .rnnn text. `name` becomes Model::name and labels error messages.
absl::StatusOr<std::shared_ptr<const Model>> LoadRnnnText(std::string_view text, std::string name);

}  // namespace ghostnv::models
