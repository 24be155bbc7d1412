#!/usr/bin/env python3
"""Aggregation, reports, plots and the held-out split listing of tools/eval.

  python3 tools/eval/tests/aggregate_test.py     # exit 77 (skipped) without numpy/soundfile/soxr
"""

import json
import math
import pathlib
import re
import struct
import sys
import tempfile
import unittest
import zlib

try:
    import numpy as np
    import soundfile  # noqa: F401
    import soxr  # noqa: F401
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import evaluate  # noqa: E402
import plots  # noqa: E402


def rows_fixture():
    rng = np.random.default_rng(11)
    rows, ref = [], {}
    snrs = [-5.0, -0.01, 0.0, 4.99, 5.0, 12.0, 19.0, 20.0, 27.0]
    for i, snr in enumerate(snrs):
        for system, off in (("noisy", 0.0), ("a", 3.0), ("b", -1.0)):
            si = float(rng.normal(snr, 1.0)) + off
            r = {"item": f"i{i}", "system": system, "snr_db": snr, "band": evaluate.band_of(snr),
                 "si_sdr": si, "pesq_wb": 1.0 + 0.1 * i + (0.5 if system == "a" else 0.0)}
            if system == "b" and i == 3:
                r = {k: v for k, v in r.items() if k not in ("si_sdr", "pesq_wb")}
                r["error"] = "boom"
            if system == "a" and i == 1:
                r["pesq_wb"] = float("nan")     # rejected by pesq: left out of the mean
            rows.append(r)
            ref[(system, i)] = r
    return rows, snrs


class BandTest(unittest.TestCase):
    def test_edges(self):
        self.assertEqual(evaluate.band_of(-5.0), "-5..0")
        self.assertEqual(evaluate.band_of(-0.001), "-5..0")
        self.assertEqual(evaluate.band_of(0.0), "0..5")
        self.assertEqual(evaluate.band_of(19.999), "15..20")
        self.assertEqual(evaluate.band_of(20.0), "15..20")
        self.assertIsNone(evaluate.band_of(20.001))
        self.assertIsNone(evaluate.band_of(-5.001))


class AggregateTest(unittest.TestCase):
    def test_means_deltas_errors(self):
        rows, snrs = rows_fixture()
        s = evaluate.aggregate(rows)
        self.assertEqual(list(s), ["noisy", "a", "b"])
        # Naive recomputation for every system and band.
        for system in ("noisy", "a", "b"):
            for key in ["-5..0", "0..5", "5..10", "10..15", "15..20", "all"]:
                sel = [r for r in rows if r["system"] == system and
                       (key == "all" or r["band"] == key)]
                ok = [r for r in sel if "error" not in r]
                d = s[system][key]
                self.assertEqual(d["n"], len(ok))
                self.assertEqual(d["errors"], len(sel) - len(ok))
                if not ok:
                    self.assertTrue(math.isnan(d["si_sdr"]))
                    continue
                self.assertAlmostEqual(d["si_sdr"], sum(r["si_sdr"] for r in ok) / len(ok))
                pv = [r["pesq_wb"] for r in ok if math.isfinite(r["pesq_wb"])]
                self.assertAlmostEqual(d["pesq_wb"], sum(pv) / len(pv))
                base = {r["item"]: r for r in rows if r["system"] == "noisy"}
                dl = [r["si_sdr"] - base[r["item"]]["si_sdr"] for r in ok]
                self.assertAlmostEqual(d["si_sdr_delta"], sum(dl) / len(dl))
        self.assertEqual(s["noisy"]["all"]["si_sdr_delta"], 0.0)
        self.assertEqual(s["b"]["all"]["errors"], 1)
        self.assertEqual(s["a"]["all"]["n"], len(snrs))          # 27 dB counts in "all" only
        self.assertEqual(s["a"]["15..20"]["n"], 2)

    def test_markdown(self):
        rows, _ = rows_fixture()
        res = {"summary": evaluate.aggregate(rows), "systems": ["noisy", "a", "b"],
               "bands_db": [list(b) for b in evaluate.BANDS], "baseline": "noisy",
               "items": rows}
        md = "\n".join(evaluate.markdown_tables(res))
        self.assertIn("| a | 9 | ", md)
        self.assertIn("| b | 8 | ", md)
        self.assertIn("### SI-SDR (dB) by input SNR band", md)
        self.assertIn("1 item runs failed", md)
        a = res["summary"]["a"]["all"]
        self.assertIn(f"{a['si_sdr']:.2f} (+{a['si_sdr_delta']:.2f})", md)
        for block in md.split("\n\n"):
            table = [ln for ln in block.splitlines() if ln.startswith("|")]
            if table:
                self.assertEqual(len({ln.count("|") for ln in table}), 1, block)


