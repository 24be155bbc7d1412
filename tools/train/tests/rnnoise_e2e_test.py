#!/usr/bin/env python3
"""Checks tools/train/rnnoise_e2e.py's PyTorch DSP against the C++ RNNoise family.

A random RNNoiseNet is exported to .gnvm with each DSP setting (high-pass on/off, pitch filter
1 / 0.5 / off); the same noisy signal goes through the engine (gnv_denoise_buffer) and through
rnnoise_e2e's pipeline: the shim's features and pitch periods -> the network in PyTorch ->
RnnoiseDsp (pitch filter, gain smoothing, interpolation, inverse FFT, overlap-add). The outputs
must agree (relative RMS error < 1e-4; the high-passed input comes from the shim). Also: the
band matrices against the engine's band energies through Exp (the features' pitch correlation
cepstrum), and gradients (finite; silent frames independent of the gains).

  python3 tools/train/tests/rnnoise_e2e_test.py --lib-dir build/tools/train
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

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)

import ghostnv_ext  # noqa: E402
import rnnoise_e2e as e2e  # noqa: E402
from export import export  # noqa: E402
from model import RNNoiseNet  # noqa: E402


def test_signal(n: int, seed: int) -> np.ndarray:
    """Noise, a voiced-like harmonic tone with a gliding pitch, and a silent stretch."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 48000.0
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    ph = 2 * np.pi * np.cumsum(f0) / 48000.0
    x = sum(0.08 / k * np.sin(k * ph) for k in range(1, 12)) + 0.02 * rng.standard_normal(n)
    x *= 0.5 + 0.5 * np.sin(2 * np.pi * 1.3 * t) ** 2
    x[n // 2:n // 2 + 4800] = 0.0            # ten silent frames
    x[:3] += 0.4                             # a step: exercises the high-pass
    return x.astype(np.float32)


def random_net(seed: int) -> RNNoiseNet:
    torch.manual_seed(seed)
    net = RNNoiseNet()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.5)
        net.denoise_output.bias.add_(0.5)     # gains spread over (0, 1)
    return net


def check_pipeline(ext, tmp: pathlib.Path, highpass: bool, pitch_filter: float) -> None:
    n = 480 * 301
    x = test_signal(n, 3)
    net = random_net(11)
    ck = {"model": net.state_dict(), "history": [], "config": {"seed": 11}, "epoch": 0}
    dsp_meta = {}
    if not highpass:
        dsp_meta["highpass"] = False
    if pitch_filter != 1.0:
        dsp_meta["pitch_filter"] = pitch_filter
    path = tmp / f"e2e_{int(highpass)}_{pitch_filter}.gnvm"
    export(ck, path, "test-rnnoise-e2e", "f32", {"rnnoise": dsp_meta} if dsp_meta else None)
    yc = ext.denoise(path, x)                                   # time-aligned
    f, _, _, silent, per, xin = ext.extract_features(x, x, highpass=highpass, periods=True)
    if not highpass:
        assert np.array_equal(xin, x), "the shim changed the input without the high-pass"
    dsp = e2e.RnnoiseDsp(pitch_filter)
    with torch.no_grad():
        X, P, Ex, Ep, Exp = dsp.analyse(torch.from_numpy(xin)[None], torch.from_numpy(per)[None])
        g, _ = e2e.run_net(net, torch.from_numpy(f)[None], torch.from_numpy(silent)[None])
        y = dsp.synthesise(X, P, Ex, Ep, Exp, g, torch.from_numpy(silent)[None])[0].numpy()
    m = n - 480
    err = float(np.sqrt(np.mean((y[480:] - yc[:m]) ** 2)) / np.sqrt(np.mean(yc[:m] ** 2)))
    # The pitch-correlation cepstrum in the features is BandDct(Exp): compare it directly.
    dct = np.array([[np.cos((j + .5) * k * np.pi / 22) * (np.sqrt(.5) if k == 0 else 1)
                     for j in range(22)] for k in range(6)]) * np.sqrt(2 / 22)
    pc = (Exp[0].numpy() @ dct.T)
    pc[:, 0] -= 1.3
    pc[:, 1] -= 0.9
    live = ~silent
    dpc = float(np.abs(pc[live] - f[live, 34:40]).max())
    tol = 1e-4
    print(f"e2e highpass={highpass} pitch_filter={pitch_filter}: output vs engine rel. RMS "
          f"error {err:.2e} (< {tol}), pitch-correlation features max diff {dpc:.2e}, "
          f"{int(silent.sum())} silent frames, gains std {float(g.std()):.3f}")
    assert silent.sum() >= 5 and float(g.std()) > 0.05, "degenerate test input"
    assert dpc < 2e-3, "Exp differs from the engine's"
    assert err < tol, "rnnoise_e2e's DSP differs from the C++ family"


def check_gradients() -> None:
    """The loss reaches the network through the pitch filter and the smoothing (no NaN)."""
    n = 480 * 40
    x = torch.from_numpy(test_signal(n, 5))[None]
    dsp = e2e.RnnoiseDsp(1.0)
    per = torch.full((1, n // 480), 200)
    X, P, Ex, Ep, Exp = dsp.analyse(x, per)
    g = torch.rand(1, n // 480, 22, requires_grad=True)
    silent = torch.zeros(1, n // 480, dtype=torch.bool)
    silent[0, 10:12] = True
    y = dsp.synthesise(X, P, Ex, Ep, Exp, g, silent)
    y.pow(2).sum().backward()
    assert torch.isfinite(g.grad).all(), "NaN/inf gradient"
    assert float(g.grad[0, 10:12].abs().max()) == 0.0, "silent frames must not depend on g"
    assert float(g.grad.abs().max()) > 0
    print("gradients: finite, silent frames independent of the gains")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib-dir", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ext = ghostnv_ext.GhostnvExt.open(args.lib_dir)
    failed = 0
    with tempfile.TemporaryDirectory() as td:
        checks = [(f"pipeline hp={hp} pf={pf}",
                   (lambda hp=hp, pf=pf: check_pipeline(ext, pathlib.Path(td), hp, pf)))
                  for hp, pf in [(False, 1.0), (False, 0.0), (False, 0.5), (True, 1.0),
                                 (True, 0.0)]]
        checks.append(("gradients", check_gradients))
        for name, fn in checks:
            try:
                fn()
            except Exception:  # noqa: BLE001
                failed += 1
                print(f"FAIL {name}")
                traceback.print_exc()
    print("FAILED" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
