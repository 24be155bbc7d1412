#!/usr/bin/env python3
"""Checks tools/train/export.py against the C++ engine: a PyTorch RNNoiseNet with random weights
is exported to .gnvm, and PyTorch and the engine's kernels (through the shim's gnv_run_network)
must produce the same gains and VAD on the same feature sequence (max abs diff < 1e-4). A wrong
gate order, a missing transpose or a swapped bias would all break it. Also runs the exported
model through the whole family (gnv_denoise_buffer) as a smoke test, and, when
models/weights/default.gnvm exists, checks that it loads and is the architecture we train.

  python3 tools/train/tests/export_test.py --lib-dir build/tools/train
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
from export import export  # noqa: E402
from model import RNNoiseNet  # noqa: E402


def random_checkpoint(seed: int, scale: float) -> dict:
    torch.manual_seed(seed)
    net = RNNoiseNet()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(scale)          # larger weights: saturating gates, so every path matters
        # A non-trivial input normalisation, which export folds into the weights.
        g = torch.Generator().manual_seed(seed)
        net.set_normalisation(torch.randn(42, generator=g) * 3,
                              torch.rand(42, generator=g) * 5 + 0.2)
    return {"model": net.state_dict(), "history": [], "config": {"seed": seed}, "epoch": 0}


def features_like(n: int, seed: int) -> np.ndarray:
    """Random features with roughly the ranges the extractor produces (cepstra of a few units,
    small deltas), plus a run of zeros (what silent frames look like)."""
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((n, 42)).astype(np.float32)
    f[:, :22] *= 3
    f[:, 22:40] *= 0.7
    f[n // 3:n // 3 + 5] = 0
    return f


def check_model(ext, ck: dict, n: int, seed: int, tmp: pathlib.Path) -> float:
    path = tmp / f"m{seed}.gnvm"
    export(ck, path, name=f"test-{seed}")
    net = RNNoiseNet()
    net.load_state_dict(ck["model"])
    net.eval()
    feats = features_like(n, seed)
    g, v = ext.run_network(path, feats)
    assert g.shape == (n, 22) and v.shape == (n,)
    if n == 0:
        return 0.0
    with torch.no_grad():
        g_ref, v_ref, _ = net(torch.from_numpy(feats)[None])
    dg = float(np.abs(g - g_ref[0].numpy()).max())
    dv = float(np.abs(v - v_ref[0, :, 0].numpy()).max())
    assert dg < 1e-4, f"gains differ by {dg} (n={n}, seed={seed})"
    assert dv < 1e-4, f"vad differs by {dv} (n={n}, seed={seed})"
    return max(dg, dv)


def test_network_matches_pytorch(ext, tmp):
    worst = 0.0
    for seed, scale, n in [(1, 1.0, 113), (2, 3.0, 513), (3, 0.2, 1), (4, 2.0, 7), (5, 1.5, 0),
                           (6, 1.0, 2000)]:
        worst = max(worst, check_model(ext, random_checkpoint(seed, scale), n, seed, tmp))
    print(f"  worst abs diff {worst:.2e}")


def numpy_network(tensors: dict, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """models/ir.h semantics written out in float64 numpy, from the exported tensors."""
    def sig(x):
        return 1 / (1 + np.exp(-x))

    def dense(name, x, act):
        return act(x @ tensors[f"{name}.weights"].astype(np.float64) + tensors[f"{name}.bias"])

    def gru(name, x, s):
        w = tensors[f"{name}.weights"].astype(np.float64)
        r_ = tensors[f"{name}.recurrent"].astype(np.float64)
        u = r_.shape[0]
        xi = x @ w + tensors[f"{name}.bias"]
        hi = s @ r_ + tensors[f"{name}.recurrent_bias"]
        z = sig(xi[:u] + hi[:u])
        r = sig(xi[u:2 * u] + hi[u:2 * u])
        c = np.tanh(xi[2 * u:] + r * hi[2 * u:])
        return z * s + (1 - z) * c

    hv, hn, hd = np.zeros(24), np.zeros(48), np.zeros(96)
    gains, vads = [], []
    for x in feats.astype(np.float64):
        d = dense("input_dense", x, np.tanh)
        hv = gru("vad_gru", d, hv)
        vads.append(dense("vad_output", hv, sig)[0])
        hn = gru("noise_gru", np.concatenate([d, hv, x]), hn)
        hd = gru("denoise_gru", np.concatenate([hv, hn, x]), hd)
        gains.append(dense("denoise_output", hd, sig))
    return np.array(gains), np.array(vads)


def test_layout_numpy(ext, tmp):
    """The written tensors, read back by the Python reader and run with the documented layout in
    float64, match PyTorch (checks the export without the C++ engine)."""
    from gnvm_writer import read_gnvm
    ck = random_checkpoint(21, 2.0)
    path = tmp / "layout.gnvm"
    export(ck, path)
    header, tensors = read_gnvm(str(path))
    assert [l["name"] for l in header["layers"]] == [
        "input_dense", "vad_gru", "noise_gru", "denoise_gru", "denoise_output", "vad_output"]
    assert all(l.get("reset_after", True) for l in header["layers"] if l["kind"] == "gru")
    net = RNNoiseNet()
    net.load_state_dict(ck["model"])
    feats = features_like(60, 21)
    with torch.no_grad():
        g_ref, v_ref, _ = net(torch.from_numpy(feats)[None].double().float())
    g, v = numpy_network(tensors, feats)
    assert np.abs(g - g_ref[0].numpy()).max() < 1e-5, np.abs(g - g_ref[0].numpy()).max()
    assert np.abs(v - v_ref[0, :, 0].numpy()).max() < 1e-5


def test_denoise_smoke(ext, tmp):
    path = tmp / "smoke.gnvm"
    export(random_checkpoint(11, 1.0), path)
    rng = np.random.default_rng(0)
    for n in (0, 1, 479, 480, 4801):
        x = (0.1 * rng.standard_normal(n)).astype(np.float32)
        y = ext.denoise(path, x)
        assert y.shape == x.shape and np.isfinite(y).all()
    # Strength 0 returns the input (time-aligned) exactly, whatever the network says.
    x = (0.1 * rng.standard_normal(9600)).astype(np.float32)
    y = ext.denoise(path, x, strength=0.0)
    assert np.abs(y - x).max() < 1e-6, np.abs(y - x).max()


def test_default_model(ext, tmp):
    path = REPO / "models" / "weights" / "default.gnvm"
    if not path.exists():
        print("  (models/weights/default.gnvm not there yet; skipped)")
        return
    feats = features_like(50, 1)
    g, v = ext.run_network(path, feats)
    assert np.isfinite(g).all() and (g >= 0).all() and (g <= 1).all()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    try:
        import gnvm_writer  # noqa: F401
    except ImportError as e:
        print(f"FAIL: tools/train/gnvm_writer.py missing ({e})")
        return 1
    ext = ghostnv_ext.GhostnvExt.open(args.lib_dir)
    failed = 0
    tests = [(k, v) for k, v in globals().items() if k.startswith("test_") and callable(v)]
    with tempfile.TemporaryDirectory() as d:
        for name, fn in tests:
            try:
                fn(ext, pathlib.Path(d))
                print(f"[ OK ] {name}")
            except Exception:
                failed += 1
                print(f"[FAIL] {name}")
                traceback.print_exc()
    print(f"{len(tests) - failed}/{len(tests)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
