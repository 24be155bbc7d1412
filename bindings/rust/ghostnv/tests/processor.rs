//! The safe API against the freshly built libghostnv (cargo test --offline).
use ghostnv::{DenoisingMode, ErrorKind, GhostNvProcessor, ModelSource, ProcessorOptions};

/// Deterministic test audio: a voiced burst pattern over noise (no crates).
fn noisy(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|t| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            let noise = (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            let time = t as f32 / 48000.0;
            let voice = if time.fract() < 0.5 { 0.3 * (2.0 * std::f32::consts::PI * 180.0 * time).sin() } else { 0.0 };
            voice + 0.05 * noise
        })
        .collect()
}

/// Quiet white noise, no voice.
fn white(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            0.05 * ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
        })
        .collect()
}

#[test]
fn the_spec_constructor_works_on_the_cpu() {
    let mut p = GhostNvProcessor::new(-1, 48000).expect("CPU processor");
    assert_eq!(p.buffer_size(), 480);
    assert_eq!(p.latency_frames(), 959);
    assert_eq!(p.channels(), 1);
    let input = noisy(48000, 1);
    let mut output = vec![0.0f32; input.len()];
    p.process_audio(&input, &mut output).unwrap();
    assert!(output.iter().all(|x| x.is_finite()));
    // Denoised, not copied: the output differs from the delayed input.
    let diff: f32 = output[959..].iter().zip(&input).map(|(a, b)| (a - b).abs()).sum();
    assert!(diff > 1.0, "diff {diff}");
    assert!(p.stats_json().contains("\"family\":\"rnnoise\""));
}

#[test]
fn call_sizes_do_not_change_the_output() {
    let input = noisy(30000, 2);
    let mut a = vec![0.0f32; input.len()];
    let mut b = vec![0.0f32; input.len()];
    GhostNvProcessor::new(-1, 44100).unwrap().process_audio(&input, &mut a).unwrap();
    let mut p = GhostNvProcessor::new(-1, 44100).unwrap();
    let mut pos = 0;
    for n in [1usize, 7, 113, 441, 513, 4096].iter().cycle() {
        if pos == input.len() {
            break;
        }
        let end = (pos + n).min(input.len());
        p.process_audio(&input[pos..end], &mut b[pos..end]).unwrap();
        pos = end;
    }
    assert_eq!(a, b);
    // In place gives the same too.
    let mut c = input.clone();
    GhostNvProcessor::new(-1, 44100).unwrap().process_in_place(&mut c).unwrap();
    assert_eq!(a, c);
}

