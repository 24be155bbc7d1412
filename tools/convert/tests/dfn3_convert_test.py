#!/usr/bin/env python3
"""ghostnv-convert on DeepFilterNet3's graphs: recognition, weight layout, and errors.

  * the three graphs in any order (+ config.ini) give byte-identical .gnvm files;
  * every layer's tensors read back equal the ONNX weights in the documented layout (conv
    [kt*kf*cin_pg, cout], grouped [g*in, out], GRU [in, 3H] z r h, pointwise [cin, cout]);
  * an unsupported operator in a graph (a Relu turned into Elu) is an error naming the node,
    its op and its input shapes: exit status 1, no output file;
  * a non-causal time padding (Pad at the end of the time axis) is an error naming the Pad;
  * a wrong weight shape (a conv kernel cut to 2 taps) is an error naming the node;
  * a missing graph is an error.
Exit 77 without the data or onnx.
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train"))
import dfn3_common as dc  # noqa: E402

FAILS = []


def check(cond, what):
    print(f"{'ok  ' if cond else 'FAIL'} {what}")
    if not cond:
        FAILS.append(what)


def run(out, paths):
    r = subprocess.run([sys.executable, dc.CONVERTER, "-o", out, *paths], capture_output=True,
                       text=True)
    return r.returncode, r.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work-dir", required=True)
    a = ap.parse_args()
    try:
        import numpy as np
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as e:
        print(f"SKIP: {e}")
        return 77
    from gnvm_writer import read_gnvm
    os.makedirs(a.work_dir, exist_ok=True)
    enc, erb, df, ini = dc.dfn3_models()
    o1, o2 = (os.path.join(a.work_dir, f"order{i}.gnvm") for i in (1, 2))
    rc1, e1 = run(o1, [enc, erb, df, ini])
    rc2, e2 = run(o2, [ini, df, enc, erb])
    check(rc1 == 0 and rc2 == 0, f"converts in any order ({e1.strip()} {e2.strip()})")
    if rc1 == 0 and rc2 == 0:
        check(open(o1, "rb").read() == open(o2, "rb").read(), "same bytes in either order")
        hdr, t = read_gnvm(o1)
        check(hdr["family"] == "dfn3" and hdr["algorithmic_latency"] == 1440,
              "family dfn3, latency 1440")
        em = onnx.load(enc)
        init = {x.name: numpy_helper.to_array(x) for x in em.graph.initializer}
        w = init["onnx::Conv_282"]  # erb_conv0 (64, 1, 3, 3) with the BatchNorm folded in
        check(np.array_equal(t["enc.erb_conv0.weights"], w.transpose(2, 3, 1, 0).reshape(9, 64)),
              "conv weights [kt*kf*cin_pg, cout]")
        check(np.array_equal(t["enc.erb_conv1.pw.weights"], init["onnx::Conv_285"][:, :, 0, 0].T),
              "pointwise weights [cin, cout]")
        g = init["df_fc_emb.0.weight"]
        check(np.array_equal(t["enc.df_fc_emb.weights"], g.reshape(32 * 96, 16)),
              "grouped weights [g*in, out]")
        consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t)
                  for n in em.graph.node if n.op_type == "Constant"}
        W = consts["/emb_gru/Constant_3_output_0"][0]
        check(np.array_equal(t["enc.emb_gru.weights"], W.T), "GRU weights [in, 3H] (z, r, h)")

    def mutated(name, fn):
        m = onnx.load(enc)
        fn(m)
        p = os.path.join(a.work_dir, name)
        onnx.save(m, p)
        return p

    def to_elu(m):
        for n in m.graph.node:
            if n.name == "/erb_conv1/3/Relu":
                n.op_type = "Elu"
    bad = os.path.join(a.work_dir, "bad.gnvm")
    rc, err = run(bad, [mutated("elu.onnx", to_elu), erb, df])
    check(rc == 1 and "/erb_conv1/3/Relu" in err and "Elu" in err and not os.path.exists(bad),
          f"unsupported op: exit 1, names node and op, no file ({err.strip()})")

    def acausal(m):  # the 2 frames of time padding moved to the end of the time axis
        pad = [n for n in m.graph.node if n.name == "/erb_conv0/0/Pad"][0]
        c = helper.make_node("Constant", [], ["acausal_pads"], value=numpy_helper.from_array(
            np.array([0, 0, 0, 0, 0, 0, 2, 0], np.int64)))
        m.graph.node.insert(0, c)
        pad.input[1] = "acausal_pads"
    rc, err = run(bad, [mutated("acausal.onnx", acausal), erb, df])
    check(rc == 1 and "/erb_conv0/0/Pad" in err and not os.path.exists(bad),
          f"non-causal padding is an error naming the Pad ({err.strip()})")

    def short_kernel(m):
        for x in m.graph.initializer:
            if x.name == "erb_conv1.0.weight":
                x.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(x)[..., :2].copy(),
                                                   x.name))
    rc, err = run(bad, [mutated("short.onnx", short_kernel), erb, df])
    check(rc == 1 and "/erb_conv1/0/Conv" in err and not os.path.exists(bad),
          f"wrong weight shape is an error naming the node ({err.strip()})")
    rc, err = run(bad, [enc, erb])
    check(rc == 1 and not os.path.exists(bad), f"two graphs only: error ({err.strip()})")
    print("PASS" if not FAILS else f"FAIL: {FAILS}")
    return 0 if not FAILS else 1


if __name__ == "__main__":
    sys.exit(main())
