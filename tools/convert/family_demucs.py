"""Causal Demucs (Facebook Denoiser, Defossez et al. 2020): recognise its ONNX graph, emit .gnvm.

Demucs is a convolutional model over the whole signal (strided Conv1d / ConvTranspose1d with
temporal kernels), so it is recognised on the ONNX graph itself, not on the one-step lowered
program the other families use: constants are folded with onnx's reference implementation
(the sinc resampling kernels are computed in the graph from Sin/Where/Div), shapes come from
onnx's shape inference (the export has a fixed length), and the wiring is followed edge by edge:

  mix -> [/(floor + std)] -> pad -> upsample x2 (x1, x2 or x4: 112-tap sinc Conv)
      -> encoder i: Conv1d(K, S) -> ReLU -> Conv1d(1) -> GLU (Split / Sigmoid / Mul)
      -> LSTM x L (forward, zero initial state)
      -> decoder j: Add(skip of encoder depth-1-j) -> Conv1d(1) -> GLU -> ConvTranspose1d(K, S)
                    [-> ReLU, all but the last]
      -> downsample -> crop -> [* std]

Any operator outside the set this graph uses is an error naming the node, its op and its input
shapes. .gnvm layers written (kind dense; extra keys say what the family does with them):

  resample.kernel      dense 1 -> 2z, zero weights, bias = the graph's sinc kernel (f32 always)
  encoder{i}.conv      dense [K*Cin, Cout] + bias, relu; W[k*Cin + c][o] = w[o][c][k]
                       ("op": "conv1d", kernel, stride): one output step is a dense layer over
                       K consecutive time-major input frames
  encoder{i}.pw        dense [C, 2C] + bias, identity, "glu": true (1x1 conv before GLU)
  lstm{l}              dense [in + H, 4H] + bias, gates i, f, g, o (kernels/lstm.h layout)
  decoder{j}.pw        dense [C, 2C] + bias, "glu": true
  decoder{j}.convtr    dense [Cin, K*Cout], no bias; W[c][k*Cout + o] = w[c][o][k]
                       ("op": "conv_transpose1d"): one input step adds a K x Cout block
  decoder{j}.convtr_bias   dense 1 -> Cout, zero weights, bias = the ConvTranspose bias
Hyper-parameters (depth, kernel, stride, resample, floor, normalize, streaming buffers) are in
metadata.demucs.
"""

import math
import os

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from onnx_lower import ConvertError, Lowering, _describe

# Operators the exported Demucs graph uses outside its layers (shape arithmetic, layout, the
# normalisation and resampling). Anything else is reported.
ALLOWED = {"Conv", "ConvTranspose", "LSTM", "Relu", "Sigmoid", "Split", "Mul", "Add", "Sub",
           "Div", "Sqrt", "ReduceMean", "Pad", "Slice", "Reshape", "Transpose", "Squeeze",
           "Unsqueeze", "Concat", "Identity", "Cast", "Gather", "Shape", "Expand"}
LOOKAHEAD = 64      # DemucsStreamer's default resample_lookahead
MAX_RESAMPLE_BUFFER = 256  # DemucsStreamer's default resample_buffer


class _NeedShapes(Exception):
    def __init__(self, node):
        super().__init__(node.name)
        self.node = node


def _need(cond, msg):
    if not cond:
        raise ConvertError(f"not a causal Demucs graph: {msg}")


