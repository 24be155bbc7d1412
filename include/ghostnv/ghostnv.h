/* include/ghostnv/ghostnv.h — GhostNV Audio: real-time noise suppression, C ABI.
 *
 * One `ghostnv_denoiser` is one audio stream: interleaved float frames at the host's sample
 * rate and channel count go in, the same number of denoised frames come out, delayed by a
 * constant latency (ghostnv_latency_frames()). Call sizes are free: 1 frame, 4096 frames, or a
 * different count every time; the library buffers internally. Everything the stream needs is
 * allocated by ghostnv_create(); ghostnv_process() is real-time safe.
 *
 *   ghostnv_options o;
 *   ghostnv_options_init(&o);            // embedded default model, auto backend, 48 kHz mono
 *   o.sample_rate = 44100;
 *   o.channels = 2;
 *   ghostnv_denoiser* d = NULL;
 *   int rc = ghostnv_create(&o, &d);
 *   if (rc != GHOSTNV_OK) {
 *     fprintf(stderr, "ghostnv: %s\n", ghostnv_last_error());
 *     return 1;
 *   }
 *   while (have_audio)                   // audio thread
 *     ghostnv_process(d, in, out, frames);
 *   ghostnv_destroy(d);
 *
 * Definitions: a sample is one float of one channel, nominally in [-1, 1]; a frame is one sample
 * per channel; buffers are interleaved (frame f, channel c at [f * channels + c]).
 *
 * Errors: setup functions return GHOSTNV_OK (0) or a negative ghostnv_status; the detailed
 * message of the last failed setup call on the calling thread is ghostnv_last_error().
 * No C++ exception ever leaves this library.
 *
 * Threads: a denoiser is not internally locked. ghostnv_process() must not run concurrently
 * with itself on the same denoiser (use it from your audio thread). ghostnv_set_strength() and
 * ghostnv_latency_frames() may be called from any thread at any time. ghostnv_info_json() may
 * run concurrently with ghostnv_process() but not with itself or ghostnv_destroy(). Different
 * denoisers are fully independent.
 */
#ifndef GHOSTNV_GHOSTNV_H_
#define GHOSTNV_GHOSTNV_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define GHOSTNV_API
#elif defined(__GNUC__)
#define GHOSTNV_API __attribute__((visibility("default")))
#else
#define GHOSTNV_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define GHOSTNV_VERSION_MAJOR 0
#define GHOSTNV_VERSION_MINOR 1
#define GHOSTNV_VERSION_PATCH 0
#define GHOSTNV_VERSION_STRING "0.1.0"

/* Status codes: 0 is success, every error is negative. */
typedef enum ghostnv_status {
  GHOSTNV_OK = 0,
  GHOSTNV_ERROR_INVALID_ARGUMENT = -1,    /* NULL pointer, option out of range */
  GHOSTNV_ERROR_UNSUPPORTED = -2,         /* sample rate, channel count or options version */
  GHOSTNV_ERROR_MODEL_NOT_FOUND = -3,     /* model file missing/unreadable; no default embedded */
  GHOSTNV_ERROR_MODEL_INVALID = -4,       /* corrupt, truncated or not a model; unknown family */
  GHOSTNV_ERROR_BACKEND_UNAVAILABLE = -5, /* the requested backend is not in this build/machine */
  GHOSTNV_ERROR_OUT_OF_MEMORY = -6,
  GHOSTNV_ERROR_INTERNAL = -7
} ghostnv_status;

typedef enum ghostnv_backend {
  GHOSTNV_BACKEND_AUTO = 0, /* the GPU when there is one, else the CPU (this build: CPU) */
  GHOSTNV_BACKEND_CPU = 1,
  GHOSTNV_BACKEND_CUDA = 2  /* an error when no CUDA backend is available */
} ghostnv_backend;

/* Creation options. Always start from ghostnv_options_init(), then set what you need.
 * struct_size is the version: later releases only append fields, and the library reads only
 * the first struct_size bytes. A struct_size larger than this library knows is accepted when
 * the unknown trailing bytes are all zero. */
