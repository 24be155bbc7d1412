"""DeepFilterNet3 (Schroeter et al. 2023): recognise its three exported graphs, emit one .gnvm.

DFN3's graphs (enc.onnx, erb_dec.onnx, df_dec.onnx, PyTorch export, opset 12) process a whole
sequence of S frames: 2-D convolutions over [time, frequency] with causal time padding (a
zero `Pad` in front of each convolution whose time kernel is > 1), grouped linear layers as
`Einsum btgi,gih->btgh`, PyTorch GRUs with zero initial states, ConvTranspose for frequency
upsampling. The index-map lowering in onnx_lower.py works on one step of flat vectors, so this
family is converted from the graphs directly instead:

1. Constant folding: initializers, `Constant` nodes and every node whose inputs are all
   constant are evaluated with onnx's reference implementation (onnx_lower.Lowering.run_ref) —
   weights stored as Constant nodes, BatchNorm already folded by the exporter, the Pad amounts.
2. The remaining (dynamic) nodes are classified: compute nodes (Conv, ConvTranspose, Einsum,
   GRU, MatMul, Add, Mul, Relu, Sigmoid, Tanh, Pad) and layout nodes (Reshape, Transpose,
   Squeeze, Unsqueeze, Slice, Gather, Concat, Shape, Cast ...). Any other op is an error naming
   the node, its op and its input shapes.
3. Each graph's sequence of compute nodes, with their weight shapes and attributes, is matched
   against the DFN3 topology (TOPOLOGY below, per network; every entry is checked: op,
   weight shape, groups, kernel, strides, pads, the causal time padding, the activation node
   that consumes it, which graph inputs feed the convolutions). A mismatch names the node.
   The graphs may be given in any order. The layout nodes between the compute nodes are
   checked only through the conformance test (tests/dfn3_conformance.py: our C++ networks
   vs onnxruntime on real audio).

.gnvm layers (kinds dense/gru only; extra keys say how the family uses a dense layer):
  "op": "conv"   weights [kt*kf*cin_per_group, cout] (row (t*kf + k)*cin_per_group + ci),
                 keys kernel [kt, kf], stride, pad (frequency), groups, in_channels
  "op": "convt"  depthwise ConvTranspose over frequency: weights [kf, channels], stride, pad,
                 output_padding
  "op": "affine" per-channel 1x1 (groups = channels): weights [1, channels], bias
  "op": "grouped" grouped linear: weights [groups*in, out] (group g: rows g*in..), units = out
                  per group, key groups
  plain dense    pointwise 1x1 conv (weights [cin, cout]) or MatMul
  gru            PyTorch GRU (z, r, h; reset_after), tanh
Activations that follow a layer (Relu / Sigmoid / Tanh) are fused into it. The lsnr scale and
offset and the DSP parameters (config.ini) go to metadata.dfn3.
"""

import configparser
import os

import numpy as np
import onnx
from onnx import helper, numpy_helper

from onnx_lower import ConvertError, Lowering

SAMPLE_RATE, FFT, HOP = 48000, 960, 480

LAYOUT = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Slice", "Gather", "Concat", "Shape",
          "Cast", "Identity", "Flatten", "Expand", "ConstantOfShape", "Split"}
COMPUTE = {"Conv", "ConvTranspose", "Einsum", "GRU", "MatMul", "Add", "Mul", "Relu", "Sigmoid",
           "Tanh", "Pad"}
ACTS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh"}

