#!/usr/bin/env python3
"""Unit tests of ghostnv-convert on small synthetic ONNX graphs (no shared data needed).

Checks, each against onnxruntime or numpy run on the same graph:
  * an ONNX LSTM node and the same LSTM unrolled into MatMul/Add/Split/Sigmoid/Tanh/Mul (in a
    shuffled gate order) lower to the same lstm op, and the op reproduces onnxruntime's step;
  * shape arithmetic (Shape/Gather/Concat/Unsqueeze/Reshape) folds away;
  * ONNX GRU nodes (both linear_before_reset values) against onnxruntime;
  * Gemm with transB, pointwise Conv, layer-norm decomposition with Pow;
  * an unsupported op is an error naming the node, the op and the shapes, exit status 1 and no
    output file (also no leftover temporary).
Exit 77 (skipped) without onnx/onnxruntime.
"""
import argparse
import os
import subprocess
import sys

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERT = os.path.join(HERE, "..")
sys.path.insert(0, CONVERT)
import onnx_lower  # noqa: E402
import patterns  # noqa: E402

RNG = np.random.default_rng(3)
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def f32(*shape, s=0.5):
    return (RNG.standard_normal(shape) * s).astype(np.float32)


def save(graph, path, opset=13):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return path


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def run_program(p, feeds):
    """Executes a lowered, optimised program in numpy (float64) — tests the lowering itself."""
    val = {}
    for name, vid in p.inputs.items():
        val[vid] = feeds[name].astype(np.float64).reshape(-1)
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    for op in p.ops:
        ins = [val[v] for v in op.inputs]
        if op.kind == "gather":
            im = op.attrs["imap"]
            out = np.zeros(im.size)
            for i, e in enumerate(im):
                if e > 0:
                    out[i] = val[int((e - 1) // onnx_lower.SHIFT)][int((e - 1) % onnx_lower.SHIFT)]
            val[op.outs[0]] = out
        elif op.kind == "dense":
            y = ins[0] @ op.attrs["W"] + (0 if op.attrs["b"] is None else op.attrs["b"])
            y = {"identity": y, "sigmoid": sig(y), "tanh": np.tanh(y),
                 "relu": np.maximum(y, 0)}[op.attrs["act"]]
            val[op.outs[0]] = y
        elif op.kind == "lstm":
            x, h, c = ins
            u = op.attrs["units"]
            z = x @ op.attrs["Wx"] + h @ op.attrs["Wh"] + op.attrs["b"]
            cn = sig(z[u:2 * u]) * c + sig(z[:u]) * np.tanh(z[2 * u:3 * u])
            val[op.outs[0]] = sig(z[3 * u:]) * np.tanh(cn)
            val[op.outs[1]] = cn
        elif op.kind == "gru":
            x, h = ins
            u = op.attrs["units"]
            b = np.zeros(3 * u) if op.attrs["b"] is None else op.attrs["b"]
            rb = np.zeros(3 * u) if op.attrs["rb"] is None else op.attrs["rb"]
            gx = x @ op.attrs["W"] + b
            gh = h @ op.attrs["R"]
            z = sig(gx[:u] + gh[:u] + rb[:u])
            r = sig(gx[u:2 * u] + gh[u:2 * u] + rb[u:2 * u])
            if op.attrs["reset_after"]:
                c = np.tanh(gx[2 * u:] + r * (gh[2 * u:] + rb[2 * u:]))
            else:
                c = np.tanh(gx[2 * u:] + (r * h) @ op.attrs["R"][:, 2 * u:] + rb[2 * u:])
            val[op.outs[0]] = z * h + (1 - z) * c
        elif op.kind == "layer_norm":
            x = ins[0]
            d = x - x.mean()
            val[op.outs[0]] = d / np.sqrt((d * d).mean() + op.attrs["eps"]) * op.attrs["gamma"] \
                + op.attrs["beta"]
        elif op.kind == "mul":
            val[op.outs[0]] = ins[0] * ins[1]
        else:
            raise AssertionError(op.kind)
    return {n: val[v] for n, v in p.outputs.items()}


def lstm_graphs(work, inputs=11, units=5):
    """The same LSTM step as an ONNX LSTM node and unrolled (Keras-style, gates i f c o)."""
    w_iofc = f32(1, 4 * units, inputs)
    r_iofc = f32(1, 4 * units, units)
    b = f32(1, 8 * units)
    # ONNX node version
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node("Unsqueeze", ["h", "ax0"], ["h0"]),
             helper.make_node("Unsqueeze", ["c", "ax0"], ["c0"]),
             helper.make_node("LSTM", ["xt", "W", "R", "B", "", "h0", "c0"], ["Y", "Yh", "Yc"],
                              hidden_size=units, name="my_lstm"),
             helper.make_node("Squeeze", ["Yh", "ax0"], ["h_out"]),
             helper.make_node("Squeeze", ["Yc", "ax0"], ["c_out"])]
    inits = [numpy_helper.from_array(w_iofc, "W"), numpy_helper.from_array(r_iofc, "R"),
             numpy_helper.from_array(b, "B"),
             numpy_helper.from_array(np.array([0], np.int64), "ax0")]
    g1 = helper.make_graph(nodes, "lstm_node", [vi("x", [1, 1, inputs]), vi("h", [1, units]),
                                                vi("c", [1, units])],
                           [vi("h_out", [1, units]), vi("c_out", [1, units])], inits)
    p1 = save(g1, os.path.join(work, "lstm_node.onnx"))
    # unrolled, gate blocks stored in the order o, g(c), i, f (not ONNX's, not Keras's)
    i_, o_, f_, c_ = np.split(w_iofc[0], 4)
    ri, ro, rf, rc = np.split(r_iofc[0], 4)
    bb = b[0, :4 * units] + b[0, 4 * units:]
    bi, bo, bf, bc = np.split(bb, 4)
    wx = np.concatenate([o_, c_, i_, f_]).T
    wh = np.concatenate([ro, rc, ri, rf]).T
    bz = np.concatenate([bo, bc, bi, bf])
    nodes = [helper.make_node("Reshape", ["x", "shp"], ["x2"]),
             helper.make_node("MatMul", ["x2", "Wx"], ["a"]),
             helper.make_node("MatMul", ["h", "Wh"], ["r"]),
             helper.make_node("Add", ["r", "a"], ["s"]),
             helper.make_node("Add", ["s", "bz"], ["z"]),
             helper.make_node("Split", ["z", "splits"], ["zo", "zg", "zi", "zf"], axis=1),
             helper.make_node("Sigmoid", ["zi"], ["gi"]),
             helper.make_node("Sigmoid", ["zf"], ["gf"]),
             helper.make_node("Sigmoid", ["zo"], ["go"]),
             helper.make_node("Tanh", ["zg"], ["gg"]),
             helper.make_node("Mul", ["c", "gf"], ["m1"]),
             helper.make_node("Mul", ["gi", "gg"], ["m2"]),
             helper.make_node("Add", ["m2", "m1"], ["c_out"]),
             helper.make_node("Tanh", ["c_out"], ["tc"]),
             helper.make_node("Mul", ["tc", "go"], ["h_out"], name="cell_h")]
    # the Reshape target is computed: Shape(h)[0] ++ [-1]  (folded shape arithmetic)
    nodes = [helper.make_node("Shape", ["h"], ["hs"]),  # Shape of a dynamic input
             helper.make_node("Gather", ["hs", "zero"], ["h0d"], axis=0),
             helper.make_node("Unsqueeze", ["h0d", "ax0"], ["h0u"]),
             helper.make_node("Concat", ["h0u", "minus1"], ["shp"], axis=0)] + nodes
    inits = [numpy_helper.from_array(wx.astype(np.float32), "Wx"),
             numpy_helper.from_array(wh.astype(np.float32), "Wh"),
             numpy_helper.from_array(bz.astype(np.float32), "bz"),
             numpy_helper.from_array(np.array([units] * 4, np.int64), "splits"),
             numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "ax0"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1")]
    g2 = helper.make_graph(nodes, "lstm_unrolled", [vi("x", [1, 1, inputs]), vi("h", [1, units]),
                                                    vi("c", [1, units])],
                           [vi("h_out", [1, units]), vi("c_out", [1, units])], inits)
    p2 = save(g2, os.path.join(work, "lstm_unrolled.onnx"))
    return p1, p2


def test_lstm(work):
    p1, p2 = lstm_graphs(work)
    feeds = {"x": f32(1, 1, 11), "h": f32(1, 5), "c": f32(1, 5, s=2)}
    for path in (p1, p2):
        want = ort.InferenceSession(path).run(None, feeds)
        prog = patterns.optimise(onnx_lower.lower_model(path))
        kinds = [o.kind for o in prog.ops if o.kind != "gather"]
        check(kinds == ["lstm"], f"{os.path.basename(path)}: lowered to one lstm ({kinds})")
        got = run_program(prog, feeds)
        err = max(np.abs(got["h_out"] - want[0].reshape(-1)).max(),
                  np.abs(got["c_out"] - want[1].reshape(-1)).max())
        check(err < 1e-5, f"{os.path.basename(path)}: matches onnxruntime (max err {err:.2e})")
    a = patterns.optimise(onnx_lower.lower_model(p1))
    b = patterns.optimise(onnx_lower.lower_model(p2))
    la = [o for o in a.ops if o.kind == "lstm"][0]
    lb = [o for o in b.ops if o.kind == "lstm"][0]
    same = all(np.allclose(la.attrs[k], lb.attrs[k], atol=1e-6) for k in ("Wx", "Wh", "b"))
    check(same, "LSTM node and unrolled LSTM give the same i,f,g,o weights")


def test_gru(work):
    for lbr in (0, 1):
        units, inputs = 6, 9
        nodes = [helper.make_node("Unsqueeze", ["h", "ax0"], ["h0"]),
                 helper.make_node("GRU", ["x", "W", "R", "B", "", "h0"], ["Y", "Yh"],
                                  hidden_size=units, linear_before_reset=lbr),
                 helper.make_node("Squeeze", ["Yh", "ax0"], ["h_out"])]
        inits = [numpy_helper.from_array(f32(1, 3 * units, inputs), "W"),
                 numpy_helper.from_array(f32(1, 3 * units, units), "R"),
                 numpy_helper.from_array(f32(1, 6 * units), "B"),
                 numpy_helper.from_array(np.array([0], np.int64), "ax0")]
        g = helper.make_graph(nodes, "gru", [vi("x", [1, 1, inputs]), vi("h", [1, units])],
                              [vi("h_out", [1, units])], inits)
        path = save(g, os.path.join(work, f"gru{lbr}.onnx"))
        feeds = {"x": f32(1, 1, inputs, s=1), "h": f32(1, units)}
        want = ort.InferenceSession(path).run(None, feeds)[0].reshape(-1)
        prog = patterns.optimise(onnx_lower.lower_model(path))
        got = run_program(prog, feeds)["h_out"]
        err = np.abs(got - want).max()
        check(err < 1e-5, f"GRU node, linear_before_reset={lbr}: matches onnxruntime "
                          f"(max err {err:.2e})")


def test_dense_conv_norm(work):
    w = f32(7, 9)
    cw = f32(6, 7, 1)
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["d"], transB=1, alpha=0.5),
             helper.make_node("Relu", ["d"], ["dr"]),
             helper.make_node("Unsqueeze", ["dr", "ax2"], ["d3"]),
             helper.make_node("Conv", ["d3", "CW"], ["cv"], kernel_shape=[1]),
             helper.make_node("Squeeze", ["cv", "ax2"], ["v"]),
             helper.make_node("ReduceMean", ["v"], ["mu"], axes=[-1]),
             helper.make_node("Sub", ["v", "mu"], ["dv"]),
             helper.make_node("Pow", ["dv", "two"], ["sq"]),
             helper.make_node("ReduceMean", ["sq"], ["var"], axes=[-1]),
             helper.make_node("Add", ["var", "eps"], ["ve"]),
             helper.make_node("Sqrt", ["ve"], ["sd"]),
             helper.make_node("Div", ["dv", "sd"], ["nv"]),
             helper.make_node("Mul", ["nv", "gamma"], ["ng"]),
             helper.make_node("Add", ["ng", "beta"], ["y"])]
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(f32(7), "b"),
             numpy_helper.from_array(cw, "CW"),
             numpy_helper.from_array(np.array([2], np.int64), "ax2"),
             numpy_helper.from_array(np.array(2, np.float32), "two"),
             numpy_helper.from_array(np.array(1e-5, np.float32), "eps"),
             numpy_helper.from_array(f32(6), "gamma"), numpy_helper.from_array(f32(6), "beta")]
    g = helper.make_graph(nodes, "dcn", [vi("x", [1, 9])], [vi("y", [1, 6])], inits)
    path = save(g, os.path.join(work, "dcn.onnx"), opset=11 + 2)
    feeds = {"x": f32(1, 9, s=1)}
    want = ort.InferenceSession(path).run(None, feeds)[0].reshape(-1)
    prog = patterns.optimise(onnx_lower.lower_model(path))
    kinds = [o.kind for o in prog.ops if o.kind != "gather"]
    check(kinds == ["dense", "dense", "layer_norm"], f"Gemm+Relu, Conv, LayerNorm found ({kinds})")
    got = run_program(prog, feeds)["y"]
    err = np.abs(got - want).max()
    check(err < 1e-4, f"dense/conv/norm program matches onnxruntime (max err {err:.2e})")


