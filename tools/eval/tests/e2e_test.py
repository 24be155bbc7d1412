#!/usr/bin/env python3
"""End to end: tools/eval/evaluate.py on 3 synthesized pairs with `noisy` and `ghostnv:default`.

  python3 tools/eval/tests/e2e_test.py [--denoise BUILD/tools/denoise/ghostnv-denoise]

Exit 77 (skipped) when numpy/soundfile/soxr/pesq/pystoi/onnxruntime or the ghostnv-denoise binary
are missing. DNSMOS is scored when $GHOSTNV_SHARED_DIR/data/models/dnsmos is there.
"""

import argparse
import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import soundfile as sf
    import soxr  # noqa: F401
    import pesq  # noqa: F401
    import pystoi  # noqa: F401
    import onnxruntime  # noqa: F401
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)

HERE = pathlib.Path(__file__).resolve().parent
EVAL = HERE.parent
sys.path.insert(0, str(EVAL))
import metrics  # noqa: E402
import systems  # noqa: E402


def synth_pair(rng, sr, seconds, snr_db):
    """Harmonic syllables with pauses (the clean 'speech') plus low-passed noise at snr_db
    relative to the active speech."""
    n = int(sr * seconds)
    t = np.arange(n) / sr
    f0 = rng.uniform(110, 220)
    ph = 2 * np.pi * np.cumsum(f0 * (1 + 0.08 * np.sin(2 * np.pi * 0.5 * t))) / sr
    x = sum(np.sin(k * ph) / k for k in range(1, 40) if k * f0 < 8000)
    env = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 2 * (np.sin(2 * np.pi * 0.3 * t) > 0)
    env[: int(0.3 * sr)] = 0                 # a speech-absent lead-in
    clean = 0.05 * x * env
    noise = np.convolve(rng.standard_normal(n), np.ones(4) / 4, mode="same")
    act, _, frame = metrics.clean_vad(clean, sr)
    ps = np.mean(metrics._select(clean, act, frame) ** 2)
    noise *= np.sqrt(ps / np.mean(noise ** 2) * 10 ** (-snr_db / 10))
    return clean.astype(np.float32), (clean + noise).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--denoise", default=None)
    args = ap.parse_args()
    binary = systems.find_denoise(args.denoise)
    if binary is None or not binary.is_file():
        print("SKIP: ghostnv-denoise not built (pass --denoise BIN)")
        return 77
    shared = pathlib.Path(os.environ.get("GHOSTNV_SHARED_DIR", EVAL.parents[2] / "shared"))
    dnsmos_dir = shared / "data" / "models" / "dnsmos"
    have_dnsmos = (dnsmos_dir / "sig_bak_ovr.onnx").is_file()
    if not have_dnsmos:
        print(f"note: no DNSMOS model under {dnsmos_dir}; scoring without DNSMOS")
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)
            print("FAIL:", what)

    with tempfile.TemporaryDirectory(prefix="ghostnv-eval-e2e-") as d:
        d = pathlib.Path(d)
        (d / "pairs" / "noisy").mkdir(parents=True)
        (d / "pairs" / "clean").mkdir(parents=True)
        rng = np.random.default_rng(20261128)
        sr = 48000
        snrs = {"a": -2.0, "b": 7.0, "c": 17.0}
        for name, snr in snrs.items():
            clean, noisy = synth_pair(rng, sr, 4.6, snr)   # 4.6 s: one DNSMOS window
            sf.write(str(d / "pairs" / "clean" / f"{name}.wav"), clean, sr, subtype="FLOAT")
            sf.write(str(d / "pairs" / "noisy" / f"{name}.wav"), noisy, sr, subtype="FLOAT")
        cmd = [sys.executable, str(EVAL / "evaluate.py"), "--pairs", str(d / "pairs"),
               "--model", "noisy", "--model", "ghostnv:default", "--out", str(d / "out"),
               "--denoise", str(binary), "--dnsmos-dir", str(dnsmos_dir), "--plot-item", "b"]
        if not have_dnsmos:
            cmd.append("--no-dnsmos")
        r = subprocess.run(cmd, capture_output=True, text=True)
        print(r.stdout[-3000:], r.stderr[-3000:])
        if r.returncode != 0:
            print("FAIL: evaluate.py exited", r.returncode)
            return 1
        res = json.loads((d / "out" / "results.json").read_text())
        rows = res["items"]
        check(len(rows) == 6 and not any("error" in x for x in rows), "6 rows without errors")
        check(res["systems"] == ["noisy", "ghostnv default"], f"systems {res['systems']}")
        wanted = ["si_sdr", "si_sdr_fb", "pesq_wb", "stoi", "speech_distortion", "noise_reduction"]
        if have_dnsmos:
            wanted += ["dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"]
        for x in rows:
            for m in wanted:
                check(m in x and math.isfinite(x[m]), f"{x['system']}/{x['item']}: {m} finite")
        by = {(x["system"], x["item"]): x for x in rows}
        for name, snr in snrs.items():
            c, _ = sf.read(str(d / "pairs" / "clean" / f"{name}.wav"))
            y, _ = sf.read(str(d / "pairs" / "noisy" / f"{name}.wav"))
            nz = by[("noisy", name)]
            # The measured input SNR (no pairs.json) is the one the pair was made with.
            check(abs(nz["snr_db"] - snr) < 0.05, f"{name}: input SNR {nz['snr_db']} vs {snr}")
            check(nz["band"] == {"a": "-5..0", "b": "5..10", "c": "15..20"}[name],
                  f"{name}: band {nz['band']}")
            check(abs(nz["noise_reduction"]) < 1e-9, f"{name}: noisy NR {nz['noise_reduction']}")
            check(abs(nz["si_sdr_fb"] - metrics.si_sdr(y, c)) < 1e-9, f"{name}: SI-SDR fb")
            g = by[("ghostnv default", name)]
            check(g["noise_reduction"] > 3.0, f"{name}: ghostnv NR {g['noise_reduction']:.2f} dB")
        low = (by[("ghostnv default", "a")]["si_sdr"], by[("noisy", "a")]["si_sdr"])
        check(low[0] > low[1], f"ghostnv improves SI-SDR at -2 dB: {low}")
        s = res["summary"]
        check(s["noisy"]["all"]["n"] == 3 and s["ghostnv default"]["5..10"]["n"] == 1,
              "aggregate counts")
        md = (d / "out" / "results.md").read_text()
        check("| ghostnv default | 3 |" in md, "results.md table row")
        plots_dir = d / "out" / "plots"
        check((plots_dir / "spectrogram_b.svg").is_file(), "spectrogram plot")
        check((plots_dir / "bar_si_sdr.svg").is_file() and (plots_dir / "bar_stoi.svg").is_file(),
              "bar charts")
        # --reuse: the two systems already scored are copied (same rows, timings included),
        # a new one is run; a spec that changed under the same label is run again.
        cmd2 = [a if a != str(d / "out") else str(d / "out2") for a in cmd]
        cmd2 += ["--model", "ultra=ghostnv:ultra", "--reuse", str(d / "out" / "results.json")]
        r = subprocess.run(cmd2, capture_output=True, text=True)
        print(r.stdout[-2000:], r.stderr[-2000:])
        check(r.returncode == 0, f"evaluate.py --reuse exited {r.returncode}")
        if r.returncode == 0:
            res2 = json.loads((d / "out2" / "results.json").read_text())
            check(res2.get("reused", {}).get("systems") == ["ghostnv default", "noisy"],
                  f"reused systems {res2.get('reused')}")
            by2 = {(x["system"], x["item"]): x for x in res2["items"]}
            check(len(res2["items"]) == 9, f"{len(res2['items'])} rows after --reuse, want 9")
            for key, row in by.items():
                check(by2.get(key) == row, f"{key}: reused row differs")
            for name in snrs:
                u = by2.get(("ultra", name), {})
                check("error" not in u and math.isfinite(u.get("si_sdr", float("nan"))),
                      f"ultra/{name}: scored")
        cmd3 = [a if a != str(d / "out") else str(d / "out3") for a in cmd]
        cmd3[cmd3.index("ghostnv:default")] = "ghostnv default=ghostnv:ultra"
        cmd3 += ["--reuse", str(d / "out" / "results.json")]
        r = subprocess.run(cmd3, capture_output=True, text=True)
        check(r.returncode == 0, f"evaluate.py --reuse (changed spec) exited {r.returncode}")
        if r.returncode == 0:
            res3 = json.loads((d / "out3" / "results.json").read_text())
            check(res3.get("reused", {}).get("systems") == ["noisy"],
                  f"changed spec must not be reused: {res3.get('reused')}")
            by3 = {(x["system"], x["item"]): x for x in res3["items"]}
            check(by3[("ghostnv default", "a")]["si_sdr"] != by[("ghostnv default", "a")]["si_sdr"],
                  "the changed system was run again")
        # A system that fails on some items: its rows carry the error, the run says so, writes
        # no --doc page and exits 1 (its mean over the other items is not comparable).
        fail_cmd = [a if a != str(d / "out") else str(d / "out4") for a in cmd]
        cnt = d / "calls"   # the items run in order (a, b, c; --jobs 1): the second call fails
        fail_cmd[fail_cmd.index("ghostnv:default")] = (
            f"flaky=cmd:echo x >> {cnt}; [ $(wc -l < {cnt}) -ne 2 ] || exit 3; cp {{in}} {{out}}")
        fail_cmd += ["--reuse", str(d / "out" / "results.json"), "--doc", str(d / "doc" / "q.md")]
        r = subprocess.run(fail_cmd, capture_output=True, text=True)
        print(r.stdout[-1500:], r.stderr[-1500:])
        res4 = (json.loads((d / "out4" / "results.json").read_text())
                if (d / "out4" / "results.json").is_file() else {"items": []})
        bad = [x for x in res4["items"] if "error" in x]
        check(r.returncode == 1 and "1 item runs failed (flaky: 1)" in r.stderr
              and "1 of 3 items FAILED" in r.stdout and not (d / "doc" / "q.md").exists()
              and [(x["system"], x["item"]) for x in bad] == [("flaky", "b")],
              f"a failing item: exit {r.returncode}, errors {[(x['system'], x['item']) for x in bad]}")
    # Alignment of the external systems: an RNNoise model through ffmpeg's arnndn and through
    # our engine must give the same output sample for sample.
    rnnn = shared / "data" / "models" / "rnnoise" / "sh.rnnn"
    import shutil
    if shutil.which("ffmpeg") and rnnn.is_file():
        rng = np.random.default_rng(7)
        _, noisy = synth_pair(rng, 48000, 2.0, 5.0)
        with systems.scratch_dir() as tmp:
            tmp = pathlib.Path(tmp)
            a, ra = systems.make_system(f"ffmpeg-arnndn:{rnnn}").process(noisy, 48000, tmp)
            b, rb = systems.make_system(f"ghostnv:{rnnn}", str(binary)).process(noisy, 48000, tmp)
        check(ra == rb == 48000 and len(a) == len(b) == len(noisy), "ffmpeg/ghostnv lengths")
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        snr = 10 * np.log10(np.sum(b ** 2) / max(np.sum((a - b) ** 2), 1e-30))
        print(f"ffmpeg arnndn vs ghostnv-denoise, sh.rnnn: difference at {snr:.1f} dB")
        check(snr > 60, f"ffmpeg-arnndn and ghostnv agree ({snr:.1f} dB)")
    else:
        print("note: ffmpeg or the RNNoise models missing; ffmpeg alignment check skipped")
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("e2e OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
