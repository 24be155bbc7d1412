"""Shared helpers for the Demucs tests: paths, the ctypes shim, a numpy reference of the .gnvm.

numpy_offline() runs Demucs.forward from the converted .gnvm tensors in float64 (an independent
reading of the converter's layout: conv rows k*Cin + c, transposed-conv columns k*Cout + o,
LSTM gates i, f, g, o), so a layout mistake in the converter shows against onnxruntime even
before the C++ family is involved.
"""

import ctypes
import os
import sys

try:
    import numpy as np
except ImportError:  # need_modules() skips the test
    np = None

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERT = os.path.dirname(HERE)
SOURCE = os.environ.get("GHOSTNV_SOURCE_DIR", os.path.join(CONVERT, "..", ".."))
SHARED = os.environ.get("GHOSTNV_SHARED_DIR", os.path.join(SOURCE, "..", "shared"))
FIXTURE = os.path.join(HERE, "data", "demucs_small.onnx")
sys.path.insert(0, CONVERT)
sys.path.insert(0, os.path.join(CONVERT, "..", "train"))

SKIP = 77


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(SKIP)


def real_mixture(seconds, seed, speech_set):
    """A real noisy mixture (dtln_common.noisy_mixture: real speech + real noise, 16 kHz), or
    None with a message when the shared data is absent."""
    import dtln_common as dc
    data = os.path.join(SHARED, "data")
    if not all(os.path.isdir(os.path.join(data, d)) for d in ("speech", "noise")):
        print(f"SKIP (part): real speech not found under {data}")
        return None
    return dc.noisy_mixture(seconds=seconds, seed=seed, speech_set=speech_set)[0]


def convert(onnx_path, out, precision="fp32", check=True):
    import subprocess
    r = subprocess.run([sys.executable, os.path.join(CONVERT, "ghostnv_convert.py"), "-o", out,
                        onnx_path, "--precision", precision], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"ghostnv-convert failed: {r.stderr}")
    return r


def need_modules():
    try:
        import numpy  # noqa: F401
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        skip(str(e))


def have_torch_denoiser():
    try:
        import torch  # noqa: F401
        import denoiser.demucs  # noqa: F401
        return True
    except ImportError as e:
        print(f"SKIP (part): torch/denoiser not importable ({e}): DemucsStreamer comparison")
        return False


def ort_session(path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


# -- the C shim (models/demucs/demucs_capi.cc) ---------------------------------------------------
class Shim:
    def __init__(self, lib, gnvm):
        self.lib = ctypes.CDLL(lib)
        L = self.lib
        L.gnv_demucs_open.restype = ctypes.c_void_p
        L.gnv_demucs_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
        L.gnv_demucs_close.argtypes = [ctypes.c_void_p]
        fp = ctypes.POINTER(ctypes.c_float)
        L.gnv_demucs_offline.restype = ctypes.c_int
        L.gnv_demucs_offline.argtypes = [ctypes.c_void_p, fp, ctypes.c_long, fp]
        L.gnv_demucs_stream.restype = ctypes.c_int
        L.gnv_demucs_stream.argtypes = [ctypes.c_void_p, fp, fp, ctypes.c_long, ctypes.c_float]
        L.gnv_demucs_info.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        L.gnv_demucs_bench.restype = ctypes.c_double
        L.gnv_demucs_bench.argtypes = [ctypes.c_void_p, ctypes.c_long,
                                       ctypes.POINTER(ctypes.c_double)]
        err = ctypes.create_string_buffer(512)
        self.h = L.gnv_demucs_open(gnvm.encode(), err, 512)
        if not self.h:
            raise RuntimeError(err.value.decode())
        info = (ctypes.c_int * 4)()
        L.gnv_demucs_info(self.h, info)
        self.hop, self.latency, self.sample_rate, self.frame = list(info)

    @staticmethod
    def _p(a):
        return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))

    def offline(self, x):
        x = np.ascontiguousarray(x, np.float32)
        y = np.zeros_like(x)
        rc = self.lib.gnv_demucs_offline(self.h, self._p(x), x.size, self._p(y))
        if rc != 0:
            raise RuntimeError(f"gnv_demucs_offline: {rc}")
        return y

    def stream(self, x, strength=1.0):
        """x: whole hops; returns the family's output (delayed by self.latency)."""
        x = np.ascontiguousarray(x, np.float32)
        assert x.size % self.hop == 0
        y = np.zeros_like(x)
        rc = self.lib.gnv_demucs_stream(self.h, self._p(x), self._p(y), x.size // self.hop,
                                        strength)
        if rc != 0:
            raise RuntimeError(f"gnv_demucs_stream: {rc}")
        return y

    def bench(self, hops):
        """(thread CPU, wall) seconds per hop of ProcessHop on noise, steady state."""
        wall = ctypes.c_double()
        cpu = self.lib.gnv_demucs_bench(self.h, hops, ctypes.byref(wall))
        return cpu, wall.value

    def close(self):
        if self.h:
            self.lib.gnv_demucs_close(self.h)
            self.h = None