class _Graph:
    """Folded constants, inferred shapes and the consumer map of one ONNX graph."""

    def __init__(self, model, label):
        self.label = label
        # Shape inference cannot see through the folded pad/slice arithmetic, so fold, put the
        # folded constants in as initializers, infer again, until every Shape is static.
        for _ in range(64):
            try:
                self._run(model)
                return
            except _NeedShapes as e:
                folded = self._folded_model(model)
                if folded is None:
                    self.err(e.node, "the shape is not static (export with a fixed length)")
                model = folded
        raise ConvertError(f"{label}: shape propagation does not converge")

    def _folded_model(self, model):
        g = model.graph
        keep = [n for n in g.node if not all((not o) or o in self.const for o in n.output)]
        if len(keep) == len(g.node):
            return None
        init = {t.name for t in g.initializer}
        new = [numpy_helper.from_array(np.asarray(v), k) for k, v in self.const.items()
               if k not in init and any(k in n.input for n in keep)]
        m = onnx.ModelProto()
        m.CopyFrom(model)
        del m.graph.node[:]
        m.graph.node.extend(keep)
        m.graph.initializer.extend(new)
        return m

    def _run(self, model):
        try:
            model = shape_inference.infer_shapes(model, data_prop=True)
        except Exception:  # noqa: BLE001 - shapes are a help for messages only
            pass
        self.model = model
        self.low = Lowering(model, self.label)
        g = model.graph
        self.shapes = {}
        for vi in list(g.value_info) + list(g.input) + list(g.output):
            if not vi.type.tensor_type.HasField("shape"):
                continue  # rank unknown
            dims = vi.type.tensor_type.shape.dim
            self.shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else -1
                                         for d in dims)
        self.const = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.inputs = [i.name for i in g.input if i.name not in self.const]
        self.outputs = [o.name for o in g.output]
        self.nodes = []      # dynamic nodes, in order
        self.producer = {}
        self.consumers = {}
        for node in g.node:
            self._visit(node)

    def shape(self, name):
        if name in self.const:
            return self.const[name].shape
        return self.shapes.get(name)

    def err(self, node, msg):
        shapes = [self.shape(n) for n in node.input]
        raise ConvertError(f"{self.label}: {_describe(node, shapes)}: {msg}")

    def _visit(self, node):
        if node.domain not in ("", "ai.onnx"):
            self.err(node, f"operator domain '{node.domain}' is not supported")
        if node.op_type == "Constant":
            a = node.attribute[0]
            if a.name != "value":
                self.err(node, f"Constant with attribute '{a.name}' is not supported")
            self.const[node.output[0]] = numpy_helper.to_array(a.t)
            return
        if node.op_type in ("Shape", "Size") and node.input[0] not in self.const:
            shp = self.shape(node.input[0])
            if shp is None or any(d < 0 for d in shp):
                raise _NeedShapes(node)
            at = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            arr = np.array(shp, np.int64)
            res = (np.array(int(np.prod(arr)), np.int64) if node.op_type == "Size"
                   else arr[at.get("start", 0):at.get("end", len(arr))])
            self.const[node.output[0]] = res
            return
        if all((not n) or n in self.const for n in node.input):
            for name in node.input:
                if name:
                    self.low.env[name] = ("c", self.const[name])
            res = self.low.run_ref(node, [self.const[n] if n else None for n in node.input])
            for name, r in zip(node.output, res):
                if name:
                    self.const[name] = r
            return
        if node.op_type not in ALLOWED:
            self.err(node, "operator not supported by ghostnv-convert (Demucs family)")
        self.nodes.append(node)
        for o in node.output:
            if o:
                self.producer[o] = node
        for i in node.input:
            if i:
                self.consumers.setdefault(i, []).append(node)

    def users(self, name):
        return self.consumers.get(name, [])

    def attrs(self, node):
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def only_user(self, name, op_type, what):
        us = [u for u in self.users(name) if u.op_type == op_type]
        _need(len(us) == 1, f"{what}: expected one {op_type} consumer of '{name}', found "
                            f"{[u.op_type for u in self.users(name)]}")
        return us[0]


def _glu_or_relu(g, name, channels):
    """Follows the activation after a 1x1 conv output `name` with 2*channels (GLU) or channels
    (ReLU) channels; returns (output name, glu flag)."""
    users = g.users(name)
    if len(users) == 1 and users[0].op_type == "Relu":
        return users[0].output[0], False
    sp = g.only_user(name, "Split", "GLU")
    at = g.attrs(sp)
    axis = at.get("axis", 0)
    _need(axis in (1, -2) and len(sp.output) == 2, f"GLU split '{sp.name}' must halve axis 1")
    sizes = at.get("split")
    if sizes is None and len(sp.input) > 1 and sp.input[1]:
        sizes = list(g.const[sp.input[1]])
    _need(sizes is None or list(sizes) == [channels, channels], f"GLU split sizes {sizes}")
    sig = g.only_user(sp.output[1], "Sigmoid", "GLU gate")
    mul = g.only_user(sig.output[0], "Mul", "GLU")
    _need(sorted(mul.input) == sorted([sp.output[0], sig.output[0]]),
          f"GLU '{mul.name}' must multiply the first half by sigmoid(second half)")
    return mul.output[0], True


