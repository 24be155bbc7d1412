#!/usr/bin/env python3
"""onnxruntime peer of ghostnv_dtln_cuda_benchmark: DTLN's two ONNX graphs (model_1/model_2.onnx)
on onnxruntime's CUDA provider, per hop (both networks, states carried, inputs/outputs as numpy
arrays, so each run includes its own host<->device copies), batch-1 p50/p99; then the same graphs
with their batch dimension made symbolic at batch 1024/4096/16384/65536 when onnxruntime accepts
that (DTLN's Keras export may hard-code batch 1 in reshapes; then it says so).
Without the CUDA provider it says so and exits 0. Prints a table; asserts nothing.

  python3 dtln_cuda_benchmark_ort.py --models DIR [--hops 1000] [--batches 1024,4096]
"""
import argparse
import os
import sys
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True, help="folder with model_1.onnx and model_2.onnx")
    ap.add_argument("--hops", type=int, default=1000)
    ap.add_argument("--batches", default="1024,4096,16384,65536")
    ap.add_argument("--batch_hops", type=int, default=20)
    a = ap.parse_args()
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as e:
        print(f"onnxruntime peer skipped: {e}")
        return 0
    provs = ort.get_available_providers()
    if "CUDAExecutionProvider" not in provs:
        print(f"onnxruntime {ort.__version__}: no CUDA provider here (providers: {provs}); "
              "GPU peer not measured")
        return 0
    m1, m2 = (os.path.join(a.models, f"model_{i}.onnx") for i in (1, 2))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    cuda = [("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]

    def sessions(p1, p2):
        return ort.InferenceSession(p1, so, providers=cuda), ort.InferenceSession(p2, so, providers=cuda)

    s1, s2 = sessions(m1, m2)
    i1 = [i.name for i in s1.get_inputs()]
    i2 = [i.name for i in s2.get_inputs()]
    rng = np.random.default_rng(1)
    st1 = np.zeros((1, 2, 128, 2), np.float32)
    st2 = np.zeros((1, 2, 128, 2), np.float32)
    times = []
    for h in range(a.hops + 50):
        mag = np.abs(rng.standard_normal((1, 1, 257))).astype(np.float32)
        frame = (0.05 * rng.standard_normal((1, 1, 512))).astype(np.float32)
        t0 = time.perf_counter()
        mask, st1 = s1.run(None, {i1[0]: mag, i1[1]: st1})
        y, st2 = s2.run(None, {i2[0]: frame, i2[1]: st2})
        t1 = time.perf_counter()
        if h >= 50:
            times.append((t1 - t0) * 1e6)
    t = np.array(times)
    print(f"onnxruntime {ort.__version__} CUDA provider, batch 1, both networks per hop: "
          f"p50 {np.percentile(t, 50):.1f} us, p99 {np.percentile(t, 99):.1f} us "
          "(networks only; FFTs and overlap-add not included)")

    # Symbolic batch dimension.
    # Symbolic batch: dim 0 of inputs/outputs becomes "N", and the Reshape shapes the Keras
    # export hard-codes as [1, ...] become [-1, ...] (model_2's Tensordot reshapes); checked
    # below against batch-1 runs row by row.
    from onnx import numpy_helper

    def batched(path, out):
        m = onnx.load(path)
        for v in list(m.graph.input) + list(m.graph.output):
            v.type.tensor_type.shape.dim[0].dim_param = "N"
        del m.graph.value_info[:]
        inits = {t.name: t for t in m.graph.initializer}
        for nd in m.graph.node:
            if nd.op_type == "Reshape" and nd.input[1] in inits:
                arr = numpy_helper.to_array(inits[nd.input[1]]).copy()
                if arr.size and arr[0] == 1 and -1 not in arr:
                    arr[0] = -1
                    inits[nd.input[1]].CopyFrom(numpy_helper.from_array(arr, nd.input[1]))
        onnx.save(m, out)
        return out

    tmp = os.environ.get("TMPDIR", "/tmp")
    try:
        b1 = batched(m1, os.path.join(tmp, "dtln_b_model_1.onnx"))
        b2 = batched(m2, os.path.join(tmp, "dtln_b_model_2.onnx"))
        bs1, bs2 = sessions(b1, b2)
        err = 0.0
        for bs, s, n, names in ((bs1, s1, 257, i1), (bs2, s2, 512, i2)):
            x = rng.random((3, 1, n), dtype=np.float32)
            st = (0.1 * rng.random((3, 2, 128, 2))).astype(np.float32)
            yb = bs.run(None, {names[0]: x, names[1]: st})[0]
            for r in range(3):
                y1 = s.run(None, {names[0]: x[r:r + 1], names[1]: st[r:r + 1]})[0]
                err = max(err, float(np.abs(yb[r] - y1[0]).max()))
        print(f"batched graphs vs batch-1 runs, max abs difference {err:.2g}")
    except Exception as e:  # noqa: BLE001 - any failure means: no batched peer
        print(f"onnxruntime batched peer: the graphs do not run with a batch dimension > 1 "
              f"({type(e).__name__}: {str(e).splitlines()[0][:200]})")
        return 0
    print("| batch | onnxruntime CUDA us per hop (networks only) | streams in real time |")
    print("| ---: | ---: | ---: |")
    for b in [int(x) for x in a.batches.split(",") if x]:
        try:
            mag = np.abs(rng.standard_normal((b, 1, 257))).astype(np.float32)
            frame = (0.05 * rng.standard_normal((b, 1, 512))).astype(np.float32)
            st1 = np.zeros((b, 2, 128, 2), np.float32)
            st2 = np.zeros((b, 2, 128, 2), np.float32)
            times = []
            for h in range(a.batch_hops + 2):
                t0 = time.perf_counter()
                _, st1 = bs1.run(None, {i1[0]: mag, i1[1]: st1})
                _, st2 = bs2.run(None, {i2[0]: frame, i2[1]: st2})
                if h >= 2:
                    times.append((time.perf_counter() - t0) * 1e6)
            us = float(np.mean(times))
            print(f"| {b} | {us:.0f} | {b * 8000.0 / us:.0f} |")
        except Exception as e:  # noqa: BLE001
            print(f"| {b} | failed: {type(e).__name__}: {str(e).splitlines()[0][:120]} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