# -- numpy reference from the .gnvm ----------------------------------------------------------------
def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_offline(path, mix):
    from gnvm_writer import read_gnvm
    h, t = read_gnvm(path)
    d = h["metadata"]["demucs"]
    L = {l["name"]: l for l in h["layers"]}

    def W(name):
        return t[L[name]["tensors"]["weights"]].astype(np.float64)

    def B(name):
        b = L[name]["tensors"].get("bias")
        return 0.0 if b is None else t[b].astype(np.float64)

    K, S, R, depth = d["kernel_size"], d["stride"], d["resample"], d["depth"]
    x = mix.astype(np.float64)
    n = x.size
    std = 1.0
    if d["normalize"]:
        std = np.std(x, ddof=1) if n > 1 else 0.0  # torch gives NaN for one sample; we 0
        x = x / (d["floor"] + std)
    from family_demucs import valid_length
    x = np.pad(x, (0, valid_length({"resample": R, "depth": depth, "kernel": K, "stride": S}, n)
                   - n))
    kern = B("resample.kernel") if R > 1 else None
    z = 0 if kern is None else kern.size // 2

    def up2(v):
        p = np.pad(v, (z, z))
        out = np.convolve(p, kern[::-1], mode="valid")[1:]
        y = np.empty(2 * v.size)
        y[0::2], y[1::2] = v, out
        return y

    def down2(v):
        if v.size % 2:
            v = np.pad(v, (0, 1))
        ev, od = v[0::2], v[1::2]
        out = np.convolve(np.pad(od, (z, z)), kern[::-1], mode="valid")[:-1]
        return (ev + out) * 0.5

    for _ in range({1: 0, 2: 1, 4: 2}[R]):
        x = up2(x)
    a = x.reshape(-1, 1)  # [T][C]
    skips = []
    for i in range(depth):
        cin = a.shape[1]
        T = (a.shape[0] - K) // S + 1
        win = np.stack([a[t * S:t * S + K].reshape(-1) for t in range(T)])
        a = np.maximum(win @ W(f"encoder{i}.conv") + B(f"encoder{i}.conv"), 0)
        p = a @ W(f"encoder{i}.pw") + B(f"encoder{i}.pw")
        c = p.shape[1] // 2
        a = p[:, :c] * _sig(p[:, c:])
        skips.append(a)
        assert cin * K == W(f"encoder{i}.conv").shape[0]
    for k in range(d["lstm_layers"]):
        w = W(f"lstm{k}")
        hid = w.shape[1] // 4
        ni = w.shape[0] - hid
        hh, cc = np.zeros(hid), np.zeros(hid)
        out = np.zeros((a.shape[0], hid))
        for s in range(a.shape[0]):
            g = a[s] @ w[:ni] + hh @ w[ni:] + B(f"lstm{k}")
            i_, f_, g_, o_ = np.split(g, 4)
            cc = _sig(f_) * cc + _sig(i_) * np.tanh(g_)
            hh = _sig(o_) * np.tanh(cc)
            out[s] = hh
        a = out
    for j in range(depth):
        skip = skips.pop(-1)
        a = a + skip[:a.shape[0]]
        p = a @ W(f"decoder{j}.pw") + B(f"decoder{j}.pw")
        c = p.shape[1] // 2
        a = p[:, :c] * _sig(p[:, c:])
        lay = L[f"decoder{j}.convtr"]
        co = lay["channels_out"]
        blocks = (a @ W(f"decoder{j}.convtr")).reshape(a.shape[0], K, co)
        out = np.zeros(((a.shape[0] - 1) * S + K, co))
        for s in range(a.shape[0]):
            out[s * S:s * S + K] += blocks[s]
        out += B(f"decoder{j}.convtr_bias")
        if lay["post_activation"] == "relu":
            out = np.maximum(out, 0)
        a = out
    y = a[:, 0]
    for _ in range({1: 0, 2: 1, 4: 2}[R]):
        y = down2(y)
    return (y[:n] * std).astype(np.float32)


def snr_db(ref, x):
    ref = np.asarray(ref, np.float64)
    e = np.asarray(x, np.float64) - ref
    return 10 * np.log10(max(np.sum(ref ** 2), 1e-30) / max(np.sum(e ** 2), 1e-30))


def rel_err(ref, x):
    ref = np.asarray(ref, np.float64)
    return float(np.linalg.norm(np.asarray(x, np.float64) - ref) /
                 max(np.linalg.norm(ref), 1e-30))
