"""Lowering of an ONNX graph to a small streaming program (the converter's front end).

Every tensor of the graph is either a constant (numpy array, after folding) or *dynamic*. A
dynamic tensor is represented by an index map: an int64 array of the tensor's shape whose
entries name where each element comes from, `vid * 2**32 + index + 1` (element `index` of
program value `vid`), or 0 for a constant zero (zero padding). Layout operators (Transpose,
Reshape, Squeeze, Unsqueeze, Slice, Split, Concat, Gather, Pad with zeros, Identity, Flatten,
Expand) are evaluated on the index maps themselves with onnx's reference implementation, so
they cost nothing at run time and are exact whatever they do. Operators whose inputs are all
constant are folded the same way (this also folds shape arithmetic: Shape, Gather, Concat,
Unsqueeze, Cast, ... on constants). What is left are compute operators on flat vectors:

    dense      y = x @ W (+ b), from MatMul / Gemm / pointwise Conv
    lstm       (h', c') = LSTM step (from ONNX LSTM nodes; unrolled ones are found later)
    gru        h' = GRU step (ONNX GRU nodes; gates z, r, h as in models/ir.h, reset_after =
               linear_before_reset)
    add_c/sub_c/mul_c/div_c   x (op) constant,  add/sub/mul/div  x (op) y
    sigmoid/tanh/relu/sqrt    element-wise
    mean       mean of all elements (ReduceMean over every non-unit axis)
    gather     elements picked from other values (state slices, broadcasts)

Batch and time axes must be 1 (one streaming step); a dynamic dimension (e.g. 'N') is taken as
1. Anything else is a ConvertError naming the node, its op and its input shapes.
"""

import numpy as np
import onnx
from onnx import numpy_helper, helper
from onnx.reference import ReferenceEvaluator

SHIFT = np.int64(1) << np.int64(32)

LAYOUT_OPS = {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Slice", "Split", "Concat",
              "Gather", "Pad", "Identity", "Flatten", "Expand"}
UNARY = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "Sqrt": "sqrt"}
BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}


class ConvertError(Exception):
    pass


class Op:
    """One program operation. inputs: list of vids; outs: list of vids."""

    def __init__(self, kind, inputs, outs, node, **attrs):
        self.kind, self.inputs, self.outs, self.node, self.attrs = kind, inputs, outs, node, attrs

    def where(self):
        return self.node

    def __repr__(self):
        return f"Op({self.kind}, in={self.inputs}, out={self.outs}, {self.node})"


class Program:
    """Values are flat float vectors: size[vid]. ops in execution order."""

    def __init__(self, name):
        self.name = name
        self.size = []
        self.ops = []
        self.inputs = {}   # graph input name -> vid
        self.outputs = {}  # graph output name -> vid
        self.input_shapes = {}
        self.output_shapes = {}

    def new_value(self, n):
        self.size.append(int(n))
        return len(self.size) - 1

    def producer(self, vid):
        for op in self.ops:
            if vid in op.outs:
                return op
        return None

    def consumers(self, vid):
        users = [op for op in self.ops if vid in op.inputs]
        outs = [name for name, v in self.outputs.items() if v == vid]
        return users, outs


def _describe(node, shapes):
    args = ", ".join(f"{n or '-'}{list(s) if s is not None else '?'}"
                     for n, s in zip(node.input, shapes))
    return f"node '{node.name or node.output[0]}' (op {node.op_type}) with inputs ({args})"


