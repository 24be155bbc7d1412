"""ctypes bindings for the training shim (tools/train/features_capi.cc, target
ghostnv_train_features).

The shared library is looked for in, in order: the `lib_dir` argument (scripts pass their
--lib-dir flag), $GHOSTNV_TRAIN_LIB_DIR, $GHOSTNV_BINARY_DIR/tools/train, and
<repo>/build*/tools/train (newest first).

  ext = GhostnvExt.open(lib_dir=None)
  features, gains, vad, silent = ext.extract_features(noisy, clean)   # 48 kHz float32 arrays
  features, gains, vad, silent, periods, x = ext.extract_features(noisy, clean, periods=True)
  denoised = ext.denoise("models/weights/default.gnvm", noisy)         # time-aligned with noisy
  gains, vad = ext.run_network("models/weights/default.gnvm", features)
"""

from __future__ import annotations

import ctypes
import os
import pathlib
from typing import Optional

import numpy as np

HOP = 480
NB_FEATURES = 42
NB_BANDS = 22
LIB_NAME = "libghostnv_train_features.so"
REPO = pathlib.Path(__file__).resolve().parents[2]

_f32p = np.ctypeslib.ndpointer(dtype=np.float32, flags="C_CONTIGUOUS")
_u8p = np.ctypeslib.ndpointer(dtype=np.uint8, flags="C_CONTIGUOUS")
_i32p = np.ctypeslib.ndpointer(dtype=np.int32, flags="C_CONTIGUOUS")


def find_library(lib_dir: Optional[str] = None) -> pathlib.Path:
    candidates = []
    if lib_dir:
        candidates.append(pathlib.Path(lib_dir))
    if os.environ.get("GHOSTNV_TRAIN_LIB_DIR"):
        candidates.append(pathlib.Path(os.environ["GHOSTNV_TRAIN_LIB_DIR"]))
    if os.environ.get("GHOSTNV_BINARY_DIR"):
        candidates.append(pathlib.Path(os.environ["GHOSTNV_BINARY_DIR"]) / "tools" / "train")
    builds = sorted(REPO.glob("build*/tools/train/" + LIB_NAME),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    candidates += [p.parent for p in builds]
    for d in candidates:
        p = d / LIB_NAME if d.is_dir() else d
        if p.is_file():
            return p
    raise FileNotFoundError(
        f"{LIB_NAME} not found (looked in {[str(c) for c in candidates]}); build it with "
        "`cmake --build <build> --target ghostnv_train_features` and pass --lib-dir "
        "<build>/tools/train")


class GhostnvExt:
    def __init__(self, path: pathlib.Path):
        self.path = path
        lib = ctypes.CDLL(str(path))
        lib.gnv_last_error.restype = ctypes.c_char_p
        lib.gnv_extract_features.restype = ctypes.c_long
        lib.gnv_extract_features.argtypes = [_f32p, _f32p, ctypes.c_long, _f32p, _f32p, _f32p,
                                             _u8p]
        lib.gnv_extract_features_dsp.restype = ctypes.c_long
        lib.gnv_extract_features_dsp.argtypes = [_f32p, _f32p, ctypes.c_long, _f32p, _f32p,
                                                 _f32p, _u8p, ctypes.c_int]
        lib.gnv_extract_features_pitch.restype = ctypes.c_long
        lib.gnv_extract_features_pitch.argtypes = [_f32p, _f32p, ctypes.c_long, _f32p, _f32p,
                                                   _f32p, _u8p, _i32p, _f32p, ctypes.c_int]
        lib.gnv_denoise_buffer.restype = ctypes.c_long
        lib.gnv_denoise_buffer.argtypes = [ctypes.c_char_p, _f32p, _f32p, ctypes.c_long,
                                           ctypes.c_float, ctypes.c_void_p]
        lib.gnv_run_network.restype = ctypes.c_long
        lib.gnv_run_network.argtypes = [ctypes.c_char_p, _f32p, ctypes.c_long, _f32p, _f32p]
        self.lib = lib

    @staticmethod
    def open(lib_dir: Optional[str] = None) -> "GhostnvExt":
        return GhostnvExt(find_library(lib_dir))

    def _error(self, what: str, rc: int) -> RuntimeError:
        return RuntimeError(f"{what} failed ({rc}): {self.lib.gnv_last_error().decode()}")

    def extract_features(self, noisy: np.ndarray, clean: np.ndarray, highpass: bool = True,
                         periods: bool = False):
        """highpass: the model's metadata.rnnoise.highpass (False: no input DC high-pass).
        periods: also return each frame's pitch period (int32 [n], samples) and the input as
        the family's analysis sees it (high-passed or not, float32 like noisy)."""
        noisy = np.ascontiguousarray(noisy, dtype=np.float32)
        clean = np.ascontiguousarray(clean, dtype=np.float32)
        if noisy.shape != clean.shape or noisy.ndim != 1 or len(noisy) % HOP:
            raise ValueError("noisy and clean: same 1-D length, a multiple of 480")
        n = len(noisy) // HOP
        features = np.zeros((n, NB_FEATURES), np.float32)
        gains = np.zeros((n, NB_BANDS), np.float32)
        vad = np.zeros(n, np.float32)
        silent = np.zeros(n, np.uint8)
        per = np.zeros(n, np.int32)
        x = np.zeros_like(noisy)
        rc = self.lib.gnv_extract_features_pitch(noisy, clean, len(noisy), features, gains, vad,
                                                 silent, per, x, 1 if highpass else 0)
        if rc != n:
            raise self._error("gnv_extract_features", rc)
        if periods:
            return features, gains, vad, silent.astype(bool), per, x
        return features, gains, vad, silent.astype(bool)

    def denoise(self, model_path, x: np.ndarray, strength: float = 1.0,
                return_vad: bool = False):
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.zeros_like(x)
        # One VAD value per hop of the model; the buffer is sized for the smallest hop (one
        # sample), since the ultra family's hop is 96, not 480. Returned: the first
        # ceil(n / 480) values (what RNNoise-family callers expect).
        vad = np.zeros(len(x) + 1, np.float32)
        rc = self.lib.gnv_denoise_buffer(str(model_path).encode(), x, out, len(x), strength,
                                         vad.ctypes.data_as(ctypes.c_void_p))
        if rc != 0:
            raise self._error(f"gnv_denoise_buffer({model_path})", rc)
        return (out, vad[:(len(x) + HOP - 1) // HOP]) if return_vad else out

    def run_network(self, model_path, features: np.ndarray):
        features = np.ascontiguousarray(features, dtype=np.float32)
        n = features.shape[0]
        if features.shape != (n, NB_FEATURES):
            raise ValueError("features must be [n, 42]")
        gains = np.zeros((n, NB_BANDS), np.float32)
        vad = np.zeros(n, np.float32)
        rc = self.lib.gnv_run_network(str(model_path).encode(), features, n, gains, vad)
        if rc != n:
            raise self._error(f"gnv_run_network({model_path})", rc)
        return gains, vad
