"""Quality metrics of the GhostNV evaluation harness (tools/eval).

Every metric takes the processed signal `est` and the clean reference `ref` (time-aligned, same
length, same rate) and returns a float; the definitions are in tools/eval/README.md.

  from metrics import si_sdr, speech_distortion, noise_reduction, pesq_wb, stoi, Dnsmos
  si_sdr(est, ref)                         # dB, whole item
  speech_distortion(est, ref, 16000)       # dB, speech-active frames (lower is better)
  noise_reduction(est, noisy, ref, 16000)  # dB, speech-absent frames (higher is better)
  pesq_wb(est16, ref16)                    # P.862.2 at 16 kHz (None without `pesq`)
  Dnsmos(model_dir).score(est16)           # {"sig", "bak", "ovrl"} (DNSMOS P.835)

Intrusive metrics are computed in float64. PESQ, STOI and DNSMOS are defined at 16 kHz; use
resample() (soxr, HQ) to get there.
"""

from __future__ import annotations

import pathlib
from typing import Optional

import numpy as np

EPS = 1e-20
FRAME_S = 0.02            # VAD frame: 20 ms
ACTIVE_REL_DB = -40.0     # speech-active: clean frame energy within 40 dB of the loudest frame
ABSENT_REL_DB = -60.0     # speech-absent: clean frame energy more than 60 dB below the loudest
ABSENT_GUARD_FRAMES = 2   # ... and at least 2 frames (40 ms) away from any active frame


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling (soxr, HQ); float64 out."""
    x = np.asarray(x, dtype=np.float64)
    if sr_in == sr_out:
        return x
    import soxr
    return soxr.resample(x, sr_in, sr_out, quality="HQ")


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    """Scale-invariant SDR (Le Roux et al. 2019), zero-mean, dB."""
    est = np.asarray(est, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    n = min(len(est), len(ref))
    est = est[:n] - est[:n].mean()
    ref = ref[:n] - ref[:n].mean()
    alpha = np.dot(est, ref) / (np.dot(ref, ref) + EPS)
    target = alpha * ref
    err = est - target
    return float(10 * np.log10((np.dot(target, target) + EPS) / (np.dot(err, err) + EPS)))


def frame_energies(x: np.ndarray, frame: int) -> np.ndarray:
    n = len(x) // frame
    x = np.asarray(x[: n * frame], dtype=np.float64)
    return (x.reshape(n, frame) ** 2).mean(axis=1) if n else np.zeros(0)


def clean_vad(ref: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Frame masks (active, absent) of the clean reference and the frame length in samples.

    active: frame energy > max * 10^(ACTIVE_REL_DB/10).
    absent: frame energy < max * 10^(ABSENT_REL_DB/10) and no active frame within
            ABSENT_GUARD_FRAMES frames (keeps reverberant/decaying tails out)."""
    frame = max(1, int(round(FRAME_S * sr)))
    e = frame_energies(ref, frame)
    if len(e) == 0 or e.max() <= 0:
        return np.zeros(len(e), bool), np.ones(len(e), bool), frame
    active = e > e.max() * 10 ** (ACTIVE_REL_DB / 10)
    near = active.copy()
    for k in range(1, ABSENT_GUARD_FRAMES + 1):
        near[k:] |= active[:-k]
        near[:-k] |= active[k:]
    absent = (e < e.max() * 10 ** (ABSENT_REL_DB / 10)) & ~near
    return active, absent, frame


def _select(x: np.ndarray, mask: np.ndarray, frame: int) -> np.ndarray:
    x = np.asarray(x[: len(mask) * frame], dtype=np.float64)
    return x.reshape(len(mask), frame)[mask].reshape(-1)


def speech_distortion(est: np.ndarray, ref: np.ndarray, sr: int) -> float:
    """Distortion-to-speech ratio on the speech-active frames of `ref`, dB (lower is better).

    With s, y the clean and processed samples of the active frames only (zero-mean) and
    a = <y, s> / <s, s>:  SD = 10 log10(|y - a s|^2 / |a s|^2)  (= -SI-SDR on those frames).
    It counts every difference that is not a gain on the speech: filtering of the speech and
    the residual noise under it. NaN when the reference has no active frame."""
    active, _, frame = clean_vad(ref, sr)
    if not active.any():
        return float("nan")
    return -si_sdr(_select(est, active, frame), _select(ref, active, frame))


