"""Start-up and step loop pieces shared by the GPU/CPU training scripts (ultra_e2e.py,
rnnoise_e2e.py, enhanced_train.py).

    dev = train_common.setup_torch(args.device, cfg)   # device, CPU threads, seed, cuDNN
    lr = train_common.cosine_lr(cfg, frac)              # warm-up, then cosine to lr * lr_final
    meter = train_common.LossMeter(work / "log.jsonl", every=100)
    train_common.optimizer_step(net, opt, losses, weights, cfg)   # weighted sum, clip, step
    meter.add(step, lr, losses, wall_s)                 # mean of each loss every `every` steps

setup_torch: the torch.device for `device` ("cuda", "cpu", ...); on the CPU, cfg["threads"]
threads (default 1: the shared 2-core machine is ~10x slower with two); the global seed
cfg["seed"]; cudnn.benchmark on (fixed shapes every step).
"""

import json
import math

import torch


def setup_torch(device, cfg):
    dev = torch.device(device)
    if dev.type == "cpu":
        torch.set_num_threads(int(cfg.get("threads", 1)))
    torch.manual_seed(cfg["seed"])
    torch.backends.cudnn.benchmark = True
    return dev


def cosine_lr(cfg, frac):
    """cfg["lr"] scaled for training progress frac in [0, 1]: linear warm-up over
    cfg["warmup_frac"] (default 0.03, from 5 %), then a half cosine down to cfg["lr_final"]
    (default 0.05) of it."""
    warm = cfg.get("warmup_frac", 0.03)
    if frac < warm:
        return cfg["lr"] * max(0.05, frac / warm)
    p = min(1.0, (frac - warm) / (1 - warm))
    lf = cfg.get("lr_final", 0.05)
    return cfg["lr"] * (lf + (1 - lf) * 0.5 * (1 + math.cos(math.pi * p)))


def optimizer_step(net, opt, losses, weights, cfg):
    """One step on sum(weights[k] * losses[k]) with gradient-norm clipping at
    cfg["grad_clip"] (default 1.0). Returns the total loss (a tensor)."""
    loss = sum(weights[k] * v for k, v in losses.items())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.get("grad_clip", 1.0))
    opt.step()
    return loss


class LossMeter:
    """Means of each named loss over `every` steps, appended to a JSON-lines log and printed."""

    def __init__(self, path, every):
        self.log = open(path, "a")
        self.every = every
        self.acc, self.n = {}, 0

    def add(self, step, lr, losses, wall_s):
        for k, v in losses.items():
            self.acc[k] = self.acc.get(k, 0.0) + v.detach()
        self.n += 1
        if step % self.every:
            return
        rec = {"step": step, "lr": round(lr, 7), "wall_s": round(wall_s, 1),
               **{k: round(float(v) / self.n, 5) for k, v in self.acc.items()}}
        self.log.write(json.dumps(rec) + "\n")
        self.log.flush()
        print(json.dumps(rec), flush=True)
        self.acc, self.n = {}, 0
