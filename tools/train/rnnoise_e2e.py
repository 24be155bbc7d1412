#!/usr/bin/env python3
"""End-to-end fine-tuning of the default model (family "rnnoise") through the family's DSP.

train.py fits the band gains to sqrt(E_clean/E_noisy); what the listener gets is those gains
after RNNoise's pitch filter, gain smoothing, interpolation to bins and overlap-add, and that
costs SI-SDR on clean-ish input (the default model lost 2.9 dB at 15-20 dB input SNR). This
script trains through that processing:

  batch of (noisy, clean) mixed on the device (enhanced_train.GpuMixer, from the Opus pack of
  enhanced_opuspack.py: shared training split + Debian voices and noises, held-out ones dropped)
  -> the C++ feature extractor through the shim (features, target gains, silent flags, each
     frame's pitch period and the input as the analysis sees it; threads, one item each), with
     or without the input high-pass (metadata.rnnoise.highpass)
  -> RNNoiseNet -> 22 band gains
  -> in PyTorch, exactly the family's DSP (models/rnnoise/rnnoise_family.cc): the spectrum X of
     the windowed frame and P of the window one pitch period back, band energies Ex, Ep, the
     normalised band correlation Exp, the pitch filter at the chosen strength, gain smoothing
     (g = max(g, 0.6 g_prev)), interpolation to bins, inverse FFT, window, overlap-add; silent
     frames pass unchanged, as in the engine
  -> the output waveform (480 samples late, as the engine).

Loss (weights in configs/rnnoise_e2e.json, --set KEY=JSON overrides):
  gain_weight  RNNoise's gain loss against the extractor's targets (bands above the speech's
               real bandwidth don't care); keeps the network close to what it was trained for;
  sisdr_weight -SI-SDR below 8 kHz of the aligned output against the clean speech;
  spec_weight  ultra_e2e's PESQ-like power-law compressed spectral loss (residual noise weighted
               1 + spec_noise_asym);
  vad_weight   BCE of the VAD output against the clean frame's level relative to the item's
               loudest frames (as data.py's target; non-silent frames only).
A fraction hi_snr_frac of the steps mixes at hi_snr_db (default 12-30 dB) instead of the
config's aug.snr_db, so clean-ish input, where the old model lost SI-SDR, is well represented.

    python3 tools/train/rnnoise_e2e.py --config tools/train/configs/rnnoise_e2e.json \\
        --pack build-enhanced/h200b/pack --sndfile-dir build-enhanced/h200b/lib \\
        --init tools/train/work/default/last.pt --lib-dir build/tools/train --work-dir work/d1
    python3 tools/train/export.py --checkpoint work/d1/last.pt --out d1.gnvm --no-highpass

Writes work_dir/last.pt (train.py's checkpoint format, export.py takes it; its
config.e2e.dsp holds the highpass / pitch_filter the export must set), snap_<step>.pt,
log.jsonl.
"""

import concurrent.futures as cf
import json
import os
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import ghostnv_ext  # noqa: E402
import train_common  # noqa: E402
from model import RNNoiseNet  # noqa: E402

SR = 48000
HOP, WIN = 480, 960
BINS = WIN // 2 + 1
NB = 22
PITCH_BUF = 768 + 960          # audio/pitch.h kBuf: the pitch buffer holds this many samples
EDGES_200HZ = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 34, 40, 48, 60, 78, 100]
GAIN_SMOOTHING = 0.6


def window():
    """audio::PowerComplementaryWindow(960), computed in double and rounded to float."""
    half = WIN // 2
    i = np.arange(half)
    s = np.sin(0.5 * np.pi * (i + 0.5) / half)
    w = np.sin(0.5 * np.pi * s * s).astype(np.float32)
    return np.concatenate([w, w[::-1]])


