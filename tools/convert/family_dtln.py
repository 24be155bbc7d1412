"""DTLN (Westhausen & Meyer 2020): recognise its two stages in lowered programs, emit .gnvm.

Stage 1 (model_1.onnx): |rFFT| [257] -> LSTM 257->128 -> LSTM 128->128 -> dense sigmoid -> mask
Stage 2 (model_2.onnx): frame [512] -> encoder (pointwise conv, no bias) -> instant layer norm
        -> LSTM -> LSTM -> dense sigmoid mask -> encoded * mask -> decoder (pointwise conv)
Each stage carries a state tensor [1, 2, units, 2] = (layer, unit, h/c), checked element by
element here from the lowered gathers (not assumed from names).

.gnvm layout written (kinds the format already has, see tools/convert/README.md):
  stageS.lstmK   dense over [x; h] (inputs = in + units, units = 4*units, identity), the LSTM's
                 gate pre-activations, gate blocks ordered i, f, g, o; extra key "op": "lstm"
  stage1.mask, stage2.mask   dense, sigmoid
  stage2.encoder, stage2.decoder   dense, no bias
  stage2.norm    dense inputs=1: weights [1, n] = gamma, bias = beta; extra key "op":
                 "layer_norm"; epsilon in metadata.dtln.norm_epsilon
"""

import numpy as np

from onnx_lower import SHIFT, ConvertError

SAMPLE_RATE, FRAME, HOP = 16000, 512, 128


def _compute_ops(p):
    return [o for o in p.ops if o.kind != "gather"]


def _gather_src(p, vid):
    """(source vid, index array) of a gather op producing vid, or (vid, arange)."""
    op = p.producer(vid)
    if op is None or op.kind != "gather":
        return vid, np.arange(p.size[vid])
    im = op.attrs["imap"]
    srcs = (im - 1) // SHIFT
    if np.any(im <= 0) or np.any(srcs != srcs[0]):
        return None, None
    return int(srcs[0]), (im - 1) - srcs[0] * SHIFT


def _need(cond, p, msg):
    if not cond:
        raise ConvertError(f"{p.name}: not a DTLN stage: {msg}")


def _check_states(p, lstms, units):
    """The state input/output are [1, L, units, 2] = (layer, unit, h/c)."""
    nl = len(lstms)
    src0, _ = _gather_src(p, lstms[0].inputs[1])
    state_in = [n for n, v in p.inputs.items() if v == src0 and p.size[v] == nl * units * 2]
    state_out = [n for n, v in p.outputs.items() if p.size[v] == nl * units * 2
                 and p.producer(v) is not None and p.producer(v).kind == "gather"]
    _need(len(state_in) == 1 and len(state_out) == 1, p, "one state input and output expected")
    sin = p.inputs[state_in[0]]
    for k, op in enumerate(lstms):
        for j, v in enumerate(op.inputs[1:3]):
            src, idx = _gather_src(p, v)
            want = k * units * 2 + np.arange(units) * 2 + j
            _need(src == sin and np.array_equal(idx, want), p,
                  f"LSTM {k} {'hc'[j]} state is not input[0, {k}, :, {j}]")
    gop = p.producer(p.outputs[state_out[0]])
    _need(gop is not None and gop.kind == "gather", p, "state output is not assembled from LSTMs")
    im = gop.attrs["imap"]
    for k, op in enumerate(lstms):
        for j in range(2):
            pos = k * units * 2 + np.arange(units) * 2 + j
            want = np.int64(op.outs[j]) * SHIFT + np.arange(units) + 1
            _need(np.array_equal(im[pos], want), p,
                  f"state output[0, {k}, :, {j}] is not LSTM {k}'s {'hc'[j]}")
    return state_in[0], state_out[0]


def _lstm_tensors(op):
    w = np.concatenate([op.attrs["Wx"], op.attrs["Wh"]], axis=0).astype(np.float32)
    return w, op.attrs["b"].astype(np.float32)