def _conv_params(g, node, kind):
    at = g.attrs(node)
    w = g.const.get(node.input[1])
    if w is None:
        g.err(node, "the weights must be constant")
    b = g.const.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if at.get("group", 1) != 1 or any(d != 1 for d in at.get("dilations", [1])) \
            or any(p != 0 for p in at.get("pads", [0, 0])) or w.ndim != 3 \
            or at.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID") \
            or any(p != 0 for p in at.get("output_padding", [0])):
        g.err(node, f"{kind}: only 1-D, ungrouped, undilated, unpadded convolutions")
    stride = at.get("strides", [1])[0]
    return w.astype(np.float32), (None if b is None else b.astype(np.float32)), stride


def _skip_source(g, name):
    """The tensor a skip operand comes from, through Slice/Identity."""
    node = g.producer.get(name)
    while node is not None and node.op_type in ("Slice", "Identity"):
        name = node.input[0]
        node = g.producer.get(name)
    return name


def _is_resample_conv(g, node):
    w = g.const.get(node.input[1]) if len(node.input) > 1 else None
    at = g.attrs(node)
    return (w is not None and w.ndim == 3 and w.shape[:2] == (1, 1) and w.shape[2] % 2 == 0
            and (len(node.input) < 3 or not node.input[2])
            and list(at.get("pads", [0, 0])) == [w.shape[2] // 2] * 2)


def match(model, label):
    """Returns the recognised Demucs (a dict) or None when the graph is not Demucs-shaped.
    Raises ConvertError on an unsupported operator or a Demucs-like graph that breaks a rule."""
    ops = {n.op_type for n in model.graph.node}
    if "ConvTranspose" not in ops or "Conv" not in ops or "LSTM" not in ops:
        return None
    g = _Graph(model, label)
    _need(len(g.inputs) == 1 and len(g.outputs) == 1, "one input (mix) and one output expected")
    ishape = g.shape(g.inputs[0])
    _need(ishape is not None and len(ishape) in (2, 3) and ishape[0] == 1
          and (len(ishape) == 2 or ishape[1] == 1),
          f"the input must be mono [1, 1, T] (found {ishape}); chin > 1 is not supported")
    convs = [n for n in g.nodes if n.op_type == "Conv"]
    resamp = [n for n in convs if _is_resample_conv(g, n)]
    layers = [n for n in convs if not _is_resample_conv(g, n)]
    convtr = [n for n in g.nodes if n.op_type == "ConvTranspose"]
    lstms = [n for n in g.nodes if n.op_type == "LSTM"]
    depth = len(convtr)
    _need(depth >= 1 and len(layers) == 3 * depth,
          f"{len(layers)} convolutions and {depth} transposed convolutions (want 3 per level)")
    first = g.nodes.index(layers[0])
    pre = [n for n in resamp if g.nodes.index(n) < first]
    post = [n for n in resamp if g.nodes.index(n) > first]
    _need(len(pre) == len(post) and len(pre) in (0, 1, 2),
          f"{len(pre)} upsampling and {len(post)} downsampling sinc convolutions")
    resample = 2 ** len(pre)
    kernel_sinc = None
    if pre:
        ks = [g.const[n.input[1]].reshape(-1) for n in resamp]
        _need(all(np.array_equal(k, ks[0]) for k in ks), "the sinc kernels differ")
        kernel_sinc = ks[0].astype(np.float32)

    # Encoder.
    enc, skips = [], []
    x = None
    for i in range(depth):
        c, pw = layers[2 * i], layers[2 * i + 1]
        w, b, s = _conv_params(g, c, "encoder conv")
        _need(b is not None, f"encoder conv '{c.name}' has no bias")
        if x is not None:
            _need(c.input[0] == x, f"encoder {i} conv '{c.name}' does not read encoder {i - 1}")
        relu = g.only_user(c.output[0], "Relu", f"encoder {i}")
        _need(pw.input[0] == relu.output[0], f"encoder {i}: 1x1 conv must follow the ReLU")
        wp, bp, sp = _conv_params(g, pw, "encoder 1x1 conv")
        cout = w.shape[0]
        _need(wp.shape[2] == 1 and sp == 1 and wp.shape[1] == cout, f"encoder {i} 1x1 conv shape")
        x, glu = _glu_or_relu(g, pw.output[0], cout)
        _need(wp.shape[0] == (2 if glu else 1) * cout, f"encoder {i} 1x1 conv width")
        if enc:
            _need(w.shape[1] == enc[-1]["cout"], f"encoder {i} input channels")
        else:
            _need(w.shape[1] == 1, "the first encoder conv must read one channel")
        enc.append(dict(w=w, b=b, stride=s, kernel=w.shape[2], cout=cout, cin=w.shape[1],
                        pw_w=wp, pw_b=bp, glu=glu, node=c.name))
        skips.append(x)
    kernel, stride = enc[0]["kernel"], enc[0]["stride"]
    _need(all(e["kernel"] == kernel and e["stride"] == stride for e in enc),
          "every level must use the same kernel size and stride")
    glu = enc[0]["glu"]
    _need(all(e["glu"] == glu for e in enc), "mixed GLU/ReLU levels")

    # LSTM stack.
    _need(len(lstms) >= 1, "no LSTM")
    hidden = enc[-1]["cout"]
    lstm = []
    for k, n in enumerate(lstms):
        at = g.attrs(n)
        acts = [a.decode() if isinstance(a, bytes) else a
                for a in at.get("activations", [b"Sigmoid", b"Tanh", b"Tanh"])]
        if at.get("direction", b"forward") != b"forward":
            g.err(n, "a bidirectional LSTM (causal=False Demucs) cannot stream; export with "
                     "causal=True")
        if acts != ["Sigmoid", "Tanh", "Tanh"] or at.get("input_forget", 0) or "clip" in at \
                or at.get("layout", 0) or at.get("hidden_size") != hidden:
            g.err(n, f"only forward LSTMs with default activations and hidden_size {hidden}")
        for j in (4, 7):
            if len(n.input) > j and n.input[j]:
                g.err(n, "sequence_lens / peepholes are not supported")
        for j in (5, 6):
            if len(n.input) > j and n.input[j]:
                v = g.const.get(n.input[j])
                if v is None or np.any(v != 0):
                    g.err(n, "the initial state must be zero")
        src = n.input[0]
        prod = g.producer.get(src)
        while prod is not None and prod.op_type in ("Transpose", "Squeeze", "Reshape",
                                                    "Identity"):
            src = prod.input[0]
            prod = g.producer.get(src)
        want = skips[-1] if k == 0 else lstms[k - 1].output[0]
        _need(src == want, f"LSTM {k} '{n.name}' does not read "
                           f"{'the last encoder' if k == 0 else 'the previous LSTM'}")
        w = g.const[n.input[1]][0]
        r = g.const[n.input[2]][0]
        b = (g.const[n.input[3]][0] if len(n.input) > 3 and n.input[3]
             else np.zeros(8 * hidden, np.float32))
        bias = b[:4 * hidden] + b[4 * hidden:]

        def reorder(m):  # ONNX i, o, f, c -> i, f, g, o along axis 0
            i_, o_, f_, c_ = np.split(m, 4, axis=0)
            return np.concatenate([i_, f_, c_, o_], axis=0)

        lstm.append(dict(W=np.concatenate([reorder(w).T, reorder(r).T], 0).astype(np.float32),
                         b=reorder(bias).astype(np.float32), inputs=w.shape[1]))

    # Decoder.
    dec = []
    for j in range(depth):
        pw, ct = layers[2 * depth + j], convtr[j]
        add = g.producer.get(pw.input[0])
        _need(add is not None and add.op_type == "Add", f"decoder {j}: the 1x1 conv must read "
                                                        "x + skip")
        srcs = [_skip_source(g, a) for a in add.input]
        _need(skips[depth - 1 - j] in srcs,
              f"decoder {j} '{add.name}' does not add encoder {depth - 1 - j}'s output")
        wp, bp, sp = _conv_params(g, pw, "decoder 1x1 conv")
        cin = enc[depth - 1 - j]["cout"]
        _need(wp.shape[1] == cin and wp.shape[2] == 1 and sp == 1, f"decoder {j} 1x1 shape")
        y, glu_j = _glu_or_relu(g, pw.output[0], cin)
        _need(glu_j == glu and ct.input[0] == y, f"decoder {j}: transposed conv must follow "
                                                 "the activation")
        w, b, s = _conv_params(g, ct, "decoder transposed conv")
        _need(b is not None and w.shape[0] == cin and w.shape[2] == kernel and s == stride,
              f"decoder {j} transposed conv shape {w.shape}")
        cout = w.shape[1]
        _need(cout == enc[depth - 1 - j]["cin"], f"decoder {j} output channels")
        relu = j < depth - 1
        if relu:
            r = g.only_user(ct.output[0], "Relu", f"decoder {j}")
            nxt = layers[2 * depth + j + 1]
            add2 = g.producer.get(nxt.input[0])
            _need(add2 is not None and r.output[0] in [_skip_source(g, a) for a in add2.input]
                  or (add2 is not None and r.output[0] in add2.input),
                  f"decoder {j + 1} does not read decoder {j}")
        dec.append(dict(pw_w=wp, pw_b=bp, w=w, b=b, cin=cin, cout=cout, relu=relu))

    # Normalisation: mix / (floor + std) somewhere before the first convolution.
    floor, normalize = 0.0, False
    for n in g.nodes:
        if n.op_type == "Div" and n.input[0] == g.inputs[0]:
            a = g.producer.get(n.input[1])
            if a is not None and a.op_type == "Add":
                cs = [g.const[i] for i in a.input if i in g.const]
                if len(cs) == 1 and cs[0].size == 1:
                    floor, normalize = float(cs[0].reshape(-1)[0]), True
    _need(normalize or not any(n.op_type == "Sqrt" for n in g.nodes),
          "a Sqrt but no mix / (floor + std) normalisation")

    meta = {p.key: p.value for p in model.metadata_props}
    sr = int(meta.get("denoiser.sample_rate", "16000"))
    # export_demucs.py --output-delay: the network was trained to output the clean signal this
    # many samples late; absent in older exports (0)
    try:
        output_delay = int(meta.get("ghostnv.output_delay", "0"))
    except ValueError:
        output_delay = -1
    _need(0 <= output_delay <= 1 << 16,
          f"ONNX metadata ghostnv.output_delay must be an integer in [0, 65536], got "
          f"{meta.get('ghostnv.output_delay')!r}")
    # export_demucs.py --skip-delay: the skip of encoder level l reaches the decoder
    # skip_delay * resample / stride^l frames late (enhanced_train.py SkipDelayDemucs); the
    # graph is the plain forward, so only the metadata says so. A whole number of frames at the
    # deepest level, and the output is that many samples late (output_delay == skip_delay).
    try:
        skip_delay = int(meta.get("ghostnv.skip_delay", "0"))
    except ValueError:
        skip_delay = -1
    unit = stride ** depth // resample
    _need(0 <= skip_delay <= 1 << 16 and skip_delay % unit == 0,
          f"ONNX metadata ghostnv.skip_delay must be an integer in [0, 65536] and a multiple of "
          f"stride^depth / resample = {unit}, got {meta.get('ghostnv.skip_delay')!r}")
    _need(skip_delay == 0 or output_delay == skip_delay,
          f"ONNX metadata ghostnv.skip_delay {skip_delay} needs ghostnv.output_delay "
          f"{skip_delay} (a skip-delayed network's output is that late), got {output_delay}")
    return dict(enc=enc, dec=dec, lstm=lstm, depth=depth, kernel=kernel, stride=stride,
                resample=resample, kernel_sinc=kernel_sinc, glu=glu, floor=floor,
                normalize=normalize, sample_rate=sr, hidden=enc[0]["cout"],
                length=ishape[-1], output_delay=output_delay, skip_delay=skip_delay)


def valid_length(d, length):
    length = math.ceil(length * d["resample"])
    for _ in range(d["depth"]):
        length = max(math.ceil((length - d["kernel"]) / d["stride"]) + 1, 1)
    for _ in range(d["depth"]):
        length = (length - 1) * d["stride"] + d["kernel"]
    return int(math.ceil(length / d["resample"]))


def recognise(programs):
    """The registry's program-based hook: Demucs is matched on the ONNX graph (recognise_onnx)."""
    return None


def recognise_onnx(paths):
    """Returns the matched model or None. Called by ghostnv_convert before lowering."""
    if len(paths) != 1:
        return None
    try:
        model = onnx.load(paths[0])
    except Exception as e:  # noqa: BLE001
        raise ConvertError(f"{paths[0]}: cannot read ONNX: {e}")
    return match(model, os.path.basename(paths[0]))


def build(d, sources):
    layers, tensors = [], {}

    def dense(name, w, b, act="identity", **extra):
        t = {"weights": f"{name}.weights"}
        tensors[f"{name}.weights"] = np.ascontiguousarray(w, np.float32)
        if b is not None:
            t["bias"] = f"{name}.bias"
            tensors[f"{name}.bias"] = np.ascontiguousarray(b, np.float32).reshape(-1)
        layers.append(dict({"name": name, "kind": "dense", "inputs": int(w.shape[0]),
                            "units": int(w.shape[1]), "activation": act, "tensors": t}, **extra))

    def vector(name, v, **extra):  # f32 whatever the precision: stored as a bias
        dense(name, np.zeros((1, v.size), np.float32), v, op="vector", **extra)

    if d["resample"] > 1:
        vector("resample.kernel", d["kernel_sinc"])
    K, S = d["kernel"], d["stride"]
    for i, e in enumerate(d["enc"]):
        w = np.transpose(e["w"], (2, 1, 0)).reshape(K * e["cin"], e["cout"])  # [k*Cin + c][o]
        dense(f"encoder{i}.conv", w, e["b"], "relu", op="conv1d", kernel=K, stride=S,
              channels_in=int(e["cin"]))
        dense(f"encoder{i}.pw", e["pw_w"][:, :, 0].T, e["pw_b"],
              "identity" if d["glu"] else "relu", op="conv1d", kernel=1, stride=1,
              glu=bool(d["glu"]))
    h = d["enc"][-1]["cout"]
    for k, l in enumerate(d["lstm"]):
        dense(f"lstm{k}", l["W"], l["b"], op="lstm", lstm_inputs=int(l["inputs"]),
              lstm_units=int(h), gates="ifgo")
    for j, e in enumerate(d["dec"]):
        dense(f"decoder{j}.pw", e["pw_w"][:, :, 0].T, e["pw_b"],
              "identity" if d["glu"] else "relu", op="conv1d", kernel=1, stride=1,
              glu=bool(d["glu"]))
        w = np.transpose(e["w"], (0, 2, 1)).reshape(e["cin"], K * e["cout"])  # [c][k*Cout + o]
        dense(f"decoder{j}.convtr", w, None, op="conv_transpose1d", kernel=K, stride=S,
              channels_out=int(e["cout"]), post_activation="relu" if e["relu"] else "identity")
        vector(f"decoder{j}.convtr_bias", e["b"])
    total_stride = S ** d["depth"] // d["resample"]
    frame_length = valid_length(d, 1)
    total_length = frame_length + LOOKAHEAD
    latency = (-(-total_length // total_stride) - 1) * total_stride
    delay = int(d.get("output_delay", 0))
    skip_delay = int(d.get("skip_delay", 0))
    header = {
        "family": "demucs", "name": f"demucs{int(d['hidden'])}-depth{d['depth']}",
        "sample_rate": d["sample_rate"], "frame_size": total_length, "hop_size": total_stride,
        "algorithmic_latency": latency + delay, "math": "exact",
        "metadata": {
            "source_format": "onnx", "sources": sources,
            "demucs": {"depth": d["depth"], "hidden": int(d["hidden"]), "kernel_size": K,
                       "stride": S, "resample": d["resample"], "glu": bool(d["glu"]),
                       "normalize": bool(d["normalize"]), "floor": d["floor"],
                       "lstm_layers": len(d["lstm"]), "frame_length": frame_length,
                       "resample_lookahead": LOOKAHEAD,
                       "resample_buffer": min(total_stride, MAX_RESAMPLE_BUFFER),
                       "traced_length": int(d["length"]),
                       **({"output_delay": delay} if delay else {}),
                       **({"skip_delay": skip_delay} if skip_delay else {})},
            "licence": "architecture: facebookresearch/denoiser (CC-BY-NC 4.0 for the published "
                       "weights); these weights: see the source model",
        },
        "layers": layers,
    }
    return header, tensors
