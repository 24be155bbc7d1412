#!/usr/bin/env python3
"""Tests for tools/train/data.py and the feature shim, on synthetic signals (no shared data needed).

  python3 tools/train/tests/data_test.py --lib-dir build/tools/train
Exit 0 = pass, 1 = fail, 77 = skipped (python3 lacks numpy/scipy/soundfile/soxr, or no shim).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import traceback

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

try:
    import numpy as np
    import scipy.signal  # noqa: F401
    import soundfile  # noqa: F401
    import soxr  # noqa: F401
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)

import data  # noqa: E402

SR = 48000


def synthetic_corpus(seed: int = 0) -> data.Corpus:
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR

    def voice(f0, n):
        env = np.sin(np.pi * np.arange(n) / n) ** 2
        x = sum(np.sin(2 * np.pi * f0 * k * np.arange(n) / SR) / k for k in range(1, 12))
        return (0.3 * env * x).astype(np.float32)

    spk_a = data.SpeechSource("a", [voice(rng.uniform(100, 250), int(rng.uniform(0.3, 1.2) * SR))
                                    for _ in range(7)], 20000.0)
    spk_b = data.SpeechSource("b", [voice(rng.uniform(100, 250), int(rng.uniform(0.3, 1.2) * SR))
                                    for _ in range(5)], 7000.0)
    hum = data.NoiseSource("hum", "continuous",
                           signal=(0.1 * np.sin(2 * np.pi * 50 * t * 3)).astype(np.float32))
    hiss = data.NoiseSource("hiss", "continuous",
                            signal=(0.05 * rng.standard_normal(2 * SR)).astype(np.float32))
    clicks = data.NoiseSource("clicks", "events",
                              events=[(0.5 * rng.standard_normal(300)).astype(np.float32)
                                      for _ in range(4)])
    return data.Corpus(pathlib.Path("/synthetic"),
                       {"train": [spk_a, spk_b], "heldout": [spk_b]},
                       {"train": [hum, hiss, clicks], "heldout": [hiss]})


def test_biquad_stable():
    rng = np.random.default_rng(1)
    for _ in range(500):
        b, a = data.random_biquad(rng, 0.375)
        assert np.all(np.abs(np.roots(a)) < 1), a
        assert np.all(np.abs(b[1:]) <= 0.375) and np.all(np.abs(a[1:]) <= 0.375)


def test_stream_reproducible_and_bounded():
    c = synthetic_corpus()
    m = data.Mixer(c, "train", data.MixConfig())
    s1 = m.stream(37.3, seed=5)
    s2 = m.stream(37.3, seed=5)
    s3 = m.stream(37.3, seed=6)
    n = len(s1["clean"])
    assert n % 480 == 0 and n == int(37.3 * SR) // 480 * 480
    for k in s1:
        assert np.array_equal(s1[k], s2[k]), k
        assert len(s1[k]) == n
    assert not np.array_equal(s1["noisy"], s3["noisy"])
    assert np.abs(s1["noisy"]).max() <= 10 ** (-1 / 20) + 1e-6
    assert np.isfinite(s1["noisy"]).all() and np.isfinite(s1["clean"]).all()


def test_segment_snr_and_peak():
    c = synthetic_corpus()
    cfg = data.MixConfig(p_filter=0.0, p_noise_only=0.0, p_speech_only=0.0, p_speed=0.0,
                         p_synthetic_noise=0.0, fade_seconds=0.0001)
    m = data.Mixer(c, "train", cfg)
    rng = np.random.default_rng(3)
    seen = 0
    for _ in range(40):
        s, x, bw, level = m.segment(rng, 4 * SR)
        nz = x - s
        if np.abs(nz).max() == 0:
            continue
        snr = 20 * np.log10(data.active_rms(s) / np.sqrt(np.mean(nz.astype(np.float64) ** 2)))
        assert abs(snr - m.last_snr) < 0.2, (snr, m.last_snr)
        peak_db = 20 * np.log10(np.abs(x).max())
        assert -40.01 <= peak_db <= -0.99, peak_db
        assert bw in (20000.0, 7000.0)
        seen += 1
    assert seen > 30


def test_noise_and_speech_only_segments():
    c = synthetic_corpus()
    m = data.Mixer(c, "train", data.MixConfig(p_noise_only=0.5, p_speech_only=0.5))
    rng = np.random.default_rng(4)
    kinds = set()
    for _ in range(30):
        s, x, bw, level = m.segment(rng, SR)
        kinds.add(m.last_kind)
        if m.last_kind == "noise":
            assert not s.any() and level == 0
        else:
            assert np.allclose(s, x)
    assert kinds == {"noise", "speech"}


def test_band_mask():
    bw = np.full(480 * 5, 24000.0, np.float32)
    bw[480 * 2:480 * 3] = 7500.0
    m = data.band_mask_from_bandwidth(bw, 5)
    assert not m[0].any() and not m[4].any()
    for f in (1, 2, 3):        # the band-limited hop and its neighbours
        assert np.array_equal(np.nonzero(m[f])[0], np.arange(17, 22)), m[f]


def test_relative_vad():
    clean = np.zeros(480 * 4, np.float32)
    clean[480:960] = 0.1
    clean[960:1440] = 0.1 * 10 ** (-25 / 20)
    level = np.full_like(clean, 0.1)
    v = data.relative_vad(clean, level, 4)
    assert list(v) == [0.0, 1.0, 0.5, 0.0], v
    assert list(data.relative_vad(clean, np.zeros_like(clean), 4)) == [0, 0, 0, 0]


def test_extractor(lib_dir):
    import ghostnv_ext
    try:
        ext = ghostnv_ext.GhostnvExt.open(lib_dir)
    except FileNotFoundError as e:
        raise AssertionError(str(e))
    rng = np.random.default_rng(9)
    n = 480 * 113
    noisy = (0.1 * rng.standard_normal(n)).astype(np.float32)
    f, g, v, sil = ext.extract_features(noisy, noisy)
    assert f.shape == (113, 42) and g.shape == (113, 22) and v.shape == (113,)
    assert np.isfinite(f).all()
    ok = ~sil
    assert ok.sum() > 100
    assert np.abs(g[ok] - 1).max() < 1e-3, np.abs(g[ok] - 1).max()   # clean == noisy: gain 1
    # clean = noisy / 2 everywhere: every band's gain is sqrt(1/4) = 0.5 (the chain is linear).
    f2, g2, _, sil2 = ext.extract_features(noisy, noisy * 0.5)
    assert np.array_equal(f, f2) and np.array_equal(sil, sil2)   # features see only noisy
    assert np.abs(g2[ok] - 0.5).max() < 1e-3
    # Silence: all frames silent, gains all -1.
    z = np.zeros(480 * 7, np.float32)
    f3, g3, v3, sil3 = ext.extract_features(z, z)
    assert sil3.all() and (g3 == -1).all() and not f3.any() and not v3.any()
    # Empty input is fine; a length that is not a multiple of 480 is refused.
    assert ext.extract_features(z[:0], z[:0])[0].shape == (0, 42)
    try:
        ext.extract_features(z[:7], z[:7])
        raise AssertionError("length 7 accepted")
    except ValueError:
        pass
    # One stream per call: two calls on the same input give the same result (fresh state).
    fa = ext.extract_features(noisy, noisy)[0]
    assert np.array_equal(fa, f)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib-dir", default=None)
    args = ap.parse_args()
    tests = [(k, v) for k, v in globals().items() if k.startswith("test_") and callable(v)]
    failed = 0
    for name, fn in tests:
        try:
            fn(args.lib_dir) if name == "test_extractor" else fn()
            print(f"[ OK ] {name}")
        except Exception:
            failed += 1
            print(f"[FAIL] {name}")
            traceback.print_exc()
    print(f"{len(tests) - failed}/{len(tests)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
