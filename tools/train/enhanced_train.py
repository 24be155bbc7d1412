#!/usr/bin/env python3
"""Train the enhanced model: a causal Demucs (facebookresearch/denoiser architecture) at 48 kHz.

Data: the pack written by enhanced_pack.py (training split only; held-out speakers and noises
never enter), decoded once onto the device; every batch is mixed there from a per-step seed
(reproducible, and a resumed run continues with the exact batches it would have seen):
  * a random crop of one speaker's speech (24 kHz sources upsampled x2 by FFT), random EQ
    (smooth random spectral curve, +-eq_db), optional syllable gaps (speech-free stretches);
  * a random crop of one real noise recording (looped), its own random EQ;
  * SNR uniform in snr_db against the active speech RMS, a random overall level (peak_dbfs);
  * simulated reverberation (p_reverb: direct path + exponentially decaying noise, RT60 in
    rt60; the target is the reverberant speech), clipping of the mixture (p_clip), a 44.1 kHz
    round trip (p_441: band limit at 22.05 kHz, mixture and target), noise-only items.
Loss: L1 on the waveform + multi-resolution STFT loss (spectral convergence + log magnitude),
as in Defossez et al. 2020, with resolutions scaled to 48 kHz.

    python3 tools/train/enhanced_train.py --config tools/train/configs/enhanced.json \
        --pack build-enhanced/h200/pack.npz [--resume] [--steps N] [--work-dir DIR]

Writes work_dir/last.pt (model, optimiser, step; --resume continues from it), work_dir/model.pt
(the model's state dict alone, weights_only-loadable) and work_dir/log.jsonl. Stops after
`steps` or `max_minutes` of wall time (checkpointing first). Needs torch, numpy and the
`denoiser` package's demucs.py (pip install --no-deps denoiser, or its sources on PYTHONPATH).
"""

import argparse
import json
import math
import os
import pathlib
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn.functional as F

SR = 48000


# ---- model -------------------------------------------------------------------------------------
def build_model(cfg):
    from denoiser.demucs import Demucs
    m = cfg["model"]
    return Demucs(chin=1, chout=1, hidden=m["hidden"], depth=m["depth"],
                  kernel_size=m["kernel_size"], stride=m["stride"], causal=True,
                  resample=m["resample"], growth=m.get("growth", 2),
                  max_hidden=m.get("max_hidden", 10000), normalize=True, glu=True,
                  rescale=m.get("rescale", 0.1), floor=m.get("floor", 1e-3),
                  sample_rate=SR)


# ---- data --------------------------------------------------------------------------------------
def load_pack(path, device):
    z = np.load(path, allow_pickle=False)
    index = json.loads(str(z["index"]))
    speech, noise = [], []
    for k, e in enumerate(index):
        d = np.frombuffer(zlib.decompress(z[f"blob_{k}"].tobytes()), np.int16)
        x = torch.from_numpy(np.cumsum(d, dtype=np.int16).astype(np.float32) / 32768.0)
        x = x.to(device)
        if e["rate"] == 24000:     # band-limited source: exact x2 upsampling by FFT zero padding
            n = x.numel()
            X = torch.fft.rfft(x)
            x = torch.fft.irfft(X, n=2 * n) * 2.0
        elif e["rate"] != SR:
            raise ValueError(f"{e['name']}: rate {e['rate']}")
        (speech if e["split"] == "speech" else noise).append((e["name"], x))
    return speech, noise


