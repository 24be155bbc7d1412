#!/usr/bin/env python3
"""dry_probe.py: the probes are built as documented, and PESQ-WB moves the way it must.

  python3 tools/eval/tests/dry_probe_test.py     # exit 77 (skipped) without numpy/soxr/soundfile
"""
import pathlib
import sys
import tempfile
import unittest

try:
    import numpy as np
    import soundfile as sf
    import soxr  # noqa: F401
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import dry_probe  # noqa: E402
import metrics  # noqa: E402

HAVE_PESQ = metrics.pesq_wb(np.zeros(16000), np.zeros(16000)) is not None


def speechlike(rng, n, rate):
    """Voiced bursts (harmonics of a gliding 110-180 Hz pitch, 3 syllables per second) with
    silent gaps; the first 0.25 s and the last 0.3 s silent."""
    t = np.arange(n) / rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    ph = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * ph + rng.uniform(0, 6.28)) / k for k in range(1, 40) if 140 * k < rate / 2.2)
    env = np.clip(np.sin(2 * np.pi * 1.5 * t), 0, None) ** 0.5
    env[: int(0.25 * rate)] = 0.0
    env[-int(0.3 * rate):] = 0.0
    return 0.05 * x * env


class Probes(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(20261130)
        self.rate = 48000
        self.n = 2 * self.rate + 331               # odd length, not a whole number of frames
        self.clean = speechlike(rng, self.n, self.rate)
        self.noisy = self.clean + 0.01 * rng.standard_normal(self.n)

    def test_mask_follows_the_clean_item(self):
        m = dry_probe.speech_mask(self.clean, self.rate)
        self.assertEqual(len(m), self.n)
        self.assertTrue(set(np.unique(m)) <= {0.0, 1.0})
        self.assertEqual(m[: int(0.2 * self.rate)].max(), 0.0)      # leading silence
        self.assertEqual(m[-int(0.28 * self.rate):].max(), 0.0)     # trailing silence (+ tail)
        peak = int(np.argmax(np.abs(self.clean)))
        self.assertEqual(m[peak], 1.0)
        self.assertTrue(0.3 < m.mean() < 0.8, m.mean())

    def test_variants_are_the_documented_sums(self):
        rng = np.random.default_rng(3)
        y = rng.standard_normal(1000)
        x = rng.standard_normal(1003)              # longer: cut to the common length
        m = (rng.uniform(size=1001) > 0.5).astype(float)
        v = dry_probe.variants(y, x, m, 0.03)
        self.assertEqual(set(v), set(dry_probe.KINDS))
        for a in v.values():
            self.assertEqual(len(a), 1000)
        np.testing.assert_allclose(v["all"], 0.97 * y + 0.03 * x[:1000])
        np.testing.assert_allclose(v["speech"] + v["pauses"] - y, y + 0.03 * x[:1000])
        np.testing.assert_allclose(v["speech"][m[:1000] == 0], y[m[:1000] == 0])
        np.testing.assert_allclose(v["pauses"][m[:1000] == 1], y[m[:1000] == 1])

    @unittest.skipUnless(HAVE_PESQ, "pesq not installed")
    def test_pesq_moves_the_right_way(self):
        # a perfect output: putting any of the noisy input back can only lower PESQ-WB
        item = self._write_set([("perfect", self.clean)])
        rows = dry_probe.score_item(item)["x"]
        self.assertGreater(rows["base"], 4.0)
        for kind in ("all", "speech"):
            self.assertLess(rows[(kind, 0.05)], rows["base"] - 0.05, (kind, rows))
        # an output that removed the weak half of every syllable (a hard gate): the input put
        # back under the speech restores some of it, so `speech` beats `base`
        env = np.abs(self.clean)
        k = int(0.02 * self.rate)
        smooth = np.convolve(env, np.ones(k) / k, "same")
        gated = np.where(smooth > 0.5 * smooth.max(), self.clean, 0.0)
        item = self._write_set([("gated", gated)])
        rows = dry_probe.score_item(item)["x"]
        self.assertGreater(rows[("speech", 0.05)], rows["base"], rows)

    def _write_set(self, outs):
        self.tearDown()
        self._d = tempfile.TemporaryDirectory()
        d = pathlib.Path(self._d.name)
        sf.write(d / "clean.wav", self.clean, self.rate, subtype="FLOAT")
        sf.write(d / "noisy.wav", self.noisy, self.rate, subtype="FLOAT")
        name, y = outs[0]
        sf.write(d / f"{name}.wav", y, self.rate, subtype="FLOAT")
        return (str(d / "clean.wav"), str(d / "noisy.wav"), [("x", d / f"{name}.wav")], [0.05])

    def tearDown(self):
        if hasattr(self, "_d"):
            self._d.cleanup()
            del self._d


class Cli(unittest.TestCase):
    def test_end_to_end_and_bad_input(self):
        rng = np.random.default_rng(7)
        with tempfile.TemporaryDirectory() as d:
            d = pathlib.Path(d)
            for sub in ("48k/clean", "48k/noisy", "out", "out16"):
                (d / sub).mkdir(parents=True)
            (d / "pairs.json").write_text('{"items": []}')   # make_eval_set.py's layout
            for i in range(2):
                c = speechlike(rng, 48000 + 4800 * (i + 1) + 17 * i, 48000)
                sf.write(d / f"48k/clean/item{i}.wav", c, 48000, subtype="FLOAT")
                sf.write(d / f"48k/noisy/item{i}.wav", c + 0.01 * rng.standard_normal(len(c)),
                         48000, subtype="FLOAT")
                sf.write(d / f"out/item{i}.wav", c, 48000, subtype="FLOAT")
                sf.write(d / f"out16/item{i}.wav", c[::3], 16000, subtype="FLOAT")
            out = f"x={d / 'out'}"
            if HAVE_PESQ:
                self.assertEqual(dry_probe.main(["--pairs", str(d), "--system", out,
                                                 "--alpha", "0.02", "--jobs", "2"]), 0)
                # an output at another rate than its item
                self.assertEqual(dry_probe.main(["--pairs", str(d), "--system",
                                                 f"x={d / 'out16'}"]), 2)
            self.assertEqual(dry_probe.main(["--pairs", str(d), "--system", out,
                                             "--alpha", "1.5"]), 2)
            self.assertEqual(dry_probe.main(["--pairs", str(d), "--system", "x"]), 2)
            self.assertEqual(dry_probe.main(["--pairs", str(d / "none"), "--system", out]), 2)
            (d / "out/item1.wav").unlink()
            self.assertEqual(dry_probe.main(["--pairs", str(d), "--system", out]), 2)


if __name__ == "__main__":
    unittest.main()
