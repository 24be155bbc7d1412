//! Safe Rust API for GhostNV Audio, real-time AI noise suppression (libghostnv).
//!
//! A [`GhostNvProcessor`] is one audio stream: interleaved `f32` samples at the stream's rate go
//! in, the same number of denoised samples come out, delayed by a constant
//! [`latency_frames`](GhostNvProcessor::latency_frames). Calls may be any size. Everything is
//! allocated when the processor is created; [`process_audio`](GhostNvProcessor::process_audio)
//! does not allocate, lock or block, so it is fit for an audio callback. Dropping the processor
//! frees it (and wipes the audio it buffered).
//!
//! ```
//! use ghostnv::{GhostNvProcessor, DenoisingMode, ProcessorOptions};
//!
//! let mut p = GhostNvProcessor::new(-1, 48000)?;          // -1 = CPU
//! let noisy = vec![0.01f32; 4800];
//! let mut clean = vec![0.0f32; 4800];
//! p.process_audio(&noisy, &mut clean)?;                  // any length
//! assert_eq!(p.latency_frames(), 959);
//!
//! // Modes whose models are not shipped yet are a clear error, not a silent fallback.
//! let err = GhostNvProcessor::with_options(&ProcessorOptions {
//!     mode: DenoisingMode::Maximum,
//!     ..Default::default()
//! })
//! .unwrap_err();
//! assert_eq!(err.kind(), ghostnv::ErrorKind::NotAvailable);
//! # Ok::<(), ghostnv::Error>(())
//! ```
//!
//! Threads: a processor is `Send` (move it to the audio thread) but not `Sync`; one thread uses
//! it at a time. Errors are [`Error`] values carrying the library's status code and message.

use std::ffi::{CStr, CString};
use std::fmt;
use std::ptr::NonNull;

use ghostnv_sys as sys;

/// The seed's `DenoisingMode`: which model denoises. `Basic` and `Enhanced` ship in the library
/// (`Enhanced` in every build that embeds `models/weights/enhanced.gnvm`); `Maximum` needs an
/// installed model and `GpuRealtime` a GPU, else [`ErrorKind::NotAvailable`] (see
/// [`DenoisingMode::is_available`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DenoisingMode {
    /// The default RNNoise-class model embedded in the library (CPU, 10 ms).
    #[default]
    Basic,
    /// A stronger model (48 kHz, 16 ms): GhostNV's causal Demucs embedded in the library, unless
    /// the user installed `enhanced.gnvm` or a converted DTLN `dtln.gnvm` in a model folder.
    Enhanced,
    /// DeepFilterNet3, installed by the user as `dfn3.gnvm` (GPU when there is one, else CPU).
    Maximum,
    /// The ultra-low-latency model on the GPU real-time path.
    GpuRealtime,
}

impl DenoisingMode {
    fn raw(self) -> i32 {
        match self {
            DenoisingMode::Basic => sys::GHOSTNV_MODE_BASIC,
            DenoisingMode::Enhanced => sys::GHOSTNV_MODE_ENHANCED,
            DenoisingMode::Maximum => sys::GHOSTNV_MODE_MAXIMUM,
            DenoisingMode::GpuRealtime => sys::GHOSTNV_MODE_GPU_REALTIME,
        }
    }

    /// Whether this build can create processors in this mode.
    pub fn is_available(self) -> bool {
        unsafe { sys::ghostnv_mode_status(self.raw(), std::ptr::null_mut()) == sys::GHOSTNV_OK }
    }

    /// "basic", "enhanced", "maximum" or "gpu-realtime".
    pub fn name(self) -> &'static str {
        match self {
            DenoisingMode::Basic => "basic",
            DenoisingMode::Enhanced => "enhanced",
            DenoisingMode::Maximum => "maximum",
            DenoisingMode::GpuRealtime => "gpu-realtime",
        }
    }
}

/// What went wrong, from the library's status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidArgument,
    Unsupported,
    ModelNotFound,
    ModelInvalid,
    BackendUnavailable,
    OutOfMemory,
    Internal,
    NotAvailable,
    BadHandle,
    Unknown(i32),
}

impl ErrorKind {
    fn from_code(code: i32) -> ErrorKind {
        match code {
            sys::GHOSTNV_ERROR_INVALID_ARGUMENT => ErrorKind::InvalidArgument,
            sys::GHOSTNV_ERROR_UNSUPPORTED => ErrorKind::Unsupported,
            sys::GHOSTNV_ERROR_MODEL_NOT_FOUND => ErrorKind::ModelNotFound,
            sys::GHOSTNV_ERROR_MODEL_INVALID => ErrorKind::ModelInvalid,
            sys::GHOSTNV_ERROR_BACKEND_UNAVAILABLE => ErrorKind::BackendUnavailable,
            sys::GHOSTNV_ERROR_OUT_OF_MEMORY => ErrorKind::OutOfMemory,
            sys::GHOSTNV_ERROR_INTERNAL => ErrorKind::Internal,
            sys::GHOSTNV_ERROR_NOT_AVAILABLE => ErrorKind::NotAvailable,
            sys::GHOSTNV_ERROR_BAD_HANDLE => ErrorKind::BadHandle,
            other => ErrorKind::Unknown(other),
        }
    }
}

