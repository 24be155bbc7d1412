// tools/denoise/model_arg.h — what ghostnv-denoise's --model means for ghostnv_options (file and
// live mode alike).
//
//   default   the library's default model (mode BASIC, model NULL)
//   ultra     "builtin:ultra": the embedded 2 ms model
//   enhanced  mode ENHANCED: an installed enhanced.gnvm, else an installed dtln.gnvm, else the
//             GhostNV enhanced model embedded in the library (runtime/api/modes.h)
//   maximum   "installed:maximum": an installed DeepFilterNet3 (maximum.gnvm / dfn3.gnvm)
//   anything else goes to the library as it is: "builtin:enhanced" (the embedded enhanced model
//   even when files are installed), "builtin:ultra", "installed:NAME", or a path. Names win over
//   files: a file literally named `ultra` in the current directory is reached as `./ultra` (an
//   argument with a '/' or a '.' is never a name).
//
//   const LibraryModel m = LibraryModelArg(flag);   // m.model: static or flag.c_str()
//   opt.model = m.model; opt.mode = m.mode;
#pragma once

#include <string>

#include "ghostnv/ghostnv.h"

namespace ghostnv::tools {

struct LibraryModel {
  const char* model = nullptr;     // ghostnv_options.model
  int mode = GHOSTNV_MODE_BASIC;   // ghostnv_options.mode
};

inline LibraryModel LibraryModelArg(const std::string& arg) {
  if (arg == "default") return {nullptr, GHOSTNV_MODE_BASIC};
  if (arg == "ultra") return {"builtin:ultra", GHOSTNV_MODE_BASIC};
  if (arg == "enhanced") return {nullptr, GHOSTNV_MODE_ENHANCED};
  if (arg == "maximum") return {"installed:maximum", GHOSTNV_MODE_BASIC};
  return {arg.c_str(), GHOSTNV_MODE_BASIC};
}

}  // namespace ghostnv::tools
