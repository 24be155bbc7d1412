/* include/ghostnv/ghostnv.h — GhostNV Audio: real-time noise suppression, C ABI.
 *
 * Two ways in, over one engine:
 *
 * 1. The three calls of the integration spec (mono, CPU, default model):
 *
 *      ghostnv_context_t* ctx = ghostnv_init_audio(-1, 48000);     // -1 = CPU
 *      if (!ctx) { fprintf(stderr, "ghostnv: %s\n", ghostnv_last_error()); return 1; }
 *      int rc = ghostnv_denoise_audio(ctx, in, out, n);             // any n, audio thread
 *      if (rc < 0) fprintf(stderr, "ghostnv: %s\n", ghostnv_strerror(rc));
 *      ghostnv_cleanup(ctx);
 *
 * 2. The versioned API: one `ghostnv_denoiser` is one audio stream with options (channels,
 *    mode, model file or image, strength, a VAD gate), statistics and a reset:
 *
 *      ghostnv_options o;
 *      ghostnv_options_init(&o);            // embedded default model, auto backend, 48 kHz mono
 *      o.sample_rate = 44100;
 *      o.channels = 2;
 *      ghostnv_denoiser* d = NULL;
 *      int rc = ghostnv_create(&o, &d);
 *      if (rc != GHOSTNV_OK) {
 *        fprintf(stderr, "ghostnv: %s\n", ghostnv_last_error());
 *        return 1;
 *      }
 *      while (have_audio)                   // audio thread
 *        ghostnv_process(d, in, out, frames);
 *      ghostnv_destroy(d);
 *
 * Either way, interleaved float frames at the host's sample rate and channel count go in and the
 * same number of denoised frames come out, delayed by a constant latency (ghostnv_latency_frames(),
 * ghostnv_audio_latency()). Call sizes are free: 1 frame, 4096 frames, or a different count every
 * time; the library buffers internally. Everything a stream needs is allocated when it is created;
 * processing is real-time safe.
 *
 * Definitions: a sample is one float of one channel, nominally in [-1, 1]; a frame is one sample
 * per channel; buffers are interleaved (frame f, channel c at [f * channels + c]); a hop is the
 * model's step (10 ms: 480 frames at 48 kHz).
 *
 * Errors: functions return GHOSTNV_OK (0) or a negative ghostnv_status (ghostnv_strerror() names
 * it). Setup calls (create, init, reset) also leave a detailed message for the calling thread in
 * ghostnv_last_error() and the code in ghostnv_last_status(). No C++ exception ever leaves this
 * library. Bad arguments (NULL, misaligned buffers, sizes that overflow, a handle that was already
 * destroyed — detected for a while after destruction, see ghostnv_destroy()) are errors, not
 * crashes.
 *
 * Threads: a denoiser (or context) is not internally locked. ghostnv_process() must not run
 * concurrently with itself on the same denoiser (use it from your audio thread).
 * ghostnv_set_strength(), ghostnv_set_vad_gate() and ghostnv_latency_frames() may be called from
 * any thread at any time. ghostnv_info_json() may run concurrently with ghostnv_process() but not
 * with itself, ghostnv_reset() or ghostnv_destroy(). Different denoisers are fully independent:
 * any number of them may be used from any number of threads, one thread per denoiser at a time.
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
  GHOSTNV_ERROR_INVALID_ARGUMENT = -1,    /* NULL pointer, misaligned buffer, size that overflows,
                                             option out of range */
  GHOSTNV_ERROR_UNSUPPORTED = -2,         /* sample rate, channel count, options version, or a VAD
                                             gate on a model without a voice probability */
  GHOSTNV_ERROR_MODEL_NOT_FOUND = -3,     /* model file missing/unreadable; no default embedded */
  GHOSTNV_ERROR_MODEL_INVALID = -4,       /* corrupt, truncated or not a model; unknown family */
  GHOSTNV_ERROR_BACKEND_UNAVAILABLE = -5, /* the requested backend/GPU is not in this build/machine */
  GHOSTNV_ERROR_OUT_OF_MEMORY = -6,
  GHOSTNV_ERROR_INTERNAL = -7,
  GHOSTNV_ERROR_NOT_AVAILABLE = -8,       /* a denoising mode whose model this build lacks */
  GHOSTNV_ERROR_BAD_HANDLE = -9           /* not a live denoiser/context (destroyed, or not one) */
} ghostnv_status;

