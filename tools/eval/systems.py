"""The systems the harness can score, one per --model SPEC.

  sys = make_system("ghostnv:default", denoise_bin="build/tools/denoise/ghostnv-denoise")
  y, rate = sys.process(noisy, 48000, workdir)   # time-aligned with noisy

SPEC forms:
  noisy                       the unprocessed input
  ghostnv:NAME|FILE           build/.../ghostnv-denoise IN OUT --model NAME|FILE --format float
                              (the tool removes its own latency)
  ffmpeg-arnndn:FILE.rnnn     ffmpeg -af arnndn=m=FILE; its 10 ms delay is removed by feeding
                              10 ms of zeros after the input and dropping the first 10 ms
  onnx-dtln:DIR               DTLN (model_1.onnx, model_2.onnx in DIR) run frame by frame with
                              onnxruntime at 16 kHz (512-sample frames, 128 hop), delay removed
  cmd:TEMPLATE                any shell command with {in} and {out} (float WAV at the input rate
                              in, any WAV out); its delay is found by cross-correlation with the
                              input (0..200 ms) and removed
A label can be given in front: "label=SPEC" (default: derived from the SPEC).
"""

from __future__ import annotations

import os
import pathlib
import shlex
import subprocess
import tempfile
from typing import Optional

import numpy as np
import soundfile as sf

import metrics

REPO = pathlib.Path(__file__).resolve().parents[2]


def find_denoise(explicit: Optional[str] = None) -> Optional[pathlib.Path]:
    """ghostnv-denoise: --denoise, $GHOSTNV_DENOISE, $GHOSTNV_BINARY_DIR/tools/denoise, then the
    newest REPO/build*/tools/denoise/ghostnv-denoise that is not a sanitizer build."""
    cands = []
    if explicit:
        return pathlib.Path(explicit)
    if os.environ.get("GHOSTNV_DENOISE"):
        return pathlib.Path(os.environ["GHOSTNV_DENOISE"])
    if os.environ.get("GHOSTNV_BINARY_DIR"):
        cands.append(pathlib.Path(os.environ["GHOSTNV_BINARY_DIR"]) / "tools" / "denoise" /
                     "ghostnv-denoise")
    for p in cands:
        if p.is_file():
            return p
    found = [p for p in REPO.glob("build*/tools/denoise/ghostnv-denoise")
             if p.is_file() and "asan" not in p.parts[-4]]
    if not found:
        return None
    return max(found, key=lambda p: p.stat().st_mtime)


class System:
    label = "?"
    spec = "?"

    def process(self, noisy: np.ndarray, sr: int, workdir: pathlib.Path) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.spec


class Noisy(System):
    def __init__(self):
        self.label, self.spec = "noisy", "noisy"

    def process(self, noisy, sr, workdir):
        return np.asarray(noisy, np.float32), sr


def _write(path: pathlib.Path, x: np.ndarray, sr: int) -> None:
    sf.write(str(path), np.asarray(x, np.float32), sr, subtype="FLOAT")


def _read(path: pathlib.Path) -> tuple[np.ndarray, int]:
    y, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return y.mean(axis=1), rate


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, np.float32)
    return y[:n] if len(y) >= n else np.concatenate([y, np.zeros(n - len(y), np.float32)])


