// audio/sound_file.cc — libsndfile-backed whole-file reader and atomic writer.
#include "audio/sound_file.h"

#include <fcntl.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ghostnv::audio {
namespace {

static_assert(kContainerWav == SF_FORMAT_WAV);
static_assert(kContainerAiff == SF_FORMAT_AIFF);
static_assert(kContainerWavex == SF_FORMAT_WAVEX);
static_assert(kContainerFlac == SF_FORMAT_FLAC);
static_assert(kContainerCaf == SF_FORMAT_CAF);
static_assert(kContainerRf64 == SF_FORMAT_RF64);

// Largest file we decode into memory: 2^31 samples (8 GiB of floats).
constexpr int64_t kMaxSamples = int64_t{1} << 31;
constexpr sf_count_t kChunkFrames = 1 << 16;

int SubtypeCode(Subtype s) {
  switch (s) {
    case Subtype::kPcm16: return SF_FORMAT_PCM_16;
    case Subtype::kPcm24: return SF_FORMAT_PCM_24;
    case Subtype::kPcm32: return SF_FORMAT_PCM_32;
    case Subtype::kFloat: return SF_FORMAT_FLOAT;
  }
  return SF_FORMAT_PCM_16;
}

bool SubtypeFromCode(int code, Subtype* out) {
  switch (code) {
    case SF_FORMAT_PCM_16: *out = Subtype::kPcm16; return true;
    case SF_FORMAT_PCM_24: *out = Subtype::kPcm24; return true;
    case SF_FORMAT_PCM_32: *out = Subtype::kPcm32; return true;
    case SF_FORMAT_FLOAT: *out = Subtype::kFloat; return true;
    default: return false;
  }
}

// libsndfile's own name for a subtype code ("Signed 8 bit PCM", "Vorbis", ...).
std::string SndfileSubtypeName(int code) {
  SF_FORMAT_INFO info;
  std::memset(&info, 0, sizeof(info));
  info.format = code;
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &info, sizeof(info)) == 0 && info.name)
    return info.name;
  return absl::StrCat("subtype 0x", absl::Hex(code));
}

int BytesPerSample(Subtype s) { return SubtypeBits(s) / 8; }

// The byte count the header declares for the audio data, or -1 when this container does not
// say (or says "unknown", as streamed WAVs do with 0 or 0xFFFFFFFF).
int64_t DeclaredDataBytes(SNDFILE* f, int container) {
  const char* id = nullptr;
  int64_t overhead = 0;
  if (container == SF_FORMAT_WAV || container == SF_FORMAT_WAVEX) {
    id = "data";
  } else if (container == SF_FORMAT_AIFF) {
    id = "SSND";
    overhead = 8;  // offset + block size words precede the samples
  } else {
    return -1;
  }
  SF_CHUNK_INFO want;
  std::memset(&want, 0, sizeof(want));
  std::snprintf(want.id, sizeof(want.id), "%s", id);
  want.id_size = 4;
  SF_CHUNK_ITERATOR* it = sf_get_chunk_iterator(f, &want);
  if (it == nullptr) return -1;
  SF_CHUNK_INFO got;
  std::memset(&got, 0, sizeof(got));
  if (sf_get_chunk_size(it, &got) != SF_ERR_NO_ERROR) return -1;
  const uint32_t len = got.datalen;
  if (len == 0 || len == 0xFFFFFFFFu || len == 0x7FFFFFFFu) return -1;
  return static_cast<int64_t>(len) - overhead;
}

absl::Status OpenError(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    if (err == EACCES) return absl::PermissionDeniedError(absl::StrCat(path, ": permission denied"));
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", std::strerror(err)));
  }
  if (S_ISDIR(st.st_mode)) return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory"));
  if (::access(path.c_str(), R_OK) != 0)
    return absl::PermissionDeniedError(absl::StrCat(path, ": permission denied"));
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": not a readable sound file (", sf_strerror(nullptr), ")"));
}

