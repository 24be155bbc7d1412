#!/usr/bin/env python3
"""Where in frequency a system's error is: per-band error, speech attenuation and residual noise.

The harness's metrics are broadband; this splits the 16 kHz copies (soxr HQ, as the harness
scores them) into bands and reports, per band, averaged over the items:
  err  10·log10(Σ|Y − S|² / Σ|S|²) over all STFT frames: the whole error (speech damage plus
       residual noise under the speech) relative to the clean speech's energy in the band;
  att  mean of 10·log10(|Y|² / |S|²) over the clean speech's active bins (|S|² above
       ATT_FLOOR of the item's peak bin): how much the speech itself is turned down (0 = kept);
  res  10·log10(Σ|Y|² / Σ|N|²) over the frames where the clean item is silent (frame energy
       below SILENT_FLOOR of its loudest frame): the residual noise against the noisy input.
Lower err and res are better, att nearer 0 is better. Outputs are files named like the noisy
items, at the item's rate (ghostnv-denoise's outputs are latency-compensated):

    for f in build/eval-set/48k/noisy/*.wav; do ghostnv-denoise --model M "$f" out/M/$(basename "$f"); done
    python3 tools/eval/band_error.py --pairs build/eval-set --system enhanced=out/M --system dtln=out/D
"""
import argparse
import pathlib
import sys

import numpy as np
import soundfile as sf

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import evaluate  # noqa: E402
import metrics  # noqa: E402
import plots  # noqa: E402

BANDS = ((0, 300), (300, 1000), (1000, 2000), (2000, 4000), (4000, 6000), (6000, 8000))
RATE = 16000
N_FFT = 512
HOP = 256
ATT_FLOOR = 1e-4      # −40 dB below the item's peak bin
SILENT_FLOOR = 1e-6   # −60 dB below the item's loudest frame


def stft(x: np.ndarray) -> np.ndarray:
    if len(x) < N_FFT:
        raise ValueError(f"signal of {len(x)} samples is shorter than one {N_FFT}-sample frame")
    return plots.stft(x, N_FFT, HOP)


def band_stats(clean: np.ndarray, noisy: np.ndarray, out: np.ndarray,
               bands=BANDS, rate: int = RATE) -> dict:
    """Per band: err, att, res (dB; NaN where the band has no active / silent bins)."""
    n = min(len(clean), len(noisy), len(out))
    S, N, Y = (stft(np.asarray(v[:n], dtype=np.float64)) for v in (clean, noisy, out))
    f = np.fft.rfftfreq(N_FFT, 1.0 / rate)
    P = np.abs(S) ** 2
    active = P > P.max() * ATT_FLOOR
    frame_e = P.sum(axis=1)
    silent = frame_e < frame_e.max() * SILENT_FLOOR
    tiny = 1e-20
    stats = {"err": [], "att": [], "res": []}
    for lo, hi in bands:
        sel = (f >= lo) & (f < hi)
        Ps, Ys, Ns = P[:, sel], Y[:, sel], N[:, sel]
        stats["err"].append(10 * np.log10((np.sum(np.abs(Ys - S[:, sel]) ** 2) + tiny)
                                        / (np.sum(Ps) + tiny)))
        a = active[:, sel]
        stats["att"].append(float(np.mean(10 * np.log10((np.abs(Ys[a]) ** 2 + tiny) / Ps[a])))
                          if a.any() else float("nan"))
        if silent.any():
            stats["res"].append(10 * np.log10((np.sum(np.abs(Ys[silent]) ** 2) + tiny)
                                            / (np.sum(np.abs(Ns[silent]) ** 2) + tiny)))
        else:
            stats["res"].append(float("nan"))
    return {k: np.array(v, dtype=np.float64) for k, v in stats.items()}


def load16(path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    return x if sr == RATE else metrics.resample(x, sr, RATE)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    evaluate.add_output_folder_args(ap)
    ap.add_argument("--noisy-row", action="store_true", help="also print the noisy input's row")
    args = ap.parse_args(argv)
    try:
        items, outs = evaluate.load_output_folders(args.pairs, args.rate, args.system)
    except ValueError as e:
        print(f"band_error: {e}", file=sys.stderr)
        return 2
    names = (["noisy"] if args.noisy_row else []) + [name for name, _ in outs[0]]
    acc = {name: {"err": [], "att": [], "res": []} for name in names}
    for it, row in zip(items, outs):
        clean, noisy = load16(it["clean"]), load16(it["noisy"])
        for name, out in ([("noisy", noisy)] if args.noisy_row else []) + \
                [(n, load16(p)) for n, p in row]:
            st = band_stats(clean, noisy, out)
            for k in acc[name]:
                acc[name][k].append(st[k])
    head = " | ".join(f"{lo}-{hi} Hz" for lo, hi in BANDS)
    print(f"{len(items)} items from {args.pairs}; dB per band, mean over items\n")
    print(f"| system | quantity | {head} |")
    print("|---|---|" + "---|" * len(BANDS))
    for name in names:
        for k in ("err", "att", "res"):
            m = np.nanmean(np.array(acc[name][k]), axis=0)
            print(f"| {name} | {k} | " + " | ".join(f"{v:.2f}" for v in m) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