def test_unsupported(work):
    nodes = [helper.make_node("MatMul", ["x", "W"], ["a"]),
             helper.make_node("Erf", ["a"], ["y"], name="the_erf")]
    g = helper.make_graph(nodes, "bad", [vi("x", [1, 4])], [vi("y", [1, 3])],
                          [numpy_helper.from_array(f32(4, 3), "W")])
    path = save(g, os.path.join(work, "bad.onnx"))
    out = os.path.join(work, "bad.gnvm")
    if os.path.exists(out):
        os.unlink(out)
    r = subprocess.run([sys.executable, os.path.join(CONVERT, "ghostnv-convert"), "-o", out, path],
                       capture_output=True, text=True)
    check(r.returncode == 1, f"unsupported op: exit status 1 (got {r.returncode})")
    msg = r.stderr
    check("the_erf" in msg and "Erf" in msg and "[1, 3]" in msg,
          f"message names node, op and shapes: {msg.strip()}")
    check(not os.path.exists(out) and not os.path.exists(out + ".tmp"), "no output file left")
    # A graph that lowers fine but is no known family is an error too.
    p1, _ = lstm_graphs(work)
    r = subprocess.run([sys.executable, os.path.join(CONVERT, "ghostnv-convert"), "-o", out, p1],
                       capture_output=True, text=True)
    check(r.returncode == 1 and "no model family" in r.stderr and not os.path.exists(out),
          f"unknown family is an error: {r.stderr.strip()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work-dir", required=True)
    a = ap.parse_args()
    os.makedirs(a.work_dir, exist_ok=True)
    test_lstm(a.work_dir)
    test_gru(a.work_dir)
    test_dense_conv_norm(a.work_dir)
    test_unsupported(a.work_dir)
    if FAILS:
        print(f"{len(FAILS)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
