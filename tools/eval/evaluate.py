#!/usr/bin/env python3
"""GhostNV quality harness: scores denoisers on noisy/clean pairs.

  python3 tools/eval/evaluate.py --pairs DIR|LIST --model SPEC [--model SPEC ...] --out DIR
          [--denoise BIN] [--jobs N] [--limit N] [--plot-item ID] [--doc docs/quality.md]
          [--dnsmos-dir DIR] [--no-dnsmos]

--pairs: a directory from make_eval_set.py (DIR/pairs.json and DIR/48k/...; --rate 16000 picks
DIR/16k), a directory with noisy/ and clean/ holding WAVs of the same names, or a text file with
one "NOISY CLEAN [SNR_DB]" per line. Without a stated input SNR it is measured
(metrics.input_snr).
--model SPEC: see systems.py (noisy, ghostnv:NAME|FILE, ffmpeg-arnndn:FILE, onnx-dtln:DIR,
cmd:TEMPLATE; "label=SPEC" renames).

Writes OUT/results.json (every item and the aggregates), OUT/results.md (tables) and OUT/plots/
(bar_<metric>.svg per metric, spectrogram_<item>.svg). With --doc PATH also PATH (Markdown) and
PATH with .json (docs/quality.md, docs/quality.json). Metric definitions: tools/eval/README.md.

  python3 tools/eval/evaluate.py --rerender OUT

rewrites OUT/results.md and the --doc page of an earlier run from OUT/results.json and OUT/plots
(after editing the --doc-notes file) without scoring again.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import math
import os
import pathlib
import shlex
import sys
import time

import numpy as np
import soundfile as sf

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import metrics  # noqa: E402
import plots  # noqa: E402
import systems  # noqa: E402

BANDS = ((-5, 0), (0, 5), (5, 10), (10, 15), (15, 20))
# (key, title, unit, higher is better, format)
METRICS = [
    ("si_sdr", "SI-SDR", "dB", True, "{:.2f}"),
    ("pesq_wb", "PESQ-WB", "MOS", True, "{:.3f}"),
    ("stoi", "STOI", "", True, "{:.3f}"),
    ("dnsmos_sig", "DNSMOS SIG", "MOS", True, "{:.3f}"),
    ("dnsmos_bak", "DNSMOS BAK", "MOS", True, "{:.3f}"),
    ("dnsmos_ovrl", "DNSMOS OVRL", "MOS", True, "{:.3f}"),
    ("speech_distortion", "speech distortion", "dB", False, "{:.2f}"),
    ("noise_reduction", "noise reduction", "dB", True, "{:.2f}"),
    ("si_sdr_fb", "SI-SDR full band", "dB", True, "{:.2f}"),
]
METRIC_INFO = {m[0]: m for m in METRICS}


def default_dnsmos_dir() -> pathlib.Path:
    shared = os.environ.get("GHOSTNV_SHARED_DIR")
    base = pathlib.Path(shared) if shared else REPO.parent / "shared"
    return base / "data" / "models" / "dnsmos"


# ---- pairs ---------------------------------------------------------------------------------
def load_pairs(arg: str, rate: int = 48000) -> list[dict]:
    p = pathlib.Path(arg)
    if p.is_file():
        items = []
        for line in p.read_text().splitlines():
            f = shlex.split(line, comments=True)
            if not f:
                continue
            it = {"id": pathlib.Path(f[0]).stem, "noisy": str(p.parent / f[0]),
                  "clean": str(p.parent / f[1])}
            if len(f) > 2:
                it["snr_db"] = float(f[2])
            items.append(it)
        return items
    meta = {}
    if (p / "pairs.json").is_file():
        meta = {it["id"]: it for it in json.loads((p / "pairs.json").read_text())["items"]}
        sub = {48000: "48k", 16000: "16k"}.get(rate)
        if sub is None or not (p / sub).is_dir():
            raise FileNotFoundError(f"{p}: no {sub or rate} variant")
        p = p / sub
    if not (p / "noisy").is_dir() or not (p / "clean").is_dir():
        raise FileNotFoundError(f"{arg}: expected pairs.json, noisy/ and clean/, or a list file")
    items = []
    for f in sorted((p / "noisy").glob("*.wav")):
        c = p / "clean" / f.name
        if not c.exists():
            continue
        it = {"id": f.stem, "noisy": str(f), "clean": str(c)}
        m = meta.get(f.stem, {})
        for k in ("snr_db", "speaker", "noise"):
            if k in m:
                it[k] = m[k]
        items.append(it)
    return items


def add_output_folder_args(ap) -> None:
    """--pairs, --rate and --system NAME=DIR (repeatable): the arguments of load_output_folders."""
    ap.add_argument("--pairs", required=True,
                    help="the eval set (make_eval_set.py), or what evaluate.py's --pairs takes")
    ap.add_argument("--rate", type=int, default=48000,
                    help="the variant of a make_eval_set.py set the outputs came from (48000, 16000)")
    ap.add_argument("--system", action="append", required=True, metavar="NAME=DIR",
                    help="a folder of outputs named like the noisy items (repeatable)")


def load_output_folders(pairs: str, rate: int, specs: list[str]) -> tuple[list[dict], list]:
    """For the tools that read folders of a system's outputs named like the noisy items
    (band_error.py, dry_probe.py): the pairs (load_pairs) and, per item, [(NAME, output path)]
    for each NAME=DIR of specs. Raises ValueError with a one-line reason on bad input: no set,
    no pairs in it, a spec that is not NAME=DIR with an existing DIR, a missing output."""
    try:
        items = load_pairs(pairs, rate)
    except FileNotFoundError as e:
        raise ValueError(str(e)) from None
    if not items:
        raise ValueError(f"no pairs in {pairs}")
    systems = []
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not pathlib.Path(folder).is_dir():
            raise ValueError(f"--system wants NAME=DIR with an existing DIR, got {spec!r}")
        systems.append((name, pathlib.Path(folder)))
    outs = []
    for it in items:
        row = []
        for name, folder in systems:
            p = folder / pathlib.Path(it["noisy"]).name
            if not p.exists():
                raise ValueError(f"{p} missing")
            row.append((name, p))
        outs.append(row)
    return items, outs


def band_of(snr: float, bands=BANDS) -> str | None:
    for i, (lo, hi) in enumerate(bands):
        last = i == len(bands) - 1
        if lo <= snr < hi or (last and snr == hi):
            return f"{lo}..{hi}"
    return None


# ---- scoring -------------------------------------------------------------------------------
_W = {}


def _init_worker(specs, denoise_bin, dnsmos_dir, use_dnsmos):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _W["systems"] = [systems.make_system(s, denoise_bin) for s in specs]
    _W["dnsmos"] = None
    if use_dnsmos:
        try:
            _W["dnsmos"] = metrics.Dnsmos(dnsmos_dir)
        except Exception as e:  # onnxruntime missing or model missing
            _W["dnsmos_error"] = str(e)


def score_signal(y: np.ndarray, rate: int, clean: np.ndarray, noisy: np.ndarray, sr: int,
                 dnsmos=None, cache: dict | None = None) -> dict:
    """All metrics of one processed signal y (at `rate`) against the pair (clean, noisy at sr)."""
    cache = cache if cache is not None else {}
    if "clean16" not in cache:
        cache["clean16"] = metrics.resample(clean, sr, 16000)
        cache["noisy16"] = metrics.resample(noisy, sr, 16000)
    c16, n16 = cache["clean16"], cache["noisy16"]
    y16 = metrics.resample(y, rate, 16000)
    n = min(len(y16), len(c16))
    y16 = np.concatenate([y16[:n], np.zeros(len(c16) - n)])
    yfb = metrics.resample(y, rate, sr) if rate != sr else np.asarray(y, np.float64)
    yfb = np.concatenate([yfb[: len(clean)], np.zeros(max(0, len(clean) - len(yfb)))])
    r = {"si_sdr": metrics.si_sdr(y16, c16),
         "si_sdr_fb": metrics.si_sdr(yfb, clean),
         "speech_distortion": metrics.speech_distortion(y16, c16, 16000),
         "noise_reduction": metrics.noise_reduction(y16, n16, c16, 16000)}
    p = metrics.pesq_wb(y16, c16)
    if p is not None:
        r["pesq_wb"] = p
    s = metrics.stoi(y16, c16)
    if s is not None:
        r["stoi"] = s
    if dnsmos is not None:
        d = dnsmos.score(y16)
        r.update({"dnsmos_sig": d["sig"], "dnsmos_bak": d["bak"], "dnsmos_ovrl": d["ovrl"]})
    return r, y16


def score_item(item: dict, keep_audio: bool = False, skip: frozenset = frozenset()) -> dict:
    """Runs and scores every system on one pair; systems named in `skip` are not run (their rows
    come from an earlier results.json, --reuse), except for the plot item, whose audio is kept."""
    clean, sr = sf.read(item["clean"], dtype="float32", always_2d=True)
    noisy, sr_n = sf.read(item["noisy"], dtype="float32", always_2d=True)
    clean, noisy = clean.mean(axis=1), noisy.mean(axis=1)
    if sr != sr_n:
        raise ValueError(f"{item['id']}: clean at {sr} Hz, noisy at {sr_n} Hz")
    n = min(len(clean), len(noisy))
    clean, noisy = clean[:n], noisy[:n]
    snr = item.get("snr_db")
    if snr is None:
        snr = metrics.input_snr(noisy, clean, sr)
    rows, audio, cache = [], {}, {}
    with systems.scratch_dir() as tmp:
        for sysm in _W["systems"]:
            if sysm.label in skip and not keep_audio:
                continue
            t0 = time.time()
            try:
                y, rate = sysm.process(noisy, sr, pathlib.Path(tmp))
                err = None
            except Exception as e:
                y, rate, err = None, sr, str(e)
            t1 = time.time()
            row = {"item": item["id"], "system": sysm.label, "snr_db": float(snr),
                   "band": band_of(float(snr)), "seconds": n / sr,
                   "process_seconds": round(t1 - t0, 4)}
            for k in ("speaker", "noise"):
                if k in item:
                    row[k] = item[k]
            if err:
                row["error"] = err
            else:
                m, y16 = score_signal(y, rate, clean, noisy, sr, _W["dnsmos"], cache)
                row.update(m)
                if keep_audio:
                    audio[sysm.label] = y16.astype(np.float32)
            rows.append(row)
    if keep_audio:
        audio["clean"] = cache["clean16"].astype(np.float32)
    return {"rows": rows, "audio": audio}


# ---- aggregation ---------------------------------------------------------------------------
def _mean(vals):
    v = np.array([x for x in vals if x is not None and math.isfinite(x)], np.float64)
    return (float(v.mean()) if len(v) else float("nan")), int(len(v))


def aggregate(rows: list[dict], bands=BANDS, baseline: str | None = "noisy") -> dict:
    """summary[system][band or "all"] = {"n": items, metric: mean, "<metric>_delta": mean of the
    per-item difference to the baseline system (same item), ...}. Rows with "error" are left
    out (and counted in "errors")."""
    keys = [f"{lo}..{hi}" for lo, hi in bands] + ["all"]
    names = list(dict.fromkeys(r["system"] for r in rows))
    base = {}
    if baseline is not None:
        base = {r["item"]: r for r in rows if r["system"] == baseline and "error" not in r}
    out = {}
    for name in names:
        out[name] = {}
        mine = [r for r in rows if r["system"] == name]
        for key in keys:
            sel = [r for r in mine if key == "all" or r.get("band") == key]
            ok = [r for r in sel if "error" not in r]
            d = {"n": len(ok), "errors": len(sel) - len(ok)}
            for m, *_ in METRICS:
                if not any(m in r for r in ok):
                    continue
                d[m], _ = _mean(r.get(m) for r in ok)
                if base and name != baseline:
                    d[m + "_delta"], _ = _mean(
                        r[m] - base[r["item"]][m] for r in ok
                        if r["item"] in base and m in r and m in base[r["item"]])
            if base and name == baseline:
                for m, *_ in METRICS:
                    if m in d:
                        d[m + "_delta"] = 0.0
            out[name][key] = d
    return out


# ---- reports -------------------------------------------------------------------------------
def _cell(d: dict, m: str, delta: bool) -> str:
    v = d.get(m)
    if v is None or not math.isfinite(v):
        return "–"
    s = METRIC_INFO[m][4].format(v)
    dv = d.get(m + "_delta")
    if delta and dv is not None and math.isfinite(dv):
        s += f" ({METRIC_INFO[m][4].format(dv) if dv < 0 else '+' + METRIC_INFO[m][4].format(dv)})"
    return s


def markdown_tables(res: dict) -> list[str]:
    summ = res["summary"]
    names = res["systems"]
    present = [m for m, *_ in METRICS if any(m in summ[n]["all"] for n in names)]
    keys = [f"{lo}..{hi}" for lo, hi in res["bands_db"]]
    n_all = {n: summ[n]["all"]["n"] for n in names}
    lines = ["### All items", "",
             "| system | items | " + " | ".join(
                 METRIC_INFO[m][1] + (f" ({METRIC_INFO[m][2]})" if METRIC_INFO[m][2] else "")
                 for m in present) + " |",
             "|---|---|" + "---|" * len(present)]
    for nme in names:
        lines.append(f"| {nme} | {n_all[nme]} | " +
                     " | ".join(_cell(summ[nme]["all"], m, False) for m in present) + " |")
    lines += ["", "Higher is better in every column except speech distortion "
              "(lower is better).", ""]
    counts = {k: summ[names[0]][k]["n"] for k in keys}
    for m in present:
        _, title, unit, hib, _ = METRIC_INFO[m]
        lines += [f"### {title}" + (f" ({unit})" if unit else "") + " by input SNR band "
                  + ("(higher is better" if hib else "(lower is better")
                  + "; change from the noisy input in parentheses)", "",
                  "| system | " + " | ".join(f"{k} dB (n={counts[k]})" for k in keys) + " | all |",
                  "|---|" + "---|" * (len(keys) + 1)]
        for nme in names:
            lines.append(f"| {nme} | " + " | ".join(
                _cell(summ[nme][k], m, nme != res.get("baseline")) for k in keys + ["all"]) + " |")
        lines.append("")
    errs = [r for r in res["items"] if "error" in r]
    if errs:
        lines += [f"{len(errs)} item runs failed and are left out, e.g. "
                  f"`{errs[0]['system']}` on `{errs[0]['item']}`: {errs[0]['error'][:200]}", ""]
    return lines


def write_plots(res: dict, out: pathlib.Path, audio: dict | None, plot_item: str | None,
                plot_systems: list | None = None) -> list:
    pdir = out / "plots"
    pdir.mkdir(parents=True, exist_ok=True)
    written = []
    keys = [f"{lo}..{hi}" for lo, hi in res["bands_db"]] + ["all"]
    for m, title, unit, hib, _ in METRICS:
        if not any(m in res["summary"][n]["all"] for n in res["systems"]):
            continue
        series = {n: [res["summary"][n][k].get(m, float("nan")) for k in keys]
                  for n in res["systems"]}
        f = pdir / f"bar_{m}.svg"
        plots.bar_chart_svg(f, f"{title} by input SNR band" +
                            ("" if hib else ", lower is better"), unit,
                            [k if k == "all" else k + " dB" for k in keys], series)
        written.append(f)
    if audio:
        chosen = [n for n in res["systems"] if n in audio and
                  (not plot_systems or n in plot_systems)]
        panels = [("clean", audio["clean"])] + [(n, audio[n]) for n in chosen]
        f = pdir / f"spectrogram_{plot_item}.svg"
        snr = next((r["snr_db"] for r in res["items"] if r["item"] == plot_item), float("nan"))
        plots.spectrogram_svg(f, f"{plot_item} (input SNR {snr:.1f} dB), 16 kHz copies", panels,
                              16000)
        written.append(f)
    return written


def to_json(obj, digits: int | None = None) -> str:
    """Strict JSON: NaN and infinities become null; floats rounded to `digits` decimals if set."""
    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, float) and digits is not None:
            return round(x, digits)
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x
    return json.dumps(clean(obj), indent=1, allow_nan=False) + "\n"


def command_line(argv: list[str]) -> str:
    return "python3 tools/eval/evaluate.py " + " ".join(shlex.quote(a) for a in argv)


def rerender(out: pathlib.Path) -> int:
    """Rewrites OUT/results.md and the --doc page of an earlier run from OUT/results.json and
    OUT/plots/ (after editing the notes file, say) without scoring again."""
    res = json.loads((out / "results.json").read_text())
    nan = float("nan")
    for sysd in res["summary"].values():
        for d in sysd.values():
            for k, v in d.items():
                if v is None:
                    d[k] = nan
    written = sorted((out / "plots").glob("bar_*.svg"),
                     key=lambda f: [m[0] for m in METRICS].index(f.stem[4:])
                     if f.stem[4:] in METRIC_INFO else 99)
    written += sorted((out / "plots").glob("spectrogram_*.svg"))
    write_results_md(res, out, written)
    d = res.get("doc_args") or {}
    if d.get("doc"):
        write_doc(pathlib.Path(d["doc"]), res, written,
                  pathlib.Path(d["notes"]) if d.get("notes") else None, d.get("prep"))
    print(f"re-rendered {out}/results.md" + (f" and {d['doc']}" if d.get("doc") else ""))
    return 0


def reusable_rows(prev_path: pathlib.Path, descs: dict, items: list, pairs: str,
                  rate: int, use_dnsmos: bool) -> tuple[dict, str | None]:
    """{label: rows} from an earlier results.json for systems run with the same spec (same
    describe() text) on the same pairs (same ids), with no failed item and the same DNSMOS
    setting; the earlier run's command line (for the page) or None when nothing is reused."""
    prev = json.loads(prev_path.read_text())
    if prev.get("pairs") != pairs or prev.get("rate") != rate:
        return {}, None
    if bool(prev.get("dnsmos")) != use_dnsmos:
        return {}, None
    ids = [it["id"] for it in items]
    out = {}
    for label, desc in descs.items():
        if prev.get("system_specs", {}).get(label) != desc:
            continue
        rows = {r["item"]: r for r in prev["items"] if r["system"] == label}
        if all(i in rows and "error" not in rows[i] for i in ids):
            out[label] = [rows[i] for i in ids]
    return out, (prev.get("generated_by") if out else None)