/* Where the model runs. AUTO takes CUDA device 0 when the NVIDIA driver lists a device and the
 * model's family runs on the GPU (the RNNoise family does), else the CPU; ghostnv_info_json()'s
 * "backend_note" says why, in one line. CUDA (device 0) and GHOSTNV_BACKEND_CUDA_DEVICE(n) are
 * explicit: GHOSTNV_ERROR_BACKEND_UNAVAILABLE, with the reason in ghostnv_last_error(), when that
 * device cannot run the model — never a silent fallback at creation. On the GPU a stream runs the
 * real-time path (one hop per call, in the calling thread: a 10-20 us round trip per 10 ms hop on
 * an H200). If the device fails later, the stream continues on the CPU with no gap and no lost
 * samples; ghostnv_info_json() reports it ("backend_active": "cpu", "fallback"). */
typedef enum ghostnv_backend {
  GHOSTNV_BACKEND_AUTO = 0, /* the GPU when there is one that can run the model, else the CPU */
  GHOSTNV_BACKEND_CPU = 1,
  GHOSTNV_BACKEND_CUDA = 2  /* CUDA device 0; an error when it cannot be used */
} ghostnv_backend;

/* options.backend value for CUDA device n, 0 <= n < 256 (the driver's device index). */
#define GHOSTNV_BACKEND_CUDA_DEVICE(n) (0x100 + (n))

/* The seed's DenoisingMode: which model (and execution path) denoises.
 *   BASIC        the default RNNoise-class model embedded in the library, on the CPU (10 ms).
 *   ENHANCED     a stronger model (48 kHz, 16 ms): GhostNV's own causal Demucs embedded in
 *                the library ("builtin:enhanced"), unless the user installed a model as
 *                enhanced.gnvm (an explicit override, first) or DTLN converted with
 *                ghostnv-convert as dtln.gnvm (second); either wins over the embedded one.
 *   MAXIMUM      DeepFilterNet3, converted and installed as dfn3.gnvm (on the GPU when the
 *                backend finds one, else the CPU).
 *   GPU_REALTIME the embedded ultra-low-latency model (2 ms) on the GPU real-time path
 *                (backend AUTO means the first GPU; CPU is refused); available when a CUDA GPU
 *                is present.
 * BASIC is always available, ENHANCED in every build that embeds its model (else as MAXIMUM),
 * GPU_REALTIME on machines with a GPU, MAXIMUM when its model file is found in a model folder:
 * each folder of $GHOSTNV_MODEL_PATH (colon-separated), then $XDG_DATA_HOME/ghostnv/models
 * (~/.local/share/ghostnv/models), then PREFIX/share/ghostnv/models. Otherwise
 * GHOSTNV_ERROR_NOT_AVAILABLE, with the folders tried in ghostnv_last_error(). The installed
 * files by name in options.model (files only, never the embedded model): "installed:enhanced",
 * "installed:maximum". See ghostnv_mode_status(). */
typedef enum ghostnv_mode {
  GHOSTNV_MODE_BASIC = 0,
  GHOSTNV_MODE_ENHANCED = 1,
  GHOSTNV_MODE_MAXIMUM = 2,
  GHOSTNV_MODE_GPU_REALTIME = 3
} ghostnv_mode;

