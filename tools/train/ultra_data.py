"""Training data for the ultra family: the default model's corpus, split and mixer
(data.py), plus more augmentation, and features from the C++ ultra extractor.

Same train / held-out split as the default model (data.HELDOUT_SPEECH_FOLDERS, HELDOUT_NOISE).
Added to data.Mixer (UltraMixer, all reproducible from the seed):
  * simulated reverberation of the speech (p_reverb): an exponentially decaying noise impulse
    response, RT60 uniform in rt60, after a direct path; the target is the reverberant speech
    (the model denoises, it does not dereverberate);
  * clipping of the noisy mixture (p_clip) at a random fraction of its peak;
  * a 44.1 kHz round trip of the whole segment (p_441): content band-limited to 22.05 kHz.
Features and target gains come from models::ultra::FeatureExtractor through the shim
(gnv_ultra_extract_features in features_capi.cc): the exact code inference runs.

  ext = UltraExt(ghostnv_ext.GhostnvExt.open(lib_dir))
  fs = build_feature_set(corpus, "train", UltraMixConfig(), 1800, 1000, ext, cache_dir)
"""

from __future__ import annotations

import ctypes
import dataclasses
import pathlib
import shutil

import numpy as np

import data

soxr = data.soxr

SR = data.SR
HOP = 96
WINDOW = 384
NB_FEATURES = 32
NB_BANDS = 32
_f32p = np.ctypeslib.ndpointer(dtype=np.float32, flags="C_CONTIGUOUS")


class UltraExt:
    """ctypes bindings of the ultra functions of the training shim."""

    def __init__(self, ext):
        self.ext = ext
        lib = ext.lib
        lib.gnv_ultra_extract_features.restype = ctypes.c_long
        lib.gnv_ultra_extract_features.argtypes = [_f32p, _f32p, ctypes.c_long, _f32p, _f32p]
        lib.gnv_ultra_band_centers.restype = ctypes.c_long
        lib.gnv_ultra_band_centers.argtypes = [
            np.ctypeslib.ndpointer(dtype=np.int32, flags="C_CONTIGUOUS")]
        lib.gnv_ultra_windows.restype = ctypes.c_long
        lib.gnv_ultra_windows.argtypes = [_f32p, _f32p]
        lib.gnv_ultra_run_network.restype = ctypes.c_long
        lib.gnv_ultra_run_network.argtypes = [ctypes.c_char_p, _f32p, ctypes.c_long, _f32p, _f32p]
        self.lib = lib

    def extract_features(self, noisy, clean):
        noisy = np.ascontiguousarray(noisy, dtype=np.float32)
        clean = np.ascontiguousarray(clean, dtype=np.float32)
        if noisy.shape != clean.shape or noisy.ndim != 1 or len(noisy) % HOP:
            raise ValueError("noisy and clean: same 1-D length, a multiple of 96")
        n = len(noisy) // HOP
        f = np.zeros((n, NB_FEATURES), np.float32)
        g = np.zeros((n, NB_BANDS), np.float32)
        rc = self.lib.gnv_ultra_extract_features(noisy, clean, len(noisy), f, g)
        if rc != n:
            raise RuntimeError(f"gnv_ultra_extract_features: {self.lib.gnv_last_error().decode()}")
        return f, g

    def band_centers_hz(self) -> np.ndarray:
        b = np.zeros(NB_BANDS, np.int32)
        self.lib.gnv_ultra_band_centers(b)
        return b.astype(np.float64) * SR / WINDOW

    def windows(self):
        a = np.zeros(WINDOW, np.float32)
        s = np.zeros(WINDOW, np.float32)
        self.lib.gnv_ultra_windows(a, s)
        return a, s

    def run_network(self, model_path, features):
        features = np.ascontiguousarray(features, dtype=np.float32)
        n = len(features)
        g = np.zeros((n, NB_BANDS), np.float32)
        v = np.zeros(n, np.float32)
        rc = self.lib.gnv_ultra_run_network(str(model_path).encode(), features, n, g, v)
        if rc != n:
            raise RuntimeError(f"gnv_ultra_run_network: {self.lib.gnv_last_error().decode()}")
        return g, v

    def denoise(self, model_path, x):
        return self.ext.denoise(model_path, x)


