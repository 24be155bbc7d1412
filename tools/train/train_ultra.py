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
from train import (add_common_args, add_run_args, load_config, load_pack, open_run,  # noqa: E402
                   resolve, run_training, write_pack)
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
    work, log, max_minutes = open_run(args, cfg, overrides=("init", "batch_size", "lr"), threads=1)
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
        write_pack(train, val, cfg["train_data"]["shards"], args.pack_hops, args.write_pack,
                   {"corpus": corpus_desc, "data_root": data_root, "config": cfg,
                    "pack_hops": args.pack_hops, "mix": dataclasses.asdict(mix_config(cfg))}, log)
        return 0
    if args.data_only:
        return 0

    torch.manual_seed(cfg["seed"])
    net = UltraNet(**cfg.get("net", {}))
    net.set_normalisation(train["features"].mean(axis=0), train["features"].std(axis=0))

    def level_aug(x, dev):
        # The whole mixture scaled by a random gain: the log10 band energies shift by a
        # constant (exact above the extractor's 1e-10 floor), the target gains do not.
        sh = (torch.rand(len(x), 1, 1, device=dev) * 2 - 1) * cfg["level_aug_db"] / 10
        return torch.clamp(x + sh, min=-10.0)

    extra = {"net": net.sizes, "corpus": corpus_desc, "data_root": data_root, "pack": args.pack,
             "mix": dataclasses.asdict(mix_config(cfg))}
    return run_training(cfg, args, net, train, val, work, log, max_minutes, extra,
                        augment=level_aug if cfg.get("level_aug_db") else None, progress_every=20)


if __name__ == "__main__":
    sys.exit(main())
