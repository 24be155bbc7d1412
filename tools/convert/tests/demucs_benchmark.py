"""Causal Demucs speed: our C++ family per hop vs onnxruntime (1 thread) and torch, dns48 size.

A randomly initialised dns48-sized causal Demucs (hidden 48, depth 5, K 8, S 4, resample 4;
export_demucs.py --config dns48 --seed 1) is exported twice: for a 4 s signal and for one
streaming window (661 samples). Printed (single thread everywhere; no timing assertions):
  ours/hop      ProcessHop (the DemucsStreamer algorithm, steady state), per 256-sample hop
  torch/hop     denoiser's DemucsStreamer.feed per hop (torch, 1 thread)
  ort/window    onnxruntime on one 661-sample window (what a naive ORT streaming loop runs
                per hop: the graph recomputes the whole window)
  ort/offline   onnxruntime on 4 s, divided by the number of hops (offline throughput, not
                a streaming cost), and our ProcessOffline likewise
Times are thread CPU time (the machine may be shared; wall time is printed too),
and the C++ offline output vs onnxruntime on the 4 s graph (relative error) as a check that
the big model converts as exactly as the fixture. Exit 77 without torch/denoiser/onnxruntime.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demucs_common as dm  # noqa: E402


def best_of(fn, reps):
    """(min thread-CPU seconds, min wall seconds) of fn over reps runs."""
    cpu, wall = [], []
    for _ in range(reps):
        c0, t0 = time.thread_time(), time.perf_counter()
        fn()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - t0)
    return min(cpu), min(wall)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--config", default="dns48")
    ap.add_argument("--seconds", type=float, default=4.0)
    a = ap.parse_args()
    dm.need_modules()
    if not dm.have_torch_denoiser():
        dm.skip("torch/denoiser needed to export the dns48-sized model")
    import numpy as np
    import torch
    import export_demucs
    from denoiser.demucs import DemucsStreamer
    torch.set_num_threads(1)
    os.makedirs(a.work_dir, exist_ok=True)
    model = export_demucs.build_model(a.config, 1)
    n = int(a.seconds * 16000)
    full = os.path.join(a.work_dir, f"{a.config}_full.onnx")
    export_demucs.export(model, full, n)
    gnvm = os.path.join(a.work_dir, f"{a.config}.gnvm")
    dm.convert(full, gnvm)
    shim = dm.Shim(a.lib, gnvm)
    hop = shim.hop
    window = shim.frame
    win = os.path.join(a.work_dir, f"{a.config}_window.onnx")
    export_demucs.export(model, win, window)

    rng = np.random.default_rng(3)
    x = (0.1 * rng.standard_normal(n)).astype(np.float32)
    s_full = dm.ort_session(full)
    s_win = dm.ort_session(win)
    iname = s_full.get_inputs()[0].name
    y_ort = s_full.run(None, {iname: x.reshape(1, 1, -1)})[0].reshape(-1)
    y_c = shim.offline(x)
    print(f"check: C++ offline vs onnxruntime on {a.config}: rel {dm.rel_err(y_ort, y_c):.2e}, "
          f"SNR {dm.snr_db(y_ort, y_c):.1f} dB")

    hops = n // hop
    ours = shim.bench(max(100, hops))
    t_off = best_of(lambda: s_full.run(None, {iname: x.reshape(1, 1, -1)}), 3)
    t_ours_off = best_of(lambda: shim.offline(x), 3)
    xw = x[:window].reshape(1, 1, -1)
    wname = s_win.get_inputs()[0].name
    t_win = best_of(lambda: s_win.run(None, {wname: xw}), 50)
    st = DemucsStreamer(model)
    xt = torch.from_numpy(x)[None]
    per = []
    with torch.no_grad():
        for i in range(0, n, hop):
            c0, t0 = time.thread_time(), time.perf_counter()
            st.feed(xt[:, i:i + hop])
            if i >= 4 * hop:  # steady state (the first frames are partial / full)
                per.append((time.thread_time() - c0, time.perf_counter() - t0))
    t_torch = (float(np.median([p[0] for p in per])), float(np.median([p[1] for p in per])))
    params = sum(p.numel() for p in model.parameters())
    print(f"\n{a.config} random causal Demucs: {params} parameters, hop {hop} samples "
          f"({1000 * hop / 16000:.0f} ms), latency {shim.latency} samples, 1 thread; "
          f"os.getloadavg() = {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("| engine | per hop, thread CPU (ms) | per hop, wall (ms) | x real time (CPU) |")
    print("|---|---|---|---|")
    budget = hop / 16000.0
    for name, t in (("GhostNV C++ ProcessHop (streaming)", ours),
                    ("torch DemucsStreamer.feed (streaming, median)", t_torch),
                    (f"onnxruntime, one {window}-sample window per hop", t_win),
                    (f"GhostNV C++ ProcessOffline {a.seconds:.0f} s / {hops} hops",
                     (t_ours_off[0] / hops, t_ours_off[1] / hops)),
                    (f"onnxruntime offline {a.seconds:.0f} s / {hops} hops", (t_off[0] / hops,
                                                                              t_off[1] / hops))):
        print(f"| {name} | {1000 * t[0]:.2f} | {1000 * t[1]:.2f} | {budget / t[0]:.1f} |")
    shim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