def noise_reduction(est: np.ndarray, noisy: np.ndarray, ref: np.ndarray, sr: int) -> float:
    """Noise power reduction on the speech-absent frames of `ref`, dB (higher is better):
    NR = 10 log10(sum noisy^2 / sum est^2) over those frames (where noisy is noise only).
    0 for the unprocessed input; NaN when there is no speech-absent frame or no noise."""
    _, absent, frame = clean_vad(ref, sr)
    if not absent.any():
        return float("nan")
    pn = float(np.sum(_select(noisy, absent, frame) ** 2))
    pe = float(np.sum(_select(est, absent, frame) ** 2))
    if pn <= 0:
        return float("nan")
    return float(10 * np.log10((pn + EPS) / (pe + EPS)))


def input_snr(noisy: np.ndarray, ref: np.ndarray, sr: int) -> float:
    """Input SNR of a pair, dB: active-speech power of ref (frames as in clean_vad) over the
    power of noisy - ref over the whole item."""
    active, _, frame = clean_vad(ref, sr)
    noise = np.asarray(noisy, np.float64)[: len(ref)] - np.asarray(ref, np.float64)[: len(noisy)]
    pn = float(np.mean(noise ** 2)) if len(noise) else 0.0
    if not active.any():
        return float("-inf")
    ps = float(np.mean(_select(ref, active, frame) ** 2))
    return float(10 * np.log10((ps + EPS) / (pn + EPS)))


def pesq_wb(est16: np.ndarray, ref16: np.ndarray) -> Optional[float]:
    """PESQ wide-band (ITU-T P.862.2) MOS-LQO at 16 kHz, via PyPI `pesq`. None when `pesq` is
    not installed; NaN when it rejects the item (e.g. "no utterance detected")."""
    try:
        from pesq import pesq
    except ImportError:
        return None
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # pesq divides silent input by 0
            return float(pesq(16000, np.asarray(ref16, np.float64),
                              np.asarray(est16, np.float64), "wb"))
    except Exception:  # pesq raises for silent or too short items
        return float("nan")


def stoi(est16: np.ndarray, ref16: np.ndarray) -> Optional[float]:
    """STOI (Taal et al. 2011) at 16 kHz via PyPI `pystoi`; None when it is not installed."""
    try:
        from pystoi import stoi as _stoi
    except ImportError:
        return None
    return float(_stoi(np.asarray(ref16, np.float64), np.asarray(est16, np.float64), 16000,
                       extended=False))


class Dnsmos:
    """DNSMOS P.835 (SIG, BAK, OVRL) with sig_bak_ovr.onnx, following the reference scorer
    (microsoft/DNS-Challenge DNSMOS/dnsmos_local.py) as the data MANIFEST states it:
    16 kHz input; a clip shorter than 9.01 s is repeated (doubled) until it is long enough;
    windows of 144160 samples with a 1 s hop, int(floor(len / 16000) - 9.01) + 1 of them;
    raw outputs mapped by the P.835 polynomials; the window scores are averaged."""

    SR = 16000
    INPUT_LENGTH = 9.01
    POLY = {"sig": (-0.08397278, 1.22083953, 0.0052439),
            "bak": (-0.13166888, 1.60915514, -0.39604546),
            "ovrl": (-0.06766283, 1.11546468, 0.04602535)}

    def __init__(self, model_dir: pathlib.Path):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(pathlib.Path(model_dir) / "sig_bak_ovr.onnx"),
                                            sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    @staticmethod
    def windows(n: int) -> list[tuple[int, int]]:
        """(start, end) sample ranges scored for a clip of n samples (after repetition)."""
        sr, length = Dnsmos.SR, Dnsmos.INPUT_LENGTH
        num = int(np.floor(n / sr) - length) + 1
        out = []
        for i in range(num):
            a, b = int(i * sr), int((i + length) * sr)
            if b - a >= int(length * sr) and b <= n:
                out.append((a, b))
        return out

    @staticmethod
    def map_raw(raw: np.ndarray) -> dict:
        out = {}
        for k, x in zip(("sig", "bak", "ovrl"), raw):
            a, b, c = Dnsmos.POLY[k]
            out[k] = float(a * x * x + b * x + c)
        return out

    def score(self, x16: np.ndarray) -> dict:
        x = np.asarray(x16, dtype=np.float64)
        if len(x) == 0:
            return {"sig": float("nan"), "bak": float("nan"), "ovrl": float("nan")}
        need = int(self.INPUT_LENGTH * self.SR)
        while len(x) < need:
            x = np.append(x, x)
        scores = []
        for a, b in self.windows(len(x)):   # one window per run, as the reference (less memory)
            seg = x[a:b].astype(np.float32)[np.newaxis, :]
            raw = self.session.run(None, {self.input_name: seg})[0][0]
            scores.append(self.map_raw(raw))
        return {k: float(np.mean([s[k] for s in scores])) for k in ("sig", "bak", "ovrl")}