class Lowering:
    def __init__(self, model, label):
        self.model = model
        self.label = label
        self.opset = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
                         or [11])
        self.p = Program(label)
        self.env = {}  # tensor name -> ("c", array) | ("d", imap)

    # -- helpers -------------------------------------------------------------------------------
    def shape_of(self, name):
        if not name:
            return None
        v = self.env.get(name)
        return None if v is None else v[1].shape

    def err(self, node, msg):
        shapes = [self.shape_of(n) for n in node.input]
        raise ConvertError(f"{self.label}: {_describe(node, shapes)}: {msg}")

    def run_ref(self, node, values):
        """Runs one node with onnx's reference implementation on the given input arrays."""
        ins, feeds = [], {}
        for i, (name, val) in enumerate(zip(node.input, values)):
            if not name:
                ins.append("")
                continue
            nm = f"i{i}"
            ins.append(nm)
            feeds[nm] = val
        outs = [f"o{i}" if o else "" for i, o in enumerate(node.output)]
        n2 = helper.make_node(node.op_type, ins, outs, domain=node.domain)
        n2.attribute.extend(node.attribute)
        g = helper.make_graph(
            [n2], "fold",
            [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
             for k, v in feeds.items()],
            [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
             for o in outs if o])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)])
        m.ir_version = self.model.ir_version
        try:
            res = ReferenceEvaluator(m).run(None, feeds)
        except Exception as e:  # noqa: BLE001 - report any evaluator failure as a conversion error
            self.err(node, f"cannot evaluate: {e}")
        return [np.asarray(r) for r in res]

    def ref(self, node, imap):
        """A dynamic tensor as one vid (a whole value in order, or a new gather op)."""
        flat = imap.reshape(-1)
        if flat.size and np.all(flat > 0):
            vid = int((flat[0] - 1) // SHIFT)
            idx = (flat - 1) - np.int64(vid) * SHIFT
            if (np.all((flat - 1) // SHIFT == vid) and self.p.size[vid] == flat.size
                    and np.array_equal(idx, np.arange(flat.size))):
                return vid
        out = self.p.new_value(flat.size)
        srcs = sorted({int((f - 1) // SHIFT) for f in flat if f > 0})
        self.p.ops.append(Op("gather", srcs, [out], self.where(node), imap=flat.copy()))
        return out

    def where(self, node):
        shapes = [self.shape_of(n) for n in node.input]
        return _describe(node, shapes)

    def dyn(self, vid, shape):
        n = int(np.prod(shape)) if len(shape) else 1
        assert n == self.p.size[vid]
        return ("d", (np.arange(n, dtype=np.int64) + np.int64(vid) * SHIFT + 1).reshape(shape))

    def const(self, node, i, what="a constant"):
        name = node.input[i] if i < len(node.input) else ""
        if not name:
            return None
        v = self.env[name]
        if v[0] != "c":
            self.err(node, f"input {i} must be {what}")
        return v[1]

    # -- main ----------------------------------------------------------------------------------
    def run(self):
        g = self.model.graph
        for t in g.initializer:
            self.env[t.name] = ("c", numpy_helper.to_array(t))
        init_names = {t.name for t in g.initializer}
        for inp in g.input:
            if inp.name in init_names:
                continue
            shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                     for d in inp.type.tensor_type.shape.dim]
            vid = self.p.new_value(int(np.prod(shape)) if shape else 1)
            self.p.inputs[inp.name] = vid
            self.p.input_shapes[inp.name] = tuple(shape)
            self.env[inp.name] = self.dyn(vid, tuple(shape))
        for node in g.node:
            for name in node.input:
                if name and name not in self.env:
                    self.err(node, f"input '{name}' is not produced by any earlier node")
            self.lower(node)
        for out in g.output:
            v = self.env.get(out.name)
            if v is None:
                raise ConvertError(f"{self.label}: graph output '{out.name}' is never produced")
            if v[0] == "c":
                raise ConvertError(f"{self.label}: graph output '{out.name}' is a constant")
            fake = helper.make_node("Identity", [out.name], [out.name], name=f"output {out.name}")
            self.p.outputs[out.name] = self.ref(fake, v[1])
            self.p.output_shapes[out.name] = tuple(v[1].shape)
        return self.p

    def lower(self, node):
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            self.err(node, f"operator domain '{node.domain}' is not supported")
        if op == "Constant":
            a = node.attribute[0]
            if a.name != "value":
                self.err(node, f"Constant with attribute '{a.name}' is not supported")
            self.env[node.output[0]] = ("c", numpy_helper.to_array(a.t))
            return
        vals = [self.env[n] if n else None for n in node.input]
        if op in ("Shape", "Size") and vals and vals[0] is not None:
            # Shapes are static here (one streaming step), even of dynamic tensors.
            shape = np.array(vals[0][1].shape, np.int64)
            if op == "Size":
                res = np.array(int(np.prod(shape)), np.int64)
            else:
                at = {a.name: helper.get_attribute_value(a) for a in node.attribute}
                res = shape[at.get("start", 0):at.get("end", len(shape))]
            self.env[node.output[0]] = ("c", res)
            return
        if all(v is None or v[0] == "c" for v in vals):
            res = self.run_ref(node, [v[1] if v is not None else None for v in vals])
            for name, r in zip(node.output, res):
                if name:
                    self.env[name] = ("c", r)
            return
        if op in LAYOUT_OPS:
            self.layout(node, vals)
        elif op in ("MatMul", "Gemm"):
            self.matmul(node, vals)
        elif op == "Conv":
            self.conv(node, vals)
        elif op == "LSTM":
            self.lstm(node, vals)
        elif op == "GRU":
            self.gru(node, vals)
        elif op in UNARY:
            x = vals[0][1]
            out = self.p.new_value(x.size)
            self.p.ops.append(Op(UNARY[op], [self.ref(node, x)], [out], self.where(node)))
            self.env[node.output[0]] = self.dyn(out, x.shape)
        elif op in BINARY or op == "Pow":
            self.binary(node, vals)
        elif op == "ReduceMean":
            self.reduce_mean(node, vals)
        else:
            self.err(node, "operator not supported by ghostnv-convert")

    def layout(self, node, vals):
        op = node.op_type
        arrays = []
        for i, v in enumerate(vals):
            if v is None:
                arrays.append(None)
            elif v[0] == "d":
                arrays.append(v[1])
            elif op in ("Concat", "Expand") and i == 0 and op == "Expand":
                self.err(node, "Expand of a constant with a dynamic shape")
            elif op == "Concat":
                self.err(node, "Concat of dynamic and constant tensors is not supported")
            else:
                arrays.append(v[1])
        if op == "Pad":
            mode = next((helper.get_attribute_value(a) for a in node.attribute
                         if a.name == "mode"), b"constant")
            cval = self.const(node, 2) if len(node.input) > 2 else None
            if mode != b"constant" or (cval is not None and np.any(cval != 0)):
                self.err(node, "only zero padding is supported")
        res = self.run_ref(node, arrays)
        for name, r in zip(node.output, res):
            if name:
                self.env[name] = ("d", r.astype(np.int64))

    def _check_rows(self, node, x, what):
        if int(np.prod(x.shape[:-1])) != 1:
            self.err(node, f"{what}: only one row per step is supported (batch and time must be 1)")

    def add_dense(self, node, x_vid, w, b, out_shape):
        w = np.ascontiguousarray(w, dtype=np.float32)
        out = self.p.new_value(w.shape[1])
        self.p.ops.append(Op("dense", [x_vid], [out], self.where(node), W=w,
                             b=None if b is None else np.asarray(b, np.float32).reshape(-1),
                             act="identity"))
        self.env[node.output[0]] = self.dyn(out, out_shape)

    def matmul(self, node, vals):
        x = vals[0]
        if x[0] != "d" or vals[1][0] != "c":
            self.err(node, "only dynamic x constant matrix products are supported")
        w = vals[1][1]
        b = None
        if node.op_type == "Gemm":
            at = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if at.get("transA", 0):
                self.err(node, "Gemm with transA is not supported")
            if at.get("transB", 0):
                w = w.T
            w = w * np.float32(at.get("alpha", 1.0))
            c = self.const(node, 2)
            if c is not None:
                b = np.broadcast_to(c * np.float32(at.get("beta", 1.0)), (1, w.shape[1]))
        if w.ndim != 2:
            self.err(node, "the weight must be a matrix")
        xm = x[1]
        if xm.shape[-1] != w.shape[0]:
            self.err(node, f"inner sizes differ ({xm.shape[-1]} vs {w.shape[0]})")
        self._check_rows(node, xm, "MatMul")
        self.add_dense(node, self.ref(node, xm), w, b, xm.shape[:-1] + (w.shape[1],))

    def conv(self, node, vals):
        at = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        x = vals[0]
        w = self.const(node, 1, "constant weights")
        b = self.const(node, 2)
        xm = x[1]
        spatial = xm.shape[2:]
        ks = w.shape[2:]
        if at.get("group", 1) != 1:
            self.err(node, "grouped convolution is not supported yet")
        if any(k != 1 for k in ks) or any(s != 1 for s in at.get("strides", [1] * len(ks))) \
                or any(p != 0 for p in at.get("pads", [0] * 2 * len(ks))) \
                or at.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID"):
            self.err(node, "only pointwise (kernel 1, stride 1, no padding) convolutions on a "
                           "single frame are supported yet")
        if xm.shape[0] != 1 or int(np.prod(spatial)) != 1:
            self.err(node, "pointwise convolution needs batch 1 and a single position")
        if w.shape[1] != xm.shape[1]:
            self.err(node, f"channels differ ({xm.shape[1]} vs {w.shape[1]})")
        wd = w.reshape(w.shape[0], w.shape[1]).T
        self.add_dense(node, self.ref(node, xm), wd, b, (1, w.shape[0]) + tuple(spatial))

    def lstm(self, node, vals):
        at = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        hs = at.get("hidden_size")
        acts = [a.decode() if isinstance(a, bytes) else a
                for a in at.get("activations", [b"Sigmoid", b"Tanh", b"Tanh"])]
        if at.get("direction", b"forward") != b"forward" or acts != ["Sigmoid", "Tanh", "Tanh"] \
                or at.get("input_forget", 0) or "clip" in at or at.get("layout", 0):
            self.err(node, "only forward LSTMs with default activations, no clip, layout 0")
        if len(node.input) > 4 and node.input[4]:
            self.err(node, "sequence_lens is not supported")
        if len(node.input) > 7 and node.input[7]:
            self.err(node, "peephole weights are not supported")
        x = vals[0][1]
        w = self.const(node, 1, "constant weights")[0]       # [4H, I], gates i o f c
        r = self.const(node, 2, "constant weights")[0]       # [4H, H]
        b = self.const(node, 3)
        if x.shape[0] != 1 or x.shape[1] != 1:
            self.err(node, "only one time step and batch 1 per call are supported")
        inputs = x.shape[2]
        if w.shape != (4 * hs, inputs) or r.shape != (4 * hs, hs):
            self.err(node, "weight shapes do not match hidden_size")
        bias = np.zeros(4 * hs, np.float32) if b is None else b[0, :4 * hs] + b[0, 4 * hs:]

        def reorder(m):  # iofc -> ifgo along axis 0
            i, o, f, c = np.split(m, 4, axis=0)
            return np.concatenate([i, f, c, o], axis=0)

        states = []
        for k in (5, 6):
            v = vals[k] if k < len(vals) else None
            if v is None:
                self.err(node, "initial_h and initial_c must be given (streaming state)")
            if v[0] == "c":
                self.err(node, "initial state must be a graph input (streaming state)")
            states.append(self.ref(node, v[1]))
        h = self.p.new_value(hs)
        c = self.p.new_value(hs)
        self.p.ops.append(Op("lstm", [self.ref(node, x), states[0], states[1]], [h, c],
                             self.where(node), Wx=np.ascontiguousarray(reorder(w).T),
                             Wh=np.ascontiguousarray(reorder(r).T), b=reorder(bias),
                             units=hs))
        outs = list(node.output) + ["", "", ""]
        if outs[0]:
            self.env[outs[0]] = self.dyn(h, (1, 1, 1, hs))
        if outs[1]:
            self.env[outs[1]] = self.dyn(h, (1, 1, hs))
        if outs[2]:
            self.env[outs[2]] = self.dyn(c, (1, 1, hs))

    def gru(self, node, vals):
        at = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        hs = at.get("hidden_size")
        acts = [a.decode() if isinstance(a, bytes) else a
                for a in at.get("activations", [b"Sigmoid", b"Tanh"])]
        if at.get("direction", b"forward") != b"forward" or acts != ["Sigmoid", "Tanh"] \
                or "clip" in at or at.get("layout", 0):
            self.err(node, "only forward GRUs with default activations, no clip, layout 0")
        if len(node.input) > 4 and node.input[4]:
            self.err(node, "sequence_lens is not supported")
        x = vals[0][1]
        w = self.const(node, 1, "constant weights")[0]       # [3H, I], gates z r h
        r = self.const(node, 2, "constant weights")[0]       # [3H, H]
        b = self.const(node, 3)
        if x.shape[0] != 1 or x.shape[1] != 1:
            self.err(node, "only one time step and batch 1 per call are supported")
        if w.shape != (3 * hs, x.shape[2]) or r.shape != (3 * hs, hs):
            self.err(node, "weight shapes do not match hidden_size")
        v = vals[5] if len(vals) > 5 else None
        if v is None or v[0] == "c":
            self.err(node, "initial_h must be a graph input (streaming state)")
        h = self.p.new_value(hs)
        self.p.ops.append(Op("gru", [self.ref(node, x), self.ref(node, v[1])], [h],
                             self.where(node), W=np.ascontiguousarray(w.T, np.float32),
                             R=np.ascontiguousarray(r.T, np.float32),
                             b=None if b is None else np.asarray(b[0, :3 * hs], np.float32),
                             rb=None if b is None else np.asarray(b[0, 3 * hs:], np.float32),
                             reset_after=bool(at.get("linear_before_reset", 0)), units=hs))
        outs = list(node.output) + ["", ""]
        if outs[0]:
            self.env[outs[0]] = self.dyn(h, (1, 1, 1, hs))
        if outs[1]:
            self.env[outs[1]] = self.dyn(h, (1, 1, hs))

    def binary(self, node, vals):
        op = node.op_type
        a, b = vals
        if op == "Pow":
            e = self.const(node, 1, "a constant exponent")
            if e.size != 1 or float(e.reshape(-1)[0]) != 2.0:
                self.err(node, "only Pow(x, 2) is supported")
            b = a
            op = "Mul"
        if a[0] == "c" and b[0] == "d" and op in ("Add", "Mul"):
            a, b = b, a
        if a[0] == "d" and b[0] == "c":
            shape = np.broadcast_shapes(a[1].shape, b[1].shape)
            if shape != a[1].shape:
                self.err(node, "the constant operand must not broadcast the dynamic one")
            cst = np.ascontiguousarray(np.broadcast_to(b[1], shape), np.float32).reshape(-1)
            out = self.p.new_value(a[1].size)
            self.p.ops.append(Op(BINARY[op] + "_c", [self.ref(node, a[1])], [out],
                                 self.where(node), c=cst))
            self.env[node.output[0]] = self.dyn(out, shape)
            return
        if a[0] == "c":
            self.err(node, "constant (op) dynamic is supported for Add and Mul only")
        try:
            shape = np.broadcast_shapes(a[1].shape, b[1].shape)
        except ValueError:
            self.err(node, "shapes do not broadcast")
        xa = np.broadcast_to(a[1], shape)
        xb = np.broadcast_to(b[1], shape)
        out = self.p.new_value(int(np.prod(shape)))
        self.p.ops.append(Op(BINARY[op], [self.ref(node, xa), self.ref(node, xb)], [out],
                             self.where(node)))
        self.env[node.output[0]] = self.dyn(out, shape)

    def reduce_mean(self, node, vals):
        at = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        x = vals[0][1]
        axes = at.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = list(self.const(node, 1))
        if axes is None:
            axes = list(range(x.ndim))
        axes = [a % x.ndim for a in axes]
        if any(x.shape[d] != 1 for d in range(x.ndim) if d not in axes):
            self.err(node, "only a mean over every non-unit axis is supported")
        shape = tuple(1 if d in axes else x.shape[d] for d in range(x.ndim))
        if not at.get("keepdims", 1):
            shape = tuple(x.shape[d] for d in range(x.ndim) if d not in axes)
        out = self.p.new_value(1)
        self.p.ops.append(Op("mean", [self.ref(node, x)], [out], self.where(node)))
        self.env[node.output[0]] = self.dyn(out, shape)


def lower_model(path, label=None):
    try:
        model = onnx.load(path)
    except Exception as e:  # noqa: BLE001
        raise ConvertError(f"{path}: cannot read ONNX: {e}")
    return Lowering(model, label or str(path)).run()
