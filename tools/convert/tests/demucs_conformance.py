"""Causal Demucs conformance: ghostnv-convert + models/demucs vs onnxruntime and DemucsStreamer.

On the committed fixture tests/data/demucs_small.onnx (a randomly initialised causal Demucs,
hidden 8, depth 4, resample 4, exported by tools/convert/export_demucs.py --config small
--seed 7 --length 32000; our own random weights):

1. offline: our C++ ProcessOffline (through models/demucs/demucs_capi.cc) and the float64
   numpy reading of the .gnvm vs onnxruntime on the same ONNX, on random signals and on two
   real noisy mixtures (skipped with a message without ../shared/data): relative error
   <= 1e-4 and SNR of the difference >= 50 dB. Other lengths (1 .. 513, 4000): C++ vs numpy.
2. streaming: the family's ProcessHop vs DemucsStreamer (torch + denoiser; skipped with a
   message when not importable): the same model, fed hop by hop, our output shifted by the
   reported latency; relative error <= 1e-4 (strength 1 and 0.5 = dry 0.5); the same for
   three other hyper-parameter sets and an opset-11 export, made on the fly (offline and
   streaming). Our streaming vs
   our offline output is printed (they differ by design: running vs global normalisation).
3. --precision fp16 / int8: SNR of the output's difference to fp32 (fp16 >= 40 dB, int8 >= 15 dB).
4. an unsupported operator: exit 1, the message names node, op and shapes, no output file.
Exit 77 when onnx/onnxruntime are missing.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demucs_common as dm  # noqa: E402

LIMIT_REL = 1e-4
LIMIT_DB = 50.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--work-dir", required=True)
    a = ap.parse_args()
    dm.need_modules()
    import numpy as np
    import onnx
    os.makedirs(a.work_dir, exist_ok=True)
    fails = []

    def check(name, cond, msg):
        print(f"{'ok  ' if cond else 'FAIL'} {name}: {msg}")
        if not cond:
            fails.append(name)

    gnvm = os.path.join(a.work_dir, "demucs_small.gnvm")
    r = dm.convert(dm.FIXTURE, gnvm)
    check("convert", "family demucs" in r.stdout, r.stdout.strip())
    sess = dm.ort_session(dm.FIXTURE)
    T = sess.get_inputs()[0].shape[-1]
    shim = dm.Shim(a.lib, gnvm)
    print(f"fixture: traced length {T}, hop {shim.hop}, latency {shim.latency}")

    # 1. offline vs onnxruntime.
    rng = np.random.default_rng(11)
    sigs = {"noise": (0.1 * rng.standard_normal(T)).astype(np.float32),
            "bursts": (rng.standard_normal(T) * np.repeat(rng.uniform(0, 0.5, T // 500 + 1),
                                                          500)[:T]).astype(np.float32)}
    for k, sset in enumerate((0, 1)):
        mix = dm.real_mixture(T / 16000.0, seed=21 + k, speech_set=sset)
        if mix is not None:
            sigs[f"speech{k}"] = mix
    for name, x in sigs.items():
        y_ort = sess.run(None, {sess.get_inputs()[0].name: x.reshape(1, 1, -1)})[0].reshape(-1)
        y_c = shim.offline(x)
        y_np = dm.numpy_offline(gnvm, x)
        e, s = dm.rel_err(y_ort, y_c), dm.snr_db(y_ort, y_c)
        check(f"offline/{name}", e <= LIMIT_REL and s >= LIMIT_DB,
              f"C++ vs onnxruntime rel {e:.2e}, SNR {s:.1f} dB; numpy vs onnxruntime rel "
              f"{dm.rel_err(y_ort, y_np):.2e}")
        check(f"offline-numpy/{name}", dm.rel_err(y_ort, y_np) <= LIMIT_REL, "numpy reading")
    for n in (1, 7, 113, 513, 4000):
        x = (0.1 * rng.standard_normal(n)).astype(np.float32)
        e = dm.rel_err(dm.numpy_offline(gnvm, x), shim.offline(x))
        check(f"offline-length/{n}", e <= LIMIT_REL, f"C++ vs numpy rel {e:.2e}")

    # 2. streaming.
    hop, lat = shim.hop, shim.latency
    for name, x in sigs.items():
        n = (x.size // hop) * hop
        ys = shim.stream(x[:n])
        yo = shim.offline(x[:n])
        print(f"info stream-vs-offline/{name}: SNR {dm.snr_db(yo[:n - lat], ys[lat:]):.1f} dB "
              "(differs by design: running vs global normalisation, frame-edge resampling)")
    if dm.have_torch_denoiser():
        import torch
        import export_demucs
        from denoiser.demucs import DemucsStreamer
        torch.set_num_threads(1)
        model = export_demucs.build_model("small", 7)
        fix = {t.name: onnx.numpy_helper.to_array(t)
               for t in onnx.load(dm.FIXTURE).graph.initializer}
        same = np.array_equal(fix.get("encoder.0.0.weight"),
                              model.encoder[0][0].weight.detach().numpy())
        sgnvm, sshim = gnvm, shim
        if not same:  # another torch's RNG: export this model and convert it
            path = os.path.join(a.work_dir, "demucs_seed7.onnx")
            export_demucs.export(model, path, T)
            sgnvm = os.path.join(a.work_dir, "demucs_seed7.gnvm")
            dm.convert(path, sgnvm)
            sshim = dm.Shim(a.lib, sgnvm)
        print(f"DemucsStreamer model: {'the fixture' if same else 'a fresh export'}")
        for name, x in sigs.items():
            for strength in (1.0, 0.5):
                st = DemucsStreamer(model, dry=1.0 - strength)
                n = (x.size // hop) * hop
                xt = torch.from_numpy(x[:n].copy())[None]
                with torch.no_grad():
                    ref = torch.cat([st.feed(xt[:, i:i + hop]) for i in range(0, n, hop)],
                                    1)[0].numpy()
                ours = sshim.stream(x[:n], strength)[lat:]
                m = min(ref.size, ours.size)
                e, s = dm.rel_err(ref[:m], ours[:m]), dm.snr_db(ref[:m], ours[:m])
                check(f"stream/{name}/strength{strength}", m > 0 and e <= LIMIT_REL,
                      f"vs DemucsStreamer rel {e:.2e}, SNR {s:.1f} dB over {m} samples")

        # Other hyper-parameters, exported here: resample 2, ReLU instead of GLU without the
        # normalisation, kernel 4 / stride 2 (window counts that do not divide evenly), and
        # an opset-11 export (Split with a 'split' attribute, other shape arithmetic).
        variants = {"tiny2": ("tiny2", dict(), 17),
                    "relu-nonorm": ("small", dict(glu=False, normalize=False), 17),
                    "k4s2-depth5": ("small", dict(kernel_size=4, stride=2, depth=5), 17),
                    "opset11": ("small", dict(), 11)}
        for vname, (config, kw, opset) in variants.items():
            vm = export_demucs.build_model(config, 5, **kw)
            path = os.path.join(a.work_dir, f"variant_{vname}.onnx")
            export_demucs.export(vm, path, 6000, opset=opset)
            vg = os.path.join(a.work_dir, f"variant_{vname}.gnvm")
            dm.convert(path, vg)
            vs = dm.Shim(a.lib, vg)
            x = (0.1 * rng.standard_normal(6000)).astype(np.float32)
            so = dm.ort_session(path)
            e_off = dm.rel_err(so.run(None, {so.get_inputs()[0].name: x.reshape(1, 1, -1)})[0]
                               .reshape(-1), vs.offline(x))
            n = (x.size // vs.hop) * vs.hop
            st = DemucsStreamer(vm)
            xt = torch.from_numpy(x[:n].copy())[None]
            with torch.no_grad():
                ref = torch.cat([st.feed(xt[:, i:i + vs.hop]) for i in range(0, n, vs.hop)],
                                1)[0].numpy()
            ours = vs.stream(x[:n])[vs.latency:]
            m = min(ref.size, ours.size)
            e_st = dm.rel_err(ref[:m], ours[:m])
            check(f"variant/{vname}", e_off <= LIMIT_REL and m > 0 and e_st <= LIMIT_REL,
                  f"hop {vs.hop}, latency {vs.latency}: offline vs onnxruntime rel {e_off:.2e}, "
                  f"stream vs DemucsStreamer rel {e_st:.2e}")
            vs.close()

    # 3. precision.
    x = sigs.get("speech0", sigs["noise"])
    y32 = shim.offline(x)
    for prec, lim in (("fp16", 40.0), ("int8", 15.0)):
        path = os.path.join(a.work_dir, f"demucs_small_{prec}.gnvm")
        dm.convert(dm.FIXTURE, path, prec)
        sh = dm.Shim(a.lib, path)
        s = dm.snr_db(y32, sh.offline(x))
        check(f"precision/{prec}", s >= lim, f"SNR of difference to fp32 {s:.1f} dB "
              f"({os.path.getsize(path)} B vs {os.path.getsize(gnvm)} B)")
        sh.close()

    # 4. an unsupported operator is named.
    m = onnx.load(dm.FIXTURE)
    node = next(n for n in m.graph.node if n.op_type == "Relu")
    node.op_type = "Elu"
    bad = os.path.join(a.work_dir, "demucs_bad.onnx")
    onnx.save(m, bad)
    out = os.path.join(a.work_dir, "demucs_bad.gnvm")
    if os.path.exists(out):
        os.unlink(out)
    r = dm.convert(bad, out, check=False)
    check("unsupported-op", r.returncode == 1 and node.name in r.stderr and "op Elu" in r.stderr
          and not os.path.exists(out), r.stderr.strip()[:300])

    shim.close()
    if fails:
        print(f"FAILED: {fails}")
        return 1
    print("all Demucs conformance checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
