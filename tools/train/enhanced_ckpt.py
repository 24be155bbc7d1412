#!/usr/bin/env python3
"""Shrink an enhanced-model state dict for the trip back from the GPU machine, and restore it.

A training call may return only a few files of at most 16 MiB each, and a 48 kHz causal Demucs
(hidden 48) is 10.7 MB in fp32, 5.3 MB in fp16. Fine-tuned weights are sent as their difference
from the initial weights (a file both machines hold), quantised to int8 with one scale per
output row: after a short fine-tuning the difference is a few per cent of the weights, so its
int8 rounding error is far below the fp16 rounding the exported .gnvm applies anyway. Weights
without a base (e.g. a widened model's new units) are sent in fp16.

    python3 tools/train/enhanced_ckpt.py shrink model.pt small.pt [--base init.pt] [--fold-lstm-bias]
    python3 tools/train/enhanced_ckpt.py expand small.pt model.pt [--base init.pt]
    python3 tools/train/enhanced_ckpt.py widen narrow.pt wide_fp16.pt --config CFG \
        --set model.hidden=64 [--seed N]
    python3 tools/train/enhanced_ckpt.py from-gnvm models/weights/enhanced.gnvm init.pt

from-gnvm inverts tools/convert/family_demucs.py's lowering: a demucs .gnvm (fp32, fp16 or
int8 tensors) back to the PyTorch Demucs state dict (denoiser's parameter names; the LSTM's two
biases summed into bias_ih, bias_hh zero), written in fp16 (the .gnvm's weight precision), so
training can start from a shipped file when no checkpoint is left.

widen writes the function-preserving widening of a narrower model (enhanced_train.
widen_state_dict; the new units drawn from torch's generator seeded with --seed, default the
config's seed) in fp16: a file both machines can hold, so a wide run's weights can come back
as int8 differences too.

--fold-lstm-bias (shrink) first moves each LSTM layer's bias_hh into its bias_ih (the gates use
only their sum, so the network computes the same): the layout from-gnvm writes, so a run's weights
can be sent as small differences from a base made on the device from the shipped .gnvm.

Prints the largest reconstruction error relative to each tensor's largest magnitude (shrink).
"""

import argparse
import sys

import torch


def fold_lstm_bias(sd):
    """The same network with each LSTM layer's bias_hh added into bias_ih and bias_hh zero (the
    layout gnvm_to_state_dict writes); other tensors unchanged."""
    out = dict(sd)
    for k in sd:
        if ".bias_ih_l" in k:
            kh = k.replace(".bias_ih_l", ".bias_hh_l")
            if kh in sd:
                out[k] = (sd[k].float() + sd[kh].float()).to(sd[k].dtype)
                out[kh] = torch.zeros_like(sd[kh])
    return out


def shrink(sd, base=None):
    out = {}
    for k, v in sd.items():
        v = v.detach().float().cpu()
        b = None if base is None else base.get(k)
        if b is not None and tuple(b.shape) == tuple(v.shape) and v.dim() >= 1:
            d = v - b.float()
            rows = d.reshape(d.shape[0], -1) if d.dim() > 1 else d.reshape(1, -1)
            scale = rows.abs().amax(1, keepdim=True).clamp(min=1e-30) / 127.0
            q = torch.round(rows / scale).clamp(-127, 127).to(torch.int8)
            out[k] = {"q": q, "scale": scale.squeeze(1), "shape": list(v.shape)}
        else:
            out[k] = {"f16": v.half()}
    return {"format": "enhanced_ckpt/1", "delta": base is not None, "tensors": out}


def expand(small, base=None):
    sd = {}
    for k, e in small["tensors"].items():
        if "f16" in e:
            sd[k] = e["f16"].float()
        else:
            if base is None:
                raise ValueError(f"{k}: an int8 difference needs --base")
            d = (e["q"].float() * e["scale"][:, None]).reshape(e["shape"])
            sd[k] = base[k].float() + d
    return sd