# Per network: (layer name, kind, expected weight shape, details). Kinds:
#   conv(cin, groups, kernel, stride_f, pad_f)  pw = pointwise conv  aff = per-channel 1x1
#   convt  grouped = Einsum  gru  mm = MatMul + Add bias  add = Add of two dynamic tensors
TOPOLOGY = {
    "enc": [
        ("enc.erb_conv0", "conv", (64, 1, 3, 3), dict(groups=1, stride=1, pad=1, act="relu",
                                                      inp="feat_erb", bias=True)),
        ("enc.erb_conv1.dw", "conv", (64, 1, 1, 3), dict(groups=64, stride=2, pad=1)),
        ("enc.erb_conv1.pw", "pw", (64, 64, 1, 1), dict(act="relu")),
        ("enc.erb_conv2.dw", "conv", (64, 1, 1, 3), dict(groups=64, stride=2, pad=1)),
        ("enc.erb_conv2.pw", "pw", (64, 64, 1, 1), dict(act="relu")),
        ("enc.erb_conv3.dw", "conv", (64, 1, 1, 3), dict(groups=64, stride=1, pad=1)),
        ("enc.erb_conv3.pw", "pw", (64, 64, 1, 1), dict(act="relu")),
        ("enc.df_conv0.dw", "conv", (64, 1, 3, 3), dict(groups=2, stride=1, pad=1,
                                                        inp="feat_spec")),
        ("enc.df_conv0.pw", "pw", (64, 64, 1, 1), dict(act="relu")),
        ("enc.df_conv1.dw", "conv", (64, 1, 1, 3), dict(groups=64, stride=2, pad=1)),
        ("enc.df_conv1.pw", "pw", (64, 64, 1, 1), dict(act="relu")),
        ("enc.df_fc_emb", "grouped", (32, 96, 16), dict(act="relu")),
        (None, "add", None, {}),
        ("enc.emb_in", "grouped", (16, 32, 16), dict(act="relu")),
        ("enc.emb_gru", "gru", 256, {}),
        ("enc.emb_out", "grouped", (16, 16, 32), dict(act="relu")),
        ("enc.lsnr", "mm", (512, 1), dict(act="sigmoid")),
        (None, "scale", None, {}),
    ],
    "erb_dec": [
        ("erb.emb_in", "grouped", (16, 32, 16), dict(act="relu")),
        ("erb.gru0", "gru", 256, {}),
        ("erb.gru1", "gru", 256, {}),
        ("erb.emb_out", "grouped", (16, 16, 32), dict(act="relu")),
        ("erb.conv3p", "aff", (64, 1, 1, 1), dict(act="relu", inp="e3")),
        (None, "add", None, {}),
        ("erb.convt3.dw", "conv", (64, 1, 1, 3), dict(groups=64, stride=1, pad=1)),
        ("erb.convt3.pw", "pw", (64, 64, 1, 1), dict(act="relu")),
        ("erb.conv2p", "aff", (64, 1, 1, 1), dict(act="relu", inp="e2")),
        (None, "add", None, {}),
        ("erb.convt2.dw", "convt", (64, 1, 1, 3), {}),
        ("erb.convt2.pw", "pw", (64, 64, 1, 1), dict(act="relu")),
        ("erb.conv1p", "aff", (64, 1, 1, 1), dict(act="relu", inp="e1")),
        (None, "add", None, {}),
        ("erb.convt1.dw", "convt", (64, 1, 1, 3), {}),
        ("erb.convt1.pw", "pw", (64, 64, 1, 1), dict(act="relu")),
        ("erb.conv0p", "aff", (64, 1, 1, 1), dict(act="relu", inp="e0")),
        (None, "add", None, {}),
        ("erb.conv0_out", "conv", (1, 64, 1, 3), dict(groups=1, stride=1, pad=1, act="sigmoid",
                                                      bias=True)),
    ],
    "df_dec": [
        ("df.emb_in", "grouped", (8, 64, 32), dict(act="relu")),
        ("df.gru0", "gru", 256, {}),
        ("df.gru1", "gru", 256, {}),
        ("df.skip", "grouped", (16, 32, 16), {}),
        (None, "add", None, {}),
        ("df.convp.conv", "conv", (10, 32, 5, 1), dict(groups=2, stride=1, pad=0, inp="c0")),
        ("df.convp.pw", "pw", (10, 10, 1, 1), dict(act="relu")),
        ("df.fc_a", "mm", (256, 1), dict(act="sigmoid")),
        ("df.out", "grouped", (16, 16, 60), dict(act="tanh")),
        (None, "add", None, {}),
    ],
}
INPUTS = {"enc": ["feat_erb", "feat_spec"], "erb_dec": ["emb", "e3", "e2", "e1", "e0"],
          "df_dec": ["emb", "c0"]}


