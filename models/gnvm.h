// models/gnvm.h — read and write .gnvm, GhostNV's own model file.
//
// A .gnvm file is little-endian: "GNVM", a u32 format version, a u64 header length, a JSON
// header (family, rates, framing, layers, tensor table), zero padding to a 64-byte boundary,
// 64-byte-aligned tensor data (f32, f16 or per-channel i8) and a trailing FNV-1a 64 checksum of
// every byte before it. models/README.md ("File formats") is the exact specification.
//
// Loading checks everything (magic, version, checksum, every offset, size, shape, count, string
// and weight value) and returns absl::InvalidArgumentError naming the file and the problem; no
// input can make it crash. f32 tensors are used in place (in the mmap, or in the caller's memory);
// f16 and i8 tensors are converted to float once, at load. The returned Model owns (or, for
// LoadGnvmMemory(copy=false), borrows) all the memory its layers point into.
//
//   absl::StatusOr<std::shared_ptr<const Model>> m = LoadGnvmFile("voice.gnvm");
//   if (!m.ok()) return m.status();   // "voice.gnvm: checksum mismatch (file corrupt?)"
//   absl::Status s = WriteGnvmFile(**m, "voice-f16.gnvm", Precision::kF16);
//
// Thread-safety: every function is re-entrant; the Models they return are immutable.
// Not for the real-time path (allocates, does I/O).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/ir.h"

namespace ghostnv::models {

// How the writer stores weight matrices (tensors of rank >= 2). Vectors (biases) are always
// written as f32, whatever the precision.
//   kF32: as is.  kF16: IEEE 754 binary16, round to nearest even.
//   kI8:  symmetric, one scale per output channel (the last axis): scale = maxabs / 127,
//         q = round_half_even(w / scale) in [-127, 127], w' = q * scale.
enum class Precision : uint8_t { kF32, kF16, kI8 };

// "f32", "f16", "i8".
const char* PrecisionName(Precision p);
bool ParsePrecision(std::string_view name, Precision* out);

inline constexpr uint32_t kGnvmVersion = 1;
inline constexpr size_t kGnvmAlignment = 64;
// Sanity limits enforced by the reader (and the writer).
inline constexpr int kGnvmMaxUnits = 4096;            // layer inputs and units
inline constexpr size_t kGnvmMaxLayers = 256;
inline constexpr size_t kGnvmMaxTensors = 1024;
inline constexpr size_t kGnvmMaxRank = 4;
inline constexpr uint64_t kGnvmMaxHeaderBytes = 16u << 20;
inline constexpr int kGnvmMaxJsonDepth = 64;
inline constexpr size_t kGnvmMaxNameLength = 256;

// Reads a .gnvm file through a read-only mmap that the Model keeps alive.
absl::StatusOr<std::shared_ptr<const Model>> LoadGnvmFile(const std::string& path);

// Reads a .gnvm image from memory. copy=true: the bytes are copied and the caller may free them
// at once. copy=false: f32 tensors point into `data`, which must outlive the Model (meant for the
// model embedded in the library). `name` only labels error messages.
absl::StatusOr<std::shared_ptr<const Model>> LoadGnvmMemory(const void* data, size_t size,
                                                            bool copy,
                                                            std::string_view name = "<memory>");

// Encodes a Model as a .gnvm image. Tensors are named "<layer>.weights", "<layer>.recurrent",
// "<layer>.bias", "<layer>.recurrent_bias". Fails (InvalidArgument) on a model that the reader
// would reject: bad sizes, missing tensors, NaN/Inf weights, values out of f16 range, metadata
// that is not a JSON object.
absl::StatusOr<std::string> SerializeGnvm(const Model& m, Precision p = Precision::kF32);

// SerializeGnvm, then write to path + ".tmp", fsync, rename over path.
absl::Status WriteGnvmFile(const Model& m, const std::string& path,
                           Precision p = Precision::kF32);

// Building blocks, exposed for tools and tests.
inline constexpr uint64_t kFnv1a64Offset = 0xcbf29ce484222325ull;
inline constexpr uint64_t kFnv1a64Prime = 0x100000001b3ull;
uint64_t Fnv1a64(const void* data, size_t n, uint64_t hash = kFnv1a64Offset);
uint16_t FloatToHalf(float f);  // round to nearest even; overflow -> Inf; NaN stays NaN
float HalfToFloat(uint16_t h);

}  // namespace ghostnv::models
