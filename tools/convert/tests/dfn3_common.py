"""Shared helpers of the DeepFilterNet3 tests: data, conversion, the C shim, and the reference.

The reference (`reference_denoise`) is DeepFilterNet3's processing written here from the paper
(Schroeter et al., "DeepFilterNet: Perceptually Motivated Real-Time Speech Enhancement", 2023)
and the published description of its DSP (config.ini; DeepFilterNet's libDF): 48 kHz; frames of
960 samples every 480 (zeros before the start), Vorbis window, rFFT scaled by 1/960
(2·hop/fft²); features per frame: 32 ERB bands (erb_fb: equal steps on the ERB scale, at least
min_nb_erb_freqs bins, the last band takes the Nyquist bin) of mean power in dB
(10·log10(p + 1e-10)), normalised by a running mean (state initialised to linspace(-60, -90),
x = (x - mean) / 40); the lowest 96 bins' complex values divided by the square root of a
running mean of their magnitude (initialised to linspace(1e-3, 1e-4)); alpha = exp(-hop/sr/tau)
rounded (0.99). The features are shifted by conv_lookahead = 2 frames (the first two dropped,
zeros appended), the three ONNX graphs run on the whole sequence with onnxruntime, the ERB gains
multiply each band's bins of frame t, and the lowest 96 bins become the deep filter over frames
t-2..t+2 of the unmasked spectrum (order 5, df_lookahead 2; zeros outside). irFFT (unnormalised)
× window, overlap-add; output sample n belongs to input sample n (latency removed). numpy
float64 except the networks (onnxruntime, float32).
"""
import ctypes
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERTER = os.path.join(HERE, "..", "ghostnv-convert")
SR, FFT, HOP, NB_ERB, NB_DF, ORDER, LOOKAHEAD = 48000, 960, 480, 32, 96, 5, 2
LATENCY = FFT - HOP + LOOKAHEAD * HOP
NETS = ("enc", "erb_dec", "df_dec")


def shared_dir():
    return os.environ.get("GHOSTNV_SHARED_DIR",
                          os.path.join(HERE, "..", "..", "..", "..", "shared"))


def dfn3_models():
    d = os.path.join(shared_dir(), "data", "models", "deepfilternet3")
    paths = [os.path.join(d, f"{n}.onnx") for n in NETS] + [os.path.join(d, "config.ini")]
    if not all(os.path.exists(p) for p in paths):
        print(f"SKIP: DeepFilterNet3 ONNX models not found in {d}")
        sys.exit(77)
    return paths


def need_modules(files=False):
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        if files:
            import soundfile  # noqa: F401
    except ImportError as e:
        print(f"SKIP: {e}")
        sys.exit(77)


def convert(out, precision="fp32"):
    r = subprocess.run([sys.executable, CONVERTER, "-o", out, *dfn3_models(),
                        "--precision", precision], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"ghostnv-convert failed: {r.stderr}")
    return out


def sessions(threads=1):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    d = os.path.dirname(dfn3_models()[0])
    return {n: ort.InferenceSession(os.path.join(d, f"{n}.onnx"), so,
                                    providers=["CPUExecutionProvider"]) for n in NETS}


# ---- the C shim ------------------------------------------------------------------------------
class Shim:
    def __init__(self, lib, gnvm):
        self.lib = ctypes.CDLL(lib)
        P, L = ctypes.c_void_p, ctypes.c_long
        F = ctypes.POINTER(ctypes.c_float)
        self.lib.gnv_dfn3_open.restype = P
        self.lib.gnv_dfn3_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
        self.lib.gnv_dfn3_close.argtypes = [P]
        self.lib.gnv_dfn3_reset.argtypes = [P]
        self.lib.gnv_dfn3_encoder.argtypes = [P] + [F] * 9
        self.lib.gnv_dfn3_erb_decoder.argtypes = [P] + [F] * 6
        self.lib.gnv_dfn3_df_decoder.argtypes = [P] + [F] * 4
        self.lib.gnv_dfn3_process.argtypes = [P, F, F, L, F]
        self.lib.gnv_dfn3_run_networks.argtypes = [P, F, F, L]
        err = ctypes.create_string_buffer(1024)
        self.h = self.lib.gnv_dfn3_open(gnvm.encode(), err, 1024)
        if not self.h:
            raise SystemExit(f"gnv_dfn3_open failed: {err.value.decode()}")

    @staticmethod
    def ptr(a):
        assert a.dtype == np.float32 and a.flags.c_contiguous
        return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))

    def process(self, x):
        hops = len(x) // HOP
        x = np.ascontiguousarray(x[:hops * HOP], np.float32)
        y = np.zeros_like(x)
        vad = np.zeros(hops, np.float32)
        self.lib.gnv_dfn3_process(self.h, self.ptr(x), self.ptr(y), hops, self.ptr(vad))
        return y, vad