class _Graph:
    """One ONNX graph after constant folding: constants, dynamic nodes, consumers."""

    def __init__(self, path):
        try:
            self.model = onnx.load(path)
        except Exception as e:  # noqa: BLE001
            raise ConvertError(f"{path}: cannot read ONNX: {e}")
        self.label = os.path.basename(path)
        self.low = Lowering(self.model, self.label)
        g = self.model.graph
        self.const = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.inputs = [i.name for i in g.input if i.name not in self.const]
        self.outputs = [o.name for o in g.output]
        self.dyn_nodes = []
        for node in g.node:
            if node.op_type == "Constant":
                a = node.attribute[0]
                if a.name != "value":
                    self.err(node, f"Constant with attribute '{a.name}' is not supported")
                self.const[node.output[0]] = numpy_helper.to_array(a.t)
                continue
            if node.op_type != "Shape" and all((not i) or i in self.const for i in node.input):
                vals = [self.const.get(i) if i else None for i in node.input]
                for o, r in zip(node.output, self.low.run_ref(node, vals)):
                    if o:
                        self.const[o] = r
                continue
            if node.op_type not in LAYOUT and node.op_type not in COMPUTE:
                self.err(node, "operator not supported by the DeepFilterNet3 converter")
            self.dyn_nodes.append(node)
        self.producer = {o: n for n in self.dyn_nodes for o in n.output}
        self.consumers = {}
        for n in self.dyn_nodes:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)

    def shape(self, name):
        if name in self.const:
            return list(self.const[name].shape)
        return "?"

    def err(self, node, msg):
        args = ", ".join(f"{n or '-'}{self.shape(n) if n else ''}" for n in node.input)
        raise ConvertError(f"{self.label}: node '{node.name or node.output[0]}' (op "
                           f"{node.op_type}) with inputs ({args}): {msg}")

    def attrs(self, node):
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def compute_nodes(self):
        return [n for n in self.dyn_nodes if n.op_type in COMPUTE and n.op_type != "Pad"]

    def source_input(self, name):
        """The graph input a tensor comes from through layout-only nodes and Pad (or None)."""
        seen = 0
        while name not in self.inputs:
            n = self.producer.get(name)
            if n is None or (n.op_type not in LAYOUT and n.op_type != "Pad") or seen > 64:
                return None
            dyn = [i for i in n.input if i and i not in self.const]
            if len(dyn) != 1:
                return None
            name, seen = dyn[0], seen + 1
        return name

    def time_pad(self, node):
        """Frames of zero padding in front of a Conv's input on the time axis (Pad node)."""
        p = self.producer.get(node.input[0])
        if p is None or p.op_type != "Pad":
            return 0
        at = self.attrs(p)
        mode = at.get("mode", b"constant")
        pads = self.const.get(p.input[1]) if len(p.input) > 1 else at.get("pads")
        val = self.const.get(p.input[2]) if len(p.input) > 2 and p.input[2] else np.float32(0)
        if pads is None or mode not in (b"constant", "constant") or float(np.asarray(val)) != 0:
            self.err(p, "only a constant zero Pad with constant pads is supported")
        pads = [int(v) for v in np.asarray(pads).reshape(-1)]
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 3, 4, 5, 6, 7)):
            self.err(p, f"only padding at the start of the time axis is supported (pads {pads})")
        return pads[2]

    def is_zero(self, name):
        """A constant zero tensor, or zeros from ConstantOfShape through layout nodes."""
        for _ in range(64):
            if name in self.const:
                return not np.any(self.const[name])
            n = self.producer.get(name)
            if n is None:
                return False
            if n.op_type == "ConstantOfShape":
                v = self.attrs(n).get("value")
                return v is None or not np.any(numpy_helper.to_array(v))
            if n.op_type not in LAYOUT or n.op_type == "Shape":
                return False
            name = n.input[0]
        return False

    def activation_after(self, node):
        """(activation name, node whose output is the layer's output)."""
        def users(name):  # Shape nodes only feed shape arithmetic
            return [c for c in self.consumers.get(name, []) if c.op_type != "Shape"]
        cons = users(node.output[0])
        while len(cons) == 1 and cons[0].op_type in ("Reshape", "Transpose", "Squeeze",
                                                     "Unsqueeze"):  # e.g. Einsum, Reshape
            cons = users(cons[0].output[0])
        if len(cons) == 1 and cons[0].op_type in ACTS:
            return ACTS[cons[0].op_type], cons[0]
        return "identity", node


def _need(g, node, cond, msg):
    if not cond:
        g.err(node, f"not DeepFilterNet3's {msg}")


