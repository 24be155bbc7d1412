#!/usr/bin/env python3
"""How a Demucs-family model's streaming normalisation copes with a level change (session 12).

Each held-out item is fed to ghostnv-denoise twice per normalisation memory: as it is, and after
a lead-in of LEAD seconds of the item's own noisy audio scaled by GAIN (a quiet start, e.g. a
user far from the microphone); the item's part of the output is scored (SI-SDR at 48 kHz against
the clean item). The memories are written into copies of the model (metadata.demucs.
norm_memory_frames: 0 = DemucsStreamer's cumulative mean for ever, N = cumulative for N frames,
then an exponential average with weight 1/N; absent = models/demucs's default).

    python3 tools/eval/level_change_probe.py --pairs build/eval-set \\
        --denoise build-lead/tools/denoise/ghostnv-denoise --model models/weights/enhanced.gnvm \\
        --memories 0,188,563,1875 --every 4
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "train"))
import evaluate  # noqa: E402
import metrics  # noqa: E402
from gnvm_writer import read_gnvm, write_gnvm  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--denoise", required=True, help="the ghostnv-denoise binary")
    ap.add_argument("--model", required=True, help="a demucs-family .gnvm")
    ap.add_argument("--memories", default="0,563,1875", help="norm_memory_frames values")
    ap.add_argument("--every", type=int, default=4, help="every N-th item")
    ap.add_argument("--lead-seconds", type=float, default=30.0)
    ap.add_argument("--lead-gain", type=float, default=0.03)
    a = ap.parse_args(argv)
    header, tensors = read_gnvm(a.model)
    if header.get("family") != "demucs" and "demucs" not in header.get("metadata", {}):
        raise SystemExit(f"{a.model}: not a demucs-family model")
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = pathlib.Path(tmp)
        mems = [int(m) for m in a.memories.split(",")]
        for m in mems:
            header["metadata"]["demucs"]["norm_memory_frames"] = m
            write_gnvm(str(t / f"m{m}.gnvm"), header, tensors)
        for it in evaluate.load_pairs(a.pairs, 48000)[::a.every]:
            clean, sr = sf.read(it["clean"])
            noisy, sr2 = sf.read(it["noisy"])
            if sr != 48000 or sr2 != 48000:
                raise SystemExit(f"{it['id']}: expected 48 kHz")
            n_lead = int(a.lead_seconds * 48000)
            lead = np.tile(noisy, n_lead // len(noisy) + 1)[:n_lead] * a.lead_gain
            inputs = {"lead-in": (np.concatenate([lead, noisy]), n_lead), "plain": (noisy, 0)}
            for tag, (x, off) in inputs.items():
                sf.write(t / "in.wav", x.astype(np.float32), 48000, subtype="FLOAT")
                for m in mems:
                    subprocess.run([a.denoise, str(t / "in.wav"), str(t / "out.wav"), "--model",
                                    str(t / f"m{m}.gnvm")], check=True, capture_output=True)
                    y, _ = sf.read(t / "out.wav")
                    res.setdefault((m, tag), []).append(metrics.si_sdr(y[off:off + len(noisy)],
                                                                       clean))
            print(it["id"], flush=True)
    print("| norm_memory_frames | SI-SDR, plain (dB) | SI-SDR after the lead-in (dB) |")
    print("|---|---|---|")
    for m in mems:
        print(f"| {m} | {np.mean(res[(m, 'plain')]):.3f} | {np.mean(res[(m, 'lead-in')]):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
