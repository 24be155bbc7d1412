#!/bin/bash
# Four end-to-end fine-tunings of the ultra model side by side on one GPU (session 7's second
# H200 call; the shipped ultra.gnvm averages run v1 with the CPU run A, see README.md), each
# for US seconds (default 250), only the small checkpoints kept, all packed into one archive.
#
#   P=<Opus pack dir> L=<libsndfile dir> INIT=<session-5 ultra last.pt> OUT=<out dir> \
#     bash tools/train/ultra_e2e_h200.sh          # -> $OUT/u7.tar.gz (u7/v1..v4/{snap_*,last}.pt)
set -u
: "${P:?Opus pack dir (enhanced_opuspack.py)}" "${L:?libsndfile dir}" "${INIT:?init checkpoint}" "${OUT:?output dir}"
export LD_LIBRARY_PATH=$L:${LD_LIBRARY_PATH:-} PYTHONUNBUFFERED=1
R=$OUT/u7; mkdir -p "$R"
U="python3 tools/train/ultra_e2e.py --config tools/train/configs/ultra_e2e.json --pack $P --init $INIT --sndfile-dir $L --set decode_jobs=3 --set max_seconds=${US:-250} --set snapshot_every=125"
T=$(( ${US:-250} + 40 ))
timeout -k 5 $T $U --work-dir "$R/v1" --set sisdr_weight=0.1 > "$R/v1.out" 2>&1 &
timeout -k 5 $T $U --work-dir "$R/v2" --set sisdr_weight=0.3 > "$R/v2.out" 2>&1 &
timeout -k 5 $T $U --work-dir "$R/v3" --set sisdr_weight=0.3 --set gain_weight=0.3 --set spec_noise_asym=2.0 > "$R/v3.out" 2>&1 &
timeout -k 5 $T $U --work-dir "$R/v4" --set sisdr_weight=1.0 > "$R/v4.out" 2>&1 &
wait
rm -f "$R"/*/*.tmp
tar czf "$OUT/u7.tar.gz" -C "$OUT" u7 && rm -rf "$R"
tar tzvf "$OUT/u7.tar.gz"