def _match(g, net):
    """Matches one graph against TOPOLOGY[net]; returns (layers, tensors, extra metadata)."""
    spec = TOPOLOGY[net]
    # Activations are fused into the layer before them; Add of a constant is a bias or an
    # offset, checked with the MatMul / Mul it belongs to.
    nodes = [n for n in g.compute_nodes() if n.op_type not in ACTS
             and not (n.op_type == "Add" and any(i in g.const for i in n.input))]
    if len(nodes) != len(spec):
        raise ConvertError(f"{g.label}: {len(nodes)} compute nodes, DeepFilterNet3's {net} has "
                           f"{len(spec)}")
    layers, tensors, extra = [], {}, {}
    for node, (name, kind, wshape, d) in zip(nodes, spec):
        at = g.attrs(node)
        what = f"{net} layer {name or kind}"
        act, _ = g.activation_after(node)
        if kind not in ("add", "scale", "gru", "mm"):
            _need(g, node, act == d.get("act", "identity"),
                  f"{what}: activation {d.get('act', 'identity')} expected, found {act}")
        if "inp" in d:
            _need(g, node, g.source_input(node.input[0]) == d["inp"],
                  f"{what}: input must come from graph input '{d['inp']}'")
        if kind in ("conv", "pw", "aff"):
            _need(g, node, node.op_type == "Conv", f"{what}: Conv expected")
            w = g.const.get(node.input[1])
            _need(g, node, w is not None and tuple(w.shape) == wshape,
                  f"{what}: weight {wshape} expected")
            b = g.const.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            if len(node.input) > 2 and node.input[2]:
                _need(g, node, b is not None, f"{what}: constant bias expected")
            cout, cin_pg, kt, kf = w.shape
            groups = int(at.get("group", 1))
            strides = list(at.get("strides", [1, 1]))
            pads = list(at.get("pads", [0, 0, 0, 0]))
            _need(g, node, list(at.get("dilations", [1, 1])) == [1, 1], f"{what}: dilation 1")
            tpad = g.time_pad(node)
            _need(g, node, tpad == kt - 1 and strides[0] == 1 and pads[0] == pads[2] == 0,
                  f"{what}: causal time padding of kernel-1 frames expected (found {tpad})")
            if kind == "pw":
                _need(g, node, groups == 1 and b is not None, f"{what}: pointwise conv + bias")
                layers.append(dict(name=name, kind="dense", inputs=w.shape[1], units=cout,
                                   activation=act))
                tensors[name + ".weights"] = np.ascontiguousarray(w[:, :, 0, 0].T)
                tensors[name + ".bias"] = b
                continue
            if kind == "aff":
                _need(g, node, groups == cout and b is not None, f"{what}: per-channel 1x1")
                layers.append(dict(name=name, kind="dense", inputs=1, units=cout,
                                   activation=act, op="affine"))
                tensors[name + ".weights"] = w.reshape(1, cout)
                tensors[name + ".bias"] = b
                continue
            _need(g, node, groups == d["groups"] and strides[1] == d["stride"]
                  and pads[1] == pads[3] == d["pad"],
                  f"{what}: groups {d['groups']}, stride {d['stride']}, pad {d['pad']} expected")
            _need(g, node, (b is not None) == bool(d.get("bias")), f"{what}: bias mismatch")
            # [cout, cin_pg, kt, kf] -> [(t*kf + k)*cin_pg + ci, cout]
            wt = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(kt * kf * cin_pg, cout))
            layer = dict(name=name, kind="dense", inputs=kt * kf * cin_pg, units=cout,
                         activation=act, op="conv", kernel=[kt, kf], stride=strides[1],
                         pad=pads[1], groups=groups, in_channels=groups * cin_pg)
            layers.append(layer)
            tensors[name + ".weights"] = wt
            if b is not None:
                tensors[name + ".bias"] = b
        elif kind == "convt":
            _need(g, node, node.op_type == "ConvTranspose", f"{what}: ConvTranspose expected")
            w = g.const.get(node.input[1])
            _need(g, node, w is not None and tuple(w.shape) == wshape,
                  f"{what}: weight {wshape} expected")
            _need(g, node, len(node.input) < 3 or not node.input[2], f"{what}: no bias")
            ok = (int(at.get("group", 1)) == w.shape[0] and list(at.get("strides")) == [1, 2]
                  and list(at.get("pads")) == [0, 1, 0, 1]
                  and list(at.get("output_padding", [0, 0])) == [0, 1]
                  and list(at.get("dilations", [1, 1])) == [1, 1] and g.time_pad(node) == 0)
            _need(g, node, ok, f"{what}: depthwise, stride 2, pad 1, output_padding 1 expected")
            layers.append(dict(name=name, kind="dense", inputs=w.shape[3], units=w.shape[0],
                               activation=act, op="convt", stride=2, pad=1, output_padding=1))
            tensors[name + ".weights"] = np.ascontiguousarray(w[:, 0, 0, :].T)
        elif kind == "grouped":
            _need(g, node, node.op_type == "Einsum", f"{what}: Einsum expected")
            eq = at.get("equation", b"")
            eq = eq.decode() if isinstance(eq, bytes) else eq
            w = g.const.get(node.input[1])
            _need(g, node, eq.replace(" ", "") == "btgi,gih->btgh" and w is not None
                  and tuple(w.shape) == wshape,
                  f"{what}: Einsum btgi,gih->btgh with weight {wshape} expected")
            gr, i, h = w.shape
            layers.append(dict(name=name, kind="dense", inputs=gr * i, units=h, activation=act,
                               op="grouped", groups=gr))
            tensors[name + ".weights"] = np.ascontiguousarray(w.reshape(gr * i, h))
        elif kind == "gru":
            _need(g, node, node.op_type == "GRU", f"{what}: GRU expected")
            hs = int(at.get("hidden_size", 0))
            acts = [a.decode() if isinstance(a, bytes) else a
                    for a in at.get("activations", [b"Sigmoid", b"Tanh"])]
            ok = (hs == wshape and at.get("direction", b"forward") in (b"forward", "forward")
                  and acts == ["Sigmoid", "Tanh"] and "clip" not in at
                  and not at.get("layout", 0) and int(at.get("linear_before_reset", 0)) == 1)
            _need(g, node, ok, f"{what}: forward PyTorch GRU of {wshape} units expected")
            w, r = g.const.get(node.input[1]), g.const.get(node.input[2])
            b = g.const.get(node.input[3]) if len(node.input) > 3 and node.input[3] else None
            _need(g, node, w is not None and r is not None and b is not None
                  and w.shape[:2] == (1, 3 * hs) and r.shape == (1, 3 * hs, hs),
                  f"{what}: constant weights")
            h0 = node.input[5] if len(node.input) > 5 else ""
            _need(g, node, not h0 or g.is_zero(h0),
                  f"{what}: zero initial state expected (the family carries it)")
            layers.append(dict(name=name, kind="gru", inputs=w.shape[2], units=hs,
                               activation="tanh", reset_after=True))
            tensors[name + ".weights"] = np.ascontiguousarray(w[0].T)
            tensors[name + ".recurrent"] = np.ascontiguousarray(r[0].T)
            tensors[name + ".bias"] = np.ascontiguousarray(b[0, :3 * hs])
            tensors[name + ".recurrent_bias"] = np.ascontiguousarray(b[0, 3 * hs:])
        elif kind == "mm":
            _need(g, node, node.op_type == "MatMul", f"{what}: MatMul expected")
            w = g.const.get(node.input[1])
            _need(g, node, w is not None and tuple(w.shape) == wshape,
                  f"{what}: weight {wshape} expected")
            cons = g.consumers.get(node.output[0], [])
            _need(g, node, len(cons) == 1 and cons[0].op_type == "Add", f"{what}: + bias")
            add = cons[0]
            bname = [i for i in add.input if i != node.output[0]]
            b = g.const.get(bname[0]) if len(bname) == 1 else None
            _need(g, node, b is not None and b.size == wshape[1], f"{what}: constant bias")
            act, _ = g.activation_after(add)
            _need(g, node, act == d.get("act"), f"{what}: {d.get('act')} expected")
            layers.append(dict(name=name, kind="dense", inputs=wshape[0], units=wshape[1],
                               activation=act))
            tensors[name + ".weights"] = np.ascontiguousarray(w)
            tensors[name + ".bias"] = np.asarray(b, np.float32).reshape(-1)
        elif kind == "add":
            _need(g, node, node.op_type == "Add"
                  and all(i not in g.const for i in node.input), f"{what}: Add of two tensors")
        elif kind == "scale":
            _need(g, node, node.op_type == "Mul", f"{net}: lsnr scale (Mul) expected")
            sc = [g.const[i] for i in node.input if i in g.const]
            cons = g.consumers.get(node.output[0], [])
            off = [g.const[i] for c in cons if c.op_type == "Add" for i in c.input
                   if i in g.const]
            _need(g, node, len(sc) == 1 and len(off) == 1 and sc[0].size == 1
                  and off[0].size == 1, f"{net}: lsnr = sigmoid(...) * scale + offset expected")
            extra["lsnr_scale"] = float(np.asarray(sc[0]).reshape(-1)[0])
            extra["lsnr_offset"] = float(np.asarray(off[0]).reshape(-1)[0])
    return layers, tensors, extra


