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

The two end-to-end fine-tuning scripts (ultra_e2e.py, rnnoise_e2e.py) also share their command
line (e2e_argparser) and their set-up and wall-clock schedule (E2ERun):

    a = train_common.e2e_argparser(doc, "train.py checkpoint to start from").parse_args(argv)
    run = train_common.E2ERun(a, SR, HOP)   # cfg + --set, work dir, device, pack -> mixer, B x L
    ... load the initial network ...
    run.start()                             # the budget counts from here
    while True:
        done, snapshot, lr = run.tick(step)
        ...
"""

import argparse
import json
import math
import pathlib
import sys
import time

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


def e2e_argparser(description, init_help):
    """The command line of the end-to-end fine-tuning scripts (a script adds its own options)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--config", required=True)
    ap.add_argument("--pack", required=True, help="enhanced_opuspack.py folder (or .npz pack)")
    ap.add_argument("--init", required=True, help=init_help)
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--sndfile-dir")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--max-seconds", type=float, help="overrides the config's max_seconds")
    ap.add_argument("--steps", type=int, help="stop after N steps (smoke runs)")
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--segment", type=float)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="override a config key (e.g. --set sisdr_weight=0.3)")
    return ap


class E2ERun:
    """The set-up an end-to-end fine-tuning run does from e2e_argparser's arguments `a`: cfg (the
    config file with the --set overrides; batch_size and segment_seconds as run, for the
    checkpoints), the work folder, the device (setup_torch), the pack's sources mixed on the
    device by enhanced_train.GpuMixer (`mixer`, `data_desc`), the batch shape B x L (L whole
    hops) and, after start(), the wall-clock schedule: max_seconds (or --max-seconds) counts
    from the script's start, training gets what is left once start() is called."""

    def __init__(self, a, sr, hop):
        import enhanced_train as et   # the Opus pack loader and the GPU mixer
        self.t0 = time.time()
        cfg = json.loads(pathlib.Path(a.config).read_text())
        # dotted keys reach "aug"; an augmentation key given at the top level is refused
        try:
            cfg = et.apply_overrides(cfg, a.set, {"aug": et.AUG_KEYS})
        except ValueError as e:
            raise SystemExit(f"{pathlib.Path(sys.argv[0]).name}: {e}") from None
        self.work = pathlib.Path(a.work_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.dev = setup_torch(a.device, cfg)
        if pathlib.Path(a.pack).is_dir():
            speech, noise = et.load_opus_pack(a.pack, self.dev, a.sndfile_dir,
                                              cfg.get("decode_jobs"))
        else:
            speech, noise = et.load_pack(a.pack, self.dev)
        self.mixer = et.GpuMixer(speech, noise, cfg["aug"], self.dev)
        self.data_desc = {"pack": pathlib.Path(a.pack).name, "speech_sources": len(speech),
                          "speech_s": round(self.mixer.s_pool.numel() / sr),
                          "noise_sources": len(noise),
                          "noise_s": round(self.mixer.n_pool.numel() / sr)}
        self.B = a.batch_size or cfg["batch_size"]
        self.L = int((a.segment or cfg["segment_seconds"]) * sr) // hop * hop
        cfg["batch_size"], cfg["segment_seconds"] = self.B, self.L / sr
        self.max_s = a.max_seconds if a.max_seconds is not None else cfg.get("max_seconds", 1e9)
        self.steps = a.steps
        self.cfg = cfg
        d = self.data_desc
        self.summary = (f"{d['speech_sources']} speech ({d['speech_s']} s), {d['noise_sources']} "
                        f"noise ({d['noise_s']} s), batch {self.B} x {self.L}, device {self.dev}")

    def start(self):
        """Training starts now: its budget is max_seconds less the set-up time."""
        self.t_train = time.time()
        self.budget = self.max_s - (self.t_train - self.t0)
        self.snap_every = self.cfg.get("snapshot_every", 1e9)
        self.next_snap = self.snap_every

    def tick(self, step):
        """Before step `step`: (done, snapshot now, learning rate). Done once the budget or
        --steps is used up; the learning rate follows cosine_lr over the budget (over --steps
        when there is no budget)."""
        el = time.time() - self.t_train
        if el > self.budget or (self.steps and step >= self.steps):
            return True, False, None
        snap = el > self.next_snap
        if snap:
            self.next_snap += self.snap_every
        frac = el / self.budget if self.budget < 1e8 else step / max(1, self.steps or 1)
        return False, snap, cosine_lr(self.cfg, frac)