def band_matrices():
    """W [BINS, NB]: BandEnergy(X) = |X|^2 @ W (first and last band doubled, bins >= 400 unused);
    I [NB, BINS]: InterpolateBandGains(g) = g @ I (0 above bin 400)."""
    W = np.zeros((BINS, NB), np.float32)
    I = np.zeros((NB, BINS), np.float32)
    for b in range(NB - 1):
        start, size = EDGES_200HZ[b] * 4, (EDGES_200HZ[b + 1] - EDGES_200HZ[b]) * 4
        for j in range(size):
            frac = np.float32(j) / np.float32(size)
            W[start + j, b] += 1 - frac
            W[start + j, b + 1] += frac
            I[b, start + j] = 1 - frac
            I[b + 1, start + j] = frac
    W[:, 0] *= 2
    W[:, NB - 1] *= 2
    return W, I


class RnnoiseDsp(torch.nn.Module):
    """The family's DSP around the network, batched over items and frames."""

    def __init__(self, pitch_filter=1.0, gain_slope=0.0):
        super().__init__()
        W, I = band_matrices()
        self.register_buffer("w", torch.from_numpy(window()))
        self.register_buffer("W", torch.from_numpy(W))
        self.register_buffer("I", torch.from_numpy(I))
        self.pitch_filter = float(pitch_filter)
        self.gain_slope = float(gain_slope)

    def analyse(self, x, periods):
        """x [B, N] (the input as the engine sees it, high-passed or not; N = T * 480), periods
        [B, T] -> X, P [B, T, BINS] complex, Ex, Ep, Exp [B, T, NB]."""
        B, N = x.shape
        T = N // HOP
        xp = F.pad(x, (PITCH_BUF, 0))
        ar = torch.arange(WIN, device=x.device)
        start = (torch.arange(T, device=x.device) + 1) * HOP - WIN + PITCH_BUF   # frame t's window
        fr = xp[:, start[:, None] + ar]                                          # [B, T, WIN]
        pidx = (start[None, :] - periods.long())[..., None] + ar                 # one period back
        pf = torch.gather(xp, 1, pidx.reshape(B, -1)).reshape(B, T, WIN)
        X = torch.fft.rfft(fr * self.w)
        P = torch.fft.rfft(pf * self.w)
        Ex = (X.real ** 2 + X.imag ** 2) @ self.W
        Ep = (P.real ** 2 + P.imag ** 2) @ self.W
        Exp = (X.real * P.real + X.imag * P.imag) @ self.W
        Exp = Exp / torch.sqrt(0.001 + Ex * Ep)
        return X, P, Ex, Ep, Exp

    def pitch_filter_(self, X, P, Ex, Ep, Exp, g):
        """audio::bands::PitchFilter (differentiable in g)."""
        e2, g2 = Exp * Exp, g * g
        ri = torch.where(Exp > g, torch.ones_like(g), e2 * (1 - g2) / (0.001 + g2 * (1 - e2)))
        ri = torch.sqrt(ri.clamp(1e-12, 1.0)) * torch.sqrt(Ex / (1e-8 + Ep))
        r = ri * self.pitch_filter
        if self.gain_slope > 0:
            r = r * torch.clamp(self.gain_slope * (1 - g), max=1.0)
        Xf = X + (r @ self.I) * P
        new_e = (Xf.real ** 2 + Xf.imag ** 2) @ self.W
        norm = torch.sqrt((Ex / (1e-8 + new_e)).clamp(min=1e-20))
        return Xf * (norm @ self.I)

    def synthesise(self, X, P, Ex, Ep, Exp, g, silent):
        """Band gains g [B, T, NB] (the network's), silent [B, T] bool -> output [B, T * 480],
        480 samples late."""
        B, T, _ = g.shape
        Xf = self.pitch_filter_(X, P, Ex, Ep, Exp, g) if self.pitch_filter > 0 else X
        last = torch.zeros_like(g[:, 0])
        gs = []
        for t in range(T):
            gt = torch.maximum(g[:, t], GAIN_SMOOTHING * last)
            last = torch.where(silent[:, t, None], last, gt)
            gs.append(gt)
        gs = torch.stack(gs, 1)
        Y = torch.where(silent[..., None], X, Xf * (gs @ self.I))
        y = torch.fft.irfft(Y, n=WIN) * self.w                 # irfft = engine's Inverse / 960
        head, tail = y[..., :HOP], y[..., HOP:]
        tail = F.pad(tail, (0, 0, 1, 0))[:, :-1]                # the previous frame's second half
        return (head + tail).reshape(B, -1)


