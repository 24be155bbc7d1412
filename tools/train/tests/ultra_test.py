#!/usr/bin/env python3
"""Checks the ultra model's training pipeline against the C++ engine:
  * export: a PyTorch UltraNet with random weights and a non-trivial input normalisation is
    exported to .gnvm; the engine's kernels (gnv_ultra_run_network) and PyTorch must give the same
    gains and VAD on the same feature sequence (max abs diff < 1e-4); the whole family
    (gnv_denoise_buffer) runs it as a smoke test (finite, same length);
  * ONNX: the exported one-hop graph, run with onnxruntime when installed, matches PyTorch;
  * converter: that ONNX through tools/convert's front end and convert_ultra.py gives the same
    network as the direct export (when the onnx package and tools/convert are present);
  * features: the shim's windows and features match a numpy double-precision reference of the
    ultra analysis (asymmetric window, 384-point FFT, 32 triangular bands, log10);
  * data: UltraMixer streams are reproducible from the seed, gains are in [0, 1] or -1, and
    the band mask marks the bands above a 7.5 kHz speaker's bandwidth;
  * models/weights/ultra.gnvm, when present, loads as the architecture we train.

  python3 tools/train/tests/ultra_test.py --lib-dir build/tools/train
Exit 0 = pass, 1 = fail, 77 = skipped (python3 lacks torch or numpy).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import traceback

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
REPO = HERE.parents[2]

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)

import ghostnv_ext  # noqa: E402
import ultra_data  # noqa: E402
from export_ultra import export_gnvm, export_onnx, header_of_file  # noqa: E402
from ultra_model import UltraNet, UltraStep  # noqa: E402


def random_checkpoint(seed: int, scale: float) -> dict:
    torch.manual_seed(seed)
    net = UltraNet(dense=24, gru1=17, gru2=13)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(scale)
        g = torch.Generator().manual_seed(seed)
        net.set_normalisation(torch.randn(32, generator=g) * 3 - 4,
                              torch.rand(32, generator=g) * 2 + 0.2)
    return {"model": net.state_dict(), "net": net.sizes, "history": [], "config": {"seed": seed},
            "epoch": 0}


def features_like(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 32)) * 2 - 4).astype(np.float32)


def check_export(uext, tmp: pathlib.Path) -> None:
    for seed, scale in ((1, 1.0), (2, 3.0)):
        ck = random_checkpoint(seed, scale)
        path = tmp / f"u{seed}.gnvm"
        export_gnvm(ck, path, "test-ultra", "f32")
        net = UltraNet(**ck["net"])
        net.load_state_dict(ck["model"])
        f = features_like(301, seed)
        with torch.no_grad():
            g, v, _ = net(torch.from_numpy(f)[None])
        gc, vc = uext.run_network(path, f)
        dg = float(np.abs(gc - g[0].numpy()).max())
        dv = float(np.abs(vc - v[0, :, 0].numpy()).max())
        print(f"export seed {seed} scale {scale}: max |gain diff| {dg:.2e}, |vad diff| {dv:.2e}")
        assert dg < 1e-4 and dv < 1e-4, "exported model differs from PyTorch"
        assert float(g.std()) > 0.01, "degenerate test network"
        x = (np.random.default_rng(seed).standard_normal(48000 + 13) * 0.1).astype(np.float32)
        y = uext.denoise(path, x)
        assert y.shape == x.shape and np.isfinite(y).all()


def check_onnx(tmp: pathlib.Path) -> None:
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed: ONNX check skipped")
        return
    ck = random_checkpoint(3, 2.0)
    net = UltraNet(**ck["net"])
    net.load_state_dict(ck["model"])
    net.eval()
    path = tmp / "u.onnx"
    export_onnx(net, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    f = features_like(50, 3)
    h1 = np.zeros((1, 17), np.float32)
    h2 = np.zeros((1, 13), np.float32)
    with torch.no_grad():
        g, v, _ = net(torch.from_numpy(f)[None])
    worst = 0.0
    for t in range(len(f)):
        go, vo, h1, h2 = sess.run(None, {"features": f[t:t + 1], "h1": h1, "h2": h2})
        worst = max(worst, float(np.abs(go[0] - g[0, t].numpy()).max()),
                    float(abs(vo[0, 0] - v[0, t, 0])))
    print(f"onnx: max diff over 50 hops {worst:.2e}")
    assert worst < 1e-5


def check_convert(uext, tmp: pathlib.Path) -> None:
    """ONNX -> .gnvm through tools/convert's front end and convert_ultra's recogniser gives the
    same network as the direct export."""
    try:
        import onnx  # noqa: F401
        import convert_ultra
    except ImportError as e:
        print(f"converter check skipped ({e})")
        return
    ck = random_checkpoint(4, 2.0)
    net = UltraNet(**ck["net"])
    net.load_state_dict(ck["model"])
    export_onnx(net, tmp / "c.onnx")
    export_gnvm(ck, tmp / "direct.gnvm", "d", "f32")
    rc = convert_ultra.main(["-o", str(tmp / "conv.gnvm"), str(tmp / "c.onnx")])
    assert rc == 0, "convert_ultra failed"
    f = features_like(200, 4)
    g1, v1 = uext.run_network(tmp / "direct.gnvm", f)
    g2, v2 = uext.run_network(tmp / "conv.gnvm", f)
    d = max(float(np.abs(g1 - g2).max()), float(np.abs(v1 - v2).max()))
    print(f"convert: converter vs direct export, max diff {d:.2e}")
    assert d < 1e-6


def check_features(uext) -> None:
    a, s = uext.windows()
    rise, tail = 384 - 96, 384 - 192
    i = np.arange(384)
    ra = np.where(i < rise, np.sin(np.pi * (i + 0.5) / (2 * rise)),
                  np.sin(np.pi * (i - tail + 0.5) / 192))
    assert np.abs(a - ra).max() < 1e-6
    prod = a.astype(np.float64) * s
    assert np.abs(prod[tail:tail + 96] + prod[tail + 96:] - 1).max() < 1e-6
    centers = (uext.band_centers_hz() / 125).astype(int)
    wts = np.zeros((32, 193))
    for b in range(32):
        wts[b, centers[b]] = 1
        if b > 0:
            k = np.arange(centers[b - 1] + 1, centers[b])
            wts[b, k] = (k - centers[b - 1]) / (centers[b] - centers[b - 1])
        if b < 31:
            k = np.arange(centers[b] + 1, centers[b + 1])
            wts[b, k] = (centers[b + 1] - k) / (centers[b + 1] - centers[b])
    assert np.abs(wts.sum(axis=0) - 1).max() < 1e-12
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(96 * 23) * 0.1).astype(np.float32)
    x[96 * 5:96 * 9] = 0
    f, g = uext.extract_features(x, x * 0.25)
    xp = np.concatenate([np.zeros(384 - 96), x.astype(np.float64)])
    worst = 0.0
    for h in range(23):
        frame = xp[h * 96:h * 96 + 384] * ra
        e = wts @ (np.abs(np.fft.rfft(frame)) ** 2)
        ref = np.log10(e + 1e-10)
        worst = max(worst, float(np.abs(f[h] - ref).max()))
        care = ref > -8.5
        assert np.allclose(g[h][care], 0.25, atol=1e-3)
    print(f"features: max |log10 diff| vs numpy {worst:.2e}")
    assert worst < 2e-4


def check_data(uext) -> None:
    import data
    corpus = data.Corpus.load()
    cfg = ultra_data.UltraMixConfig(p_reverb=0.5, p_clip=0.3, p_441=0.3)
    m = ultra_data.UltraMixer(corpus, "train", cfg)
    s1 = m.stream(30, seed=3)
    s2 = ultra_data.UltraMixer(corpus, "train", cfg).stream(30, seed=3)
    for k in ("clean", "noisy", "bw", "level"):
        assert np.array_equal(s1[k], s2[k]), f"stream not reproducible ({k})"
    fs = ultra_data.stream_features(s1, uext)
    gains = fs["gains"]
    assert ((gains == -1) | ((gains >= 0) & (gains <= 1))).all()
    assert np.isfinite(fs["features"]).all() and len(fs["vad"]) == len(gains)
    bw = np.full(96 * 10, 7500.0, np.float32)
    mask = ultra_data.band_mask(bw, 10, uext.band_centers_hz())
    assert (mask[:, uext.band_centers_hz() > 7500]).all()
    assert not (mask[:, uext.band_centers_hz() <= 7500]).any()
    print(f"data: 30 s stream reproducible, {len(gains)} frames")


def check_shipped(uext) -> None:
    path = REPO / "models" / "weights" / "ultra.gnvm"
    if not path.exists():
        print("models/weights/ultra.gnvm absent: skipped")
        return
    h = header_of_file(path)
    assert h["family"] == "ultra" and h["hop_size"] == 96 and h["algorithmic_latency"] == 96
    g, v = uext.run_network(path, features_like(20, 9))
    assert np.isfinite(g).all() and (g >= 0).all() and (g <= 1).all()
    print(f"shipped ultra.gnvm: {h['name']}, {len(h['layers'])} layers")


def check_e2e(uext, tmp: pathlib.Path) -> None:
    """ultra_e2e.py's PyTorch DSP against the C++ family: features against the shim's, and the
    whole pipeline (features -> network -> gains -> synthesis) against gnv_denoise_buffer on
    the exported model; unit gains give the input delayed by one hop."""
    import ultra_e2e
    dsp = ultra_e2e.UltraDsp()
    rng = np.random.default_rng(21)
    n = 96 * 257
    x = (rng.standard_normal(n) * 0.1).astype(np.float32)
    x += (0.3 * np.sin(2 * np.pi * 210 * np.arange(n) / 48000)).astype(np.float32)
    c = (0.5 * x).astype(np.float32)
    fc, _ = uext.extract_features(x, c)
    X, E = dsp.analyse(torch.from_numpy(x)[None])
    ft = torch.log10(E + 1e-10)[0].numpy()
    df = float(np.abs(fc - ft).max())
    y1 = dsp.synthesise(X, torch.ones(1, n // 96, 32))[0].numpy()
    d1 = float(np.abs(y1[96:] - x[:-96]).max())
    ck = random_checkpoint(5, 1.0)
    path = tmp / "e2e.gnvm"
    export_gnvm(ck, path, "test-ultra-e2e", "f32")
    net = UltraNet(**ck["net"])
    net.load_state_dict(ck["model"])
    with torch.no_grad():
        g, _, _ = net(torch.log10(E + 1e-10))
        y = dsp.synthesise(X, g)[0].numpy()
    yc = uext.denoise(path, x)          # time-aligned: the family's 96-sample delay removed
    m = n - 96
    err = float(np.sqrt(np.mean((y[96:] - yc[:m]) ** 2)) / np.sqrt(np.mean(yc[:m] ** 2)))
    print(f"e2e: features max diff {df:.2e}, unit-gain reconstruction {d1:.2e}, "
          f"pipeline vs engine rel. RMS error {err:.2e}")
    assert df < 1e-3 and d1 < 1e-5 and err < 1e-3, "ultra_e2e's DSP differs from the C++ family"
    assert float(g.std()) > 0.01, "degenerate test network"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib-dir", default=None)
    ap.add_argument("--no-data", action="store_true", help="skip the corpus-based check")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    uext = ultra_data.UltraExt(ghostnv_ext.GhostnvExt.open(args.lib_dir))
    failed = 0
    with tempfile.TemporaryDirectory() as td:
        checks = [("export", lambda: check_export(uext, pathlib.Path(td))),
                  ("onnx", lambda: check_onnx(pathlib.Path(td))),
                  ("convert", lambda: check_convert(uext, pathlib.Path(td))),
                  ("features", lambda: check_features(uext)),
                  ("e2e", lambda: check_e2e(uext, pathlib.Path(td))),
                  ("shipped", lambda: check_shipped(uext))]
        data_root = ultra_data.data.default_data_root()
        if not args.no_data and (data_root / "speech").is_dir():
            checks.append(("data", lambda: check_data(uext)))
        else:
            print("data check skipped (--no-data or no shared data at "
                  f"{data_root})")
        for name, fn in checks:
            try:
                fn()
            except Exception:
                traceback.print_exc()
                print(f"FAIL: {name}")
                failed += 1
    print("FAIL" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
