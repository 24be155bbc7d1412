#!/bin/bash
# Session 9's training call (issue 7) on one H200: ONE long fine-tuning (configs/enhanced_s9.json)
# that has the GPU to itself for MIN minutes (default 7.6) of wall clock, about 4x the steps of
# each of session 8's three side-by-side runs: stage 4's recipe on the network widened to hidden
# 64 (init64.pt = enhanced_ckpt.py widen of the shipped stage-4 weights, function-preserving),
# -SI-SDR x0.5, SNR -8..22 dB, the stage-3 Opus pack plus five Asterisk prompt voices.
# What comes back: the raw and the EMA weights as int8 differences from init64.pt
# (enhanced_ckpt.py shrink; the reconstruction error of each is printed), the pick of val.json
# also in fp16 (a fallback if the int8 rounding were too coarse), logs; ONE archive checked to
# stay under 15.5 MiB (the fp16 copy, then the second pick, are dropped first if it does not fit).
# Run from the repo root; H = a folder with init64.pt (or INIT=<file name in H>, e.g. a D_model
# fp16 copy to continue from run D; EXTRA=<more enhanced_train.py options, e.g. --set ...>), P = a folder with libsndfile (lib/) and
# the denoiser package (denoiser/), PACK = the Opus pack:
#   H=build-enhanced9/h200 P=build-enhanced/h200b PACK=build-enhanced9/pack OUT=<dir> \
#       bash tools/train/enhanced_s9_h200.sh            -> $OUT/s9.tar.gz
# (a CPU dry run: EXTRA="--device cpu --steps 3 --batch-size 2 --segment 0.5" MIN=3)
set -u
: "${OUT:?output dir}"
H=${H:-build-enhanced9/h200}; P=${P:-build-enhanced/h200b}; PACK=${PACK:-build-enhanced9/pack}
export LD_LIBRARY_PATH=$PWD/$P/lib:${LD_LIBRARY_PATH:-} PYTHONPATH=$PWD/$P:${PYTHONPATH:-}
export PYTHONUNBUFFERED=1
W=${WORK:-$(mktemp -d)}; R=$W/s9; mkdir -p $R $OUT   # the run writes outside $OUT: only the archive + a log come back
MIN=${MIN:-7.6}; INIT=${INIT:-init64.pt}
( date -u; nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
  python3 -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__)" ) > $R/env.txt 2>&1
G=$(python3 -c "print(int($MIN * 60 + 25))")
timeout -k 5 $G python3 tools/train/enhanced_train.py --config tools/train/configs/enhanced_s9.json \
    --pack $PACK --sndfile-dir $P/lib --max-minutes $MIN --work-dir $R/D \
    --init-from $H/$INIT ${EXTRA:-} > $R/D.out 2>&1 &
( sleep 150; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv >> $R/env.txt ) &
wait
date -u >> $R/env.txt
python3 - "$R" "$H" "$OUT" "$INIT" <<'PY'
import json, os, pathlib, sys, tarfile
sys.path.insert(0, "tools/train")
import torch
import enhanced_ckpt
R, H, OUT = (pathlib.Path(x) for x in sys.argv[1:4])
d = R / "D"
b = torch.load(H / sys.argv[4], map_location="cpu", weights_only=True)
try:
    val = json.loads((d / "val.json").read_text())
except OSError:
    val = {}
order = sorted([n for n in ("model", "ema") if (d / f"{n}.pt").exists()],
               key=lambda n: -val.get(n, -1e9))
q8, fallback = [], []
for i, n in enumerate(order):
    sd = torch.load(d / f"{n}.pt", map_location="cpu", weights_only=True)
    small = enhanced_ckpt.shrink(sd, b)
    back = enhanced_ckpt.expand(small, b)
    err = max(float((back[k] - v.float()).abs().max() / v.float().abs().max().clamp(min=1e-30))
              for k, v in sd.items() if v.is_floating_point())
    out = R / f"D_{n}.q8.pt"
    torch.save(small, out)
    q8.append(out)
    print(n, val.get(n), "q8", out.stat().st_size, "max rel err", f"{err:.2e}")
    if i == 0:
        f16 = R / f"D_{n}.f16.pt"
        torch.save({k: v.half() for k, v in sd.items()}, f16)
        fallback.append(f16)
for f in ("last.pt", "model.pt", "ema.pt"):
    if (d / f).exists():
        os.remove(d / f)
keep = {*q8, *fallback}
small_files = [p for p in R.rglob("*") if p.is_file() and p not in keep]
files = small_files + q8 + fallback
drop = list(fallback) + q8[1:]          # dropped in this order if the archive is too big
limit = int(15.5 * 2 ** 20)
while True:
    tgz = OUT / "s9.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        for p in files:
            t.add(p, arcname=str(p.relative_to(R.parent)))
    size = tgz.stat().st_size
    print("archive", size, "bytes,", len(files), "files")
    if size <= limit or not drop:
        break
    files.remove(drop.pop(0))
if size > limit:
    print("WARNING: archive over the limit")
PY
ls -la $OUT $R
( echo "== D"; grep -v '^{' $R/D.out | tail -6; tail -4 $R/D/log.jsonl; cat $R/env.txt ) | tee $OUT/summary.txt
