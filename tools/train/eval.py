#!/usr/bin/env python3
"""Scores the default model and the three public RNNoise models on held-out mixtures and writes
docs/quality.md and docs/quality.json.

  python3 tools/train/eval.py --lib-dir build/tools/train
          [--model models/weights/default.gnvm] [--data-root /work/shared/data]
          [--out docs/quality.md] [--save-audio tools/train/work/eval_audio]

Held-out set (fixed seed, see make_items): 40 mixtures, 8 at each input SNR of 0, 5, 10, 15 and
20 dB, each 4-8 s long. Speech: clips of the held-out speakers only (data.HELDOUT_SPEECH_FOLDERS;
never used in training) joined with short pauses; noise: the held-out recordings only
(data.HELDOUT_NOISE). SNR = active speech RMS / noise RMS. Speech level: active RMS uniform in
-35..-20 dBFS. No random filtering, no resampling tricks: the mixtures are what a user records.
All processing runs through our C++ engine (tools/train/features_capi.cc, gnv_denoise_buffer),
time-aligned (the 10 ms algorithmic latency is removed before scoring).
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import data  # noqa: E402
import ghostnv_ext  # noqa: E402

SR = data.SR
SNRS = (0, 5, 10, 15, 20)
ITEMS_PER_SNR = 8
EVAL_SEED = 424242


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    est = est.astype(np.float64) - est.mean()
    ref = ref.astype(np.float64) - ref.mean()
    alpha = np.dot(est, ref) / (np.dot(ref, ref) + 1e-20)
    target = alpha * ref
    noise = est - target
    return float(10 * np.log10((np.dot(target, target) + 1e-20) / (np.dot(noise, noise) + 1e-20)))


def make_items(corpus: data.Corpus, seed: int = EVAL_SEED) -> list[dict]:
    rng = np.random.default_rng(seed)
    speakers = corpus.speech["heldout"]
    noises = corpus.noise["heldout"]
    items = []
    k = 0
    for snr in SNRS:
        for _ in range(ITEMS_PER_SNR):
            spk = speakers[k % len(speakers)]
            nsrc = noises[(k // len(speakers) + k) % len(noises)]
            k += 1
            n = int(rng.uniform(4.0, 8.0) * SR) // data.HOP * data.HOP
            parts, total = [np.zeros(int(rng.uniform(0.2, 0.5) * SR), np.float32)], 0
            total = len(parts[0])
            while total < n:
                c = spk.clips[rng.integers(len(spk.clips))]
                gap = np.zeros(int(rng.uniform(0.1, 0.4) * SR), np.float32)
                parts += [c, gap]
                total += len(c) + len(gap)
            s = np.concatenate(parts)[:n]
            sig = nsrc.signal
            if len(sig) >= n:
                o = int(rng.integers(0, len(sig) - n + 1))
                nz = sig[o:o + n].copy()
            else:
                nz = np.resize(sig, n)   # loop (only for recordings shorter than the item)
            lev = 10 ** (rng.uniform(-35, -20) / 20)
            s = s * (lev / data.active_rms(s))
            nz = nz * (lev / np.sqrt(np.mean(nz.astype(np.float64) ** 2)) * 10 ** (-snr / 20))
            x = s + nz
            peak = np.abs(x).max()
            if peak > 0.99:
                s, nz, x = s * 0.99 / peak, nz * 0.99 / peak, x * 0.99 / peak
            items.append({"id": f"snr{snr:02d}_{k:02d}", "snr": snr, "speaker": spk.name,
                          "noise": nsrc.name, "seconds": n / SR,
                          "clean": s.astype(np.float32), "noisy": x.astype(np.float32)})
    return items


def try_import(name):
    try:
        return __import__(name)
    except ImportError:
        return None


def extra_metrics(est, ref, pesq_mod, stoi_mod) -> dict:
    out = {}
    if pesq_mod is not None or stoi_mod is not None:
        import soxr
        e16 = soxr.resample(est, SR, 16000)
        r16 = soxr.resample(ref, SR, 16000)
        if pesq_mod is not None:
            try:
                out["pesq_wb"] = float(pesq_mod.pesq(16000, r16, e16, "wb"))
            except Exception:   # pesq raises on "no utterance detected" and similar
                out["pesq_wb"] = float("nan")
        if stoi_mod is not None:
            out["stoi"] = float(stoi_mod.stoi(r16, e16, 16000, extended=False))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lib-dir", default=None)
    ap.add_argument("--model", default=str(REPO / "models" / "weights" / "default.gnvm"))
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", default=str(REPO / "docs" / "quality.md"))
    ap.add_argument("--save-audio", default=None, help="write clean/noisy/processed WAVs here")
    ap.add_argument("--no-extra", action="store_true", help="SI-SDR only (skip PESQ and STOI)")
    args = ap.parse_args(argv)

    ext = ghostnv_ext.GhostnvExt.open(args.lib_dir)
    corpus = data.Corpus.load(args.data_root and pathlib.Path(args.data_root))
    items = make_items(corpus)
    rnn_dir = corpus.root / "models" / "rnnoise"
    systems = [("noisy input", None), ("ghostnv-default", pathlib.Path(args.model))]
    for f, label in (("sh.rnnn", "rnnoise sh"), ("bd.rnnn", "rnnoise bd"),
                     ("mp.rnnn", "rnnoise mp")):
        if (rnn_dir / f).exists():
            systems.append((label, rnn_dir / f))
    pesq_mod = None if args.no_extra else try_import("pesq")
    stoi_mod = None if args.no_extra else try_import("pystoi")

    t0 = time.time()
    rows = []
    for it in items:
        for label, path in systems:
            y = it["noisy"] if path is None else ext.denoise(path, it["noisy"])
            r = {"item": it["id"], "snr": it["snr"], "speaker": it["speaker"],
                 "noise": it["noise"], "system": label, "si_sdr": si_sdr(y, it["clean"])}
            r.update(extra_metrics(y, it["clean"], pesq_mod, stoi_mod))
            rows.append(r)
            if args.save_audio:
                import soundfile as sf
                d = pathlib.Path(args.save_audio)
                d.mkdir(parents=True, exist_ok=True)
                if path is None:
                    sf.write(d / f"{it['id']}_clean.wav", it["clean"], SR)
                    sf.write(d / f"{it['id']}_noisy.wav", it["noisy"], SR)
                else:
                    sf.write(d / f"{it['id']}_{label.replace(' ', '_')}.wav", y, SR)
    seconds = time.time() - t0

    metrics = ["si_sdr"] + [m for m in ("pesq_wb", "stoi") if m in rows[0]]
    labels = [s[0] for s in systems]

    def mean(sel, m):
        v = np.array([r[m] for r in sel], dtype=np.float64)
        v = v[np.isfinite(v)]
        return float(v.mean()) if len(v) else float("nan")

    summary = {}
    for label in labels:
        summary[label] = {}
        for snr in list(SNRS) + ["all"]:
            sel = [r for r in rows if r["system"] == label and (snr == "all" or r["snr"] == snr)]
            base = [r for r in rows if r["system"] == "noisy input" and
                    (snr == "all" or r["snr"] == snr)]
            d = {m: mean(sel, m) for m in metrics}
            d["si_sdr_improvement"] = d["si_sdr"] - mean(base, "si_sdr")
            summary[label][str(snr)] = d
    by_noise = {}
    for label in labels:
        by_noise[label] = {}
        for nz in sorted({r["noise"] for r in rows}):
            sel = [r for r in rows if r["system"] == label and r["noise"] == nz]
            by_noise[label][nz] = mean(sel, "si_sdr")

    model_meta = {}
    try:
        import struct
        raw = pathlib.Path(args.model).read_bytes()
        hl = struct.unpack("<Q", raw[8:16])[0]
        model_meta = json.loads(raw[16:16 + hl]).get("metadata", {})
    except Exception:
        pass

    out_md = pathlib.Path(args.out)
    out_json = out_md.with_suffix(".json")
    held = {"speech": {s.name: {"clips": len(s.clips), "seconds": round(s.seconds, 1),
                                "bandwidth_hz": round(s.bandwidth_hz)}
                       for s in corpus.speech["heldout"]},
            "noise": {n.name: round(n.seconds, 1) for n in corpus.noise["heldout"]}}
    result = {"date": datetime.date.today().isoformat(), "seed": EVAL_SEED, "snrs": SNRS,
              "items_per_snr": ITEMS_PER_SNR, "heldout": held, "systems": labels,
              "model": str(pathlib.Path(args.model).resolve().relative_to(REPO))
              if pathlib.Path(args.model).resolve().is_relative_to(REPO) else args.model,
              "model_metadata": model_meta, "summary": summary, "si_sdr_by_noise": by_noise,
              "items": rows, "metrics": metrics}
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(result, indent=1) + "\n")
    out_md.write_text(render_markdown(result, items))
    print(f"scored {len(items)} items x {len(systems)} systems in {seconds:.0f} s; wrote "
          f"{out_md} and {out_json}")
    for label in labels:
        a = summary[label]["all"]
        print(f"  {label:16s} SI-SDR {a['si_sdr']:6.2f} dB (+{a['si_sdr_improvement']:5.2f})"
              + "".join(f"  {m} {a[m]:.3f}" for m in metrics[1:]))
    return 0


def render_markdown(res: dict, items: list[dict]) -> str:
    labels = res["systems"]
    s = res["summary"]
    lines = [
        "# Denoising quality",
        "",
        "<!-- Generated by tools/train/eval.py; do not edit by hand. -->",
        "",
        f"Generated on {res['date']} by `tools/train/eval.py` (raw numbers: "
        "[quality.json](quality.json)). Regenerate with:",
        "",
        "```sh",
        "cmake --build build --target ghostnv_train_features",
        "python3 tools/train/eval.py --lib-dir build/tools/train",
        "```",
        "",
        "(needs python3 with numpy, scipy, soundfile, soxr — `pip install -r "
        "tools/train/requirements.txt` — plus `pesq` and `pystoi` for the PESQ/STOI columns, "
        "and the shared data folder, `$GHOSTNV_SHARED_DIR/data`.)",
        "",
        "## What is measured",
        "",
        f"{len(items)} held-out mixtures, {res['items_per_snr']} at each input SNR of "
        + ", ".join(str(x) for x in res["snrs"]) + " dB, 4-8 s each, 48 kHz. "
        "Every system runs through our C++ engine (RNNoise family, the same code the library "
        "uses, which reproduces ffmpeg's `arnndn` for `.rnnn` files), aligned by removing "
        "its 10 ms algorithmic latency; the three public RNNoise "
        "models (`sh`, `bd`, `mp` from GregorR/rnnoise-models, in ffmpeg `arnndn` format) are "
        "the reference points. `ghostnv-default` is `" + res["model"] + "`.",
        "",
        "- **SI-SDR** (scale-invariant signal-to-distortion ratio, dB, whole item, zero-mean) "
        "against the clean speech; *improvement* = system minus noisy input, per item, "
        "averaged. SI-SDR penalises every change to the speech, so a model that applies "
        "22 smooth band gains (all the RNNoise-family models here) lowers it on nearly clean "
        "input (15-20 dB) even while it removes noise; read it together with PESQ/STOI.",
    ]
    if "pesq_wb" in res["metrics"]:
        lines.append("- **PESQ** (ITU-T P.862.2 wide-band, via the `pesq` package) and **STOI** "
                     "(`pystoi`), both on 16 kHz resampled copies (they are defined for "
                     "≤ 16 kHz).")
    lines += ["", "## Results by input SNR", "", "Mean SI-SDR in dB (improvement over the noisy "
              "input in parentheses):", ""]
    hdr = "| system | " + " | ".join(f"{x} dB" for x in res["snrs"]) + " | all |"
    lines += [hdr, "|" + "---|" * (len(res["snrs"]) + 2)]
    for label in labels:
        cells = []
        for key in [str(x) for x in res["snrs"]] + ["all"]:
            d = s[label][key]
            cells.append(f"{d['si_sdr']:.2f}" if label == "noisy input"
                         else f"{d['si_sdr']:.2f} ({d['si_sdr_improvement']:+.2f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for m, title in (("pesq_wb", "PESQ (wide-band)"), ("stoi", "STOI")):
        if m not in res["metrics"]:
            continue
        lines += ["", f"Mean {title}:", "", hdr, "|" + "---|" * (len(res["snrs"]) + 2)]
        for label in labels:
            lines.append(f"| {label} | " + " | ".join(
                f"{s[label][k][m]:.3f}" for k in [str(x) for x in res["snrs"]] + ["all"]) + " |")
    noises = sorted(next(iter(res["si_sdr_by_noise"].values())).keys())
    lines += ["", "Mean SI-SDR (dB) by held-out noise, all SNRs:", "",
              "| system | " + " | ".join(f"`{n}`" for n in noises) + " |",
              "|" + "---|" * (len(noises) + 1)]
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(
            f"{res['si_sdr_by_noise'][label][n]:.2f}" for n in noises) + " |")
    h = res["heldout"]
    lines += [
        "", "## The held-out set", "",
        "Chosen by folder or recording, never by clip, so no speaker and no noise recording of "
        "the evaluation is ever heard in training (`tools/train/data.py`, "
        "`HELDOUT_SPEECH_FOLDERS`, `HELDOUT_NOISE`):", "",
        "| held-out speech (one speaker each) | clips | seconds | bandwidth (Hz, -60 dB) |",
        "|---|---|---|---|"]
    for name, d in h["speech"].items():
        lines.append(f"| `speech/{name}` | {d['clips']} | {d['seconds']} | {d['bandwidth_hz']} |")
    lines += ["", "| held-out noise | seconds |", "|---|---|"]
    for name, sec in h["noise"].items():
        lines.append(f"| `noise/{name}` | {sec} |")
    lines += [
        "",
        f"Mixtures (`make_items`, seed {res['seed']}): item *k* takes held-out speaker "
        "*k* mod 3 and cycles through the three noises; speech = random clips of that speaker "
        "joined with 0.1-0.4 s pauses (0.2-0.5 s lead-in), active speech RMS uniform in "
        "-35..-20 dBFS; noise = a random excerpt of the recording (looped if shorter), scaled "
        "to the item's SNR relative to the active speech RMS (frames within 40 dB of the "
        "loudest); peak limited to 0.99 (a common gain, so the SNR is unchanged). No filtering "
        "or other augmentation.",
        "",
        "Caveats: the held-out speech is KLettres (isolated letters and syllables, one speaker "
        "per language; `es` is band-limited to ~7.5 kHz and `lt` to ~12.7 kHz) and the "
        "held-out noises are few (a street recording that is itself band-limited to ~8 kHz, "
        "a fountain, a wind turbine). The numbers compare systems on the same material; "
        "they are not comparable with published DNS-Challenge figures.",
        "",
    ]
    meta = res.get("model_metadata") or {}
    if meta:
        lines += ["## The model scored", ""]
        for k in ("epochs", "steps", "final_train_loss", "final_val_loss", "date", "seed"):
            if k in meta:
                lines.append(f"- {k}: `{json.dumps(meta[k])}`")
        lines += ["", "See models/README.md, \"Default model\", for the training data and "
                  "settings.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