struct SndfileCloser {
  void operator()(SNDFILE* f) const {
    if (f) sf_close(f);
  }
};

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Quantises to a left-justified int32 (what sf_writef_int expects for every integer width).
int32_t Quantize(float x, int bits, int64_t* clipped) {
  if (!std::isfinite(x)) return 0;
  const double scale = std::ldexp(1.0, bits - 1);
  double v = std::nearbyint(static_cast<double>(x) * scale);
  const double hi = scale - 1.0, lo = -scale;
  if (v > hi) {
    v = hi;
    ++*clipped;
  } else if (v < lo) {
    v = lo;
    ++*clipped;
  }
  const int64_t q = static_cast<int64_t>(v);
  return static_cast<int32_t>(q * (int64_t{1} << (32 - bits)));
}

}  // namespace

const char* SubtypeName(Subtype s) {
  switch (s) {
    case Subtype::kPcm16: return "PCM_16";
    case Subtype::kPcm24: return "PCM_24";
    case Subtype::kPcm32: return "PCM_32";
    case Subtype::kFloat: return "FLOAT";
  }
  return "?";
}

bool ParseSubtype(std::string_view name, Subtype* out) {
  const std::string n = absl::AsciiStrToLower(std::string(name));
  if (n == "pcm16" || n == "pcm_16") *out = Subtype::kPcm16;
  else if (n == "pcm24" || n == "pcm_24") *out = Subtype::kPcm24;
  else if (n == "pcm32" || n == "pcm_32") *out = Subtype::kPcm32;
  else if (n == "float" || n == "float32") *out = Subtype::kFloat;
  else return false;
  return true;
}

int SubtypeBits(Subtype s) {
  switch (s) {
    case Subtype::kPcm16: return 16;
    case Subtype::kPcm24: return 24;
    case Subtype::kPcm32: return 32;
    case Subtype::kFloat: return 32;
  }
  return 0;
}

std::string ContainerName(int container) {
  switch (container) {
    case SF_FORMAT_WAV: return "wav";
    case SF_FORMAT_WAVEX: return "wavex";
    case SF_FORMAT_FLAC: return "flac";
    case SF_FORMAT_AIFF: return "aiff";
    case SF_FORMAT_CAF: return "caf";
    case SF_FORMAT_RF64: return "rf64";
    case SF_FORMAT_W64: return "w64";
    case SF_FORMAT_AU: return "au";
    default: break;
  }
  SF_FORMAT_INFO info;
  std::memset(&info, 0, sizeof(info));
  info.format = container;
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &info, sizeof(info)) == 0 && info.extension)
    return info.extension;
  return "unknown";
}

bool ContainerFromExtension(std::string_view path, int* container) {
  const size_t dot = path.find_last_of('.');
  if (dot == std::string_view::npos) return false;
  const std::string ext = absl::AsciiStrToLower(std::string(path.substr(dot + 1)));
  if (ext == "wav") *container = SF_FORMAT_WAV;
  else if (ext == "flac") *container = SF_FORMAT_FLAC;
  else if (ext == "aiff" || ext == "aif") *container = SF_FORMAT_AIFF;
  else if (ext == "caf") *container = SF_FORMAT_CAF;
  else if (ext == "rf64") *container = SF_FORMAT_RF64;
  else return false;
  return true;
}

bool IsSupportedRate(int sample_rate) {
  return sample_rate == 16000 || sample_rate == 44100 || sample_rate == 48000 || sample_rate == 96000;
}

bool IsSupportedChannels(int channels) { return channels == 1 || channels == 2; }

int64_t SanitizeSamples(absl::Span<float> samples) {
  int64_t n = 0;
  for (float& x : samples) {
    const int c = std::fpclassify(x);
    if (c == FP_NAN || c == FP_INFINITE || c == FP_SUBNORMAL) {
      x = 0.0f;
      ++n;
    }
  }
  return n;
}

