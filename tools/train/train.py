#!/usr/bin/env python3
"""Trains the RNNoise-architecture default model.

  python3 tools/train/train.py --config tools/train/configs/default.json [--resume]
          [--lib-dir build/tools/train] [--epochs N] [--max-minutes M]

Data: the training split of the shared corpus is mixed into `train_data.shards` streams of
`shard_seconds` each (seeds seed, seed+1, ...), the held-out split into one validation stream;
features come from the C++ extractor and are cached under <work_dir>/../cache/. Silent frames
(where inference does not run the network) are dropped, so the recurrent state sees exactly the
frames it sees at inference. Every epoch shuffles sequences of `seq_len` frames cut at a
random offset, checkpoints to <work_dir>/last.pt (and epochNNN.pt) and appends to
<work_dir>/log.jsonl. --resume continues from last.pt with the same RNG streams.
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
from model import RNNoiseNet, rnnoise_loss  # noqa: E402


def load_config(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def resolve(p) -> pathlib.Path:
    p = pathlib.Path(p)
    return p if p.is_absolute() else REPO / p


def mix_config(cfg: dict) -> data.MixConfig:
    mc = data.MixConfig()
    for k, v in cfg.get("mix", {}).items():
        if not hasattr(mc, k):
            raise KeyError(f"unknown mix option {k}")
        setattr(mc, k, tuple(v) if isinstance(v, list) else v)
    return mc


def voiced_frames(fs: dict) -> dict:
    keep = ~fs["silent"]
    return {k: fs[k][keep] for k in ("features", "gains", "vad")}


def load_datasets(cfg: dict, ext, log) -> tuple[dict, dict, data.Corpus]:
    cache = resolve(cfg["work_dir"]).parent / "cache"
    corpus = data.Corpus.load(cfg.get("data_root") and resolve(cfg["data_root"]),
                              exclude=tuple(cfg.get("exclude", ())),
                              extra_roots=tuple(resolve(r) for r in cfg.get("extra_roots", ())))
    mc = mix_config(cfg)
    td = cfg["train_data"]
    shards = []
    for i in range(td["shards"]):
        fs = data.build_feature_set(corpus, "train", mc, td["shard_seconds"], td["seed"] + i,
                                    ext, cache, log)
        shards.append(voiced_frames(fs))
    train = {k: np.concatenate([s[k] for s in shards]) for k in shards[0]}
    vd = cfg["val_data"]
    val = voiced_frames(data.build_feature_set(corpus, "heldout", mc, vd["seconds"], vd["seed"],
                                               ext, cache, log))
    return train, val, corpus


def sequences(ds: dict, seq_len: int, offset: int) -> dict:
    n = (len(ds["features"]) - offset) // seq_len
    return {k: torch.from_numpy(np.ascontiguousarray(
        v[offset:offset + n * seq_len].reshape(n, seq_len, *v.shape[1:]))) for k, v in ds.items()}


@torch.no_grad()
def evaluate(net, ds: dict, seq_len: int, vad_weight: float, batch: int = 64,
             device="cpu") -> dict:
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


def add_common_args(ap: argparse.ArgumentParser) -> None:
    """Options every trainer here takes: resume, the features library, epochs, time, data only."""
    ap.add_argument("--resume", action="store_true", help="continue from <work_dir>/last.pt")
    ap.add_argument("--lib-dir", default=None, help="folder holding libghostnv_train_features.so")
    ap.add_argument("--epochs", type=int, default=None, help="override the config's epochs")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="stop (after checkpointing) once this much wall time has passed")
    ap.add_argument("--data-only", action="store_true", help="build the feature cache and exit")


def add_run_args(ap: argparse.ArgumentParser) -> None:
    """Options the default and ultra trainers share: packs, device, snapshots, overrides."""
    ap.add_argument("--pack", default=None,
                    help="train from a feature pack instead of the corpus (no shim needed)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--snapshot-every", type=int, default=0,
                    help="also save the weights every N steps (<work_dir>/stepNNNNNN.pt)")
    ap.add_argument("--work-dir", default=None, help="override the config's work_dir")
    ap.add_argument("--init", default=None, help="override the config's init checkpoint")
    ap.add_argument("--no-epoch-files", action="store_true",
                    help="keep only last.pt (not epochNNN.pt): short epochs on a GPU")


def load_pack(path, log):
    """Train and validation sets from a feature pack (ultra_data.pack, written by --write-pack):
    sets named train* are concatenated, val is the validation set; also the pack's meta dict."""
    import ultra_data
    p = ultra_data.unpack(path)
    names = sorted(k for k in p if k.startswith("train"))
    train = {k: np.concatenate([p[n][k] for n in names]) for k in ("features", "gains", "vad")}
    log("pack loaded", path=str(path), train_sets=len(names), train_rows=len(train["features"]))
    return train, p["val"], p.get("meta", {})


