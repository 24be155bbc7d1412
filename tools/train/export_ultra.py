#!/usr/bin/env python3
"""Exports an ultra training checkpoint to ONNX and to a .gnvm model file (family "ultra").

  python3 tools/train/export_ultra.py [--checkpoint tools/train/work/ultra/last.pt]
          [--out models/weights/ultra.gnvm] [--onnx tools/train/work/ultra/ultra.onnx]
          [--name ghostnv-ultra] [--precision f32|f16|i8]

ONNX: one hop with explicit state, (features [1,32], h1 [1,96], h2 [1,96]) -> (gains [1,32],
vad [1,1], h1', h2'), opset 17, GRUs as ONNX GRU nodes (linear_before_reset=1). This is what
tools/convert/ghostnv-convert takes when it handles it; otherwise the .gnvm is written directly
(gnvm_writer.py) with the same layout: dense weights [inputs][units]; GRU weights
[inputs][3*units] / recurrent [units][3*units] with gates z, r, h (PyTorch's r, z, n reordered),
bias = b_ih, recurrent_bias = b_hh, reset_after = true, tanh candidate. The fixed input
normalisation is folded into input_dense (the file takes the raw features).
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import sys

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from export import _zrh  # noqa: E402
from ultra_model import UltraNet, UltraStep  # noqa: E402

SR, FRAME, HOP, LATENCY = 48000, 384, 96, 96


def header_of_file(path) -> dict:
    """The JSON header of a .gnvm file."""
    import struct
    raw = pathlib.Path(path).read_bytes()
    n = struct.unpack("<Q", raw[8:16])[0]
    return json.loads(raw[16:16 + n])


def load_net(ck: dict) -> UltraNet:
    net = UltraNet(**(ck.get("net") or ck.get("config", {}).get("net", {})))
    net.load_state_dict(ck["model"])
    net.eval()
    return net


def layer_tensors(net: UltraNet) -> tuple[list, dict]:
    layers, tensors = [], {}
    mean = net.feature_mean.detach().double().numpy()
    std = net.feature_std.detach().double().numpy()

    def dense(name, lin, act, fold=False):
        w = lin.weight.detach().double().numpy().T
        b = lin.bias.detach().double().numpy()
        if fold:
            b = b - (mean / std) @ w
            w = w / std[:, None]
        tensors[f"{name}.weights"] = np.ascontiguousarray(w, np.float32)
        tensors[f"{name}.bias"] = b.astype(np.float32)
        layers.append({"name": name, "kind": "dense", "inputs": lin.in_features,
                       "units": lin.out_features, "activation": act,
                       "tensors": {"weights": f"{name}.weights", "bias": f"{name}.bias"}})

    def gru(name, g):
        tensors[f"{name}.weights"] = np.ascontiguousarray(_zrh(g.weight_ih_l0).T, np.float32)
        tensors[f"{name}.recurrent"] = np.ascontiguousarray(_zrh(g.weight_hh_l0).T, np.float32)
        tensors[f"{name}.bias"] = _zrh(g.bias_ih_l0).astype(np.float32)
        tensors[f"{name}.recurrent_bias"] = _zrh(g.bias_hh_l0).astype(np.float32)
        layers.append({"name": name, "kind": "gru", "inputs": g.input_size,
                       "units": g.hidden_size, "activation": "tanh", "reset_after": True,
                       "tensors": {k: f"{name}.{k}" for k in
                                   ("weights", "recurrent", "bias", "recurrent_bias")}})

    dense("input_dense", net.input_dense, "tanh", fold=True)
    gru("gru1", net.gru1)
    gru("gru2", net.gru2)
    dense("gain_output", net.gain_output, "sigmoid")
    dense("vad_output", net.vad_output, "sigmoid")
    return layers, tensors


def metadata(ck: dict) -> dict:
    hist = ck.get("history") or [{}]
    cfg = ck.get("config", {})
    corpus = ck.get("corpus", {})
    s = ck.get("net") or cfg.get("net", {})
    m = {
        "trained_by": "GhostNV tools/train (PyTorch), train_ultra.py",
        "architecture": f"ultra: 32 log band energies (2 ms hop, 8 ms asymmetric analysis "
                        f"window) -> dense {s.get('dense')} tanh -> GRU {s.get('gru1')} -> "
                        f"GRU {s.get('gru2')} (input [gru1, dense]) -> dense 32 sigmoid band "
                        f"gains; dense 1 sigmoid VAD from gru1",
        "algorithmic_latency_ms": LATENCY * 1000 / SR,
        "data_root": ck.get("data_root"),
        "train_speech": sorted(corpus.get("train", {}).get("speech", {})),
        "train_noise": sorted(corpus.get("train", {}).get("noise", {})),
        "heldout_speech": sorted(corpus.get("heldout", {}).get("speech", {})),
        "heldout_noise": sorted(corpus.get("heldout", {}).get("noise", {})),
        "mix": ck.get("mix"),
        "seed": cfg.get("seed"),
        "train_data": cfg.get("train_data"),
        "epochs": ck.get("epoch"),
        "steps": ck.get("step"),
        "seq_len": cfg.get("seq_len"),
        "batch_size": cfg.get("batch_size"),
        "final_train_loss": hist[-1].get("train"),
        "final_val_loss": hist[-1].get("val"),
        "date": datetime.date.today().isoformat(),
        "licence_of_data": "see models/README.md (Ultra-low-latency model)",
    }
    if cfg.get("e2e"):
        # an end-to-end fine-tuning (ultra_e2e.py) of the train_ultra.py model described above
        e = {k: v for k, v in cfg["e2e"].items() if k != "comment"}
        m["fine_tuning"] = {"script": "tools/train/ultra_e2e.py", "steps": ck.get("step"),
                            "data": ck.get("e2e_data"), "config": e}
    if ck.get("soup"):
        m["weight_average"] = ck["soup"]   # average_checkpoints.py
    return m


def export_onnx(net: UltraNet, path: pathlib.Path) -> None:
    """The one-hop graph with the input normalisation folded into input_dense (raw features in,
    like the .gnvm): Gemm, Tanh, GRU, Concat, GRU, Gemm, Sigmoid nodes only."""
    import copy
    folded = copy.deepcopy(net).fold_normalisation()
    step = UltraStep(folded).eval()
    u1, u2 = net.gru1.hidden_size, net.gru2.hidden_size
    args = (torch.zeros(1, 32), torch.zeros(1, u1), torch.zeros(1, u2))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(step, args, str(path), input_names=["features", "h1", "h2"],
                      output_names=["gains", "vad", "h1_out", "h2_out"], opset_version=17,
                      dynamo=False)


def export_gnvm(ck: dict, out: pathlib.Path, name: str, precision: str, extra=None) -> None:
    from gnvm_writer import write_gnvm
    net = load_net(ck)
    layers, tensors = layer_tensors(net)
    meta = metadata(ck)
    meta.update(extra or {})
    header = {"family": "ultra", "name": name, "sample_rate": SR, "frame_size": FRAME,
              "hop_size": HOP, "algorithmic_latency": LATENCY, "math": "exact",
              "metadata": json.loads(json.dumps(meta, default=str)), "layers": layers}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_gnvm(str(out), header, tensors, precision=precision)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--checkpoint", default=str(HERE / "work" / "ultra" / "last.pt"))
    ap.add_argument("--out", default=str(REPO / "models" / "weights" / "ultra.gnvm"))
    ap.add_argument("--onnx", default=str(HERE / "work" / "ultra" / "ultra.onnx"))
    ap.add_argument("--name", default="ghostnv-ultra")
    ap.add_argument("--precision", default="f32", choices=["f32", "f16", "i8"])
    ap.add_argument("--no-gnvm", action="store_true", help="ONNX only (converter path)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ck = torch.load(args.checkpoint, weights_only=False, map_location="cpu")
    if args.onnx:
        export_onnx(load_net(ck), pathlib.Path(args.onnx))
        print(f"wrote {args.onnx}")
    if not args.no_gnvm:
        export_gnvm(ck, pathlib.Path(args.out), args.name, args.precision)
        print(f"wrote {args.out} from {args.checkpoint} (epoch {ck.get('epoch')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
