#!/usr/bin/env python3
"""Speed of our DTLN (C++, one thread) vs onnxruntime (one thread) on the same graphs, and the
quality cost of --precision fp16/int8. Prints tables (markdown); asserts nothing about time.

Speed, per 10 ms of audio (1.25 hops of 128 samples at 16 kHz), over the same real inputs
(recorded from the reference loop), in --runs interleaved repetitions (each times ours, then
onnxruntime, back to back), process CPU time, pinned to one CPU (--cpu; the machine is often
shared): median and minimum per engine, and the median of the per-repetition speed-ups:
  networks   stage 1 + stage 2 only: onnxruntime's two InferenceSession.run calls per hop vs our
             Networks::RunStage1/RunStage2 (one ctypes call for all hops);
  pipeline   the whole streaming loop: the numpy+onnxruntime reference vs our family's
             ProcessHop (FFT, both networks, iFFT, OLA).
Precision: for fp16 and int8 .gnvm files, the SNR of the difference of our output to our fp32
output, and SI-SDR against the clean speech, on real mixtures (latency-aligned).
Exit 77 when data or modules are missing.
"""
import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_util  # noqa: E402
import dtln_common as dc  # noqa: E402


def si_sdr(ref, est):
    import numpy as np
    ref = ref - ref.mean()
    est = est - est.mean()
    a = np.dot(est, ref) / max(np.dot(ref, ref), 1e-20)
    t = a * ref
    return 10 * np.log10(np.sum(t ** 2) / max(np.sum((est - t) ** 2), 1e-20))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--runs", type=int, default=7, help="interleaved repetitions")
    ap.add_argument("--cpu", type=int, default=-1,
                    help="CPU to pin to (-1: the last allowed one, -2: do not pin)")
    a = ap.parse_args()
    cpu = bench_util.pin_to_one_cpu(a.cpu) if a.cpu != -2 else None
    dc.need_modules()
    import ctypes
    import numpy as np
    os.makedirs(a.work_dir, exist_ok=True)
    s1, s2 = dc.sessions()
    (i1, _), (i2, _) = dc.io_names(s1), dc.io_names(s2)
    mix, clean = dc.noisy_mixture(seconds=a.seconds, seed=5)
    rec = {"mag": [], "frame": []}
    dc.reference_denoise(mix, s1, s2, record=lambda b, mag, st1, mask, frame, st2, y: (
        rec["mag"].append(mag), rec["frame"].append(frame)))
    n = len(rec["mag"])
    per10ms = 160.0 / dc.HOP

    ort_out = {"mask": [], "frame": []}

    def ort_networks(keep=False):
        st1 = np.zeros((1, 2, 128, 2), np.float32)
        st2 = np.zeros((1, 2, 128, 2), np.float32)
        t0 = time.process_time()
        for mag, fr in zip(rec["mag"], rec["frame"]):
            m1, st1 = s1.run(None, {i1[0]: mag, i1[1]: st1})
            y2, st2 = s2.run(None, {i2[0]: fr, i2[1]: st2})
            if keep:
                ort_out["mask"].append(m1.reshape(-1))
                ort_out["frame"].append(y2.reshape(-1))
        return time.process_time() - t0

    gnvm = dc.convert(os.path.join(a.work_dir, "dtln.gnvm"))
    shim = dc.Shim(a.lib, gnvm)
    fp = ctypes.POINTER(ctypes.c_float)
    shim.lib.gnv_dtln_run_networks.argtypes = [ctypes.c_void_p, fp, fp, fp, fp, ctypes.c_long]
    mags = np.ascontiguousarray(np.concatenate([m.reshape(-1) for m in rec["mag"]]), np.float32)
    frames = np.ascontiguousarray(np.concatenate([f.reshape(-1) for f in rec["frame"]]),
                                  np.float32)
    masks = np.zeros(n * 257, np.float32)
    outs = np.zeros(n * 512, np.float32)

    def our_networks():
        t0 = time.process_time()
        shim.lib.gnv_dtln_run_networks(shim.h, shim._p(mags), shim._p(frames), shim._p(masks),
                                       shim._p(outs), n)
        return time.process_time() - t0

    def ort_pipeline():
        t0 = time.process_time()
        dc.reference_denoise(mix, s1, s2)
        return time.process_time() - t0

    def our_pipeline():
        fresh = dc.Shim(a.lib, gnvm)
        t0 = time.process_time()
        fresh.process(mix)
        dt = time.process_time() - t0
        fresh.close()
        return dt

    # The timed paths compute the same thing: worst per-hop relative error of our networks'
    # outputs (streaming path, our own states carried) against onnxruntime's (its own states).
    ort_networks(keep=True)
    our_networks()

    def worst_rel(ours, ref):
        w = 0.0
        for x, r in zip(ours, ref):
            x, r = np.asarray(x, np.float64), np.asarray(r, np.float64)
            scale = max(np.linalg.norm(r), 1e-12)
            peak = max(np.max(np.abs(r)), 1e-12)
            w = max(w, np.linalg.norm(x - r) / scale, np.max(np.abs(x - r)) / peak)
        return w
    net_err = (worst_rel(masks.reshape(n, 257), ort_out["mask"]),
               worst_rel(outs.reshape(n, 512), ort_out["frame"]))

    rows = []
    load0 = os.getloadavg()[0]
    for name, ort_fn, our_fn in (("networks (stage 1 + 2)", ort_networks, our_networks),
                                 ("whole streaming loop", ort_pipeline, our_pipeline)):
        ort_fn(), our_fn()  # warm-up
        to, tu = [], []
        for _ in range(max(1, a.runs)):
            tu.append(our_fn())
            to.append(ort_fn())
        k = per10ms * 1e6 / n
        per_rep = np.median(np.array(to) / np.array(tu))
        rows.append((name, np.median(to) * k, np.median(tu) * k, min(to) * k, min(tu) * k,
                     per_rep))
    shim.close()

    # Precision: SNR of the difference to fp32, SI-SDR to the clean speech.
    lat = dc.FRAME - dc.HOP
    prec_rows = []
    ref32 = None
    for seed, sset in ((6, 0), (7, 1)):
        m, c = dc.noisy_mixture(seconds=a.seconds, seed=seed, speech_set=sset)
        outs_p = {}
        for p in ("fp32", "fp16", "int8"):
            g = dc.convert(os.path.join(a.work_dir, f"dtln_{p}.gnvm"), p)
            sh = dc.Shim(a.lib, g)
            outs_p[p] = sh.process(m).astype(np.float64)[lat:]
            sh.close()
        k = len(outs_p["fp32"])
        cl = np.asarray(c[:k], np.float64)
        prec_rows.append(("noisy input", seed, None, si_sdr(cl, m[:k].astype(np.float64))))
        for p in ("fp32", "fp16", "int8"):
            snr = None if p == "fp32" else dc.snr_of_difference(outs_p["fp32"], outs_p[p])
            prec_rows.append((p, seed, snr, si_sdr(cl, outs_p[p])))
    sizes = {p: os.path.getsize(os.path.join(a.work_dir, f"dtln_{p}.gnvm"))
             for p in ("fp32", "fp16", "int8")}

    print(f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; onnxruntime "
          f"{__import__('onnxruntime').__version__} (1 intra-op thread, sequential)")
    where = f"pinned to CPU {cpu}" if cpu is not None else "not pinned"
    print(f"{n} hops of real noisy speech; CPU microseconds per 10 ms of audio, median (min) of "
          f"{a.runs} interleaved runs, {where}; load average {load0:.1f} -> "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| what | onnxruntime (µs / 10 ms) | ghostnv (µs / 10 ms) | speed-up: ratio of "
          "medians / of minima / median of per-run ratios |")
    print("|---|---|---|---|")
    for name, t_ort, t_our, m_ort, m_our, per_rep in rows:
        print(f"| {name} | {t_ort:.1f} ({m_ort:.1f}) | {t_our:.1f} ({m_our:.1f}) | "
              f"{t_ort / t_our:.2f}x / {m_ort / m_our:.2f}x / {per_rep:.2f}x |")
    print(f"\nnetworks' outputs vs onnxruntime over the {n} hops (streaming path, states carried "
          f"separately): worst per-hop relative error mask {net_err[0]:.2e}, stage-2 frame "
          f"{net_err[1]:.2e}")
    print("\n| precision | mixture | file size (bytes) | SNR of difference to fp32 (dB) | "
          "SI-SDR to clean (dB) |")
    print("|---|---|---|---|---|")
    ok = True
    for p, seed, snr, sd in prec_rows:
        size = sizes.get(p, "")
        print(f"| {p} | {seed} | {size} | {'—' if snr is None else f'{snr:.1f}'} | {sd:.2f} |")
        ok &= bool(np.isfinite(sd)) and (snr is None or snr > 10)
    ok &= bool(max(net_err) < 1e-4)  # the conformance test's limit
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
