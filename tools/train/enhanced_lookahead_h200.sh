#!/bin/bash
# Session 10's lookahead probe (issue 7) on one H200: the enhanced network with a delay line on
# each skip connection (configs/enhanced_lookahead.json: skip_delay = output_delay = 256 samples,
# 16.0 ms algorithmic latency), one run for MIN minutes of wall clock from the shipped weights
# (H/init.pt = enhanced_ckpt.py from-gnvm models/weights/enhanced.gnvm, fp16). What comes back
# in $OUT: the raw and EMA weights as int8 differences from init.pt (enhanced_ckpt.py shrink)
# and summary.txt (log.jsonl and val.json: the training-mix validation SI-SDR of the run's raw
# and EMA weights and, on the same mixes, of the initial (shipped) weights).
# Run from the repo root; T = the folder holding the training scripts (default tools/train),
# H = a folder with init.pt, PACK = the Opus pack, LIB = a folder with libsndfile.so.1 and its
# codecs, DEN = a folder holding the denoiser package (denoiser/):
#   T=build-lookahead/tt H=build-lookahead/h200 PACK=build-lookahead/pack \
#       LIB=build-lookahead/lib DEN=build-lookahead OUT=<dir> bash tools/train/enhanced_lookahead_h200.sh
# (a CPU dry run: EXTRA="--device cpu --steps 3 --batch-size 2 --segment 0.5" MIN=2)
set -u
: "${OUT:?output dir}"
T=${T:-tools/train}; H=${H:-build-lookahead/h200}; PACK=${PACK:-build-lookahead/pack}
LIB=${LIB:-build-lookahead/lib}; DEN=${DEN:-build-lookahead}
export LD_LIBRARY_PATH=$PWD/$LIB:${LD_LIBRARY_PATH:-} PYTHONPATH=$PWD/$DEN:${PYTHONPATH:-}
export PYTHONUNBUFFERED=1
W=${WORK:-$(mktemp -d)}; mkdir -p $W $OUT
MIN=${MIN:-3.0}
CFG=${CFG:-$T/configs/enhanced_lookahead.json}
( date -u; nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
  python3 -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__)" ) > $W/env.txt 2>&1
G=$(python3 -c "print(int($MIN * 60 + 40))")
( sleep 90; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv >> $W/env.txt ) &
timeout -k 5 $G python3 $T/enhanced_train.py --config $CFG --pack $PACK --sndfile-dir $LIB \
    --max-minutes $MIN --work-dir $W/L --init-from $H/init.pt ${EXTRA:-} > $W/L.out 2>&1
echo "train rc $?" >> $W/env.txt
date -u >> $W/env.txt
for n in model ema; do
  [ -f $W/L/$n.pt ] && python3 $T/enhanced_ckpt.py shrink $W/L/$n.pt $OUT/L_$n.small.pt \
      --base $H/init.pt >> $W/env.txt 2>&1
done
python3 - "$W/L" "$OUT" <<'PY'   # fp16 copies too (5.3 MB each): the evaluation's weights
import pathlib, sys
import torch
W, OUT = (pathlib.Path(x) for x in sys.argv[1:3])
for n in ("model", "ema"):
    if (W / f"{n}.pt").exists():
        sd = torch.load(W / f"{n}.pt", map_location="cpu", weights_only=True)
        torch.save({k: v.half() for k, v in sd.items()}, OUT / f"L_{n}.f16.pt")
PY
ls -la $OUT
( grep -v '^{' $W/L.out | tail -12; cat $W/L/log.jsonl; cat $W/L/val.json; echo
  cat $W/env.txt ) | tee $OUT/summary.txt
