#!/usr/bin/env python3
"""Builds the held-out evaluation set: noisy/clean pairs from speakers and noise recordings that
training never sees, as float WAV at 48 kHz and at 16 kHz.

  python3 tools/eval/make_eval_set.py [--out DIR] [--data-root /work/shared/data]
          [--per-band 8] [--seed 424242] [--write-split]

DIR defaults to $GHOSTNV_EVAL_DIR, else build/eval-set in the repository. Layout:

  DIR/pairs.json              items (id, input SNR, band, speaker, noise, clip files, seconds)
  DIR/48k/{noisy,clean}/ID.wav
  DIR/16k/{noisy,clean}/ID.wav   (both resampled from the 48 kHz mixture with soxr HQ)

The split is tools/train/data.py's (HELDOUT_SPEECH_FOLDERS, HELDOUT_NOISE: whole speakers and
whole noise recordings); tools/eval/heldout_split.json lists its file names (no audio) and this
script refuses to run when the data disagree with it (--write-split rewrites the listing).

Mixtures (seed 424242): per_band items in each input-SNR band -5..0, 0..5, 5..10, 10..15,
15..20 dB, SNR uniform inside the band; item k takes held-out speaker k mod 3 and noise
(k // 3 + k) mod 3; speech = random clips of that speaker joined by 0.1-0.4 s of silence after a
0.2-0.5 s lead-in, 4-8 s, active speech RMS uniform in -35..-20 dBFS; noise = a random excerpt
of the recording (looped when shorter), scaled to the SNR relative to the active speech RMS;
peak limited to 0.99 by a common gain. Nothing else (no filtering, no reverberation).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tools" / "train"))

import data  # noqa: E402  (tools/train/data.py: the split, reading at 48 kHz, active_rms)

SR = data.SR
BANDS = ((-5, 0), (0, 5), (5, 10), (10, 15), (15, 20))
PER_BAND = 8
SEED = 424242
SPLIT_JSON = HERE / "heldout_split.json"


def default_out_dir() -> pathlib.Path:
    env = os.environ.get("GHOSTNV_EVAL_DIR")
    return pathlib.Path(env) if env else REPO / "build" / "eval-set"


def _audio_files(d: pathlib.Path) -> list[pathlib.Path]:
    # Same order as data.Corpus.load, so clip index i is file i.
    return sorted([*d.glob("*.wav"), *d.glob("*.flac")])


def heldout_listing(root: pathlib.Path) -> dict:
    """The held-out speech folders and noise recordings, by file name, as found under root."""
    speech = {}
    for name in sorted(data.HELDOUT_SPEECH_FOLDERS):
        speech[name] = [f.name for f in _audio_files(root / "speech" / name)]
    noise = {}
    for key in sorted(data.HELDOUT_NOISE):
        p = root / "noise" / key
        if p.is_dir():
            noise[key] = [f.name for f in _audio_files(p)]
        else:
            noise[key] = [p.name] if p.exists() else []
    return {"speech": speech, "noise": noise}


def split_document(root: pathlib.Path) -> dict:
    return {
        "about": "Held-out evaluation split of GhostNV (file names only, no audio). Speakers and "
                 "noise recordings listed here are never used in training: tools/train/data.py "
                 "HELDOUT_SPEECH_FOLDERS / HELDOUT_NOISE. Paths are relative to "
                 "$GHOSTNV_SHARED_DIR/data/{speech,noise}/. Rewrite with "
                 "tools/eval/make_eval_set.py --write-split.",
        "heldout_speech_folders": sorted(data.HELDOUT_SPEECH_FOLDERS),
        "heldout_noise": sorted(data.HELDOUT_NOISE),
        **heldout_listing(root),
    }


def load_heldout_corpus(root: pathlib.Path) -> data.Corpus:
    """data.Corpus with only the held-out folders/recordings loaded (everything else excluded)."""
    exclude = []
    for d in (root / "speech").iterdir():
        if d.name not in data.HELDOUT_SPEECH_FOLDERS:
            exclude.append(d.name)
    for d in (root / "noise").iterdir():
        if d.name in data.HELDOUT_NOISE:
            continue
        held_files = [k for k in data.HELDOUT_NOISE if k.startswith(d.name + "/")]
        if not held_files:
            exclude.append(d.name)
        else:
            exclude += [f"{d.name}/{f.name}" for f in _audio_files(d)
                        if f"{d.name}/{f.name}" not in held_files]
    corpus = data.Corpus.load(root, exclude=tuple(exclude))
    assert not corpus.speech["train"] and not corpus.noise["train"], "split leak"
    return corpus


def make_items(corpus: data.Corpus, root: pathlib.Path, per_band: int = PER_BAND,
               seed: int = SEED) -> list[dict]:
    rng = np.random.default_rng(seed)
    speakers = corpus.speech["heldout"]
    noises = corpus.noise["heldout"]
    files = {s.name: [f.name for f in _audio_files(root / "speech" / s.name)] for s in speakers}
    items, k = [], 0
    for lo, hi in BANDS:
        for _ in range(per_band):
            spk = speakers[k % len(speakers)]
            nsrc = noises[(k // len(speakers) + k) % len(noises)]
            k += 1
            snr = float(rng.uniform(lo, hi))
            n = int(rng.uniform(4.0, 8.0) * SR) // data.HOP * data.HOP
            lead = int(rng.uniform(0.2, 0.5) * SR)
            parts, total, used = [np.zeros(lead, np.float32)], lead, []
            while total < n:
                ci = int(rng.integers(len(spk.clips)))
                gap = np.zeros(int(rng.uniform(0.1, 0.4) * SR), np.float32)
                parts += [spk.clips[ci], gap]
                used.append(files[spk.name][ci])
                total += len(spk.clips[ci]) + len(gap)
            s = np.concatenate(parts)[:n].astype(np.float64)
            sig = nsrc.signal.astype(np.float64)
            if len(sig) >= n:
                off = int(rng.integers(0, len(sig) - n + 1))
                nz = sig[off:off + n].copy()
            else:
                off, nz = 0, np.resize(sig, n)
            lev = 10 ** (rng.uniform(-35, -20) / 20)
            s *= lev / data.active_rms(s)
            nz *= lev / np.sqrt(np.mean(nz ** 2)) * 10 ** (-snr / 20)
            x = s + nz
            peak = np.abs(x).max()
            if peak > 0.99:
                s, nz, x = s * 0.99 / peak, nz * 0.99 / peak, x * 0.99 / peak
            items.append({"id": f"item{k:03d}", "snr_db": round(snr, 3), "band": [lo, hi],
                          "speaker": spk.name, "noise": nsrc.name, "noise_offset": off,
                          "clips": used, "seconds": n / SR,
                          "clean": s.astype(np.float32), "noisy": x.astype(np.float32)})
    return items


def write_set(items: list[dict], out: pathlib.Path, meta: dict) -> None:
    import soundfile as sf
    import soxr
    for rate, sub in ((SR, "48k"), (16000, "16k")):
        for kind in ("noisy", "clean"):
            (out / sub / kind).mkdir(parents=True, exist_ok=True)
        for it in items:
            for kind in ("noisy", "clean"):
                x = it[kind]
                if rate != SR:
                    x = soxr.resample(x.astype(np.float64), SR, rate, quality="HQ")
                sf.write(str(out / sub / kind / f"{it['id']}.wav"), x.astype(np.float32), rate,
                         subtype="FLOAT")
    doc = dict(meta)
    doc["rates"] = {"48k": SR, "16k": 16000}
    doc["items"] = [{k: v for k, v in it.items() if k not in ("clean", "noisy")} for it in items]
    (out / "pairs.json").write_text(json.dumps(doc, indent=1) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=pathlib.Path, default=None)
    ap.add_argument("--data-root", type=pathlib.Path, default=None)
    ap.add_argument("--per-band", type=int, default=PER_BAND)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--write-split", action="store_true",
                    help=f"rewrite {SPLIT_JSON.relative_to(REPO)} from the data and exit")
    args = ap.parse_args(argv)
    root = pathlib.Path(args.data_root or data.default_data_root())
    if not (root / "speech").is_dir():
        print(f"make_eval_set: no data under {root}", file=sys.stderr)
        return 1
    doc = split_document(root)
    if args.write_split:
        SPLIT_JSON.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {SPLIT_JSON}")
        return 0
    committed = json.loads(SPLIT_JSON.read_text())
    for key in ("heldout_speech_folders", "heldout_noise", "speech", "noise"):
        if committed.get(key) != doc[key]:
            print(f"make_eval_set: the data under {root} or tools/train/data.py disagree with "
                  f"{SPLIT_JSON} ({key}); check the split, then --write-split", file=sys.stderr)
            return 1
    out = args.out or default_out_dir()
    corpus = load_heldout_corpus(root)
    items = make_items(corpus, root, args.per_band, args.seed)
    meta = {"generator": "tools/eval/make_eval_set.py", "seed": args.seed,
            "per_band": args.per_band, "bands_db": [list(b) for b in BANDS],
            "data_root": str(root), "split": SPLIT_JSON.name}
    write_set(items, out, meta)
    secs = sum(it["seconds"] for it in items)
    print(f"wrote {len(items)} pairs ({secs:.0f} s) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
