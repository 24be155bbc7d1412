// include/ghostnv/ghostnv.hpp — GhostNV Audio, C++ API: a header-only RAII layer over ghostnv.h.
//
// ghostnv::Denoiser owns one ghostnv_denoiser; it is move-only and frees it in its destructor.
// Construction throws ghostnv::Error (code + message) on failure; Denoiser::Create() is the
// non-throwing alternative. Everything else is a thin inline call with the same thread and
// real-time rules as the C function it wraps (see ghostnv.h).
//
//   ghostnv::Options opt;                      // defaults: embedded model, auto, 48 kHz mono
//   opt.sample_rate = 44100;
//   opt.channels = 2;
//   ghostnv::Denoiser d(opt);                  // throws ghostnv::Error
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

// ghostnv_options, initialised to the library defaults.
struct Options : ghostnv_options {
  Options() noexcept { ghostnv_options_init(this); }
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

  // Audio thread; real-time safe. See ghostnv_process().
  int process(const float* in, float* out, std::size_t frames) noexcept {
    return ghostnv_process(d_, in, out, frames);
  }
  // Any thread; real-time safe.
  std::int64_t latency_frames() const noexcept { return ghostnv_latency_frames(d_); }
  int set_strength(float strength) noexcept { return ghostnv_set_strength(d_, strength); }
  // Control thread; allocates. Empty for an empty Denoiser.
  std::string info_json() const {
    const char* s = ghostnv_info_json(d_);
    return s ? std::string(s) : std::string();
  }

 private:
  ghostnv_denoiser* d_ = nullptr;
};

}  // namespace ghostnv
