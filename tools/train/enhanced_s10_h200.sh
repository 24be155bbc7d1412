#!/bin/bash
# Session 10's training call (issue 7) on one H200: the enhanced network trained to output the
# clean speech D samples late (configs/enhanced_s10.json, output_delay), two runs side by side
# for MIN minutes of wall clock each: A (D = 256: 16.0 ms algorithmic latency) and B (D = 128:
# 13.3 ms), both from the shipped weights (H/init.pt = enhanced_ckpt.py from-gnvm
# models/weights/enhanced.gnvm, fp16). What comes back in $OUT: each run's raw and EMA weights
# in fp16 (5.3 MB each), and summary.txt (each run's log.jsonl and val.json).
# Run from the repo root; T = the folder holding the training scripts (default tools/train),
# H = a folder with init.pt, PACK = the Opus pack, LIB = a folder with libsndfile.so.1 and its
# codecs, DEN = a folder holding the denoiser package (denoiser/):
#   T=build-enhanced10/tt H=build-enhanced10/h200 PACK=build-enhanced10/pack \
#       LIB=build-enhanced10/lib DEN=build-enhanced10 OUT=<dir> bash tools/train/enhanced_s10_h200.sh
# (a CPU dry run: EXTRA="--device cpu --steps 3 --batch-size 2 --segment 0.5" MIN=2)
set -u
: "${OUT:?output dir}"
T=${T:-tools/train}; H=${H:-build-enhanced10/h200}; PACK=${PACK:-build-enhanced10/pack}
LIB=${LIB:-build-enhanced10/lib}; DEN=${DEN:-build-enhanced10}
export LD_LIBRARY_PATH=$PWD/$LIB:${LD_LIBRARY_PATH:-} PYTHONPATH=$PWD/$DEN:${PYTHONPATH:-}
export PYTHONUNBUFFERED=1
W=${WORK:-$(mktemp -d)}; mkdir -p $W $OUT
MIN=${MIN:-7.5}
CFG=${CFG:-$T/configs/enhanced_s10.json}
[ -f "$CFG" ] || CFG=tools/train/configs/enhanced_s10.json
( date -u; nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
  python3 -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__)" ) > $W/env.txt 2>&1
G=$(python3 -c "print(int($MIN * 60 + 40))")
run() {  # name, delay, seed
  timeout -k 5 $G python3 $T/enhanced_train.py --config $CFG --pack $PACK --sndfile-dir $LIB \
      --max-minutes $MIN --work-dir $W/$1 --init-from $H/init.pt --set output_delay=$2 \
      --set seed=$3 ${EXTRA:-} > $W/$1.out 2>&1
}
run A 256 20261401 &
sleep 20   # the second run's Opus decoding after the first's (the CPU pool is shared)
run B 128 20261402 &
( sleep 160; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv >> $W/env.txt ) &
wait
date -u >> $W/env.txt
python3 - "$W" "$OUT" <<'PY'
import pathlib, sys
import torch
W, OUT = (pathlib.Path(x) for x in sys.argv[1:3])
for r in ("A", "B"):
    for n in ("model", "ema"):
        p = W / r / f"{n}.pt"
        if p.exists():
            sd = torch.load(p, map_location="cpu", weights_only=True)
            torch.save({k: v.half() for k, v in sd.items()}, OUT / f"{r}_{n}.f16.pt")
PY
ls -la $OUT
( for r in A B; do echo "== $r"; grep -v '^{' $W/$r.out | tail -8; cat $W/$r/log.jsonl; cat $W/$r/val.json; echo; done
  cat $W/env.txt ) | tee $OUT/summary.txt
