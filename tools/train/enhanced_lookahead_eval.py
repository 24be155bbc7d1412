#!/usr/bin/env python3
"""Held-out scores of enhanced-model checkpoints run in PyTorch (session 10's lookahead probe).

Each --model NAME=STATE_DICT[:SKIP_DELAY] is the config's network (enhanced_train.build_model)
with that skip delay D (default 0); its whole-signal forward (Demucs's normalisation by the
whole input's std, as in training; the streaming engine uses a running estimate) runs on each
noisy item padded with D zeros, and output[D : D + n] (the estimate of the clean speech, D
samples late) is scored against the clean item with tools/eval/evaluate.py's score_signal
(SI-SDR and PESQ-WB at 16 kHz, STOI, speech distortion, noise reduction). The input itself is
scored as "noisy". Prints a table (mean over all items and per SNR band) and writes --out JSON.

    python3 tools/train/enhanced_lookahead_eval.py --pairs build/eval-set \
        --config tools/train/configs/enhanced_lookahead.json \
        --model shipped=build-lookahead/h200/init.pt --model probe=L_model.f16.pt:256 \
        --out build-lookahead/eval.json
"""

import argparse
import json
import pathlib
import sys

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "eval"))
import enhanced_train as et  # noqa: E402
import evaluate  # noqa: E402

import soundfile as sf  # noqa: E402

KEYS = ("si_sdr", "pesq_wb", "stoi", "speech_distortion", "noise_reduction")


def load(spec, cfg, running_norm=False):
    name, rest = spec.split("=", 1)
    path, _, delay = rest.partition(":")
    delay = int(delay or 0)
    model = et.build_model(dict(cfg, skip_delay=delay, output_delay=delay))
    if running_norm:
        et.set_running_norm(model)
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if "tensors" in sd:
        raise SystemExit(f"{path}: a shrunk checkpoint; expand it first (enhanced_ckpt.py)")
    model.load_state_dict({k: v.float() for k, v in sd.items()})
    return name, model.eval(), delay


def run(model, delay, x):
    t = torch.from_numpy(np.concatenate([x, np.zeros(delay)]).astype(np.float32))[None, None]
    with torch.no_grad():
        y = model(t)[0, 0].double().numpy()
    return y[delay:delay + len(x)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--config", required=True, help="the training config (model shape)")
    ap.add_argument("--model", action="append", required=True, metavar="NAME=PT[:SKIP_DELAY]")
    ap.add_argument("--out", help="JSON with every item's scores")
    ap.add_argument("--limit", type=int, help="first N items only (smoke runs)")
    ap.add_argument("--running-norm", action="store_true",
                    help="normalise as the streaming engine does (enhanced_train.running_scale: "
                         "the running mean square per hop) instead of by the whole item's std")
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    cfg = json.loads(pathlib.Path(a.config).read_text())
    models = [load(s, cfg, a.running_norm) for s in a.model]
    items = evaluate.load_pairs(a.pairs, 48000)[:a.limit]
    res = {n: [] for n in ["noisy"] + [m[0] for m in models]}
    for it in items:
        clean, sr = sf.read(it["clean"], dtype="float64")
        noisy, sr2 = sf.read(it["noisy"], dtype="float64")
        if sr != 48000 or sr2 != 48000:
            raise SystemExit(f"{it['id']}: {sr} / {sr2} Hz, expected 48000")
        cache = {}
        outs = [("noisy", noisy)] + [(n, run(m, d, noisy)) for n, m, d in models]
        for n, y in outs:
            if not np.isfinite(y).all():
                raise SystemExit(f"{n}: non-finite output on {it['id']}")
            r, _ = evaluate.score_signal(y, 48000, clean, noisy, sr, cache=cache)
            res[n].append({"id": it["id"], "snr_db": it.get("snr_db"), **r})
        print(it["id"], " ".join(f"{n} {res[n][-1]['si_sdr']:.2f}" for n in res), flush=True)
    summary = {}
    for n, rows in res.items():
        s = {k: float(np.mean([r[k] for r in rows if k in r])) for k in KEYS
             if any(k in r for r in rows)}
        for lo, hi in evaluate.BANDS:
            b = [r["si_sdr"] for r in rows if r["snr_db"] is not None
                 and evaluate.band_of(r["snr_db"]) == f"{lo}..{hi}"]
            if b:
                s[f"si_sdr {lo}..{hi}"] = float(np.mean(b))
        summary[n] = s
    cols = list(next(iter(summary.values())).keys())
    print("| system | " + " | ".join(cols) + " |")
    for n, s in summary.items():
        print(f"| {n} | " + " | ".join(f"{s.get(c, float('nan')):.3f}" for c in cols) + " |")
    if a.out:
        pathlib.Path(a.out).write_text(json.dumps({"items": len(items), "summary": summary,
                                                   "per_item": res}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
