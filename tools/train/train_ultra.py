#!/usr/bin/env python3
"""Trains the ultra-low-latency model (family "ultra", models/ultra/).

  python3 tools/train/train_ultra.py --config tools/train/configs/ultra.json [--resume]
          [--lib-dir build/tools/train] [--epochs N] [--max-minutes M] [--data-only]

Same script family as train.py: the training split of the shared corpus is mixed into
`train_data.shards` streams of `shard_seconds` (seeds seed, seed+1, ...) by ultra_data.UltraMixer
(data.py's mixer plus reverberation, clipping and 44.1 kHz round trips), the held-out split into
one validation stream; features and target gains come from the C++ ultra extractor (through the
shim) and are cached under <work_dir>/../cache/. Every frame is used (the ultra family runs its
network on every hop). Each epoch shuffles sequences of `seq_len` hops cut at a random offset,
checkpoints <work_dir>/last.pt and epochNNN.pt and appends to <work_dir>/log.jsonl; --resume
continues from last.pt with the same per-epoch random streams.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import data  # noqa: E402
import ghostnv_ext  # noqa: E402
import ultra_data  # noqa: E402
from model import rnnoise_loss  # noqa: E402
from train import add_common_args, add_run_args, load_config, resolve, sequences  # noqa: E402
from ultra_model import UltraNet  # noqa: E402


def mix_config(cfg: dict) -> ultra_data.UltraMixConfig:
    mc = ultra_data.UltraMixConfig()
    for k, v in cfg.get("mix", {}).items():
        if not hasattr(mc, k):
            raise KeyError(f"unknown mix option {k}")
        setattr(mc, k, tuple(v) if isinstance(v, list) else v)
    return mc


def load_datasets(cfg: dict, uext, log):
    cache = resolve(cfg["work_dir"]).parent / "cache"
    corpus = data.Corpus.load(cfg.get("data_root") and resolve(cfg["data_root"]),
                              exclude=tuple(cfg.get("exclude", ())),
                              extra_roots=tuple(resolve(r) for r in cfg.get("extra_roots", ())))
    mc = mix_config(cfg)
    td = cfg["train_data"]
    shards = [ultra_data.build_feature_set(corpus, "train", mc, td["shard_seconds"],
                                           td["seed"] + i, uext, cache, log)
              for i in range(td["shards"])]
    train = {k: np.concatenate([s[k] for s in shards]) for k in shards[0]}
    vd = cfg["val_data"]
    val = ultra_data.build_feature_set(corpus, "heldout", mc, vd["seconds"], vd["seed"], uext,
                                       cache, log)
    return train, val, corpus


def load_pack(path, log):
    """Train and validation sets from a feature pack (ultra_data.pack, written by --write-pack):
    sets named train* are concatenated, val is the validation set."""
    p = ultra_data.unpack(path)
    names = sorted(k for k in p if k.startswith("train"))
    train = {k: np.concatenate([p[n][k] for n in names]) for k in ("features", "gains", "vad")}
    log("pack loaded", path=str(path), train_sets=len(names), train_hops=len(train["features"]))
    return train, p["val"], p.get("meta", {})


@torch.no_grad()
def evaluate(net, ds, seq_len, vad_weight, batch=64, device="cpu"):
    net.eval()
    seqs = {k: v.to(device) for k, v in sequences(ds, seq_len, 0).items()}
    tot = {"loss": 0.0, "gain": 0.0, "vad": 0.0}
    n = 0
    for i in range(0, len(seqs["features"]), batch):
        g, v, _ = net(seqs["features"][i:i + batch])
        loss, parts = rnnoise_loss(g, v, seqs["gains"][i:i + batch], seqs["vad"][i:i + batch],
                                   vad_weight)
        b = len(g)
        tot["loss"] += float(loss) * b
        tot["gain"] += float(parts["gain"]) * b
        tot["vad"] += float(parts["vad"]) * b
        n += b
    net.train()
    return {k: v / max(n, 1) for k, v in tot.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", default=str(HERE / "configs" / "ultra.json"))
    add_common_args(ap)
    ap.add_argument("--write-pack", default=None,
                    help="after building the data, write a feature pack (ultra_data.pack) of "
                         "the first --pack-hops hops of the training set (taken evenly from "
                         "every shard) and the validation set, then exit")
    ap.add_argument("--pack-hops", type=int, default=900000)
    add_run_args(ap)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    args = ap.parse_args(argv)

    cfg = load_config(args.config)
    if args.epochs is not None:
        cfg["epochs"] = args.epochs
    max_minutes = args.max_minutes if args.max_minutes is not None else cfg.get("max_minutes")
    torch.set_num_threads(int(cfg.get("threads", 1)))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    if args.work_dir:
        cfg["work_dir"] = args.work_dir
    for k in ("init", "batch_size", "lr"):
        if getattr(args, k) is not None:
            cfg[k] = getattr(args, k)
    work = resolve(cfg["work_dir"])
    work.mkdir(parents=True, exist_ok=True)
    logf = open(work / "log.jsonl", "a")

    def log(msg, **kv):
        rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "msg": msg, **kv}
        print(json.dumps(rec), flush=True)
        logf.write(json.dumps(rec) + "\n")
        logf.flush()

    t0 = time.time()
    if args.pack:
        train, val, meta = load_pack(args.pack, log)
        corpus_desc, data_root = meta.get("corpus"), meta.get("data_root")
    else:
        uext = ultra_data.UltraExt(ghostnv_ext.GhostnvExt.open(args.lib_dir))
        train, val, corpus = load_datasets(cfg, uext, log)
        corpus_desc, data_root = corpus.describe(), str(corpus.root)
    log("data ready", train_frames=len(train["features"]), val_frames=len(val["features"]),
        seconds=round(time.time() - t0, 1))
    if args.write_pack:
        td = cfg["train_data"]
        per = args.pack_hops // td["shards"]
        n_shard = len(train["features"]) // td["shards"]
        sets = {f"train{i:02d}": {k: v[i * n_shard:i * n_shard + min(per, n_shard)]
                                  for k, v in train.items()} for i in range(td["shards"])}
        sets["val"] = val
        ultra_data.pack(sets, args.write_pack,
                        meta={"corpus": corpus_desc, "data_root": data_root, "config": cfg,
                              "pack_hops": args.pack_hops,
                              "mix": dataclasses.asdict(mix_config(cfg))})
        log("pack written", path=args.write_pack)
        return 0
    if args.data_only:
        return 0
    dev = torch.device(args.device)

    torch.manual_seed(cfg["seed"])
    net = UltraNet(**cfg.get("net", {}))
    net.set_normalisation(train["features"].mean(axis=0), train["features"].std(axis=0))
    if cfg.get("init"):
        # Fine-tuning: start from a checkpoint's weights (and its fixed input normalisation).
        net.load_state_dict(torch.load(resolve(cfg["init"]), weights_only=False)["model"])
        log("initialised from", checkpoint=cfg["init"])
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"], weight_decay=cfg.get("weight_decay", 0))
    step, epoch, history = 0, 0, []
    ckpt_path = work / "last.pt"
    if args.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, epoch, history = ck["step"], ck["epoch"], ck["history"]
        log("resumed", epoch=epoch, step=step)
    elif args.resume:
        log("no checkpoint to resume; starting fresh")

    net.to(dev)
    for st in opt.state.values():   # a resumed optimizer's moments follow the weights
        for k, v in st.items():
            if torch.is_tensor(v) and k != "step":
                st[k] = v.to(dev)
    seq_len, bs = cfg["seq_len"], cfg["batch_size"]
    start = time.time()
    lr = cfg["lr"]
    while epoch < cfg["epochs"]:
        rng = np.random.default_rng([cfg["seed"], epoch])
        seqs = {k: v.to(dev) for k, v in
                sequences(train, seq_len, int(rng.integers(0, seq_len))).items()}
        order = torch.from_numpy(rng.permutation(len(seqs["features"]))).to(dev)
        sums = {"loss": 0.0, "gain": 0.0, "vad": 0.0}
        nb = 0
        te = time.time()
        stopped = False
        for i in range(0, len(order) - bs + 1, bs):
            idx = order[i:i + bs]
            lr = cfg["lr"] / (1 + cfg["lr_decay"] * step)
            for gp in opt.param_groups:
                gp["lr"] = lr
            x = seqs["features"][idx]
            if cfg.get("level_aug_db"):
                # The whole mixture scaled by a random gain: the log10 band energies shift by a
                # constant (exact above the extractor's 1e-10 floor), the target gains do not.
                sh = (torch.rand(len(idx), 1, 1, device=dev) * 2 - 1) * cfg["level_aug_db"] / 10
                x = torch.clamp(x + sh, min=-10.0)
            g, v, _ = net(x)
            loss, parts = rnnoise_loss(g, v, seqs["gains"][idx], seqs["vad"][idx],
                                       cfg["vad_weight"], cfg.get("under_weight", 0.0))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.get("grad_clip"):
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg["grad_clip"])
            opt.step()
            step += 1
            nb += 1
            if args.snapshot_every and step % args.snapshot_every == 0:
                torch.save({"model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                            "step": step, "epoch": epoch, "config": cfg, "net": net.sizes,
                            "corpus": corpus_desc, "data_root": data_root, "pack": args.pack,
                            "mix": dataclasses.asdict(mix_config(cfg))},
                           work / f"step{step:06d}.pt")
            sums["loss"] += float(loss.detach())
            sums["gain"] += float(parts["gain"])
            sums["vad"] += float(parts["vad"])
            if nb % 20 == 0:
                print(json.dumps({"epoch": epoch, "batch": nb, "step": step,
                                  "loss": sums["loss"] / nb,
                                  "s_per_step": round((time.time() - te) / nb, 2)}), flush=True)
        epoch += 1
        tr = {k: v / max(nb, 1) for k, v in sums.items()}
        va = evaluate(net, val, seq_len, cfg["vad_weight"], device=dev)
        rec = {"epoch": epoch, "step": step, "lr": lr, "train": tr, "val": va,
               "epoch_seconds": round(time.time() - te, 1)}
        history.append(rec)
        ck = {"model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
              "optimizer": opt.state_dict(), "step": step,
              "epoch": epoch, "history": history, "config": cfg, "net": net.sizes,
              "corpus": corpus_desc, "mix": dataclasses.asdict(mix_config(cfg)),
              "data_root": data_root, "pack": args.pack}
        torch.save(ck, work / "last.pt.tmp")
        (work / "last.pt.tmp").replace(ckpt_path)
        if not args.no_epoch_files:
            torch.save(ck, work / f"epoch{epoch:03d}.pt")
        log("epoch", **rec)
        if max_minutes and (time.time() - start) / 60 > max_minutes and epoch < cfg["epochs"]:
            log("time limit reached; stopping (use --resume to continue)", epoch=epoch)
            stopped = True
            break
    del stopped
    return 0


if __name__ == "__main__":
    sys.exit(main())