class Ghostnv(System):
    def __init__(self, arg: str, denoise_bin: Optional[str]):
        self.model = arg or "default"
        self.bin = find_denoise(denoise_bin)
        if self.bin is None or not self.bin.is_file():
            raise FileNotFoundError("ghostnv-denoise not found (build it, or pass --denoise BIN)")
        p = pathlib.Path(self.model)
        self.label = "ghostnv " + (p.stem if p.suffix in (".gnvm", ".rnnn") else self.model)
        self.spec = f"ghostnv:{self.model}"

    def describe(self):
        return f"{self.spec} (ghostnv-denoise --model {self.model}, CPU)"

    def process(self, noisy, sr, workdir):
        src, dst = workdir / "in.wav", workdir / "out.wav"
        _write(src, noisy, sr)
        r = subprocess.run([str(self.bin), str(src), str(dst), "--model", self.model,
                            "--format", "float", "--backend", "cpu"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{self.spec}: {r.stderr.strip() or r.stdout.strip()}")
        y, rate = _read(dst)
        return y, rate


class FfmpegArnndn(System):
    DELAY_S = 0.010   # arnndn: 480 samples at 48 kHz

    def __init__(self, arg: str):
        self.model = pathlib.Path(arg)
        if not self.model.is_file():
            raise FileNotFoundError(f"ffmpeg-arnndn: no model file {arg}")
        self.label = f"ffmpeg-arnndn {self.model.stem}"
        self.spec = f"ffmpeg-arnndn:{arg}"

    def describe(self):
        return f"{self.spec} (Debian ffmpeg -af arnndn)"

    def process(self, noisy, sr, workdir):
        d = int(round(self.DELAY_S * sr))
        src, dst = workdir / "in.wav", workdir / "out.wav"
        _write(src, np.concatenate([noisy, np.zeros(d, np.float32)]), sr)
        r = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                            "-i", str(src), "-af", f"arnndn=m={self.model}", "-ar", str(sr),
                            "-c:a", "pcm_f32le", str(dst)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{self.spec}: {r.stderr.strip()}")
        y, rate = _read(dst)
        return _fit(y[d:], len(noisy)), rate


class OnnxDtln(System):
    """DTLN (Westhausen & Meyer 2020) with onnxruntime, written from the model description in
    the data MANIFEST: per 128-sample hop, the 512-sample input buffer's rFFT magnitude goes to
    model_1 (mask), the masked spectrum (input phase) back to time goes to model_2, whose
    512-sample frame is overlap-added; output = first 128 samples of the output buffer. The
    output lags the input by 384 samples, which are removed."""
    SR, BLOCK, SHIFT = 16000, 512, 128

    def __init__(self, arg: str):
        import onnxruntime as ort
        d = pathlib.Path(arg)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.m1 = ort.InferenceSession(str(d / "model_1.onnx"), sess_options=opts,
                                       providers=["CPUExecutionProvider"])
        self.m2 = ort.InferenceSession(str(d / "model_2.onnx"), sess_options=opts,
                                       providers=["CPUExecutionProvider"])
        self.label, self.spec = "dtln (onnxruntime)", f"onnx-dtln:{arg}"

    def describe(self):
        return f"{self.spec} (onnxruntime reference, 16 kHz)"

    def run16(self, x: np.ndarray) -> np.ndarray:
        B, S = self.BLOCK, self.SHIFT
        i1 = [i.name for i in self.m1.get_inputs()]
        i2 = [i.name for i in self.m2.get_inputs()]
        lat = B - S
        x = np.concatenate([np.asarray(x, np.float32), np.zeros(lat + S, np.float32)])
        hops = len(x) // S
        inbuf = np.zeros(B, np.float32)
        outbuf = np.zeros(B, np.float32)
        st1 = np.zeros((1, 2, 128, 2), np.float32)
        st2 = np.zeros((1, 2, 128, 2), np.float32)
        out = np.zeros(hops * S, np.float32)
        for h in range(hops):
            inbuf = np.concatenate([inbuf[S:], x[h * S:(h + 1) * S]])
            spec = np.fft.rfft(inbuf)
            mag = np.abs(spec).astype(np.float32).reshape(1, 1, -1)
            mask, st1 = self.m1.run(None, {i1[0]: mag, i1[1]: st1})
            frame = np.fft.irfft(spec * mask.reshape(-1), n=B).astype(np.float32)
            block, st2 = self.m2.run(None, {i2[0]: frame.reshape(1, 1, -1), i2[1]: st2})
            outbuf = np.concatenate([outbuf[S:], np.zeros(S, np.float32)])
            outbuf += block.reshape(-1)
            out[h * S:(h + 1) * S] = outbuf[:S]
        return out[lat:]

    def process(self, noisy, sr, workdir):
        x16 = metrics.resample(noisy, sr, self.SR)
        y = self.run16(x16)[: len(x16)]
        return _fit(y, len(x16)), self.SR


class Cmd(System):
    MAX_DELAY_S = 0.2

    def __init__(self, arg: str):
        if "{in}" not in arg or "{out}" not in arg:
            raise ValueError("cmd: the template needs {in} and {out}")
        self.template = arg
        self.label, self.spec = "cmd", f"cmd:{arg}"

    def process(self, noisy, sr, workdir):
        src, dst = workdir / "in.wav", workdir / "out.wav"
        _write(src, noisy, sr)
        line = self.template.replace("{in}", shlex.quote(str(src))).replace(
            "{out}", shlex.quote(str(dst)))
        r = subprocess.run(line, shell=True, capture_output=True, text=True)
        if r.returncode != 0 or not dst.exists():
            raise RuntimeError(f"{self.spec}: exit {r.returncode}: {r.stderr.strip()[-500:]}")
        y, rate = _read(dst)
        ref = noisy if rate == sr else metrics.resample(noisy, sr, rate)
        lag = estimate_delay(y, ref, int(self.MAX_DELAY_S * rate))
        return _fit(y[lag:], len(ref)), rate


def estimate_delay(y: np.ndarray, x: np.ndarray, max_lag: int) -> int:
    """Lag in 0..max_lag (samples) maximising the cross-correlation of y (delayed) with x."""
    n = min(len(x), len(y))
    if n == 0 or max_lag <= 0:
        return 0
    m = 1 << int(np.ceil(np.log2(2 * n)))
    c = np.fft.irfft(np.fft.rfft(np.asarray(y[:n], np.float64), m) *
                     np.conj(np.fft.rfft(np.asarray(x[:n], np.float64), m)), m)
    return int(np.argmax(c[: max_lag + 1]))


def make_system(spec: str, denoise_bin: Optional[str] = None) -> System:
    label = None
    if "=" in spec.split(":", 1)[0]:
        label, spec = spec.split("=", 1)
    kind, _, arg = spec.partition(":")
    if kind == "noisy":
        s = Noisy()
    elif kind == "ghostnv":
        s = Ghostnv(arg, denoise_bin)
    elif kind == "ffmpeg-arnndn":
        s = FfmpegArnndn(arg)
    elif kind == "onnx-dtln":
        s = OnnxDtln(arg)
    elif kind == "cmd":
        s = Cmd(arg)
    else:
        raise ValueError(f"unknown model spec {spec!r} (noisy, ghostnv:, ffmpeg-arnndn:, "
                         "onnx-dtln:, cmd:)")
    if label:
        s.label = label
    return s


def scratch_dir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="ghostnv-eval-")