absl::StatusOr<SoundFile> ReadSoundFile(const std::string& path) {
  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  std::unique_ptr<SNDFILE, SndfileCloser> f(sf_open(path.c_str(), SFM_READ, &info));
  if (!f) return OpenError(path);

  SoundFile out;
  out.format.container = info.format & SF_FORMAT_TYPEMASK;
  const int subtype_code = info.format & SF_FORMAT_SUBMASK;
  if (!SubtypeFromCode(subtype_code, &out.format.subtype)) {
    return absl::UnimplementedError(absl::StrCat(
        path, ": unsupported sample format '", SndfileSubtypeName(subtype_code),
        "' (supported: 16/24/32-bit integer PCM and 32-bit float)"));
  }
  if (!IsSupportedRate(info.samplerate)) {
    return absl::UnimplementedError(absl::StrCat(
        path, ": unsupported sample rate ", info.samplerate, " Hz (supported: 16000, 44100, 48000, 96000)"));
  }
  if (!IsSupportedChannels(info.channels)) {
    return absl::UnimplementedError(absl::StrCat(
        path, ": unsupported channel count ", info.channels, " (supported: 1 or 2)"));
  }
  out.format.sample_rate = info.samplerate;
  out.format.channels = info.channels;
  const int ch = info.channels;

  const bool length_known = info.frames >= 0 && info.frames < SF_COUNT_MAX;
  if (length_known && info.frames > kMaxSamples / ch) {
    return absl::UnimplementedError(
        absl::StrCat(path, ": too long (", info.frames, " frames; at most ", kMaxSamples / ch, ")"));
  }
  // libsndfile clamps a WAV/AIFF data chunk to what the file holds; its header still says more.
  if (length_known) {
    const int64_t declared = DeclaredDataBytes(f.get(), out.format.container);
    const int64_t frame_bytes = int64_t{ch} * BytesPerSample(out.format.subtype);
    if (declared > 0 && declared / frame_bytes > info.frames) {
      return absl::DataLossError(absl::StrCat(path, ": truncated: header says ",
                                              declared / frame_bytes, " frames, file holds ",
                                              info.frames));
    }
    out.samples.reserve(static_cast<size_t>(info.frames) * ch);
  }

  std::vector<float> chunk(static_cast<size_t>(kChunkFrames) * ch);
  int64_t got = 0;
  for (;;) {
    const sf_count_t n = sf_readf_float(f.get(), chunk.data(), kChunkFrames);
    if (n <= 0) break;
    if (got + n > kMaxSamples / ch) {
      return absl::UnimplementedError(absl::StrCat(path, ": too long (more than ",
                                                   kMaxSamples / ch, " frames)"));
    }
    out.samples.insert(out.samples.end(), chunk.begin(), chunk.begin() + n * ch);
    got += n;
  }
  const int err = sf_error(f.get());
  if (length_known && got < info.frames) {
    return absl::DataLossError(absl::StrCat(path, ": truncated: header says ", info.frames,
                                            " frames, only ", got, " could be read",
                                            err ? absl::StrCat(" (", sf_strerror(f.get()), ")")
                                                : std::string()));
  }
  if (err != SF_ERR_NO_ERROR) {
    return absl::DataLossError(
        absl::StrCat(path, ": decode error after ", got, " frames: ", sf_strerror(f.get())));
  }
  out.frames = got;
  out.sanitized = SanitizeSamples(absl::MakeSpan(out.samples));
  return out;
}

bool CanWrite(const SoundFormat& format) {
  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  info.samplerate = format.sample_rate;
  info.channels = format.channels;
  info.format = format.container | SubtypeCode(format.subtype);
  return format.channels >= 1 && sf_format_check(&info) != 0;
}

