#!/usr/bin/env python3
"""Test data for dfn3_cuda_plan_test / dfn3_backend_gpu_test, written to --out (never the source
tree): dfn3.gnvm (ghostnv-convert of data/models/deepfilternet3/{enc,erb_dec,df_dec}.onnx +
config.ini) and noisy48k.f32, noisy speech at 48 kHz as raw float32 (FreeSWITCH speech mixed
with ambience noise resampled to 48 kHz at 0, 5 and 10 dB SNR, 4 s each, one after the other).
Reads $GHOSTNV_SHARED_DIR/data (default ../shared next to the repository); exits 77 (skip) when
the data are absent.
"""
import argparse
import glob
import os
import subprocess
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=4.0)
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    shared = os.environ.get("GHOSTNV_SHARED_DIR", os.path.join(here, "../../../../shared"))
    data = os.path.join(shared, "data")
    speech = sorted(glob.glob(os.path.join(data, "speech/freeswitch_callie_en_us_48k/*.wav")))
    noise = sorted(glob.glob(os.path.join(data, "noise/blanket_ambience_44k/*.wav")))
    dfn = os.path.join(data, "models/deepfilternet3")
    onnx = [os.path.join(dfn, f) for f in ("enc.onnx", "erb_dec.onnx", "df_dec.onnx", "config.ini")]
    if not speech or not noise or not all(os.path.exists(f) for f in onnx):
        print("no ../shared/data speech/noise/deepfilternet3: skipping")
        return 77
    os.makedirs(a.out, exist_ok=True)
    conv = os.path.join(here, "../../../tools/convert/ghostnv-convert")
    subprocess.run([sys.executable, conv, "-o", os.path.join(a.out, "dfn3.gnvm")] + onnx,
                   check=True)
    import soundfile as sf
    import soxr
    n = int(a.seconds * 48000)
    rng = np.random.default_rng(5)
    mixes = []
    for i, snr in enumerate((0.0, 5.0, 10.0)):
        s = np.zeros(0, np.float32)
        k = i * 7
        while s.size < n:
            x, sr = sf.read(speech[k % len(speech)], dtype="float32", always_2d=True)
            s = np.concatenate([s, x[:, 0]])
            k += 1
        s = s[:n]
        v, sr = sf.read(noise[(2 * i + 1) % len(noise)], dtype="float32", always_2d=True)
        v = soxr.resample(v[:, 0], sr, 48000).astype(np.float32)
        off = int(rng.integers(0, max(1, v.size - n)))
        v = np.resize(v[off:], n)
        ps, pn = np.mean(s ** 2) + 1e-12, np.mean(v ** 2) + 1e-12
        m = s + v * np.sqrt(ps / pn / 10 ** (snr / 10))
        m *= 0.5 / max(1e-6, np.max(np.abs(m)))
        mixes.append(m.astype(np.float32))
    os.makedirs(a.out, exist_ok=True)
    np.concatenate(mixes).astype("<f4").tofile(os.path.join(a.out, "noisy48k.f32"))
    print("wrote", os.path.join(a.out, "noisy48k.f32"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