class GpuMixer:
    """Builds (noisy, clean) batches [B, 1, L] on the device from a seed."""

    def __init__(self, speech, noise, aug, device):
        self.aug = aug
        self.device = device
        self.speech_names = [n for n, _ in speech]
        self.noise_names = [n for n, _ in noise]
        self.s_pool = torch.cat([x for _, x in speech])
        self.s_off = torch.tensor(np.cumsum([0] + [x.numel() for _, x in speech])[:-1],
                                  device=device)
        self.s_len = torch.tensor([x.numel() for _, x in speech], device=device)
        self.n_pool = torch.cat([x for _, x in noise])
        self.n_off = torch.tensor(np.cumsum([0] + [x.numel() for _, x in noise])[:-1],
                                  device=device)
        self.n_len = torch.tensor([x.numel() for _, x in noise], device=device)
        # Sources weighted by sqrt(duration) (as data.Mixer): long single voices do not dominate.
        self.s_w = torch.sqrt(self.s_len.double()).float()
        self.n_w = torch.sqrt(self.n_len.double()).float()

    def _crop(self, pool, off, ln, src, start, L):
        pos = start[:, None] + torch.arange(L, device=self.device)
        return pool[off[src, None] + pos % ln[src, None]]

    def _eq(self, x, g, db):
        """Random smooth spectral curve (sum of 4 cosines over log frequency), +-db."""
        B, L = x.shape
        X = torch.fft.rfft(x)
        f = torch.linspace(0, 1, X.shape[1], device=self.device)
        lf = torch.log2(1 + 63 * f) / 6.0                       # 0..1, log-like
        k = torch.arange(1, 5, device=self.device).float()
        amp = (torch.rand(B, 4, generator=g, device=self.device) * 2 - 1) / k
        ph = torch.rand(B, 4, generator=g, device=self.device) * 2 * math.pi
        curve = (amp[:, :, None] * torch.cos(math.pi * k[None, :, None] * lf[None, None, :]
                                             + ph[:, :, None])).sum(1)
        curve = curve / (curve.abs().amax(1, keepdim=True) + 1e-6) * db * \
            torch.rand(B, 1, generator=g, device=self.device)
        return torch.fft.irfft(X * 10 ** (curve / 20), n=L)

    def _lowpass(self, x, cutoff_hz):
        X = torch.fft.rfft(x)
        f = torch.fft.rfftfreq(x.shape[-1], 1 / SR).to(self.device)
        # ~600 Hz raised-cosine transition below the cutoff (a resampler's anti-alias filter)
        w = torch.clamp((cutoff_hz - f) / 600.0, 0, 1)
        w = 0.5 - 0.5 * torch.cos(math.pi * w)
        return torch.fft.irfft(X * w, n=x.shape[-1])

    def _reverb(self, x, g):
        a = self.aug
        B, L = x.shape
        n = int(0.6 * SR)
        t = torch.arange(n, device=self.device) / SR
        rt60 = a["rt60"][0] + (a["rt60"][1] - a["rt60"][0]) * torch.rand(B, 1, generator=g,
                                                                          device=self.device)
        decay = torch.exp(-6.9078 * t[None] / rt60)             # -60 dB at rt60
        tail = torch.randn(B, n, generator=g, device=self.device) * decay
        pre = int(0.002 * SR)                                    # the tail starts after 2 ms
        tail[:, :pre] = 0
        drr = 10 ** (-(torch.rand(B, 1, generator=g, device=self.device) * 12 - 3) / 20)
        tail = tail / (tail.norm(dim=1, keepdim=True) + 1e-8) * drr
        ir = tail
        ir[:, 0] = 1.0
        nfft = 1 << math.ceil(math.log2(L + n))
        y = torch.fft.irfft(torch.fft.rfft(x, nfft) * torch.fft.rfft(ir, nfft), nfft)[:, :L]
        return y

    def batch(self, B, L, seed):
        a, dev = self.aug, self.device
        g = torch.Generator(device=dev)
        g.manual_seed(int(seed))
        u = lambda *s: torch.rand(*s, generator=g, device=dev)  # noqa: E731
        src = torch.multinomial(self.s_w, B, replacement=True, generator=g)
        start = (u(B) * self.s_len[src].float()).long()
        s = self._crop(self.s_pool, self.s_off, self.s_len, src, start, L)
        nsrc = torch.multinomial(self.n_w, B, replacement=True, generator=g)
        nstart = (u(B) * self.n_len[nsrc].float()).long()
        nz = self._crop(self.n_pool, self.n_off, self.n_len, nsrc, nstart, L)
        # speech-free stretches: a random gate (0.1-0.6 s of silence somewhere) on some items
        gate = torch.ones(B, L, device=dev)
        use = u(B) < a["p_gap"]
        gl = (u(B) * 0.5 + 0.1) * SR
        gs = u(B) * L
        pos = torch.arange(L, device=dev)[None].float()
        inside = (pos >= gs[:, None]) & (pos < gs[:, None] + gl[:, None]) & use[:, None]
        gate = torch.where(inside, torch.zeros_like(gate), gate)
        s = s * gate
        s = self._eq(s, g, a["eq_db"])
        nz = self._eq(nz, g, a["eq_db"])
        rev = u(B) < a["p_reverb"]
        if rev.any():
            s = torch.where(rev[:, None], self._reverb(s, g), s)
        # levels: SNR against the active speech RMS (frames within 40 dB of the loudest)
        fr = s[:, : L // 480 * 480].reshape(B, -1, 480).pow(2).mean(-1)
        act = fr > fr.amax(1, keepdim=True) * 1e-4
        s_rms = torch.sqrt((fr * act).sum(1) / act.sum(1).clamp(min=1) + 1e-12)
        n_rms = torch.sqrt(nz.pow(2).mean(1) + 1e-12)
        snr = a["snr_db"][0] + (a["snr_db"][1] - a["snr_db"][0]) * u(B)
        nz = nz * (s_rms / n_rms * 10 ** (-snr / 20))[:, None]
        silent = s_rms < 1e-4
        nz = torch.where(silent[:, None], nz / n_rms[:, None] * 0.05, nz)
        only_noise = u(B) < a["p_noise_only"]
        s = torch.where(only_noise[:, None], torch.zeros_like(s), s)
        noisy = s + nz
        lo, hi = a["peak_dbfs"]
        peak = noisy.abs().amax(1).clamp(min=1e-6)
        gain = 10 ** ((lo + (hi - lo) * u(B)) / 20) / peak
        noisy, s = noisy * gain[:, None], s * gain[:, None]
        lp = u(B) < a["p_441"]
        if lp.any():
            noisy = torch.where(lp[:, None], self._lowpass(noisy, 22050.0), noisy)
            s = torch.where(lp[:, None], self._lowpass(s, 22050.0), s)
        clip = u(B) < a["p_clip"]
        lvl = noisy.abs().amax(1) * (0.3 + 0.6 * u(B))
        noisy = torch.where(clip[:, None], torch.maximum(torch.minimum(noisy, lvl[:, None]),
                                                         -lvl[:, None]), noisy)
        return noisy[:, None], s[:, None]


# ---- loss --------------------------------------------------------------------------------------
def stft_mag(x, n_fft, hop, win):
    w = torch.hann_window(win, device=x.device)
    X = torch.stft(x, n_fft, hop, win, w, return_complex=True)
    return torch.clamp(X.real ** 2 + X.imag ** 2, min=1e-7).sqrt()


def mrstft(y, t, resolutions):
    sc = mag = 0.0
    for n_fft, hop, win in resolutions:
        Y, T = stft_mag(y, n_fft, hop, win), stft_mag(t, n_fft, hop, win)
        sc = sc + torch.norm(T - Y, p="fro") / torch.norm(T, p="fro").clamp(min=1e-6)
        mag = mag + F.l1_loss(torch.log(Y), torch.log(T))
    return sc / len(resolutions), mag / len(resolutions)


# ---- training ----------------------------------------------------------------------------------
def lr_at(cfg, step):
    warm, total = cfg.get("warmup_steps", 200), cfg["steps"]
    if step < warm:
        return cfg["lr"] * (step + 1) / warm
    p = min(1.0, (step - warm) / max(1, total - warm))
    return cfg["lr"] * (cfg.get("lr_final", 0.05) + (1 - cfg.get("lr_final", 0.05))
                        * 0.5 * (1 + math.cos(math.pi * p)))


def save(path, model, opt, step, cfg, extra=None):
    tmp = str(path) + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                "config": cfg, **(extra or {})}, tmp)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--pack", required=True)
    ap.add_argument("--work-dir", help="overrides the config's work_dir")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--steps", type=int, help="stop after this step (smoke runs; the schedule "
                    "still follows the config's steps)")
    ap.add_argument("--max-minutes", type=float, help="overrides the config's max_minutes")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, help="overrides the config (smoke runs)")
    ap.add_argument("--segment", type=float, help="overrides segment_seconds (smoke runs)")
    a = ap.parse_args(argv)
    cfg = json.loads(pathlib.Path(a.config).read_text())
    work = pathlib.Path(a.work_dir or cfg["work_dir"])
    work.mkdir(parents=True, exist_ok=True)
    max_min = a.max_minutes if a.max_minutes is not None else cfg.get("max_minutes", 1e9)
    t0 = time.time()
    dev = torch.device(a.device)
    if dev.type == "cpu":
        torch.set_num_threads(cfg.get("threads", 1))
    torch.manual_seed(cfg["seed"])
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    model = build_model(cfg).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], betas=tuple(cfg.get("betas",
                                                                              (0.9, 0.999))))
    step = 0
    last = work / "last.pt"
    if cfg.get("init_from") and not (a.resume and last.exists()):
        # fine-tuning: start from another run's weights (a state dict, e.g. its model.pt)
        model.load_state_dict(torch.load(cfg["init_from"], map_location=dev, weights_only=True))
        if cfg.get("init_negate_output"):
            # the output layer (last decoder's transposed conv, nothing non-linear after it)
            # negated: an exact sign flip of the model's output
            with torch.no_grad():
                ct = model.decoder[-1][-1]
                ct.weight.neg_()
                ct.bias.neg_()
        print(f"enhanced_train: initialised from {cfg['init_from']}"
              f"{' (output negated)' if cfg.get('init_negate_output') else ''}", flush=True)
    if a.resume and last.exists():
        ck = torch.load(last, map_location=dev, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        print(f"enhanced_train: resumed from {last} at step {step}", flush=True)
    speech, noise = load_pack(a.pack, dev)
    mixer = GpuMixer(speech, noise, cfg["aug"], dev)
    B = a.batch_size or cfg["batch_size"]
    L = int((a.segment or cfg["segment_seconds"]) * SR)
    L = model.valid_length(L)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"enhanced_train: {n_params} parameters, batch {B} x {L} samples, "
          f"{len(speech)} speakers ({mixer.s_pool.numel() / SR:.0f} s), {len(noise)} noises "
          f"({mixer.n_pool.numel() / SR:.0f} s), device {dev}, load {time.time() - t0:.1f} s",
          flush=True)
    res = [tuple(r) for r in cfg["stft_resolutions"]]
    amp = dev.type == "cuda" and cfg.get("bf16", True)
    stop = min(cfg["steps"], a.steps or cfg["steps"])
    log = open(work / "log.jsonl", "a")
    acc, n_acc, t_last = 0.0, 0, time.time()
    ckpt_every = cfg.get("checkpoint_every", 1000)
    model.train()
    while step < stop:
        if (time.time() - t0) / 60 > max_min:
            print(f"enhanced_train: wall-clock budget reached at step {step}", flush=True)
            break
        lr = lr_at(cfg, step)
        for gr in opt.param_groups:
            gr["lr"] = lr
        with torch.no_grad():
            noisy, clean = mixer.batch(B, L, cfg["seed"] * 1000003 + step)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
            est = model(noisy)
        est = est.float()
        if cfg.get("loss_scale") == "input_std":
            # waveform loss on the scale the network sees (Demucs divides by the input's std):
            # without it the L1 term is ~100x smaller than the scale-free STFT terms at low
            # levels, and the phase of the output is left unconstrained
            sd = noisy.std(dim=-1, keepdim=True).clamp(min=1e-5)
            l1 = F.l1_loss(est / sd, clean / sd)
        else:
            l1 = F.l1_loss(est, clean)
        sc, mag = mrstft(est[:, 0], clean[:, 0], res)
        loss = cfg.get("l1_weight", 1.0) * l1 + cfg.get("stft_weight", 1.0) * (sc + mag)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.get("grad_clip"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        opt.step()
        step += 1
        acc = acc + loss.detach()   # a device tensor: no synchronisation per step
        n_acc += 1
        if step % cfg.get("log_every", 200) == 0 or step == stop:
            rec = {"step": step, "loss": float(acc) / max(1, n_acc), "l1": float(l1.detach()),
                   "sc": float(sc.detach()),
                   "mag": float(mag.detach()), "lr": lr, "wall_s": round(time.time() - t0, 1),
                   "steps_per_s": round(cfg.get("log_every", 200) / (time.time() - t_last), 2)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)
            acc, n_acc, t_last = 0.0, 0, time.time()
        if step % ckpt_every == 0:
            save(last, model, opt, step, cfg)
            torch.save(model.state_dict(), work / "model.pt")
    save(last, model, opt, step, cfg)
    torch.save(model.state_dict(), work / "model.pt")
    print(f"enhanced_train: step {step}, wrote {last} and {work / 'model.pt'} "
          f"({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
