// models/model_loader.h — open any model file the runtime understands, by looking at its bytes.
//
// A file that starts with "GNVM" is read as .gnvm (models/gnvm.h); one that starts with the
// line "rnnoise-nu model file version ..." as an RNNoise text model (models/rnnn.h). The file
// name's extension is not consulted. Anything else is absl::InvalidArgumentError
// "<path>: not a model file (expected .gnvm or RNNoise .rnnn)".
//
//   absl::StatusOr<std::shared_ptr<const Model>> m = LoadModel(argv[1]);
//   if (!m.ok()) { std::cerr << m.status().message() << "\n"; return 1; }
//
// Thread-safety: re-entrant. Not for the real-time path (allocates, does I/O).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "models/ir.h"

namespace ghostnv::models {

absl::StatusOr<std::shared_ptr<const Model>> LoadModel(const std::string& path);

}  // namespace ghostnv::models
