#!/usr/bin/env python3
"""Metric implementations of tools/eval against analytic values and sanity orderings.

  python3 tools/eval/tests/metrics_test.py     # exit 77 (skipped) without numpy/soxr
"""

import math
import os
import pathlib
import sys
import unittest

try:
    import numpy as np
    import soxr  # noqa: F401
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import metrics  # noqa: E402


def have(mod):
    try:
        __import__(mod)
        return True
    except ImportError:
        return False


def orthogonal_noise(ref, rng, power_ratio_db):
    """Zero-mean noise orthogonal to the zero-mean ref with |ref|^2/|n|^2 = power_ratio_db."""
    n = rng.standard_normal(len(ref))
    n -= n.mean()
    r = ref - ref.mean()
    n -= np.dot(n, r) / np.dot(r, r) * r
    n -= n.mean()   # (r has zero mean, so this keeps orthogonality)
    n *= math.sqrt(np.dot(r, r) / np.dot(n, n) * 10 ** (-power_ratio_db / 10))
    return n


def speechlike(sr, seconds, rng, f0=140.0):
    """Harmonic voiced 'syllables' (about 4 per second) with pauses: enough structure for
    PESQ's utterance detection and STOI."""
    t = np.arange(int(sr * seconds)) / sr
    f = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    ph = 2 * np.pi * np.cumsum(f) / sr
    x = sum((1.0 / k) * np.sin(k * ph + rng.uniform(0, 2 * np.pi)) for k in range(1, 30)
            if k * f0 < 0.45 * sr)
    env = np.clip(np.sin(2 * np.pi * 2.0 * t), 0, None) ** 2
    env *= (np.sin(2 * np.pi * 0.25 * t) > -0.3)
    return 0.1 * x * env


class SiSdrTest(unittest.TestCase):
    def test_scaled_reference_is_huge(self):
        rng = np.random.default_rng(1)
        for n in (7, 113, 513, 4800):
            ref = rng.standard_normal(n)
            self.assertGreater(metrics.si_sdr(0.37 * ref, ref), 100.0)
            self.assertGreater(metrics.si_sdr(-3.0 * ref + 5.0, ref), 100.0)  # sign, offset

    def test_orthogonal_noise_gives_the_power_ratio(self):
        rng = np.random.default_rng(2)
        for n, db in ((113, -5.0), (513, 0.0), (4801, 7.5), (48000, 20.0)):
            ref = rng.standard_normal(n) + 0.3
            est = 2.5 * (ref - ref.mean() + orthogonal_noise(ref, rng, db)) + 1.0
            self.assertAlmostEqual(metrics.si_sdr(est, ref), db, places=6)

    def test_against_naive_float64(self):
        rng = np.random.default_rng(3)
        ref = rng.standard_normal(1000).astype(np.float32)
        est = (ref + 0.5 * rng.standard_normal(1000)).astype(np.float32)
        r = [float(v) for v in ref]
        e = [float(v) for v in est]
        mr, me = sum(r) / len(r), sum(e) / len(e)
        r = [v - mr for v in r]
        e = [v - me for v in e]
        a = sum(x * y for x, y in zip(e, r)) / sum(x * x for x in r)
        t = [a * v for v in r]
        num = sum(v * v for v in t)
        den = sum((x - y) ** 2 for x, y in zip(e, t))
        self.assertAlmostEqual(metrics.si_sdr(est, ref), 10 * math.log10(num / den), places=9)


class VadTest(unittest.TestCase):
    def test_masks(self):
        sr = 16000
        t = np.arange(sr) / sr
        tone = 0.1 * np.sin(2 * np.pi * 300 * t)
        ref = np.concatenate([tone, np.zeros(sr), tone])
        active, absent, frame = metrics.clean_vad(ref, sr)
        self.assertEqual(frame, 320)
        self.assertEqual(len(active), 150)
        self.assertEqual(int(active.sum()), 100)
        # 50 silent frames minus the 2-frame guard on each side.
        self.assertEqual(int(absent.sum()), 46)
        self.assertFalse((active & absent).any())

    def test_silent_reference(self):
        active, absent, _ = metrics.clean_vad(np.zeros(1000), 16000)
        self.assertFalse(active.any())
        self.assertTrue(absent.all())
        self.assertTrue(math.isnan(metrics.speech_distortion(np.ones(1000), np.zeros(1000), 16000)))