/* Creation options. Always start from ghostnv_options_init(), then set what you need.
 * struct_size is the version: later releases only append fields, and the library reads only
 * the first struct_size bytes (fields past it take their defaults). A struct_size larger than
 * this library knows is accepted when the unknown trailing bytes are all zero.
 * Layout history: 48 bytes (first release: up to `strength`); 64 bytes (adds mode and the VAD
 * gate). */
typedef struct ghostnv_options {
  uint32_t struct_size;    /* sizeof(ghostnv_options), set by ghostnv_options_init() */
  /* The model: NULL, "", "default" or "builtin:default" = the model of `mode` (BASIC: the one
   * embedded in the library); "builtin:ultra" = the embedded ultra-low-latency model (96-sample
   * hop at 48 kHz, 2 ms algorithmic latency); "builtin:enhanced" = the embedded enhanced model
   * (GhostNV's causal Demucs, 256-sample hop at 48 kHz, 16 ms), even when an enhanced.gnvm or
   * dtln.gnvm is installed (GHOSTNV_ERROR_MODEL_NOT_FOUND in a build without the one named);
   * "installed:enhanced" / "installed:maximum" = the installed files (see ghostnv_mode);
   * otherwise a path to a .gnvm or RNNoise .rnnn file (recognised by content). Anything but
   * the model of `mode` requires mode BASIC. Read during ghostnv_create() only. */
  const char* model;
  /* Alternatively an in-memory .gnvm image or .rnnn text (model must then be NULL). The library
   * copies it: the caller may free it as soon as ghostnv_create() returns. */
  const void* model_data;
  size_t model_size;
  int32_t backend;         /* a ghostnv_backend, or GHOSTNV_BACKEND_CUDA_DEVICE(n) */
  uint32_t sample_rate;    /* host rate in Hz: 44100, 48000, 96000, or any rate in
                              8000..192000 at which the model's latency is a whole number of
                              frames (16000, 32000, 88200, ...; not 22050) */
  uint32_t channels;       /* 1..8, each denoised independently */
  float strength;          /* 0 = pass-through (delayed), 1 = full suppression */
  /* ---- struct_size 64 and later ---- */
  int32_t mode;            /* a ghostnv_mode; default BASIC */
  /* VAD gate (see ghostnv_set_vad_gate()): threshold in [0, 1], 0 = off (default); grace period
   * (hold time) in milliseconds, 0..10000, default 200. A threshold > 0 with a model that
   * computes no voice probability (DTLN, the enhanced Demucs) is GHOSTNV_ERROR_UNSUPPORTED. */
  float vad_threshold;
  float vad_grace_ms;
  /* Period hint: 0 = calls of any frame count (the stream then buffers up to hop - 1 frames).
   * P > 0 promises that every ghostnv_process() call is a multiple of P frames (a fixed ALSA or
   * plugin period); at the model's own rate the stream then buffers only hop - gcd(P, hop)
   * frames (0 when P is a multiple of the hop), which ghostnv_latency_frames() reports. A call
   * that breaks the promise is refused with GHOSTNV_ERROR_INVALID_ARGUMENT. 0..65536. */
  uint32_t period_frames;
} ghostnv_options;

typedef struct ghostnv_denoiser ghostnv_denoiser;

/* The library's version, "MAJOR.MINOR.PATCH" (compare with GHOSTNV_VERSION_STRING to detect a
 * header/library mismatch). Static string. Any thread; real-time safe. */
GHOSTNV_API const char* ghostnv_version(void);

/* Fills *options with defaults: struct_size, model NULL (embedded default), backend AUTO,
 * 48000 Hz, 1 channel, strength 1, mode BASIC, VAD gate off (threshold 0, grace 200 ms).
 * Any thread; real-time safe. NULL is ignored. */
GHOSTNV_API void ghostnv_options_init(ghostnv_options* options);