/// A failed call: the library's status code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: i32,
    message: String,
}

impl Error {
    /// The negative `ghostnv_status` code.
    pub fn code(&self) -> i32 {
        self.code
    }
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from_code(self.code)
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    fn from_code(code: i32) -> Error {
        Error { code, message: strerror(code) }
    }
    fn invalid(message: &str) -> Error {
        Error { code: sys::GHOSTNV_ERROR_INVALID_ARGUMENT, message: message.to_string() }
    }
    // The detailed error of the last setup call on this thread.
    fn last() -> Error {
        let code = unsafe { sys::ghostnv_last_status() };
        let message = unsafe { cstr(sys::ghostnv_last_error()) };
        let code = if code == 0 { sys::GHOSTNV_ERROR_INTERNAL } else { code };
        Error { code, message: if message.is_empty() { strerror(code) } else { message } }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ghostnv: {} ({})", self.message, self.code)
    }
}

impl std::error::Error for Error {}

unsafe fn cstr(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

fn strerror(code: i32) -> String {
    unsafe { cstr(sys::ghostnv_strerror(code)) }
}

/// The library's version string ("0.1.0").
pub fn library_version() -> String {
    unsafe { cstr(sys::ghostnv_version()) }
}

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ModelSource {
    /// The model of the mode (Basic: the one embedded in the library).
    #[default]
    Default,
    /// A .gnvm or RNNoise .rnnn file.
    File(String),
    /// A .gnvm image or .rnnn text in memory (copied by the library).
    Memory(Vec<u8>),
}

/// Creation options beyond the spec's `(gpu_id, sample_rate)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorOptions {
    /// -1 = CPU, -2 = a GPU when there is one, else the CPU; >= 0 = that GPU.
    pub gpu_id: i32,
    pub sample_rate: u32,
    /// Interleaved channels, 1..8, each denoised independently.
    pub channels: u32,
    pub mode: DenoisingMode,
    pub model: ModelSource,
    /// 0 = the input (delayed), 1 = full suppression.
    pub strength: f32,
    /// VAD gate threshold in [0, 1]; 0 = off.
    pub vad_threshold: f32,
    /// VAD gate hold time after the last voiced hop, in ms.
    pub vad_grace_ms: f32,
}

impl Default for ProcessorOptions {
    fn default() -> Self {
        ProcessorOptions {
            gpu_id: -1,
            sample_rate: 48000,
            channels: 1,
            mode: DenoisingMode::Basic,
            model: ModelSource::Default,
            strength: 1.0,
            vad_threshold: 0.0,
            vad_grace_ms: 200.0,
        }
    }
}

/// One denoising stream (`ghostnv_context_t`), freed with `ghostnv_cleanup` on drop.
pub struct GhostNvProcessor {
    ctx: NonNull<sys::ghostnv_context_t>,
    channels: usize,
}

// The context may move to another thread; calls on it are not concurrent (no `Sync`).
unsafe impl Send for GhostNvProcessor {}

impl GhostNvProcessor {
    /// The spec's `ghostnv_init_audio(gpu_id, sample_rate)`: mono, default model.
    /// `gpu_id` -1 = CPU, -2 = a GPU if one can run the model (else the CPU), n >= 0 = CUDA
    /// device n (an error when it cannot be used).
    pub fn new(gpu_id: i32, sample_rate: usize) -> Result<Self, Error> {
        let ctx = unsafe { sys::ghostnv_init_audio(gpu_id, sample_rate) };
        NonNull::new(ctx).map(|ctx| GhostNvProcessor { ctx, channels: 1 }).ok_or_else(Error::last)
    }

