#!/usr/bin/env python3
"""Export the enhanced model: checkpoint -> ONNX (tools/convert/export_demucs.py) ->
ghostnv-convert -> .gnvm, and check the result.

    python3 tools/train/enhanced_export.py --config tools/train/configs/enhanced.json \
        --checkpoint tools/train/work/enhanced/model.pt --out models/weights/enhanced.gnvm \
        --precision fp16 --lib build-enhanced/models/demucs/libghostnv_demucs_capi.so

Checks (printed; exit 1 when one fails):
  * onnxruntime on the ONNX graph vs PyTorch Demucs.forward (relative error <= 1e-4);
  * with --lib (the models/demucs C shim): the converted .gnvm (fp32 copy) streamed hop by hop
    by our C++ family vs denoiser's DemucsStreamer on the PyTorch model (relative error
    <= 1e-4), and the shipped precision vs fp32 (SNR of the difference, >= 35 dB for fp16);
    the family's hop, latency and CPU time per hop (real-time factor on one core).
A network trained with output_delay D (the config's key, or --output-delay) is exported with D in
its metadata: the .gnvm's latency is the streaming latency + D (checked), and the engine is
compared with DemucsStreamer (which knows no D) D samples later.
A skip-delayed network (the config's skip_delay D: enhanced_train.py SkipDelayDemucs; output_delay
must be D, its default) is exported with metadata.demucs.skip_delay = output_delay = D (the ONNX
graph is the plain Demucs.forward of the same weights, so onnxruntime is checked against that).
DemucsStreamer has no skip delays, so its engine checks are instead (resample 1 only):
  * the engine's offline forward (fp32 .gnvm) vs SkipDelayDemucs.forward (relative error <= 1e-4);
  * the engine streaming hop by hop vs SkipDelayDemucs.forward with the normalisation off on both
    sides (a copy of the fp32 .gnvm with metadata.demucs.normalize false): the streaming algorithm
    computes the whole-signal forward exactly then (resample 1: no resampler frame edges), so
    this checks the per-level skip delay lines (relative error <= 1e-4);
  * printed only: the engine streaming (normalised by the running variance) vs
    SkipDelayDemucs.forward (normalised by the whole signal's), SNR.
"""

import argparse
import os
import pathlib
import subprocess
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tools" / "convert"))
sys.path.insert(0, str(ROOT / "tools" / "convert" / "tests"))


def rel_err(ref, x):
    return float(np.abs(ref - x).max() / max(1e-12, np.abs(ref).max()))


def snr_db(ref, x):
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2)
                               / max(1e-30, np.sum((ref - x).astype(np.float64) ** 2))))


