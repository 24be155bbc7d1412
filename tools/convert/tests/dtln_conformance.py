#!/usr/bin/env python3
"""Conformance of our DTLN networks (C++, CPU) with onnxruntime, network by network.

Converts ../shared/data/models/dtln/*.onnx with ghostnv-convert into the work dir, then runs
DTLN's streaming loop over a few hundred blocks of real noisy speech with onnxruntime and, at
every block, gives our C++ stage 1 and stage 2 (through the models/dtln/dtln_capi.cc shim)
exactly the inputs onnxruntime got: for stage 1 the magnitude, for stage 2 the time frame, each
with *our own* state carried from our previous block (the states are never re-synchronised, so
any error in a recurrence accumulates). Per block: relative error of the output and of
the new states — the larger of ||ours - ort|| / ||ort|| (L2 over the block) and
max|ours - ort| / max|ort| — must be <= 1e-4 (fp32).
Exit 77 (skipped) when the data or onnx/onnxruntime are missing (soundfile/soxr optional).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dtln_common as dc  # noqa: E402

TOL = 1e-4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--blocks", type=int, default=400)
    a = ap.parse_args()
    dc.need_modules()
    import numpy as np
    os.makedirs(a.work_dir, exist_ok=True)
    gnvm = dc.convert(os.path.join(a.work_dir, "dtln.gnvm"))
    shim = dc.Shim(a.lib, gnvm)
    s1, s2 = dc.sessions()
    worst = {"mask": 0.0, "state1": 0.0, "frame": 0.0, "state2": 0.0}
    ours = {"st1": np.zeros((1, 2, 128, 2), np.float32), "st2": np.zeros((1, 2, 128, 2), np.float32)}
    ort_next = {}

    def rel(x, ref):
        """max of the L2-relative error and the max-abs error relative to max |ref|."""
        d = np.asarray(x, np.float64).reshape(-1) - ref.astype(np.float64).reshape(-1)
        l2 = np.linalg.norm(d) / max(np.linalg.norm(ref.astype(np.float64)), 1e-12)
        mx = np.abs(d).max() / max(np.abs(ref).max(), 1e-12)
        return float(max(l2, mx))

    def record(b, mag, st1, mask, frame, st2, y):
        m, n1 = shim.stage1(mag, ours["st1"])
        o, n2 = shim.stage2(frame, ours["st2"])
        # onnxruntime's new states for this block, to compare ours against
        r1 = s1.run(None, {s1.get_inputs()[0].name: mag, s1.get_inputs()[1].name: st1})[1]
        r2 = s2.run(None, {s2.get_inputs()[0].name: frame, s2.get_inputs()[1].name: st2})[1]
        errs = {"mask": rel(m, mask), "state1": rel(n1, r1), "frame": rel(o, y),
                "state2": rel(n2, r2)}
        for k, v in errs.items():
            worst[k] = max(worst[k], v)
        ours["st1"], ours["st2"] = n1, n2
        ort_next["last"] = errs

    total_blocks = 0
    for seed, sset in ((1, 0), (2, 1)):
        mix, _ = dc.noisy_mixture(seconds=a.blocks // 2 * dc.HOP / 16000 + 0.1, seed=seed,
                                  speech_set=sset)
        ours["st1"][:] = 0
        ours["st2"][:] = 0
        dc.reference_denoise(mix, s1, s2, record=record)
        total_blocks += len(mix) // dc.HOP
    shim.close()
    print(f"{total_blocks} blocks of real noisy speech (2 mixtures), states carried separately")
    ok = True
    for k, v in worst.items():
        flag = "ok  " if v <= TOL else "FAIL"
        ok &= v <= TOL
        print(f"{flag} worst per-block relative error, {k:7s}: {v:.3e} (limit {TOL:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