def write_results_md(res: dict, out: pathlib.Path, written: list) -> None:
    md = ["# Evaluation results", "", f"Generated by `{res['generated_by']}` on {res['date']}; "
          f"{res['items_scored']} pairs from `{res['pairs']}`.", "", "Systems:", ""]
    md += [f"- **{n}**: `{res['system_specs'][n]}`" for n in res["systems"]] + [""]
    md += markdown_tables(res)
    md += ["## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in written] + [""]
    (out / "results.md").write_text("\n".join(md))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 2 and argv[0] == "--rerender":
        return rerender(pathlib.Path(argv[1]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--model", action="append", required=True, dest="models")
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--rate", type=int, default=48000, help="variant of a make_eval_set dir")
    ap.add_argument("--denoise", default=None, help="ghostnv-denoise binary")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="score the first N pairs only")
    ap.add_argument("--plot-item", default=None, help="item id for the spectrograms "
                    "(default: the first item of the middle band)")
    ap.add_argument("--plot-systems", default=None,
                    help="comma-separated labels shown in the spectrogram plot (default: all)")
    ap.add_argument("--dnsmos-dir", type=pathlib.Path, default=None)
    ap.add_argument("--no-dnsmos", action="store_true")
    ap.add_argument("--doc", type=pathlib.Path, default=None,
                    help="also write this Markdown page (and its .json), e.g. docs/quality.md")
    ap.add_argument("--doc-prep", action="append", default=[],
                    help="a command the --doc page lists before this one (repeatable)")
    ap.add_argument("--doc-notes", type=pathlib.Path, default=None,
                    help="Markdown file appended to the --doc page (set description, notes)")
    ap.add_argument("--reuse", type=pathlib.Path, default=None,
                    help="an earlier results.json: systems it scored with the same spec on the "
                    "same pairs are not run again (their rows are copied)")
    args = ap.parse_args(argv)

    items = load_pairs(args.pairs, args.rate)
    if args.limit:
        items = items[: args.limit]
    if not items:
        print("evaluate: no pairs found", file=sys.stderr)
        return 1
    dnsmos_dir = args.dnsmos_dir or default_dnsmos_dir()
    use_dnsmos = not args.no_dnsmos and (dnsmos_dir / "sig_bak_ovr.onnx").is_file()
    if not args.no_dnsmos and not use_dnsmos:
        print(f"evaluate: no DNSMOS model in {dnsmos_dir}; DNSMOS columns skipped",
              file=sys.stderr)
    init = (args.models, args.denoise, dnsmos_dir, use_dnsmos)
    _init_worker(*init)  # validates the specs here (and serves --jobs 1)
    descs = {s.label: s.describe() for s in _W["systems"]}
    labels = [s.label for s in _W["systems"]]
    if len(set(labels)) != len(labels):
        print(f"evaluate: duplicate system labels {labels}; use label=SPEC", file=sys.stderr)
        return 2
    if _W.get("dnsmos_error"):
        print(f"evaluate: DNSMOS unavailable ({_W['dnsmos_error']})", file=sys.stderr)
    for it in items:
        if "snr_db" not in it:
            c, sr = sf.read(it["clean"], dtype="float32")
            x, _ = sf.read(it["noisy"], dtype="float32")
            it["snr_db"] = metrics.input_snr(x, c, sr)
    if args.plot_item is None:
        mid = band_of(7.5)
        args.plot_item = next((it["id"] for it in items if band_of(it["snr_db"]) == mid),
                              items[0]["id"])

    reused, reused_from = {}, None
    if args.reuse:
        reused, reused_from = reusable_rows(args.reuse, descs, items, args.pairs, args.rate,
                                            bool(_W.get("dnsmos")))
        print(f"evaluate: reusing {sorted(reused) or 'nothing'} from {args.reuse}",
              file=sys.stderr)
    skip = frozenset(reused)
    t0 = time.time()
    results = []
    if args.jobs <= 1:
        for i, it in enumerate(items):
            results.append(score_item(it, it["id"] == args.plot_item, skip))
            print(f"\r  {i + 1}/{len(items)} items", end="", file=sys.stderr, flush=True)
    else:
        with concurrent.futures.ProcessPoolExecutor(args.jobs, initializer=_init_worker,
                                                    initargs=init) as ex:
            futs = [ex.submit(score_item, it, it["id"] == args.plot_item, skip) for it in items]
            for i, f in enumerate(futs):
                results.append(f.result())
                print(f"\r  {i + 1}/{len(items)} items", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    elapsed = time.time() - t0
    rows = [r for res in results for r in res["rows"] if r["system"] not in skip]
    rows += [r for label in labels if label in reused for r in reused[label]]
    order = {label: k for k, label in enumerate(labels)}
    pos = {it["id"]: k for k, it in enumerate(items)}
    rows.sort(key=lambda r: (pos[r["item"]], order[r["system"]]))
    audio = next((res["audio"] for res in results if res["audio"]), None)

    summary = aggregate(rows)
    res = {"generated_by": command_line(argv), "date": datetime.date.today().isoformat(),
           "pairs": args.pairs, "rate": args.rate, "items_scored": len(items),
           "bands_db": [list(b) for b in BANDS], "baseline": "noisy" if "noisy" in labels else None,
           "systems": labels, "system_specs": descs,
           "metrics": {m: {"title": t, "unit": u, "higher_is_better": h}
                       for m, t, u, h, _ in METRICS},
           "dnsmos": str(dnsmos_dir) if _W.get("dnsmos") else None,
           "elapsed_seconds": round(elapsed, 1), "summary": summary, "items": rows}
    pairs_meta = pathlib.Path(args.pairs) / "pairs.json"
    if pairs_meta.is_file():
        pm = json.loads(pairs_meta.read_text())
        res["pairs_meta"] = {k: v for k, v in pm.items() if k != "items"}
    args.out.mkdir(parents=True, exist_ok=True)
    if reused:
        res["reused"] = {"systems": sorted(reused), "from": str(args.reuse),
                         "generated_by": reused_from}
        args.doc_prep = args.doc_prep + [f"nice -n 10 {reused_from}   # rows of "
                                         f"{', '.join(sorted(reused))}, reused by --reuse"]
    if args.doc:
        res["doc_args"] = {"doc": str(args.doc), "prep": args.doc_prep,
                           "notes": str(args.doc_notes) if args.doc_notes else None}
    (args.out / "results.json").write_text(to_json(res))
    written = write_plots(res, args.out, audio, args.plot_item,
                          args.plot_systems.split(",") if args.plot_systems else None)
    write_results_md(res, args.out, written)
    # A system whose runs failed on some items is averaged over the others: its means are not
    # comparable with the other rows (a binary rebuilt under a running harness once lifted a
    # model by 0.85 dB that way), so such a run says so, writes no --doc page and exits 1.
    failed = {n: summary[n]["all"]["errors"] for n in labels if summary[n]["all"]["errors"]}
    if args.doc and not failed:
        write_doc(args.doc, res, written, args.doc_notes, args.doc_prep)
    print(f"scored {len(items)} items x {len(labels)} systems in {elapsed:.0f} s -> "
          f"{args.out}/results.md")
    for n in labels:
        a = summary[n]["all"]
        print(f"  {n:28s}" + "".join(
            f" {m}={METRIC_INFO[m][4].format(a[m])}" for m, *_ in METRICS[:6] if m in a)
            + (f"  ({failed[n]} of {len(items)} items FAILED, left out)" if n in failed else ""))
    if failed:
        first = next(r for r in rows if "error" in r)
        print(f"evaluate: {sum(failed.values())} item runs failed ("
              + ", ".join(f"{n}: {k}" for n, k in failed.items())
              + f"), e.g. {first['system']} on {first['item']}: {first['error'][:300]}"
              + (f"; {args.doc} not written" if args.doc else ""), file=sys.stderr)
        return 1
    return 0


def write_doc(doc: pathlib.Path, res: dict, plot_files: list, notes: pathlib.Path | None,
              prep: list | None = None) -> None:
    """docs/quality.md + docs/quality.json: the tables, the plots copied next to the page."""
    import shutil
    doc.parent.mkdir(parents=True, exist_ok=True)
    pdir = doc.parent / (doc.stem + "-plots")
    pdir.mkdir(exist_ok=True)
    for old in pdir.glob("*.svg"):
        old.unlink()
    for f in plot_files:
        shutil.copyfile(f, pdir / f.name)
    lines = ["# Denoising quality", "",
             "<!-- Generated by tools/eval/evaluate.py; do not edit by hand. -->", "",
             f"Generated on {res['date']} with the commands below (raw numbers: "
             f"[{doc.stem}.json]({doc.stem}.json)):",
             "", "```sh", "python3 tools/eval/make_eval_set.py   # held-out pairs -> "
             "build/eval-set (or $GHOSTNV_EVAL_DIR)"] + list(prep or []) + [
             "nice -n 10 " + res["generated_by"], "```", "",
             "Metric definitions (SI-SDR, PESQ-WB, STOI, DNSMOS P.835, speech distortion, noise "
             "reduction) and the held-out set: [tools/eval/README.md](../tools/eval/README.md). "
             "All metrics except *SI-SDR full band* are computed on 16 kHz copies (soxr HQ), so "
             "16 kHz and 48 kHz systems are scored alike.", "", "Systems:", ""]
    lines += [f"- **{n}**: `{res['system_specs'][n]}`" for n in res["systems"]] + [""]
    lines += ["## Results", ""] + markdown_tables(res)
    lines += ["## Plots", ""] + [f"![{f.stem}]({pdir.name}/{f.name})" for f in plot_files] + [""]
    if notes and notes.is_file():
        lines += [notes.read_text().rstrip(), ""]
    doc.write_text("\n".join(lines))
    doc.with_suffix(".json").write_text(to_json(res, digits=4))


if __name__ == "__main__":
    sys.exit(main())