def test_signal(seconds, seed):
    """Speech-like test input without the data: harmonic bursts with a drifting pitch plus
    noise, at varying level (the checks compare implementations, not quality)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 48000)
    t = np.arange(n) / 48000
    f0 = 140 + 60 * np.sin(2 * np.pi * 0.7 * t)
    ph = 2 * np.pi * np.cumsum(f0) / 48000
    v = sum(np.sin(k * ph) / k for k in range(1, 12))
    env = (np.sin(2 * np.pi * 2.3 * t) > -0.2) * (0.3 + 0.7 * rng.random())
    x = 0.1 * v * env + 0.02 * rng.standard_normal(n)
    return (x * np.linspace(0.3, 1.2, n)).astype(np.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--checkpoint", required=True, help="model.pt (state dict) or last.pt")
    ap.add_argument("--out", required=True, help=".gnvm to write")
    ap.add_argument("--onnx", help="ONNX path (default: next to the checkpoint)")
    ap.add_argument("--precision", default="fp16", choices=["fp32", "fp16", "int8"])
    ap.add_argument("--lib", help="libghostnv_demucs_capi.so for the engine checks")
    ap.add_argument("--length", type=int, default=48000, help="traced length (samples)")
    ap.add_argument("--negate-output", action="store_true",
                    help="negate the output layer (last decoder's transposed conv): an exact "
                    "sign flip of the output (the H200 run's output came out inverted)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="config override as in enhanced_train.py (e.g. --set model.hidden=64)")
    ap.add_argument("--output-delay", type=int, default=None,
                    help="samples the output lags the clean signal (default: the config's "
                    "output_delay, else 0)")
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    import export_demucs
    from enhanced_train import build_model, load_config, training_output_delay
    from denoiser.demucs import Demucs
    try:
        cfg = load_config(a.config, a.set)
    except ValueError as e:
        ap.error(str(e))
    skip = int(cfg.get("skip_delay", 0) or 0)
    delay = a.output_delay if a.output_delay is not None else training_output_delay(cfg)
    if skip and delay != skip:
        raise SystemExit(f"enhanced_export: output_delay {delay} != skip_delay {skip} (a "
                         "skip-delayed network's output is skip_delay samples late)")
    model = build_model(cfg)
    sd = torch.load(a.checkpoint, map_location="cpu", weights_only=False)
    if isinstance(sd, dict) and "model" in sd and "step" in sd:
        sd = sd["model"]
    model.load_state_dict(sd)
    model.eval()
    if a.negate_output:
        with torch.no_grad():
            ct = model.decoder[-1][-1]
            ct.weight.neg_()
            ct.bias.neg_()
    onnx_path = a.onnx or str(pathlib.Path(a.checkpoint).with_suffix(".onnx"))
    export_demucs.export(model, onnx_path, a.length, output_delay=delay, skip_delay=skip)
    print(f"enhanced_export: wrote {onnx_path}")
    ok = True

    # onnxruntime vs PyTorch on the traced length.
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    x = test_signal(a.length / 48000, 3)
    with torch.no_grad():   # the graph is the plain forward (no skip delays) in any case
        ref = Demucs.forward(model, torch.from_numpy(x)[None, None]).numpy().reshape(-1)
    got = sess.run(None, {sess.get_inputs()[0].name: x.reshape(1, 1, -1)})[0].reshape(-1)
    e = rel_err(ref, got)
    ok &= e <= 1e-4
    print(f"check onnxruntime vs PyTorch: rel {e:.2e} ({'ok' if e <= 1e-4 else 'FAIL'})")

    conv = str(ROOT / "tools" / "convert" / "ghostnv-convert")
    out = pathlib.Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fp32 = str(pathlib.Path(onnx_path).with_suffix(".fp32.gnvm"))
    for path, prec in ((fp32, "fp32"), (str(out), a.precision)):
        r = subprocess.run([conv, "-o", path, onnx_path, "--precision", prec],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout, r.stderr, file=sys.stderr)
            return 1
    print(f"enhanced_export: wrote {out} ({out.stat().st_size} bytes, {a.precision})")

    if a.lib:
        import demucs_common as dm
        x = test_signal(6.0, 5)
        s32 = dm.Shim(a.lib, fp32)
        hop, lat = s32.hop, s32.latency
        stream_lat = lat - delay   # DemucsStreamer's own delay; the engine reports D more
        want = (-(-(model.valid_length(1) + 64) // hop) - 1) * hop
        ok &= stream_lat == want
        print(f"check latency: {lat} samples = streaming {stream_lat} + output_delay {delay} "
              f"({'ok' if stream_lat == want else f'FAIL: streaming should be {want}'})")
        n = x.size // hop * hop
        if skip:
            ok &= check_skip_delay_engine(a.lib, fp32, model, x, n, stream_lat)
        else:
            ok &= check_streamer(a.lib, fp32, model, x, n, stream_lat, hop, lat)
        ours = s32.stream(x[:n])[stream_lat:]
        m = ours.size
        sp = dm.Shim(a.lib, str(out))
        y = sp.stream(x[:n])[stream_lat:]
        s = snr_db(ours[:m], y[:m])
        lim = {"fp32": 100.0, "fp16": 35.0, "int8": 12.0}[a.precision]
        ok &= s >= lim
        print(f"check {a.precision} vs fp32 (engine, streaming): SNR {s:.1f} dB "
              f"({'ok' if s >= lim else 'FAIL'})")
        cpu, wall = sp.bench(400)
        print(f"engine CPU per hop: {cpu * 1e6:.0f} us thread CPU ({wall * 1e6:.0f} us wall) "
              f"for {hop / sp.sample_rate * 1e3:.2f} ms of audio -> RTF "
              f"{cpu / (hop / sp.sample_rate):.3f} on one core")
        s32.close()
        sp.close()
    print("enhanced_export: " + ("all checks passed" if ok else "a check FAILED"))
    return 0 if ok else 1


def stream_edited(lib, fp32, x, stream_lat, **demucs):
    """The engine streaming x through a temporary copy of the fp32 .gnvm whose metadata.demucs
    keys are set to `demucs` (e.g. normalize=False, norm_memory_frames=0), latency removed."""
    import demucs_common as dm
    from gnvm_writer import read_gnvm, write_gnvm
    header, tensors = read_gnvm(fp32)
    header["metadata"]["demucs"].update(demucs)
    path = fp32 + ".edited.gnvm"
    write_gnvm(path, header, tensors)
    try:
        sh = dm.Shim(lib, path)
        try:
            return sh.stream(x)[stream_lat:], sh.sample_rate
        finally:
            sh.close()
    finally:
        os.unlink(path)


def torch_forward(model, x):
    """model's whole-signal forward on the 1-D float32 array x, as a 1-D array."""
    import torch
    with torch.no_grad():
        return model(torch.from_numpy(x.copy())[None, None]).numpy().reshape(-1)


