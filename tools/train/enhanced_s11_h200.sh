#!/bin/bash
# Session 11's training call (issue 7) on one H200 (enhanced_h200.sh does the work): runs of the
# enhanced network side by side with configs/enhanced_s11.json (stage 4's recipe + the speed/pitch
# and second-noise augmentations), from H/init.pt:
#   RUNS="A B"        which runs (default both)
#   A: skip_delay 0   (the network without lookahead; 10.67 ms)
#   B: skip_delay = output_delay = 256 (real lookahead: each skip delayed; 16.0 ms)
# Defaults: H=build-s11/h200 PACK=build-s11/pack LIB=build-s11/lib DEN=build-s11 MIN=8.5;
#   OUT=<dir> bash tools/train/enhanced_s11_h200.sh
# (a CPU dry run: EXTRA="--device cpu --steps 3 --batch-size 2 --segment 0.5" MIN=2)
D=$(dirname "$0")
CFG=${CFG:-$D/configs/enhanced_s11.json} H=${H:-build-s11/h200} PACK=${PACK:-build-s11/pack} \
LIB=${LIB:-build-s11/lib} DEN=${DEN:-build-s11} MIN=${MIN:-8.5} RUNS=${RUNS:-A B} \
SET_A=${SET_A:---set seed=20261501} \
SET_B=${SET_B:---set seed=20261502 --set skip_delay=256 --set output_delay=256} \
    exec bash "$D/enhanced_h200.sh"
