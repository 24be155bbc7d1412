#!/usr/bin/env python3
"""Steps/s of enhanced_train.py's training step with and without the speed options (session 13:
compile, fused_adam, ema_foreach), measured in one run on the same synthetic data, so the
ratios against eager are comparable (absolute CPU numbers say nothing about an H200).

Each variant is a separate enhanced_train.py process (fresh torch.compile state; Inductor's
on-disk cache may still shorten a repeated compilation) on a synthetic pack of random signals
(no shared data), the given config plus running_norm and skip_delay = output_delay = 256 (the
session 13 runs), `--steps` steps from random weights; the figures are the trainer's own
end-of-run line (steps/s after the first 10 steps, first-step seconds).

    python3 tools/train/enhanced_step_bench.py [--config tools/train/configs/enhanced_s11.json]
        [--device cpu] [--batch 4] [--segment 0.5] [--steps 40] [--hidden 48]
        [--variants eager,ema_foreach,fused_adam,compile,all]

Needs torch, numpy and the `denoiser` package (PYTHONPATH).
"""

import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

VARIANTS = {
    "eager": [],
    "ema_foreach": ["--set", "ema_foreach=true"],
    "fused_adam": ["--set", "fused_adam=true"],
    "compile": ["--set", 'compile="default"'],
    "compile-ro": ["--set", 'compile="reduce-overhead"'],
    "compile-ma": ["--set", 'compile="max-autotune-no-cudagraphs"'],
    "all": ["--set", "ema_foreach=true", "--set", "fused_adam=true",
            "--set", 'compile="default"'],
}


def synthetic_pack(path, seconds=20.0, seed=1):
    """enhanced_pack's layout: two 48 kHz 'voices' (gated harmonic tones) and two noises."""
    import enhanced_pack
    rng = np.random.default_rng(seed)
    index, entries = [], []
    n = int(seconds * 48000)
    t = np.arange(n) / 48000
    srcs = [("v1", "speech", 0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)),
            ("v2", "speech", 0.2 * np.sin(2 * np.pi * 240 * t + np.sin(2 * np.pi * 5 * t))),
            ("n1", "noise", 0.2 * rng.standard_normal(n)),
            ("n2", "noise", 0.1 * np.cumsum(rng.standard_normal(n)) / np.sqrt(n))]
    for name, split, x in srcs:
        index.append(dict(name=name, split=split, kind="clips", rate=48000, bandwidth_hz=24000.0))
        entries.append([x])
    enhanced_pack.write_pack(path, index, entries)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(HERE / "configs/enhanced_s11.json"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--segment", type=float, default=0.5)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--hidden", type=int, help="overrides model.hidden (default: the config's)")
    ap.add_argument("--variants", default="eager,ema_foreach,fused_adam,compile,all")
    a = ap.parse_args(argv)
    names = a.variants.split(",")
    for n in names:
        if n not in VARIANTS:
            raise SystemExit(f"unknown variant {n} ({', '.join(VARIANTS)})")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        pack = os.path.join(tmp, "pack.npz")
        synthetic_pack(pack)
        for n in names:
            cmd = [sys.executable, str(HERE / "enhanced_train.py"), "--config", a.config,
                   "--pack", pack, "--work-dir", os.path.join(tmp, n), "--device", a.device,
                   "--batch-size", str(a.batch), "--segment", str(a.segment),
                   "--steps", str(a.steps), "--max-minutes", "60",
                   "--set", "init_from=null", "--set", "val_batches=0",
                   "--set", f"log_every={a.steps}", "--set", "checkpoint_every=1000000",
                   "--set", "running_norm=true", "--set", "skip_delay=256",
                   "--set", "output_delay=256"] + \
                (["--set", f"model.hidden={a.hidden}"] if a.hidden else []) + VARIANTS[n]
            p = subprocess.run(cmd, capture_output=True, text=True)
            line = [x for x in p.stdout.splitlines() if "enhanced_train: speed:" in x]
            if p.returncode or not line:
                print(f"{n}: failed (rc {p.returncode})\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
                continue
            m = re.search(r"first step ([\d.]+) s; ([\d.]+) steps/s after", line[0])
            fell = "failed" in line[0]
            rows[n] = (float(m.group(2)), float(m.group(1)), fell)
            print(line[0].replace("enhanced_train: speed:", f"{n}:"), flush=True)
    base = rows.get("eager")
    print(f"\nbatch {a.batch} x {a.segment} s, {a.steps} steps, device {a.device}")
    print(f"{'variant':12s} {'steps/s':>8s} {'vs eager':>8s} {'first step s':>12s}")
    for n, (r, first, fell) in rows.items():
        ratio = f"{r / base[0]:.3f}" if base else "-"
        note = "  (fell back to eager)" if fell else ""
        print(f"{n:12s} {r:8.3f} {ratio:>8s} {first:12.1f}{note}")
    return 0 if len(rows) == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
