// audio/sound_file.h — whole-file audio I/O (WAV, FLAC and what else libsndfile reads).
//
// ReadSoundFile() decodes a file into interleaved float samples (integer PCM is scaled to
// [-1, 1): a 16-bit sample s becomes s / 32768) and describes it: rate, channels, frames,
// subtype (PCM_16/24/32 or FLOAT) and container. It checks what the rest of GhostNV can use:
// 16000, 44100, 48000 or 96000 Hz; 1 or 2 channels; 16/24/32-bit integer or 32-bit float samples. A
// file shorter than its header says is an error ("truncated"), never silently shortened audio.
// NaN, Inf and denormal samples are replaced by 0 and counted.
//
// WriteSoundFile() writes interleaved float samples in a chosen container and subtype. The data
// goes to a temporary file in OUT's directory that is renamed over OUT only once everything has
// been written and closed: a failure never leaves a half-written OUT, never damages an existing
// OUT, and removes the temporary file. Integer subtypes are quantised here (not by libsndfile):
// round to nearest, clip to [-1, 1), and the clipped samples are counted, so a file read and
// written back in the same integer subtype is bit-identical.
//
//   absl::StatusOr<SoundFile> in = ReadSoundFile("noisy.wav");
//   if (!in.ok()) return in.status();          // "noisy.wav: truncated: header says ..."
//   ... process in->samples (interleaved, in->format.channels per frame) ...
//   absl::StatusOr<WriteReport> w = WriteSoundFile("clean.wav", in->format, in->samples);
//
// Thread-safety: re-entrant; libsndfile keeps no shared state for these calls.
// Not for the real-time path (allocates, does file I/O).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ghostnv::audio {

// The sample encodings GhostNV reads and writes.
enum class Subtype { kPcm16, kPcm24, kPcm32, kFloat };

// "PCM_16", "PCM_24", "PCM_32", "FLOAT" (libsndfile's names).
const char* SubtypeName(Subtype s);
// Accepts "pcm16"/"PCM_16", "pcm24"/"PCM_24", "pcm32"/"PCM_32", "float"/"FLOAT".
bool ParseSubtype(std::string_view name, Subtype* out);
// Bits per sample: 16, 24, 32, 32.
int SubtypeBits(Subtype s);

// Containers are libsndfile major-format codes (SF_FORMAT_WAV, ...), kept as plain ints so this
// header does not pull in <sndfile.h>. The common ones:
inline constexpr int kContainerWav = 0x010000;    // SF_FORMAT_WAV
inline constexpr int kContainerAiff = 0x020000;   // SF_FORMAT_AIFF
inline constexpr int kContainerWavex = 0x130000;  // SF_FORMAT_WAVEX
inline constexpr int kContainerFlac = 0x170000;   // SF_FORMAT_FLAC
inline constexpr int kContainerCaf = 0x180000;    // SF_FORMAT_CAF
inline constexpr int kContainerRf64 = 0x220000;   // SF_FORMAT_RF64

// Short lower-case name: "wav", "wavex", "flac", "aiff", "caf", "rf64", ... ("unknown" else).
std::string ContainerName(int container);
// Picks a container from a file name's extension (.wav .flac .aiff/.aif .caf .rf64); false
// when the extension is not one of them.
bool ContainerFromExtension(std::string_view path, int* container);

// The accepted sample rates and channel counts.
bool IsSupportedRate(int sample_rate);      // 16000 (wideband models such as DTLN), 44100, 48000, 96000
bool IsSupportedChannels(int channels);     // 1, 2

struct SoundFormat {
  int container = kContainerWav;
  Subtype subtype = Subtype::kPcm16;
  int sample_rate = 48000;
  int channels = 1;
};

struct SoundFile {
  SoundFormat format;
  int64_t frames = 0;             // samples.size() / channels
  std::vector<float> samples;     // interleaved
  int64_t sanitized = 0;          // NaN/Inf/denormal samples replaced by 0
  double seconds() const {
    return format.sample_rate > 0 ? static_cast<double>(frames) / format.sample_rate : 0.0;
  }
};

// Errors (absl::Status codes; each message starts with the path):
//   NotFound / PermissionDenied / InvalidArgument: cannot open or not a sound file;
//   DataLoss: truncated (fewer frames than the header declares) or a decode error mid-file;
//   Unimplemented: unsupported rate, channel count or sample encoding.
absl::StatusOr<SoundFile> ReadSoundFile(const std::string& path);

struct WriteReport {
  int64_t clipped = 0;  // samples outside [-1, 1) that were clipped (integer subtypes only)
};

// Writes `samples` (interleaved, format.channels per frame) atomically as described above.
// Errors: InvalidArgument for a container/subtype/rate/channel combination libsndfile cannot
// write (e.g. FLAC with FLOAT), a sample count that is not a whole number of frames, or an
// empty FLAC file (libsndfile cannot make one);
// PermissionDenied / NotFound / Internal when the directory is not writable or the write fails.
// Non-finite samples are written as 0 (they are not counted as clipped).
absl::StatusOr<WriteReport> WriteSoundFile(const std::string& path, const SoundFormat& format,
                                           absl::Span<const float> samples);

// Whether libsndfile can write this container/subtype/rate/channel combination (FLAC, for
// one, holds only 16- and 24-bit integers).
bool CanWrite(const SoundFormat& format);

// Replaces NaN, Inf and denormal values in place by 0; returns how many were replaced.
int64_t SanitizeSamples(absl::Span<float> samples);

}  // namespace ghostnv::audio
