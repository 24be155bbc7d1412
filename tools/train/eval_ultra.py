#!/usr/bin/env python3
"""Scores the ultra-low-latency model next to the default model and the public RNNoise models
on the default model's 40 held-out mixtures (eval.make_items, same seed, same metrics) and
writes a Markdown + JSON table.

  python3 tools/train/eval_ultra.py --lib-dir build/tools/train
          [--ultra models/weights/ultra.gnvm] [--default models/weights/default.gnvm]
          [--out tools/train/work/ultra/quality.md] [--no-extra]

Every system runs through our C++ engine (gnv_denoise_buffer: CreateFamily picks the family
from the model file) and is time-aligned by removing its own algorithmic latency (2 ms for
ultra, 10 ms for the RNNoise family) before scoring.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import struct
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import data  # noqa: E402
import eval as ev  # noqa: E402
import ghostnv_ext  # noqa: E402


def header_of(path) -> dict:
    raw = pathlib.Path(path).read_bytes()
    hl = struct.unpack("<Q", raw[8:16])[0]
    return json.loads(raw[16:16 + hl])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lib-dir", default=None)
    ap.add_argument("--ultra", action="append", default=None,
                    help="ultra model(s) to score (label = file stem); repeatable")
    ap.add_argument("--default", default=str(REPO / "models" / "weights" / "default.gnvm"))
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", default=str(HERE / "work" / "ultra" / "quality.md"))
    ap.add_argument("--no-extra", action="store_true", help="SI-SDR only")
    ap.add_argument("--no-rnnoise", action="store_true", help="skip the .rnnn reference models")
    args = ap.parse_args(argv)

    ext = ghostnv_ext.GhostnvExt.open(args.lib_dir)
    corpus = data.Corpus.load(args.data_root and pathlib.Path(args.data_root))
    items = ev.make_items(corpus)
    ultras = args.ultra or [str(REPO / "models" / "weights" / "ultra.gnvm")]
    systems = [("noisy input", None, 0)]
    for u in ultras:
        h = header_of(u)
        label = "ghostnv-ultra" if len(ultras) == 1 else pathlib.Path(u).stem
        systems.append((label, pathlib.Path(u), h["algorithmic_latency"]))
    systems.append(("ghostnv-default", pathlib.Path(args.default), 480))
    rnn_dir = corpus.root / "models" / "rnnoise"
    if not args.no_rnnoise:
        for f, label in (("sh.rnnn", "rnnoise sh"), ("bd.rnnn", "rnnoise bd"),
                         ("mp.rnnn", "rnnoise mp")):
            if (rnn_dir / f).exists():
                systems.append((label, rnn_dir / f, 480))
    pesq_mod = None if args.no_extra else ev.try_import("pesq")
    stoi_mod = None if args.no_extra else ev.try_import("pystoi")

    t0 = time.time()
    rows = []
    for it in items:
        for label, path, _ in systems:
            y = it["noisy"] if path is None else ext.denoise(path, it["noisy"])
            r = {"item": it["id"], "snr": it["snr"], "speaker": it["speaker"],
                 "noise": it["noise"], "system": label, "si_sdr": ev.si_sdr(y, it["clean"])}
            r.update(ev.extra_metrics(y, it["clean"], pesq_mod, stoi_mod))
            rows.append(r)
    metrics = ["si_sdr"] + [m for m in ("pesq_wb", "stoi") if m in rows[0]]
    labels = [s[0] for s in systems]

    def mean(sel, m):
        v = np.array([r[m] for r in sel], dtype=np.float64)
        v = v[np.isfinite(v)]
        return float(v.mean()) if len(v) else float("nan")

    summary = {}
    for label in labels:
        summary[label] = {}
        for snr in list(ev.SNRS) + ["all"]:
            sel = [r for r in rows if r["system"] == label and (snr == "all" or r["snr"] == snr)]
            base = [r for r in rows if r["system"] == "noisy input" and
                    (snr == "all" or r["snr"] == snr)]
            d = {m: mean(sel, m) for m in metrics}
            d["si_sdr_improvement"] = d["si_sdr"] - mean(base, "si_sdr")
            summary[label][str(snr)] = d
    res = {"date": datetime.date.today().isoformat(), "seed": ev.EVAL_SEED,
           "items": len(items), "systems": labels,
           "latency_ms": {s[0]: s[2] * 1000 / data.SR for s in systems},
           "summary": summary, "rows": rows, "metrics": metrics,
           "seconds": round(time.time() - t0, 1)}
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    lines = ["# Ultra-low-latency model: held-out quality", "",
             f"Generated {res['date']} by `tools/train/eval_ultra.py`: the default model's 40 "
             f"held-out mixtures (tools/train/eval.py, seed {ev.EVAL_SEED}), all systems through "
             "our C++ engine, each aligned by its own algorithmic latency.", ""]
    snr_keys = [str(x) for x in ev.SNRS] + ["all"]
    for m, title in (("si_sdr", "SI-SDR (dB; improvement over the noisy input)"),
                     ("pesq_wb", "PESQ-WB"), ("stoi", "STOI")):
        if m not in metrics:
            continue
        lines += [f"{title}:", "", "| system | latency | " + " | ".join(
            f"{k} dB" if k != "all" else "all" for k in snr_keys) + " |",
            "|" + "---|" * (len(snr_keys) + 2)]
        for label in labels:
            cells = []
            for k in snr_keys:
                d = summary[label][k]
                if m == "si_sdr" and label != "noisy input":
                    cells.append(f"{d[m]:.2f} ({d['si_sdr_improvement']:+.2f})")
                else:
                    cells.append(f"{d[m]:.3f}" if m != "si_sdr" else f"{d[m]:.2f}")
            lat = res["latency_ms"][label]
            lines.append(f"| {label} | {lat:g} ms | " + " | ".join(cells) + " |")
        lines.append("")
    out.write_text("\n".join(lines))
    print(f"scored {len(items)} items x {len(systems)} systems in {res['seconds']} s; wrote {out}")
    for label in labels:
        a = summary[label]["all"]
        print(f"  {label:16s} SI-SDR {a['si_sdr']:6.2f} dB ({a['si_sdr_improvement']:+5.2f})"
              + "".join(f"  {m} {a[m]:.3f}" for m in metrics[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
