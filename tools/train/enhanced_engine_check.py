#!/usr/bin/env python3
"""An enhanced-model .gnvm through ghostnv-denoise vs the same weights in PyTorch, on held-out
pairs (session 11, issue 7: the skip-delayed network's first run through the engine).

For each item: ghostnv-denoise NOISY OUT --model GNVM --backend cpu --format float (the file
path removes the model's algorithmic latency, streaming + output_delay, so OUT lines up with
the input), and the config's network (enhanced_train.build_model with --skip-delay D, default
the config's) run whole-signal in PyTorch on the noisy item padded with D zeros, output[D : D+n]
(as enhanced_lookahead_eval.py). The two differ by the normalisation (the engine divides by a
running estimate of the std, PyTorch by the whole item's), so they are compared, not required
to match: SNR of the engine's output against PyTorch's, the lag (samples) that maximises their
cross-correlation (0 = the engine's latency compensation is right), and the SI-SDR / PESQ-WB /
STOI of both against the clean item (tools/eval/evaluate.py's score_signal, 16 kHz).

    python3 tools/train/enhanced_engine_check.py --pairs build/eval-set \
        --config tools/train/configs/enhanced_lookahead.json --checkpoint init.pt \
        --gnvm enhanced_skip256.gnvm --denoise build/tools/denoise/ghostnv-denoise --every 8
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "eval"))
import enhanced_lookahead_eval as lae  # noqa: E402
import evaluate  # noqa: E402

import soundfile as sf  # noqa: E402


def snr_db(ref, x):
    return float(10 * np.log10(np.sum(ref ** 2) / max(1e-30, np.sum((ref - x) ** 2))))


def best_lag(a, b, span=1024):
    """The lag L in [-span, span] maximising sum a[t] b[t + L] (b late by L: L > 0)."""
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    fa, fb = np.fft.rfft(a, 2 * n), np.fft.rfft(b, 2 * n)
    xc = np.fft.irfft(np.conj(fa) * fb, 2 * n)
    lags = np.r_[np.arange(0, span + 1), np.arange(-span, 0)]
    return int(lags[np.argmax(xc[lags])])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--checkpoint", required=True, help="state dict (enhanced_ckpt from-gnvm)")
    ap.add_argument("--gnvm", required=True)
    ap.add_argument("--denoise", required=True, help="the ghostnv-denoise binary")
    ap.add_argument("--skip-delay", type=int, default=None, help="default: the config's")
    ap.add_argument("--every", type=int, default=8, help="every k-th item (1 = all)")
    ap.add_argument("--out", help="JSON with every item's numbers")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = json.loads(pathlib.Path(a.config).read_text())
    d = int(cfg.get("skip_delay", 0) or 0) if a.skip_delay is None else a.skip_delay
    _, model, _ = lae.load(f"torch={a.checkpoint}:{d}", cfg)
    items = evaluate.load_pairs(a.pairs, 48000)[::a.every]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for it in items:
            clean, sr = sf.read(it["clean"], dtype="float64")
            noisy, _ = sf.read(it["noisy"], dtype="float64")
            out = os.path.join(tmp, "out.wav")
            r = subprocess.run([a.denoise, it["noisy"], out, "--model", a.gnvm, "--backend", "cpu",
                                "--format", "float"], capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"ghostnv-denoise failed on {it['id']}: {r.stderr}")
            eng, _ = sf.read(out, dtype="float64")
            ref = lae.run(model, d, noisy)   # the whole-signal forward, re-aligned
            n = min(eng.size, ref.size)
            row = {"id": it["id"], "snr_db": it.get("snr_db"), "samples": int(n),
                   "engine_vs_torch_snr": snr_db(ref[:n], eng[:n]),
                   "engine_vs_torch_snr_after_1s": snr_db(ref[48000:n], eng[48000:n]),
                   "lag": best_lag(ref[:n], eng[:n])}
            cache = {}
            for name, y in (("engine", eng), ("torch", ref)):
                s, _ = evaluate.score_signal(y, 48000, clean, noisy, sr, cache=cache)
                for k in ("si_sdr", "pesq_wb", "stoi"):
                    row[f"{name}_{k}"] = s.get(k)
            rows.append(row)
            print(json.dumps(row), flush=True)
    keys = [k for k in rows[0] if k not in ("id", "snr_db", "samples", "lag")]
    mean = {k: float(np.mean([r[k] for r in rows if r[k] is not None])) for k in keys}
    print(f"{len(rows)} items, skip_delay {d}, lags {sorted(set(r['lag'] for r in rows))}: " +
          ", ".join(f"{k} {v:.3f}" for k, v in mean.items()))
    if a.out:
        pathlib.Path(a.out).write_text(json.dumps({"skip_delay": d, "mean": mean, "items": rows},
                                                  indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