class DistortionAndReductionTest(unittest.TestCase):
    def setUp(self):
        sr = self.sr = 16000
        rng = np.random.default_rng(4)
        speech = np.concatenate([0.1 * rng.standard_normal(sr), np.zeros(sr),
                                 0.1 * rng.standard_normal(sr)])
        self.ref = speech
        self.noise = 0.01 * rng.standard_normal(len(speech))
        self.noisy = speech + self.noise

    def test_gain_only_is_no_distortion(self):
        self.assertLess(metrics.speech_distortion(0.5 * self.ref, self.ref, self.sr), -100)

    def test_distortion_is_minus_si_sdr_on_active_frames(self):
        active, _, frame = metrics.clean_vad(self.ref, self.sr)
        s = metrics._select(self.ref, active, frame)
        rng = np.random.default_rng(5)
        n = orthogonal_noise(s, rng, 12.0)
        est = np.zeros_like(self.ref)
        idx = np.flatnonzero(np.repeat(active, frame))
        est[idx] = s - s.mean() + n
        self.assertAlmostEqual(metrics.speech_distortion(est, self.ref, self.sr), -12.0, places=6)

    def test_noise_reduction(self):
        nr = metrics.noise_reduction(self.noisy, self.noisy, self.ref, self.sr)
        self.assertAlmostEqual(nr, 0.0, places=9)
        est = self.noisy * 10 ** (-6 / 20)
        self.assertAlmostEqual(metrics.noise_reduction(est, self.noisy, self.ref, self.sr), 6.0,
                               places=9)
        # Only the speech-absent frames count: changing the speech does not change NR.
        est2 = self.noisy.copy()
        est2[: self.sr] *= 0.1
        self.assertAlmostEqual(metrics.noise_reduction(est2, self.noisy, self.ref, self.sr), 0.0,
                               places=9)

    def test_input_snr(self):
        # Active frames: the two noise bursts (power 0.01), noise power 1e-4 -> 20 dB.
        self.assertAlmostEqual(metrics.input_snr(self.noisy, self.ref, self.sr), 20.0, delta=0.2)


class ResampleTest(unittest.TestCase):
    def test_sine(self):
        t = np.arange(48000) / 48000
        y = metrics.resample(np.sin(2 * np.pi * 1000 * t), 48000, 16000)
        self.assertEqual(len(y), 16000)
        mid = y[2000:14000]
        ref = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)[2000:14000]
        self.assertGreater(metrics.si_sdr(mid, ref), 60)


@unittest.skipUnless(have("pesq") and have("pystoi"), "pesq/pystoi not installed")
class PesqStoiTest(unittest.TestCase):
    def test_identical_is_max_and_noise_lowers(self):
        rng = np.random.default_rng(6)
        ref = speechlike(16000, 4.0, rng)
        p_same = metrics.pesq_wb(ref, ref)
        s_same = metrics.stoi(ref, ref)
        self.assertGreater(p_same, 4.5)            # P.862.2 maximum is 4.64
        self.assertGreater(s_same, 0.999)
        last_p, last_s = p_same, s_same
        for snr in (20, 10, 0):
            n = rng.standard_normal(len(ref))
            n *= np.sqrt(np.mean(ref ** 2) / np.mean(n ** 2) * 10 ** (-snr / 10))
            p = metrics.pesq_wb(ref + n, ref)
            s = metrics.stoi(ref + n, ref)
            self.assertLess(p, last_p, f"PESQ at {snr} dB")
            self.assertLess(s, last_s, f"STOI at {snr} dB")
            last_p, last_s = p, s
        self.assertLess(last_p, 2.0)

    def test_rejected_item_is_nan(self):
        self.assertTrue(math.isnan(metrics.pesq_wb(np.zeros(16000), np.zeros(16000))))


class DnsmosRecipeTest(unittest.TestCase):
    def test_windows(self):
        sr = 16000
        self.assertEqual(metrics.Dnsmos.windows(144160), [(0, 144160)])
        self.assertEqual(metrics.Dnsmos.windows(160000), [(0, 144160)])   # 10 s: one window
        self.assertEqual(len(metrics.Dnsmos.windows(11 * sr)), 2)
        self.assertEqual(metrics.Dnsmos.windows(12 * sr)[-1], (2 * sr, 2 * sr + 144160))

    def test_polynomials(self):
        m = metrics.Dnsmos.map_raw(np.array([3.0, 3.0, 3.0]))
        self.assertAlmostEqual(m["sig"], -0.08397278 * 9 + 1.22083953 * 3 + 0.0052439)
        self.assertAlmostEqual(m["bak"], -0.13166888 * 9 + 1.60915514 * 3 - 0.39604546)
        self.assertAlmostEqual(m["ovrl"], -0.06766283 * 9 + 1.11546468 * 3 + 0.04602535)

    def test_model(self):
        shared = pathlib.Path(os.environ.get("GHOSTNV_SHARED_DIR",
                                             HERE.parents[3] / "shared"))
        d = shared / "data" / "models" / "dnsmos"
        if not have("onnxruntime") or not (d / "sig_bak_ovr.onnx").is_file():
            self.skipTest("onnxruntime or the DNSMOS model (GHOSTNV_SHARED_DIR/data) missing")
        dn = metrics.Dnsmos(d)
        rng = np.random.default_rng(7)
        x = speechlike(16000, 5.0, rng)
        a = dn.score(x)
        # The repetition rule: a 5 s clip is scored as the 10 s clip x|x (one window).
        b = dn.score(np.concatenate([x, x]))
        for k in ("sig", "bak", "ovrl"):
            self.assertTrue(1.0 <= a[k] <= 5.0, a)
            self.assertAlmostEqual(a[k], b[k], places=5)
        noisy = dn.score(x + 0.05 * rng.standard_normal(len(x)))
        self.assertLess(noisy["bak"], a["bak"])


if __name__ == "__main__":
    unittest.main()
