"""Shared helpers of the DTLN tests: data, conversion, onnxruntime sessions, the reference loop.

The reference (`reference_denoise`) is DTLN's published real-time loop, written here from the
model description (breizhn/DTLN README and MANIFEST): 16 kHz; a 512-sample buffer shifted by
128 samples per block; rfft without a window; stage 1 (model_1.onnx) maps the magnitude and its
states to a mask; the masked spectrum (magnitude x mask with the noisy phase) is inverse-rfft'ed
to a 512-sample frame; stage 2 (model_2.onnx) maps it and its states to a 512-sample frame that
is overlap-added into an output buffer shifted like the input; each block outputs the first 128
samples of that buffer. Everything in numpy float64 except the networks (onnxruntime, float32).
"""
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERTER = os.path.join(HERE, "..", "ghostnv-convert")
FRAME, HOP = 512, 128


def shared_dir():
    return os.environ.get("GHOSTNV_SHARED_DIR", os.path.join(HERE, "..", "..", "..", "..", "shared"))


def dtln_models():
    d = os.path.join(shared_dir(), "data", "models", "dtln")
    m1, m2 = os.path.join(d, "model_1.onnx"), os.path.join(d, "model_2.onnx")
    if not (os.path.exists(m1) and os.path.exists(m2)):
        print(f"SKIP: DTLN ONNX models not found in {d}")
        sys.exit(77)
    return m1, m2