absl::StatusOr<WriteReport> WriteSoundFile(const std::string& path, const SoundFormat& format,
                                           absl::Span<const float> samples) {
  if (format.channels < 1)
    return absl::InvalidArgumentError(absl::StrCat(path, ": channel count must be positive"));
  if (samples.size() % static_cast<size_t>(format.channels) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", samples.size(),
                                                   " samples is not a whole number of ",
                                                   format.channels, "-channel frames"));
  }
  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  info.samplerate = format.sample_rate;
  info.channels = format.channels;
  info.format = format.container | SubtypeCode(format.subtype);
  if (!sf_format_check(&info)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": cannot write ", SubtypeName(format.subtype), " samples at ", format.sample_rate,
        " Hz, ", format.channels, " channels in a ", ContainerName(format.container), " file"));
  }
  if (samples.empty() && format.container == SF_FORMAT_FLAC) {
    // libsndfile starts the FLAC stream at the first frame: with none, the file stays empty.
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot write an empty FLAC file (no frames)"));
  }

  // A temporary file beside OUT (same file system, so rename() is atomic).
  const std::string dir = DirName(path);
  static std::atomic<unsigned> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = absl::StrCat(dir, "/.", BaseName(path), ".tmp-", ::getpid(), "-",
                       counter.fetch_add(1, std::memory_order_relaxed));
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    const int err = errno;
    const std::string msg =
        absl::StrCat(path, ": cannot create a file in '", dir, "': ", std::strerror(err));
    if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(msg);
    if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(msg);
    return absl::InternalError(msg);
  }
  // Keep an existing OUT's permission bits.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) ::fchmod(fd, st.st_mode & 07777);

  auto fail = [&](absl::Status s) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  };

  SNDFILE* f = sf_open_fd(fd, SFM_WRITE, &info, SF_FALSE);
  if (f == nullptr) {
    return fail(absl::InternalError(
        absl::StrCat(path, ": cannot start writing: ", sf_strerror(nullptr))));
  }
  sf_command(f, SFC_SET_CLIPPING, nullptr, SF_TRUE);

  WriteReport report;
  const size_t ch = static_cast<size_t>(format.channels);
  const size_t total_frames = samples.size() / ch;
  const size_t chunk_frames = static_cast<size_t>(kChunkFrames);
  const bool is_float = format.subtype == Subtype::kFloat;
  const int bits = SubtypeBits(format.subtype);
  std::vector<int32_t> ibuf(is_float ? 0 : chunk_frames * ch);
  std::vector<float> fbuf(is_float ? chunk_frames * ch : 0);
  bool write_ok = true;
  for (size_t pos = 0; pos < total_frames && write_ok; pos += chunk_frames) {
    const size_t n = std::min(chunk_frames, total_frames - pos);
    const float* src = samples.data() + pos * ch;
    sf_count_t written;
    if (is_float) {
      for (size_t i = 0; i < n * ch; ++i) fbuf[i] = std::isfinite(src[i]) ? src[i] : 0.0f;
      written = sf_writef_float(f, fbuf.data(), static_cast<sf_count_t>(n));
    } else {
      for (size_t i = 0; i < n * ch; ++i) ibuf[i] = Quantize(src[i], bits, &report.clipped);
      written = sf_writef_int(f, ibuf.data(), static_cast<sf_count_t>(n));
    }
    write_ok = written == static_cast<sf_count_t>(n);
  }
  std::string write_error = write_ok ? std::string() : sf_strerror(f);
  const int close_rc = sf_close(f);
  if (!write_ok || close_rc != 0) {
    return fail(absl::InternalError(absl::StrCat(
        path, ": write failed: ", write_ok ? sf_error_number(close_rc) : write_error)));
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    return fail(absl::InternalError(absl::StrCat(path, ": fsync failed: ", std::strerror(err))));
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat(path, ": close failed: ", std::strerror(err)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(
        absl::StrCat(path, ": cannot rename the finished file into place: ", std::strerror(err)));
  }
  return report;
}

}  // namespace ghostnv::audio
