#!/usr/bin/env python3
"""End-to-end fine-tuning of the ultra-low-latency model (family "ultra") on the GPU.

The ultra family's DSP (models/ultra/ultra_family.cc) is differentiable and cheap, so this
trainer runs all of it in PyTorch instead of reading features precomputed by the C++ shim:

  batch of (noisy, clean) mixed on the device (enhanced_train.GpuMixer, from the Opus pack of
  enhanced_opuspack.py: shared training split + Debian voices and noises, held-out ones dropped)
  -> 384-sample analysis frames every 96 samples (asymmetric window), FFT, 32 triangular band
     energies, log10 features (exactly the C++ features, up to float rounding)
  -> UltraNet -> 32 band gains -> per-bin gains -> inverse FFT, synthesis window, overlap-add
  -> the output waveform (delayed by 96 samples, as the C++ family).

Loss (all optional by weight, see configs/ultra_e2e*.json):
  * gain_weight: RNNoise's gain loss against the band targets sqrt(E_clean/E_noisy) <= 1 (what
    train_ultra.py optimises), bands above the speech's real bandwidth don't-care;
  * spec_weight: a PESQ-like spectral loss on the output vs the clean speech: power-law
    compressed magnitudes (|.|^0.3) of a 32 ms STFT, bins below 8 kHz weighted 1 (PESQ-WB and
    the harness's 16 kHz copies), above it spec_hf_weight; errors where the output is louder
    than the target (residual noise) weighted 1 + spec_noise_asym; items' bins above their real
    bandwidth don't count;
  * sisdr_weight: -SI-SDR below 8 kHz (keeps the harness's headline metric);
  * vad_weight: BCE of the VAD output against the clean frame's level (within 20 dB of the
    item's loudest hops: 1, 35 dB below: 0).
Snapshots are written every snapshot_every seconds, so an interrupted run still returns models.

    python3 tools/train/ultra_e2e.py --config tools/train/configs/ultra_e2e.json \
        --pack build-enhanced/h200b/pack --init tools/train/work/ultra/last.pt \
        --sndfile-dir build-enhanced/h200b/lib --work-dir $OUT/ultra_a

Writes work_dir/last.pt (train_ultra.py's checkpoint format: export_ultra.py takes it),
work_dir/snap_<step>.pt and work_dir/log.jsonl.
"""

import json
import os
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import enhanced_train as et  # noqa: E402  (the Opus pack loader and the GPU mixer)
import train_common  # noqa: E402
from ultra_model import UltraNet  # noqa: E402

SR = 48000
HOP, WIN, SYN = 96, 384, 192
BINS = WIN // 2 + 1
CENTERS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16,
           18, 22, 26, 30, 35, 41, 48, 56, 66, 77, 90, 104, 122, 142, 165, 192]
NB = len(CENTERS)


def windows():
    """The family's window pair (ultra_family.cc WindowPair), float64 -> float32."""
    rise, tail = WIN - HOP, WIN - SYN
    i = np.arange(WIN)
    a = np.where(i < rise, np.sin(np.pi * (i + 0.5) / (2.0 * rise)),
                 np.sin(np.pi * (i - tail + 0.5) / SYN))
    h = np.sin(np.pi * (i - tail + 0.5) / SYN) ** 2
    s = np.where(i >= tail, h / a, 0.0)
    return a.astype(np.float32), s.astype(np.float32)


def band_matrices():
    """W [BINS, NB]: E = |X|^2 @ W (BandEnergies); I [NB, BINS]: per-bin gains = g @ I."""
    W = np.zeros((BINS, NB), np.float32)
    I = np.zeros((NB, BINS), np.float32)
    for b in range(NB - 1):
        lo, width = CENTERS[b], CENTERS[b + 1] - CENTERS[b]
        for j in range(width):
            frac = np.float32(j) / np.float32(width)
            W[lo + j, b] += 1 - frac
            W[lo + j, b + 1] += frac
            I[b, lo + j] = 1 - frac
            I[b + 1, lo + j] = frac
    W[BINS - 1, NB - 1] += 1
    I[NB - 1, BINS - 1] = 1
    return W, I