def need_modules(files=False):
    """onnx and onnxruntime always; soundfile and soxr when the test writes/resamples files."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        if files:
            import soundfile  # noqa: F401
            import soxr  # noqa: F401
    except ImportError as e:
        print(f"SKIP: {e}")
        sys.exit(77)


def convert(out, precision="fp32"):
    m1, m2 = dtln_models()
    r = subprocess.run([sys.executable, CONVERTER, "-o", out, m1, m2, "--precision", precision],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"ghostnv-convert failed: {r.stderr}")
    return out


def _load16k(path):
    """A mono 16 kHz float64 copy of a WAV file: soundfile + soxr when installed, else the
    standard library's wave module (PCM 16-bit) and an FFT resampler (band-limited)."""
    try:
        import soundfile as sf
        import soxr
        x, sr = sf.read(path, dtype="float64", always_2d=True)
        x = x.mean(axis=1)
        return soxr.resample(x, sr, 16000) if sr != 16000 else x
    except ImportError:
        import wave
        with wave.open(path, "rb") as w:
            if w.getsampwidth() != 2:
                print(f"SKIP: {path}: not 16-bit PCM and soundfile is not installed")
                sys.exit(77)
            sr, ch = w.getframerate(), w.getnchannels()
            x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768
        x = x.reshape(-1, ch).mean(axis=1)
        if sr == 16000:
            return x
        n = int(round(len(x) * 16000 / sr))
        X = np.fft.rfft(x)[: n // 2 + 1]
        return np.fft.irfft(X, n) * (n / len(x))


def noisy_mixture(seconds=6.0, snr_db=5.0, seed=1, speech_set=0):
    """Real speech (held-out KLettres Italian voice, or Callie) + real street noise, 16 kHz."""
    data = os.path.join(shared_dir(), "data")
    sets = [("speech/klettres_it_44k", "noise/soundpy_street_48k"),
            ("speech/freeswitch_callie_en_us_48k", "noise/ufoai_ambience")]
    sdir, ndir = (os.path.join(data, p) for p in sets[speech_set % len(sets)])
    if not (os.path.isdir(sdir) and os.path.isdir(ndir)):
        print(f"SKIP: speech/noise folders not found under {data}")
        sys.exit(77)
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    sfiles = sorted(f for f in os.listdir(sdir) if f.endswith(".wav"))
    speech = []
    while sum(len(s) for s in speech) < n:
        speech.append(_load16k(os.path.join(sdir, sfiles[rng.integers(len(sfiles))])))
        speech.append(np.zeros(int(rng.uniform(0.1, 0.4) * 16000)))
    speech = np.concatenate(speech)[:n]
    nfiles = sorted(f for f in os.listdir(ndir) if f.endswith(".wav"))
    noise = []
    while sum(len(s) for s in noise) < n:
        noise.append(_load16k(os.path.join(ndir, nfiles[rng.integers(len(nfiles))])))
    noise = np.concatenate(noise)[:n]
    ps, pn = np.mean(speech ** 2), np.mean(noise ** 2) + 1e-12
    noise *= np.sqrt(ps / pn / 10 ** (snr_db / 10))
    mix = speech + noise
    mix *= 0.5 / max(1e-9, np.abs(mix).max())
    return mix.astype(np.float32), (speech * 0.5 / max(1e-9, np.abs(speech + noise).max()))


def sessions():
    import onnxruntime as ort
    m1, m2 = dtln_models()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return (ort.InferenceSession(m1, so, providers=["CPUExecutionProvider"]),
            ort.InferenceSession(m2, so, providers=["CPUExecutionProvider"]))


def io_names(sess):
    return [i.name for i in sess.get_inputs()], [o.name for o in sess.get_outputs()]


def reference_denoise(audio, s1, s2, record=None):
    """DTLN's streaming loop with onnxruntime; record(block, mag, st1, mask, frame, st2, out)."""
    (i1, o1), (i2, o2) = io_names(s1), io_names(s2)
    st1 = np.zeros((1, 2, 128, 2), np.float32)
    st2 = np.zeros((1, 2, 128, 2), np.float32)
    in_buf = np.zeros(FRAME)
    out_buf = np.zeros(FRAME)
    blocks = len(audio) // HOP
    out = np.zeros(blocks * HOP)
    for b in range(blocks):
        in_buf[:-HOP] = in_buf[HOP:]
        in_buf[-HOP:] = audio[b * HOP:(b + 1) * HOP]
        spec = np.fft.rfft(in_buf)
        mag = np.abs(spec).reshape(1, 1, -1).astype(np.float32)
        mask, st1_new = s1.run(None, {i1[0]: mag, i1[1]: st1})
        est = np.fft.irfft(np.abs(spec) * mask.reshape(-1) * np.exp(1j * np.angle(spec)), FRAME)
        frame = est.reshape(1, 1, -1).astype(np.float32)
        y, st2_new = s2.run(None, {i2[0]: frame, i2[1]: st2})
        if record is not None:
            record(b, mag, st1, mask, frame, st2, y)
        st1, st2 = st1_new, st2_new
        out_buf[:-HOP] = out_buf[HOP:]
        out_buf[-HOP:] = 0
        out_buf += y.reshape(-1)
        out[b * HOP:(b + 1) * HOP] = out_buf[:HOP]
    return out


class Shim:
    """ctypes binding of models/dtln/dtln_capi.cc."""

    def __init__(self, lib, gnvm):
        import ctypes
        self.ct = ctypes
        self.lib = ctypes.CDLL(lib)
        fp = ctypes.POINTER(ctypes.c_float)
        self.lib.gnv_dtln_open.restype = ctypes.c_void_p
        self.lib.gnv_dtln_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
        for f in ("gnv_dtln_stage1", "gnv_dtln_stage2"):
            getattr(self.lib, f).argtypes = [ctypes.c_void_p, fp, fp, fp, fp]
        self.lib.gnv_dtln_process.argtypes = [ctypes.c_void_p, fp, fp, ctypes.c_long]
        self.lib.gnv_dtln_close.argtypes = [ctypes.c_void_p]
        err = ctypes.create_string_buffer(512)
        self.h = self.lib.gnv_dtln_open(gnvm.encode(), err, 512)
        if not self.h:
            raise SystemExit(f"gnv_dtln_open: {err.value.decode()}")

    def _p(self, a):
        return a.ctypes.data_as(self.ct.POINTER(self.ct.c_float))

    def stage1(self, mag, state):
        mag = np.ascontiguousarray(mag, np.float32).reshape(-1)
        st = np.ascontiguousarray(state, np.float32)
        mask = np.zeros(257, np.float32)
        so = np.zeros_like(st)
        self.lib.gnv_dtln_stage1(self.h, self._p(mag), self._p(st), self._p(mask), self._p(so))
        return mask, so

    def stage2(self, frame, state):
        fr = np.ascontiguousarray(frame, np.float32).reshape(-1)
        st = np.ascontiguousarray(state, np.float32)
        out = np.zeros(512, np.float32)
        so = np.zeros_like(st)
        self.lib.gnv_dtln_stage2(self.h, self._p(fr), self._p(st), self._p(out), self._p(so))
        return out, so

    def process(self, audio):
        a = np.ascontiguousarray(audio, np.float32)
        hops = len(a) // HOP
        out = np.zeros(hops * HOP, np.float32)
        self.lib.gnv_dtln_process(self.h, self._p(a), self._p(out), hops)
        return out

    def close(self):
        self.lib.gnv_dtln_close(self.h)


def snr_of_difference(ref, x):
    ref = np.asarray(ref, np.float64)
    d = np.asarray(x, np.float64) - ref
    return 10 * np.log10(np.sum(ref ** 2) / max(np.sum(d ** 2), 1e-30))
