#!/usr/bin/env python3
"""Whether a system over-suppresses the speech: PESQ-WB with a little of the input put back.

For each output y (named like its noisy item x, latency-compensated, at the item's rate) and
each ALPHA it scores, on the 16 kHz copies (soxr HQ, as the harness does):
  base    y
  all     (1 - ALPHA) y + ALPHA x          the engine's --strength 1 - ALPHA (a dry mix)
  speech  y + ALPHA m x                    the input added only where the clean item is active
  pauses  y + ALPHA (1 - m) x              ... only where it is not
m is the clean item's speech-active mask (metrics.clean_vad: 20 ms frames within 40 dB of the
loudest), so `speech` and `pauses` are oracle probes, not something an engine can do. If
`speech` scores above `base`, PESQ-WB misses speech the system removed (weak speech, the
spectrum between harmonics) more than it minds the noise that comes back with it: the system
suppresses too hard under the speech. If `pauses` scores below `base`, the residual in the
pauses costs PESQ-WB as expected. Mean PESQ-WB over the items, and the change from `base`:

    for f in build/eval-set/48k/noisy/*.wav; do ghostnv-denoise --model M "$f" out/M/$(basename "$f"); done
    python3 tools/eval/dry_probe.py --pairs build/eval-set --system enhanced=out/M --alpha 0.01 --alpha 0.03
"""
import argparse
import concurrent.futures
import pathlib
import sys

import numpy as np
import soundfile as sf

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import evaluate  # noqa: E402
import metrics  # noqa: E402

RATE16 = 16000
KINDS = ("all", "speech", "pauses")


def speech_mask(clean: np.ndarray, rate: int) -> np.ndarray:
    """Per-sample 0/1 mask of the clean item's speech-active 20 ms frames (metrics.clean_vad);
    samples after the last whole frame count as not active."""
    active, _, frame = metrics.clean_vad(clean, rate)
    m = np.zeros(len(clean), dtype=np.float64)
    m[: len(active) * frame] = np.repeat(active.astype(np.float64), frame)
    return m


def variants(y: np.ndarray, x: np.ndarray, mask: np.ndarray, alpha: float) -> dict:
    """The three probes of one ALPHA (arrays of the common length)."""
    n = min(len(y), len(x), len(mask))
    y, x, mask = y[:n], x[:n], mask[:n]
    return {"all": (1.0 - alpha) * y + alpha * x,
            "speech": y + alpha * mask * x,
            "pauses": y + alpha * (1.0 - mask) * x}


def load(path) -> tuple[np.ndarray, int]:
    x, sr = sf.read(str(path), dtype="float64", always_2d=True)
    return x.mean(axis=1), sr


def score_item(job) -> dict:
    clean_p, noisy_p, outs, alphas = job
    clean, sr = load(clean_p)
    noisy, _ = load(noisy_p)
    ref16 = metrics.resample(clean, sr, RATE16)
    mask = speech_mask(clean, sr)
    res = {}
    for name, path in outs:
        y, sr_y = load(path)
        if sr_y != sr:
            raise ValueError(f"{path}: {sr_y} Hz, its item is {sr} Hz")
        n = min(len(y), len(noisy), len(clean))
        row = {"base": metrics.pesq_wb(metrics.resample(y[:n], sr, RATE16), ref16)}
        for a in alphas:
            for kind, v in variants(y, noisy, mask, a).items():
                row[(kind, a)] = metrics.pesq_wb(metrics.resample(v, sr, RATE16), ref16)
        res[name] = row
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    evaluate.add_output_folder_args(ap)
    ap.add_argument("--alpha", action="append", type=float, metavar="ALPHA",
                    help="amount of the input put back, 0 < ALPHA < 1 (repeatable; default 0.01)")
    ap.add_argument("--jobs", type=int, default=1, help="items scored in parallel")
    args = ap.parse_args(argv)
    alphas = args.alpha or [0.01]
    if any(not 0.0 < a < 1.0 for a in alphas):
        print(f"dry_probe: --alpha must be in (0, 1), got {alphas}", file=sys.stderr)
        return 2
    if metrics.pesq_wb(np.zeros(RATE16), np.zeros(RATE16)) is None:
        print("dry_probe: the PyPI `pesq` package is not installed", file=sys.stderr)
        return 2
    try:
        items, outs = evaluate.load_output_folders(args.pairs, args.rate, args.system)
    except ValueError as e:
        print(f"dry_probe: {e}", file=sys.stderr)
        return 2
    names = [name for name, _ in outs[0]]
    jobs = [(it["clean"], it["noisy"], row, alphas) for it, row in zip(items, outs)]
    try:
        if args.jobs > 1:
            with concurrent.futures.ProcessPoolExecutor(args.jobs) as ex:
                rows = list(ex.map(score_item, jobs))
        else:
            rows = [score_item(j) for j in jobs]
    except (ValueError, RuntimeError) as e:
        print(f"dry_probe: {e}", file=sys.stderr)
        return 2
    keys = ["base"] + [(k, a) for a in alphas for k in KINDS]
    head = " | ".join("base" if k == "base" else f"{k[0]} {k[1]:g}" for k in keys)
    print(f"{len(items)} items from {args.pairs}; mean PESQ-WB (change from base)\n")
    print(f"| system | {head} |")
    print("|---|" + "---|" * len(keys))
    for name in names:
        means = {k: float(np.nanmean([r[name][k] for r in rows])) for k in keys}
        cells = [f"{means['base']:.3f}"] + [f"{means[k]:.3f} ({means[k] - means['base']:+.3f})"
                                           for k in keys[1:]]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
