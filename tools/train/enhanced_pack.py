#!/usr/bin/env python3
"""Compact training-data pack for the enhanced (48 kHz causal Demucs) model.

The training split of data.Corpus (held-out speakers and noises never enter: the split is
data.HELDOUT_SPEECH_FOLDERS / data.HELDOUT_NOISE), quantised to int16, delta-coded and
zlib-compressed, in one .npz that needs only numpy to read (no soundfile / soxr on the GPU
machine). Sizes are capped so the pack travels (< ~55 MiB):
  * speech at 48 kHz, except the 22.05 kHz sources, stored at 24 kHz (they hold nothing above
    11 kHz) and upsampled x2 when loaded;
  * each source capped at `--speech-cap` / `--noise-cap` seconds (clips/events kept whole).

    python3 tools/train/enhanced_pack.py --out build-enhanced/h200/pack.npz

Pack layout (all plain arrays, np.load(..., allow_pickle=False)):
  index  : a JSON string: list of {"name", "split": "speech"|"noise", "kind", "rate",
           "bandwidth_hz", "clips": [[offset, length] ...] into the blob of that entry, "key"}
  blob_<k>: uint8, zlib(delta int16) of entry k's concatenated clips
"""

import argparse
import json
import pathlib
import sys
import zlib

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))


def encode(x):
    q = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    d = np.diff(q, prepend=np.int16(0)).astype(np.int16)   # wraps; cumsum in int16 undoes it
    return np.frombuffer(zlib.compress(d.tobytes(), 9), np.uint8)


def decode(blob):
    d = np.frombuffer(zlib.decompress(blob.tobytes()), np.int16)
    return np.cumsum(d, dtype=np.int16)   # modular arithmetic inverts the wrapped diff


def take(clips, cap_samples):
    out, total = [], 0
    for c in clips:
        if total >= cap_samples:
            break
        c = c[: cap_samples - total] if len(c) > cap_samples - total and len(clips) == 1 else c
        out.append(c)
        total += len(c)
    return out


def write_pack(out, index, entries):
    """Writes the pack: index = one dict per source (name, split, kind, rate, bandwidth_hz;
    "clips" and "seconds" filled in here), entries = each source's list of float clips at its
    rate, stored joined as one blob with the clips' [offset, length]. Returns the int16 bytes."""
    arrays, total_raw = {}, 0
    for k, (e, clips) in enumerate(zip(index, entries)):
        e["clips"], off = [], 0
        for c in clips:
            e["clips"].append([off, len(c)])
            off += len(c)
        x = np.concatenate(clips).astype(np.float32)
        total_raw += x.size * 2
        arrays[f"blob_{k}"] = encode(x)
        e["seconds"] = round(off / e["rate"], 2)
    arrays["index"] = np.array(json.dumps(index))
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    return total_raw


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--speech-cap", type=float, default=300.0, help="seconds per speech folder")
    ap.add_argument("--low-rate-cap", type=float, default=180.0,
                    help="seconds per 22.05 kHz speech folder")
    ap.add_argument("--noise-cap", type=float, default=15.0, help="seconds per noise recording")
    ap.add_argument("--events-cap", type=float, default=30.0, help="seconds of noise events")
    ap.add_argument("--trim", action="append", default=[], metavar="NAME=SECONDS",
                    help="keep only the clips of speech folder NAME that end within its first "
                    "SECONDS (repeatable; configs/enhanced_gpuft.json's pack trims one folder so "
                    "that the pack and the tree fit one 64 MiB device carry)")
    a = ap.parse_args(argv)
    trims = {t.split("=", 1)[0]: float(t.split("=", 1)[1]) for t in a.trim}
    import soxr
    import data
    corpus = data.Corpus.load(a.data_root)
    index, entries = [], []
    for s in corpus.speech["train"]:
        low = s.bandwidth_hz < 11000 and "22k" in s.name
        rate = 24000 if low else 48000
        cap = int((a.low_rate_cap if low else a.speech_cap) * data.SR)
        clips = take(s.clips, cap)
        if s.name in trims:
            ends = np.cumsum([len(c) for c in clips])
            clips = [c for c, e in zip(clips, ends) if e <= trims[s.name] * data.SR]
        if low:
            clips = [soxr.resample(c, data.SR, rate, quality="VHQ").astype(np.float32)
                     for c in clips]
        index.append(dict(name=s.name, split="speech", kind="clips", rate=rate,
                          bandwidth_hz=float(s.bandwidth_hz)))
        entries.append(clips)
    for n in corpus.noise["train"]:
        if n.kind == "events":
            clips = take(n.events, int(a.events_cap * data.SR))
        else:
            clips = [n.signal[: int(a.noise_cap * data.SR)]]
        index.append(dict(name=n.name, split="noise", kind=n.kind, rate=48000,
                          bandwidth_hz=24000.0))
        entries.append(clips)
    out = pathlib.Path(a.out)
    total_raw = write_pack(out, index, entries)
    mb = out.stat().st_size / 2**20
    print(f"enhanced_pack: {out}: {mb:.1f} MiB ({total_raw / 2**20:.1f} MiB as int16); "
          + ", ".join(f"{e['name']} {e['seconds']} s" for e in index))
    return 0


if __name__ == "__main__":
    sys.exit(main())
