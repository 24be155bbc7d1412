#!/usr/bin/env python3
"""Export a causal Demucs (Facebook Denoiser, PyPI `denoiser`) to ONNX for ghostnv-convert.

    # a randomly initialised model (architecture support, tests, benchmarks)
    python3 tools/convert/export_demucs.py -o demucs48.onnx --config dns48 --seed 1
    python3 tools/convert/export_demucs.py -o small.onnx --config small --seed 7 --length 8000
    # the published weights (downloaded by denoiser on the user's machine)
    python3 tools/convert/export_demucs.py -o dns48.onnx --pretrained dns48
    python3 tools/convert/export_demucs.py -o dns48.onnx --config dns48 \
        --checkpoint dns48-11decc9d8e3f0998.th          # weights already downloaded
    tools/convert/ghostnv-convert -o dns48.gnvm dns48.onnx

The graph is `Demucs.forward` on a mono signal of a fixed length (`--length`, samples; the
traced graph bakes the length-dependent padding in — the converter reads only the weights and
the wiring, so any length works for conversion). Inside the graph: normalisation by the
signal's standard deviation (`normalize=True`), zero padding to `valid_length`, x2 / x4 sinc
upsampling (convolutions with a 112-tap windowed-sinc kernel), the encoder (Conv1d K/S, ReLU,
1x1 Conv1d, GLU as Split/Sigmoid/Mul), a 2-layer unidirectional LSTM (causal=True), the decoder
(skip Add, 1x1 Conv1d, GLU, ConvTranspose1d K/S, ReLU), sinc downsampling, the crop and the
multiplication by the standard deviation. Hyper-parameters the wiring does not show (sample
rate) travel in the ONNX metadata (`denoiser.*` keys). `--output-delay D` (samples) marks a
network trained to output the clean signal D samples late (tools/train/enhanced_train.py
output_delay): key `ghostnv.output_delay`, which the converter writes as metadata.demucs.
output_delay and adds to the model's algorithmic latency. `--skip-delay D` (samples, a multiple
of stride^depth / resample) marks a skip-delayed network (enhanced_train.py SkipDelayDemucs: the
skip of encoder level l reaches the decoder D * resample / stride^l frames late, zero history;
its output is D samples late, so output_delay must be D too, its default then): key
`ghostnv.skip_delay` -> metadata.demucs.skip_delay, which the C++ family turns into per-level
delay lines. The traced graph is always the plain `Demucs.forward` (the same weights; the delays
are not in the graph, only in the metadata).

Needs torch and denoiser (`pip install --no-deps denoiser`; it imports only torch here).
"""

import argparse
import sys

CONFIGS = {
    # The published real-time models (denoiser.pretrained.dns48 / dns64 / master64).
    "dns48": dict(hidden=48, depth=5, kernel_size=8, stride=4, resample=4),
    "dns64": dict(hidden=64, depth=5, kernel_size=8, stride=4, resample=4),
    # Small models for the committed test fixture and quick tests (< 1 MB as ONNX).
    "small": dict(hidden=8, depth=4, kernel_size=8, stride=4, resample=4),
    "tiny2": dict(hidden=4, depth=3, kernel_size=8, stride=4, resample=2),
}


def build_model(config="small", seed=0, **overrides):
    """A causal Demucs with random (seeded) weights, in eval mode."""
    import torch
    from denoiser.demucs import Demucs
    kw = dict(CONFIGS[config])
    kw.update(overrides)
    torch.manual_seed(seed)
    return Demucs(causal=True, **kw).eval()


def pretrained(name):
    """denoiser.pretrained.dns48() etc.: downloads the published weights (torch.hub cache)."""
    from denoiser import pretrained as pt
    return getattr(pt, name)().eval()


def from_checkpoint(path, config, allow_pickle=False):
    """A local file: a state dict of the given config (e.g. dns48-11decc9d8e3f0998.th), or a
    model package written by denoiser's training (dict with 'class', 'args', 'kwargs', 'state')."""
    import torch
    try:
        pkg = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a model package is a pickle with classes in it
        if not allow_pickle:
            raise SystemExit(f"export_demucs: {path} is not a plain state dict ({e}); if it is a "
                             "denoiser model package you trust, pass --allow-pickle")
        pkg = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(pkg, dict) and "class" in pkg and "state" in pkg:
        from denoiser.utils import deserialize_model
        return deserialize_model(pkg).eval()
    model = build_model(config)
    model.load_state_dict(pkg)
    return model.eval()