/* Whether a ghostnv_mode can be created in this build: GHOSTNV_OK, GHOSTNV_ERROR_NOT_AVAILABLE
 * (the mode's model is neither embedded in this build nor installed, or gpu-realtime without a
 * GPU) or GHOSTNV_ERROR_INVALID_ARGUMENT (not a mode). `name` (may be NULL) receives a static name:
 * "basic", "enhanced", "maximum", "gpu-realtime" (or "unknown").
 * Any thread; real-time safe, except the first call for gpu-realtime in a process, which loads
 * the CUDA driver to look for a GPU. */
GHOSTNV_API int ghostnv_mode_status(int mode, const char** name);

/* Creates a denoiser: resolves the mode, loads the model, selects the backend, allocates every
 * buffer. On success *out owns a new denoiser (free it with ghostnv_destroy()); on error *out is
 * set to NULL and ghostnv_last_error() explains. The options struct and the strings and memory
 * it points to are not retained. Any thread; NOT real-time safe (allocates, reads files). */
GHOSTNV_API int ghostnv_create(const ghostnv_options* options, ghostnv_denoiser** out);

/* Denoises `frames` interleaved frames from `in` into `out` (frames * channels floats each,
 * 4-byte aligned; in == out is allowed, any other overlap is not). Always produces exactly
 * `frames` frames: out[t] is the denoised in[t - latency]. frames == 0 does nothing and returns
 * GHOSTNV_OK. NaN/Inf/denormal input samples are treated as 0 and counted (ghostnv_info_json()).
 * Returns GHOSTNV_OK; GHOSTNV_ERROR_INVALID_ARGUMENT for a NULL denoiser, a NULL or misaligned
 * buffer or a frame count whose byte size overflows; GHOSTNV_ERROR_BAD_HANDLE for a destroyed
 * denoiser.
 * Buffers remain the caller's. The audio thread; one call at a time per denoiser.
 * Real-time safe: no locks, no I/O, no allocation (except libsoxr's internal FIFOs growing
 * during the first few calls of a stream whose rate differs from the model's). */
GHOSTNV_API int ghostnv_process(ghostnv_denoiser* denoiser, const float* in, float* out,
                                size_t frames);

/* The constant delay between input and output, in frames at the host rate (the model's own
 * latency plus buffering; e.g. 959 at 48 kHz for RNNoise). A file tool drops this many leading
 * output frames and feeds as many trailing zeros. Returns -1 for NULL or a destroyed denoiser.
 * Any thread; real-time safe. */
GHOSTNV_API int64_t ghostnv_latency_frames(const ghostnv_denoiser* denoiser);

/* Sets the suppression strength in [0, 1]; takes effect within one model hop (10 ms).
 * Returns GHOSTNV_ERROR_INVALID_ARGUMENT (and changes nothing) for NULL, NaN or a value outside
 * [0, 1]; GHOSTNV_ERROR_BAD_HANDLE for a destroyed denoiser.
 * Any thread, at any time; real-time safe (a relaxed atomic store). */
GHOSTNV_API int ghostnv_set_strength(ghostnv_denoiser* denoiser, float strength);

/* The VAD gate: mutes the output while the model's voice probability stays below `threshold`
 * (in [0, 1]; 0 turns the gate off) for longer than `grace_ms` (0..10000 ms of hold time after
 * the last hop with voice). Decisions are per hop and aligned with the audio the hop produced;
 * the gain ramps (2 ms open, 10 ms close), so there are no clicks. With the gate off the output
 * is bit-identical to a denoiser that never had one. Returns GHOSTNV_ERROR_INVALID_ARGUMENT for
 * NULL or values out of range or NaN; GHOSTNV_ERROR_UNSUPPORTED (and changes nothing) for a
 * threshold > 0 when the model computes no voice probability (the default, ultra and
 * DeepFilterNet3 models do; DTLN and the enhanced model, causal Demucs, do not: their gate would
 * never open); GHOSTNV_ERROR_BAD_HANDLE for a destroyed denoiser.
 * Any thread, at any time; real-time safe (relaxed atomic stores; applied at the next hop). */
