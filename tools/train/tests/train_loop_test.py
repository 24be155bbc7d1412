#!/usr/bin/env python3
"""Checks the epoch loop that train.py (default model) and train_ultra.py (ultra model) share
(train.run_training), end to end on a small feature pack of random data, on the CPU:
  * a run of 2 epochs writes last.pt, epoch001.pt, epoch002.pt and a snapshot; the checkpoint's
    step count is epochs x batches per epoch, its losses are finite and its weights differ
    from the initial ones;
  * the pack's data is learnable (targets are a fixed function of the features), so the
    training loss of epoch 2 is below epoch 1's;
  * --resume with --epochs 3 continues from last.pt: one more epoch, the history grows to 3
    and starts with the first run's two records unchanged;
  * --init starts a new run from a checkpoint's weights (they load, the run trains);
  * the ultra trainer's level augmentation and progress lines run;
  * write_pack / load_pack round trip (per-shard slices, validation set, meta);
  * the two end-to-end fine-tuning scripts (rnnoise_e2e.py, ultra_e2e.py: train_common's
    e2e_argparser / E2ERun) start from those trainers' checkpoints and run 3 steps on the CPU
    on a tiny mixing pack (enhanced_pack format): snapshots, last.pt at step 3 with finite
    weights that moved, the log's losses finite. (rnnoise_e2e needs the features shim:
    --lib-dir; without it that check is skipped.)

  python3 tools/train/tests/train_loop_test.py [--lib-dir build/tools/train]
Exit 0 = pass, 1 = fail, 77 = skipped (python3 lacks torch or numpy).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import zlib
import sys
import tempfile
import traceback

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)

import train  # noqa: E402
import train_ultra  # noqa: E402
import ultra_data  # noqa: E402


def make_pack(path, n_features, n_bands, rows, seed, feature_step=None):
    """Random features; gains and VAD are a fixed function of them (learnable), a few gains -1
    (bands the mixer marks as unknown)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n_features, n_bands)) / np.sqrt(n_features)

    def one(n):
        f = rng.standard_normal((n, n_features)).astype(np.float32) * 2.0
        g = (1 / (1 + np.exp(-f @ w))).astype(np.float32)
        g[rng.random(g.shape) < 0.02] = -1.0
        v = (f[:, 0] > 0).astype(np.float32)
        return {"features": f, "gains": g, "vad": v}

    sets = {"train00": one(rows), "train01": one(rows), "val": one(rows // 4)}
    kw = {} if feature_step is None else {"feature_step": feature_step}
    ultra_data.pack(sets, path, meta={"corpus": "synthetic", "data_root": None}, **kw)
    return sets


def write_config(path, work, extra=None):
    cfg = {"work_dir": str(work), "seed": 5, "threads": 1, "seq_len": 50, "batch_size": 8,
           "epochs": 2, "lr": 0.01, "lr_decay": 1e-4, "weight_decay": 0.0, "grad_clip": 1.0,
           "vad_weight": 0.05, "mix": {}, "train_data": {"shards": 2}, **(extra or {})}
    path.write_text(json.dumps(cfg))
    return cfg


def check_runs(main, tmp, name, n_features, n_bands, cfg_extra=None, feature_step=None):
    pack = tmp / f"{name}.npz"
    make_pack(pack, n_features, n_bands, rows=1700, seed=11, feature_step=feature_step)
    work = tmp / f"{name}_work"
    cfg_path = tmp / f"{name}.json"
    write_config(cfg_path, work, cfg_extra)
    common = ["--config", str(cfg_path), "--pack", str(pack), "--device", "cpu"]
    assert main(common + ["--snapshot-every", "7"]) == 0
    ck = torch.load(work / "last.pt", weights_only=False)
    # 2 shards x 1700 rows -> 3400 rows; sequences of 50 from a random offset: 67 or 68, so 8
    # batches of 8 per epoch.
    assert ck["epoch"] == 2 and ck["step"] == 16, (ck["epoch"], ck["step"])
    assert (work / "epoch001.pt").exists() and (work / "epoch002.pt").exists()
    assert (work / "step000007.pt").exists() and (work / "step000014.pt").exists()
    snap = torch.load(work / "step000007.pt", weights_only=False)
    assert snap["step"] == 7 and snap["corpus"] == "synthetic" and "optimizer" not in snap
    h = ck["history"]
    assert len(h) == 2
    for rec in h:
        for part in ("train", "val"):
            for k, v in rec[part].items():
                assert np.isfinite(v), (part, k, v)
    assert h[1]["train"]["loss"] < h[0]["train"]["loss"], [r["train"]["loss"] for r in h]
    first = torch.load(work / "epoch001.pt", weights_only=False)["model"]
    moved = max(float((ck["model"][k] - first[k]).abs().max()) for k in ck["model"]
                if k not in ("feature_mean", "feature_std"))
    assert moved > 0, "weights did not change between epochs"
    # Resume: one more epoch on top of the two.
    assert main(common + ["--resume", "--epochs", "3"]) == 0
    ck3 = torch.load(work / "last.pt", weights_only=False)
    assert ck3["epoch"] == 3 and ck3["step"] == 24, (ck3["epoch"], ck3["step"])
    assert [r["train"]["loss"] for r in ck3["history"][:2]] == [r["train"]["loss"] for r in h]
    # Init: a new run from the resumed weights.
    work2 = tmp / f"{name}_init"
    assert main(common + ["--work-dir", str(work2), "--init", str(work / "last.pt"),
                          "--epochs", "1", "--no-epoch-files"]) == 0
    ck_init = torch.load(work2 / "last.pt", weights_only=False)
    assert ck_init["epoch"] == 1 and not (work2 / "epoch001.pt").exists()
    assert ck_init["config"]["init"] == str(work / "last.pt")
    log = [json.loads(line) for line in (work2 / "log.jsonl").read_text().splitlines()]
    assert any(r["msg"] == "initialised from" for r in log)
    print(f"{name}: losses {[round(r['train']['loss'], 4) for r in ck3['history']]}, "
          f"resume and init ok")


def check_pack_roundtrip(tmp):
    sets = {"train": {"features": np.arange(60, dtype=np.float32).reshape(20, 3) / 10,
                      "gains": np.linspace(0, 1, 40, dtype=np.float32).reshape(20, 2),
                      "vad": np.tile(np.array([0, 0.5], np.float32), 10)},
            "val": {"features": np.ones((4, 3), np.float32), "gains": np.zeros((4, 2), np.float32),
                    "vad": np.ones(4, np.float32)}}
    logs = []
    path = tmp / "rt.npz"
    # 2 shards of 10 rows each, 3 rows kept per shard.
    train.write_pack(sets["train"], sets["val"], 2, 6, path, {"k": 1},
                     lambda m, **kv: logs.append(m))
    tr, val, meta = train.load_pack(path, lambda m, **kv: logs.append(m))
    want = np.concatenate([sets["train"]["features"][0:3], sets["train"]["features"][10:13]])
    assert np.allclose(tr["features"], want, atol=1e-3), tr["features"]
    assert np.allclose(tr["gains"][:, 1], np.concatenate([sets["train"]["gains"][0:3, 1],
                                                          sets["train"]["gains"][10:13, 1]]),
                       atol=0.01)
    assert len(val["features"]) == 4 and meta == {"k": 1}, meta
    assert logs == ["pack written", "pack loaded"], logs


def make_mix_pack(path):
    """A tiny pack in enhanced_pack.py's format: two harmonic "voices" (1.5 s, 48 kHz) and two
    noises (1 s; one recorded at 24 kHz, i.e. band-limited)."""
    rng = np.random.default_rng(3)
    t = np.arange(72000) / 48000
    sources = [("voice_a", "speech", 48000, 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(3 * t))),
               ("voice_b", "speech", 48000, 0.2 * np.sign(np.sin(2 * np.pi * 120 * t))),
               ("hum", "noise", 48000, 0.1 * rng.standard_normal(48000)),
               ("fan", "noise", 24000, 0.1 * rng.standard_normal(24000))]
    arrays, index = {}, []
    for k, (name, split, rate, x) in enumerate(sources):
        q = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
        d = np.diff(q, prepend=np.int16(0)).astype(np.int16)
        arrays[f"blob_{k}"] = np.frombuffer(zlib.compress(d.tobytes()), np.uint8)
        index.append({"name": name, "split": split, "kind": "clips", "rate": rate,
                      "bandwidth_hz": rate / 2})
    np.savez(path, index=np.array(json.dumps(index)), **arrays)


def check_e2e(main, tmp, name, config, init, extra_args=()):
    pack = tmp / "mix.npz"
    if not pack.exists():
        make_mix_pack(pack)
    work = tmp / f"{name}_e2e"
    args = ["--config", str(train.HERE / "configs" / config), "--pack", str(pack), "--init",
            str(init), "--work-dir", str(work), "--device", "cpu", "--steps", "3",
            "--batch-size", "2", "--segment", "0.5", "--set", "snapshot_every=0",
            "--set", "log_every=1", "--set", "max_seconds=600", *extra_args]
    assert main(args) == 0
    ck = torch.load(work / "last.pt", weights_only=False)
    assert ck["step"] == 3, ck["step"]
    assert ck["e2e_data"]["speech_sources"] == 2 and ck["e2e_data"]["noise_sources"] == 2
    snaps = sorted(x.name for x in work.glob("snap_*.pt"))
    assert snaps[:3] == ["snap_000000.pt", "snap_000001.pt", "snap_000002.pt"], snaps
    first = torch.load(work / "snap_000000.pt", weights_only=False)["model"]
    for k, v in ck["model"].items():
        assert torch.isfinite(v).all(), k
    moved = max(float((ck["model"][k] - first[k]).abs().max()) for k in first)
    assert moved > 0, "e2e weights did not change"
    recs = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1, 2, 3], recs
    for r in recs:
        assert all(np.isfinite(v) for k, v in r.items() if k not in ("step",)), r
    cfg = ck["config"]["e2e"]
    assert cfg["batch_size"] == 2 and abs(cfg["segment_seconds"] - 0.5) < 0.01, cfg
    print(f"{name} e2e: 3 steps, losses {[{k: v for k, v in r.items() if k not in ('step', 'lr', 'wall_s')} for r in recs]}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib-dir", default=None)
    a = ap.parse_args(argv)
    lib_ok = True
    try:
        import ghostnv_ext
        ghostnv_ext.GhostnvExt.open(a.lib_dir)
    except Exception as e:  # noqa: BLE001
        print(f"features shim not found ({e}): the rnnoise_e2e check is skipped")
        lib_ok = False
    import rnnoise_e2e
    import ultra_e2e
    failed = 0
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        checks = [
            ("pack round trip", lambda: check_pack_roundtrip(tmp)),
            ("default trainer", lambda: check_runs(train.main, tmp, "default", 42, 22,
                                                   feature_step=1e-2)),
            ("ultra trainer", lambda: check_runs(
                train_ultra.main, tmp, "ultra", 32, 32,
                {"net": {"dense": 16, "gru1": 24, "gru2": 24}, "level_aug_db": 6})),
            ("ultra e2e", lambda: check_e2e(ultra_e2e.main, tmp, "ultra", "ultra_e2e.json",
                                            tmp / "ultra_work" / "last.pt")),
        ]
        if lib_ok:
            checks.append(("default e2e", lambda: check_e2e(
                rnnoise_e2e.main, tmp, "default", "rnnoise_e2e.json",
                tmp / "default_work" / "last.pt", ["--lib-dir", a.lib_dir] if a.lib_dir else [])))
        for name, fn in checks:
            try:
                fn()
                print(f"ok   {name}")
            except Exception:  # noqa: BLE001
                traceback.print_exc()
                print(f"FAIL {name}")
                failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
