#!/usr/bin/env python3
"""band_error.py against signals whose per-band answers are known.

  python3 tools/eval/tests/band_error_test.py     # exit 77 (skipped) without numpy/soxr/soundfile
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
import band_error  # noqa: E402


def speechlike(rng, n, rate=16000):
    """Harmonics from 150 Hz to 7.5 kHz, bursts with silent gaps (the last 0.3 s silent)."""
    t = np.arange(n) / rate
    x = sum(np.sin(2 * np.pi * 150 * k * t + rng.uniform(0, 6.28)) / k ** 0.5 for k in range(1, 50))
    env = (np.sin(2 * np.pi * 2.3 * t) > -0.2).astype(float)
    env[-int(0.3 * rate):] = 0.0
    return 0.1 * x * env


class BandStats(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(20261130)
        self.n = 16000 * 2 + 333        # odd length
        self.clean = speechlike(rng, self.n)
        self.noise = 0.02 * rng.standard_normal(self.n)
        self.noisy = self.clean + self.noise

    def test_perfect_output(self):
        st = band_error.band_stats(self.clean, self.noisy, self.clean)
        self.assertTrue(np.all(st["err"] < -150), st["err"])
        np.testing.assert_allclose(st["att"], 0.0, atol=1e-9)
        self.assertTrue(np.all(st["res"] < -150), st["res"])   # silent frames stay silent

    def test_scaled_output(self):
        st = band_error.band_stats(self.clean, self.noisy, 0.5 * self.clean)
        np.testing.assert_allclose(st["att"], 20 * np.log10(0.5), atol=1e-9)
        np.testing.assert_allclose(st["err"], 20 * np.log10(0.5), atol=1e-9)

    def test_noisy_output(self):
        st = band_error.band_stats(self.clean, self.noisy, self.noisy)
        np.testing.assert_allclose(st["res"], 0.0, atol=1e-9)   # nothing removed
        # the error is the noise: white noise, so the worst band is the one with least speech
        self.assertGreater(st["err"][-1], st["err"][1])
        half = band_error.band_stats(self.clean, self.noisy, self.clean + 0.5 * self.noise)
        np.testing.assert_allclose(half["res"], 20 * np.log10(0.5), atol=0.05)
        np.testing.assert_allclose(half["err"] - st["err"], 20 * np.log10(0.5), atol=1e-9)

    def test_one_band_lowpassed(self):
        # everything from 4 kHz up removed: the top bands lose all, the bands below 2 kHz nothing
        Y = np.fft.rfft(self.clean)
        f = np.fft.rfftfreq(self.n, 1 / 16000)
        Y[f >= 4000] = 0
        y = np.fft.irfft(Y, self.n)
        st = band_error.band_stats(self.clean, self.noisy, y)
        self.assertTrue(np.all(st["err"][:3] < -30), st["err"])
        self.assertTrue(np.all(np.abs(st["err"][4:]) < 0.5), st["err"])   # error = the speech

    def test_short_signal_is_an_error(self):
        with self.assertRaises(ValueError):
            band_error.band_stats(np.zeros(100), np.zeros(100), np.zeros(100))


class Cli(unittest.TestCase):
    def test_end_to_end_and_bad_input(self):
        rng = np.random.default_rng(7)
        with tempfile.TemporaryDirectory() as d:
            d = pathlib.Path(d)
            for sub in ("48k/clean", "48k/noisy", "out"):
                (d / sub).mkdir(parents=True)
            (d / "pairs.json").write_text('{"items": []}')   # make_eval_set.py's layout
            for i in range(2):
                c = speechlike(rng, 48000 + 17 * i, rate=48000)
                nz = c + 0.01 * rng.standard_normal(len(c))
                sf.write(d / f"48k/clean/item{i}.wav", c, 48000, subtype="FLOAT")
                sf.write(d / f"48k/noisy/item{i}.wav", nz, 48000, subtype="FLOAT")
                sf.write(d / f"out/item{i}.wav", c, 48000, subtype="FLOAT")
            self.assertEqual(band_error.main(["--pairs", str(d), "--system", f"x={d / 'out'}",
                                              "--noisy-row"]), 0)
            self.assertEqual(band_error.main(["--pairs", str(d), "--system", "x"]), 2)
            self.assertEqual(band_error.main(["--pairs", str(d / "none"), "--system",
                                              f"x={d / 'out'}"]), 2)
            self.assertEqual(band_error.main(["--pairs", str(d), "--system", f"x={d / 'nope'}"]), 2)
            (d / "out/item1.wav").unlink()
            self.assertEqual(band_error.main(["--pairs", str(d), "--system", f"x={d / 'out'}"]), 2)


if __name__ == "__main__":
    unittest.main()
