#!/bin/bash
# Session 10's lookahead probe (issue 7) on one H200 (enhanced_h200.sh does the work): the
# enhanced network with a delay line on each skip connection (configs/enhanced_lookahead.json:
# skip_delay = output_delay = 256 samples, 16.0 ms algorithmic latency), one run L from the
# shipped weights of the time (H/init.pt); its weights also come back as int8 differences from
# init.pt (L_model.small.pt, L_ema.small.pt).
# Defaults: H=build-lookahead/h200 PACK=build-lookahead/pack LIB=build-lookahead/lib
# DEN=build-lookahead MIN=3.0;   OUT=<dir> bash tools/train/enhanced_lookahead_h200.sh
D=$(dirname "$0")
CFG=${CFG:-$D/configs/enhanced_lookahead.json} H=${H:-build-lookahead/h200} \
PACK=${PACK:-build-lookahead/pack} LIB=${LIB:-build-lookahead/lib} DEN=${DEN:-build-lookahead} \
MIN=${MIN:-3.0} RUNS=L SHRINK=1 exec bash "$D/enhanced_h200.sh"