@dataclasses.dataclass
class UltraMixConfig(data.MixConfig):
    p_reverb: float = 0.3
    rt60: tuple = (0.15, 0.8)
    p_clip: float = 0.08
    clip_fraction: tuple = (0.3, 0.8)
    p_441: float = 0.15


def random_rir(rng, rt60: float) -> np.ndarray:
    """A simulated room impulse response: direct path, then Gaussian noise decaying by 60 dB in
    rt60 seconds starting 1-5 ms later; normalised to a unit direct path."""
    n = int(rt60 * SR)
    t = np.arange(n) / SR
    h = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    pre = int(rng.uniform(0.001, 0.005) * SR)
    h[:pre] = 0
    drr_db = rng.uniform(-3, 10)            # direct-to-reverberant ratio
    h *= 10 ** (-drr_db / 20) / np.sqrt(np.sum(h ** 2) + 1e-20)
    h[0] = 1.0
    return h.astype(np.float32)


class UltraMixer(data.Mixer):
    def speech_segment(self, rng, n):
        x, bw, name = super().speech_segment(rng, n)
        if rng.random() < self.cfg.p_reverb:
            from scipy.signal import fftconvolve
            y = fftconvolve(x, random_rir(rng, rng.uniform(*self.cfg.rt60)))[:n]
            x = (y * (np.abs(x).max() / (np.abs(y).max() + 1e-12))).astype(np.float32)
        return x, bw, name

    def segment(self, rng, n):
        s, noisy, bw, level = super().segment(rng, n)
        if rng.random() < self.cfg.p_441:
            s = soxr.resample(soxr.resample(s, SR, 44100), 44100, SR)[:n].astype(np.float32)
            noisy = soxr.resample(soxr.resample(noisy, SR, 44100), 44100, SR)[:n].astype(
                np.float32)
            s = np.pad(s, (0, n - len(s)))
            noisy = np.pad(noisy, (0, n - len(noisy)))
            bw = min(bw, 22050.0)
        if rng.random() < self.cfg.p_clip:
            c = float(np.abs(noisy).max()) * rng.uniform(*self.cfg.clip_fraction)
            if c > 0:
                noisy = np.clip(noisy, -c, c)
        return s, noisy, bw, level


def band_mask(bw: np.ndarray, n_frames: int, centers_hz: np.ndarray) -> np.ndarray:
    """[n, 32] True where a band centre lies above the speech bandwidth anywhere in the frame's
    analysis window (4 hops) or the next hop."""
    per_hop = bw[: n_frames * HOP].reshape(n_frames, HOP).min(axis=1)
    lim = per_hop.copy()
    for k in (1, 2, 3):
        lim[k:] = np.minimum(lim[k:], per_hop[:-k])
    lim[:-1] = np.minimum(lim[:-1], per_hop[1:])
    return centers_hz[None, :] > lim[:, None]


def relative_vad(clean, level, n_frames):
    """1 where the clean analysis frame's RMS is within 20 dB of the segment's active speech
    level, 0 below -35 dB (or no speech), 0.5 between."""
    c = clean[: n_frames * HOP].astype(np.float64).reshape(n_frames, HOP)
    e = (c ** 2).mean(axis=1)
    e4 = e.copy()
    for k in (1, 2, 3):
        e4[k:] += e[:-k]
    rms = np.sqrt(e4 / 4)
    lev = level[: n_frames * HOP].reshape(n_frames, HOP).max(axis=1).astype(np.float64)
    rel = 20 * np.log10((rms + 1e-12) / np.maximum(lev, 1e-12))
    vad = np.where(rel > -20, 1.0, np.where(rel < -35, 0.0, 0.5))
    vad[lev <= 0] = 0.0
    return vad.astype(np.float32)


