#!/usr/bin/env python3
"""Train the enhanced model: a causal Demucs (facebookresearch/denoiser architecture) at 48 kHz.

Data: the pack written by enhanced_pack.py (training split only; held-out speakers and noises
never enter), decoded once onto the device; every batch is mixed there from a per-step seed
(reproducible, and a resumed run continues with the exact batches it would have seen):
  * a random crop of one speaker's speech (24 kHz sources upsampled x2 by FFT), random EQ
    (smooth random spectral curve, +-eq_db), optional syllable gaps (speech-free stretches);
  * a random crop of one real noise recording (looped), its own random EQ, optionally a
    spectral tilt toward low frequencies (p_noise_tilt, noise_tilt_db_oct; session 16);
  * SNR uniform in snr_db (or in weighted ranges of it) against the active speech RMS, a random overall level (peak_dbfs);
  * simulated reverberation (p_reverb: direct path + exponentially decaying noise, RT60 in
    rt60; the target is the reverberant speech), clipping of the mixture (p_clip), a 44.1 kHz
    round trip (p_441: band limit at 22.05 kHz, mixture and target), noise-only items.
Loss: L1 on the waveform + multi-resolution STFT loss (spectral convergence + log magnitude),
as in Defossez et al. 2020, with resolutions scaled to 48 kHz; optionally (config weights) a
compressed complex spectral loss (cspec_weight), -SI-SDR below 8 kHz (sisdr_weight) and
ultra_e2e's PESQ-like compressed-magnitude loss with residual noise weighted more
(pesq_weight, pesq_noise_asym, pesq_hf_weight; session 8; pesq_lf_weight below pesq_lf_hz,
session 14).
output_delay (samples, default 0; session 10): the network learns the clean speech that many
samples late (every loss term compares est[t] with clean[t - output_delay]), so it sees that
much future context; the exported .gnvm must then say so (enhanced_export.py --output-delay:
metadata.demucs.output_delay, and the family's algorithmic latency grows by it).
skip_delay (samples D, default 0; session 10's lookahead probe): each skip connection passes a
delay line (D / stride^l frames at encoder level l: 64, 16, 4, 1 for D = 256) so the decoder
combines skip features of t - D with deep (LSTM) features that have seen up to t; trained with
output_delay = D (its default then). Exported by enhanced_export.py with
metadata.demucs.skip_delay = D (session 11; the C++ family and the CUDA plan have the delay
lines). val_init: the validation also scores
the init_from weights (as the plain network, undelayed) on the same mixes.
running_norm (bool, default false; session 12; skip-delayed models only): the network normalises
its input as the streaming engine does (running_scale: each 256-sample hop by the running mean
square of the 660-sample frames so far, from the start of each crop, with the engine's 3 s
memory) instead of by the whole crop's std, in training and validation; the export is unchanged
(the engine does its own).
Measured on the shipped weights (enhanced_lookahead_eval.py --running-norm, 40 held-out items):
12.52 dB SI-SDR against 12.69 with the whole-item std; the engine itself scores 12.42.
Step speed (session 13; opt-in, a config without these keys runs the step it ran before):
compile ("none" | "default" | "reduce-overhead" | "max-autotune-no-cudagraphs": torch.compile
of the network and the losses, falling back to eager if it fails), compile_cache (a file for
torch.compiler's cache artifacts), fused_adam, ema_foreach (TrainStep, make_optimizer,
EmaAverage); every run ends with a steps/s line (SpeedMeter).
Config keys can be overridden with --set KEY=JSON (dotted keys reach nested ones); --widen-from
starts a wider network (e.g. --set model.hidden=64) from a narrower one's weights with the same
output (widen_state_dict).

    python3 tools/train/enhanced_train.py --config tools/train/configs/enhanced.json \
        --pack build-enhanced/h200/pack.npz [--resume] [--steps N] [--work-dir DIR] \
        [--set KEY=JSON ...] [--widen-from NARROW_MODEL.pt]

Writes work_dir/last.pt (model, optimiser, step; --resume continues from it), work_dir/model.pt
(the model's state dict alone, weights_only-loadable) and work_dir/log.jsonl. Stops after
`steps` or `max_minutes` of wall time (checkpointing first). Needs torch, numpy and the
`denoiser` package's demucs.py (pip install --no-deps denoiser, or its sources on PYTHONPATH).
"""

import argparse
import json
import lzma
import math
import os
import pathlib
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import train_common  # noqa: E402

SR = 48000