# ---- audio -----------------------------------------------------------------------------------
def _load48k(path):
    import soundfile as sf
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if sr != SR:
        n = int(round(len(x) * SR / sr))
        X = np.fft.rfft(x)
        Y = np.zeros(n // 2 + 1, complex)
        m = min(len(X), len(Y))
        Y[:m] = X[:m]
        x = np.fft.irfft(Y, n) * (n / len(x))
    return x


def noisy_mixture(seconds=6.0, snr_db=5.0, seed=1, speech_set=0):
    """Real 48 kHz speech (Callie) + real noise (café or street chunks, or UFO:AI ambience)."""
    data = os.path.join(shared_dir(), "data")
    sets = [("speech/freeswitch_callie_en_us_48k", "noise/soundpy_cafe_48k"),
            ("speech/freeswitch_callie_en_us_48k", "noise/soundpy_street_48k"),
            ("speech/freeswitch_callie_en_us_48k", "noise/ufoai_ambience")]
    sdir, ndir = (os.path.join(data, p) for p in sets[speech_set % len(sets)])
    if not (os.path.isdir(sdir) and os.path.isdir(ndir)):
        print(f"SKIP: speech/noise folders not found under {data}")
        sys.exit(77)
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    sfiles = sorted(f for f in os.listdir(sdir) if f.endswith(".wav"))
    speech = []
    while sum(len(s) for s in speech) < n:
        speech.append(_load48k(os.path.join(sdir, sfiles[rng.integers(len(sfiles))])))
        speech.append(np.zeros(int(rng.uniform(0.1, 0.4) * SR)))
    speech = np.concatenate(speech)[:n]
    nfiles = sorted(f for f in os.listdir(ndir) if f.endswith(".wav"))
    noise = []
    while sum(len(s) for s in noise) < n:
        noise.append(_load48k(os.path.join(ndir, nfiles[rng.integers(len(nfiles))])))
    noise = np.concatenate(noise)[:n]
    ps, pn = np.mean(speech ** 2), np.mean(noise ** 2) + 1e-12
    noise *= np.sqrt(ps / pn / 10 ** (snr_db / 10))
    mix = speech + noise
    g = 0.5 / max(1e-9, np.abs(mix).max())
    return (mix * g).astype(np.float32), speech * g


# ---- DSP -------------------------------------------------------------------------------------
def erb_widths(sr=SR, fft=FFT, bands=NB_ERB, min_bins=2):
    f2e = lambda f: 9.265 * np.log1p(f / (24.7 * 9.265))  # noqa: E731
    e2f = lambda e: 24.7 * 9.265 * (np.exp(e / 9.265) - 1.0)  # noqa: E731
    lo, hi = f2e(0.0), f2e(sr / 2)
    step = (hi - lo) / bands
    w, prev, over = [], 0, 0
    for i in range(1, bands + 1):
        fb = int(np.floor(e2f(lo + i * step) / (sr / fft) + 0.5))
        nb = fb - prev - over
        if nb < min_bins:
            over, nb = min_bins - nb, min_bins
        else:
            over = 0
        w.append(nb)
        prev = fb
    w[-1] += 1
    extra = sum(w) - (fft // 2 + 1)
    if extra > 0:
        w[-1] -= extra
    return np.array(w)


def window():
    i = np.arange(FFT)
    return np.sin(0.5 * np.pi * np.sin(np.pi * (i + 0.5) / FFT) ** 2)


def stft(x):
    """Frames t = 0..T-1 of the last 960 samples after hop t (zeros before the start)."""
    hops = len(x) // HOP
    buf = np.concatenate([np.zeros(FFT - HOP), np.asarray(x[:hops * HOP], np.float64)])
    w = window()
    idx = np.arange(hops)[:, None] * HOP + np.arange(FFT)[None, :]
    return np.fft.rfft(buf[idx] * w, axis=1) / FFT


def features(X, alpha=0.99):
    """feat_erb [T, 32] and feat_spec [T, 96] (complex) with DeepFilterNet's running norms."""
    w = erb_widths()
    edges = np.concatenate([[0], np.cumsum(w)])
    T = X.shape[0]
    p = np.abs(X) ** 2
    erb = np.stack([p[:, edges[b]:edges[b + 1]].mean(axis=1) for b in range(NB_ERB)], axis=1)
    db = 10 * np.log10(erb + 1e-10)
    s = np.linspace(-60.0, -90.0, NB_ERB)
    fe = np.zeros_like(db)
    for t in range(T):
        s = db[t] * (1 - alpha) + s * alpha
        fe[t] = (db[t] - s) / 40.0
    u = np.linspace(0.001, 0.0001, NB_DF)
    fs = np.zeros((T, NB_DF), complex)
    for t in range(T):
        u = np.abs(X[t, :NB_DF]) * (1 - alpha) + u * alpha
        fs[t] = X[t, :NB_DF] / np.sqrt(u)
    return fe, fs


def onnx_feats(fe, fs):
    """[1,1,S,32] and [1,2,S,96] float32 inputs of enc.onnx."""
    erb = fe[None, None].astype(np.float32)
    spec = np.stack([fs.real, fs.imag])[None].astype(np.float32)
    return erb, spec


def run_networks(sess, erb, spec):
    """The three graphs on a whole sequence: dict of all outputs (numpy float32)."""
    enc = sess["enc"]
    eo = dict(zip([o.name for o in enc.get_outputs()],
                  enc.run(None, {"feat_erb": erb, "feat_spec": spec})))
    m = sess["erb_dec"].run(None, {k: eo[k] for k in ("emb", "e3", "e2", "e1", "e0")})[0]
    dd = sess["df_dec"]
    coefs, alpha = dd.run(None, {"emb": eo["emb"], "c0": eo["c0"]})
    eo.update(m=m, coefs=coefs, alpha=alpha)
    return eo


def reference_denoise(x, sess):
    X = stft(x)
    T = X.shape[0]
    fe, fs = features(X)
    # conv_lookahead: drop the first 2 feature frames, append 2 zero frames.
    fe = np.concatenate([fe[LOOKAHEAD:], np.zeros((LOOKAHEAD, NB_ERB))])
    fs = np.concatenate([fs[LOOKAHEAD:], np.zeros((LOOKAHEAD, NB_DF), complex)])
    out = run_networks(sess, *onnx_feats(fe, fs))
    m = out["m"][0, 0].astype(np.float64)                      # [T, 32]
    coefs = out["coefs"][0].astype(np.float64)                 # [T, 96, 10]
    c = coefs[..., 0::2] + 1j * coefs[..., 1::2]               # [T, 96, 5]
    gains = np.repeat(m, erb_widths(), axis=1)                 # [T, 481]
    Y = X * gains
    Xp = np.concatenate([np.zeros((ORDER - 1 - LOOKAHEAD, X.shape[1]), complex), X,
                         np.zeros((LOOKAHEAD, X.shape[1]), complex)])
    df = np.zeros((T, NB_DF), complex)
    for n in range(ORDER):
        df += c[:, :, n] * Xp[n:n + T, :NB_DF]
    Y[:, :NB_DF] = df
    frames = np.fft.irfft(Y * FFT, FFT, axis=1) * window()
    y = np.zeros((T + 1) * HOP)
    for t in range(T):
        y[t * HOP:t * HOP + FFT] += frames[t]
    # Frame t covers input samples [t*HOP - HOP, t*HOP + HOP): y[n] is input sample n - HOP.
    return y[HOP:HOP + T * HOP]


def snr_of_difference(ref, x):
    ref = np.asarray(ref, np.float64)
    d = np.asarray(x, np.float64) - ref
    return 10 * np.log10(np.sum(ref ** 2) / max(np.sum(d ** 2), 1e-30))


def si_sdr(ref, est):
    ref = np.asarray(ref, np.float64)
    est = np.asarray(est, np.float64)
    a = np.dot(est, ref) / max(np.dot(ref, ref), 1e-30)
    t = a * ref
    return 10 * np.log10(np.sum(t ** 2) / max(np.sum((est - t) ** 2), 1e-30))