typedef struct ghostnv_options {
  uint32_t struct_size;    /* sizeof(ghostnv_options), set by ghostnv_options_init() */
  /* The model: NULL, "" or "default" = the model embedded in the library; otherwise a path to a
   * .gnvm or RNNoise .rnnn file (recognised by content). Read during ghostnv_create() only. */
  const char* model;
  /* Alternatively an in-memory .gnvm image (model must then be NULL). The library copies it:
   * the caller may free it as soon as ghostnv_create() returns. */
  const void* model_data;
  size_t model_size;
  int32_t backend;         /* a ghostnv_backend */
  uint32_t sample_rate;    /* host rate in Hz: 44100, 48000, 96000, or any rate in
                              8000..192000 at which the model's latency is a whole number of
                              frames (16000, 32000, 88200, ...; not 22050) */
  uint32_t channels;       /* 1..8, each denoised independently */
  float strength;          /* 0 = pass-through (delayed), 1 = full suppression */
} ghostnv_options;

typedef struct ghostnv_denoiser ghostnv_denoiser;

/* Fills *options with defaults: struct_size, model NULL (embedded default), backend AUTO,
 * 48000 Hz, 1 channel, strength 1. Any thread; real-time safe. NULL is ignored. */
GHOSTNV_API void ghostnv_options_init(ghostnv_options* options);

/* Creates a denoiser: loads the model, selects the backend, allocates every buffer.
 * On success *out owns a new denoiser (free it with ghostnv_destroy()); on error *out is set
 * to NULL and ghostnv_last_error() explains. The options struct and the strings and memory it
 * points to are not retained. Any thread; NOT real-time safe (allocates, reads files). */
GHOSTNV_API int ghostnv_create(const ghostnv_options* options, ghostnv_denoiser** out);

/* Denoises `frames` interleaved frames from `in` into `out` (frames * channels floats each;
 * in == out is allowed, any other overlap is not). Always produces exactly `frames` frames:
 * out[t] is the denoised in[t - latency]. NaN/Inf/denormal input samples are treated as 0 and
 * counted (see ghostnv_info_json()). Returns GHOSTNV_OK, or GHOSTNV_ERROR_INVALID_ARGUMENT for
 * a NULL denoiser or buffer (frames == 0 is fine). Buffers remain the caller's.
 * The audio thread; one call at a time per denoiser. Real-time safe: no locks, no I/O, no
 * allocation (except libsoxr's internal FIFOs growing during the first few calls of a stream
 * whose rate differs from the model's). */
GHOSTNV_API int ghostnv_process(ghostnv_denoiser* denoiser, const float* in, float* out,
                                size_t frames);

/* The constant delay between input and output, in frames at the host rate (the model's own
 * latency plus buffering; e.g. 959 at 48 kHz for RNNoise). A file tool drops this many leading
 * output frames and feeds as many trailing zeros. Returns -1 for NULL.
 * Any thread; real-time safe. */
GHOSTNV_API int64_t ghostnv_latency_frames(const ghostnv_denoiser* denoiser);

/* Sets the suppression strength in [0, 1]; takes effect within one model hop (10 ms).
 * Returns GHOSTNV_ERROR_INVALID_ARGUMENT (and changes nothing) for NULL, NaN or a value
 * outside [0, 1]. Any thread, at any time; real-time safe (a relaxed atomic store). */
GHOSTNV_API int ghostnv_set_strength(ghostnv_denoiser* denoiser, float strength);

/* A JSON object describing the denoiser: version, model name and family, model rate,
 * algorithmic latency (ms), total latency (frames and ms), backend (and why it was chosen),
 * SIMD level, sample rate, channels, strength, and counters (frames, hops, sanitized samples,
 * mean VAD, processing seconds). The string is owned by the denoiser and stays valid until the
 * next ghostnv_info_json() or ghostnv_destroy() on it. Returns NULL for NULL.
 * A control thread (may overlap ghostnv_process()); NOT real-time safe (allocates). */
GHOSTNV_API const char* ghostnv_info_json(ghostnv_denoiser* denoiser);

/* Frees the denoiser and everything it owns (NULL is a no-op). No other call on it may be
 * running or follow. Any thread; NOT real-time safe. */
GHOSTNV_API void ghostnv_destroy(ghostnv_denoiser* denoiser);

/* A short static description of a status code ("invalid argument", ...); never NULL.
 * Any thread; real-time safe. */
GHOSTNV_API const char* ghostnv_strerror(int status);

/* The detailed message of the most recent setup call (ghostnv_create) on the calling thread if
 * it failed, e.g. "model 'x.gnvm': x.gnvm: checksum mismatch (file corrupt?)"; "" otherwise.
 * Thread-local storage, valid until the next setup call on this thread. Real-time safe. */
GHOSTNV_API const char* ghostnv_last_error(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GHOSTNV_GHOSTNV_H_ */
