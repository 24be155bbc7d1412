#!/bin/bash
# Session 11's training call (issue 7) on one H200: runs of the enhanced network side by side,
# MIN minutes of wall clock each, every run from H/init.pt (enhanced_ckpt.py from-gnvm
# models/weights/enhanced.gnvm, fp16) with configs/enhanced_s11.json (stage 4's recipe + the
# speed/pitch and second-noise augmentations) plus per-run overrides:
#   RUNS="A B"        which of the runs below (default both)
#   A: skip_delay 0   (the shipped network; 10.67 ms)
#   B: skip_delay = output_delay = 256 (real lookahead: each skip delayed; 16.0 ms)
# What comes back in $OUT: each run's raw and EMA weights in fp16 (5.3 MB each) and summary.txt
# (each run's log.jsonl and val.json: training-mix validation of the raw, EMA and initial weights).
# Run from the repo root; T = the folder holding the training scripts (default tools/train),
# H = a folder with init.pt, PACK = the Opus pack, LIB = a folder with libsndfile.so.1 and its
# codecs, DEN = a folder holding the denoiser package (denoiser/), WORK = where the runs write
# (default a temporary folder):
#   T=build-s11/tt H=build-s11/h200 PACK=build-s11/pack LIB=build-s11/lib DEN=build-s11 \
#       OUT=<dir> bash tools/train/enhanced_s11_h200.sh
# (a CPU dry run: EXTRA="--device cpu --steps 3 --batch-size 2 --segment 0.5" MIN=2)
set -u
: "${OUT:?output dir}"
T=${T:-tools/train}; H=${H:-build-s11/h200}; PACK=${PACK:-build-s11/pack}
LIB=${LIB:-build-s11/lib}; DEN=${DEN:-build-s11}
export LD_LIBRARY_PATH=$PWD/$LIB:${LD_LIBRARY_PATH:-} PYTHONPATH=$PWD/$DEN:${PYTHONPATH:-}
export PYTHONUNBUFFERED=1
W=${WORK:-$(mktemp -d)}; mkdir -p $W $OUT
MIN=${MIN:-8.5}
RUNS=${RUNS:-A B}
CFG=${CFG:-$T/configs/enhanced_s11.json}
[ -f "$CFG" ] || CFG=tools/train/configs/enhanced_s11.json
( date -u; nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
  python3 -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__)" ) > $W/env.txt 2>&1
G=$(python3 -c "print(int($MIN * 60 + 40))")
declare -A SETS=([A]="--set seed=20261501"
                 [B]="--set seed=20261502 --set skip_delay=256 --set output_delay=256")
first=1
for r in $RUNS; do
  [ $first = 1 ] || sleep 20   # the next run's Opus decoding after the previous one's
  first=0
  timeout -k 5 $G python3 $T/enhanced_train.py --config $CFG --pack $PACK --sndfile-dir $LIB \
      --max-minutes $MIN --work-dir $W/$r --init-from $H/init.pt ${SETS[$r]} ${EXTRA:-} \
      > $W/$r.out 2>&1 &
done
( sleep 160; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv >> $W/env.txt ) &
wait
date -u >> $W/env.txt
python3 - "$W" "$OUT" $RUNS <<'PY'
import pathlib, sys
import torch
W, OUT = (pathlib.Path(x) for x in sys.argv[1:3])
for r in sys.argv[3:]:
    for n in ("model", "ema"):
        p = W / r / f"{n}.pt"
        if p.exists():
            sd = torch.load(p, map_location="cpu", weights_only=True)
            torch.save({k: v.half() for k, v in sd.items()}, OUT / f"{r}_{n}.f16.pt")
PY
ls -la $OUT
( for r in $RUNS; do echo "== $r"; grep -v '^{' $W/$r.out | tail -8; cat $W/$r/log.jsonl
  cat $W/$r/val.json; echo; done
  cat $W/env.txt ) | tee $OUT/summary.txt
