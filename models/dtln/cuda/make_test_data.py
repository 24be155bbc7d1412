#!/usr/bin/env python3
"""Test data of dtln_cuda_plan_test, written to a build directory (never the source tree).

--out DIR receives dtln.gnvm (ghostnv-convert of ../shared/data/models/dtln/*.onnx, fp32) and
noisy_<k>.f32 (k = 0..3: raw little-endian float32 mono 16 kHz, 3 s each; real speech + real
noise at 0/5/10/15 dB from ../shared/data, through tools/convert/tests/dtln_common.py).
Exits 77 (ctest: skipped) when the shared data or the Python modules are missing. Does nothing
when the files are already there.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools", "convert", "tests"))

import dtln_common as dc  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    dc.dtln_models()
    dc.need_modules()
    model = os.path.join(a.out, "dtln.gnvm")
    if not os.path.exists(model):
        dc.convert(model + ".tmp")
        os.replace(model + ".tmp", model)
    for k, snr in enumerate([0.0, 5.0, 10.0, 15.0]):
        path = os.path.join(a.out, f"noisy_{k}.f32")
        if os.path.exists(path):
            continue
        mix, _ = dc.noisy_mixture(seconds=a.seconds, snr_db=snr, seed=11 + k, speech_set=k)
        mix.astype("<f4").tofile(path + ".tmp")
        os.replace(path + ".tmp", path)
    print(f"dtln cuda test data in {a.out}")


if __name__ == "__main__":
    main()
