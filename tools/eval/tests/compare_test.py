#!/usr/bin/env python3
"""compare.py: paired differences, their bootstrap intervals, wins, and its errors.

  python3 tools/eval/tests/compare_test.py     # exit 77 (skipped) without evaluate.py's modules
"""
import contextlib
import io
import json
import math
import pathlib
import sys
import tempfile
import unittest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
try:
    import numpy as np
    import compare   # imports evaluate.py (numpy, soundfile, the metrics' modules)
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)


def results(a_vals, b_vals, metric="si_sdr", bands=None, extra=None):
    """evaluate.py-style items: system A and B on items item000.., one metric (plus extra)."""
    items = []
    for i, (x, y) in enumerate(zip(a_vals, b_vals)):
        band = bands[i] if bands else "0..5"
        for s, v in (("A", x), ("B", y)):
            r = {"item": f"item{i:03d}", "system": s, "band": band, metric: v}
            if extra:
                r.update(extra(s, i))
            items.append(r)
    return items


class Paired(unittest.TestCase):
    def test_constant_difference_is_exact_and_significant(self):
        rng = np.random.default_rng(7)
        b = rng.normal(10, 3, 37)
        rows = compare.compare(results(b + 0.25, b), "A", "B")
        (r,) = rows
        self.assertEqual(r["metric"], "si_sdr")
        self.assertEqual(r["items"], 37)
        self.assertAlmostEqual(r["diff"], 0.25, places=12)
        self.assertAlmostEqual(r["ci95"][0], 0.25, places=12)
        self.assertAlmostEqual(r["ci95"][1], 0.25, places=12)
        self.assertTrue(r["significant"])
        self.assertEqual((r["wins_a"], r["wins_b"]), (37, 0))
        self.assertAlmostEqual(r["mean_a"] - r["mean_b"], 0.25, places=12)

    def test_lower_is_better_metric_is_reported_in_a_favour(self):
        b = np.linspace(-10, -5, 11)
        rows = compare.compare(results(b - 0.5, b, metric="speech_distortion"), "A", "B")
        (r,) = rows
        self.assertTrue(r["lower_is_better"])
        self.assertAlmostEqual(r["diff"], 0.5, places=12)   # A lower = better = positive
        self.assertEqual(r["wins_a"], 11)

    def test_interval_matches_the_normal_theory_width(self):
        # mean 0.1, sd 1, n 400: the bootstrap interval ~ mean +- 1.96 * sd / sqrt(n)
        rng = np.random.default_rng(11)
        d = rng.normal(0.1, 1.0, 400)
        b = rng.normal(3, 1, 400)
        (r,) = compare.compare(results(b + d, b), "A", "B", resamples=20000, seed=3)
        half = 1.96 * d.std(ddof=1) / math.sqrt(len(d))
        self.assertAlmostEqual(r["diff"], d.mean(), places=10)
        self.assertLess(abs((r["ci95"][1] - r["ci95"][0]) / 2 - half) / half, 0.1)
        self.assertLess(r["ci95"][0], d.mean())
        self.assertGreater(r["ci95"][1], d.mean())

    def test_noise_only_difference_is_not_significant(self):
        rng = np.random.default_rng(5)
        b = rng.normal(2, 0.3, 40)
        d = rng.normal(0, 0.3, 40)
        d -= d.mean()            # true mean difference exactly 0
        (r,) = compare.compare(results(b + d, b), "A", "B")
        self.assertFalse(r["significant"])
        self.assertLess(r["ci95"][0], 0)
        self.assertGreater(r["ci95"][1], 0)

    def test_same_seed_same_interval_other_seed_other_interval(self):
        rng = np.random.default_rng(9)
        b = rng.normal(0, 1, 25)
        a = b + rng.normal(0, 1, 25)
        r1 = compare.compare(results(a, b), "A", "B", seed=1)[0]["ci95"]
        r2 = compare.compare(results(a, b), "A", "B", seed=1)[0]["ci95"]
        r3 = compare.compare(results(a, b), "A", "B", seed=2)[0]["ci95"]
        self.assertEqual(r1, r2)
        self.assertNotEqual(r1, r3)

    def test_band_filter_and_missing_values(self):
        a = [1.0, 2.0, float("nan"), 4.0, 5.0, 6.0]
        b = [0.0, 0.0, 0.0, 0.0, 0.0, None]
        bands = ["-5..0", "0..5", "0..5", "0..5", "-5..0", "0..5"]
        items = results(a, b, bands=bands)
        (r,) = compare.compare(items, "A", "B", band="0..5")
        self.assertEqual(r["items"], 2)          # items 1 and 3 (2: NaN, 5: None)
        self.assertAlmostEqual(r["diff"], 3.0)
        (r,) = compare.compare(items, "A", "B")
        self.assertEqual(r["items"], 4)
        self.assertAlmostEqual(r["diff"], 3.0)   # (1 + 2 + 4 + 5) / 4

    def test_default_metrics_in_table_order(self):
        items = results([1.0, 2.0], [0.5, 1.0], metric="pesq_wb",
                        extra=lambda s, i: {"si_sdr": 1.0 + i, "stoi": 0.9, "snr_db": 3.0})
        names = [r["metric"] for r in compare.compare(items, "A", "B")]
        self.assertEqual(names, ["si_sdr", "pesq_wb", "stoi"])   # snr_db is not a metric


class Cli(unittest.TestCase):
    def run_cli(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = compare.main(list(args))
        return rc, out.getvalue(), err.getvalue()

    def test_table_and_json(self):
        rng = np.random.default_rng(3)
        b = rng.normal(1.8, 0.2, 20)
        with tempfile.TemporaryDirectory() as d:
            p = pathlib.Path(d) / "results.json"
            p.write_text(json.dumps({"items": results(b + 1.0, b, metric="pesq_wb")}))
            j = pathlib.Path(d) / "cmp.json"
            rc, out, err = self.run_cli(str(p), "--a", "A", "--b", "B", "--json", str(j))
            self.assertEqual(rc, 0, err)
            self.assertIn("| pesq_wb | 20 |", out)
            self.assertIn("+1.000 *", out)
            doc = json.loads(j.read_text())
            self.assertEqual(doc["rows"][0]["wins_a"], 20)
            self.assertFalse((pathlib.Path(d) / "cmp.json.tmp").exists())

    def test_errors_exit_2_with_a_message(self):
        with tempfile.TemporaryDirectory() as d:
            p = pathlib.Path(d) / "results.json"
            p.write_text(json.dumps({"items": results([1.0], [2.0])}))
            bad = pathlib.Path(d) / "bad.json"
            bad.write_text("{not json")
            cases = [
                ((str(p), "--a", "A", "--b", "C"), "no items of system 'C'"),
                ((str(p), "--a", "A", "--b", "B", "--band", "15..20"), "in band 15..20"),
                ((str(p), "--a", "A", "--b", "B", "--metric", "stoi"), "metric 'stoi'"),
                ((str(pathlib.Path(d) / "none.json"), "--a", "A", "--b", "B"), "no such file"),
                ((str(bad), "--a", "A", "--b", "B"), "not an evaluate.py results file"),
                ((str(p), "--a", "A", "--b", "B", "--resamples", "5"), "at least 100"),
            ]
            for args, msg in cases:
                rc, out, err = self.run_cli(*args)
                self.assertEqual(rc, 2, args)
                self.assertIn(msg, err, args)
                self.assertEqual(out, "", args)


if __name__ == "__main__":
    unittest.main()
