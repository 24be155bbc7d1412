#!/bin/bash
# Session 10's training call (issue 7) on one H200 (enhanced_h200.sh does the work): the enhanced
# network trained to output the clean speech D samples late (configs/enhanced_s10.json,
# output_delay), two runs side by side: A (D = 256: 16.0 ms algorithmic latency) and B (D = 128:
# 13.3 ms), both from the shipped weights of the time (H/init.pt).
# Defaults: H=build-enhanced10/h200 PACK=build-enhanced10/pack LIB=build-enhanced10/lib
# DEN=build-enhanced10 MIN=7.5;   OUT=<dir> bash tools/train/enhanced_s10_h200.sh
D=$(dirname "$0")
CFG=${CFG:-$D/configs/enhanced_s10.json} H=${H:-build-enhanced10/h200} \
PACK=${PACK:-build-enhanced10/pack} LIB=${LIB:-build-enhanced10/lib} DEN=${DEN:-build-enhanced10} \
MIN=${MIN:-7.5} RUNS="A B" SET_A="--set output_delay=256 --set seed=20261401" \
SET_B="--set output_delay=128 --set seed=20261402" exec bash "$D/enhanced_h200.sh"
