"""Training and evaluation data for the default RNNoise-family model.

What this module does:
  * indexes the clean speech and the real noise recordings under a data root (default
    $GHOSTNV_SHARED_DIR/data, else /work/shared/data), resampled to 48 kHz with soxr;
  * fixes the train / held-out split by *folder or file* (whole speakers, whole noise recordings),
    see HELDOUT_SPEECH_FOLDERS and HELDOUT_NOISE below;
  * mixes long noisy/clean 48 kHz streams from a seed (random segments, SNR, gain, spectral
    shaping, noise-only and speech-only segments), reproducibly;
  * turns a stream into network features and target gains with the C++ feature extractor
    (through ghostnv_ext) and caches them as .npy under tools/train/work/.

  corpus = Corpus.load(data_root)
  mix = Mixer(corpus, "train", MixConfig())
  clean, noisy, bw = mix.stream(seconds=600, seed=1)
  feats = stream_features(clean, noisy, bw, ext)   # dict of features/gains/vad arrays

Everything here is deterministic given (data files, config, seed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
from typing import Optional

import numpy as np

try:   # Not needed to train from a feature pack (train_ultra.py --pack) on a bare GPU machine.
    import soundfile as sf
    import soxr
except ImportError:   # pragma: no cover
    sf = soxr = None

SR = 48000
HOP = 480
NB_BANDS = 22
NB_FEATURES = 42

# Centre frequencies (Hz) of RNNoise's 22 triangular bands at 48 kHz (edges of eband5ms x 200 Hz).
BAND_CENTERS_HZ = np.array(
    [0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 2000, 2400, 2800, 3200, 4000, 4800, 5600,
     6800, 8000, 9600, 12000, 15600, 20000], dtype=np.float64)

# ---- The split (by speaker folder and by noise recording; never by clip) -----------------------
# Held-out speakers: three KLettres voices (it: female, full band; lt: male, ~12.7 kHz band;
# es: ~7.5 kHz band). Nothing from these folders is ever mixed into training data.
HELDOUT_SPEECH_FOLDERS = ("klettres_it_44k", "klettres_lt_44k", "klettres_es_44k")
# Held-out noises: the whole street recording folder and two UFO:AI ambience recordings.
HELDOUT_NOISE = ("soundpy_street_48k", "ufoai_ambience/waterfontain.wav",
                 "ufoai_ambience/wind_turbine.wav")
# Extra data roots (e.g. /work/debian-audio from /work/shared/data/get-debian-audio.sh) may hold
# the same recordings under other folder names (Debian's ufoai-sound ships waterfontain and
# wind_turbine, klettres-data the held-out voices): anything whose folder or file name matches
# one of these is dropped from an extra root. Extra roots only ever add *training* data.
EXTRA_DROP_SPEECH = ("klettres",)                       # every KLettres voice (conservative)
EXTRA_DROP_NOISE = ("soundpy", "street", "waterfontain", "wind_turbine")
DEBIAN_AUDIO_ROOT = pathlib.Path("/work/debian-audio")


def default_data_root() -> pathlib.Path:
    shared = os.environ.get("GHOSTNV_SHARED_DIR")
    if shared:
        return pathlib.Path(shared) / "data"
    return pathlib.Path("/work/shared/data")


def read_48k(path: pathlib.Path) -> np.ndarray:
    """Mono float32 at 48 kHz, scale [-1, 1]."""
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != SR:
        x = soxr.resample(x, sr, SR, quality="HQ")
    return np.ascontiguousarray(x, dtype=np.float32)


def estimate_bandwidth(clips: list[np.ndarray], floor_db: float = -60.0) -> float:
    """Highest frequency (Hz) where the long-term spectrum of `clips` is within floor_db of its
    peak. Used to mask bands above a speaker's real bandwidth (e.g. 22.05 kHz or 16 kHz sources)."""
    n = 2048
    win = np.hanning(n)
    acc = np.zeros(n // 2 + 1)
    for x in clips:
        if len(x) < n:
            continue
        fr = np.lib.stride_tricks.sliding_window_view(x, n)[:: n // 2] * win
        acc += (np.abs(np.fft.rfft(fr, axis=1)) ** 2).sum(axis=0)
    if acc.max() <= 0:
        return SR / 2
    db = 10 * np.log10(acc / acc.max() + 1e-30)
    freqs = np.fft.rfftfreq(n, 1 / SR)
    return float(freqs[np.nonzero(db > floor_db)[0].max()])


@dataclasses.dataclass
class SpeechSource:
    name: str                 # folder name = one speaker (or one voice set)
    clips: list[np.ndarray]
    bandwidth_hz: float       # real content bandwidth (see estimate_bandwidth)

    @property
    def seconds(self) -> float:
        return sum(len(c) for c in self.clips) / SR


@dataclasses.dataclass
class NoiseSource:
    name: str                 # "folder" or "folder/file.wav"
    kind: str                 # "continuous" (one signal) or "events" (short clips, e.g. key presses)
    signal: Optional[np.ndarray] = None
    events: Optional[list[np.ndarray]] = None

    @property
    def seconds(self) -> float:
        if self.kind == "continuous":
            return len(self.signal) / SR
        return sum(len(e) for e in self.events) / SR


def _crossfade_concat(parts: list[np.ndarray], fade: int) -> np.ndarray:
    out = parts[0].copy()
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    for p in parts[1:]:
        if len(out) < fade or len(p) < fade:
            out = np.concatenate([out, p])
            continue
        head = out[-fade:] * (1 - ramp) + p[:fade] * ramp
        out = np.concatenate([out[:-fade], head, p[fade:]])
    return out


class Corpus:
    """All speech and noise, resampled to 48 kHz and split into train / heldout."""

    def __init__(self, root: pathlib.Path, speech: dict, noise: dict):
        self.root = root
        self.speech = speech   # split -> list[SpeechSource]
        self.noise = noise     # split -> list[NoiseSource]
        self.extra_roots: list[str] = []

    @staticmethod
    def load(root: Optional[pathlib.Path] = None, exclude: tuple = (),
             extra_roots: tuple = ()) -> "Corpus":
        """exclude: folder names ("soundpy_cafe_48k") or "folder/file.wav" keys to leave out
        entirely (e.g. for licence reasons). extra_roots: more folders with speech/ and noise/
        (same layout) whose sources all go to the *train* split; a root that is absent is
        skipped, and names matching EXTRA_DROP_SPEECH / EXTRA_DROP_NOISE are dropped."""
        corpus = Corpus._load_one(pathlib.Path(root or default_data_root()), exclude)
        for extra in extra_roots:
            extra = pathlib.Path(extra)
            if not (extra / "speech").is_dir():
                continue
            more = Corpus._load_one(extra, exclude, extra=True)
            # Prefix the names so they never collide with (or are taken for) the main root's.
            for s in more.speech["train"]:
                s.name = f"{extra.name}:{s.name}"
            for n in more.noise["train"]:
                n.name = f"{extra.name}:{n.name}"
            corpus.speech["train"] += more.speech["train"]
            corpus.noise["train"] += more.noise["train"]
            corpus.extra_roots.append(str(extra))
        return corpus

    @staticmethod
    def _load_one(root: pathlib.Path, exclude: tuple, extra: bool = False) -> "Corpus":
        def dropped(name: str, words: tuple) -> bool:
            return extra and any(w in name.lower() for w in words)

        exclude = set(exclude)
        if not (root / "speech").is_dir() or (not extra and not (root / "noise").is_dir()):
            raise FileNotFoundError(f"{root}: no speech/ and noise/ folders")
        speech = {"train": [], "heldout": []}
        for d in sorted((root / "speech").iterdir()):
            files = sorted([*d.glob("*.wav"), *d.glob("*.flac")])
            if not files or d.name in exclude or dropped(d.name, EXTRA_DROP_SPEECH):
                continue
            clips = [read_48k(f) for f in files]
            split = "heldout" if d.name in HELDOUT_SPEECH_FOLDERS else "train"
            speech[split].append(SpeechSource(d.name, clips, estimate_bandwidth(clips)))
        noise = {"train": [], "heldout": []}
        noise_dirs = sorted((root / "noise").iterdir()) if (root / "noise").is_dir() else []
        for d in noise_dirs:
            if not d.is_dir():
                continue
            files = [f for f in sorted([*d.glob("*.wav"), *d.glob("*.flac")])
                     if f"{d.name}/{f.name}" not in exclude
                     and not dropped(f"{d.name}/{f.name}", EXTRA_DROP_NOISE)]
            if not files or d.name in exclude:
                continue
            sigs = [read_48k(f) for f in files]
            med = float(np.median([len(s) for s in sigs])) / SR
            folder_held = d.name in HELDOUT_NOISE and not extra
            if med < 0.5:        # isolated events (key presses): one source, placed at random
                split = "heldout" if folder_held else "train"
                noise[split].append(NoiseSource(d.name, "events", events=sigs))
            elif med < 2.0:      # 1-s chunks of one recording: join in name order
                split = "heldout" if folder_held else "train"
                noise[split].append(
                    NoiseSource(d.name, "continuous", signal=_crossfade_concat(sigs, 480)))
            else:                # long recordings: one source each
                for f, s in zip(files, sigs):
                    key = f"{d.name}/{f.name}"
                    split = ("heldout" if (folder_held or (not extra and key in HELDOUT_NOISE))
                             else "train")
                    noise[split].append(NoiseSource(key, "continuous", signal=s))
        return Corpus(root, speech, noise)

    def describe(self) -> dict:
        out = {}
        for split in ("train", "heldout"):
            out[split] = {
                "speech": {s.name: {"clips": len(s.clips), "seconds": round(s.seconds, 1),
                                    "bandwidth_hz": round(s.bandwidth_hz)}
                           for s in self.speech[split]},
                "noise": {n.name: {"kind": n.kind, "seconds": round(n.seconds, 1)}
                          for n in self.noise[split]},
            }
        return out


@dataclasses.dataclass
class MixConfig:
    segment_seconds: tuple = (3.0, 12.0)   # each segment: one speaker, one noise, one SNR
    snr_db: tuple = (-5.0, 20.0)
    peak_dbfs: tuple = (-40.0, -1.0)       # peak of the noisy segment after the overall gain
    p_noise_only: float = 0.1
    p_speech_only: float = 0.1
    p_synthetic_noise: float = 0.15        # filtered Gaussian noise (train only; fans, hiss)
    p_speed: float = 0.5                   # resample speech by a factor in speed_range
    speed_range: tuple = (0.88, 1.12)
    p_filter: float = 0.9                  # random 2nd-order filters (RNNoise's rand_resp)
    filter_range: float = 0.375
    gap_seconds: tuple = (0.05, 0.6)       # silence between concatenated clips of a speaker
    fade_seconds: float = 0.01


def random_biquad(rng: np.random.Generator, r: float) -> tuple[np.ndarray, np.ndarray]:
    """b = [1, b1, b2], a = [1, a1, a2] with coefficients uniform in [-r, r] (r < 0.5: stable)."""
    b = np.array([1.0, *rng.uniform(-r, r, 2)])
    a = np.array([1.0, *rng.uniform(-r, r, 2)])
    return b, a


def biquad(x: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    from scipy.signal import lfilter
    return lfilter(b, a, x).astype(np.float32)


def active_rms(x: np.ndarray, frame: int = 480, rel_db: float = -40.0) -> float:
    """RMS over the frames within rel_db of the loudest frame (speech level without the gaps)."""
    n = len(x) // frame
    if n == 0:
        return float(np.sqrt(np.mean(x.astype(np.float64) ** 2) + 1e-20))
    e = (x[: n * frame].astype(np.float64).reshape(n, frame) ** 2).mean(axis=1)
    act = e > e.max() * 10 ** (rel_db / 10)
    return float(np.sqrt(e[act].mean() + 1e-20))


class Mixer:
    """Builds noisy/clean streams from one split of a Corpus."""

    def __init__(self, corpus: Corpus, split: str, cfg: MixConfig):
        self.corpus = corpus
        self.split = split
        self.cfg = cfg
        self.speech = corpus.speech[split]
        self.noise = corpus.noise[split]
        if not self.speech or not self.noise:
            raise ValueError(f"split {split!r} has no speech or no noise")
        # Speakers: weight by sqrt(duration) so the long single-speaker folders do not dominate.
        w = np.sqrt([s.seconds for s in self.speech])
        self.speech_w = w / w.sum()
        w = np.sqrt([n.seconds for n in self.noise])
        self.noise_w = w / w.sum()

    # -- pieces ------------------------------------------------------------------------------
    def speech_segment(self, rng, n: int) -> tuple[np.ndarray, float, str]:
        src = self.speech[rng.choice(len(self.speech), p=self.speech_w)]
        speed = 1.0
        if rng.random() < self.cfg.p_speed:
            speed = float(rng.uniform(*self.cfg.speed_range))
        need = int(n * speed) + 1
        parts, total = [], 0
        total_gap = 0
        while total < need:
            if parts or rng.random() < 0.5:
                g = int(rng.uniform(*self.cfg.gap_seconds) * SR)
                parts.append(np.zeros(g, np.float32))
                total += g
                total_gap += g
            c = src.clips[rng.integers(len(src.clips))]
            parts.append(c)
            total += len(c)
        x = np.concatenate(parts)
        start = int(rng.integers(0, max(1, len(x) - need)))
        x = x[start:start + need]
        if speed != 1.0:
            # speed > 1: faster and higher (fewer output samples); bandwidth scales with speed.
            x = soxr.resample(x, SR * speed, SR, quality="HQ").astype(np.float32)
        x = np.pad(x, (0, max(0, n - len(x))))[:n]
        return x, src.bandwidth_hz * speed, src.name

    def noise_segment(self, rng, n: int) -> tuple[np.ndarray, str]:
        if self.split == "train" and rng.random() < self.cfg.p_synthetic_noise:
            x = rng.standard_normal(n).astype(np.float32)
            # Random spectral tilt: one-pole low-pass or high-pass, then a biquad below.
            p = rng.uniform(0.0, 0.98)
            x = biquad(x, np.array([1.0]), np.array([1.0, -p if rng.random() < 0.7 else p]))
            return x, "synthetic"
        src = self.noise[rng.choice(len(self.noise), p=self.noise_w)]
        if src.kind == "events":
            x = np.zeros(n, np.float32)
            rate = rng.uniform(1.0, 8.0)          # events per second
            t = 0
            while True:
                t += int(rng.exponential(SR / rate))
                if t >= n:
                    break
                e = src.events[rng.integers(len(src.events))] * rng.uniform(0.3, 1.0)
                m = min(len(e), n - t)
                x[t:t + m] += e[:m]
            return x, src.name
        sig = src.signal
        if rng.random() < 0.3:
            sig = soxr.resample(sig, SR * rng.uniform(0.85, 1.15), SR, quality="QQ"
                                ).astype(np.float32)
        if len(sig) >= n:
            s = int(rng.integers(0, len(sig) - n + 1))
            return sig[s:s + n].copy(), src.name
        # Loop with cross-fades.
        s = int(rng.integers(0, len(sig)))
        x = sig[s:]
        while len(x) < n:
            x = _crossfade_concat([x, sig], 480)
        return x[:n].copy(), src.name

    # -- one segment ---------------------------------------------------------------------------
    def segment(self, rng, n: int):
        cfg = self.cfg
        u = rng.random()
        kind = "mix"
        if u < cfg.p_noise_only:
            kind = "noise"
        elif u < cfg.p_noise_only + cfg.p_speech_only:
            kind = "speech"
        bw = SR / 2
        if kind == "noise":
            s = np.zeros(n, np.float32)
        else:
            s, bw, _ = self.speech_segment(rng, n)
        if kind == "speech":
            nz = np.zeros(n, np.float32)
        else:
            nz, _ = self.noise_segment(rng, n)
        if rng.random() < cfg.p_filter:
            s = biquad(s, *random_biquad(rng, cfg.filter_range))
        if rng.random() < cfg.p_filter:
            nz = biquad(nz, *random_biquad(rng, cfg.filter_range))
        self.last_kind, self.last_snr = kind, None
        if kind == "mix":
            snr = rng.uniform(*cfg.snr_db)
            self.last_snr = snr
            nrms = float(np.sqrt(np.mean(nz.astype(np.float64) ** 2)) + 1e-12)
            nz = nz * (active_rms(s) / nrms * 10 ** (-snr / 20))
        noisy = s + nz
        peak = float(np.abs(noisy).max())
        if peak > 0:
            g = 10 ** (rng.uniform(*cfg.peak_dbfs) / 20) / peak
            s, noisy = s * g, noisy * g
        f = int(cfg.fade_seconds * SR)
        ramp = np.linspace(0, 1, f, dtype=np.float32)
        for x in (s, noisy):
            x[:f] *= ramp
            x[-f:] *= ramp[::-1]
        level = active_rms(s) if kind != "noise" else 0.0
        return s.astype(np.float32), noisy.astype(np.float32), bw, level

    def stream(self, seconds: float, seed: int):
        """Returns a dict of per-sample float32 arrays (48 kHz, length a multiple of HOP):
        clean, noisy; bw: the real speech bandwidth in Hz (Nyquist where there is no band-limited
        speech); level: the active speech RMS of the segment (0 in noise-only segments)."""
        rng = np.random.default_rng(seed)
        total = int(seconds * SR) // HOP * HOP
        out = {k: np.zeros(total, np.float32) for k in ("clean", "noisy", "bw", "level")}
        out["bw"][:] = SR / 2
        t = 0
        while t < total:
            n = int(rng.uniform(*self.cfg.segment_seconds) * SR)
            n = min(n, total - t)
            if n < 2 * int(self.cfg.fade_seconds * SR) + 1:
                break
            s, x, b, lev = self.segment(rng, n)
            out["clean"][t:t + n], out["noisy"][t:t + n] = s, x
            out["bw"][t:t + n], out["level"][t:t + n] = b, lev
            t += n
        return out


def band_mask_from_bandwidth(bw: np.ndarray, n_frames: int) -> np.ndarray:
    """[n_frames, 22] bool: True where band b lies above the real speech bandwidth of any sample
    in the frame's 3-hop neighbourhood (the target gain there is meaningless)."""
    per_hop = bw[: n_frames * HOP].reshape(n_frames, HOP).min(axis=1)
    prev = np.concatenate([per_hop[:1], per_hop[:-1]])
    nxt = np.concatenate([per_hop[1:], per_hop[-1:]])
    lim = np.minimum(np.minimum(prev, per_hop), nxt)
    return BAND_CENTERS_HZ[None, :] > lim[:, None]


def relative_vad(clean: np.ndarray, level: np.ndarray, n_frames: int) -> np.ndarray:
    """Voice activity per hop, independent of the overall gain: 1 where the clean hop's RMS is
    within 20 dB of its segment's active speech level, 0 below -35 dB (or no speech), 0.5 between.
    (The extractor's own VAD uses absolute levels, which our -40..-1 dBFS gain range blurs.)"""
    c = clean[: n_frames * HOP].astype(np.float64).reshape(n_frames, HOP)
    rms = np.sqrt((c ** 2).mean(axis=1))
    lev = level[: n_frames * HOP].reshape(n_frames, HOP).max(axis=1).astype(np.float64)
    rel = 20 * np.log10((rms + 1e-12) / np.maximum(lev, 1e-12))
    vad = np.where(rel > -20, 1.0, np.where(rel < -35, 0.0, 0.5))
    vad[lev <= 0] = 0.0
    return vad.astype(np.float32)


def stream_features(stream: dict, ext) -> dict:
    """Runs the C++ feature extractor on one stream (see Mixer.stream) and applies the bandwidth
    mask. Returns features [N,42], gains [N,22] (-1 = don't care), vad [N] (relative_vad),
    vad_abs [N] (the extractor's), silent [N] (bool: inference skips the network there)."""
    features, gains, vad_abs, silent = ext.extract_features(stream["noisy"], stream["clean"])
    n = len(gains)
    mask = band_mask_from_bandwidth(stream["bw"], n)
    gains = np.where(mask, -1.0, gains).astype(np.float32)
    vad = relative_vad(stream["clean"], stream["level"], n)
    return {"features": features, "gains": gains, "vad": vad, "vad_abs": vad_abs,
            "silent": silent}


def cache_key(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def build_feature_set(corpus: Corpus, split: str, cfg: MixConfig, seconds: float, seed: int,
                      ext, cache_dir: pathlib.Path, log=print) -> dict:
    """Features of one mixed stream, cached as .npy files keyed by every input that matters."""
    key = cache_key({"split": split, "cfg": dataclasses.asdict(cfg), "seconds": seconds,
                     "seed": seed, "root": str(corpus.root), "v": 1,
                     "sources": [[s.name for s in corpus.speech[split]],
                                 [n.name for n in corpus.noise[split]]],
                     "heldout": [HELDOUT_SPEECH_FOLDERS, HELDOUT_NOISE]})
    d = cache_dir / f"{split}_s{seed}_{int(seconds)}s_{key}"
    names = ("features", "gains", "vad", "vad_abs", "silent")
    if all((d / f"{n}.npy").exists() for n in names):
        return {n: np.load(d / f"{n}.npy") for n in names}
    log(f"mixing {split} stream: {seconds:.0f} s, seed {seed}")
    stream = Mixer(corpus, split, cfg).stream(seconds, seed)
    out = stream_features(stream, ext)
    tmp = d.with_name(d.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for n in names:
        np.save(tmp / f"{n}.npy", out[n])
    if d.exists():
        shutil.rmtree(d)
    tmp.rename(d)
    return out
