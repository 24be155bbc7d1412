#!/usr/bin/env python3
"""DeepFilterNet3 on the CPU: speed vs onnxruntime (one thread) and the precision table.

Speed, CPU time per 10 ms hop (480 samples at 48 kHz), one thread, pinned to one CPU
(sched_setaffinity; --cpu), in --reps interleaved repetitions (each repetition times ours,
networks and whole family, then onnxruntime, back to back, so that both see the same machine
load); the table gives the median (and min) per engine and the speed-ups as the median of the
per-repetition ratios and as the ratio of the minima:
  - ours, networks only: gnv_dfn3_run_networks (encoder + ERB decoder + DF decoder, states
    carried) over the features of a real mixture, one ctypes call for all frames;
  - ours, whole family: gnv_dfn3_process (STFT, features, networks, ERB gains, deep filter,
    irFFT, overlap-add) → real-time factor = time / audio duration;
  - onnxruntime 1 thread (intra_op 1, inter_op 1, sequential), per hop, on the graphs rewritten
    for streaming (models/deepfilternet3/streaming/: enc_conv, enc_gru with h0/h1, erb_dec with
    erb_h0/h1, df_dec with df_h0/h1) with S = 1 frame and the GRU states fed back. That is a
    lower bound of what onnxruntime needs per hop: with S = 1 its causal convolutions see zero
    padding instead of the 2 (encoder) and 4 (df_convp) past frames a correct stream needs;
  - onnxruntime 1 thread on the original graphs over the whole sequence, per frame (offline
    batch; not a real-time mode, for reference).
Precision: fp32 / fp16 / int8 .gnvm files run through the family on three real mixtures (Callie
+ café, street, UFO:AI ambience at 5 dB SNR, 8 s each): SNR of the difference to fp32 and
SI-SDR against the clean speech (output latency-aligned). Prints tables; asserts nothing about
time (exit 0 unless something fails to run; 77 when data/modules are missing).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_util  # noqa: E402
import dfn3_common as dc  # noqa: E402


def cpu_time(fn):
    """Process CPU time of one call of fn() (one thread on both sides; CPU time is less
    disturbed than wall time on a shared machine)."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def best_of(fn, reps=5):
    """Minimum over reps of cpu_time(fn)."""
    return min(cpu_time(fn) for _ in range(reps))


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--no-precision", action="store_true")
    ap.add_argument("--reps", type=int, default=7, help="interleaved repetitions")
    ap.add_argument("--cpu", type=int, default=-1,
                    help="CPU to pin to (-1: the last allowed one; -2: do not pin)")
    a = ap.parse_args()
    cpu = bench_util.pin_to_one_cpu(a.cpu) if a.cpu != -2 else None
    dc.need_modules(files=True)
    import numpy as np
    import onnxruntime as ort
    os.makedirs(a.work_dir, exist_ok=True)
    g32 = dc.convert(os.path.join(a.work_dir, "dfn3_fp32.gnvm"))
    shim = dc.Shim(a.lib, g32)
    mix, clean = dc.noisy_mixture(seconds=a.seconds, seed=41, speech_set=0)
    X = dc.stft(mix)
    fe, fs = dc.features(X)
    T = fe.shape[0]
    erb = np.ascontiguousarray(fe, np.float32)
    spec = np.ascontiguousarray(np.stack([fs.real, fs.imag], axis=-1), np.float32)
    P = shim.ptr

    def ours_net():
        shim.lib.gnv_dfn3_run_networks(shim.h, P(erb), P(spec), T)

    def ours_fam():
        shim.process(mix)

    # onnxruntime, streaming graphs, S = 1 per hop.
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    d = os.path.join(os.path.dirname(dc.dfn3_models()[0]), "streaming")
    if os.path.isdir(d):
        s = {n: ort.InferenceSession(os.path.join(d, f"{n}_streaming.onnx"), so,
                                     providers=["CPUExecutionProvider"])
             for n in ("enc_conv", "enc_gru", "erb_dec", "df_dec")}
        feats_e = erb[:, None, None, None, :]
        feats_s = np.ascontiguousarray(spec.transpose(0, 2, 1)[:, None, :, None, :])
        nrun = min(T, 300)

        def ort_stream():
            h = np.zeros((1, 1, 256), np.float32)
            he = np.zeros((2, 1, 256), np.float32)
            hd = np.zeros((2, 1, 256), np.float32)
            for t in range(nrun):
                e0, e1, e2, e3, c0, emb = s["enc_conv"].run(
                    None, {"feat_erb": feats_e[t], "feat_spec": feats_s[t]})
                emb2, _, h = s["enc_gru"].run(None, {"emb": emb.reshape(1, 1, -1), "h0": h})
                emb2 = emb2.reshape(1, 1, -1)
                _, he = s["erb_dec"].run(None, {"emb": emb2, "e3": e3, "e2": e2, "e1": e1,
                                                "e0": e0, "erb_h0": he})
                _, _, hd = s["df_dec"].run(None, {"emb": emb2, "c0": c0, "df_h0": hd})
    else:
        ort_stream, nrun = None, 1
    # Warm-up (page faults, first-touch of the weights), then interleaved repetitions.
    ours_net()
    ours_fam()
    if ort_stream is not None:
        ort_stream()
    r_net, r_fam, r_ort = [], [], []
    for _ in range(max(1, a.reps)):
        r_net.append(cpu_time(ours_net) / T)
        r_fam.append(cpu_time(ours_fam) / T)
        r_ort.append(cpu_time(ort_stream) / nrun if ort_stream is not None else float("nan"))
    sess = dc.sessions(threads=1)
    e4, s4 = dc.onnx_feats(fe, fs)
    t_ort_seq = best_of(lambda: dc.run_networks(sess, e4, s4), reps=2) / T
    hop_ms = 1000.0 * dc.HOP / dc.SR
    where = f"pinned to CPU {cpu}" if cpu is not None else "not pinned"
    print(f"DeepFilterNet3, {T} frames of a real mixture, one thread ({where}), per 10 ms hop, "
          f"{len(r_ort)} interleaved repetitions:")
    print("| what | ms per hop, median (min) | RTF (median) | vs onnxruntime streaming: "
          "median of per-repetition ratios (ratio of minima) |")
    print("|---|---|---|---|")
    rows = (("ours, three networks (gnv_dfn3_run_networks)", r_net),
            ("ours, whole family incl. STFT/features/DF (gnv_dfn3_process)", r_fam),
            ("onnxruntime 1 thread, streaming graphs, S=1 per hop", r_ort))
    for name, r in rows:
        ratio = median([o / t for o, t in zip(r_ort, r)])
        print(f"| {name} | {1000 * median(r):.3f} ({1000 * min(r):.3f}) | "
              f"{1000 * median(r) / hop_ms:.3f} | {ratio:.2f}x ({min(r_ort) / min(r):.2f}x) |")
    print(f"| onnxruntime 1 thread, original graphs, whole sequence / frames (min of 2) | "
          f"{1000 * t_ort_seq:.3f} | {1000 * t_ort_seq / hop_ms:.3f} | (offline, not real-time) |")
    print("per repetition, speed-up networks / family: " +
          ", ".join(f"{o / n:.2f}/{o / f:.2f}" for n, f, o in zip(r_net, r_fam, r_ort)))
    if a.no_precision:
        return 0
    files = {"fp32": g32}
    for p in ("fp16", "int8"):
        files[p] = dc.convert(os.path.join(a.work_dir, f"dfn3_{p}.gnvm"), p)
    mixes = [dc.noisy_mixture(seconds=a.seconds, seed=50 + k, speech_set=k) for k in range(3)]
    outs = {}
    for p, f in files.items():
        outs[p] = []
        for m, _ in mixes:
            y, _ = dc.Shim(a.lib, f).process(  # a fresh channel per mixture
                np.concatenate([m, np.zeros(dc.LATENCY + dc.HOP, np.float32)]))
            outs[p].append(y[dc.LATENCY:dc.LATENCY + len(m)])
    print("\n| precision | file size | SNR of difference to fp32 (3 mixtures) | SI-SDR to clean |")
    print("|---|---|---|---|")
    n = len(mixes[0][0]) - dc.LATENCY
    print("| (noisy input) | | — | " + " / ".join(f"{dc.si_sdr(c[:n], m[:n]):.2f}"
                                                  for m, c in mixes) + " dB |")
    for p, f in files.items():
        snr = " / ".join("—" if p == "fp32" else
                         f"{dc.snr_of_difference(outs['fp32'][k][:n], outs[p][k][:n]):.1f}"
                         for k in range(3))
        sdr = " / ".join(f"{dc.si_sdr(mixes[k][1][:n], outs[p][k][:n]):.2f}" for k in range(3))
        print(f"| {p} | {os.path.getsize(f):,} B | {snr} dB | {sdr} dB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