# ---- model -------------------------------------------------------------------------------------
def skip_frames(stride, depth, resample, delay):
    """Frames by which encoder level l's skip (l = 1..depth, index l - 1) is delayed so that it
    lags by `delay` input samples: level l runs at resample * SR / stride^l frames per second,
    so delay * resample / stride^l frames (stride 4, depth 4, resample 1, delay 256: 64, 16, 4,
    1). The delay must be a whole number of frames at the deepest level."""
    unit = stride ** depth
    if delay < 0 or (delay * resample) % unit:
        raise ValueError(f"skip_delay {delay}: must be >= 0 and delay * resample a multiple of "
                         f"stride^depth = {unit}")
    return [delay * resample // stride ** lv for lv in range(1, depth + 1)]


def delay_frames(x, k):
    """x (batch, channels, frames) k frames late, zeros before the start (a delay line with
    zero history); the length is kept."""
    if k == 0:
        return x
    return F.pad(x, (k, 0))[..., :x.shape[-1]]


_SKIP_DELAY_CLASS = None


def skip_delay_demucs_class():
    """The `denoiser` package's Demucs with real lookahead (session 10, issue 7): each skip
    connection passes through a delay line (skip_frames) before the decoder adds it, so the
    decoder combines skip features of time t - D with deep (LSTM) features that have seen up to
    t, and output[t] estimates the clean speech at t - D (train with output_delay D). The
    bottleneck is not delayed. skip_delay 0 computes what Demucs.forward computes. Same
    parameters and state dict as Demucs; only the forward differs."""
    global _SKIP_DELAY_CLASS
    if _SKIP_DELAY_CLASS is not None:
        return _SKIP_DELAY_CLASS
    from denoiser.demucs import Demucs
    from denoiser.resample import downsample2, upsample2

    class SkipDelayDemucs(Demucs):
        def __init__(self, *args, skip_delay=0, **kw):
            super().__init__(*args, **kw)
            self.skip_delay = int(skip_delay)
            self.skip_frames = skip_frames(self.stride, self.depth, self.resample,
                                           self.skip_delay)
            # (hop, window) of the streaming engine's running normalisation, or None for
            # Demucs's whole-input std (set_running_norm)
            self.running_norm = None

        def forward(self, mix):
            if mix.dim() == 2:
                mix = mix.unsqueeze(1)
            scale = 1
            if self.normalize and self.running_norm is not None:
                scale = running_scale(mix.mean(dim=1), *self.running_norm)[:, None]
                mix = mix / (self.floor + scale)
            elif self.normalize:
                scale = mix.mean(dim=1, keepdim=True).std(dim=-1, keepdim=True)
                mix = mix / (self.floor + scale)
            n = mix.shape[-1]
            h = F.pad(mix, (0, self.valid_length(n) - n))
            for _ in range({1: 0, 2: 1, 4: 2}[self.resample]):
                h = upsample2(h)
            levels = []
            for enc in self.encoder:
                h = enc(h)
                levels.append(h)
            h = self.lstm(h.permute(2, 0, 1))[0].permute(1, 2, 0)
            # decoder i (0 = the deepest) takes encoder level depth - i's skip, delayed
            for i, dec in enumerate(self.decoder):
                lv = self.depth - 1 - i
                skip = delay_frames(levels[lv], self.skip_frames[lv])
                h = dec(h + skip[..., :h.shape[-1]])
            for _ in range({1: 0, 2: 1, 4: 2}[self.resample]):
                h = downsample2(h)
            return scale * h[..., :n]

    _SKIP_DELAY_CLASS = SkipDelayDemucs
    return SkipDelayDemucs


def running_scale(mono, hop, window, memory=0):
    """The streaming engine's normalisation scale for every sample of mono (batch, n): hop k
    (k = 1, 2, ...; samples [hop (k - 1), hop k)) is computed from the frame of `window` input
    samples starting at hop (k - 1) (clipped at the end), normalised by sqrt of the running
    variance of the frames' mean squares: their mean over the first `memory` frames (all of them
    with memory 0), then an exponential average with weight 1 / memory (models/demucs/
    demucs_family.cc RunFrame, Networks::norm_frames). Every sample of hop k gets hop k's scale,
    in and out: an approximation of the engine, whose cached encoder steps of earlier hops keep
    their own scales."""
    n = mono.shape[-1]
    k = -(-n // hop)
    cs = F.pad(torch.cumsum(mono.double() ** 2, dim=-1), (1, 0))
    starts = torch.arange(k, device=mono.device) * hop
    ends = torch.clamp(starts + window, max=n)
    ms = (cs[:, ends] - cs[:, starts]) / (ends - starts).to(cs.dtype)
    var = torch.cumsum(ms, dim=-1) / torch.arange(1, k + 1, device=mono.device, dtype=cs.dtype)
    if 0 < memory < k:
        w = 1.0 / memory
        v, rest = var[:, memory - 1], []
        for j in range(memory, k):
            v = ms[:, j] * w + (1.0 - w) * v
            rest.append(v)
        var = torch.cat([var[:, :memory], torch.stack(rest, dim=-1)], dim=-1)
    return var.sqrt().to(mono.dtype).repeat_interleave(hop, dim=-1)[:, :n]


# The engine's default normalisation memory (models/demucs/demucs_family.h
# kDefaultNormMemorySeconds) when a file does not set metadata.demucs.norm_memory_frames.
NORM_MEMORY_SECONDS = 3.0


def set_running_norm(model, memory_frames=None):
    """Make a skip-delayed model normalise as the streaming engine does (running_scale) instead
    of by the whole input's std: hop stride^depth / resample, window valid_length(1) + the
    streamer's 64-sample lookahead (256 and 660 for the enhanced model), memory the engine's
    default (3 s of hops: 563 at 48 kHz) unless given. Training and the held-out evaluation
    only; the export keeps Demucs's forward (the engine does its own)."""
    if not hasattr(model, "running_norm"):
        raise SystemExit("running_norm needs a skip-delayed model (skip_delay > 0)")
    hop = model.stride ** model.depth // model.resample
    if memory_frames is None:
        memory_frames = int(round(NORM_MEMORY_SECONDS * SR / hop))
    model.running_norm = (hop, model.valid_length(1) + 64, memory_frames)
    return model


def build_model(cfg):
    """The causal Demucs of cfg["model"]; with cfg["skip_delay"] D > 0 the skip-delayed variant
    (skip_delay_demucs_class), whose output is the clean speech D samples late."""
    kw = model_kwargs(cfg)
    delay = int(cfg.get("skip_delay", 0) or 0)
    if delay:
        return skip_delay_demucs_class()(skip_delay=delay, **kw)
    from denoiser.demucs import Demucs
    return Demucs(**kw)


def model_kwargs(cfg):
    """Demucs's constructor arguments for cfg["model"] (48 kHz, causal, GLU, normalised)."""
    m = cfg["model"]
    return dict(chin=1, chout=1, hidden=m["hidden"], depth=m["depth"],
                kernel_size=m["kernel_size"], stride=m["stride"], causal=True,
                resample=m["resample"], growth=m.get("growth", 2),
                max_hidden=m.get("max_hidden", 10000), normalize=True, glu=True,
                rescale=m.get("rescale", 0.1), floor=m.get("floor", 1e-3), sample_rate=SR)


def training_output_delay(cfg):
    """The delay (samples) every loss aligns the output by: output_delay, which defaults to
    skip_delay (a skip-delayed network outputs the clean speech skip_delay samples late)."""
    sk = int(cfg.get("skip_delay", 0) or 0)
    od = cfg.get("output_delay")
    od = sk if od is None else int(od)
    if sk and od != sk:
        raise SystemExit(f"enhanced_train: output_delay {od} != skip_delay {sk} (a skip-delayed "
                         "network's output is skip_delay samples late)")
    return od


def widen_state_dict(small, big_model):
    """A function-preserving initialisation of a wider Demucs (e.g. hidden 48 -> 64) from a
    narrower one's state dict: every old unit keeps its weights, the new units keep big_model's
    random initialisation (so they are alive from the start), and every weight *from* a new unit
    into an old or new consumer is zero, so the wider network computes exactly the narrow one's
    output until training moves those weights. The GLU layers' doubled outputs ([a; b] halves)
    are mapped half by half; LSTM tensors must have equal shapes (max_hidden caps both)."""
    big = {k: v.detach().clone() for k, v in big_model.state_dict().items()}
    glu_out = set()
    for i in range(len(big_model.encoder)):
        glu_out.add(f"encoder.{i}.2")
        glu_out.add(f"decoder.{i}.0")

    def out_index(n_small, n_big, glu):
        if not glu:
            return torch.arange(n_small)
        h, hb = n_small // 2, n_big // 2
        return torch.cat([torch.arange(h), hb + torch.arange(h)])

    for k, vs in small.items():
        vs = vs.float()
        vb = big[k]
        if vs.shape == vb.shape:
            big[k] = vs.clone()
            continue
        if k.startswith("lstm"):
            raise ValueError(f"{k}: LSTM shapes differ ({tuple(vs.shape)} vs {tuple(vb.shape)})")
        layer = k.rsplit(".", 1)[0]
        transposed = layer.startswith("decoder") and layer.endswith(".2")   # ConvTranspose1d
        o_dim = 1 if transposed and vs.dim() > 1 else 0
        oi = out_index(vs.shape[o_dim], vb.shape[o_dim], layer in glu_out)
        if vs.dim() == 1:                                       # bias: old outputs only
            vb[oi] = vs
            continue
        i_dim = 1 - o_dim
        n_in_small = vs.shape[i_dim]
        # consumers: zero weight from the new inputs, then the old block
        sl = [slice(None)] * vb.dim()
        sl[o_dim] = oi
        sl[i_dim] = slice(n_in_small, None)
        vb[tuple(sl)] = 0.0
        sl[i_dim] = slice(0, n_in_small)
        vb[tuple(sl)] = vs
        # new outputs: their weights from new inputs random, from old inputs random (alive)
    return big


# The keys the enhanced scripts read (enhanced_train / enhanced_export / enhanced_ckpt, and
# train_common's E2ERun for "aug"): an override of a key the config lacks must be one of these, so
# a misplaced or misspelt key fails instead of being ignored (session 17: `--set p_noise_tilt=0.5`
# at the top level trained without the tilt, which GpuMixer reads from "aug").
CONFIG_KEYS = frozenset("""
    comment family work_dir init_from init_negate_output widen_from seed threads model aug
    segment_seconds batch_size steps warmup_steps warmup_frac max_minutes max_seconds schedule
    lr lr_final betas grad_clip bf16 fused_adam ema ema_foreach compile compile_backend
    compile_cache decode_jobs checkpoint_every snapshot_every log_every val_batches val_init
    running_norm skip_delay output_delay loss_scale l1_weight stft_weight stft_resolutions
    band_loss cspec_weight cspec_resolution sisdr_weight sisdr_band_hz pesq_weight pesq_fft
    pesq_hop pesq_hf_weight pesq_lf_hz pesq_lf_weight pesq_noise_asym""".split())
AUG_KEYS = frozenset("""
    snr_db peak_dbfs eq_db p_gap p_reverb rt60 p_clip p_441 p_noise_only p_speed speed
    p_noise_speed noise_speed p_noise2 noise2_db p_noise_tilt noise_tilt_db_oct""".split())
MODEL_KEYS = frozenset("hidden depth kernel_size stride resample growth max_hidden rescale "
                       "floor".split())
CONFIG_SCHEMA = {"": CONFIG_KEYS, "aug": AUG_KEYS, "model": MODEL_KEYS}


def apply_overrides(cfg, sets, schema=None):
    """--set KEY=JSON overrides; dotted keys reach nested entries (model.hidden, aug.snr_db).
    With a schema ({section: known keys}, "" = the top level; CONFIG_SCHEMA for the enhanced
    scripts) a key that the config lacks and its section's schema does not know is a ValueError
    naming the section that does know it (`p_noise_tilt` -> `aug.p_noise_tilt`); sections the
    schema does not list take any key, except that a new top-level key known to another section
    is still refused (E2ERun's scripts pass {"aug": AUG_KEYS})."""
    for kv in sets or []:
        if "=" not in kv:
            raise ValueError(f"--set {kv!r}: expected KEY=JSON")
        k, v = kv.split("=", 1)
        d = cfg
        parts = k.split(".")
        for q in parts[:-1]:
            d = d.setdefault(q, {})
        leaf, section = parts[-1], ".".join(parts[:-1])
        if schema is not None and leaf not in d:
            known = schema.get(section)
            elsewhere = [s for s, keys in schema.items() if s != section and leaf in keys]
            if (known is not None and leaf not in known) or (known is None and elsewhere):
                hint = f" (did you mean {elsewhere[0] + '.' if elsewhere[0] else ''}{leaf}?)" \
                    if elsewhere else ""
                raise ValueError(f"--set {k}: unknown config key{hint}")
        try:
            d[leaf] = json.loads(v)
        except json.JSONDecodeError as e:
            raise ValueError(f"--set {k}: the value is not JSON ({e})") from None
    return cfg


def check_config(cfg, schema=None):
    """The keys of cfg (and of its sections) that schema does not know, as dotted names."""
    schema = CONFIG_SCHEMA if schema is None else schema
    bad = [k for k in cfg if k not in schema.get("", cfg.keys())]
    for sec, keys in schema.items():
        if sec and isinstance(cfg.get(sec), dict):
            bad += [f"{sec}.{k}" for k in cfg[sec] if k not in keys]
    return bad


def load_config(path, sets):
    """The config file at path with the --set overrides applied (CONFIG_SCHEMA); a misplaced or
    unknown key, in an override or in the file, is a ValueError (enhanced_train, enhanced_export
    and enhanced_ckpt widen all read their config through this)."""
    cfg = apply_overrides(json.loads(pathlib.Path(path).read_text()), sets, CONFIG_SCHEMA)
    bad = check_config(cfg)
    if bad:
        raise ValueError(f"{path}: config keys no script reads: {', '.join(bad)}")
    return cfg


def snr_draw(spec, r):
    """The mixes' SNRs (dB) from one uniform draw r per item: aug.snr_db is [lo, hi] (uniform),
    or, since session 17, ranges [[lo, hi, weight], ...]: a range chosen with probability
    proportional to its weight, uniform inside it (e.g. [[-15, 15, 0.8], [15, 25, 0.2]] keeps a
    fifth of the mixes at high SNR, where the low-SNR training cost PESQ-WB)."""
    if not isinstance(spec[0], (list, tuple)):
        return spec[0] + (spec[1] - spec[0]) * r
    if any(len(x) != 3 or float(x[2]) < 0 or float(x[1]) < float(x[0]) for x in spec) \
            or sum(float(x[2]) for x in spec) <= 0:
        raise ValueError(f"aug.snr_db ranges must be [lo, hi, weight >= 0] with lo <= hi and "
                         f"some weight > 0: {spec}")
    t = torch.tensor([[float(v) for v in x] for x in spec], dtype=r.dtype, device=r.device)
    c = torch.cumsum(t[:, 2] / t[:, 2].sum(), 0)
    c0 = torch.cat([c.new_zeros(1), c[:-1]])
    k = torch.searchsorted(c, r.contiguous(), right=True).clamp(max=len(spec) - 1)
    w = (c[k] - c0[k]).clamp(min=1e-12)
    f = ((r - c0[k]) / w).clamp(0.0, 1.0)
    return t[k, 0] + (t[k, 1] - t[k, 0]) * f


# ---- data --------------------------------------------------------------------------------------
def load_pack(path, device):
    z = np.load(path, allow_pickle=False)
    index = json.loads(str(z["index"]))
    speech, noise = [], []
    for k, e in enumerate(index):
        d = np.frombuffer(zlib.decompress(z[f"blob_{k}"].tobytes()), np.int16)
        x = torch.from_numpy(np.cumsum(d, dtype=np.int16).astype(np.float32) / 32768.0)
        x = x.to(device)
        if e["rate"] == 24000:     # band-limited source: exact x2 upsampling by FFT zero padding
            n = x.numel()
            X = torch.fft.rfft(x)
            x = torch.fft.irfft(X, n=2 * n) * 2.0
        elif e["rate"] != SR:
            raise ValueError(f"{e['name']}: rate {e['rate']}")
        (speech if e["split"] == "speech" else noise).append((e["name"], x))
        BANDWIDTH[e["name"]] = float(e.get("bandwidth_hz", SR / 2))
    return speech, noise


BANDWIDTH = {}   # source name -> real bandwidth (Hz), filled by the pack loaders


def fft_resample(x, sr_in, sr_out=SR):
    """Band-limited resampling of a whole 1-D signal by FFT zero padding (up) or truncation."""
    if sr_in == sr_out:
        return x
    n = x.numel()
    m = int(round(n * sr_out / sr_in))
    X = torch.fft.rfft(x.double())
    k = m // 2 + 1
    if X.numel() < k:
        X = torch.cat([X, X.new_zeros(k - X.numel())])
    else:
        X = X[:k]
    return (torch.fft.irfft(X, n=m) * (m / n)).float()


def _sndfile(lib_dir=None):
    """libsndfile through ctypes (Ogg Opus needs libsndfile >= 1.1)."""
    import ctypes
    import ctypes.util
    names = []
    for d in [lib_dir, os.environ.get("GHOSTNV_SNDFILE_DIR")]:
        if d:
            names.append(os.path.join(d, "libsndfile.so.1"))
    names += [ctypes.util.find_library("sndfile") or "libsndfile.so.1"]
    err = None
    for n in names:
        try:
            lib = ctypes.CDLL(n)
            break
        except OSError as e:
            err = e
    else:
        raise OSError(f"libsndfile not found ({err})")

    class Info(ctypes.Structure):
        _fields_ = [("frames", ctypes.c_int64), ("samplerate", ctypes.c_int),
                    ("channels", ctypes.c_int), ("format", ctypes.c_int),
                    ("sections", ctypes.c_int), ("seekable", ctypes.c_int)]
    lib.sf_open.restype = ctypes.c_void_p
    lib.sf_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(Info)]
    lib.sf_readf_float.restype = ctypes.c_int64
    lib.sf_readf_float.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    lib.sf_close.argtypes = [ctypes.c_void_p]
    lib.sf_strerror.restype = ctypes.c_char_p
    lib.sf_strerror.argtypes = [ctypes.c_void_p]

    def read(path):
        info = Info()
        h = lib.sf_open(str(path).encode(), 0x10, ctypes.byref(info))   # SFM_READ
        if not h:
            raise OSError(f"{path}: {lib.sf_strerror(None).decode()}")
        buf = np.zeros(max(1, info.frames) * info.channels + 4096, np.float32)
        got = lib.sf_readf_float(h, buf.ctypes.data, len(buf) // info.channels)
        lib.sf_close(h)
        x = buf[: got * info.channels].reshape(-1, info.channels).mean(1)
        return x, info.samplerate
    return read


def _decode_one(args):
    path, lib_dir = args
    return _sndfile(lib_dir)(path)


def load_opus_pack(path, device, lib_dir=None, jobs=None):
    """The folder written by enhanced_opuspack.py: decoded with libsndfile (ctypes, in
    parallel processes), resampled to 48 kHz by FFT on the device."""
    import multiprocessing as mp
    root = pathlib.Path(path)
    index = json.loads((root / "index.json").read_text())["entries"]
    jobs = jobs or max(1, min(16, (os.cpu_count() or 2)))
    args = [(str(root / e["file"]), lib_dir) for e in index]
    if jobs > 1:
        with mp.get_context("fork").Pool(jobs) as pool:
            decoded = pool.map(_decode_one, args)
    else:
        decoded = [_decode_one(a) for a in args]
    speech, noise = [], []
    for e, (x, sr) in zip(index, decoded):
        x = fft_resample(torch.from_numpy(x).to(device), sr)
        (speech if e["split"] == "speech" else noise).append((e["name"], x))
        BANDWIDTH[e["name"]] = float(e.get("bandwidth_hz", SR / 2))
    return speech, noise


SPEED_LEVELS = 9   # distinct playback rates per batch (GpuMixer._rates)


class GpuMixer:
    """Builds (noisy, clean) batches [B, 1, L] on the device from a seed."""

    def __init__(self, speech, noise, aug, device):
        self.aug = aug
        self.device = device
        self.speech_names = [n for n, _ in speech]
        self.noise_names = [n for n, _ in noise]
        self.s_pool = torch.cat([x for _, x in speech])
        self.s_off = torch.tensor(np.cumsum([0] + [x.numel() for _, x in speech])[:-1],
                                  device=device)
        self.s_len = torch.tensor([x.numel() for _, x in speech], device=device)
        self.n_pool = torch.cat([x for _, x in noise])
        self.n_off = torch.tensor(np.cumsum([0] + [x.numel() for _, x in noise])[:-1],
                                  device=device)
        self.n_len = torch.tensor([x.numel() for _, x in noise], device=device)
        # Sources weighted by sqrt(duration) (as data.Mixer): long single voices do not dominate.
        self.s_w = torch.sqrt(self.s_len.double()).float()
        self.s_bw = torch.tensor([BANDWIDTH.get(n, SR / 2) for n, _ in speech], device=device)
        self.last_bw = None   # [B] real bandwidth (Hz) of the last batch's clean targets
        self.n_w = torch.sqrt(self.n_len.double()).float()

    def _crop(self, pool, off, ln, src, start, L):
        pos = start[:, None] + torch.arange(L, device=self.device)
        return pool[off[src, None] + pos % ln[src, None]]

    def _eq(self, x, g, db):
        """Random smooth spectral curve (sum of 4 cosines over log frequency), +-db."""
        B, L = x.shape
        X = torch.fft.rfft(x)
        f = torch.linspace(0, 1, X.shape[1], device=self.device)
        lf = torch.log2(1 + 63 * f) / 6.0                       # 0..1, log-like
        k = torch.arange(1, 5, device=self.device).float()
        amp = (torch.rand(B, 4, generator=g, device=self.device) * 2 - 1) / k
        ph = torch.rand(B, 4, generator=g, device=self.device) * 2 * math.pi
        curve = (amp[:, :, None] * torch.cos(math.pi * k[None, :, None] * lf[None, None, :]
                                             + ph[:, :, None])).sum(1)
        curve = curve / (curve.abs().amax(1, keepdim=True) + 1e-6) * db * \
            torch.rand(B, 1, generator=g, device=self.device)
        return torch.fft.irfft(X * 10 ** (curve / 20), n=L)

    def _tilt(self, x, slope_db_oct):
        """Spectral tilt: slope_db_oct[b] dB per octave around 1 kHz (flat below 50 Hz and
        above 16 kHz), e.g. -6 makes a noise's 125 Hz band 18 dB louder against 1 kHz and its
        8 kHz band 18 dB quieter (traffic, wind, machinery: noise whose energy sits low)."""
        L = x.shape[-1]
        f = rfft_freqs(L, x.device).clamp(min=50.0, max=16000.0)
        gain_db = slope_db_oct[:, None] * torch.log2(f / 1000.0)[None]
        return torch.fft.irfft(torch.fft.rfft(x) * 10 ** (gain_db / 20), n=L)

    def _lowpass(self, x, cutoff_hz):
        X = torch.fft.rfft(x)
        f = rfft_freqs(x.shape[-1], x.device)
        # ~600 Hz raised-cosine transition below the cutoff (a resampler's anti-alias filter)
        w = torch.clamp((cutoff_hz - f) / 600.0, 0, 1)
        w = 0.5 - 0.5 * torch.cos(math.pi * w)
        return torch.fft.irfft(X * w, n=x.shape[-1])

    def _reverb(self, x, g):
        a = self.aug
        B, L = x.shape
        n = int(0.6 * SR)
        t = torch.arange(n, device=self.device) / SR
        rt60 = a["rt60"][0] + (a["rt60"][1] - a["rt60"][0]) * torch.rand(B, 1, generator=g,
                                                                          device=self.device)
        decay = torch.exp(-6.9078 * t[None] / rt60)             # -60 dB at rt60
        tail = torch.randn(B, n, generator=g, device=self.device) * decay
        pre = int(0.002 * SR)                                    # the tail starts after 2 ms
        tail[:, :pre] = 0
        drr = 10 ** (-(torch.rand(B, 1, generator=g, device=self.device) * 12 - 3) / 20)
        tail = tail / (tail.norm(dim=1, keepdim=True) + 1e-8) * drr
        ir = tail
        ir[:, 0] = 1.0
        nfft = 1 << math.ceil(math.log2(L + n))
        y = torch.fft.irfft(torch.fft.rfft(x, nfft) * torch.fft.rfft(ir, nfft), nfft)[:, :L]
        return y

    def _crop_speed(self, pool, off, ln, src, start, L, rate):
        """Crops of L samples played `rate` times faster (rate [B] > 0; 1 = _crop): for each of
        the SPEED_LEVELS distinct rates present, round((L + 2P) * r) samples are cropped and
        resampled to L + 2P by FFT (band-limited: content above 24 kHz / r is dropped), and P
        samples are trimmed at each end (the FFT's circular edges). Pitch, formants and tempo
        all scale by r: a voice at r = 1.1 is a different, higher voice."""
        P = 1024
        out = torch.empty(len(src), L, device=self.device)
        for r in torch.unique(rate).tolist():
            idx = torch.nonzero(rate == r).flatten()
            if r == 1.0:
                out[idx] = self._crop(pool, off, ln, src[idx], start[idx], L)
                continue
            n = L + 2 * P
            m = int(round(n * r))
            x = self._crop(pool, off, ln, src[idx], start[idx], m)
            X = torch.fft.rfft(x)
            k = n // 2 + 1
            X = X[:, :k] if X.shape[1] >= k else torch.cat(
                [X, X.new_zeros(X.shape[0], k - X.shape[1])], 1)
            out[idx] = torch.fft.irfft(X, n=n)[:, P:P + L] * (n / m)
        return out

    def _rates(self, B, p, lo_hi, g):
        """Per-item playback rates: 1 with probability 1 - p, else one of SPEED_LEVELS
        log-spaced rates in [lo, hi] (a few distinct rates keep the FFT resampling batched)."""
        dev = self.device
        lo, hi = lo_hi
        levels = torch.exp(torch.linspace(math.log(lo), math.log(hi), SPEED_LEVELS, device=dev))
        pick = torch.randint(0, SPEED_LEVELS, (B,), generator=g, device=dev)
        use = torch.rand(B, generator=g, device=dev) < p
        return torch.where(use, levels[pick], torch.ones(B, device=dev))

    def batch(self, B, L, seed):
        a, dev = self.aug, self.device
        g = torch.Generator(device=dev)
        g.manual_seed(int(seed))
        u = lambda *s: torch.rand(*s, generator=g, device=dev)  # noqa: E731
        src = torch.multinomial(self.s_w, B, replacement=True, generator=g)
        start = (u(B) * self.s_len[src].float()).long()
        # Optional augmentations (session 11; absent keys draw nothing, so older configs see
        # exactly the batches they saw before): speed/pitch perturbation of speech and noise,
        # and a second noise recording mixed into the first.
        s_rate = torch.ones(B, device=dev)
        if a.get("p_speed", 0) > 0:
            s_rate = self._rates(B, a["p_speed"], a.get("speed", [0.85, 1.18]), g)
            s = self._crop_speed(self.s_pool, self.s_off, self.s_len, src, start, L, s_rate)
        else:
            s = self._crop(self.s_pool, self.s_off, self.s_len, src, start, L)
        nsrc = torch.multinomial(self.n_w, B, replacement=True, generator=g)
        nstart = (u(B) * self.n_len[nsrc].float()).long()
        if a.get("p_noise_speed", 0) > 0:
            n_rate = self._rates(B, a["p_noise_speed"], a.get("noise_speed", [0.7, 1.4]), g)
            nz = self._crop_speed(self.n_pool, self.n_off, self.n_len, nsrc, nstart, L, n_rate)
        else:
            nz = self._crop(self.n_pool, self.n_off, self.n_len, nsrc, nstart, L)
        if a.get("p_noise2", 0) > 0:
            nsrc2 = torch.multinomial(self.n_w, B, replacement=True, generator=g)
            nstart2 = (u(B) * self.n_len[nsrc2].float()).long()
            nz2 = self._crop(self.n_pool, self.n_off, self.n_len, nsrc2, nstart2, L)
            r1 = torch.sqrt(nz.pow(2).mean(1, keepdim=True) + 1e-12)
            r2 = torch.sqrt(nz2.pow(2).mean(1, keepdim=True) + 1e-12)
            rel = 10 ** (-(u(B, 1) * a.get("noise2_db", 10.0)) / 20)   # 0..-10 dB below noise 1
            use2 = (u(B, 1) < a["p_noise2"]) & (nsrc2 != nsrc)[:, None]
            nz = torch.where(use2, nz + nz2 / r2 * r1 * rel, nz)
        # speech-free stretches: a random gate (0.1-0.6 s of silence somewhere) on some items
        gate = torch.ones(B, L, device=dev)
        use = u(B) < a["p_gap"]
        gl = (u(B) * 0.5 + 0.1) * SR
        gs = u(B) * L
        pos = torch.arange(L, device=dev)[None].float()
        inside = (pos >= gs[:, None]) & (pos < gs[:, None] + gl[:, None]) & use[:, None]
        gate = torch.where(inside, torch.zeros_like(gate), gate)
        s = s * gate
        s = self._eq(s, g, a["eq_db"])
        nz = self._eq(nz, g, a["eq_db"])
        if a.get("p_noise_tilt", 0) > 0:
            # (session 16) low-frequency-heavy noise: the held-out street and wind-turbine
            # noises are where DTLN leads; a tilt of noise_tilt_db_oct (default [-6, 0]) dB
            # per octave on a share of the items (before the SNR is set)
            lo_t, hi_t = a.get("noise_tilt_db_oct", [-6.0, 0.0])
            slope = lo_t + (hi_t - lo_t) * u(B)
            tilt = u(B) < a["p_noise_tilt"]
            nz = torch.where(tilt[:, None], self._tilt(nz, slope), nz)
        rev = u(B) < a["p_reverb"]
        if rev.any():
            s = torch.where(rev[:, None], self._reverb(s, g), s)
        # levels: SNR against the active speech RMS (frames within 40 dB of the loudest)
        fr = s[:, : L // 480 * 480].reshape(B, -1, 480).pow(2).mean(-1)
        act = fr > fr.amax(1, keepdim=True) * 1e-4
        s_rms = torch.sqrt((fr * act).sum(1) / act.sum(1).clamp(min=1) + 1e-12)
        n_rms = torch.sqrt(nz.pow(2).mean(1) + 1e-12)
        snr = snr_draw(a["snr_db"], u(B))
        nz = nz * (s_rms / n_rms * 10 ** (-snr / 20))[:, None]
        silent = s_rms < 1e-4
        nz = torch.where(silent[:, None], nz / n_rms[:, None] * 0.05, nz)
        only_noise = u(B) < a["p_noise_only"]
        s = torch.where(only_noise[:, None], torch.zeros_like(s), s)
        noisy = s + nz
        lo, hi = a["peak_dbfs"]
        peak = noisy.abs().amax(1).clamp(min=1e-6)
        gain = 10 ** ((lo + (hi - lo) * u(B)) / 20) / peak
        noisy, s = noisy * gain[:, None], s * gain[:, None]
        lp = u(B) < a["p_441"]
        if lp.any():
            noisy = torch.where(lp[:, None], self._lowpass(noisy, 22050.0), noisy)
            s = torch.where(lp[:, None], self._lowpass(s, 22050.0), s)
        clip = u(B) < a["p_clip"]
        lvl = noisy.abs().amax(1) * (0.3 + 0.6 * u(B))
        noisy = torch.where(clip[:, None], torch.maximum(torch.minimum(noisy, lvl[:, None]),
                                                         -lvl[:, None]), noisy)
        bw = (self.s_bw[src] * s_rate).clamp(max=SR / 2)   # a faster voice reaches higher
        bw = torch.where(lp, bw.clamp(max=22050.0), bw)
        self.last_bw = torch.where(only_noise, torch.full_like(bw, SR / 2), bw)
        return noisy[:, None], s[:, None]


# ---- loss --------------------------------------------------------------------------------------
_RFFT_FREQS = {}


def rfft_freqs(n, device):
    """torch.fft.rfftfreq(n, 1 / SR) on `device`: computed on the CPU and copied once per (n,
    device), then reused (the same values as before; a CPU-to-GPU copy of a pageable tensor
    synchronises the host with the GPU, and the losses and the mixer needed ~9 per step).
    Inside torch.compile it is computed on the device instead (no host tensor in the graph)."""
    if torch.compiler.is_compiling():
        return torch.fft.rfftfreq(n, 1 / SR, device=device)
    key = (int(n), device)
    f = _RFFT_FREQS.get(key)
    if f is None:
        f = _RFFT_FREQS[key] = torch.fft.rfftfreq(n, 1 / SR).to(device)
    return f


def stft_mag(x, n_fft, hop, win):
    w = torch.hann_window(win, device=x.device)
    X = torch.stft(x, n_fft, hop, win, w, return_complex=True)
    return torch.clamp(X.real ** 2 + X.imag ** 2, min=1e-7).sqrt()


def mrstft(y, t, resolutions, bw=None):
    """Multi-resolution STFT loss; with bw ([B] Hz) only the bins below each item's real
    bandwidth count (a band-limited source says nothing about the bands above it)."""
    sc = mag = 0.0
    for n_fft, hop, win in resolutions:
        Y, T = stft_mag(y, n_fft, hop, win), stft_mag(t, n_fft, hop, win)
        if bw is None:
            sc = sc + torch.norm(T - Y, p="fro") / torch.norm(T, p="fro").clamp(min=1e-6)
            mag = mag + F.l1_loss(torch.log(Y), torch.log(T))
        else:
            f = rfft_freqs(n_fft, y.device)
            m = (f[None, :] <= bw[:, None]).float()[:, :, None]       # [B, F, 1]
            sc = sc + torch.sqrt(((T - Y) ** 2 * m).sum()) / \
                torch.sqrt((T ** 2 * m).sum()).clamp(min=1e-6)
            mag = mag + ((torch.log(Y) - torch.log(T)).abs() * m).sum() / \
                (m.sum() * Y.shape[-1]).clamp(min=1)
    return sc / len(resolutions), mag / len(resolutions)


def compressed_spec_loss(y, t, n_fft, hop, win, c=0.3, alpha=0.3, bw=None):
    """Power-law compressed complex spectral loss (|Y|^c e^{j angle Y}): it scores the phase in
    every band about as much as the magnitude, whatever the band's energy (the magnitude STFT
    loss leaves phase free, the waveform L1 only cares where the energy is, i.e. below 2 kHz).
    (1 - alpha) * complex MSE + alpha * magnitude MSE, over the bins below bw."""
    w = torch.hann_window(win, device=y.device)
    # the spectra as [B, frames, bins] views (torch.stft's memory order, so the values and
    # their layout are what [B, bins, frames] gives; torch.compile's complex lowering needs
    # unit stride in the last dimension), e transposed back
    Y = torch.stft(y, n_fft, hop, win, w, return_complex=True).transpose(-1, -2)
    T = torch.stft(t, n_fft, hop, win, w, return_complex=True).transpose(-1, -2)
    aY = (Y.real ** 2 + Y.imag ** 2 + 1e-10).sqrt()
    aT = (T.real ** 2 + T.imag ** 2 + 1e-10).sqrt()
    cY, cT = aY ** c, aT ** c
    d = (Y * (cY / aY) - T * (cT / aT)).abs() ** 2
    e = ((1 - alpha) * d + alpha * (cY - cT) ** 2).transpose(-1, -2)
    if bw is None:
        return e.mean()
    f = rfft_freqs(n_fft, y.device)
    m = (f[None, :] <= bw[:, None]).float()[:, :, None]
    return (e * m).sum() / (m.sum() * e.shape[-1]).clamp(min=1)


def band_limit(x, bw):
    """x [B, L] low-passed at bw [B] Hz (FFT mask with a 600 Hz raised-cosine edge)."""
    X = torch.fft.rfft(x)
    f = rfft_freqs(x.shape[-1], x.device)
    w = torch.clamp((bw[:, None] - f[None, :]) / 600.0 + 1.0, 0, 1)
    w = 0.5 - 0.5 * torch.cos(math.pi * w)
    return torch.fft.irfft(X * w, n=x.shape[-1])


def si_sdr(est, ref, eps=1e-8):
    """Per-item SI-SDR (dB) of [B, L] signals (zero-mean, as tools/eval/metrics.py)."""
    est = est - est.mean(-1, keepdim=True)
    ref = ref - ref.mean(-1, keepdim=True)
    a = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    t = a * ref
    return 10 * torch.log10(t.pow(2).sum(-1) / ((est - t).pow(2).sum(-1) + eps) + eps)


def sisdr_loss(est, clean, hz):
    """-SI-SDR of [B, L] est against clean, both band-limited below hz (the eval scores 16 kHz
    copies), clamped at 50 dB, averaged over the items whose clean signal is not silent."""
    lim = torch.full((est.shape[0],), float(hz), device=est.device)
    ref = band_limit(clean, lim)
    live = ref.pow(2).mean(-1) > 1e-10
    sd_ = si_sdr(band_limit(est, lim), ref).clamp(max=50.0)
    return -(sd_ * live).sum() / live.sum().clamp(min=1)


# ---- training ----------------------------------------------------------------------------------
def make_step_loss(model, cfg, amp, out_delay):
    """The training step's forward: step_loss(noisy, clean, bw) -> (loss, terms), the network
    (bf16 autocast when amp) and every loss term of cfg on one batch (bw: the batch's real
    bandwidths, or None without band_loss); terms holds the logged parts (l1, sc, mag and,
    when weighted, cspec / pesq / sisdr). One function so that torch.compile (config key
    compile) can take the network and the losses together."""
    res = [tuple(r) for r in cfg["stft_resolutions"]]
    band = cfg.get("band_loss", False)
    w_sisdr = cfg.get("sisdr_weight", 0.0)
    sisdr_hz = cfg.get("sisdr_band_hz", 8000.0)
    w_cspec = cfg.get("cspec_weight", 0.0)
    cspec_res = tuple(cfg.get("cspec_resolution", [1024, 240, 960]))
    w_pesq = cfg.get("pesq_weight", 0.0)
    if w_pesq:
        # ultra_e2e's PESQ-like loss (compressed magnitudes, < 8 kHz weighted 1, residual
        # noise weighted 1 + pesq_noise_asym), imported here so there is one copy of it
        from ultra_e2e import spec_loss as pesq_like_loss

    def step_loss(noisy, clean, bw):
        B = noisy.shape[0]
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
            est = model(noisy)
        est = est.float()
        if out_delay:
            # the network learns the clean speech out_delay samples late: it sees that many
            # samples of future context (the .gnvm's metadata.demucs.output_delay)
            est, clean, noisy = delay_align(est, clean, noisy, out_delay)
        if cfg.get("loss_scale") == "input_std":
            # waveform loss on the scale the network sees (Demucs divides by the input's std):
            # without it the L1 term is ~100x smaller than the scale-free STFT terms at low
            # levels, and the phase of the output is left unconstrained
            sd = noisy.std(dim=-1, keepdim=True).clamp(min=1e-5)
            e1 = band_limit(est[:, 0], bw)[:, None] if band else est
            l1 = F.l1_loss(e1 / sd, clean / sd)
        else:
            l1 = F.l1_loss(est, clean)
        sc, mag = mrstft(est[:, 0], clean[:, 0], res, bw)
        loss = cfg.get("l1_weight", 1.0) * l1 + cfg.get("stft_weight", 1.0) * (sc + mag)
        if w_cspec:
            sdv = sd[:, 0] if cfg.get("loss_scale") == "input_std" else \
                noisy.std(dim=-1).clamp(min=1e-5)
            lc = compressed_spec_loss(est[:, 0] / sdv, clean[:, 0] / sdv, *cspec_res, bw=bw)
            loss = loss + w_cspec * lc
        if w_pesq:
            bwp = bw if bw is not None else torch.full((B,), SR / 2, device=noisy.device)
            lp = pesq_like_loss(est[:, 0], clean[:, 0], noisy[:, 0], bwp,
                                cfg.get("pesq_fft", 1536), cfg.get("pesq_hop", 384),
                                cfg.get("pesq_hf_weight", 0.2), cfg.get("pesq_noise_asym", 1.0),
                                lf_hz=cfg.get("pesq_lf_hz", 2000.0),
                                lf_weight=cfg.get("pesq_lf_weight", 1.0))
            loss = loss + w_pesq * lp
        if w_sisdr:
            # SI-SDR below sisdr_band_hz (the eval scores 16 kHz copies), speech items only
            ls = sisdr_loss(est[:, 0], clean[:, 0], sisdr_hz)
            loss = loss + w_sisdr * ls
        terms = {"l1": l1, "sc": sc, "mag": mag}
        if w_cspec:
            terms["cspec"] = lc
        if w_pesq:
            terms["pesq"] = lp
        if w_sisdr:
            terms["sisdr"] = ls
        return loss, terms

    return step_loss


def delay_align(est, clean, noisy, delay):
    """A network trained to output the clean speech `delay` samples late: est[t] is scored
    against clean[t - delay] (and noisy[t - delay], its input at that time), so the first
    `delay` output samples and the last `delay` target samples drop out. delay 0: unchanged."""
    if delay <= 0:
        return est, clean, noisy
    n = est.shape[-1] - delay
    return est[..., delay:], clean[..., :n], noisy[..., :n]


def lr_at(cfg, step, elapsed_frac=None):
    """Warm-up, then cosine to lr * lr_final; with elapsed_frac (schedule "time") the cosine
    follows the fraction of the wall-clock budget spent, so a time-capped run still anneals."""
    warm, total = cfg.get("warmup_steps", 200), cfg["steps"]
    if step < warm:
        return cfg["lr"] * (step + 1) / warm
    p = min(1.0, (step - warm) / max(1, total - warm))
    if elapsed_frac is not None:
        p = max(p, min(1.0, elapsed_frac))
    return cfg["lr"] * (cfg.get("lr_final", 0.05) + (1 - cfg.get("lr_final", 0.05))
                        * 0.5 * (1 + math.cos(math.pi * p)))


def save(path, model, opt, step, cfg, extra=None):
    tmp = str(path) + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                "config": cfg, **(extra or {})}, tmp)
    os.replace(tmp, path)


# ---- step speed (session 13; every option off by default: old configs run as before) ----------
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune-no-cudagraphs")


def make_optimizer(model, cfg, dev):
    """Adam with cfg's betas; fused_adam (bool, default false): PyTorch's fused Adam kernel
    (one launch per parameter group and dtype instead of the multi-tensor loop; the same
    algorithm: bias-corrected first/second moments, eps added to sqrt(v_hat), to rounding).
    If fused Adam cannot be built here the plain one is used and the run says so."""
    kw = dict(lr=cfg["lr"], betas=tuple(cfg.get("betas", (0.9, 0.999))))
    if cfg.get("fused_adam"):
        try:
            return torch.optim.Adam(model.parameters(), fused=True, **kw)
        except (RuntimeError, ValueError, TypeError) as e:
            print(f"enhanced_train: fused_adam unavailable on {dev} ({type(e).__name__}: "
                  f"{str(e)[:160]}); plain Adam", flush=True)
    return torch.optim.Adam(model.parameters(), **kw)


class EmaAverage:
    """The exponential moving average of the model's weights (config ema: the decay, warmed up
    as min(ema, (1 + step) / (10 + step))); state: the averaged state dict (fp32).
    foreach (config ema_foreach, default false): the same mul-then-add per tensor as two
    multi-tensor launches (torch._foreach_mul_ / _foreach_add_) instead of two launches and a
    state_dict() walk per tensor (80 launches for the enhanced model)."""

    def __init__(self, model, decay, foreach=False):
        self.model, self.decay, self.foreach = model, decay, bool(foreach)
        self.state = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
        live = model.state_dict(keep_vars=True)   # the parameters themselves: always current
        self._dst = [self.state[k] for k, v in live.items() if v.dtype.is_floating_point]
        self._src = [v for v in live.values() if v.dtype.is_floating_point]
        self._other = [(self.state[k], v) for k, v in live.items()
                       if not v.dtype.is_floating_point]

    def update(self, step):
        d = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            if self.foreach:
                torch._foreach_mul_(self._dst, d)
                torch._foreach_add_(self._dst, [v.detach().float() for v in self._src],
                                    alpha=1 - d)
            else:
                for e, v in zip(self._dst, self._src):
                    e.mul_(d).add_(v.detach().float(), alpha=1 - d)
            for e, v in self._other:
                e.copy_(v)


def read_cache_file(path) -> bytes:
    """The bytes of a compile cache file; a path ending in .xz is lzma-decompressed."""
    b = pathlib.Path(path).read_bytes()
    return lzma.decompress(b) if str(path).endswith(".xz") else b


def write_cache_file(path, data: bytes) -> int:
    """Writes a compile cache file (temp file + rename; lzma-compressed when the path ends in
    .xz); returns the bytes written."""
    if str(path).endswith(".xz"):
        data = lzma.compress(data, preset=6)
    tmp = str(path) + ".tmp"
    pathlib.Path(tmp).write_bytes(data)
    os.replace(tmp, path)
    return len(data)


class TrainStep:
    """One step's forward and backward: (loss, terms) = step(noisy, clean, bw, opt) runs
    step_loss (make_step_loss), opt.zero_grad and loss.backward(). Config compile: "none"
    (default: eager, as before) | "default" | "reduce-overhead" (CUDA graphs) |
    "max-autotune-no-cudagraphs": torch.compile of step_loss (network + losses) with
    dynamic=False (the training shape never changes; the validation runs its own eager
    network); compile_backend (default "inductor"; e.g. "aot_eager" to tell an Inductor
    problem from a Dynamo one). If torch.compile, the compilation (at the first call) or any
    later compiled call raises, the step is redone eagerly, the run stays eager and says so.
    compile_s: seconds of the first compiled step (compilation included).
    compile_cache (a file path, default none): torch.compiler's portable cache artifacts
    (Inductor's generated kernels, AOTAutograd graphs) are loaded from it before the first
    step when it exists, and written to it after the first compiled step, so a later call on a
    fresh machine (same torch, same GPU kind) that carries the file skips most of the
    compilation; a file that does not load is ignored (said so). A path ending in .xz is
    lzma-compressed (read_cache_file / write_cache_file): the H200's 38.6 MB of artifacts are
    over the device's return limit, the CPU's compress 29x."""

    def __init__(self, fn, cfg, dev):
        self.eager = self.fn = fn
        self.mode = cfg.get("compile") or "none"
        if self.mode not in COMPILE_MODES:
            raise SystemExit(f"enhanced_train: compile {self.mode!r} is not one of "
                             f"{', '.join(COMPILE_MODES)}")
        self.backend = cfg.get("compile_backend") or "inductor"
        self.cudagraphs = self.mode == "reduce-overhead" and dev.type == "cuda"
        self.dev = dev
        self.compiled = False
        self.compile_s = None
        self.failed = None
        self.calls = 0
        self.cache = cfg.get("compile_cache")
        if self.mode == "none":
            return
        if self.cache and os.path.exists(self.cache):
            try:
                info = torch.compiler.load_cache_artifacts(read_cache_file(self.cache))
                n = sum(len(v) for v in getattr(info, "artifacts", {}).values())
                print(f"enhanced_train: compile cache {self.cache} "
                      f"{f'loaded ({n} artifacts)' if n else 'ignored (no artifacts in it)'}",
                      flush=True)
            except Exception as e:  # noqa: BLE001
                print(f"enhanced_train: compile cache {self.cache} ignored ({type(e).__name__}: "
                      f"{str(e)[:160]})", flush=True)
        try:
            kw = dict(backend=self.backend, dynamic=False)
            if self.backend == "inductor" and self.mode != "default":
                kw["mode"] = self.mode
            self.fn = torch.compile(fn, **kw)
            self.compiled = True
        except Exception as e:  # noqa: BLE001 (any failure: the call must go on eagerly)
            self._fall_back(e, "torch.compile")

    def _fall_back(self, e, where):
        msg = " / ".join([x.strip() for x in str(e).splitlines() if x.strip()][:2])[:300]
        self.failed = f"{where}: {type(e).__name__}: {msg}"
        print(f"enhanced_train: compile={self.mode} failed ({self.failed}); "
              "continuing eagerly", flush=True)
        self.fn, self.compiled = self.eager, False
        try:
            torch._dynamo.reset()
        except Exception:  # noqa: BLE001
            pass

    def __call__(self, noisy, clean, bw, opt):
        if self.compiled:
            t = time.time()
            try:
                if self.cudagraphs:
                    torch.compiler.cudagraph_mark_step_begin()
                loss, terms = self.fn(noisy, clean, bw)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if self.compile_s is None:
                    if self.dev.type == "cuda":
                        torch.cuda.synchronize(self.dev)
                    self.compile_s = time.time() - t
                    print(f"enhanced_train: compile={self.mode} ({self.backend}): first step "
                          f"{self.compile_s:.1f} s (compilation included)", flush=True)
                    self._save_cache()
                self.calls += 1
                return loss, terms
            except Exception as e:  # noqa: BLE001
                self._fall_back(e, "first step" if self.calls == 0 else f"step {self.calls + 1}")
        loss, terms = self.fn(noisy, clean, bw)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        self.calls += 1
        return loss, terms

    def _save_cache(self):
        if not self.cache:
            return
        try:
            art = torch.compiler.save_cache_artifacts()
            if art is None:
                print("enhanced_train: compile cache: nothing to save", flush=True)
                return
            n = write_cache_file(self.cache, art[0])
            packed = f", {n / 1e6:.1f} MB compressed" if n != len(art[0]) else ""
            print(f"enhanced_train: compile cache written to {self.cache} "
                  f"({len(art[0]) / 1e6:.1f} MB{packed})", flush=True)
        except Exception as e:  # noqa: BLE001 (the cache is an optimisation: never fatal)
            print(f"enhanced_train: compile cache not written ({type(e).__name__}: "
                  f"{str(e)[:160]})", flush=True)

    def describe(self):
        if self.compiled:
            return (f"compile={self.mode} ({self.backend}, first step {self.compile_s or 0:.1f} s "
                    "with compilation)")
        if self.failed:
            return f"eager (compile={self.mode} failed: {self.failed})"
        return "eager"


class SpeedMeter:
    """This run's steps/s for the end-of-run line: over the whole loop (from its start, so
    compilation and warm-up count), after the first WARM steps, and the warm-up's cost (the
    first WARM steps' time beyond the steady rate). Synchronises the device three times per
    run (after the first and the WARM-th step, at the end), never per step."""
    WARM = 10

    def __init__(self, step0, dev):
        self.step0, self.dev = step0, dev
        self.t0 = time.time()
        self.t_first = self.t_warm = None
        self.n = 0
        self.wall = 0.0

    def _now(self):
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)
        return time.time()

    def tick(self, step):
        n = step - self.step0
        if n == 1:
            self.t_first = self._now() - self.t0
        if n == self.WARM:
            self.t_warm = self._now() - self.t0

    def finish(self, step):
        self.n = step - self.step0
        self.wall = self._now() - self.t0

    def summary(self, what):
        n, wall = self.n, self.wall
        if n <= 0:
            return "enhanced_train: speed: no steps in this run"
        line = (f"enhanced_train: speed: {n} steps in {wall:.1f} s = {n / wall:.2f} steps/s "
                f"over the run; first step {self.t_first:.1f} s")
        if self.t_warm is not None and n > self.WARM and wall > self.t_warm:
            steady = (n - self.WARM) / (wall - self.t_warm)
            line += (f"; {steady:.2f} steps/s after the first {self.WARM} (warm-up "
                     f"{max(0.0, self.t_warm - self.WARM / steady):.1f} s beyond that rate)")
        return f"{line}; {what}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--pack", required=True)
    ap.add_argument("--work-dir", help="overrides the config's work_dir")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--steps", type=int, help="stop after this step (smoke runs; the schedule "
                    "still follows the config's steps)")
    ap.add_argument("--max-minutes", type=float, help="overrides the config's max_minutes")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, help="overrides the config (smoke runs)")
    ap.add_argument("--segment", type=float, help="overrides segment_seconds (smoke runs)")
    ap.add_argument("--sndfile-dir", help="folder holding libsndfile.so.1 (Opus packs)")
    ap.add_argument("--init-from", help="overrides the config's init_from")
    ap.add_argument("--widen-from", help="a narrower model's state dict (e.g. hidden 48) to "
                    "initialise this config's wider model from (widen_state_dict)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="override a config key; dotted keys reach nested ones "
                    "(--set model.hidden=64 --set aug.snr_db=[-5,25])")
    a = ap.parse_args(argv)
    try:
        cfg = load_config(a.config, a.set)
    except ValueError as e:
        ap.error(str(e))
    work = pathlib.Path(a.work_dir or cfg["work_dir"])
    work.mkdir(parents=True, exist_ok=True)
    # the configuration this run trains with, overrides applied (what a call really ran)
    (work / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")
    if a.set:
        print(f"enhanced_train: overrides {' '.join(a.set)} -> {work / 'config.json'}",
              flush=True)
    max_min = a.max_minutes if a.max_minutes is not None else cfg.get("max_minutes", 1e9)
    t0 = time.time()
    dev = train_common.setup_torch(a.device, cfg)   # device, CPU threads, seed, cuDNN
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    # the pack first: the Opus decoder pool forks before CUDA is initialised
    if pathlib.Path(a.pack).is_dir():
        speech, noise = load_opus_pack(a.pack, dev, a.sndfile_dir)
    else:
        speech, noise = load_pack(a.pack, dev)
    model = build_model(cfg).to(dev)
    if cfg.get("running_norm"):
        set_running_norm(model)
    opt = make_optimizer(model, cfg, dev)
    step = 0
    init_sd = None   # the init_from weights, scored in the validation as "init"
    last = work / "last.pt"
    if a.init_from:
        cfg["init_from"] = a.init_from
    if cfg.get("init_from") and not (a.resume and last.exists()):
        # fine-tuning: start from another run's weights (a state dict, e.g. its model.pt)
        sd = torch.load(cfg["init_from"], map_location=dev, weights_only=True)
        model.load_state_dict({k: v.float() for k, v in sd.items()})
        init_sd = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
        if cfg.get("init_negate_output"):
            # the output layer (last decoder's transposed conv, nothing non-linear after it)
            # negated: an exact sign flip of the model's output
            with torch.no_grad():
                ct = model.decoder[-1][-1]
                ct.weight.neg_()
                ct.bias.neg_()
        print(f"enhanced_train: initialised from {cfg['init_from']}"
              f"{' (output negated)' if cfg.get('init_negate_output') else ''}", flush=True)
    if a.widen_from:
        cfg["widen_from"] = a.widen_from
    if cfg.get("widen_from") and not (a.resume and last.exists()):
        sd = torch.load(cfg["widen_from"], map_location="cpu", weights_only=True)
        model.load_state_dict(widen_state_dict(sd, model.cpu()))
        model.to(dev)
        print(f"enhanced_train: widened from {cfg['widen_from']} "
              f"(hidden {cfg['model']['hidden']})", flush=True)
    if a.resume and last.exists():
        ck = torch.load(last, map_location=dev, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        print(f"enhanced_train: resumed from {last} at step {step}", flush=True)
    mixer = GpuMixer(speech, noise, cfg["aug"], dev)
    B = a.batch_size or cfg["batch_size"]
    L = int((a.segment or cfg["segment_seconds"]) * SR)
    L = model.valid_length(L)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"enhanced_train: {n_params} parameters, batch {B} x {L} samples, "
          f"{len(speech)} speakers ({mixer.s_pool.numel() / SR:.0f} s), {len(noise)} noises "
          f"({mixer.n_pool.numel() / SR:.0f} s), device {dev}, load {time.time() - t0:.1f} s",
          flush=True)
    amp = dev.type == "cuda" and cfg.get("bf16", True)
    stop = min(cfg["steps"], a.steps or cfg["steps"])
    band = cfg.get("band_loss", False)
    sisdr_hz = cfg.get("sisdr_band_hz", 8000.0)
    out_delay = training_output_delay(cfg)
    if not 0 <= out_delay < L // 2:
        raise SystemExit(f"enhanced_train: output_delay {out_delay} must be in [0, {L // 2})")
    by_time = cfg.get("schedule") == "time"
    ema_decay = cfg.get("ema", 0.0)
    ema_avg = EmaAverage(model, ema_decay, cfg.get("ema_foreach", False)) if ema_decay else None
    ema = ema_avg.state if ema_avg is not None else None
    step_loss = TrainStep(make_step_loss(model, cfg, amp, out_delay), cfg, dev)
    t_train = time.time()
    budget_s = max_min * 60 - (t_train - t0)
    log = open(work / "log.jsonl", "a")
    acc, n_acc, t_last = 0.0, 0, time.time()
    ckpt_every = cfg.get("checkpoint_every", 1000)
    model.train()
    speed = SpeedMeter(step, dev)
    while step < stop:
        if (time.time() - t0) / 60 > max_min:
            print(f"enhanced_train: wall-clock budget reached at step {step}", flush=True)
            break
        lr = lr_at(cfg, step, (time.time() - t_train) / budget_s if by_time else None)
        for gr in opt.param_groups:
            gr["lr"] = lr
        with torch.no_grad():
            noisy, clean = mixer.batch(B, L, cfg["seed"] * 1000003 + step)
            bw = mixer.last_bw if band else None
        loss, terms = step_loss(noisy, clean, bw, opt)   # forward + backward
        if cfg.get("grad_clip"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        opt.step()
        step += 1
        if ema_avg is not None:
            ema_avg.update(step)
        speed.tick(step)
        acc = acc + loss.detach()   # a device tensor: no synchronisation per step
        n_acc += 1
        if step % cfg.get("log_every", 200) == 0 or step == stop:
            tv = {k: float(v.detach()) for k, v in terms.items()}
            rec = {"step": step, "loss": float(acc) / max(1, n_acc), "l1": tv["l1"],
                   **({"sisdr": -tv["sisdr"]} if "sisdr" in tv else {}),
                   **({"cspec": tv["cspec"]} if "cspec" in tv else {}),
                   **({"pesq": tv["pesq"]} if "pesq" in tv else {}),
                   "sc": tv["sc"],
                   "mag": tv["mag"], "lr": lr, "wall_s": round(time.time() - t0, 1),
                   "steps_per_s": round(cfg.get("log_every", 200) / (time.time() - t_last), 2)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)
            acc, n_acc, t_last = 0.0, 0, time.time()
        if step % ckpt_every == 0:
            save(last, model, opt, step, cfg)
            torch.save(model.state_dict(), work / "model.pt")
    speed.finish(step)
    save(last, model, opt, step, cfg)
    torch.save(model.state_dict(), work / "model.pt")
    print(f"enhanced_train: step {step}, wrote {last} and {work / 'model.pt'} "
          f"({time.time() - t0:.0f} s)", flush=True)
    print(speed.summary(step_loss.describe() + (", fused_adam" if opt.defaults.get("fused") else "")
                        + (", ema_foreach" if ema_avg is not None and ema_avg.foreach else "")),
          flush=True)
    if ema is not None:
        torch.save(ema, work / "ema.pt")
    if cfg.get("val_batches"):
        # fixed mixes from the training sources (never the held-out set): SI-SDR below
        # sisdr_band_hz of the raw and the EMA weights, to pick one for export
        # init: the init_from weights (e.g. the shipped model) on the same mixes, run as the
        # plain network (no skip delay) and scored without output delay, as it was trained
        val = {"step": step}
        cands = [("model", model.state_dict())] + ([("ema", ema)] if ema is not None else [])
        if init_sd is not None and cfg.get("val_init", False):
            cands.append(("init", init_sd))
        for name, sd in cands:
            plain = name == "init"
            vm = build_model(dict(cfg, skip_delay=0) if plain else cfg).to(dev).eval()
            if cfg.get("running_norm") and not plain:
                set_running_norm(vm)
            vdelay = 0 if plain else out_delay
            vm.load_state_dict({k: v.to(vm.state_dict()[k].dtype) for k, v in sd.items()})
            tot, cnt, inp = 0.0, 0, 0.0
            with torch.no_grad():
                for i in range(cfg["val_batches"]):
                    noisy, clean = mixer.batch(B, L, 777 + i)
                    with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
                        est = vm(noisy).float()
                    est, clean, noisy = delay_align(est, clean, noisy, vdelay)
                    lim = torch.full((B,), sisdr_hz, device=dev)
                    ref = band_limit(clean[:, 0], lim)
                    live = ref.pow(2).mean(-1) > 1e-10
                    tot += float((si_sdr(band_limit(est[:, 0], lim), ref) * live).sum())
                    inp += float((si_sdr(band_limit(noisy[:, 0], lim), ref) * live).sum())
                    cnt += int(live.sum())
            val[name] = round(tot / max(1, cnt), 3)
            val["noisy_init" if plain else "noisy"] = round(inp / max(1, cnt), 3)
        (work / "val.json").write_text(json.dumps(val))
        print(f"enhanced_train: validation SI-SDR (training sources, fixed mixes) {val}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