def check_skip_delay(model, skip_delay, output_delay):
    """The rules of metadata.demucs.skip_delay (the converter and the C++ family apply them
    too): an integer >= 0, skip_delay * resample a multiple of stride^depth (a whole number of
    frames at the deepest level), and output_delay == skip_delay when it is not 0."""
    sk, od = int(skip_delay), int(output_delay)
    unit = model.stride ** model.depth
    if sk < 0 or (sk * model.resample) % unit:
        raise ValueError(f"skip_delay {sk} must be >= 0 and a multiple of stride^depth / resample "
                         f"= {unit // model.resample} samples")
    if sk and od != sk:
        raise ValueError(f"output_delay {od} != skip_delay {sk}: a skip-delayed network outputs "
                         "the clean signal skip_delay samples late")


def export(model, path, length, opset=17, output_delay=0, skip_delay=0):
    """Traces Demucs.forward on [1, 1, length] and writes the ONNX file. output_delay > 0: the
    network outputs the clean signal that many samples late (ONNX metadata
    ghostnv.output_delay). skip_delay > 0 (== output_delay): the skips are delayed by that many
    samples (ONNX metadata ghostnv.skip_delay); the graph is still the plain forward, so a
    SkipDelayDemucs is traced as its parent class."""
    if int(output_delay) < 0:
        raise ValueError("output_delay must be >= 0")
    check_skip_delay(model, skip_delay, output_delay)
    import onnx
    import torch
    from denoiser.demucs import Demucs
    x = torch.zeros(1, 1, length)
    plain = type(model).forward is not Demucs.forward
    if plain:   # e.g. SkipDelayDemucs: trace the parent's forward on the same module
        model.forward = Demucs.forward.__get__(model)
    try:
        with torch.no_grad():
            torch.onnx.export(model, (x,), path, dynamo=False, input_names=["mix"],
                              output_names=["clean"], opset_version=opset)
    finally:
        if plain:
            del model.forward
    m = onnx.load(path)
    meta = {"denoiser.sample_rate": str(int(model.sample_rate)),
            "denoiser.length": str(length), "denoiser.causal": str(bool(model.causal)),
            "denoiser.floor": repr(float(model.floor)),
            "denoiser.normalize": str(bool(model.normalize))}
    if output_delay:
        meta["ghostnv.output_delay"] = str(int(output_delay))
    if skip_delay:
        meta["ghostnv.skip_delay"] = str(int(skip_delay))
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="dns48")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pretrained", choices=["dns48", "dns64", "master64"],
                    help="export the published weights instead of a random model")
    ap.add_argument("--checkpoint", help="a local weights file (state dict of --config, or a "
                    "denoiser model package) instead of a random model")
    ap.add_argument("--allow-pickle", action="store_true",
                    help="--checkpoint may be a pickled denoiser model package "
                    "(trusted files only)")
    ap.add_argument("--length", type=int, default=16000, help="traced signal length, samples")
    ap.add_argument("--output-delay", type=int, default=None,
                    help="samples by which the network's output lags the clean signal it was "
                    "trained on (training's output_delay; default: --skip-delay); added to the "
                    "model's latency")
    ap.add_argument("--skip-delay", type=int, default=0,
                    help="samples by which the network's skip connections are delayed "
                    "(enhanced_train.py skip_delay; a multiple of stride^depth / resample)")
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    if a.pretrained:
        model = pretrained(a.pretrained)
    elif a.checkpoint:
        model = from_checkpoint(a.checkpoint, a.config, a.allow_pickle)
    else:
        model = build_model(a.config, a.seed)
    if not model.causal:
        print("export_demucs: the model is not causal (BiLSTM); GhostNV runs causal Demucs only",
              file=sys.stderr)
        return 1
    od = a.skip_delay if a.output_delay is None else a.output_delay
    try:
        export(model, a.output, a.length, output_delay=od, skip_delay=a.skip_delay)
    except ValueError as e:
        print(f"export_demucs: {e}", file=sys.stderr)
        return 1
    n = sum(p.numel() for p in model.parameters())
    print(f"export_demucs: wrote {a.output} ({n} parameters, length {a.length})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