GHOSTNV_API int ghostnv_set_vad_gate(ghostnv_denoiser* denoiser, float threshold,
                                     float grace_ms);

/* Clears all audio state (recurrent state, buffers, the gate, counters) as if the denoiser were
 * new, keeping its model, rate, channels, strength and gate settings. Use it when the stream is
 * interrupted (a host's deactivate/activate, a seek). Returns GHOSTNV_OK,
 * GHOSTNV_ERROR_INVALID_ARGUMENT (NULL), GHOSTNV_ERROR_BAD_HANDLE (destroyed), or an allocation
 * error (the denoiser then keeps its old state). A control thread, never
 * concurrently with any other call on this denoiser; NOT real-time safe (re-allocates). */
GHOSTNV_API int ghostnv_reset(ghostnv_denoiser* denoiser);

/* Statistics and description as a JSON object: version, mode, model name, source and family,
 * model rate, algorithmic latency (ms), total latency (frames and ms), backend ("cpu" | "cuda")
 * and why it was chosen ("backend_note"), "device" (e.g. "device 0 (NVIDIA H200, sm_90,
 * 0000:19:00.0)", "" on the CPU), "backend_active" (where hops run now: "cpu" after a device
 * failure), "fallback" (events, note, cpu_hops, warmup_hops), on a GPU "gpu" (mode, device, hops,
 * submit_to_done_us percentiles, and "stages": per-stage latency percentiles recorded inside the
 * device plan — h2d, kernels, d2h, end_to_end, device, outside_kernels; a stage the plan does not
 * measure has count 0; "nvml": NVML readings of the device taken at this call — utilisation,
 * memory used/total, temperature, power, SM/memory clocks, clock-event reasons; {"available":
 * false, "note": ...} without NVML), SIMD level, sample rate, channels, strength, VAD gate settings,
 * and counters (frames, hops, sanitized samples, underruns, mean and last VAD, gated frames,
 * processing seconds, fallback events).
 * The string is owned by the denoiser and stays valid until the next ghostnv_info_json(),
 * ghostnv_reset() or ghostnv_destroy() on it. Returns NULL for NULL or a destroyed denoiser.
 * A control thread (may overlap ghostnv_process()); NOT real-time safe (allocates). */
GHOSTNV_API const char* ghostnv_info_json(ghostnv_denoiser* denoiser);

/* Frees the denoiser and everything it owns, wiping the audio it buffered first (NULL is a
 * no-op). No other call on it may be running or follow; a call that follows anyway is answered
 * GHOSTNV_ERROR_BAD_HANDLE for as long as the handle's small shell is kept in quarantine (the
 * last 256 destroyed handles), undefined behaviour after that. Destroying twice within that
 * window is a no-op. Any thread; NOT real-time safe. */
GHOSTNV_API void ghostnv_destroy(ghostnv_denoiser* denoiser);

/* A short static description of a status code ("invalid argument", ...); never NULL.
 * Any thread; real-time safe. */
GHOSTNV_API const char* ghostnv_strerror(int status);

/* The detailed message of the most recent setup call (ghostnv_create, ghostnv_reset,
 * ghostnv_init_audio*) on the calling thread if it failed, e.g.
 * "model 'x.gnvm': x.gnvm: checksum mismatch (file corrupt?)"; "" otherwise.
 * Thread-local storage, valid until the next setup call on this thread. Real-time safe. */
GHOSTNV_API const char* ghostnv_last_error(void);

/* The ghostnv_status of that same call (GHOSTNV_OK if it succeeded). Real-time safe. */
GHOSTNV_API int ghostnv_last_status(void);