def decode_png(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF
        chunks[tag] = chunks.get(tag, b"") + body
        pos += 12 + n
    w, h = struct.unpack(">II", chunks[b"IHDR"][:8])
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = [raw[r * (w + 1) + 1:(r + 1) * (w + 1)] for r in range(h)]
    return w, h, np.frombuffer(b"".join(rows), np.uint8).reshape(h, w), chunks[b"PLTE"]


class PlotTest(unittest.TestCase):
    def test_png_roundtrip(self):
        idx = (np.arange(7 * 13) % 48).astype(np.uint8).reshape(7, 13)
        pal = plots.colormap(np.linspace(0, 1, 48))
        w, h, back, plte = decode_png(plots.png_bytes(idx, pal))
        self.assertEqual((w, h), (13, 7))
        np.testing.assert_array_equal(back, idx)
        self.assertEqual(plte, pal.tobytes())

    def test_svgs(self):
        with tempfile.TemporaryDirectory() as d:
            f = pathlib.Path(d) / "bar.svg"
            plots.bar_chart_svg(f, "PESQ", "MOS", ["x", "y"], {"a": [1.0, float("nan")],
                                                               "b": [-2.0, 3.5]})
            svg = f.read_text()
            self.assertEqual(svg.count("<rect x="), 3 + 2)   # 3 bars + 2 legend swatches
            # Every bar lies inside the plot area (ticks cover the data).
            bars = 0
            for y, hgt in re.findall(r'<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" '
                                     r'height="([\d.]+)" fill="#\w+"><title>', svg):
                self.assertGreaterEqual(float(y), 40 - 1e-6)
                self.assertLessEqual(float(y) + float(hgt), 300 + 1e-6)
                bars += 1
            self.assertEqual(bars, 3)
            g = pathlib.Path(d) / "spec.svg"
            rng = np.random.default_rng(3)
            plots.spectrogram_svg(g, "t", [("a", rng.standard_normal(8000)),
                                           ("b", np.zeros(100))], 16000)
            s = g.read_text()
            self.assertEqual(s.count("<image "), 2)
            import base64
            b64 = re.findall(r'base64,([^"]+)', s)
            w, h, img, _ = decode_png(base64.b64decode(b64[1]))
            self.assertEqual(h, 128)
            self.assertTrue((img == 0).all())     # silence: bottom of the colour scale


class SplitListingTest(unittest.TestCase):
    def test_listing_matches_training_split(self):
        sys.path.insert(0, str(HERE.parents[1] / "train"))
        import data
        doc = json.loads((HERE.parent / "heldout_split.json").read_text())
        self.assertEqual(doc["heldout_speech_folders"], sorted(data.HELDOUT_SPEECH_FOLDERS))
        self.assertEqual(doc["heldout_noise"], sorted(data.HELDOUT_NOISE))
        self.assertEqual(sorted(doc["speech"]), sorted(data.HELDOUT_SPEECH_FOLDERS))
        for files in list(doc["speech"].values()) + list(doc["noise"].values()):
            self.assertTrue(files)
            for f in files:
                self.assertNotIn("/", f)
                self.assertRegex(f, r"\.(wav|flac)$")
        import make_eval_set
        root = data.default_data_root()
        if (root / "speech").is_dir():
            listing = make_eval_set.heldout_listing(root)
            self.assertEqual(listing["speech"], doc["speech"])
            self.assertEqual(listing["noise"], doc["noise"])


if __name__ == "__main__":
    unittest.main()