#[test]
fn errors_are_values_with_codes_and_messages() {
    // Whether this machine has a GPU the library can use, asked through the spec's gpu_id 0
    // (not through the modes, checked below).
    let gpu = GhostNvProcessor::new(0, 48000).is_ok();
    // Device 99 exists nowhere, GPU machine or not.
    let e = GhostNvProcessor::new(99, 48000).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
    assert!(e.message().contains("gpu_id 99"), "{e}");
    assert!(e.message().contains("no GPU backend"), "{e}");
    assert_eq!(GhostNvProcessor::new(-1, 22050).unwrap_err().kind(), ErrorKind::Unsupported);
    assert_eq!(GhostNvProcessor::new(-7, 48000).unwrap_err().kind(), ErrorKind::InvalidArgument);
    // Enhanced: enhanced_mode_runs_the_embedded_model.
    for mode in [DenoisingMode::Maximum, DenoisingMode::GpuRealtime] {
        if gpu && matches!(mode, DenoisingMode::GpuRealtime) {
            // gpu-realtime exists exactly where a GPU does; it needs a GPU backend (gpu_id -2).
            assert!(mode.is_available());
            let o = ProcessorOptions { mode, gpu_id: -2, ..Default::default() };
            GhostNvProcessor::with_options(&o).unwrap();
            continue;
        }
        assert!(!mode.is_available());
        let e = GhostNvProcessor::with_options(&ProcessorOptions { mode, ..Default::default() })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotAvailable);
        assert!(e.message().contains(mode.name()), "{e}");
        assert!(e.to_string().starts_with("ghostnv: "));
    }
    assert!(DenoisingMode::Basic.is_available());
    let e = GhostNvProcessor::with_options(&ProcessorOptions {
        model: ModelSource::File("/nonexistent/model.gnvm".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ModelNotFound);
    let e = GhostNvProcessor::with_options(&ProcessorOptions {
        model: ModelSource::Memory(b"GNVM garbage".to_vec()),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ModelInvalid);

    let mut p = GhostNvProcessor::new(-1, 48000).unwrap();
    let mut out = vec![0.0f32; 10];
    assert_eq!(p.process_audio(&[0.0; 11], &mut out).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(p.set_strength(1.5).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(p.set_vad_gate(0.5, -3.0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    p.set_strength(0.5).unwrap();
    p.set_vad_gate(0.5, 100.0).unwrap();
    let error: Box<dyn std::error::Error> = Box::new(e);
    assert!(!error.to_string().is_empty());
}

#[test]
fn stereo_options_gate_and_reset() {
    let opts = ProcessorOptions { sample_rate: 96000, channels: 2, strength: 0.8, ..Default::default() };
    let mut p = GhostNvProcessor::with_options(&opts).unwrap();
    assert_eq!(p.channels(), 2);
    assert_eq!(p.buffer_size(), 960);
    let input: Vec<f32> = noisy(20000, 3);
    let mut first = vec![0.0f32; input.len()];
    p.process_audio(&input, &mut first).unwrap();
    let mut odd = vec![0.0f32; 3];
    assert_eq!(p.process_audio(&input[..3], &mut odd).unwrap_err().kind(), ErrorKind::InvalidArgument);
    p.reset().unwrap();
    let mut again = vec![0.0f32; input.len()];
    p.process_audio(&input, &mut again).unwrap();
    assert_eq!(first, again);
    // On noise alone the voice probability stays below 0.99: once the delayed voice has left
    // the pipeline (latency, one hop, the 10 ms ramp), the gate mutes everything.
    p.set_vad_gate(0.99, 0.0).unwrap();
    let noise = white(2 * 96000 * 2, 6);
    let mut gated = vec![1.0f32; noise.len()];
    p.process_audio(&noise, &mut gated).unwrap();
    assert!(gated[noise.len() / 2..].iter().all(|&x| x == 0.0), "{}", p.stats_json());
    assert!(p.stats_json().contains("\"gated_frames\""));
}

#[test]
fn processors_move_between_threads_and_run_in_parallel() {
    let input = noisy(24000, 4);
    let mut want = vec![0.0f32; input.len()];
    GhostNvProcessor::new(-1, 48000).unwrap().process_audio(&input, &mut want).unwrap();
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let mut p = GhostNvProcessor::new(-1, 48000).unwrap();
            let input = input.clone();
            std::thread::spawn(move || {
                let mut out = vec![0.0f32; input.len()];
                for (i, o) in input.chunks(777).zip(out.chunks_mut(777)) {
                    p.process_audio(i, o).unwrap();
                }
                out
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), want);
    }
}

#[test]
fn the_version_matches_the_crate() {
    assert_eq!(ghostnv::library_version(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn enhanced_mode_runs_the_embedded_model() {
    // The library built from this tree embeds models/weights/enhanced.gnvm when it exists; a
    // user's installed enhanced.gnvm / dtln.gnvm would take its place (model_source = its path).
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../models/weights/enhanced.gnvm");
    if !shipped.exists() {
        return;
    }
    assert!(DenoisingMode::Enhanced.is_available());
    let o = ProcessorOptions { mode: DenoisingMode::Enhanced, ..Default::default() };
    let mut p = GhostNvProcessor::with_options(&o).unwrap();
    let info = p.stats_json();
    assert!(info.contains("\"mode\":\"enhanced\""), "{info}");
    if info.contains("\"model_source\":\"embedded\"") {
        assert!(info.contains("\"family\":\"demucs\""), "{info}");
        assert!(info.contains("\"algorithmic_latency_ms\":16.0"), "{info}");
        assert_eq!(p.latency_frames(), 768 + 255);
        // Demucs computes no voice probability: a VAD gate is refused, off is fine.
        assert_eq!(p.set_vad_gate(0.5, 100.0).unwrap_err().kind(), ErrorKind::Unsupported);
        p.set_vad_gate(0.0, 100.0).unwrap();
    }
    // Quiet white noise (no voice) is suppressed: the model did something.
    let input = white(24000, 9);
    let mut out = vec![0.0f32; input.len()];
    for (i, o) in input.chunks(1000).zip(out.chunks_mut(1000)) {
        p.process_audio(i, o).unwrap();
    }
    assert!(out.iter().all(|x| x.is_finite()));
    let lat = p.latency_frames();
    let e_out: f64 = out[lat..].iter().map(|&y| (y as f64) * (y as f64)).sum();
    let e_in: f64 = input[..input.len() - lat].iter().map(|&x| (x as f64) * (x as f64)).sum();
    assert!(e_out < 0.1 * e_in, "output energy {e_out}, input {e_in}");
}
