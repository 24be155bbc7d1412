// runtime/api/default_model.h — the models embedded in the library (models/weights/default.gnvm,
// models/weights/ultra.gnvm and models/weights/enhanced.gnvm).
//
// The build embeds the file's bytes (64-byte aligned, read-only) when it exists at configure
// time; otherwise this build has no default model and callers must name a model file.
//
//   const void* data; size_t size;
//   if (EmbeddedDefaultModel(&data, &size)) model = LoadGnvmMemory(data, size, /*copy=*/false);
//
// Thread-safety: pure; the bytes live for the whole process.
#pragma once

#include <cstddef>

namespace ghostnv::api {

// True and the image's location when a default model is embedded; false otherwise.
bool EmbeddedDefaultModel(const void** data, size_t* size);

// The same for the ultra-low-latency model (models/weights/ultra.gnvm, family "ultra", 2 ms
// algorithmic latency), which ghostnv_options.model selects as "builtin:ultra".
bool EmbeddedUltraModel(const void** data, size_t* size);

// The same for GhostNV's own enhanced model (models/weights/enhanced.gnvm, family "demucs", 48 kHz
// causal Demucs, 16 ms algorithmic latency): the name "builtin:enhanced", and the Enhanced mode's
// model when no enhanced.gnvm / dtln.gnvm is installed (modes.h).
bool EmbeddedEnhancedModel(const void** data, size_t* size);

}  // namespace ghostnv::api