def match_stage1(p):
    ops = _compute_ops(p)
    _need([o.kind for o in ops] == ["lstm", "lstm", "dense"], p,
          f"expected LSTM, LSTM, dense; found {[o.kind for o in ops]}")
    l0, l1, d = ops
    units = l0.attrs["units"]
    mag = [n for n, v in p.inputs.items() if v == l0.inputs[0]]
    _need(len(mag) == 1 and p.size[l0.inputs[0]] == FRAME // 2 + 1, p,
          "the first LSTM must read the 257-bin magnitude input")
    _need(l1.inputs[0] == l0.outs[0] and d.inputs[0] == l1.outs[0], p, "layers not chained")
    _need(l1.attrs["units"] == units and d.attrs["act"] == "sigmoid"
          and d.attrs["W"].shape == (units, FRAME // 2 + 1), p, "mask layer shape")
    mask = [n for n, v in p.outputs.items() if v == d.outs[0]]
    _need(len(mask) == 1, p, "the mask must be a graph output")
    sin, sout = _check_states(p, [l0, l1], units)
    return {"lstm": [l0, l1], "mask": d, "units": units,
            "io": {"magnitude": mag[0], "state_in": sin, "mask": mask[0], "state_out": sout}}


def match_stage2(p):
    ops = _compute_ops(p)
    kinds = [o.kind for o in ops]
    _need(kinds == ["dense", "layer_norm", "lstm", "lstm", "dense", "mul", "dense"], p,
          f"expected encoder, norm, LSTM, LSTM, dense, mul, decoder; found {kinds}")
    enc, norm, l0, l1, m, mul, dec = ops
    units = l0.attrs["units"]
    frame = [n for n, v in p.inputs.items() if v == enc.inputs[0]]
    _need(len(frame) == 1 and p.size[enc.inputs[0]] == FRAME, p, "encoder must read the frame")
    feat = enc.attrs["W"].shape[1]
    _need(enc.attrs["act"] == "identity" and dec.attrs["act"] == "identity", p,
          "encoder/decoder must be linear")
    _need(norm.inputs[0] == enc.outs[0] and l0.inputs[0] == norm.outs[0]
          and l1.inputs[0] == l0.outs[0] and m.inputs[0] == l1.outs[0], p, "layers not chained")
    _need(sorted(mul.inputs) == sorted([enc.outs[0], m.outs[0]]) and dec.inputs[0] == mul.outs[0],
          p, "the mask must multiply the encoder output feeding the decoder")
    _need(m.attrs["act"] == "sigmoid" and m.attrs["W"].shape == (units, feat), p, "mask shape")
    _need(dec.attrs["W"].shape == (feat, FRAME), p, "decoder shape")
    out = [n for n, v in p.outputs.items() if v == dec.outs[0]]
    _need(len(out) == 1, p, "decoder output must be a graph output")
    sin, sout = _check_states(p, [l0, l1], units)
    return {"lstm": [l0, l1], "mask": m, "enc": enc, "dec": dec, "norm": norm, "units": units,
            "io": {"frame": frame[0], "state_in": sin, "frame_out": out[0], "state_out": sout}}


def recognise(programs):
    """programs: list of Program. Returns the matched stages or None when not DTLN-shaped."""
    if len(programs) != 2:
        return None
    by_input = {}
    for p in programs:
        sizes = sorted(p.size[v] for v in p.inputs.values())
        by_input[tuple(sizes)] = p
    s1 = next((p for k, p in by_input.items() if FRAME // 2 + 1 in k), None)
    s2 = next((p for k, p in by_input.items() if FRAME in k and FRAME // 2 + 1 not in k), None)
    if s1 is None or s2 is None:
        return None
    return match_stage1(s1), match_stage2(s2)


def build(stages, sources):
    st1, st2 = stages
    layers, tensors = [], {}

    def dense(name, w, b, act, **extra):
        t = {"weights": f"{name}.weights"}
        tensors[f"{name}.weights"] = np.ascontiguousarray(w, np.float32)
        if b is not None:
            t["bias"] = f"{name}.bias"
            tensors[f"{name}.bias"] = np.ascontiguousarray(b, np.float32).reshape(-1)
        layers.append(dict({"name": name, "kind": "dense", "inputs": int(w.shape[0]),
                            "units": int(w.shape[1]), "activation": act, "tensors": t}, **extra))

    for s, st in (("stage1", st1), ("stage2", st2)):
        if s == "stage2":
            dense("stage2.encoder", st["enc"].attrs["W"], st["enc"].attrs["b"], "identity")
            n = st["norm"]
            dense("stage2.norm", n.attrs["gamma"].reshape(1, -1), n.attrs["beta"], "identity",
                  op="layer_norm")
        for k, op in enumerate(st["lstm"]):
            w, b = _lstm_tensors(op)
            dense(f"{s}.lstm{k}", w, b, "identity", op="lstm", lstm_inputs=int(
                op.attrs["Wx"].shape[0]), lstm_units=int(op.attrs["units"]), gates="ifgo")
        dense(f"{s}.mask", st["mask"].attrs["W"], st["mask"].attrs["b"], "sigmoid")
        if s == "stage2":
            dense("stage2.decoder", st["dec"].attrs["W"], st["dec"].attrs["b"], "identity")
    header = {
        "family": "dtln", "name": "dtln",
        "sample_rate": SAMPLE_RATE, "frame_size": FRAME, "hop_size": HOP,
        "algorithmic_latency": FRAME - HOP, "math": "exact",
        "metadata": {
            "source_format": "onnx", "sources": sources,
            "dtln": {"norm_epsilon": float(st2["norm"].attrs["eps"]),
                     "window": "rectangular", "state_layout": "[1, layer, unit, h/c]",
                     "stage1_io": st1["io"], "stage2_io": st2["io"]},
            "licence": "DTLN weights: MIT (c) 2020 Nils L. Westhausen (breizhn/DTLN)",
        },
        "layers": layers,
    }
    return header, tensors