/* ------------------------------------------------------------------------------------------
 * The integration spec's three calls.
 *
 * A ghostnv_context_t is one mono stream (or more channels through ghostnv_init_audio_ex()).
 * Its fields are informational and owned by the library; never write them:
 *   gpu_context  opaque; non-NULL when the stream was set up on a GPU, NULL on the CPU.
 *   model_data   an opaque, read-only pointer to the loaded model (shared by nothing else).
 *   buffer_size  the model's hop in samples per channel at this context's rate (480 at 48 kHz,
 *                441 at 44.1 kHz): the most efficient call size. Any size works.
 * ------------------------------------------------------------------------------------------ */
typedef struct {
  void* gpu_context;
  void* model_data;
  size_t buffer_size;
} ghostnv_context_t;

/* gpu_id values besides a device index. */
#define GHOSTNV_GPU_NONE (-1) /* the CPU */
#define GHOSTNV_GPU_AUTO (-2) /* the first GPU when there is one, else the CPU (and say so) */

/* Creates a mono context with the default model at `sample_rate` Hz (as ghostnv_options).
 * gpu_id: -1 = CPU; -2 = any GPU, else the CPU; 0..255 = that CUDA device
 * (GHOSTNV_BACKEND_CUDA_DEVICE(gpu_id)), and it is an error (GHOSTNV_ERROR_BACKEND_UNAVAILABLE,
 * "gpu_id 1: no GPU backend can run on that device (...)") when that GPU cannot be used — an
 * explicit device request never silently runs elsewhere.
 * Returns the context (free it with ghostnv_cleanup()) or NULL; then ghostnv_last_error() says
 * why and ghostnv_last_status() gives the code. Any thread; NOT real-time safe. */
GHOSTNV_API ghostnv_context_t* ghostnv_init_audio(int gpu_id, size_t sample_rate);

/* The same with full options (channels, mode, model, strength, gate, backend). */
GHOSTNV_API ghostnv_context_t* ghostnv_init_audio_ex(const ghostnv_options* options);

/* Denoises `samples` floats (interleaved; a multiple of the channel count, any number of frames)
 * from input_buffer into output_buffer; the output is delayed by ghostnv_audio_latency() samples
 * per channel. Same rules as ghostnv_process() (in place allowed; samples == 0 is a no-op).
 * Returns 0, or a negative ghostnv_status: GHOSTNV_ERROR_INVALID_ARGUMENT for a NULL context,
 * NULL/misaligned buffers, a count that is not a multiple of the channel count or one whose byte
 * size overflows, or a frame count that breaks options.period_frames' promise;
 * GHOSTNV_ERROR_BAD_HANDLE for a cleaned-up context. The audio thread; one call at a time per
 * context; real-time safe. */
GHOSTNV_API int ghostnv_denoise_audio(ghostnv_context_t* ctx, float* input_buffer,
                                      float* output_buffer, size_t samples);

/* The delay, in frames (= samples for mono), between input and output of
 * ghostnv_denoise_audio(): 959 at 48 kHz with the default model. Negative (a ghostnv_status) for
 * a NULL or cleaned-up context. Any thread; real-time safe. */
GHOSTNV_API int64_t ghostnv_audio_latency(const ghostnv_context_t* ctx);

/* The denoiser inside a context, for the versioned calls (ghostnv_set_strength,
 * ghostnv_set_vad_gate, ghostnv_info_json, ghostnv_reset, ...). Borrowed: owned by the context,
 * valid until ghostnv_cleanup(); never ghostnv_destroy() it. NULL for a NULL or cleaned-up
 * context. Any thread; real-time safe. */
GHOSTNV_API ghostnv_denoiser* ghostnv_context_denoiser(ghostnv_context_t* ctx);

/* Frees the context, wiping its audio (NULL is a no-op; a cleaned-up context is detected for a
 * while, as in ghostnv_destroy()). No other call on it may be running or follow.
 * Any thread; NOT real-time safe. */
GHOSTNV_API void ghostnv_cleanup(ghostnv_context_t* ctx);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GHOSTNV_GHOSTNV_H_ */
