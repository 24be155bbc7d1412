#!/usr/bin/env python3
"""Exports a training checkpoint to a .gnvm model file (family "rnnoise").

  python3 tools/train/export.py [--checkpoint tools/train/work/default/last.pt]
                                [--out models/weights/default.gnvm] [--name ghostnv-default]

Layouts written (models/ir.h): dense weights [inputs][units] (= torch weight transposed);
GRU weights [inputs][3*units] and recurrent [units][3*units] with gates ordered z, r, h
(PyTorch stores r, z, n: reordered here), bias = b_ih and recurrent_bias = b_hh (same reorder),
reset_after = true, candidate activation tanh.
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

from model import RNNoiseNet  # noqa: E402


def _zrh(t: torch.Tensor) -> np.ndarray:
    """PyTorch gate blocks (r, z, n) along axis 0 -> (z, r, n)."""
    r, z, n = t.detach().cpu().double().chunk(3, dim=0)
    return torch.cat([z, r, n], dim=0).numpy()


def layer_tensors(net: RNNoiseNet) -> tuple[list, dict]:
    """Returns (layers for the header, tensors name -> float32 array). The network's fixed
    input normalisation x' = (x - mean) / std is folded into every layer that reads the raw
    features (input_dense; the feature columns of noise_gru's and denoise_gru's input weights):
    W' = W / std, b' = b - (mean / std) . W, computed in float64."""
    layers, tensors = [], {}
    mean = net.feature_mean.detach().double().numpy()
    std = net.feature_std.detach().double().numpy()
    nf = len(mean)

    def fold(w: np.ndarray, b: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
        """w: [inputs][outputs] whose rows first..first+42 read the normalised features."""
        w = w.copy()
        rows = slice(first, first + nf)
        b = b - (mean / std) @ w[rows]
        w[rows] = w[rows] / std[:, None]
        return w, b

    def dense(name, lin: torch.nn.Linear, act: str, feature_row=None):
        w = lin.weight.detach().double().numpy().T          # [inputs][units]
        b = lin.bias.detach().double().numpy()
        if feature_row is not None:
            w, b = fold(w, b, feature_row)
        tensors[f"{name}.weights"] = np.ascontiguousarray(w, np.float32)
        tensors[f"{name}.bias"] = b.astype(np.float32)
        layers.append({"name": name, "kind": "dense", "inputs": lin.in_features,
                       "units": lin.out_features, "activation": act,
                       "tensors": {"weights": f"{name}.weights", "bias": f"{name}.bias"}})

    def gru(name, g: torch.nn.GRU, feature_row=None):
        assert g.num_layers == 1 and not g.bidirectional and g.bias
        w, b = _zrh(g.weight_ih_l0).T, _zrh(g.bias_ih_l0)
        if feature_row is not None:      # the input side only: outside the reset product
            w, b = fold(w, b, feature_row)
        tensors[f"{name}.weights"] = np.ascontiguousarray(w, np.float32)
        tensors[f"{name}.recurrent"] = np.ascontiguousarray(_zrh(g.weight_hh_l0).T, np.float32)
        tensors[f"{name}.bias"] = b.astype(np.float32)
        tensors[f"{name}.recurrent_bias"] = _zrh(g.bias_hh_l0).astype(np.float32)
        layers.append({"name": name, "kind": "gru", "inputs": g.input_size,
                       "units": g.hidden_size, "activation": "tanh", "reset_after": True,
                       "tensors": {k: f"{name}.{k}" for k in
                                   ("weights", "recurrent", "bias", "recurrent_bias")}})

    dense("input_dense", net.input_dense, "tanh", feature_row=0)
    gru("vad_gru", net.vad_gru)
    # noise_gru input = [dense 24, vad_gru 24, features 42]; denoise_gru = [vad 24, noise 48, f].
    gru("noise_gru", net.noise_gru, feature_row=net.input_dense.out_features
        + net.vad_gru.hidden_size)
    gru("denoise_gru", net.denoise_gru, feature_row=net.vad_gru.hidden_size
        + net.noise_gru.hidden_size)
    dense("denoise_output", net.denoise_output, "sigmoid")
    dense("vad_output", net.vad_output, "sigmoid")
    return layers, tensors


def checkpoint_metadata(ck: dict) -> dict:
    hist = ck.get("history") or [{}]
    last = hist[-1]
    cfg = ck.get("config", {})
    corpus = ck.get("corpus", {})
    return {
        "trained_by": "GhostNV tools/train (PyTorch)",
        "architecture": "RNNoise (Valin 2018): dense 42->24 tanh, GRU 24, GRU 48, GRU 96, "
                        "dense 96->22 sigmoid, dense 24->1 sigmoid",
        "data_root": ck.get("data_root"),
        "train_speech": sorted(corpus.get("train", {}).get("speech", {})),
        "train_noise": sorted(corpus.get("train", {}).get("noise", {})),
        "heldout_speech": sorted(corpus.get("heldout", {}).get("speech", {})),
        "heldout_noise": sorted(corpus.get("heldout", {}).get("noise", {})),
        "synthetic_noise_fraction": ck.get("mix", {}).get("p_synthetic_noise"),
        "seed": cfg.get("seed"),
        "train_data": cfg.get("train_data"),
        "epochs": ck.get("epoch"),
        "steps": ck.get("step"),
        "seq_len": cfg.get("seq_len"),
        "batch_size": cfg.get("batch_size"),
        "final_train_loss": last.get("train"),
        "final_val_loss": last.get("val"),
        "date": datetime.date.today().isoformat(),
        "licence_of_data": "see models/README.md (Default model)",
        **e2e_metadata(ck),
    }


def e2e_metadata(ck: dict) -> dict:
    """What rnnoise_e2e.py (end-to-end fine-tuning) and average_checkpoints.py added, if any."""
    e2e = (ck.get("config") or {}).get("e2e")
    if not e2e:
        return {}
    keys = ("seed", "batch_size", "segment_seconds", "max_seconds", "lr", "gain_weight",
            "sisdr_weight", "spec_weight", "spec_noise_asym", "vad_weight", "hi_snr_frac",
            "hi_snr_db", "dsp")
    out = {"e2e_finetune": {"script": "tools/train/rnnoise_e2e.py", "steps": ck.get("step"),
                            "data": ck.get("e2e_data"),
                            **{k: e2e[k] for k in keys if k in e2e}}}
    if ck.get("soup"):
        out["weight_average"] = ck["soup"]
    return out


def checkpoint_dsp(ck: dict) -> dict:
    """The DSP switches an rnnoise_e2e.py checkpoint was trained with (metadata.rnnoise)."""
    dsp = ((ck.get("config") or {}).get("e2e") or {}).get("dsp") or {}
    out = {}
    if dsp.get("highpass") is False:
        out["highpass"] = False
    if "pitch_filter" in dsp and float(dsp["pitch_filter"]) != 1.0:
        out["pitch_filter"] = float(dsp["pitch_filter"])
    return out


def export(ck: dict, out: pathlib.Path, name: str = "ghostnv-default", precision: str = "f32",
           extra_metadata: dict | None = None) -> None:
    from gnvm_writer import write_gnvm
    net = RNNoiseNet()
    net.load_state_dict(ck["model"])
    layers, tensors = layer_tensors(net)
    meta = checkpoint_metadata(ck)
    meta.update(extra_metadata or {})
    header = {"family": "rnnoise", "name": name, "sample_rate": 48000, "frame_size": 960,
              "hop_size": 480, "algorithmic_latency": 480, "math": "exact",
              "metadata": json.loads(json.dumps(meta, default=str)), "layers": layers}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_gnvm(str(out), header, tensors, precision=precision)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--checkpoint", default=str(HERE / "work" / "default" / "last.pt"))
    ap.add_argument("--out", default=str(REPO / "models" / "weights" / "default.gnvm"))
    ap.add_argument("--name", default="ghostnv-default")
    ap.add_argument("--precision", default="f32", choices=["f32", "f16", "i8"])
    ap.add_argument("--no-highpass", action="store_true",
                    help="metadata.rnnoise.highpass = false: no input DC high-pass at inference")
    ap.add_argument("--pitch-filter", type=float, default=None,
                    help="metadata.rnnoise.pitch_filter strength in [0, 1] (1 = RNNoise's)")
    ap.add_argument("--highpass", action="store_true",
                    help="keep the input high-pass even if the checkpoint was trained without")
    ap.add_argument("--low-cut-hz", type=float, default=None,
                    help="metadata.rnnoise.low_cut_hz in [0, 1000]: output bins below it zeroed "
                         "(bin k = k * 50 Hz; 40 = the DC bin only)")
    ap.add_argument("--pitch-order", choices=["sequential", "parallel"], default="parallel",
                    help="metadata.rnnoise.pitch_order: the summation order of the high-pass and pitch "
                         "analysis; parallel (default: the GPU's batched frontend is then the CPU's "
                         "exact twin) or sequential (RNNoise's / ffmpeg arnndn's)")
    ap.add_argument("--gain-bias", type=float, default=0.0,
                    help="added to denoise_output's bias after training (> 0: higher gains)")
    args = ap.parse_args(argv)
    ck = torch.load(args.checkpoint, weights_only=False, map_location="cpu")
    extra = {}
    # rnnoise_e2e.py checkpoints carry the DSP switches they were trained with; flags override.
    dsp = checkpoint_dsp(ck)
    if args.no_highpass:
        dsp["highpass"] = False
    if args.highpass:
        dsp.pop("highpass", None)
    if args.pitch_filter is not None:
        if not 0.0 <= args.pitch_filter <= 1.0:
            ap.error("--pitch-filter must be in [0, 1]")
        dsp.pop("pitch_filter", None)
        if args.pitch_filter != 1.0:
            dsp["pitch_filter"] = args.pitch_filter
    if args.low_cut_hz is not None:
        if not 0.0 <= args.low_cut_hz <= 1000.0:
            ap.error("--low-cut-hz must be in [0, 1000]")
        dsp.pop("low_cut_hz", None)
        if args.low_cut_hz > 0:
            dsp["low_cut_hz"] = args.low_cut_hz
    if args.pitch_order == "parallel":
        dsp["pitch_order"] = "parallel"
    else:
        dsp.pop("pitch_order", None)
    if dsp:
        extra["rnnoise"] = dsp
    if args.gain_bias:
        sd = dict(ck["model"])
        sd["denoise_output.bias"] = sd["denoise_output.bias"] + args.gain_bias
        ck = {**ck, "model": sd}
        extra["gain_bias_shift"] = args.gain_bias
    export(ck, pathlib.Path(args.out), args.name, args.precision, extra)
    print(f"wrote {args.out} from {args.checkpoint} (epoch {ck.get('epoch')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