def write_pack(train: dict, val: dict, shards: int, rows: int, path, meta: dict, log,
               **pack_kw) -> None:
    """A feature pack of the first rows // shards rows of each of the `shards` equal parts of
    `train` (the shards were concatenated in order) plus `val` (ultra_data.pack)."""
    import ultra_data
    per, n_shard = rows // shards, len(train["features"]) // shards
    sets = {f"train{i:02d}": {k: v[i * n_shard:i * n_shard + min(per, n_shard)]
                              for k, v in train.items()} for i in range(shards)}
    sets["val"] = val
    ultra_data.pack(sets, path, meta=meta, **pack_kw)
    log("pack written", path=str(path))


def open_run(args, cfg: dict, overrides=("init",), threads: int = 2):
    """The start of a run of either trainer: the command line's overrides of `cfg` (work_dir,
    epochs and the `overrides` keys), torch's thread counts, the work folder and its JSON-lines
    log. Returns (work, log, max_minutes); log(msg, **kv) prints and appends to log.jsonl."""
    if args.work_dir:
        cfg["work_dir"] = args.work_dir
    if args.epochs is not None:
        cfg["epochs"] = args.epochs
    for k in overrides:
        if getattr(args, k, None) is not None:
            cfg[k] = getattr(args, k)
    max_minutes = args.max_minutes if args.max_minutes is not None else cfg.get("max_minutes")
    torch.set_num_threads(int(cfg.get("threads", threads)))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    work = resolve(cfg["work_dir"])
    work.mkdir(parents=True, exist_ok=True)
    logf = open(work / "log.jsonl", "a")

    def log(msg, **kv):
        rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "msg": msg, **kv}
        print(json.dumps(rec), flush=True)
        logf.write(json.dumps(rec) + "\n")
        logf.flush()

    return work, log, max_minutes