class UltraDsp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        a, s = windows()
        W, I = band_matrices()
        self.register_buffer("wa", torch.from_numpy(a))
        self.register_buffer("ws", torch.from_numpy(s))
        self.register_buffer("W", torch.from_numpy(W))
        self.register_buffer("I", torch.from_numpy(I))

    def analyse(self, x):
        """x [B, L] (L multiple of HOP) -> spectra [B, T, BINS], band energies [B, T, NB]."""
        xp = F.pad(x, (WIN - HOP, 0))
        fr = xp.unfold(1, WIN, HOP) * self.wa
        X = torch.fft.rfft(fr)
        E = (X.real ** 2 + X.imag ** 2) @ self.W
        return X, E

    def synthesise(self, X, g):
        """X [B, T, BINS], band gains g [B, T, NB] -> output [B, T * HOP] (96-sample delay)."""
        Y = X * (g @ self.I)
        y = torch.fft.irfft(Y, n=WIN)[..., WIN - SYN:] * self.ws[WIN - SYN:]
        head, tail = y[..., :HOP], y[..., HOP:]
        tail = F.pad(tail, (0, 0, 1, 0))[:, :-1]     # the previous hop's second half
        return (head + tail).reshape(y.shape[0], -1)


def gain_targets(Ex, Ey, bw):
    """min(1, sqrt(Ey/Ex)); -1 where both are below 1e-9 or the band lies above bw [B]."""
    t = torch.clamp(torch.sqrt((Ey + 1e-12) / (Ex + 1e-12)), max=1.0)
    dc = (Ey < 1e-9) & (Ex < 1e-9)
    cen = torch.tensor(CENTERS, device=Ex.device, dtype=torch.float32) * (SR / WIN)
    above = cen[None, None, :] > bw[:, None, None]
    return torch.where(dc | above, torch.full_like(t, -1.0), t)


def bce(p, t):
    p = p.clamp(1e-6, 1 - 1e-6)
    return -(t * torch.log(p) + (1 - t) * torch.log(1 - p))


def gain_loss(g, t):
    m = (t >= 0).float()
    tt = t.clamp(min=0)
    d = torch.sqrt(g.clamp(min=1e-12)) - torch.sqrt(tt)
    per = 10 * d ** 4 + d ** 2 + 0.01 * bce(g, tt)
    return (per * m).sum() / m.sum().clamp(min=1)


def spec_loss(y, s, x, bw, n_fft, hop, hf_weight, asym, c=0.3, lf_hz=0.0, lf_weight=1.0):
    """y output, s clean target, x noisy input (its std sets each item's scale), all [B, L].
    Bins below lf_hz weigh lf_weight (session 14: the held-out error against DTLN is below
    4 kHz, tools/eval/band_error.py); the default leaves every bin below 8 kHz at 1."""
    sd = x.std(dim=-1, keepdim=True).clamp(min=1e-5)
    y, s = y / sd, s / sd
    w = torch.hann_window(n_fft, device=y.device)
    Y = torch.stft(y, n_fft, hop, n_fft, w, return_complex=True)
    S = torch.stft(s, n_fft, hop, n_fft, w, return_complex=True)
    cY = (Y.real ** 2 + Y.imag ** 2 + 1e-12) ** (c / 2)
    cS = (S.real ** 2 + S.imag ** 2 + 1e-12) ** (c / 2)
    d = cY - cS
    f = et.rfft_freqs(n_fft, y.device)   # rfftfreq(n_fft, 1 / SR), one host copy per size
    fw = torch.where(f <= 8000.0, torch.ones_like(f), torch.full_like(f, hf_weight))
    if lf_weight != 1.0:
        fw = torch.where(f < lf_hz, fw * lf_weight, fw)
    m = fw[None, :] * (f[None, :] <= bw[:, None]).float()          # [B, F]
    e = d ** 2 * (1 + asym * (d > 0).float())
    return (e * m[:, :, None]).sum() / (m.sum() * e.shape[-1]).clamp(min=1)