def check_streamer(lib, fp32, model, x, n, stream_lat, hop, lat):
    """The engine (fp32 .gnvm) streaming vs denoiser's DemucsStreamer, whose running variance
    never forgets: the engine runs a copy with metadata.demucs.norm_memory_frames 0 (its own
    default forgets after 3 s of hops; the test signal is 6 s)."""
    import torch
    from denoiser.demucs import DemucsStreamer
    st = DemucsStreamer(model)
    xt = torch.from_numpy(x[:n].copy())[None]
    with torch.no_grad():
        sref = torch.cat([st.feed(xt[:, i:i + hop]) for i in range(0, n, hop)], 1)[0].numpy()
    ours, sample_rate = stream_edited(lib, fp32, x[:n], stream_lat, norm_memory_frames=0)
    m = min(sref.size, ours.size)
    e = rel_err(sref[:m], ours[:m])
    ok = m > 0 and e <= 1e-4
    print(f"check engine (fp32 .gnvm, streaming) vs DemucsStreamer: rel {e:.2e}, "
          f"SNR {snr_db(sref[:m], ours[:m]):.1f} dB over {m} samples "
          f"({'ok' if ok else 'FAIL'}); hop {hop}, latency {lat} samples "
          f"({1000 * lat / sample_rate:.2f} ms)")
    return ok


def check_skip_delay_engine(lib, fp32, model, x, n, stream_lat):
    """A skip-delayed network: the engine vs SkipDelayDemucs.forward, offline, and streaming
    with the normalisation off on both sides (exact at resample 1); the normalised streaming
    output's SNR against the whole-signal forward is printed."""
    import copy
    import demucs_common as dm
    ok = True
    s32 = dm.Shim(lib, fp32)
    ref = torch_forward(model, x[:n])
    off = s32.offline(x[:n])
    e = rel_err(ref, off)
    ok &= e <= 1e-4
    print(f"check engine (fp32 .gnvm, offline) vs SkipDelayDemucs.forward (skip_delay "
          f"{model.skip_delay}): rel {e:.2e} ({'ok' if e <= 1e-4 else 'FAIL'})")
    if model.resample != 1:
        print("check engine streaming vs SkipDelayDemucs: skipped (resample != 1: the "
              "streaming resampler's frame edges differ from the whole-signal forward)")
        s32.close()
        return ok
    plain = copy.deepcopy(model)
    plain.normalize = False
    rref = torch_forward(plain, x[:n])
    got, _ = stream_edited(lib, fp32, x[:n], stream_lat, normalize=False)
    m = got.size
    e = rel_err(rref[:m], got)
    ok &= m > 0 and e <= 1e-4
    print(f"check engine (fp32 .gnvm, streaming, normalisation off) vs SkipDelayDemucs.forward "
          f"(normalisation off): rel {e:.2e}, SNR {snr_db(rref[:m], got):.1f} dB over {m} samples "
          f"({'ok' if e <= 1e-4 else 'FAIL'})")
    ours = s32.stream(x[:n])[stream_lat:]
    g = snr_db(ref[:ours.size], ours)
    print(f"engine streaming (running variance) vs SkipDelayDemucs.forward (global): SNR "
          f"{g:.1f} dB (the normalisation differs; not a check)")
    # the training's emulation of the engine's normalisation (enhanced_train.running_scale,
    # config key running_norm) must be closer to the engine than the global one
    import enhanced_train as et
    rnref = torch_forward(et.set_running_norm(copy.deepcopy(model)), x[:n])
    r = snr_db(rnref[:ours.size], ours)
    ok &= r >= g + 10.0
    print(f"check engine streaming (running variance) vs SkipDelayDemucs.forward (running_norm "
          f"emulation): SNR {r:.1f} dB, {r - g:+.1f} dB over the global normalisation's "
          f"({'ok' if r >= g + 10.0 else 'FAIL: should be >= 10 dB closer'})")
    s32.close()
    return ok


if __name__ == "__main__":
    sys.exit(main())
