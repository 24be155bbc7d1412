// include/ghostnv/ghostnv.hpp — GhostNV Audio, C++ API: a header-only RAII layer over ghostnv.h.
//
// ghostnv::Denoiser owns one ghostnv_denoiser; it is move-only and frees it in its destructor.
// Errors: setup (construction, reset) throws ghostnv::Error (code() + the detailed what());
// Denoiser::Create() is the non-throwing alternative that returns the code. The audio-thread
// and control calls never throw: they are noexcept and return the C status code (0 = OK), so
// they are safe in a real-time callback. Thread and real-time rules are those of the C function
// each method wraps (see ghostnv.h).
//
//   ghostnv::Options opt;                      // defaults: embedded model, auto, 48 kHz mono
//   opt.sample_rate = 44100;
//   opt.channels = 2;
//   opt.set_mode(ghostnv::Mode::kBasic);
//   ghostnv::Denoiser d(opt);                  // throws ghostnv::Error
//   d.set_vad_gate(0.6f, 250.0f);              // any thread, noexcept
//   d.process(in, out, frames);                // audio thread, noexcept
//   std::cout << d.info_json() << "\n";
//
// Requires C++17.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "ghostnv/ghostnv.h"

namespace ghostnv {

// The seed's DenoisingMode (ghostnv_mode).
enum class Mode : std::int32_t {
  kBasic = GHOSTNV_MODE_BASIC,
  kEnhanced = GHOSTNV_MODE_ENHANCED,
  kMaximum = GHOSTNV_MODE_MAXIMUM,
  kGpuRealtime = GHOSTNV_MODE_GPU_REALTIME,
};

// GHOSTNV_OK, GHOSTNV_ERROR_NOT_AVAILABLE or GHOSTNV_ERROR_INVALID_ARGUMENT; see
// ghostnv_mode_status(). Any thread; real-time safe.
inline int ModeStatus(Mode mode) noexcept {
  return ghostnv_mode_status(static_cast<int>(mode), nullptr);
}
inline const char* ModeName(Mode mode) noexcept {
  const char* name = "unknown";
  ghostnv_mode_status(static_cast<int>(mode), &name);
  return name;
}

// ghostnv_options, initialised to the library defaults.
struct Options : ghostnv_options {
  Options() noexcept { ghostnv_options_init(this); }
  Options& set_mode(Mode m) noexcept {
    mode = static_cast<std::int32_t>(m);
    return *this;
  }
};

// A failed setup call: code() is the ghostnv_status, what() the detailed message.
class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

class Denoiser {
 public:
  // An empty denoiser (no stream); only assignment, destruction and operator bool are useful.
  Denoiser() noexcept = default;

  // Creates the denoiser or throws Error. Setup path (allocates, may read a file).
  explicit Denoiser(const ghostnv_options& options) {
    const int rc = ghostnv_create(&options, &d_);
    if (rc != GHOSTNV_OK) throw Error(rc, ghostnv_last_error());
  }

  // Non-throwing creation: returns a ghostnv_status; on failure *out is left empty and
  // *message (if given) receives the detailed error.
  static int Create(const ghostnv_options& options, Denoiser* out,
                    std::string* message = nullptr) {
    ghostnv_denoiser* d = nullptr;
    const int rc = ghostnv_create(&options, &d);
    if (rc != GHOSTNV_OK) {
      if (message) *message = ghostnv_last_error();
      if (out) out->reset();
      return rc;
    }
    if (out) {
      out->reset(d);
    } else {
      ghostnv_destroy(d);
    }
    return GHOSTNV_OK;
  }

  ~Denoiser() { ghostnv_destroy(d_); }
  Denoiser(const Denoiser&) = delete;
  Denoiser& operator=(const Denoiser&) = delete;
  Denoiser(Denoiser&& other) noexcept : d_(std::exchange(other.d_, nullptr)) {}
  Denoiser& operator=(Denoiser&& other) noexcept {
    if (this != &other) reset(std::exchange(other.d_, nullptr));
    return *this;
  }

  explicit operator bool() const noexcept { return d_ != nullptr; }
  ghostnv_denoiser* get() const noexcept { return d_; }
  // Frees the current denoiser (if any) and takes ownership of `d`.
  void reset(ghostnv_denoiser* d = nullptr) noexcept {
    ghostnv_destroy(d_);
    d_ = d;
  }
  // Gives up ownership without freeing.
  ghostnv_denoiser* release() noexcept { return std::exchange(d_, nullptr); }

  // Audio thread; real-time safe. See ghostnv_process().
  int process(const float* in, float* out, std::size_t frames) noexcept {
    return ghostnv_process(d_, in, out, frames);
  }
  // Any thread; real-time safe.
  std::int64_t latency_frames() const noexcept { return ghostnv_latency_frames(d_); }
  int set_strength(float strength) noexcept { return ghostnv_set_strength(d_, strength); }
  int set_vad_gate(float threshold, float grace_ms) noexcept {
    return ghostnv_set_vad_gate(d_, threshold, grace_ms);
  }
  // Control thread, not concurrently with process(); throws Error on failure.
  void clear_state() {
    const int rc = ghostnv_reset(d_);
    if (rc != GHOSTNV_OK) throw Error(rc, ghostnv_last_error());
  }
  // Control thread; allocates. Empty for an empty Denoiser.
  std::string info_json() const {
    const char* s = ghostnv_info_json(d_);
    return s ? std::string(s) : std::string();
  }

 private:
  ghostnv_denoiser* d_ = nullptr;
};

}  // namespace ghostnv