def vad_targets(clean):
    """Per hop: the clean analysis hop's level relative to the item's loudest hops."""
    B, L = clean.shape
    e = clean.reshape(B, -1, HOP).pow(2).mean(-1)
    top = torch.quantile(e, 0.95, dim=1, keepdim=True).clamp(min=1e-10)
    r = 10 * torch.log10(e / top + 1e-12)
    return torch.where(r > -20, torch.ones_like(r),
                       torch.where(r < -35, torch.zeros_like(r), torch.full_like(r, 0.5)))


def main(argv=None):
    a = train_common.e2e_argparser(__doc__.split("\n")[0],
                                   "train_ultra.py checkpoint to start from").parse_args(argv)
    run = train_common.E2ERun(a, SR, HOP)
    cfg, work, dev, mixer, data_desc = run.cfg, run.work, run.dev, run.mixer, run.data_desc
    ck = torch.load(a.init, map_location="cpu", weights_only=False)
    net_sizes = ck.get("net") or ck.get("config", {}).get("net", {})
    net = UltraNet(**net_sizes)
    net.load_state_dict(ck["model"])
    net.to(dev).train()
    dsp = UltraDsp().to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    B, L = run.B, run.L
    print(f"ultra_e2e: {run.summary}, load {time.time() - run.t0:.1f} s, "
          f"config {json.dumps({k: v for k, v in cfg.items() if k != 'aug'})}", flush=True)
    wg, ws_, wsi, wv = (cfg.get("gain_weight", 1.0), cfg.get("spec_weight", 0.0),
                        cfg.get("sisdr_weight", 0.0), cfg.get("vad_weight", 0.05))
    n_fft, s_hop = cfg.get("spec_fft", 1536), cfg.get("spec_hop", 384)
    meter = train_common.LossMeter(work / "log.jsonl", cfg.get("log_every", 100))
    run.start()
    step = 0

    def save(path):
        sd = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        tmp = str(path) + ".tmp"
        torch.save({"model": sd, "net": net.sizes, "step": step, "epoch": ck.get("epoch"),
                    "corpus": ck.get("corpus"), "mix": ck.get("mix"),
                    "data_root": ck.get("data_root"), "e2e_data": data_desc,
                    "config": {**(ck.get("config") or {}), "net": net.sizes, "e2e": cfg}}, tmp)
        os.replace(tmp, path)

    while True:
        done, snapshot, lr = run.tick(step)
        if done:
            break
        if snapshot:
            save(work / f"snap_{step:06d}.pt")
        for gr in opt.param_groups:
            gr["lr"] = lr
        with torch.no_grad():
            noisy, clean = mixer.batch(B, L, cfg["seed"] * 1000003 + step)
            noisy, clean = noisy[:, 0], clean[:, 0]
            bw = mixer.last_bw
            Xc, Ey = dsp.analyse(clean)
        X, Ex = dsp.analyse(noisy)
        feats = torch.log10(Ex + 1e-10)
        g, vad, _ = net(feats)
        losses = {}
        if wg:
            losses["gain"] = gain_loss(g, gain_targets(Ex, Ey, bw))
        if wv:
            losses["vad"] = bce(vad[..., 0], vad_targets(clean)).mean()
        if ws_ or wsi:
            y = dsp.synthesise(X, g)[:, HOP:]
            s = clean[:, :-HOP]
            if ws_:
                losses["spec"] = spec_loss(y, s, noisy[:, :-HOP], bw, n_fft, s_hop, cfg.get("spec_hf_weight", 0.2),
                                           cfg.get("spec_noise_asym", 1.0))
            if wsi:
                losses["sisdr"] = et.sisdr_loss(y, s, 8000.0)
        weights = {"gain": wg, "vad": wv, "spec": ws_, "sisdr": wsi}
        train_common.optimizer_step(net, opt, losses, weights, cfg)
        step += 1
        meter.add(step, lr, losses, time.time() - run.t0)
    save(work / "last.pt")
    print(f"ultra_e2e: done, step {step}, {time.time() - run.t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
