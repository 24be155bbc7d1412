// runtime/api/installed_models.h — models the library can name but cannot ship: converted
// third-party models (DTLN, DeepFilterNet3) whose weights a user converts with ghostnv-convert
// and installs into a model directory.
//
// Names and the files they stand for (first match wins):
//   "enhanced"  enhanced.gnvm, dtln.gnvm    (Enhanced mode: DTLN or our stronger CPU model)
//   "maximum"   maximum.gnvm, dfn3.gnvm     (Maximum mode: DeepFilterNet3)
// Directories searched, in order:
//   1. every entry of $GHOSTNV_MODEL_PATH (colon-separated),
//   2. $XDG_DATA_HOME/ghostnv/models (default ~/.local/share/ghostnv/models),
//   3. the install prefix's share/ghostnv/models (GHOSTNV_INSTALL_MODEL_DIR at build time).
//
//   ghostnv-convert -o ~/.local/share/ghostnv/models/dtln.gnvm model_1.onnx model_2.onnx
//   absl::StatusOr<std::string> p = FindInstalledModel("enhanced");   // the path, or NotFound
//                                                                     // listing what was tried
// Setup path only (reads the environment, stats files); never called on the audio path.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ghostnv::api {

// The file names a model name stands for, in search order; empty for an unknown name.
std::vector<std::string> InstalledModelFiles(std::string_view name);

// The directories searched, in order (from the environment at the time of the call).
std::vector<std::string> ModelSearchPath();

// The path of the first existing regular file for `name`; NotFound naming every path tried
// and how to install the model; InvalidArgument for an unknown name.
absl::StatusOr<std::string> FindInstalledModel(std::string_view name);

}  // namespace ghostnv::api