def _which(g):
    ins = set(g.inputs)
    for net, want in INPUTS.items():
        if ins == set(want):
            return net
    return None


def looks_like(paths):
    """True when every ONNX file given has the inputs of one of DeepFilterNet3's graphs."""
    onnx_paths = [p for p in paths if not p.endswith(".ini")]
    if not onnx_paths:
        return False
    try:
        for p in onnx_paths:  # every graph is one of DFN3's (convert() names what is missing)
            m = onnx.load(p, load_external_data=False)
            init = {t.name for t in m.graph.initializer}
            ins = {i.name for i in m.graph.input if i.name not in init}
            if not any(ins == set(w) for w in INPUTS.values()):
                return False
        return True
    except Exception:  # noqa: BLE001
        return False


def _config(paths):
    cfg = {"sr": SAMPLE_RATE, "fft_size": FFT, "hop_size": HOP, "nb_erb": 32, "nb_df": 96,
           "norm_tau": 1.0, "df_order": 5, "df_lookahead": 2, "conv_lookahead": 2,
           "min_nb_erb_freqs": 2, "lsnr_max": 35, "lsnr_min": -15}
    ini = [p for p in paths if p.endswith(".ini")]
    if len(ini) > 1:
        raise ConvertError("more than one config.ini given")
    if ini:
        cp = configparser.ConfigParser()
        try:
            cp.read(ini[0])
        except configparser.Error as e:
            raise ConvertError(f"{ini[0]}: {e}")
        for sec in ("df", "deepfilternet"):
            if sec in cp:
                for k in cfg:
                    if k in cp[sec]:
                        cfg[k] = type(cfg[k])(float(cp[sec][k]))
    if (cfg["sr"], cfg["fft_size"], cfg["hop_size"], cfg["nb_erb"], cfg["nb_df"],
            cfg["df_order"]) != (SAMPLE_RATE, FFT, HOP, 32, 96, 5):
        raise ConvertError(f"config: only sr 48000, fft 960, hop 480, 32 ERB bands, 96 DF bins, "
                           f"order 5 are supported (got {cfg})")
    if not (0 <= cfg["df_lookahead"] <= 4 and 0 <= cfg["conv_lookahead"] <= 4):
        raise ConvertError("config: lookahead must be 0..4 frames")
    return cfg


