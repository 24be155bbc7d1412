#!/usr/bin/env python3
"""Compact Ogg Opus training pack for the enhanced (48 kHz causal Demucs) model: many voices
in little space (one 64 MiB device carry), decodable on a machine without soundfile or ffmpeg
(libsndfile through ctypes: enhanced_train.load_opus_pack).

Sources (training material only; held-out speakers and noises never enter):
  * data.Corpus's *train* split ($GHOSTNV_SHARED_DIR/data; the held-out folders and recordings
    of data.HELDOUT_SPEECH_FOLDERS / data.HELDOUT_NOISE are its other split);
  * --debian DIR, given once or more (the output of get-debian-audio.sh, and of
    get_more_speech.py in the same layout): speech/<pkg>_<voice>_<rate>/ and
    noise/<pkg>_<name>_<rate>/ FLAC; a folder name found in two DIRs is an error. Dropped: names matching data.EXTRA_DROP_SPEECH /
    EXTRA_DROP_NOISE (KLettres voices; soundpy / street / waterfontain / wind_turbine noises),
    and, conservatively, every KDE (KTuberling, Kajongg) / Tux Paint / Hedgewars / Unknown
    Horizons voice in the held-out languages (es, it, lt: a volunteer may have recorded KLettres too), fillets-ng nl (the shared
    corpus has those voices already), folders with fewer than --min-seconds.
Each source is capped (--speech-cap / --noise-cap seconds, files drawn in a seeded random
order so that a capped folder still spans its material), its clips joined with 5 ms fades,
and stored at the lowest Opus rate that holds its real bandwidth (data.estimate_bandwidth):
16 kHz (<= 7.9 kHz), 24 kHz (<= 11.9 kHz) or 48 kHz, at --kbps-{16,24,48} (speech) or
--kbps-noise. The loader resamples everything to 48 kHz and the trainer scores each item
only below its source's bandwidth.

    python3 tools/train/enhanced_opuspack.py --out build-enhanced/h200b/pack \
        --debian /work/debian-audio --debian /work/debian-audio-extra

Layout: OUT/index.json = {"entries": [{"name", "split": "speech"|"noise", "file", "rate",
"bandwidth_hz", "seconds", "source"}...], "args": {...}} and OUT/NNN.opus. Needs soundfile,
soxr and ffmpeg (libopus) where it is built.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

SR = 48000
HELD_LANG = ("_es_", "_es-", "-es_", "_it_", "_it-", "_lt_", "_lt-")
HELD_LANG_PKGS = ("ktuberling", "tuxpaint", "hedgewars", "klettres", "unknown-horizons",
                  "kajongg")


def debian_dropped(name, split, drop_speech, drop_noise):
    low = name.lower()
    if split == "speech":
        if any(w in low for w in drop_speech):
            return "held-out voice family"
        if any(p in low for p in HELD_LANG_PKGS) and any(t in low + "_" for t in HELD_LANG):
            return "held-out language (es/it/lt), conservative"
        if low.startswith("fillets-ng-data-nl"):
            return "same voices as the shared corpus"
    else:
        if any(w in low for w in drop_noise):
            return "held-out noise"
    return None


def storage_rate(bw):
    return 16000 if bw <= 7900 else 24000 if bw <= 11900 else 48000


def join(clips, fade):
    out = []
    ramp = np.linspace(0, 1, fade, dtype=np.float32)
    for c in clips:
        c = np.asarray(c, np.float32).copy()
        c -= c.mean()
        if len(c) > 2 * fade:
            c[:fade] *= ramp
            c[-fade:] *= ramp[::-1]
        out.append(c)
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def encode_opus(x, rate, kbps, path):
    """float32 mono at `rate` -> Ogg Opus via ffmpeg/libopus."""
    x = np.clip(x, -1.0, 1.0).astype("<f4")
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "f32le", "-ar",
           str(rate), "-ac", "1", "-i", "pipe:0", "-c:a", "libopus", "-b:a", f"{kbps}k",
           "-application", "audio", "-frame_duration", "20", str(path)]
    subprocess.run(cmd, input=x.tobytes(), check=True)


def read_files(files, cap_s, rng):
    import soundfile as sf
    import soxr
    order = rng.permutation(len(files))
    clips, total = [], 0
    for i in order:
        if total >= cap_s * SR:
            break
        try:
            x, sr = sf.read(str(files[i]), dtype="float32", always_2d=True)
        except Exception as e:  # noqa: BLE001  (a file still being written, a broken file)
            print(f"  skipped {files[i].name}: {e}", flush=True)
            continue
        x = x.mean(axis=1)
        if sr != SR:
            x = soxr.resample(x, sr, SR, quality="HQ").astype(np.float32)
        x = x[: int(cap_s * SR) - total] if len(files) == 1 else x
        clips.append(x)
        total += len(x)
    return clips


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--data-root", default=None, help="shared corpus (default data.py's)")
    ap.add_argument("--no-shared", action="store_true", help="leave out the shared corpus")
    ap.add_argument("--debian", action="append", default=[],
                    help="get-debian-audio.sh (or get_more_speech.py) output folder; "
                    "may be given more than once")
    ap.add_argument("--speech-cap", type=float, default=150.0, help="seconds per speech folder")
    ap.add_argument("--noise-cap", type=float, default=90.0, help="seconds per noise folder")
    ap.add_argument("--shared-noise-cap", type=float, default=30.0,
                    help="seconds per shared-corpus noise recording")
    ap.add_argument("--min-seconds", type=float, default=5.0)
    ap.add_argument("--kbps-16", type=int, default=24)
    ap.add_argument("--kbps-24", type=int, default=32)
    ap.add_argument("--kbps-48", type=int, default=48)
    ap.add_argument("--kbps-noise", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cache", default=None, help="folder of encoded Debian sources to reuse "
                    "(same folder name, file count and settings: re-running after a download "
                    "grew only encodes what changed)")
    a = ap.parse_args(argv)
    import soxr
    import data
    t0 = time.time()
    rng = np.random.default_rng(a.seed)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for f in out.glob("*.opus"):
        f.unlink()
    fade = int(0.005 * SR)
    items = []   # (name, split, source, clips at 48 kHz) or (name, split, source, cached entry)
    cache = pathlib.Path(a.cache) if a.cache else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    settings = [a.speech_cap, a.noise_cap, a.min_seconds, a.kbps_16, a.kbps_24, a.kbps_48,
                a.kbps_noise, a.seed]

    if not a.no_shared:
        corpus = data.Corpus.load(pathlib.Path(a.data_root) if a.data_root else None)
        held = set(data.HELDOUT_SPEECH_FOLDERS)
        for s in corpus.speech["train"]:
            assert s.name not in held
            clips, total = [], 0
            for c in s.clips:
                if total >= a.speech_cap * 2 * SR:   # the shared voices are few: 2x the cap
                    break
                clips.append(c)
                total += len(c)
            items.append((s.name, "speech", "shared", clips))
        for n in corpus.noise["train"]:
            assert n.name not in data.HELDOUT_NOISE
            if n.kind == "events":
                clips = n.events
                tot, keep = 0, []
                for c in clips:
                    if tot >= a.shared_noise_cap * SR:
                        break
                    keep.append(c)
                    tot += len(c)
                clips = keep
            else:
                clips = [n.signal[: int(a.shared_noise_cap * SR)]]
            items.append((n.name, "noise", "shared", clips))

    dropped = []
    debian_dirs = [pathlib.Path(d) for d in a.debian if pathlib.Path(d, "speech").is_dir()]
    for d in a.debian:
        if not pathlib.Path(d, "speech").is_dir():
            print(f"  --debian {d}: no speech/ folder there, ignored", flush=True)
    seen_folders = {}
    for debian in debian_dirs:
        drop_s = tuple(getattr(data, "EXTRA_DROP_SPEECH", ("klettres",)))
        drop_n = tuple(getattr(data, "EXTRA_DROP_NOISE", ("soundpy", "street", "waterfontain",
                                                         "wind_turbine")))
        for split in ("speech", "noise"):
            root = debian / split
            if not root.is_dir():
                continue
            for d in sorted(p for p in root.iterdir() if p.is_dir()):
                if (split, d.name) in seen_folders:
                    raise SystemExit(f"enhanced_opuspack: {split}/{d.name} is in both "
                                     f"{seen_folders[split, d.name]} and {debian}")
                seen_folders[split, d.name] = debian
                why = debian_dropped(d.name, split, drop_s, drop_n)
                if why:
                    dropped.append(f"{split}/{d.name}: {why}")
                    continue
                files = sorted(f for f in [*d.glob("*.flac"), *d.glob("*.wav")]
                               if ".part" not in f.name)
                if split == "noise":
                    bad = [f for f in files if any(w in f.name.lower() for w in drop_n)]
                    dropped += [f"{split}/{d.name}/{f.name}: held-out noise" for f in bad]
                    files = [f for f in files if f not in bad]
                if not files:
                    continue
                key = cache / f"{split}-{d.name}.json" if cache else None
                if key and key.exists():
                    c = json.loads(key.read_text())
                    if c["n_files"] == len(files) and c["settings"] == settings:
                        items.append((d.name, split, "debian", c))
                        continue
                frng = np.random.default_rng([a.seed, len(files)])
                clips = read_files(files, a.speech_cap if split == "speech" else a.noise_cap,
                                   frng)
                if sum(len(c) for c in clips) < a.min_seconds * SR:
                    dropped.append(f"{split}/{d.name}: shorter than {a.min_seconds} s")
                    continue
                items.append((d.name, split, "debian", clips))
                if key:
                    items[-1] = items[-1] + (key, len(files))

    entries = []
    import shutil
    for k, (name, split, source, clips, *ck) in enumerate(items):
        fn = f"{k:03d}.opus"
        if isinstance(clips, dict):   # cached
            shutil.copyfile(cache / clips["file"], out / fn)
            entries.append({**clips["entry"], "file": fn})
            print(f"  {fn} {split:6s} {name}: cached", flush=True)
            continue
        x = join(clips, fade)
        bw = float(data.estimate_bandwidth([x])) if split == "speech" else float(SR // 2)
        rate = storage_rate(bw) if split == "speech" else SR
        kbps = {16000: a.kbps_16, 24000: a.kbps_24, 48000: a.kbps_48}[rate] \
            if split == "speech" else a.kbps_noise
        y = x if rate == SR else soxr.resample(x, SR, rate, quality="VHQ").astype(np.float32)
        encode_opus(y, rate, kbps, out / fn)
        entries.append(dict(name=name, split=split, source=source, file=fn, rate=rate,
                            kbps=kbps, bandwidth_hz=round(bw), seconds=round(len(x) / SR, 2)))
        if ck:
            key, n_files = ck
            cf = f"{split}-{name}.opus"
            shutil.copyfile(out / fn, cache / cf)
            key.write_text(json.dumps({"n_files": n_files, "settings": settings, "file": cf,
                                       "entry": entries[-1]}))
        print(f"  {fn} {split:6s} {name}: {len(x) / SR:.1f} s, bw {bw / 1000:.1f} kHz, "
              f"{rate} Hz @ {kbps} kbps, {(out / fn).stat().st_size / 1024:.0f} KiB", flush=True)
    (out / "index.json").write_text(json.dumps({"entries": entries, "dropped": dropped,
                                                "args": vars(a)}, indent=1))
    size = sum(f.stat().st_size for f in out.iterdir())
    sp = sum(e["seconds"] for e in entries if e["split"] == "speech")
    nz = sum(e["seconds"] for e in entries if e["split"] == "noise")
    print(f"enhanced_opuspack: {out}: {size / 2**20:.1f} MiB, "
          f"{sum(e['split'] == 'speech' for e in entries)} speech sources ({sp / 60:.1f} min), "
          f"{sum(e['split'] == 'noise' for e in entries)} noise sources ({nz / 60:.1f} min), "
          f"{len(dropped)} dropped, {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