def run_net(net, feats, silent):
    """The network on each item's non-silent frames only (the engine does not run it on silent
    frames, so its recurrent state skips them): features [B, T, 42], silent [B, T] bool ->
    gains [B, T, NB], vad [B, T, 1] (values at silent frames unused)."""
    order = torch.argsort(silent.to(torch.int8), dim=1, stable=True)   # non-silent first
    f = torch.gather(feats, 1, order[..., None].expand_as(feats))
    g, v, _ = net(f)
    gi = torch.zeros_like(g).scatter(1, order[..., None].expand_as(g), g)
    vi = torch.zeros_like(v).scatter(1, order[..., None].expand_as(v), v)
    return gi, vi


def band_dontcare(gains, bw):
    """Target gains [B, T, NB] with bands centred above each item's speech bandwidth bw [B]
    set to -1 (don't care), as data.py does."""
    cen = torch.tensor([e * 200.0 for e in EDGES_200HZ], device=gains.device)
    above = cen[None, None, :] > bw[:, None, None]
    return torch.where(above, torch.full_like(gains, -1.0), gains)


class Extractor:
    """The C++ features of a batch, one item per thread (ctypes releases the GIL)."""

    def __init__(self, lib_dir, threads, highpass_on):
        self.ext = ghostnv_ext.GhostnvExt.open(lib_dir)
        self.pool = cf.ThreadPoolExecutor(max(1, threads))
        self.hp = highpass_on

    def _one(self, noisy, clean):
        # x: the input as the engine's analysis sees it (its own high-pass, in float)
        return self.ext.extract_features(noisy, clean, highpass=self.hp, periods=True)

    def __call__(self, noisy, clean):
        """noisy, clean: numpy [B, N] float32 -> dict of numpy arrays [B, ...]."""
        res = list(self.pool.map(self._one, list(noisy), list(clean)))
        keys = ("features", "gains", "vad", "silent", "periods", "x")
        return {k: np.stack([r[i] for r in res]) for i, k in enumerate(keys)}


def vad_targets(clean):
    """Per frame: the clean hop's level relative to the item's loudest hops (within 20 dB: 1,
    35 dB below: 0, between: 0.5), independent of the random overall gain (as data.py)."""
    B, N = clean.shape
    e = clean.reshape(B, -1, HOP).pow(2).mean(-1)
    top = torch.quantile(e, 0.95, dim=1, keepdim=True).clamp(min=1e-10)
    r = 10 * torch.log10(e / top + 1e-12)
    return torch.where(r > -20, torch.ones_like(r),
                       torch.where(r < -35, torch.zeros_like(r), torch.full_like(r, 0.5)))


def gain_loss(g, t):
    """RNNoise's gain loss (model.rnnoise_loss's gain part), mean over cared-for entries."""
    m = (t >= 0).float()
    tt = t.clamp(min=0)
    d = torch.sqrt(g.clamp(min=1e-12)) - torch.sqrt(tt)
    gc = g.clamp(1e-6, 1 - 1e-6)
    bce = -(tt * torch.log(gc) + (1 - tt) * torch.log(1 - gc))
    per = 10 * d ** 4 + d ** 2 + 0.01 * bce
    return (per * m).sum() / m.sum().clamp(min=1)