    /// A processor with full options (channels, mode, model, strength, VAD gate).
    pub fn with_options(options: &ProcessorOptions) -> Result<Self, Error> {
        let mut o = std::mem::MaybeUninit::<sys::ghostnv_options>::uninit();
        let mut o = unsafe {
            sys::ghostnv_options_init(o.as_mut_ptr());
            o.assume_init()
        };
        o.backend = match options.gpu_id {
            -1 => sys::GHOSTNV_BACKEND_CPU,
            -2 => sys::GHOSTNV_BACKEND_AUTO,
            id if (0..256).contains(&id) => sys::ghostnv_backend_cuda_device(id),
            _ => return Err(Error::invalid("gpu_id must be -1 (CPU), -2 (any GPU) or a device index 0..255")),
        };
        o.sample_rate = options.sample_rate;
        o.channels = options.channels;
        o.mode = options.mode.raw();
        o.strength = options.strength;
        o.vad_threshold = options.vad_threshold;
        o.vad_grace_ms = options.vad_grace_ms;
        let path: Option<CString> = match &options.model {
            ModelSource::File(p) => {
                Some(CString::new(p.as_str()).map_err(|_| Error::invalid("model path contains NUL"))?)
            }
            _ => None,
        };
        if let Some(c) = &path {
            o.model = c.as_ptr();
        }
        if let ModelSource::Memory(bytes) = &options.model {
            o.model_data = bytes.as_ptr().cast();
            o.model_size = bytes.len();
        }
        // `path` and the model bytes outlive the call; the library copies what it keeps.
        let ctx = unsafe { sys::ghostnv_init_audio_ex(&o) };
        let channels = options.channels as usize;
        NonNull::new(ctx).map(|ctx| GhostNvProcessor { ctx, channels }).ok_or_else(Error::last)
    }

    fn denoiser(&self) -> *mut sys::ghostnv_denoiser {
        unsafe { sys::ghostnv_context_denoiser(self.ctx.as_ptr()) }
    }

    /// Denoises `input` into `output` (same length, interleaved, a whole number of frames).
    /// `output[t]` is the denoised `input[t - latency]`. Real-time safe.
    pub fn process_audio(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), Error> {
        if input.len() != output.len() {
            return Err(Error::invalid("process_audio: input and output lengths differ"));
        }
        // The C call takes `float*` for the input as the spec wrote it; it only reads it.
        let rc = unsafe {
            sys::ghostnv_denoise_audio(
                self.ctx.as_ptr(),
                input.as_ptr() as *mut f32,
                output.as_mut_ptr(),
                input.len(),
            )
        };
        if rc < 0 {
            Err(Error::from_code(rc))
        } else {
            Ok(())
        }
    }

    /// Denoises `buffer` in place.
    pub fn process_in_place(&mut self, buffer: &mut [f32]) -> Result<(), Error> {
        let p = buffer.as_mut_ptr();
        let rc = unsafe { sys::ghostnv_denoise_audio(self.ctx.as_ptr(), p, p, buffer.len()) };
        if rc < 0 {
            Err(Error::from_code(rc))
        } else {
            Ok(())
        }
    }

    /// The constant delay between input and output, in frames (959 at 48 kHz).
    pub fn latency_frames(&self) -> usize {
        let l = unsafe { sys::ghostnv_audio_latency(self.ctx.as_ptr()) };
        l.max(0) as usize
    }

    /// The model's hop in frames at this rate (the spec's `buffer_size`): the most efficient
    /// call size; any size works.
    pub fn buffer_size(&self) -> usize {
        unsafe { self.ctx.as_ref().buffer_size }
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Suppression strength in [0, 1]; applied within 10 ms. Real-time safe.
    pub fn set_strength(&mut self, strength: f32) -> Result<(), Error> {
        match unsafe { sys::ghostnv_set_strength(self.denoiser(), strength) } {
            0 => Ok(()),
            rc => Err(Error::from_code(rc)),
        }
    }

    /// The VAD gate: mute while the voice probability stays below `threshold` (0 = off) for
    /// longer than `grace_ms`. [`ErrorKind::Unsupported`] for a threshold > 0 when the model
    /// computes no voice probability (DTLN, the enhanced model). Real-time safe.
    pub fn set_vad_gate(&mut self, threshold: f32, grace_ms: f32) -> Result<(), Error> {
        match unsafe { sys::ghostnv_set_vad_gate(self.denoiser(), threshold, grace_ms) } {
            0 => Ok(()),
            rc => Err(Error::from_code(rc)),
        }
    }

    /// Clears the stream state as if new (settings are kept). Not real-time safe.
    pub fn reset(&mut self) -> Result<(), Error> {
        match unsafe { sys::ghostnv_reset(self.denoiser()) } {
            0 => Ok(()),
            _ => Err(Error::last()),
        }
    }

    /// Statistics and description as a JSON object (model, latency, counters...). Allocates.
    pub fn stats_json(&mut self) -> String {
        unsafe { cstr(sys::ghostnv_info_json(self.denoiser())) }
    }
}

impl Drop for GhostNvProcessor {
    fn drop(&mut self) {
        unsafe { sys::ghostnv_cleanup(self.ctx.as_ptr()) }
    }
}

impl fmt::Debug for GhostNvProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GhostNvProcessor")
            .field("channels", &self.channels)
            .field("latency_frames", &self.latency_frames())
            .field("buffer_size", &self.buffer_size())
            .finish()
    }
}
