// runtime/api/default_model.h — the models embedded in the library (models/weights/default.gnvm
// and models/weights/ultra.gnvm).
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

}  // namespace ghostnv::api
