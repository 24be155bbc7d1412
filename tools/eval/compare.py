#!/usr/bin/env python3
"""Paired comparison of two systems of one harness run: is a difference bigger than the
held-out set's noise?

evaluate.py's table gives each system's mean over the items; two systems' means can differ by
less than the items disagree among themselves. This reads the per-item scores of a
results.json (evaluate.py --out DIR writes DIR/results.json; docs/quality.json is one) and, for
each metric, the paired difference A - B over the items both systems scored: its mean, a
percentile-bootstrap 95 % interval of that mean (items resampled with replacement, a fixed
seed: the same input gives the same table), and how many items A wins (for speech distortion,
where lower is better, a win is a lower value and the difference is reported as B - A, so a
positive mean is always in A's favour). A difference whose interval excludes 0 is marked.

    python3 tools/eval/compare.py docs/quality.json --a "ghostnv enhanced" --b "dtln (ghostnv)"
    python3 tools/eval/compare.py DIR/results.json --a X --b Y --band 0..5 --json out.json

Options: --band LABEL (only items of that input SNR band, e.g. -5..0), --metric M (repeatable;
default every metric the file has), --resamples N (default 10000), --seed S (default 0),
--json PATH (the table as JSON too). Exit 2 with a message on a missing file, system, band or
metric, or when the systems share no scored item.
"""

import argparse
import json
import math
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from evaluate import METRICS, to_json  # noqa: E402  (the table's metrics, in its order)

ORDER = [m for m, *_ in METRICS]
LOWER_IS_BETTER = {m for m, _, _, higher_is_better, _ in METRICS if not higher_is_better}


class CompareError(Exception):
    pass


def paired(items, a, b, metrics=None, band=None):
    """{metric: (item ids, A's values, B's values)} over the items both systems scored with a
    finite value (an item a system failed on has no number: it is left out of that metric)."""
    by = {}
    for r in items:
        if band is not None and r.get("band") != band:
            continue
        by.setdefault(r["system"], {})[r["item"]] = r
    for s in (a, b):
        if s not in by:
            known = sorted({r["system"] for r in items})
            where = f" in band {band}" if band is not None else ""
            raise CompareError(f"no items of system '{s}'{where} (systems: {', '.join(known)})")
    common = sorted(set(by[a]) & set(by[b]))
    if not common:
        raise CompareError(f"'{a}' and '{b}' share no item")
    if metrics is None:
        present = {k for r in by[a].values() for k, v in r.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        metrics = [m for m in ORDER if m in present]
    out = {}
    for m in metrics:
        ids, va, vb = [], [], []
        for k in common:
            x, y = by[a][k].get(m), by[b][k].get(m)
            if isinstance(x, (int, float)) and isinstance(y, (int, float)) \
                    and math.isfinite(x) and math.isfinite(y):
                ids.append(k)
                va.append(float(x))
                vb.append(float(y))
        if not ids:
            raise CompareError(f"metric '{m}': no item with a value for both systems")
        out[m] = (ids, np.array(va), np.array(vb))
    return out


def bootstrap_ci(d, resamples=10000, seed=0, level=0.95):
    """Percentile bootstrap interval of the mean of d (items resampled with replacement)."""
    d = np.asarray(d, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
    lo, hi = np.percentile(means, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def compare(items, a, b, metrics=None, band=None, resamples=10000, seed=0):
    rows = []
    for m, (ids, va, vb) in paired(items, a, b, metrics, band).items():
        d = (vb - va) if m in LOWER_IS_BETTER else (va - vb)
        lo, hi = bootstrap_ci(d, resamples, seed)
        rows.append({"metric": m, "items": len(ids), "mean_a": float(va.mean()),
                     "mean_b": float(vb.mean()), "diff": float(d.mean()), "ci95": [lo, hi],
                     "wins_a": int(np.sum(d > 0)), "wins_b": int(np.sum(d < 0)),
                     "significant": bool(lo > 0 or hi < 0),
                     "lower_is_better": m in LOWER_IS_BETTER})
    return rows


def markdown(rows, a, b, band=None):
    where = f" ({band} dB)" if band else ""
    lines = [f"Paired difference in A's favour, A = {a}, B = {b}{where} (bootstrap 95 % "
             "interval of the mean; * = the interval excludes 0):", "",
             "| metric | items | A | B | A − B (in A's favour) | 95 % interval | A wins / B wins |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        star = " *" if r["significant"] else ""
        name = r["metric"] + (" (lower is better)" if r["lower_is_better"] else "")
        lines.append(f"| {name} | {r['items']} | {r['mean_a']:.3f} | {r['mean_b']:.3f} | "
                     f"{r['diff']:+.3f}{star} | [{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}] | "
                     f"{r['wins_a']} / {r['wins_b']} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", help="a results.json of evaluate.py (or docs/quality.json)")
    ap.add_argument("--a", required=True, help="system A (a row name of the table)")
    ap.add_argument("--b", required=True, help="system B")
    ap.add_argument("--band", help="only items of this input SNR band (e.g. 0..5)")
    ap.add_argument("--metric", action="append", help="a metric (repeatable; default: all)")
    ap.add_argument("--resamples", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the rows as JSON here")
    a = ap.parse_args(argv)
    try:
        if a.resamples < 100:
            raise CompareError("--resamples must be at least 100")
        p = pathlib.Path(a.results)
        if not p.is_file():
            raise CompareError(f"{p}: no such file")
        try:
            doc = json.loads(p.read_text())
            items = doc["items"]
        except (ValueError, KeyError, TypeError) as e:
            raise CompareError(f"{p}: not an evaluate.py results file ({e})")
        rows = compare(items, a.a, a.b, a.metric, a.band, a.resamples, a.seed)
    except CompareError as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    print(markdown(rows, a.a, a.b, a.band))
    if a.json:
        out = pathlib.Path(a.json)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(to_json({"a": a.a, "b": a.b, "band": a.band, "resamples": a.resamples,
                                "seed": a.seed, "rows": rows}))
        tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