def stream_features(stream: dict, uext: UltraExt) -> dict:
    features, gains = uext.extract_features(stream["noisy"], stream["clean"])
    n = len(gains)
    mask = band_mask(stream["bw"], n, uext.band_centers_hz())
    gains = np.where(mask, -1.0, gains).astype(np.float32)
    return {"features": features, "gains": gains,
            "vad": relative_vad(stream["clean"], stream["level"], n)}


def build_feature_set(corpus, split, cfg: UltraMixConfig, seconds, seed, uext, cache_dir,
                      log=print) -> dict:
    key = data.cache_key({"split": split, "cfg": dataclasses.asdict(cfg), "seconds": seconds,
                          "seed": seed, "root": str(corpus.root), "v": "ultra1",
                          "sources": [[s.name for s in corpus.speech[split]],
                                      [n.name for n in corpus.noise[split]]],
                          "heldout": [data.HELDOUT_SPEECH_FOLDERS, data.HELDOUT_NOISE]})
    d = pathlib.Path(cache_dir) / f"ultra_{split}_s{seed}_{int(seconds)}s_{key}"
    names = ("features", "gains", "vad")
    if all((d / f"{k}.npy").exists() for k in names):
        return {k: np.load(d / f"{k}.npy") for k in names}
    log(f"mixing {split} stream: {seconds:.0f} s, seed {seed}")
    # Mixer.stream pads to multiples of data.HOP (480), also a multiple of 96.
    stream = UltraMixer(corpus, split, cfg).stream(seconds, seed)
    out = stream_features(stream, uext)
    tmp = d.with_name(d.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for k in names:
        np.save(tmp / f"{k}.npy", out[k])
    if d.exists():
        shutil.rmtree(d)
    tmp.rename(d)
    return out


# ---- A compact feature pack, to train on a machine without the corpus or the shim ------------
# (train_ultra.py --pack on the H200: the carry is limited to 64 MiB). Features are quantised to
# 0.01 (log10 units, i.e. 0.1 dB), delta-coded along time and zlib'ed; gains to 1/100 (255 =
# "don't care"); VAD to halves: about 50 bytes per hop. unpack() gives float32 arrays like
# build_feature_set's.
FEATURE_STEP = 0.01
GAIN_LEVELS = 100


def pack(sets: dict, path, meta: dict = None, feature_step: float = FEATURE_STEP) -> None:
    """sets: name -> {"features", "gains", "vad"}; writes one .npz (meta: stored as JSON).
    Also used by train.py for the default model's features (feature_step 1e-3)."""
    import json
    arrays = {"meta": np.array(json.dumps(meta or {}, default=str)),
              "feature_step": np.array(feature_step)}
    for name, fs in sets.items():
        q = np.round(fs["features"].astype(np.float64) / feature_step).clip(-32768, 32767)
        q = q.astype(np.int16)
        d = np.diff(q.astype(np.int32), axis=0, prepend=0).astype(np.int16)
        g = np.where(fs["gains"] < 0, 255, np.round(np.clip(fs["gains"], 0, 1) * GAIN_LEVELS))
        g = g.astype(np.uint8)
        arrays[f"{name}__features_delta"] = d
        arrays[f"{name}__gains"] = g
        arrays[f"{name}__vad"] = np.round(fs["vad"] * 2).astype(np.uint8)
    np.savez_compressed(path, **arrays)


def unpack(path) -> dict:
    """name -> {"features", "gains", "vad"} (float32), and "meta" -> the stored dict."""
    import json
    z = np.load(path)
    step = float(z["feature_step"]) if "feature_step" in z.files else FEATURE_STEP
    names = sorted({k.split("__")[0] for k in z.files if "__" in k})
    out = {}
    for name in names:
        f = np.cumsum(z[f"{name}__features_delta"].astype(np.int32), axis=0)
        g = z[f"{name}__gains"]
        out[name] = {"features": (f * step).astype(np.float32),
                     "gains": np.where(g == 255, -1.0, g / GAIN_LEVELS).astype(np.float32),
                     "vad": (z[f"{name}__vad"] / 2.0).astype(np.float32)}
    out["meta"] = json.loads(str(z["meta"])) if "meta" in z.files else {}
    return out