def convert(paths):
    """Returns (header, tensors) for DFN3's three graphs (+ optional config.ini)."""
    graphs = {}
    for p in paths:
        if p.endswith(".ini"):
            continue
        g = _Graph(p)
        net = _which(g)
        if net is None or net in graphs:
            raise ConvertError(f"{g.label}: graph inputs {g.inputs} are none of DeepFilterNet3's "
                               f"enc {INPUTS['enc']}, erb_dec {INPUTS['erb_dec']}, df_dec "
                               f"{INPUTS['df_dec']} (or given twice)")
        graphs[net] = g
    if set(graphs) != set(INPUTS):
        raise ConvertError(f"DeepFilterNet3 needs enc, erb_dec and df_dec graphs; got "
                           f"{sorted(graphs)}")
    cfg = _config(paths)
    layers, tensors, meta = [], {}, dict(cfg)
    for net in ("enc", "erb_dec", "df_dec"):
        ls, ts, ex = _match(graphs[net], net)
        layers += ls
        tensors.update(ts)
        meta.update(ex)
    hdr_layers = []
    for lay in layers:
        roles = {"weights": lay["name"] + ".weights"}
        for role in ("recurrent", "bias", "recurrent_bias"):
            if lay["name"] + "." + role in tensors:
                roles[role] = lay["name"] + "." + role
        h = dict(lay)
        h["tensors"] = roles
        hdr_layers.append(h)
    tensors = {k: np.ascontiguousarray(v, np.float32) for k, v in tensors.items()}
    lookahead = max(cfg["df_lookahead"], cfg["conv_lookahead"])
    header = {
        "family": "dfn3", "name": "DeepFilterNet3",
        "sample_rate": SAMPLE_RATE, "frame_size": FFT, "hop_size": HOP,
        "algorithmic_latency": FFT - HOP + lookahead * HOP, "math": "exact",
        "metadata": {"source": [graphs[n].label for n in ("enc", "erb_dec", "df_dec")]
                     + [os.path.basename(p) for p in paths if p.endswith(".ini")],
                     "licence": "DeepFilterNet weights: MIT OR Apache-2.0", "dfn3": meta},
        "layers": hdr_layers,
    }
    return header, tensors
