#!/usr/bin/env python3
"""ONNX -> .gnvm for the ultra family, through the converter's front end (tools/convert:
onnx_lower.lower_model + patterns.optimise), plus this family recogniser.

  python3 tools/train/convert_ultra.py -o models/weights/ultra.gnvm tools/train/work/ultra/ultra.onnx
          [--precision fp32|fp16|int8] [--metadata-from models/weights/ultra.gnvm]

`recognise(programs)` / `build(stages, sources)` have the interface of tools/convert's family
registry (ghostnv_convert.FAMILIES), so registering the family there is one line:
`("ultra", family_ultra)` with this module's two functions. The graph it accepts is
export_ultra.py's one-hop graph: features[32], h1[U1], h2[U2] -> dense (tanh) -> GRU (state h1)
-> concat [gru1, dense] -> GRU (state h2) -> dense 32 (sigmoid) = gains; dense 1 (sigmoid) on
gru1 = vad; h1_out = gru1, h2_out = gru2. Every link is checked element by element.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "convert"))

from onnx_lower import SHIFT, ConvertError  # noqa: E402

SR, FRAME, HOP, LATENCY, NB = 48000, 384, 96, 96, 32


def _need(ok, p, what):
    if not ok:
        raise ConvertError(f"{p.name}: not an ultra graph: {what}")


def _reads(p, gather_op):
    """The (vid, index) pairs a gather reads, in order."""
    im = gather_op.attrs["imap"]
    _need(np.all(im > 0), p, "zero padding in a concatenation")
    vids = (im - 1) // SHIFT
    return list(zip(vids.tolist(), ((im - 1) - vids * SHIFT).tolist()))


def recognise(programs):
    """Returns the matched ops of an ultra one-hop graph, or None when it is not one."""
    if len(programs) != 1:
        return None
    p = programs[0]
    ops = [o for o in p.ops]
    kinds = [o.kind for o in ops]
    if kinds != ["dense", "gru", "gather", "gru", "dense", "dense"]:
        return None
    dense, g1, cat, g2, a, b = ops
    feats = p.inputs.get("features")
    if feats is None or p.size[feats] != NB:
        return None
    gain, vad = (a, b) if a.attrs["W"].shape[1] == NB else (b, a)
    _need(dense.inputs == [feats] and dense.attrs["act"] == "tanh", p, "input_dense")
    _need(g1.inputs[0] == dense.outs[0] and g1.inputs[1] == p.inputs.get("h1"), p, "gru1 wiring")
    want = [(g1.outs[0], i) for i in range(p.size[g1.outs[0]])] + \
           [(dense.outs[0], i) for i in range(p.size[dense.outs[0]])]
    _need(_reads(p, cat) == want, p, "gru2 input must be [gru1, input_dense]")
    _need(g2.inputs[0] == cat.outs[0] and g2.inputs[1] == p.inputs.get("h2"), p, "gru2 wiring")
    _need(gain.inputs == [g2.outs[0]] and gain.attrs["act"] == "sigmoid", p, "gain_output")
    _need(vad.inputs == [g1.outs[0]] and vad.attrs["act"] == "sigmoid"
          and vad.attrs["W"].shape[1] == 1, p, "vad_output")
    _need(p.outputs.get("gains") == gain.outs[0] and p.outputs.get("vad") == vad.outs[0]
          and p.outputs.get("h1_out") == g1.outs[0] and p.outputs.get("h2_out") == g2.outs[0],
          p, "graph outputs")
    for g in (g1, g2):
        _need(g.attrs["reset_after"] or g.attrs["rb"] is None, p, "GRU recurrent bias convention")
    return {"input_dense": dense, "gru1": g1, "gru2": g2, "gain_output": gain,
            "vad_output": vad}


def build(stages, sources):
    layers, tensors = [], {}
    for name in ("input_dense", "gru1", "gru2", "gain_output", "vad_output"):
        op = stages[name]
        t = {"weights": f"{name}.weights"}
        tensors[f"{name}.weights"] = np.ascontiguousarray(op.attrs["W"], np.float32)
        if op.kind == "dense":
            if op.attrs["b"] is not None:
                t["bias"] = f"{name}.bias"
                tensors[f"{name}.bias"] = np.asarray(op.attrs["b"], np.float32).reshape(-1)
            layers.append({"name": name, "kind": "dense", "inputs": int(op.attrs["W"].shape[0]),
                           "units": int(op.attrs["W"].shape[1]), "activation": op.attrs["act"],
                           "tensors": t})
        else:
            t["recurrent"] = f"{name}.recurrent"
            tensors[f"{name}.recurrent"] = np.ascontiguousarray(op.attrs["R"], np.float32)
            for role, key in (("bias", "b"), ("recurrent_bias", "rb")):
                if op.attrs[key] is not None:
                    t[role] = f"{name}.{role}"
                    tensors[f"{name}.{role}"] = np.asarray(op.attrs[key], np.float32)
            layers.append({"name": name, "kind": "gru", "inputs": int(op.attrs["W"].shape[0]),
                           "units": int(op.attrs["units"]), "activation": "tanh",
                           "reset_after": bool(op.attrs["reset_after"]), "tensors": t})
    header = {"family": "ultra", "name": "ghostnv-ultra", "sample_rate": SR, "frame_size": FRAME,
              "hop_size": HOP, "algorithmic_latency": LATENCY, "math": "exact",
              "metadata": {"source_format": "onnx", "sources": sources}, "layers": layers}
    return header, tensors


def main(argv=None) -> int:
    import onnx_lower
    import patterns
    from gnvm_writer import write_gnvm
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp32")
    ap.add_argument("--metadata-from", default=None,
                    help="copy name and metadata (training provenance) from this .gnvm")
    ap.add_argument("model")
    a = ap.parse_args(argv)
    try:
        prog = patterns.optimise(onnx_lower.lower_model(a.model, os.path.basename(a.model)))
        stages = recognise([prog])
        if stages is None:
            raise ConvertError(f"{a.model}: not an ultra one-hop graph")
        header, tensors = build(stages, [os.path.basename(a.model)])
    except ConvertError as e:
        print(f"convert_ultra: error: {e}", file=sys.stderr)
        return 1
    if a.metadata_from:
        from export_ultra import header_of_file
        h = header_of_file(a.metadata_from)
        header["name"] = h["name"]
        header["metadata"] = dict(h.get("metadata", {}), **header["metadata"])
    header["metadata"]["precision"] = a.precision
    header["metadata"]["converted_by"] = "tools/convert onnx_lower + patterns, " \
                                         "tools/train/convert_ultra.py recogniser"
    header["metadata"] = json.loads(json.dumps(header["metadata"], default=str))
    write_gnvm(a.output, header, tensors, {"fp32": "f32", "fp16": "f16", "int8": "i8"}[
        a.precision])
    print(f"convert_ultra: wrote {a.output} (family ultra, {a.precision})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