def load_init(path):
    """A train.py checkpoint (with its feature normalisation)."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    net = RNNoiseNet()
    net.load_state_dict(ck["model"])
    return net, ck


def main(argv=None):
    ap = train_common.e2e_argparser(__doc__.split("\n")[0], "train.py checkpoint to start from")
    ap.add_argument("--lib-dir", help="folder of libghostnv_train_features.so")
    a = ap.parse_args(argv)
    run = train_common.E2ERun(a, SR, HOP)
    cfg, work, dev, mixer, data_desc = run.cfg, run.work, run.dev, run.mixer, run.data_desc
    import enhanced_train as et   # sisdr_loss
    base_snr = list(cfg["aug"]["snr_db"])
    dsp_opts = {"highpass": bool(cfg.get("highpass", True)),
                "pitch_filter": float(cfg.get("pitch_filter", 1.0))}
    ex = Extractor(a.lib_dir, cfg.get("extract_threads", os.cpu_count() or 1),
                   dsp_opts["highpass"])
    net, ck = load_init(a.init)
    net.to(dev).train()
    dsp = RnnoiseDsp(dsp_opts["pitch_filter"]).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    B, L = run.B, run.L
    print(f"rnnoise_e2e: {run.summary}, dsp {dsp_opts}, load {time.time() - run.t0:.1f} s, "
          f"config {json.dumps({k: v for k, v in cfg.items() if k != 'aug'})}", flush=True)
    wg, wsi, wsp, wv = (cfg.get("gain_weight", 1.0), cfg.get("sisdr_weight", 0.0),
                        cfg.get("spec_weight", 0.0), cfg.get("vad_weight", 0.05))
    meter = train_common.LossMeter(work / "log.jsonl", cfg.get("log_every", 50))
    run.start()
    step = 0
    rng = np.random.default_rng(cfg["seed"])

    def save(path):
        sd = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        tmp = str(path) + ".tmp"
        torch.save({"model": sd, "step": step, "epoch": ck.get("epoch"),
                    "history": ck.get("history"), "corpus": ck.get("corpus"),
                    "mix": ck.get("mix"), "data_root": ck.get("data_root"),
                    "e2e_data": data_desc,
                    "config": {**(ck.get("config") or {}),
                               "e2e": {**cfg, "dsp": dsp_opts, "init": str(a.init)}}}, tmp)
        os.replace(tmp, path)

    while True:
        done, snapshot, lr = run.tick(step)
        if done:
            break
        if snapshot:
            save(work / f"snap_{step:06d}.pt")
        for gr in opt.param_groups:
            gr["lr"] = lr
        hi = rng.random() < cfg.get("hi_snr_frac", 0.0)
        mixer.aug["snr_db"] = cfg.get("hi_snr_db", [12.0, 30.0]) if hi else base_snr
        with torch.no_grad():
            noisy, clean = mixer.batch(B, L, cfg["seed"] * 1000003 + step)
            noisy, clean = noisy[:, 0], clean[:, 0]
            bw = mixer.last_bw
        d = ex(noisy.float().cpu().numpy(), clean.float().cpu().numpy())
        feats = torch.from_numpy(d["features"]).to(dev)
        tg = band_dontcare(torch.from_numpy(d["gains"]).to(dev), bw)
        silent = torch.from_numpy(d["silent"]).to(dev)
        x = torch.from_numpy(d["x"]).to(dev)
        with torch.no_grad():
            X, P, Ex, Ep, Exp = dsp.analyse(x, torch.from_numpy(d["periods"]).to(dev))
        g, vad = run_net(net, feats, silent)
        losses = {}
        if wg:
            losses["gain"] = gain_loss(g, tg)
        if wv:
            vt = vad_targets(clean)
            vp = vad[..., 0].clamp(1e-6, 1 - 1e-6)
            bce = -(vt * torch.log(vp) + (1 - vt) * torch.log(1 - vp))
            keep = (~silent).float()
            losses["vad"] = (bce * keep).sum() / keep.sum().clamp(min=1)
        if wsi or wsp:
            y = dsp.synthesise(X, P, Ex, Ep, Exp, g, silent)[:, HOP:]
            s = clean[:, :-HOP]
            if wsi:
                losses["sisdr"] = et.sisdr_loss(y, s, 8000.0)
            if wsp:
                import ultra_e2e
                losses["spec"] = ultra_e2e.spec_loss(
                    y, s, noisy[:, :-HOP], bw, cfg.get("spec_fft", 1536), cfg.get("spec_hop", 384),
                    cfg.get("spec_hf_weight", 0.2), cfg.get("spec_noise_asym", 1.0))
        weights = {"gain": wg, "vad": wv, "sisdr": wsi, "spec": wsp}
        train_common.optimizer_step(net, opt, losses, weights, cfg)
        step += 1
        meter.add(step, lr, losses, time.time() - run.t0)
    save(work / "last.pt")
    print(f"rnnoise_e2e: done, step {step}, {time.time() - run.t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