def run_training(cfg: dict, args, net, train: dict, val: dict, work: pathlib.Path, log,
                 max_minutes, extra: dict, augment=None, progress_every: int = 0) -> int:
    """The epoch loop both trainers share: Adam on RNNoise's loss (gains + VAD), learning rate
    lr / (1 + lr_decay * step), optional gradient clipping; each epoch shuffles sequences of
    seq_len rows cut at a random offset (a per-epoch random stream, so --resume repeats it),
    evaluates on `val`, writes <work>/last.pt atomically (and epochNNN.pt) and logs. `net` has
    its input normalisation set; cfg["init"] loads a checkpoint's weights first, --resume
    continues from last.pt. `extra` goes into every checkpoint and snapshot (data provenance);
    augment(x, dev) may change a batch's features; progress_every > 0 prints a line every that
    many batches. Stops after cfg["epochs"] or, after checkpointing, past max_minutes."""
    dev = torch.device(args.device)
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

    def weights():
        return {k: v.detach().cpu() for k, v in net.state_dict().items()}

    seq_len, bs = cfg["seq_len"], cfg["batch_size"]
    start = time.time()
    lr = cfg["lr"]
    while epoch < cfg["epochs"]:
        rng = np.random.default_rng([cfg["seed"], epoch])   # per-epoch stream: resumable
        seqs = {k: v.to(dev) for k, v in
                sequences(train, seq_len, int(rng.integers(0, seq_len))).items()}
        order = torch.from_numpy(rng.permutation(len(seqs["features"]))).to(dev)
        sums = {"loss": 0.0, "gain": 0.0, "vad": 0.0}
        nb = 0
        te = time.time()
        for i in range(0, len(order) - bs + 1, bs):
            idx = order[i:i + bs]
            lr = cfg["lr"] / (1 + cfg["lr_decay"] * step)
            for gparam in opt.param_groups:
                gparam["lr"] = lr
            x = seqs["features"][idx]
            if augment is not None:
                x = augment(x, dev)
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
                torch.save({"model": weights(), "step": step, "epoch": epoch, "config": cfg,
                            **extra}, work / f"step{step:06d}.pt")
            sums["loss"] += float(loss.detach())
            sums["gain"] += float(parts["gain"])
            sums["vad"] += float(parts["vad"])
            if progress_every and nb % progress_every == 0:
                print(json.dumps({"epoch": epoch, "batch": nb, "step": step,
                                  "loss": sums["loss"] / nb,
                                  "s_per_step": round((time.time() - te) / nb, 2)}), flush=True)
        epoch += 1
        tr = {k: v / max(nb, 1) for k, v in sums.items()}
        va = evaluate(net, val, seq_len, cfg["vad_weight"], device=dev)
        rec = {"epoch": epoch, "step": step, "lr": lr, "train": tr, "val": va,
               "epoch_seconds": round(time.time() - te, 1)}
        history.append(rec)
        ck = {"model": weights(), "optimizer": opt.state_dict(), "step": step, "epoch": epoch,
              "history": history, "config": cfg, **extra}
        torch.save(ck, work / "last.pt.tmp")
        (work / "last.pt.tmp").replace(ckpt_path)
        if not args.no_epoch_files:
            torch.save(ck, work / f"epoch{epoch:03d}.pt")
        log("epoch", **rec)
        if max_minutes and (time.time() - start) / 60 > max_minutes and epoch < cfg["epochs"]:
            log("time limit reached; stopping (use --resume to continue)", epoch=epoch)
            break
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", default=str(HERE / "configs" / "default.json"))
    add_common_args(ap)
    ap.add_argument("--write-pack", default=None,
                    help="after building the data, write a feature pack (ultra_data.pack, "
                         "features quantised to 1e-2) of the first --pack-frames voiced frames "
                         "(evenly from every shard) and the validation set, then exit")
    ap.add_argument("--pack-frames", type=int, default=300000)
    add_run_args(ap)
    args = ap.parse_args(argv)

    cfg = load_config(args.config)
    work, log, max_minutes = open_run(args, cfg, overrides=("init",), threads=2)
    t0 = time.time()
    if args.pack:
        train, val, meta = load_pack(args.pack, log)
        corpus_desc, data_root = meta.get("corpus"), meta.get("data_root")
    else:
        ext = ghostnv_ext.GhostnvExt.open(args.lib_dir)
        train, val, corpus = load_datasets(cfg, ext, log)
        corpus_desc, data_root = corpus.describe(), str(corpus.root)
    log("data ready", train_frames=len(train["features"]), val_frames=len(val["features"]),
        seconds=round(time.time() - t0, 1))
    if args.write_pack:
        write_pack(train, val, cfg["train_data"]["shards"], args.pack_frames, args.write_pack,
                   {"corpus": corpus_desc, "data_root": data_root, "config": cfg,
                    "pack_frames": args.pack_frames}, log, feature_step=1e-2)
        return 0
    if args.data_only:
        return 0

    torch.manual_seed(cfg["seed"])
    net = RNNoiseNet()
    # Fixed input normalisation from the training features (folded into the weights at export).
    net.set_normalisation(train["features"].mean(axis=0), train["features"].std(axis=0))
    extra = {"corpus": corpus_desc, "data_root": data_root, "pack": args.pack,
             "mix": dataclasses.asdict(mix_config(cfg))}
    return run_training(cfg, args, net, train, val, work, log, max_minutes, extra)


if __name__ == "__main__":
    sys.exit(main())
