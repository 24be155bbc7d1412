//! Raw FFI bindings to libghostnv (`include/ghostnv/ghostnv.h`).
//!
//! The first block is the integration spec's C bridge exactly as written: the
//! `ghostnv_context_t` struct and the three calls. The second is the versioned C API beside them.
//! Ownership, threading and real-time rules are those documented in ghostnv.h; the safe wrapper
//! is the `ghostnv` crate.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

// ---- the integration spec's bridge ----

/// One denoising stream. The fields are informational and owned by the library.
#[repr(C)]
#[derive(Debug)]
pub struct ghostnv_context_t {
    /// The device context; null on the CPU.
    pub gpu_context: *mut c_void,
    /// Opaque, read-only pointer to the loaded model.
    pub model_data: *mut c_void,
    /// The model's hop in samples per channel at this rate (480 at 48 kHz).
    pub buffer_size: usize,
}

extern "C" {
    /// gpu_id: -1 = CPU, -2 = any GPU else CPU, >= 0 = that GPU (an error without one).
    /// Returns null on error (see `ghostnv_last_error`, `ghostnv_last_status`).
    pub fn ghostnv_init_audio(gpu_id: c_int, sample_rate: usize) -> *mut ghostnv_context_t;
    /// Returns 0 or a negative `ghostnv_status`.
    pub fn ghostnv_denoise_audio(
        ctx: *mut ghostnv_context_t,
        input_buffer: *mut f32,
        output_buffer: *mut f32,
        samples: usize,
    ) -> c_int;
    pub fn ghostnv_cleanup(ctx: *mut ghostnv_context_t);
}

// ---- the versioned API ----

pub const GHOSTNV_OK: c_int = 0;
pub const GHOSTNV_ERROR_INVALID_ARGUMENT: c_int = -1;
pub const GHOSTNV_ERROR_UNSUPPORTED: c_int = -2;
pub const GHOSTNV_ERROR_MODEL_NOT_FOUND: c_int = -3;
pub const GHOSTNV_ERROR_MODEL_INVALID: c_int = -4;
pub const GHOSTNV_ERROR_BACKEND_UNAVAILABLE: c_int = -5;
pub const GHOSTNV_ERROR_OUT_OF_MEMORY: c_int = -6;
pub const GHOSTNV_ERROR_INTERNAL: c_int = -7;
pub const GHOSTNV_ERROR_NOT_AVAILABLE: c_int = -8;
pub const GHOSTNV_ERROR_BAD_HANDLE: c_int = -9;

pub const GHOSTNV_BACKEND_AUTO: i32 = 0;
pub const GHOSTNV_BACKEND_CPU: i32 = 1;
pub const GHOSTNV_BACKEND_CUDA: i32 = 2;
/// CUDA device `n` (0 <= n < 256): the C header's `GHOSTNV_BACKEND_CUDA_DEVICE(n)`.
pub const fn ghostnv_backend_cuda_device(n: i32) -> i32 {
    0x100 + n
}

pub const GHOSTNV_MODE_BASIC: i32 = 0;
pub const GHOSTNV_MODE_ENHANCED: i32 = 1;
pub const GHOSTNV_MODE_MAXIMUM: i32 = 2;
pub const GHOSTNV_MODE_GPU_REALTIME: i32 = 3;

pub const GHOSTNV_GPU_NONE: c_int = -1;
pub const GHOSTNV_GPU_AUTO: c_int = -2;

/// `ghostnv_options`; always start from `ghostnv_options_init`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ghostnv_options {
    pub struct_size: u32,
    pub model: *const c_char,
    pub model_data: *const c_void,
    pub model_size: usize,
    pub backend: i32,
    pub sample_rate: u32,
    pub channels: u32,
    pub strength: f32,
    pub mode: i32,
    pub vad_threshold: f32,
    pub vad_grace_ms: f32,
    pub period_frames: u32,
}

/// Opaque denoiser handle.
#[repr(C)]
pub struct ghostnv_denoiser {
    _private: [u8; 0],
}

extern "C" {
    pub fn ghostnv_version() -> *const c_char;
    pub fn ghostnv_options_init(options: *mut ghostnv_options);
    pub fn ghostnv_mode_status(mode: c_int, name: *mut *const c_char) -> c_int;
    pub fn ghostnv_create(options: *const ghostnv_options, out: *mut *mut ghostnv_denoiser) -> c_int;
    pub fn ghostnv_process(
        denoiser: *mut ghostnv_denoiser,
        input: *const f32,
        output: *mut f32,
        frames: usize,
    ) -> c_int;
    pub fn ghostnv_latency_frames(denoiser: *const ghostnv_denoiser) -> i64;
    pub fn ghostnv_set_strength(denoiser: *mut ghostnv_denoiser, strength: f32) -> c_int;
    pub fn ghostnv_set_vad_gate(denoiser: *mut ghostnv_denoiser, threshold: f32, grace_ms: f32) -> c_int;
    pub fn ghostnv_reset(denoiser: *mut ghostnv_denoiser) -> c_int;
    pub fn ghostnv_info_json(denoiser: *mut ghostnv_denoiser) -> *const c_char;
    pub fn ghostnv_destroy(denoiser: *mut ghostnv_denoiser);
    pub fn ghostnv_strerror(status: c_int) -> *const c_char;
    pub fn ghostnv_last_error() -> *const c_char;
    pub fn ghostnv_last_status() -> c_int;
    pub fn ghostnv_init_audio_ex(options: *const ghostnv_options) -> *mut ghostnv_context_t;
    pub fn ghostnv_audio_latency(ctx: *const ghostnv_context_t) -> i64;
    pub fn ghostnv_context_denoiser(ctx: *mut ghostnv_context_t) -> *mut ghostnv_denoiser;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;
    use std::mem::{offset_of, size_of};

    #[test]
    fn layouts_match_the_c_header() {
        assert_eq!(size_of::<ghostnv_options>(), 64);
        assert_eq!(offset_of!(ghostnv_options, model), 8);
        assert_eq!(offset_of!(ghostnv_options, backend), 32);
        assert_eq!(offset_of!(ghostnv_options, strength), 44);
        assert_eq!(offset_of!(ghostnv_options, mode), 48);
        assert_eq!(offset_of!(ghostnv_options, period_frames), 60);
        assert_eq!(size_of::<ghostnv_context_t>(), 24);
    }

    #[test]
    fn options_init_and_version() {
        let mut o = std::mem::MaybeUninit::<ghostnv_options>::uninit();
        let o = unsafe {
            ghostnv_options_init(o.as_mut_ptr());
            o.assume_init()
        };
        assert_eq!(o.struct_size as usize, size_of::<ghostnv_options>());
        assert_eq!(o.sample_rate, 48000);
        assert_eq!(o.channels, 1);
        let v = unsafe { CStr::from_ptr(ghostnv_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn the_three_calls() {
        unsafe {
            let ctx = ghostnv_init_audio(GHOSTNV_GPU_NONE, 48000);
            assert!(!ctx.is_null());
            assert_eq!((*ctx).buffer_size, 480);
            let mut input = vec![0.25f32; 1000];
            let mut output = vec![0.0f32; 1000];
            let rc = ghostnv_denoise_audio(ctx, input.as_mut_ptr(), output.as_mut_ptr(), 1000);
            assert_eq!(rc, 0);
            ghostnv_cleanup(ctx);
        }
    }
}
