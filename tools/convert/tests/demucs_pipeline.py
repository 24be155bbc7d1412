"""`ghostnv-denoise IN OUT --model demucs.gnvm` on the committed causal Demucs fixture.

The tool removes the reported latency (it drops the first latency samples and flushes with
zeros), so its output sample t must be the family's streaming output sample t + latency
(models/demucs through the ctypes shim, itself checked against DemucsStreamer by
demucs_conformance.py). Signals: 16 kHz random noise and a real noisy mixture (skipped with a
message without ../shared/data). Pass mark: SNR of the difference >= 50 dB. Exit 77 when
numpy/soundfile/onnx are missing or the tool does not know the family yet.
"""

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demucs_common as dm  # noqa: E402

LIMIT_DB = 50.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--denoise", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--work-dir", required=True)
    a = ap.parse_args()
    try:
        import numpy as np
        import onnx  # noqa: F401
        import soundfile as sf
    except ImportError as e:
        dm.skip(str(e))
    os.makedirs(a.work_dir, exist_ok=True)
    gnvm = os.path.join(a.work_dir, "demucs_small.gnvm")
    dm.convert(dm.FIXTURE, gnvm)
    shim = dm.Shim(a.lib, gnvm)
    hop, lat = shim.hop, shim.latency
    rng = np.random.default_rng(5)
    sigs = {"noise": (0.1 * rng.standard_normal(3 * 16000)).astype(np.float32)}
    mix = dm.real_mixture(6.0, seed=31, speech_set=0)
    if mix is not None:
        sigs["speech"] = mix
    ok = True
    for name, x in sigs.items():
        inp = os.path.join(a.work_dir, f"in_{name}.wav")
        out = os.path.join(a.work_dir, f"out_{name}.wav")
        sf.write(inp, x, 16000, subtype="FLOAT")
        r = subprocess.run([a.denoise, inp, out, "--model", gnvm, "--backend", "cpu"],
                           capture_output=True, text=True)
        if r.returncode != 0 and "unknown model family" in r.stderr:
            dm.skip("ghostnv-denoise does not know family 'demucs' yet (models/family.cc needs "
                    "the CreateDemucsFamily line)")
        if r.returncode != 0 and "sample rate" in r.stderr:
            dm.skip(f"ghostnv-denoise refuses 16 kHz files: {r.stderr.strip()}")
        if r.returncode != 0:
            print(f"FAIL {name}: ghostnv-denoise exit {r.returncode}: {r.stderr.strip()}")
            ok = False
            continue
        y, sr = sf.read(out, dtype="float32")
        n = -(-(x.size + lat) // hop) * hop
        ref = shim.stream(np.pad(x, (0, n - x.size)))[lat:lat + x.size]
        m = min(y.size, ref.size)
        s = dm.snr_db(ref[:m], y[:m])
        good = sr == 16000 and y.size == x.size and s >= LIMIT_DB
        print(f"{'ok  ' if good else 'FAIL'} {name}: {y.size} samples at {sr} Hz (in {x.size}), "
              f"SNR of difference to the family's stream {s:.1f} dB")
        ok &= good
    shim.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