def gnvm_to_state_dict(path):
    """A demucs .gnvm -> (Demucs state dict in fp32, the .gnvm header). The inverse of
    family_demucs.build: encoder conv [K*cin][cout] -> (cout, cin, K); 1x1 convs [cin][g*cout]
    -> (g*cout, cin, 1); transposed convs [cin][K*cout] -> (cin, cout, K); LSTM
    [W_ih^T; W_hh^T] (gates i, f, g, o: PyTorch's order) with one summed bias."""
    import pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    import numpy as np
    from gnvm_writer import read_gnvm
    header, t = read_gnvm(path)
    if header.get("family") != "demucs":
        raise ValueError(f"{path}: family {header.get('family')!r} is not 'demucs'")
    d = header["metadata"]["demucs"]
    if d.get("resample", 1) != 1:
        raise ValueError(f"{path}: only resample 1 models (the enhanced family) are supported")
    depth, K = int(d["depth"]), int(d["kernel_size"])
    lay = {l["name"]: l for l in header["layers"]}

    def get(name, what):
        ref = lay[name]["tensors"].get(what)
        return None if ref is None else t[ref]

    sd = {}
    for i in range(depth):
        w = get(f"encoder{i}.conv", "weights")                    # [K*cin][cout]
        cout = w.shape[1]
        sd[f"encoder.{i}.0.weight"] = w.reshape(K, -1, cout).transpose(2, 1, 0)
        sd[f"encoder.{i}.0.bias"] = get(f"encoder{i}.conv", "bias")
        sd[f"encoder.{i}.2.weight"] = get(f"encoder{i}.pw", "weights").T[:, :, None]
        sd[f"encoder.{i}.2.bias"] = get(f"encoder{i}.pw", "bias")
    for j in range(depth):
        sd[f"decoder.{j}.0.weight"] = get(f"decoder{j}.pw", "weights").T[:, :, None]
        sd[f"decoder.{j}.0.bias"] = get(f"decoder{j}.pw", "bias")
        w = get(f"decoder{j}.convtr", "weights")                  # [cin][K*cout]
        sd[f"decoder.{j}.2.weight"] = w.reshape(w.shape[0], K, -1).transpose(0, 2, 1)
        sd[f"decoder.{j}.2.bias"] = get(f"decoder{j}.convtr_bias", "bias")
    for k in range(int(d["lstm_layers"])):
        W = get(f"lstm{k}", "weights")                            # [2h][4h]
        h = W.shape[1] // 4
        sd[f"lstm.lstm.weight_ih_l{k}"] = W[:h].T
        sd[f"lstm.lstm.weight_hh_l{k}"] = W[h:].T
        sd[f"lstm.lstm.bias_ih_l{k}"] = get(f"lstm{k}", "bias")
        sd[f"lstm.lstm.bias_hh_l{k}"] = np.zeros(4 * h, np.float32)
    return {k: torch.from_numpy(np.ascontiguousarray(v, np.float32)) for k, v in sd.items()}, \
        header


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["shrink", "expand", "widen", "from-gnvm"])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--base", help="the initial weights (state dict) the difference is taken to")
    ap.add_argument("--config", help="widen: the training config")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="widen: config overrides (enhanced_train.py --set)")
    ap.add_argument("--seed", type=int, help="widen: seed of the new units (default: config)")
    ap.add_argument("--fold-lstm-bias", action="store_true",
                    help="shrink: move the LSTM's bias_hh into bias_ih first (from-gnvm's layout)")
    a = ap.parse_args(argv)
    if a.fold_lstm_bias and a.mode != "shrink":
        ap.error("--fold-lstm-bias applies to shrink only")
    if a.mode == "from-gnvm":
        sd, header = gnvm_to_state_dict(a.src)
        torch.save({k: v.half() for k, v in sd.items()}, a.dst)
        print(f"enhanced_ckpt: {a.dst}: {header['name']}, hidden "
              f"{header['metadata']['demucs']['hidden']}, "
              f"{sum(v.numel() for v in sd.values())} parameters (fp16)")
        return 0
    src = torch.load(a.src, map_location="cpu", weights_only=True)
    if a.mode == "widen":
        import pathlib
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
        import enhanced_train as et
        try:
            cfg = et.load_config(a.config, a.set)
        except ValueError as e:
            ap.error(str(e))
        torch.manual_seed(a.seed if a.seed is not None else cfg["seed"])
        big = et.build_model(cfg)
        w = et.widen_state_dict({k: v.float() for k, v in src.items()}, big)
        torch.save({k: v.half() for k, v in w.items()}, a.dst)
        print(f"enhanced_ckpt: {a.dst}: hidden {cfg['model']['hidden']}, "
              f"{sum(v.numel() for v in w.values())} parameters")
        return 0
    base = torch.load(a.base, map_location="cpu", weights_only=True) if a.base else None
    if a.mode == "shrink":
        if a.fold_lstm_bias:
            src = fold_lstm_bias(src)
        small = shrink(src, base)
        err = 0.0
        for k, v in expand(small, base).items():
            err = max(err, float((v - src[k].float()).abs().max()
                                 / src[k].float().abs().max().clamp(min=1e-30)))
        torch.save(small, a.dst)
        print(f"enhanced_ckpt: {a.dst}: {len(src)} tensors, max rel. error {err:.2e}")
    else:
        torch.save(expand(src, base), a.dst)
        print(f"enhanced_ckpt: {a.dst}: {len(src['tensors'])} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
