#!/usr/bin/env python3
"""Checks the enhanced model's pipeline (enhanced_pack / enhanced_train / enhanced_export):
  * pack codec: delta + zlib int16 coding round-trips exactly (full-scale steps included, where
    the int16 differences wrap);
  * mixer (on the CPU, a synthetic pack; no shared data needed): the same seed gives the same
    batch, another seed another; with the augmentations off the mixture's SNR against the
    active speech RMS is the drawn one (checked to 0.05 dB against a float64 recomputation
    with the generator replayed) and the peak level lies in peak_dbfs; the reverb, clipping,
    44.1 kHz, gap and noise-only augmentations keep shapes and give finite signals;
  * training: two steps on the CPU write last.pt and model.pt; --resume continues from step 2
    to 3 (the log has steps 2 and 3);
  * export (needs onnx, onnxruntime, denoiser and the models/demucs C shim
    libghostnv_demucs_capi.so under $GHOSTNV_BINARY_DIR or --capi): a random 48 kHz
    resample-1 Demucs with the shipped hyper-parameters but hidden 8, exported and converted
    by enhanced_export.py: onnxruntime vs PyTorch and our streaming engine vs DemucsStreamer
    (relative error <= 1e-4), fp16 vs fp32 >= 35 dB; the same weights as a skip-delayed
    network (skip_delay 256): metadata and latency, the engine offline vs SkipDelayDemucs and
    streaming vs SkipDelayDemucs with the normalisation off (<= 1e-4); the converter refuses a
    skip delay that is not a multiple of the hop or differs from the output delay;
  * losses (enhanced_train): SI-SDR vs a float64 numpy reference; band_limit passes / stops
    tones; the band-masked STFT and compressed complex spectral losses ignore differences above
    each item's bandwidth; the compressed loss sees a sign flip the log-magnitude loss cannot;
    FFT resampling 16 -> 48 kHz; the mixer's per-item bandwidth;
  * Opus pack (enhanced_opuspack.encode_opus + enhanced_train.load_opus_pack through
    libsndfile/ctypes; skipped without ffmpeg/libopus or a libsndfile that reads Opus): tones at
    24 and 48 kHz come back at 48 kHz with their frequency, length and level; --debian given
    twice takes both folders' sources (a held-out-language voice of a volunteer package
    dropped), once only its own, and a folder name in both is refused;
  * widening (enhanced_train.widen_state_dict): a random hidden-8 Demucs widened to hidden 12
    (max_hidden 32, so the LSTM keeps its size) gives the narrow model's output to float
    rounding on random input, and one backward pass reaches the weights from the new units;
  * --set overrides (nested keys) and a training step with the PESQ-like loss on a model
    widened by --widen-from (log has the "pesq" term, the checkpoint has hidden 12);
  * enhanced_ckpt: int8 differences from a base round-trip within half a quantisation step
    per row, tensors without a base in fp16;
  * step-speed options (session 13; speed/*): EmaAverage's foreach update equals the loop bit
    for bit; rfft_freqs (the cached bin frequencies) equals rfftfreq; torch.compile of the step's forward equals eager on one batch (loss terms 1e-5,
    gradient 1e-4 relative); three training steps with ema_foreach + fused_adam (1e-5 / 1e-6)
    and with compile=default (losses 1e-4, weights within Adam's 2 lr per step, <= 1 % of
    them off by > 0.01 lr) agree with the eager run; compile_cache is written
    and reloaded (the same numbers); a compile failing at torch.compile or at the first step
    falls back to exactly the eager run and says so; an unknown compile mode is refused;
  * models/weights/enhanced.gnvm, when present: family demucs, 48 kHz, hop 256, algorithmic
    latency 512 samples + its skip delay (= output_delay; 256 since session 11), the
    hyper-parameters of configs/enhanced.json.

  python3 tools/train/tests/enhanced_test.py [--capi build/models/demucs/libghostnv_demucs_capi.so]
Exit 0 = pass, 1 = fail, 77 = skipped (python3 lacks torch, numpy or denoiser).
"""

import argparse
import json
import os
import pathlib
import struct
import subprocess
import sys
import tempfile
import traceback

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
REPO = HERE.parents[2]

try:
    import numpy as np
    import torch
    import denoiser.demucs  # noqa: F401
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)

import enhanced_pack  # noqa: E402
import enhanced_train as et  # noqa: E402

FAILS = []


