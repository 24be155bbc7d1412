#!/bin/bash
# Four end-to-end fine-tunings of the default model (rnnoise_e2e.py) side by side on one GPU
# (session 8's H200 call), each for US seconds (default 185, pack loading included), all with
# the input high-pass off (HP=true: on); the C++ features come from the shim on the machine's CPU cores (four
# threads per run). Only the small checkpoints and logs are kept, packed into one archive.
#
#   P=<Opus pack dir> L=<dir: libsndfile + codecs, libghostnv_train_features.so + its Abseil
#   libraries> INIT=<train.py checkpoint> OUT=<out dir> bash tools/train/rnnoise_e2e_h200.sh
#   (EXTRA="--steps 2 --batch-size 2 --segment 1" for a smoke run)
#   -> $OUT/d8.tar.gz (d8/v1..v4/{snap_*,last}.pt, log.jsonl, v*.out)
set -u
: "${P:?Opus pack dir (enhanced_opuspack.py)}" "${L:?library dir}" "${INIT:?init checkpoint}" "${OUT:?output dir}"
export LD_LIBRARY_PATH=$L:${LD_LIBRARY_PATH:-} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
R=$OUT/d8; mkdir -p "$R"
U="python3 tools/train/rnnoise_e2e.py --config tools/train/configs/rnnoise_e2e.json --pack $P --init $INIT --sndfile-dir $L --lib-dir $L --set decode_jobs=4 --set extract_threads=4 --set max_seconds=${US:-185} --set snapshot_every=60 --set highpass=${HP:-false} ${EXTRA:-}"
T=$(( ${US:-185} + 20 ))
timeout -k 5 $T $U --work-dir "$R/v1" --set sisdr_weight=0.1 > "$R/v1.out" 2>&1 &
timeout -k 5 $T $U --work-dir "$R/v2" --set sisdr_weight=0.3 > "$R/v2.out" 2>&1 &
timeout -k 5 $T $U --work-dir "$R/v3" --set sisdr_weight=1.0 > "$R/v3.out" 2>&1 &
timeout -k 5 $T $U --work-dir "$R/v4" --set sisdr_weight=0.3 --set pitch_filter=0.0 > "$R/v4.out" 2>&1 &
wait
rm -f "$R"/*/*.tmp
tar czf "$OUT/d8.tar.gz" -C "$OUT" d8 && rm -rf "$R"
ls -la "$OUT"; tar tzvf "$OUT/d8.tar.gz"
