#!/bin/bash
# One H200 training call for the enhanced network (issue 7): the runs named in RUNS side by side,
# MIN minutes of wall clock each, every run from H/init.pt (e.g. enhanced_ckpt.py from-gnvm
# models/weights/enhanced.gnvm, fp16) with the config CFG plus the run's overrides SET_<run>
# (enhanced_train.py --set KEY=JSON ...) and EXTRA (every run). The session scripts
# (enhanced_s10_h200.sh, enhanced_lookahead_h200.sh, enhanced_s11_h200.sh) set these.
# What comes back in $OUT: each run's raw and EMA weights in fp16 (<run>_{model,ema}.f16.pt,
# 5.3 MB each), with SHRINK=1 also as int8 differences from init.pt (<run>_{model,ema}.small.pt,
# enhanced_ckpt.py shrink), <run>_config.json (the configuration it trained with, overrides
# applied), and summary.txt (each run's log.jsonl and val.json: the
# training-mix validation of its raw, EMA and initial weights).
# Run from the repo root; T = the folder holding the training scripts (default tools/train),
# H = a folder with init.pt, PACK = the Opus pack, LIB = a folder with libsndfile.so.1 and its
# codecs, DEN = a folder holding the denoiser package (denoiser/), WORK = where the runs write
# (default a temporary folder):
#   CFG=tools/train/configs/enhanced_s11.json RUNS="A B" SET_A="--set seed=1" SET_B="--set seed=2" \
#       T=tools/train H=build-s11/h200 PACK=build-s11/pack LIB=build-s11/lib DEN=build-s11 \
#       OUT=<dir> bash tools/train/enhanced_h200.sh
# (a CPU dry run: EXTRA="--device cpu --steps 3 --batch-size 2 --segment 0.5" MIN=2)
# GPU_<run>=N pins a run to GPU N (a machine of several GPUs); STAGGER=<s> (default 20) is the pause
# between two runs' starts.
# CACHE=<file name> (e.g. compile_cache.bin.xz; a config with compile set): the runs' torch.compile
# cache (compile_cache; .xz = lzma, enhanced_train.write_cache_file), read from H/<name> when it is
# there and written to OUT/<name>, which comes back from the device when it is under the return
# limit (16 MiB a file): copy it into H for the next call.
set -u
: "${OUT:?output dir}" "${CFG:?training config}" "${H:?folder with init.pt}" "${PACK:?Opus pack}"
: "${LIB:?libsndfile folder}" "${DEN:?folder with denoiser/}"
T=${T:-tools/train}
[ -f "$CFG" ] || CFG=tools/train/configs/$(basename "$CFG")
export LD_LIBRARY_PATH=$PWD/$LIB:${LD_LIBRARY_PATH:-} PYTHONPATH=$PWD/$DEN:${PYTHONPATH:-}
export PYTHONUNBUFFERED=1
for need in "$CFG" "$H/init.pt" "$PACK" "$LIB" "$DEN/denoiser"; do
  # fail at once when the carry is missing (a missing pack used to hold the machine for the
  # telemetry sleep below)
  [ -e "$need" ] || { echo "enhanced_h200.sh: $need not found (carry it)" >&2; exit 2; }
done
W=${WORK:-$(mktemp -d)}; mkdir -p $W $OUT
MIN=${MIN:-8.0}
RUNS=${RUNS:-A}
( date -u; nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
  python3 -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__)" ) > $W/env.txt 2>&1
G=$(python3 -c "print(int($MIN * 60 + 40))")
if [ -n "${CACHE:-}" ] && [ -f "$H/$CACHE" ]; then cp "$H/$CACHE" "$OUT/$CACHE"; fi
first=1
for r in $RUNS; do
  [ $first = 1 ] || sleep ${STAGGER:-20}   # the next run's Opus decoding after the previous one's
  first=0
  sets=SET_$r gpu=GPU_$r
  # GPU_<run>=N: the run sees only GPU N (CUDA_VISIBLE_DEVICES; several GPUs, e.g. nvidia-h200-x2:
  # RUNS="A B C D" GPU_A=0 GPU_B=0 GPU_C=1 GPU_D=1); unset: every GPU the call has
  pin=(); [ -n "${!gpu:-}" ] && pin=(env CUDA_VISIBLE_DEVICES=${!gpu})
  timeout -k 5 $G "${pin[@]}" python3 $T/enhanced_train.py --config $CFG --pack $PACK --sndfile-dir $LIB \
      --max-minutes $MIN --work-dir $W/$r --init-from $H/init.pt ${!sets:-} ${EXTRA:-} \
      ${CACHE:+--set compile_cache=\"$OUT/$CACHE\"} \
      > $W/$r.out 2>&1 &
  pids="${pids:-} $!"
done
( sleep 160; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv >> $W/env.txt ) \
    > /dev/null 2>&1 &
mon=$!
wait $pids
# the telemetry sample must not outlive a short or failed run (nor hold a pipe open)
pkill -P $mon 2>/dev/null; kill $mon 2>/dev/null
date -u >> $W/env.txt
if [ "${SHRINK:-0}" = 1 ]; then
  for r in $RUNS; do
    for n in model ema; do
      [ -f $W/$r/$n.pt ] && python3 $T/enhanced_ckpt.py shrink $W/$r/$n.pt $OUT/${r}_$n.small.pt \
          --base $H/init.pt >> $W/env.txt 2>&1
    done
  done
fi
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
    if (W / r / "config.json").exists():   # the configuration the run trained with
        (OUT / f"{r}_config.json").write_text((W / r / "config.json").read_text())
PY
ls -la $OUT
# (torch's own log lines, e.g. torch.compile's warnings, counted but left out of the tail so
# that the trainer's last lines, its steps/s line among them, stay in view)
( for r in $RUNS; do echo "== $r"; grep -v '^{' $W/$r.out | grep -v '^[EWI][0-9]\{4\} ' | tail -8
  echo "($(grep -c '^[EWI][0-9]\{4\} ' $W/$r.out) torch log lines in $r.out)"; cat $W/$r/log.jsonl
  cat $W/$r/val.json; echo; done
  cat $W/env.txt ) | tee $OUT/summary.txt