def check(name, ok, msg=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {msg}")
    if not ok:
        FAILS.append(name)


def synthetic_pack(path, rng):
    """A pack in enhanced_pack's layout from random signals (two voices, one at 24 kHz, and
    two noises)."""
    index, entries = [], []
    srcs = [("v48", "speech", 48000, 3.0), ("v24", "speech", 24000, 2.0),
            ("n1", "noise", 48000, 1.5), ("n2", "noise", 48000, 0.7)]
    for name, split, rate, sec in srcs:
        n = int(sec * rate)
        t = np.arange(n) / rate
        if split == "speech":
            x = 0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
        else:
            x = 0.2 * rng.standard_normal(n)
        index.append(dict(name=name, split=split, kind="clips", rate=rate, bandwidth_hz=8000.0))
        entries.append([x])
    enhanced_pack.write_pack(path, index, entries)


def aug(**kw):
    a = dict(snr_db=[-5.0, 25.0], peak_dbfs=[-35.0, -1.0], eq_db=0.0, p_gap=0.0, p_reverb=0.0,
             rt60=[0.15, 0.6], p_clip=0.0, p_441=0.0, p_noise_only=0.0)
    a.update(kw)
    return a


def test_codec(rng):
    x = np.concatenate([rng.uniform(-1, 1, 1001), [1.0, -1.0, 1.0, -1.0, 0.0],
                        np.zeros(7), rng.uniform(-0.01, 0.01, 113)]).astype(np.float32)
    q = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    y = enhanced_pack.decode(enhanced_pack.encode(x))
    check("codec/roundtrip", np.array_equal(q, y), f"{x.size} samples, max |diff| "
          f"{int(np.abs(q.astype(int) - y.astype(int)).max())}")
    e = enhanced_pack.decode(enhanced_pack.encode(np.zeros(0, np.float32)))
    check("codec/empty", e.size == 0, "")


def test_mixer(tmp, rng):
    path = os.path.join(tmp, "pack.npz")
    synthetic_pack(path, rng)
    speech, noise = et.load_pack(path, torch.device("cpu"))
    check("pack/upsample", abs(speech[1][1].numel() - 96000) <= 1,
          f"24 kHz source of 2 s -> {speech[1][1].numel()} samples at 48 kHz")
    m = et.GpuMixer(speech, noise, aug(), torch.device("cpu"))
    L = 9600
    a1, c1 = m.batch(6, L, 11)
    a2, c2 = m.batch(6, L, 11)
    a3, _ = m.batch(6, L, 12)
    check("mixer/reproducible", torch.equal(a1, a2) and torch.equal(c1, c2), "same seed")
    check("mixer/seed", not torch.equal(a1, a3), "another seed differs")
    check("mixer/shape", tuple(a1.shape) == (6, 1, L) and tuple(c1.shape) == (6, 1, L), "")
    # SNR: noise = noisy - clean; the drawn SNR is replayed from the generator's stream.
    B = 64
    noisy, clean = m.batch(B, L, 5)
    noisy, clean = noisy[:, 0].double(), clean[:, 0].double()
    nz = noisy - clean
    fr = clean[:, : L // 480 * 480].reshape(B, -1, 480).pow(2).mean(-1)
    act = fr > fr.amax(1, keepdim=True) * 1e-4
    s_rms = torch.sqrt((fr * act).sum(1) / act.sum(1).clamp(min=1))
    snr = 20 * torch.log10(s_rms / torch.sqrt(nz.pow(2).mean(1)))
    g = torch.Generator()
    g.manual_seed(5)
    torch.multinomial(m.s_w, B, replacement=True, generator=g)
    torch.rand(B, generator=g)
    torch.multinomial(m.n_w, B, replacement=True, generator=g)
    for _ in range(4):   # nstart, gap use, gap length, gap start
        torch.rand(B, generator=g)
    for _ in range(2):   # the EQ of speech and noise (drawn even with eq_db 0)
        torch.rand(B, 4, generator=g)
        torch.rand(B, 4, generator=g)
        torch.rand(B, 1, generator=g)
    torch.rand(B, generator=g)   # reverb
    want = -5.0 + 30.0 * torch.rand(B, generator=g).double()
    live = s_rms > 1e-6
    err = float((snr[live] - want[live]).abs().max())
    check("mixer/snr", err < 0.05 and int(live.sum()) > B // 2,
          f"max |SNR - drawn| {err:.4f} dB over {int(live.sum())} items")
    peak = 20 * torch.log10(noisy.abs().amax(1))
    check("mixer/peak", bool((peak >= -35.01).all() and (peak <= -0.99).all()),
          f"peaks {float(peak.min()):.2f}..{float(peak.max()):.2f} dBFS")
    m2 = et.GpuMixer(speech, noise, aug(eq_db=6.0, p_gap=1.0, p_reverb=1.0, p_441=1.0,
                                        p_clip=1.0, p_noise_only=0.2), torch.device("cpu"))
    n2, c2 = m2.batch(8, L, 3)
    check("mixer/augment", bool(torch.isfinite(n2).all() and torch.isfinite(c2).all())
          and tuple(n2.shape) == (8, 1, L), "all augmentations on: finite")
    bw = m2.last_bw
    check("mixer/bandwidth", bw is not None and tuple(bw.shape) == (8,)
          and bool(((bw <= 22050.0) | (bw == 24000.0)).all()),
          f"44.1 kHz round trip on every item caps the bandwidth: {bw.tolist()}")
    return path


def test_speed(rng):
    """Speed/pitch perturbation (session 11): a 1 kHz tone cropped at rate r comes back at
    r kHz with its level, rate 1 is the plain crop bit for bit, and a mixer with every new
    augmentation on gives finite batches whose bandwidth follows the rate."""
    dev = torch.device("cpu")
    sr = et.SR
    n = 5 * sr
    tone = torch.from_numpy((0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(n) / sr))
                            .astype(np.float32))
    m = et.GpuMixer([("tone", tone)], [("hiss", torch.from_numpy(
        rng.standard_normal(n).astype(np.float32) * 0.1))], aug(), dev)
    L = 9601   # odd
    src = torch.zeros(5, dtype=torch.long)
    start = torch.tensor([0, 1234, 50000, 200000, 7])
    rate = torch.tensor([1.0, 1.1, 0.9, 1.18, 1.0])
    y = m._crop_speed(m.s_pool, m.s_off, m.s_len, src, start, L, rate)
    plain = m._crop(m.s_pool, m.s_off, m.s_len, src, start, L)
    check("speed/rate1-exact", torch.equal(y[0], plain[0]) and torch.equal(y[4], plain[4]), "")
    worst_f = worst_a = 0.0
    for i in (1, 2, 3):
        x = y[i].double().numpy()
        win = np.hanning(L)
        spec = np.abs(np.fft.rfft(x * win, 8 * L))
        f = np.argmax(spec) * sr / (8 * L)
        worst_f = max(worst_f, abs(f - 1000.0 * float(rate[i])))
        worst_a = max(worst_a, abs(np.sqrt(2 * np.mean(x[1000:-1000] ** 2)) - 0.5))
    check("speed/pitch", worst_f < 3.0 and worst_a < 0.01,
          f"max |f - 1000 r| {worst_f:.2f} Hz, max |amplitude - 0.5| {worst_a:.4f}")
    et.BANDWIDTH["tone"] = et.BANDWIDTH["tone2"] = 8000.0
    m2 = et.GpuMixer([("tone", tone), ("tone2", tone * 0.5)],
                     [("hiss", tone * 0.0 + 0.01), ("hum", tone * 0.2)],
                     aug(p_speed=1.0, speed=[0.85, 1.18], p_noise_speed=1.0,
                         noise_speed=[0.7, 1.4], p_noise2=1.0), dev)
    a1, c1 = m2.batch(16, L, 4)
    a2, c2 = m2.batch(16, L, 4)
    bw = m2.last_bw
    check("speed/mixer", bool(torch.isfinite(a1).all() and torch.isfinite(c1).all())
          and torch.equal(a1, a2) and torch.equal(c1, c2) and tuple(a1.shape) == (16, 1, L),
          "all new augmentations on: finite, reproducible")
    check("speed/bandwidth", bool((bw >= 8000.0 * 0.85 - 1).all() and (bw <= 8000.0 * 1.18 + 1).all()
                                  and (bw != 8000.0).any()),
          f"bandwidths {sorted(set(round(v) for v in bw.tolist()))}")


def test_noise_tilt(rng):
    """The low-frequency tilt (session 16): white noise tilted by -6 dB/octave has its 250 Hz
    band 24 dB above its 4 kHz band (0 dB untilted); a slope of 0 changes nothing; absent keys
    draw nothing (older configs see the batches they saw before); with p_noise_tilt 1 the
    mixer's noise is low-frequency heavy and the drawn SNRs still hold."""
    dev = torch.device("cpu")
    sr = et.SR
    L = 48001   # odd
    white = torch.from_numpy(rng.standard_normal((3, L)).astype(np.float32))
    m = et.GpuMixer([("s", white[0] * 0.1)], [("n", white[1])], aug(), dev)
    y = m._tilt(white, torch.tensor([-6.0, 0.0, 3.0]))

    def band_db(x, lo, hi):
        X = np.abs(np.fft.rfft(x.double().numpy())) ** 2
        f = np.fft.rfftfreq(x.shape[-1], 1 / sr)
        return 10 * np.log10(X[(f >= lo) & (f < hi)].mean())

    def tilt_db(x):   # octave bands around 250 Hz and 4 kHz: 4 octaves apart
        return band_db(x, 177, 354) - band_db(x, 2828, 5657)

    d0, dm6, dp3 = tilt_db(white[0]), tilt_db(y[0]), tilt_db(y[2])
    check("tilt/slope", abs((dm6 - d0) - 24.0) < 1.0 and abs((dp3 - tilt_db(white[2])) + 12.0) < 1.0,
          f"-6 dB/oct: {dm6 - d0:.2f} dB over 4 octaves (24), +3: {dp3 - tilt_db(white[2]):.2f} (-12)")
    flat = float((y[1] - white[1]).abs().max())
    check("tilt/zero", flat < 1e-5, f"slope 0: max |diff| {flat:.2e}")
    spk = [("s", torch.from_numpy((0.1 * np.sin(2 * np.pi * 700 * np.arange(3 * sr) / sr))
                                  .astype(np.float32)))]
    nzs = [("n", torch.from_numpy(rng.standard_normal(3 * sr).astype(np.float32) * 0.1))]
    base = et.GpuMixer(spk, nzs, aug(), dev).batch(8, 9600, 21)
    off = et.GpuMixer(spk, nzs, aug(p_noise_tilt=0.0), dev).batch(8, 9600, 21)
    check("tilt/absent", torch.equal(base[0], off[0]) and torch.equal(base[1], off[1]),
          "p_noise_tilt 0 = the batches of a config without it")
    B, Lb = 32, 9600
    on = et.GpuMixer(spk, nzs, aug(p_noise_tilt=1.0, noise_tilt_db_oct=[-6.0, -6.0]), dev)
    noisy, clean = on.batch(B, Lb, 21)
    nz = (noisy - clean)[:, 0]
    bnz = (base[0] - base[1])[:, 0]
    lf = np.mean([band_db(nz[i], 100, 700) - band_db(nz[i], 3000, 12000) for i in range(8)])
    lf0 = np.mean([band_db(bnz[i], 100, 700) - band_db(bnz[i], 3000, 12000) for i in range(8)])
    c = clean[:, 0].double()
    fr = c[:, : Lb // 480 * 480].reshape(B, -1, 480).pow(2).mean(-1)
    act = fr > fr.amax(1, keepdim=True) * 1e-4
    s_rms = torch.sqrt((fr * act).sum(1) / act.sum(1).clamp(min=1))
    snr = 20 * torch.log10(s_rms / torch.sqrt(nz.double().pow(2).mean(1)))
    live = s_rms > 1e-6
    check("tilt/mixer", lf - lf0 > 15.0 and bool(torch.isfinite(noisy).all())
          and bool(((snr[live] > -5.05) & (snr[live] < 25.05)).all()) and int(live.sum()) > B // 2,
          f"noise 100-700 Hz vs 3-12 kHz: {lf:.1f} dB (untilted {lf0:.1f}); SNRs "
          f"{float(snr[live].min()):.2f}..{float(snr[live].max()):.2f} dB")


def test_snr_ranges(rng):
    """aug.snr_db as weighted ranges (session 17): each range gets its weight's share of the
    items, uniform inside it; the plain [lo, hi] form draws what it drew before; bad ranges fail;
    the mixer's measured SNRs follow the ranges."""
    r = torch.rand(200000, generator=torch.Generator().manual_seed(5))
    plain = et.snr_draw([-5.0, 30.0], r)
    check("snr/plain", torch.equal(plain, -5.0 + 35.0 * r), "the [lo, hi] form changed")
    x = et.snr_draw([[-15, 15, 0.8], [15, 25, 0.2], [40, 40, 0.0]], r)
    hi = float((x >= 15).float().mean())
    lo_part = x[x < 15]
    h = torch.histc(lo_part, bins=6, min=-15, max=15) / lo_part.numel()
    check("snr/ranges", abs(hi - 0.2) < 0.005 and float(x.min()) >= -15 and float(x.max()) <= 25
          and bool((h - 1 / 6).abs().max() < 0.01) and abs(float(x[x >= 15].mean()) - 20) < 0.1,
          f"share >= 15 dB {hi:.4f} (0.2), range {float(x.min()):.2f}..{float(x.max()):.2f}, "
          f"low-range histogram {h.numpy().round(3)}")
    bad = 0
    for spec in ([[0, 10]], [[10, 0, 1]], [[0, 10, -1], [0, 5, 2]], [[0, 10, 0]]):
        try:
            et.snr_draw(spec, r[:4])
        except ValueError:
            bad += 1
    check("snr/bad", bad == 4, f"{bad} of 4 bad specs refused")
    sr = et.SR
    spk = [("s", torch.from_numpy((0.1 * np.sin(2 * np.pi * 700 * np.arange(3 * sr) / sr))
                                  .astype(np.float32)))]
    nzs = [("n", torch.from_numpy(rng.standard_normal(3 * sr).astype(np.float32) * 0.1))]
    B, Lb = 64, 9600
    noisy, clean = et.GpuMixer(spk, nzs, aug(snr_db=[[-3.0, -2.0, 1.0], [21.0, 22.0, 1.0]],
                                             p_noise_only=0.0, p_gap=0.0, p_clip=0.0,
                                             p_441=0.0, p_reverb=0.0),
                               torch.device("cpu")).batch(B, Lb, 23)
    c = clean[:, 0].double()
    fr = c[:, : Lb // 480 * 480].reshape(B, -1, 480).pow(2).mean(-1)
    act = fr > fr.amax(1, keepdim=True) * 1e-4
    s_rms = torch.sqrt((fr * act).sum(1) / act.sum(1).clamp(min=1))
    snr = 20 * torch.log10(s_rms / torch.sqrt((noisy - clean)[:, 0].double().pow(2).mean(1)))
    low = int(((snr > -3.05) & (snr < -1.95)).sum())
    high = int(((snr > 20.95) & (snr < 22.05)).sum())
    check("snr/mixer", low + high == B and low > B // 5 and high > B // 5,
          f"{low} items at -3..-2 dB, {high} at 21..22 dB of {B}")


def test_train(tmp, pack):
    cfg = json.loads((REPO / "tools/train/configs/enhanced.json").read_text())
    cfg["model"]["hidden"] = 4
    cfg["steps"] = 10
    cfg["log_every"] = 1
    cfg["aug"]["p_reverb"] = 0.0   # a 0.6 s impulse response on 0.1 s crops is all tail
    cp = os.path.join(tmp, "cfg.json")
    pathlib.Path(cp).write_text(json.dumps(cfg))
    work = os.path.join(tmp, "work")
    base = ["--config", cp, "--pack", pack, "--work-dir", work, "--device", "cpu",
            "--batch-size", "2", "--segment", "0.1"]
    rc1 = et.main(base + ["--steps", "2"])
    ok1 = rc1 == 0 and os.path.exists(os.path.join(work, "last.pt")) and \
        os.path.exists(os.path.join(work, "model.pt"))
    rc2 = et.main(base + ["--steps", "3", "--resume"])
    steps = [json.loads(l)["step"] for l in open(os.path.join(work, "log.jsonl"))]
    ck = torch.load(os.path.join(work, "last.pt"), map_location="cpu", weights_only=False)
    check("train/checkpoint+resume", ok1 and rc2 == 0 and steps == [1, 2, 3] and ck["step"] == 3,
          f"log steps {steps}, checkpoint step {ck['step']}")
    # the run's configuration as trained, overrides applied; a misplaced key stops the run
    w3 = os.path.join(tmp, "work3")
    rc3 = et.main(base[:5] + [w3] + base[6:] + ["--steps", "1", "--set", "aug.p_noise_tilt=0.5",
                                                "--set", "aug.snr_db=[[0, 5, 1], [20, 25, 1]]"])
    ran = json.loads(pathlib.Path(w3, "config.json").read_text()) if rc3 == 0 else {}
    try:
        et.main(base[:5] + [os.path.join(tmp, "work4")] + base[6:]
                + ["--steps", "1", "--set", "p_noise_tilt=0.5"])
        refused = False
    except SystemExit as e:
        refused = e.code != 0 and not os.path.exists(os.path.join(tmp, "work4", "last.pt"))
    check("train/config-as-run", ran.get("aug", {}).get("p_noise_tilt") == 0.5
          and ran["aug"]["snr_db"] == [[0, 5, 1], [20, 25, 1]] and ran["model"]["hidden"] == 4
          and refused, f"rc {rc3}, aug {ran.get('aug', {}).get('snr_db')}, misplaced key "
          f"{'refused' if refused else 'accepted'}")
    return cfg


def small_cfg(hidden):
    cfg = json.loads((REPO / "tools/train/configs/enhanced_s8.json").read_text())
    cfg["model"].update(hidden=hidden, max_hidden=32)
    return cfg


def test_widen(rng):
    torch.manual_seed(3)
    small = et.build_model(small_cfg(8))
    for prm in small.parameters():   # not the (rescaled) initialisation: any weights
        prm.data.add_(0.05 * torch.randn_like(prm))
    big = et.build_model(small_cfg(12))
    big.load_state_dict(et.widen_state_dict(small.state_dict(), big))
    x = torch.from_numpy(rng.standard_normal((3, 1, small.valid_length(2999)))).float()
    with torch.no_grad():
        a, b = small(x), big(x)
    err = float((a - b).abs().max() / a.abs().max())
    check("widen/function", tuple(a.shape) == tuple(b.shape) and err < 1e-5,
          f"hidden 8 -> 12: rel. diff {err:.1e}")
    big(x).pow(2).mean().backward()
    gcons = float(big.encoder[1][0].weight.grad[:, 8:].abs().sum())
    gdec = float(big.decoder[-1][0].weight.grad[:, 8:].abs().sum())
    check("widen/trainable", gcons > 0 and gdec > 0,
          f"gradient on the weights from new units: encoder {gcons:.2e}, decoder {gdec:.2e}")
    bad = et.build_model(dict(small_cfg(12), model=dict(small_cfg(12)["model"], max_hidden=64)))
    try:
        et.widen_state_dict(small.state_dict(), bad)
        check("widen/lstm-size", False, "LSTM size change accepted")
    except ValueError as e:
        check("widen/lstm-size", True, str(e)[:60])


def test_config_keys():
    """Session 17: a key at the wrong level (p_noise_tilt at the top level; GpuMixer reads
    aug.p_noise_tilt) was silently ignored by a whole H200 call. The schema must know every key
    the scripts read (scanned from their source), every committed config must pass it, and an
    override the schema does not know fails with the section that knows it."""
    import re
    here = pathlib.Path(__file__).resolve().parent.parent
    src = "".join((here / f).read_text() for f in ("enhanced_train.py", "enhanced_export.py",
                                                     "enhanced_ckpt.py", "train_common.py"))
    read = set(re.findall(r'cfg(?:\.get\(|\[)"([a-z_0-9]+)"', src))
    missing = sorted(read - et.CONFIG_KEYS)
    check("keys/top-level", not missing and len(read) > 30, f"read {len(read)}, unknown {missing}")
    mix = src[src.index("class GpuMixer"):]
    mix = mix[:mix.index("\nclass ") if "\nclass " in mix else len(mix)]
    aug_read = set(re.findall(r'\ba(?:\.get\(|\[)"([a-z_0-9]+)"', mix))
    check("keys/aug", aug_read and not (aug_read - et.AUG_KEYS) and "p_noise_tilt" in aug_read,
          f"GpuMixer reads {sorted(aug_read)}; unknown {sorted(aug_read - et.AUG_KEYS)}")
    bad = {f.name: et.check_config(json.loads(f.read_text()))
           for f in sorted((here / "configs").glob("enhanced*.json"))}
    check("keys/configs", len(bad) >= 10 and not any(bad.values()),
          json.dumps({k: v for k, v in bad.items() if v}))
    check("keys/check-finds", et.check_config({"lr": 1, "p_noise_tilt": 0.5,
                                               "aug": {"snr": 1}, "model": {"hidden": 4}})
          == ["p_noise_tilt", "aug.snr"], "check_config misses misplaced keys")
    base = {"lr": 1.0, "aug": {"snr_db": [0, 1]}, "model": {"hidden": 48}, "ema": {"d": 1}}

    def refused(sets, schema, want):
        try:
            et.apply_overrides(json.loads(json.dumps(base)), sets, schema)
            return False
        except ValueError as e:
            return want in str(e)
    check("keys/misplaced", refused(["p_noise_tilt=0.5"], et.CONFIG_SCHEMA, "aug.p_noise_tilt")
          and refused(["p_noise_tilt=0.5"], {"aug": et.AUG_KEYS}, "aug.p_noise_tilt")
          and refused(["model.p_gap=0.5"], et.CONFIG_SCHEMA, "aug.p_gap")
          and refused(["aug.snr=[1,2]"], et.CONFIG_SCHEMA, "unknown")
          and refused(["lr_finale=0.1"], et.CONFIG_SCHEMA, "unknown")
          and refused(["lr=[1,"], et.CONFIG_SCHEMA, "not JSON")
          and refused(["lr"], et.CONFIG_SCHEMA, "KEY=JSON"), "a wrong key was accepted")
    ok = et.apply_overrides(json.loads(json.dumps(base)),
                            ["aug.p_noise_tilt=0.5", "aug.noise_tilt_db_oct=[-6.0,0.0]",
                             "lr=2", "skip_delay=256", "model.growth=2", "ema.e=3"],
                            et.CONFIG_SCHEMA)
    check("keys/accepted", ok["aug"]["p_noise_tilt"] == 0.5 and ok["lr"] == 2
          and ok["skip_delay"] == 256 and ok["model"]["growth"] == 2 and ok["ema"]["e"] == 3,
          json.dumps(ok))
    with tempfile.TemporaryDirectory() as tmp:   # a file with a misplaced key: refused too
        f = pathlib.Path(tmp, "bad.json")
        f.write_text(json.dumps({**base, "p_noise_tilt": 0.5}))
        try:
            et.load_config(f, [])
            file_refused = False
        except ValueError as e:
            file_refused = "p_noise_tilt" in str(e)
        f.write_text(json.dumps(base))
        loaded = et.load_config(f, ["aug.p_noise_tilt=0.5"])
    check("keys/load-config", file_refused and loaded["aug"]["p_noise_tilt"] == 0.5,
          f"misplaced key in the file {'refused' if file_refused else 'accepted'}")
    e2e = et.apply_overrides({"spec_weight": 1, "aug": {}},
                             ["spec_fft=512", "aug.p_noise_tilt=1"], {"aug": et.AUG_KEYS})
    check("keys/e2e", e2e == {"spec_weight": 1, "spec_fft": 512, "aug": {"p_noise_tilt": 1}},
          json.dumps(e2e))


def test_overrides_and_pesq(tmp, pack):
    cfg = et.apply_overrides({"a": 1, "aug": {"snr_db": [0, 1], "p": 0.1}},
                             ["aug.snr_db=[-7.0, 25]", "b.c=2", "a=null"])
    check("train/overrides", cfg == {"a": None, "aug": {"snr_db": [-7.0, 25], "p": 0.1},
                                     "b": {"c": 2}}, json.dumps(cfg))
    cfg = small_cfg(8)
    cfg["aug"]["p_reverb"] = 0.0
    cp = os.path.join(tmp, "cfg8.json")
    pathlib.Path(cp).write_text(json.dumps(cfg))
    small = et.build_model(cfg)
    sp = os.path.join(tmp, "small.pt")
    torch.save(small.state_dict(), sp)
    work = os.path.join(tmp, "work_w")
    rc = et.main(["--config", cp, "--pack", pack, "--work-dir", work, "--device", "cpu",
                  "--batch-size", "2", "--segment", "0.2", "--steps", "2", "--set", "log_every=1",
                  "--set", "init_from=null", "--set", "model.hidden=12", "--widen-from", sp,
                  "--set", "val_batches=0"])
    logs = [json.loads(l) for l in open(os.path.join(work, "log.jsonl"))]
    sd = torch.load(os.path.join(work, "model.pt"), map_location="cpu", weights_only=True)
    check("train/pesq+widen", rc == 0 and len(logs) == 2 and all("pesq" in r for r in logs)
          and all(np.isfinite(r["loss"]) for r in logs)
          and tuple(sd["encoder.0.0.weight"].shape) == (12, 1, 8),
          f"steps {[r['step'] for r in logs]}, pesq {[round(r['pesq'], 4) for r in logs]}, "
          f"encoder.0.0 {tuple(sd['encoder.0.0.weight'].shape)}")


def test_output_delay(tmp, pack, rng):
    # delay_align: est[t] is scored against clean[t - D]; an output that is the clean signal
    # D samples late has zero error after alignment, the undelayed one does not
    B, L, D = 3, 997, 37
    clean = torch.from_numpy(rng.standard_normal((B, 1, L))).float()
    noisy = clean + 0.1
    late = torch.cat([torch.zeros(B, 1, D), clean[..., :L - D]], -1)
    e, c, n = et.delay_align(late, clean, noisy, D)
    e0, c0, _ = et.delay_align(clean, clean, noisy, D)
    same = et.delay_align(late, clean, noisy, 0)
    check("train/delay-align", e.shape[-1] == c.shape[-1] == n.shape[-1] == L - D
          and float((e - c).abs().max()) == 0.0 and float((n - c - 0.1).abs().max()) < 1e-6
          and float((e0 - c0).abs().max()) > 0.1 and all(a is b for a, b in
                                                        zip(same, (late, clean, noisy))),
          f"aligned length {e.shape[-1]}, error of the late copy {float((e - c).abs().max())}")
    cfg = small_cfg(4)
    cfg["aug"]["p_reverb"] = 0.0
    cp = os.path.join(tmp, "cfg4d.json")
    pathlib.Path(cp).write_text(json.dumps(cfg))
    work = os.path.join(tmp, "work_d")
    rc = et.main(["--config", cp, "--pack", pack, "--work-dir", work, "--device", "cpu",
                  "--batch-size", "2", "--segment", "0.2", "--steps", "2", "--set", "log_every=1",
                  "--set", "init_from=null", "--set", "output_delay=64", "--set", "val_batches=1"])
    logs = [json.loads(l) for l in open(os.path.join(work, "log.jsonl"))]
    val = json.loads(open(os.path.join(work, "val.json")).read())
    check("train/output-delay", rc == 0 and len(logs) == 2
          and all(np.isfinite(r["loss"]) for r in logs) and np.isfinite(val["model"]),
          f"losses {[round(r['loss'], 4) for r in logs]}, val {val}")
    try:
        et.main(["--config", cp, "--pack", pack, "--work-dir", work + "x", "--device", "cpu",
                 "--batch-size", "2", "--segment", "0.2", "--steps", "1",
                 "--set", "init_from=null", "--set", "output_delay=100000"])
        check("train/output-delay-range", False, "an output delay longer than the segment ran")
    except SystemExit as ex:
        check("train/output-delay-range", "output_delay" in str(ex), str(ex))


def lookahead_model(delay, hidden=4, depth=4, normalize=True):
    torch.manual_seed(11)
    cfg = small_cfg(hidden)
    cfg["model"]["depth"] = depth
    m = et.skip_delay_demucs_class()(skip_delay=delay, **et.model_kwargs(cfg))
    for prm in m.parameters():   # not the (rescaled) initialisation: any weights
        prm.data.add_(0.05 * torch.randn_like(prm))
    m.normalize = normalize
    return m.eval()


def test_skip_delay(rng):
    # the frame shifts: D = 256 -> 64, 16, 4, 1 frames at levels 1..4 (stride 4); D not a
    # whole number of deepest-level frames is refused
    check("lookahead/frames", et.skip_frames(4, 4, 1, 256) == [64, 16, 4, 1]
          and et.skip_frames(4, 4, 1, 512) == [128, 32, 8, 2]
          and et.skip_frames(4, 4, 2, 128) == [64, 16, 4, 1]
          and et.skip_frames(4, 4, 1, 0) == [0, 0, 0, 0], str(et.skip_frames(4, 4, 1, 256)))
    try:
        et.skip_frames(4, 4, 1, 128)
        check("lookahead/frames-refused", False, "skip_delay 128 accepted at stride^depth 256")
    except ValueError as e:
        check("lookahead/frames-refused", "256" in str(e), str(e))
    # skip_delay 0: the subclass's forward computes what Demucs.forward computes
    from denoiser.demucs import Demucs
    m0 = lookahead_model(0)
    x = torch.from_numpy(rng.standard_normal((2, 1, 3001))).float()
    with torch.no_grad():
        a, b = m0(x), Demucs.forward(m0, x)
    check("lookahead/delay0-is-demucs", type(m0) is not Demucs and tuple(a.shape) == (2, 1, 3001)
          and float((a - b).abs().max()) == 0.0, f"max diff {float((a - b).abs().max()):.1e}")
    # the decoder's inputs: decoder i gets (the LSTM's output for i = 0, else decoder i-1's
    # output) + encoder level depth-i's output shifted by D / 4^(depth-i) frames, zeros first;
    # the shift is written here by index, independently of delay_frames
    D = 256
    m = lookahead_model(D)
    m.load_state_dict(m0.state_dict())
    enc, dec_in, dec_out, lstm = [], [], [], []
    hooks = [e.register_forward_hook(lambda mod, i, o: enc.append(o)) for e in m.encoder]
    hooks += [d.register_forward_pre_hook(lambda mod, i: dec_in.append(i[0])) for d in m.decoder]
    hooks += [d.register_forward_hook(lambda mod, i, o: dec_out.append(o)) for d in m.decoder]
    hooks.append(m.lstm.register_forward_hook(lambda mod, i, o: lstm.append(o[0])))
    x = torch.from_numpy(rng.standard_normal((2, 1, 9000))).float()
    with torch.no_grad():
        y = m(x)
    for h in hooks:
        h.remove()
    worst, shifts = 0.0, []
    for i in range(4):
        lv = 3 - i
        k = D // 4 ** (lv + 1)
        shifts.append(k)
        prev = lstm[0].permute(1, 2, 0) if i == 0 else dec_out[i - 1]
        s = enc[lv]
        sh = torch.zeros_like(s)
        if k < s.shape[-1]:
            sh[..., k:] = s[..., :s.shape[-1] - k]
        ref = prev + sh[..., :prev.shape[-1]]
        worst = max(worst, float((dec_in[i] - ref).abs().max() / ref.abs().max()))
    check("lookahead/skip-shifts", shifts == [1, 4, 16, 64] and worst < 1e-6
          and enc[0].shape[-1] > 64, f"shifts (deepest first) {shifts}, rel. error {worst:.1e}")
    # causality: output[t] depends on x[..t + A] only, A = the plain network's lookahead (the
    # skip delay adds none); measured by changing x from sample p on (normalisation off: its
    # std spans the whole signal, the streaming engine's runs causally)
    def first_change(model, p, n=9000):
        xa = torch.from_numpy(rng.standard_normal((1, 1, n))).float()
        xb = xa.clone()
        xb[..., p:] += torch.from_numpy(rng.standard_normal((1, 1, n - p))).float()
        with torch.no_grad():
            d = (model(xa) - model(xb)).abs()[0, 0]
        idx = torch.nonzero(d > 0)
        return int(idx[0]) if len(idx) else n
    mp0, mp = lookahead_model(0, normalize=False), lookahead_model(D, normalize=False)
    mp.load_state_dict(mp0.state_dict())
    firsts0 = [first_change(mp0, p) for p in (3000, 4100, 5001)]
    firsts = [first_change(mp, p) for p in (3000, 4100, 5001)]
    # plain Demucs (K 8, S 4, depth 4): frame j of level 4 sees x[256 j .. 256 j + 595], the
    # decoder's output samples from frame j start at 256 j: output t sees x up to t + 595 at most
    look0 = [p - f for p, f in zip((3000, 4100, 5001), firsts0)]
    look = [p - f for p, f in zip((3000, 4100, 5001), firsts)]
    check("lookahead/causal", all(0 < a <= 595 for a in look0) and all(0 < a <= 595 for a in look),
          f"output changes from {look0} (plain) / {look} (skip delay {D}) samples before the "
          "input change")
    # (that output[t] then estimates s(t - D) is what training with output_delay D teaches;
    # train/skip-delay below runs it)


def test_skip_delay_train(tmp, pack):
    cfg = small_cfg(4)
    cfg["aug"]["p_reverb"] = 0.0
    cp = os.path.join(tmp, "cfg4s.json")
    pathlib.Path(cp).write_text(json.dumps(cfg))
    init = os.path.join(tmp, "init4s.pt")
    torch.save(et.build_model(cfg).state_dict(), init)
    work = os.path.join(tmp, "work_s")
    rc = et.main(["--config", cp, "--pack", pack, "--work-dir", work, "--device", "cpu",
                  "--batch-size", "2", "--segment", "0.2", "--steps", "2", "--set", "log_every=1",
                  "--set", f"init_from={json.dumps(init)}", "--set", "skip_delay=256",
                  "--set", "val_batches=1", "--set", "val_init=true", "--set", "running_norm=true"])
    logs = [json.loads(l) for l in open(os.path.join(work, "log.jsonl"))]
    val = json.loads(open(os.path.join(work, "val.json")).read())
    # (with the engine's running normalisation emulated: config key running_norm)
    check("train/skip-delay", rc == 0 and len(logs) == 2
          and all(np.isfinite(r["loss"]) for r in logs)
          and all(np.isfinite(val[k]) for k in ("model", "ema", "init", "noisy", "noisy_init")),
          f"losses {[round(r['loss'], 4) for r in logs]}, val {val}")
    check("train/skip-delay-output-delay",
          et.training_output_delay({"skip_delay": 256}) == 256
          and et.training_output_delay({"output_delay": 64}) == 64
          and et.training_output_delay({}) == 0, "output_delay defaults to skip_delay")
    import enhanced_export
    try:   # a skip-delayed network's output is skip_delay late: another output_delay is refused
        enhanced_export.main(["--config", cp, "--checkpoint", os.path.join(work, "model.pt"),
                              "--out", os.path.join(tmp, "skip.gnvm"), "--set", "skip_delay=256",
                              "--output-delay", "128"])
        check("export/skip-delay-mismatch-refused", False, "output_delay 128 exported")
    except SystemExit as ex:
        check("export/skip-delay-mismatch-refused", "skip_delay" in str(ex)
              and not os.path.exists(os.path.join(tmp, "skip.gnvm")), str(ex)[:90])
    try:
        et.training_output_delay({"skip_delay": 256, "output_delay": 128})
        check("train/skip-delay-mismatch", False, "output_delay 128 with skip_delay 256 accepted")
    except SystemExit as ex:
        check("train/skip-delay-mismatch", "skip_delay" in str(ex), str(ex))


def speed_run(tmp, pack, tag, sets, steps=3):
    """A few training steps of the session 13 set-up (running_norm, skip_delay 256) at hidden 8
    on the CPU; returns (log records, model, ema, stdout). No warm-up and the schedule by
    steps (not by wall time, which a compilation would shift): the same lr in every run."""
    import contextlib
    import io
    cfg = json.loads((REPO / "tools/train/configs/enhanced_s11.json").read_text())
    cfg["model"].update(hidden=8, max_hidden=64)
    cp = os.path.join(tmp, "cfg_speed.json")
    pathlib.Path(cp).write_text(json.dumps(cfg))
    work = os.path.join(tmp, f"work_speed_{tag}")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = et.main(["--config", cp, "--pack", pack, "--work-dir", work, "--device", "cpu",
                      "--batch-size", "2", "--segment", "0.3", "--steps", str(steps),
                      "--set", "log_every=1", "--set", "val_batches=0", "--set", "init_from=null",
                      "--set", "warmup_steps=1", "--set", "schedule=null",
                      "--set", "skip_delay=256",
                      "--set", "output_delay=256",
                      "--set", "running_norm=true"] + sets)
    if rc != 0:
        raise RuntimeError(f"{tag}: rc {rc}")
    logs = [json.loads(l) for l in open(os.path.join(work, "log.jsonl"))]
    model = torch.load(os.path.join(work, "model.pt"), map_location="cpu", weights_only=True)
    ema = torch.load(os.path.join(work, "ema.pt"), map_location="cpu", weights_only=True)
    return logs, model, ema, out.getvalue()


LOSS_KEYS = ("loss", "l1", "sc", "mag", "cspec", "pesq", "sisdr")


def run_diff(a, b):
    """(max relative difference of the logged loss terms over the steps, max |weight diff|,
    max |EMA diff|) between two speed_run results."""
    dl = max(abs(x[k] - y[k]) / max(abs(x[k]), 1e-6)
             for x, y in zip(a[0], b[0]) for k in LOSS_KEYS if k in x)
    dw = max(float((a[1][k] - b[1][k]).abs().max()) for k in a[1])
    de = max(float((a[2][k] - b[2][k]).abs().max()) for k in a[2])
    return dl, dw, de


def frac_off(a, b, tol=1e-6):
    """The fraction of weights of two speed_run results that differ by more than tol."""
    n = sum(int(((a[1][k] - b[1][k]).abs() > tol).sum()) for k in a[1])
    return n / sum(v.numel() for v in a[1].values())


def test_compile_grad(pack):
    """torch.compile of the training step's forward (enhanced_train.make_step_loss: network with
    the skip delay and the engine's running normalisation, and every loss term of the session
    13 config) against eager on the same batch and weights: the loss terms to 1e-5 relative and
    the whole gradient to 1e-4 relative (L2), fp32 on the CPU (Inductor fuses elementwise
    chains and reorders reductions: rounding only; a wrong term or a lost gradient path is
    orders of magnitude more)."""
    cfg = json.loads((REPO / "tools/train/configs/enhanced_s11.json").read_text())
    cfg["model"].update(hidden=8, max_hidden=64)
    cfg = dict(cfg, skip_delay=256, output_delay=256)
    torch.manual_seed(11)
    model = et.set_running_norm(et.build_model(cfg))
    dev = torch.device("cpu")
    speech, noise = et.load_pack(pack, dev)
    mixer = et.GpuMixer(speech, noise, cfg["aug"], dev)
    noisy, clean = mixer.batch(3, model.valid_length(int(0.3 * et.SR)), 4321)
    bw = mixer.last_bw
    fn = et.make_step_loss(model, cfg, False, 256)
    params = list(model.parameters())
    le, te = fn(noisy, clean, bw)
    ge = torch.autograd.grad(le, params)
    lc, tc = torch.compile(fn, dynamic=False)(noisy, clean, bw)
    gc = torch.autograd.grad(lc, params)
    te = {k: float(v.detach()) for k, v in te.items()}
    tc = {k: float(v.detach()) for k, v in tc.items()}
    dt = max(abs(te[k] - tc[k]) / max(abs(te[k]), 1e-6) for k in te)
    num = sum(float((a - b).pow(2).sum()) for a, b in zip(ge, gc)) ** 0.5
    den = sum(float(a.pow(2).sum()) for a in ge) ** 0.5
    check("speed/compile-same-step", dt <= 1e-5 and num / den <= 1e-4 and den > 0
          and sorted(te) == sorted(tc) and len(te) == 6,
          f"terms {sorted(te)}: max rel {dt:.1e}; gradient rel {num / den:.1e} (|g| {den:.2e})")


def test_speed_options(tmp, pack):
    """Session 13's opt-in step-speed options compute what the eager step computes:
    * ema_foreach + fused_adam: the same EMA arithmetic (mul then add) and the same Adam
      (bias-corrected moments, eps after sqrt(v_hat)); rounding only. After one step the
      weights and EMA to 1e-6 absolute (a few ulp of these weights; Adam without bias
      correction or AdamW-style decay would move a weight by ~lr = 3e-4); after three the
      losses to 1e-5 relative and the weights within the bounds of the compiled run below
      (the later steps' gradients see the first step's rounding, which Adam can amplify),
      while the weights moved by far more than that from their start;
    * compile=default (torch.compile of network + losses, Inductor, fp32 on the CPU): fused
      elementwise kernels and reordered reductions, so float rounding (test_compile_grad: the
      gradient to ~1e-6). Adam turns the rounding of a near-zero gradient into up to a whole
      step of lr either way (a gradient far below the typical one has a large relative
      rounding error; measured: median 7e-5 lr, 99 % within 5e-3 lr, max 0.7 lr), so after 3
      steps: the losses to 1e-4 relative, every weight and EMA value within 2 lr per step
      (1.8e-3), and at least 99 % of the weights within 0.01 lr (3e-6);
    * compile_cache: written after the first compiled step, loaded by the next run, which then
      gives exactly the compiled run's numbers; a file that is no cache is ignored (said so);
    * a compile that fails, at torch.compile (unknown backend) or at the first call (a backend
      that raises), falls back to eager, says so, and gives exactly the eager run;
    * an unknown compile mode is refused."""
    import torch._dynamo

    eager = speed_run(tmp, pack, "eager", [])
    cfg = json.loads((REPO / "tools/train/configs/enhanced_s11.json").read_text())
    cfg["model"].update(hidden=8, max_hidden=64)
    torch.manual_seed(cfg["seed"])   # the run's initial weights (setup_torch, build_model)
    init = et.build_model(dict(cfg, skip_delay=256))
    moved = max(float((eager[1][k] - v).abs().max()) for k, v in init.state_dict().items())
    check("speed/eager-line", "steps/s over the run" in eager[3] and "; eager" in eager[3],
          [l for l in eager[3].splitlines() if "speed:" in l][0][:160])
    fast_sets = ["--set", "ema_foreach=true", "--set", "fused_adam=true"]
    one_e = speed_run(tmp, pack, "eager1", [], steps=1)
    one_f = speed_run(tmp, pack, "fast1", fast_sets, steps=1)
    _, dw1, de1 = run_diff(one_e, one_f)
    check("speed/fused_adam-step", dw1 <= 1e-6 and de1 <= 1e-6,
          f"one step: weights {dw1:.1e}, EMA {de1:.1e} (lr 3e-4)")
    fast = speed_run(tmp, pack, "fast", fast_sets)
    dl, dw, de = run_diff(eager, fast)
    off = frac_off(eager, fast, 0.01 * 3e-4)
    check("speed/ema_foreach+fused_adam", dl <= 1e-5 and dw <= 2 * 3e-4 * 3
          and de <= 2 * 3e-4 * 3 and off <= 0.01 and moved > 1e-4
          and "fused_adam, ema_foreach" in fast[3],
          f"loss rel {dl:.1e}, weights {dw:.1e} ({100 * off:.2f} % > 3e-6), EMA {de:.1e} "
          f"(weights moved {moved:.1e})")
    cache = os.path.join(tmp, "compile_cache.bin.xz")   # lzma-compressed (.xz)
    fast3 = ["--set", 'compile="default"', "--set", "ema_foreach=true", "--set",
             "fused_adam=true", "--set", f"compile_cache={json.dumps(cache)}"]
    comp = speed_run(tmp, pack, "compile", fast3)
    dl, dw, de = run_diff(eager, comp)
    off = frac_off(eager, comp, 0.01 * 3e-4)
    line = [l for l in comp[3].splitlines() if "speed:" in l][0]
    check("speed/compile", dl <= 1e-4 and dw <= 2 * 3e-4 * 3 and de <= 2 * 3e-4 * 3
          and off <= 0.01 and "compile=default (inductor" in line and "failed" not in comp[3],
          f"loss rel {dl:.1e}, weights {dw:.1e} ({100 * off:.2f} % > 3e-6), EMA {de:.1e}; "
          f"{line[line.find('first'):][:70]}")
    # compile_cache: written after the first compiled step; a run that loads it computes what
    # the compiled run computed (the same kernels: exactly)
    size = os.path.getsize(cache) if os.path.exists(cache) else 0
    again = speed_run(tmp, pack, "compile2", fast3)
    dl, dw, de = run_diff(comp, again)
    check("speed/compile-cache", size > 0 and "compile cache" in comp[3] and "loaded" in
          again[3] and dl == 0 and dw == 0 and de == 0 and "failed" not in again[3],
          f"{size} bytes; reloaded run vs compiled run: loss rel {dl:.1e}, weights {dw:.1e}")
    # the .xz file is lzma (smaller than its artifacts); a plain path round-trips the bytes
    raw = et.read_cache_file(cache) if size else b""
    plain = os.path.join(tmp, "compile_cache.bin")
    n_plain = et.write_cache_file(plain, raw) if raw else 0
    with open(cache, "rb") as f:
        magic = f.read(6)
    check("speed/compile-cache-xz", magic == b"\xfd7zXZ\x00" and 0 < size < len(raw)
          and n_plain == len(raw) == os.path.getsize(plain)
          and et.read_cache_file(plain) == raw and "MB compressed" in comp[3],
          f"{len(raw)} bytes of artifacts, {size} in the .xz file")
    junk = os.path.join(tmp, "junk_cache.bin")
    pathlib.Path(junk).write_bytes(b"not a cache")
    bad = speed_run(tmp, pack, "badbackend", ["--set", 'compile="default"', "--set",
                                              'compile_backend="ghostnv_no_such_backend"',
                                              "--set", f"compile_cache={json.dumps(junk)}"])
    dl, dw, de = run_diff(eager, bad)
    check("speed/compile-fallback-setup", dl == 0 and dw == 0 and de == 0
          and "continuing eagerly" in bad[3] and "eager (compile=default failed: torch.compile"
          in bad[3] and "ignored" in bad[3], f"loss rel {dl:.1e}, weights {dw:.1e}; "
          f"{[l for l in bad[3].splitlines() if 'continuing' in l][:1]}"[:200])

    def failing_backend(gm, example_inputs):
        raise RuntimeError("injected compile failure")
    torch._dynamo.register_backend(failing_backend, name="ghostnv_failing_backend")
    fail = speed_run(tmp, pack, "failing", ["--set", 'compile="reduce-overhead"', "--set",
                                            'compile_backend="ghostnv_failing_backend"'])
    dl, dw, de = run_diff(eager, fail)
    check("speed/compile-fallback-first-step", dl == 0 and dw == 0 and de == 0
          and "first step" in fail[3] and "injected compile failure" in fail[3]
          and "continuing eagerly" in fail[3], f"loss rel {dl:.1e}, weights {dw:.1e}; "
          f"{[l for l in fail[3].splitlines() if 'continuing' in l][:1]}"[:200])
    try:
        speed_run(tmp, pack, "badmode", ["--set", 'compile="fast"'], steps=1)
        check("speed/compile-mode-refused", False, "compile=fast accepted")
    except SystemExit as ex:
        check("speed/compile-mode-refused", "compile" in str(ex), str(ex)[:90])


def test_rfft_freqs():
    """rfft_freqs: exactly torch.fft.rfftfreq(n, 1 / SR) (even and odd n), one tensor per (n,
    device) reused (no host-to-device copy per call)."""
    ok = True
    for n in (1024, 1536, 14389):
        a = et.rfft_freqs(n, torch.device("cpu"))
        ok = ok and torch.equal(a, torch.fft.rfftfreq(n, 1 / et.SR)) and \
            et.rfft_freqs(n, torch.device("cpu")) is a
    check("speed/rfft-freqs", ok, "equal to rfftfreq, cached per size")


def test_ema_average(rng):
    """EmaAverage: the foreach update equals the per-tensor loop (bit for bit on the CPU) on a
    module with an integer buffer (BatchNorm's num_batches_tracked: copied, not averaged),
    while its parameters change between updates."""
    torch.manual_seed(5)
    net = torch.nn.Sequential(torch.nn.Conv1d(3, 5, 3), torch.nn.BatchNorm1d(5),
                              torch.nn.Linear(7, 2))
    a, b = et.EmaAverage(net, 0.99), et.EmaAverage(net, 0.99, foreach=True)
    for step in range(1, 30):
        with torch.no_grad():
            for prm in net.parameters():
                prm.add_(torch.from_numpy(rng.standard_normal(tuple(prm.shape))).float() * 0.1)
        net(torch.randn(4, 3, 9))   # training mode: running stats and the batch counter move
        a.update(step)
        b.update(step)
    same = all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    moved = float((a.state["0.weight"] - net.state_dict()["0.weight"]).abs().max())
    check("speed/ema-foreach", same and int(b.state["1.num_batches_tracked"]) == 29
          and moved > 1e-3, f"identical {same}, EMA lags the weights by {moved:.2e}, "
          f"batches {int(b.state['1.num_batches_tracked'])}")


def test_ckpt(rng):
    import enhanced_ckpt
    base = {"w": torch.from_numpy(rng.standard_normal((7, 5, 3))).float(),
            "b": torch.from_numpy(rng.standard_normal(113)).float()}
    sd = {k: v + 0.03 * torch.from_numpy(rng.standard_normal(tuple(v.shape))).float()
          for k, v in base.items()}
    sd["new"] = torch.from_numpy(rng.standard_normal((4, 4))).float()
    small = enhanced_ckpt.shrink(sd, base)
    back = enhanced_ckpt.expand(small, base)
    ok = True
    msg = []
    for k in ("w", "b"):
        d = (sd[k] - base[k]).reshape(sd[k].shape[0], -1) if sd[k].dim() > 1 else \
            (sd[k] - base[k]).reshape(1, -1)
        half = d.abs().amax(1, keepdim=True) / 127.0 / 2 + 1e-7
        e = (back[k] - sd[k]).reshape(d.shape).abs()
        ok = ok and bool((e <= half).all()) and small["tensors"][k]["q"].dtype == torch.int8
        msg.append(f"{k} max err {float(e.max()):.1e}")
    e16 = float((back["new"] - sd["new"]).abs().max())
    ok = ok and e16 < 2e-3 and "f16" in small["tensors"]["new"]
    check("ckpt/roundtrip", ok, ", ".join(msg) + f", fp16 tensor {e16:.1e}")

    # fold_lstm_bias: the LSTM computes the same; bias_hh becomes zero, bias_ih the sum; the rest
    # is untouched (an odd-sized two-layer LSTM with random biases).
    lstm = torch.nn.LSTM(13, 11, num_layers=2)
    with torch.no_grad():
        for k, v in lstm.named_parameters():
            v.copy_(torch.from_numpy(rng.standard_normal(tuple(v.shape))).float() * 0.3)
    sd = {"lstm.lstm." + k: v.detach().clone() for k, v in lstm.state_dict().items()}
    sd["encoder.0.0.bias"] = torch.ones(3)
    folded = enhanced_ckpt.fold_lstm_bias(sd)
    x = torch.from_numpy(rng.standard_normal((7, 2, 13))).float()
    with torch.no_grad():
        want = lstm(x)[0]
        lstm.load_state_dict({k[len("lstm.lstm."):]: v for k, v in folded.items()
                              if k.startswith("lstm.")})
        got = lstm(x)[0]
    err = float((got - want).abs().max())
    zero = all(float(folded[f"lstm.lstm.bias_hh_l{i}"].abs().max()) == 0 for i in (0, 1))
    summed = torch.equal(folded["lstm.lstm.bias_ih_l1"],
                         sd["lstm.lstm.bias_ih_l1"] + sd["lstm.lstm.bias_hh_l1"])
    moved = float(sd["lstm.lstm.bias_hh_l0"].abs().max()) > 0.01
    check("ckpt/fold-lstm-bias", err < 1e-5 and zero and summed and moved
          and torch.equal(folded["encoder.0.0.bias"], sd["encoder.0.0.bias"]),
          f"output change {err:.1e}, bias_hh zero {zero}, bias_ih = sum {summed}")


def test_losses(rng):
    # SI-SDR vs a float64 numpy reference
    B, L = 5, 1013
    ref = rng.standard_normal((B, L))
    est = 0.7 * ref + 0.3 * rng.standard_normal((B, L)) + 0.05
    got = et.si_sdr(torch.from_numpy(est), torch.from_numpy(ref)).numpy()
    want = []
    for e, r in zip(est, ref):
        e, r = e - e.mean(), r - r.mean()
        t = (e @ r) / (r @ r) * r
        want.append(10 * np.log10((t @ t) / ((e - t) @ (e - t))))
    err = float(np.abs(got - np.array(want)).max())
    check("loss/si_sdr", err < 1e-6, f"max |diff| vs numpy {err:.2e} dB")
    # band_limit: a 2 kHz tone passes a 6 kHz limit, a 9 kHz tone does not
    t = np.arange(4800) / 48000
    x = torch.from_numpy(np.stack([np.sin(2 * np.pi * 2000 * t), np.sin(2 * np.pi * 9000 * t)]))
    y = et.band_limit(x, torch.tensor([6000.0, 6000.0], dtype=torch.float64))
    r0 = float((y[0] - x[0]).abs().max())
    r1 = float(y[1].abs().max())
    check("loss/band_limit", r0 < 1e-9 and r1 < 1e-9, f"pass-band error {r0:.1e}, stop-band {r1:.1e}")
    # masked STFT losses: differences above each item's bandwidth do not count
    clean = torch.from_numpy(0.1 * rng.standard_normal((2, t.size))).float()   # every bin live
    hf = torch.from_numpy(0.3 * np.sin(2 * np.pi * 15000 * t) * np.hanning(t.size)).float()
    est = clean + hf
    bw = torch.tensor([8000.0, 8000.0])
    res = [(1024, 240, 960)]
    sc, mag = et.mrstft(est, clean, res, bw)
    sc0, mag0 = et.mrstft(est, clean, res)
    lc = et.compressed_spec_loss(est, clean, 1024, 240, 960, bw=bw)
    lc0 = et.compressed_spec_loss(est, clean, 1024, 240, 960)
    check("loss/band-masked", float(sc) < 1e-3 and float(mag) < 1e-3 and float(lc) < 1e-6
          and float(sc0) > 0.1 and float(lc0) > 1e-3,
          f"masked sc {float(sc):.1e} mag {float(mag):.1e} cspec {float(lc):.1e}; "
          f"unmasked sc {float(sc0):.2f} cspec {float(lc0):.2e}")
    # the compressed complex loss sees phase: a sign-inverted output costs, its magnitude loss not
    x = torch.from_numpy(rng.standard_normal((2, 9600))).float()
    lz = et.compressed_spec_loss(x, x, 1024, 240, 960)
    ln = et.compressed_spec_loss(-x, x, 1024, 240, 960)
    _, mneg = et.mrstft(-x, x, res)
    check("loss/phase", float(lz) < 1e-8 and float(ln) > 0.5 and float(mneg) < 1e-4,
          f"same {float(lz):.1e}, negated {float(ln):.2f} (log-magnitude loss {float(mneg):.1e})")
    # the PESQ-like loss's low-band weight (pesq_lf_weight below pesq_lf_hz): weight 1 is the
    # unweighted loss bit for bit; an error only at 500 Hz costs lf_weight times more, renormalised
    # by the weighted bin count (the loss is a weighted mean over the live bins)
    from ultra_e2e import spec_loss
    tt = np.arange(19200) / 48000
    clean = torch.from_numpy(0.1 * rng.standard_normal((2, tt.size))).float()
    est = clean + torch.from_numpy(0.05 * np.sin(2 * np.pi * 500 * tt)).float()
    bwf = torch.tensor([24000.0, 8000.0])
    base = spec_loss(est, clean, clean, bwf, 1536, 384, 0.2, 1.0)
    same = spec_loss(est, clean, clean, bwf, 1536, 384, 0.2, 1.0, lf_hz=2000.0, lf_weight=1.0)
    heavy = spec_loss(est, clean, clean, bwf, 1536, 384, 0.2, 1.0, lf_hz=2000.0, lf_weight=3.0)
    f = np.fft.rfftfreq(1536, 1 / 48000)
    w_old = np.where(f <= 8000, 1.0, 0.2)
    w_new = np.where(f < 2000, 3 * w_old, w_old)
    m = np.stack([f <= 24000, f <= 8000]).astype(float)
    want = 3 * (m * w_old).sum() / (m * w_new).sum()
    ratio = float(heavy / base)
    check("loss/pesq_lf_weight", float(same) == float(base) and abs(ratio / want - 1) < 0.02,
          f"weight 1: {float(same):.6e} vs {float(base):.6e}; weight 3: ratio {ratio:.4f} "
          f"(an error only at 500 Hz: {want:.4f})")
    # FFT resampling: a 1 kHz tone at 16 kHz -> 48 kHz keeps its frequency and length
    t16 = np.arange(1600) / 16000
    y = et.fft_resample(torch.from_numpy(np.sin(2 * np.pi * 1000 * t16)).float(), 16000).numpy()
    want = np.sin(2 * np.pi * 1000 * np.arange(4800) / 48000)
    e = float(np.abs(y - want)[200:-200].max())
    check("pack/fft_resample", y.size == 4800 and e < 1e-3, f"{y.size} samples, max err {e:.1e}")


def test_opus_pack(tmp):
    """enhanced_opuspack's encoder + enhanced_train.load_opus_pack (libsndfile via ctypes)."""
    import shutil
    import enhanced_opuspack as op
    if not shutil.which("ffmpeg"):
        print("SKIP (part): opus pack: no ffmpeg")
        return
    try:
        et._sndfile()
    except OSError as e:
        print(f"SKIP (part): opus pack: {e}")
        return
    d = pathlib.Path(tmp, "opus")
    d.mkdir()
    entries = []
    for k, (rate, f0, split) in enumerate(((24000, 700.0, "speech"), (48000, 3000.0, "noise"))):
        n = int(1.5 * rate)
        x = (0.3 * np.sin(2 * np.pi * f0 * np.arange(n) / rate)).astype(np.float32)
        try:
            op.encode_opus(x, rate, 48, d / f"{k:03d}.opus")
        except subprocess.CalledProcessError as e:
            print(f"SKIP (part): opus pack: ffmpeg cannot write Opus ({e})")
            return
        entries.append(dict(name=f"s{k}", split=split, file=f"{k:03d}.opus", rate=rate,
                            bandwidth_hz=rate / 2, seconds=1.5))
    (d / "index.json").write_text(json.dumps({"entries": entries}))
    try:
        speech, noise = et.load_opus_pack(d, torch.device("cpu"), jobs=1)
    except OSError as e:   # a libsndfile older than 1.1 reads no Opus
        print(f"SKIP (part): opus pack: libsndfile cannot read Ogg Opus ({e})")
        return
    ok = len(speech) == 1 and len(noise) == 1
    msg = []
    for (name, x), f0 in ((speech[0], 700.0), (noise[0], 3000.0)):
        x = x.numpy()
        spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
        peak = np.fft.rfftfreq(x.size, 1 / 48000)[spec.argmax()]
        ok &= abs(x.size - 72000) <= 2000 and abs(peak - f0) < 5 and 0.15 < x.std() < 0.3
        msg.append(f"{name}: {x.size} samples at 48 kHz, peak {peak:.0f} Hz, rms {x.std():.3f}")
    check("pack/opus-roundtrip", ok, "; ".join(msg))


def test_opus_pack_sources(tmp, rng):
    """enhanced_opuspack --debian given twice (get-debian-audio.sh's folder + get_more_speech.py's):
    both folders' sources enter, a held-out-language voice of a volunteer package is dropped,
    one --debian gives only its own sources (the old behaviour) and a folder name found in two
    folders is refused."""
    import shutil
    import enhanced_opuspack as op
    try:
        import soundfile as sf
        import soxr  # noqa: F401
    except ImportError as e:
        print(f"SKIP (part): opus pack sources: {e}")
        return
    if not shutil.which("ffmpeg"):
        print("SKIP (part): opus pack sources: no ffmpeg")
        return

    def folder(root, split, name, rate, n_files):
        d = pathlib.Path(tmp, root, split, name)
        d.mkdir(parents=True)
        for i in range(n_files):   # odd lengths, band-limited noise bursts
            n = int(rate * rng.uniform(0.7, 1.3)) + 17 * i
            x = np.convolve(rng.standard_normal(n), np.ones(3) / 3, mode="same") * 0.1
            sf.write(str(d / f"c{i}.flac"), x.astype(np.float32), rate, subtype="PCM_16")
        return pathlib.Path(tmp, root)

    a = folder("deb-a", "speech", "tuxpaint-stamps-default_en_44100", 44100, 3)
    folder("deb-a", "noise", "flare-game_environment_48000", 48000, 2)
    b = folder("deb-b", "speech", "megaglest-data_faction-norsemen_22050", 22050, 3)
    folder("deb-b", "speech", "unknown-horizons_es_44100", 44100, 3)
    folder("deb-b", "speech", "unknown-horizons_fr_44100", 44100, 3)
    c = folder("deb-c", "speech", "tuxpaint-stamps-default_en_44100", 48000, 2)

    def build(out, *dirs):
        argv = ["--out", str(pathlib.Path(tmp, out)), "--no-shared", "--min-seconds", "1"]
        for d in dirs:
            argv += ["--debian", str(d)]
        op.main(argv)
        return json.loads(pathlib.Path(tmp, out, "index.json").read_text())

    try:
        two = build("pack-two", a, b)
    except subprocess.CalledProcessError as e:
        print(f"SKIP (part): opus pack sources: ffmpeg cannot write Opus ({e})")
        return
    names = sorted(e["name"] for e in two["entries"])
    want = sorted(["tuxpaint-stamps-default_en_44100", "flare-game_environment_48000",
                   "megaglest-data_faction-norsemen_22050", "unknown-horizons_fr_44100"])
    files_ok = all(pathlib.Path(tmp, "pack-two", e["file"]).stat().st_size > 0
                   for e in two["entries"])
    es_dropped = any(d.startswith("speech/unknown-horizons_es_44100: held-out language")
                     for d in two["dropped"])
    check("pack/two-debian-folders", names == want and es_dropped and files_ok,
          f"entries {names}, dropped {two['dropped']}")
    one = build("pack-one", a)
    check("pack/one-debian-folder", sorted(e["name"] for e in one["entries"]) ==
          ["flare-game_environment_48000", "tuxpaint-stamps-default_en_44100"],
          f"entries {[e['name'] for e in one['entries']]}")
    try:
        build("pack-dup", a, c)
        refused = False
    except SystemExit as e:
        refused = "in both" in str(e)
    check("pack/duplicate-folder-refused", refused, "a folder name in two --debian folders")


def find_capi(arg):
    if arg:
        return arg
    for base in [os.environ.get("GHOSTNV_BINARY_DIR", ""), *sorted(map(str, REPO.glob("build*")))]:
        p = os.path.join(base, "models", "demucs", "libghostnv_demucs_capi.so")
        if base and os.path.exists(p):
            return p
    return None


def rn_snr(lines):
    """The SNR (dB) of enhanced_export's engine-vs-running_norm-emulation check, or -inf."""
    for l in lines:
        if "running_norm emulation" in l and "(ok)" in l:
            return float(l.split("SNR ")[1].split(" dB")[0])
    return float("-inf")


def test_export(tmp, capi):
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        print(f"SKIP (part): export check: {e}")
        return
    if not capi:
        print("SKIP (part): export check: libghostnv_demucs_capi.so not found (build target "
              "ghostnv_demucs_capi)")
        return
    cfg = json.loads((REPO / "tools/train/configs/enhanced.json").read_text())
    cfg["model"]["hidden"] = 8
    cp = os.path.join(tmp, "cfg8.json")
    pathlib.Path(cp).write_text(json.dumps(cfg))
    torch.manual_seed(3)
    model = et.build_model(cfg)
    ck = os.path.join(tmp, "h8.pt")
    torch.save(model.state_dict(), ck)
    r = subprocess.run([sys.executable, str(REPO / "tools/train/enhanced_export.py"), "--config",
                        cp, "--checkpoint", ck, "--out", os.path.join(tmp, "h8.gnvm"),
                        "--lib", capi, "--length", "12000"], capture_output=True, text=True)
    lines = [l for l in r.stdout.splitlines() if l.startswith(("check", "engine"))]
    print("\n".join("     " + l for l in lines))
    check("export/engine-vs-pytorch", r.returncode == 0 and len(lines) == 5,
          "enhanced_export.py checks (latency, onnxruntime, DemucsStreamer, fp16)" +
          ("" if r.returncode == 0 else f": {r.stderr[-2000:]}"))
    from gnvm_writer import read_gnvm
    import enhanced_ckpt
    # from-gnvm inverts the converter: the fp32 .gnvm back to the same state dict and function
    fp32 = os.path.join(tmp, "h8.fp32.gnvm")
    sd, _ = enhanced_ckpt.gnvm_to_state_dict(fp32)
    ref = model.state_dict()
    lstm_b = [k for k in ref if k.startswith("lstm.lstm.bias_ih")]
    err = max(float((sd[k] - ref[k]).abs().max() / ref[k].abs().max().clamp(min=1e-12))
              for k in ref if k not in lstm_b and not k.startswith("lstm.lstm.bias_hh"))
    back = et.build_model(cfg)
    back.load_state_dict(sd)
    x = torch.from_numpy(np.random.default_rng(4).standard_normal((1, 1, 7001))).float() * 0.1
    with torch.no_grad():
        ya, yb = model(x), back(x)
    ferr = float((ya - yb).abs().max() / ya.abs().max())
    check("ckpt/from-gnvm", set(sd) == set(ref) and err < 1e-6 and ferr < 1e-5,
          f"{len(sd)} tensors, max rel. weight diff {err:.1e}, output rel. diff {ferr:.1e}")

    # output_delay: the same network exported as trained on a target 96 samples late: its
    # latency is 96 samples more (header, metadata, the family), the checks still pass
    r = subprocess.run([sys.executable, str(REPO / "tools/train/enhanced_export.py"), "--config",
                        cp, "--checkpoint", ck, "--out", os.path.join(tmp, "h8d.gnvm"),
                        "--lib", capi, "--length", "12000", "--output-delay", "96",
                        "--onnx", os.path.join(tmp, "h8d.onnx")], capture_output=True, text=True)
    h0, _ = read_gnvm(os.path.join(tmp, "h8.gnvm"))
    h1, _ = read_gnvm(os.path.join(tmp, "h8d.gnvm"))
    sys.path.insert(0, str(REPO / "tools" / "convert" / "tests"))
    import demucs_common as dm
    sh = dm.Shim(capi, os.path.join(tmp, "h8d.gnvm"))
    lat = sh.latency
    sh.close()
    check("export/output-delay", r.returncode == 0
          and h1["algorithmic_latency"] == h0["algorithmic_latency"] + 96 == lat
          and h1["metadata"]["demucs"].get("output_delay") == 96
          and "output_delay" not in h0["metadata"]["demucs"],
          f"latency {h0['algorithmic_latency']} -> {h1['algorithmic_latency']} (engine {lat})" +
          ("" if r.returncode == 0 else f": {r.stdout[-1500:]} {r.stderr[-1500:]}"))


    # skip_delay: the same weights exported as a SkipDelayDemucs with D = 256: metadata
    # skip_delay = output_delay = 256, latency + 256; the engine's offline forward vs
    # SkipDelayDemucs.forward and its streaming (normalisation off) vs the same, both <= 1e-4;
    # the engine's normalised streaming >= 10 dB closer to the forward with the training's
    # running_norm emulation (enhanced_train.running_scale) than to the global normalisation
    r = subprocess.run([sys.executable, str(REPO / "tools/train/enhanced_export.py"), "--config",
                        cp, "--checkpoint", ck, "--out", os.path.join(tmp, "h8s.gnvm"),
                        "--lib", capi, "--length", "12000", "--set", "skip_delay=256",
                        "--onnx", os.path.join(tmp, "h8s.onnx")], capture_output=True, text=True)
    lines = [l for l in r.stdout.splitlines() if l.startswith(("check", "engine"))]
    print("\n".join("     " + l for l in lines))
    h2, _ = read_gnvm(os.path.join(tmp, "h8s.gnvm"))
    d2 = h2["metadata"]["demucs"]
    check("export/skip-delay", r.returncode == 0 and len(lines) == 8
          and sum("SkipDelayDemucs" in l and "(ok)" in l for l in lines) == 3
          and rn_snr(lines) >= 60.0
          and d2.get("skip_delay") == 256 and d2.get("output_delay") == 256
          and h2["algorithmic_latency"] == h0["algorithmic_latency"] + 256,
          f"latency {h2['algorithmic_latency']}, metadata skip_delay {d2.get('skip_delay')}, "
          f"engine vs running_norm emulation {rn_snr(lines):.1f} dB (>= 60: 64.6 measured; the "
          "frame window 256 samples too long gives 54.8)" +
          ("" if r.returncode == 0 else f": {r.stdout[-1500:]} {r.stderr[-1500:]}"))
    # the converter refuses a skip delay that is not a whole number of hops, or without the
    # matching output delay (ONNX metadata edited by hand)
    import onnx
    for sk, od, want in (("100", "100", "multiple"), ("256", "0", "output_delay")):
        m = onnx.load(os.path.join(tmp, "h8s.onnx"))
        for prop in m.metadata_props:
            if prop.key == "ghostnv.skip_delay":
                prop.value = sk
            if prop.key == "ghostnv.output_delay":
                prop.value = od
        bad = os.path.join(tmp, f"bad{sk}.onnx")
        onnx.save(m, bad)
        r = subprocess.run([str(REPO / "tools/convert/ghostnv-convert"), "-o", bad + ".gnvm", bad],
                           capture_output=True, text=True)
        check(f"convert/skip-delay-refused-{sk}-{od}", r.returncode != 0
              and want in r.stderr + r.stdout and not os.path.exists(bad + ".gnvm"),
              (r.stderr + r.stdout).strip()[-160:])


def test_shipped():
    p = REPO / "models/weights/enhanced.gnvm"
    if not p.exists():
        print(f"SKIP (part): {p} not present")
        return
    b = p.read_bytes()
    hl = struct.unpack("<Q", b[8:16])[0]
    h = json.loads(b[16:16 + hl])
    d = h["metadata"]["demucs"]
    cfg = json.loads((REPO / "tools/train/configs/enhanced.json").read_text())["model"]
    ok = (b[:4] == b"GNVM" and h["family"] == "demucs" and h["sample_rate"] == 48000
          and h["hop_size"] == 256
          and h["algorithmic_latency"] == 512 + int(d.get("output_delay", 0))
          and int(d.get("skip_delay", 0)) == int(d.get("output_delay", 0))
          and d["resample"] == 1 and d["depth"] == cfg["depth"] and d["hidden"] == cfg["hidden"]
          and d["kernel_size"] == cfg["kernel_size"] and d["stride"] == cfg["stride"])
    check("shipped/header", ok, f"{h['name']}, {h['sample_rate']} Hz, hop {h['hop_size']}, "
          f"latency {h['algorithmic_latency']} samples (skip delay {d.get('skip_delay', 0)}), "
          f"{len(b)} bytes")


def test_h200_pins(tmp):
    """enhanced_h200.sh's GPU_<run>: each run's trainer sees only its GPU (CUDA_VISIBLE_DEVICES),
    a run without GPU_<run> sees the caller's setting; the trainer is a stand-in python3 on PATH
    that records its environment."""
    d = pathlib.Path(tmp) / "pins"
    (d / "bin").mkdir(parents=True)
    (d / "h").mkdir()
    (d / "h" / "init.pt").write_bytes(b"x")
    (d / "den" / "denoiser").mkdir(parents=True)
    (d / "pack").mkdir()
    (d / "lib").mkdir()
    cfg = d / "cfg.json"
    cfg.write_text("{}")
    log = d / "calls.txt"
    shim = d / "bin" / "python3"
    shim.write_text("#!/bin/sh\n"   # the trainer is recorded; any other python3 call is real
                    'case "$*" in *enhanced_train.py*) '
                    f'echo "${{CUDA_VISIBLE_DEVICES-unset}} $*" >> {log}; exit 0;; esac\n'
                    f'exec {sys.executable} "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ, PATH=f"{d / 'bin'}:{os.environ['PATH']}", RUNS="A B C",
               GPU_A="0", GPU_B="1", STAGGER="0", CFG=str(cfg), H=str(d / "h"),
               PACK=str(d / "pack"), LIB=str(d / "lib"), DEN=str(d / "den"), MIN="0.01",
               WORK=str(d / "w"), OUT=str(d / "o"), SET_A="--set seed=1", SET_C="--set seed=3")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    r = subprocess.run(["bash", str(REPO / "tools/train/enhanced_h200.sh")], cwd=str(REPO),
                       env=env, capture_output=True, text=True, timeout=120)
    calls = [ln.split(" ", 1) for ln in log.read_text().splitlines()] if log.exists() else []
    runs = {}
    for dev, args in calls:
        if "enhanced_train.py" in args:
            runs[args.split("--work-dir ")[1].split()[0].rsplit("/", 1)[1]] = (dev, args)
    ok = (r.returncode == 0 and set(runs) == {"A", "B", "C"} and runs["A"][0] == "0"
          and runs["B"][0] == "1" and runs["C"][0] == "unset" and "--set seed=1" in runs["A"][1]
          and "--set seed=3" in runs["C"][1] and "seed" not in runs["B"][1])
    check("h200/gpu-pins", ok, f"rc {r.returncode}, runs {runs}, stderr {r.stderr[-300:]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--capi", help="libghostnv_demucs_capi.so")
    ap.add_argument("--lib-dir", help="ignored (the other train tests' argument)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in (("codec", lambda: test_codec(rng)),):
            fn()
        try:
            pack = test_mixer(tmp, rng)
            test_speed(rng)
            test_noise_tilt(np.random.default_rng(16))   # own stream: the others' draws stay
            test_snr_ranges(np.random.default_rng(17))
            test_train(tmp, pack)
            test_widen(rng)
            test_config_keys()
            test_h200_pins(tmp)
            test_overrides_and_pesq(tmp, pack)
            test_output_delay(tmp, pack, rng)
            test_skip_delay(rng)
            test_skip_delay_train(tmp, pack)
            test_ema_average(rng)
            test_rfft_freqs()
            test_compile_grad(pack)
            test_speed_options(tmp, pack)
            test_ckpt(rng)
            test_losses(rng)
            test_opus_pack(tmp)
            test_opus_pack_sources(tmp, rng)
            test_export(tmp, find_capi(a.capi))
            test_shipped()
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            FAILS.append("exception")
    print("FAILED: " + ", ".join(FAILS) if FAILS else "all passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
