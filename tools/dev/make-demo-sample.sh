#!/usr/bin/env bash
# tools/dev/make-demo-sample.sh OUTDIR — make a demo pair of clean and noisy speech.
#
# Writes OUTDIR/demo_clean.wav and OUTDIR/demo_noisy.wav: 8 s, 48 kHz, mono, 16-bit.
# The speech is a few English sentences from espeak-ng; the noise is synthesised: pink and
# brown noise, a 50 Hz mains hum with harmonics, and a babble of other espeak-ng voices,
# mixed at about 5 dB SNR. Deterministic: sox runs in repeatable mode (-R, fixed seeds) and
# without dither, so the same packages give byte-identical files.
#
# Needs only espeak-ng and sox (apt-get install espeak-ng sox), plus coreutils and awk.
#
#   tools/dev/make-demo-sample.sh /tmp/demo
#   build/tools/denoise/ghostnv-denoise /tmp/demo/demo_noisy.wav /tmp/demo/out.wav \
#       --reference /tmp/demo/demo_clean.wav
set -euo pipefail

prog=make-demo-sample.sh
if [[ $# -ne 1 || $1 == -h || $1 == --help ]]; then
  echo "usage: $prog OUTDIR" >&2
  exit 2
fi
outdir=$1
for tool in espeak-ng sox awk; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$prog: '$tool' not found (apt-get install espeak-ng sox)" >&2
    exit 1
  fi
done
mkdir -p "$outdir"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

readonly RATE=48000
readonly SECONDS_TOTAL=8
readonly SNR_DB=5
# sox: repeatable random numbers, quiet, no dither (determinism), 32-bit float intermediates.
sx() { sox -R -D -q -V1 "$@"; }
readonly F32=(-r "$RATE" -c 1 -b 32 -e floating-point)

# RMS amplitude of a file (sox's "stat").
rms() { sox -R -D "$1" -n stat 2>&1 | awk '/^RMS +amplitude/ {print $3}'; }
peak() { sox -R -D "$1" -n stat 2>&1 | awk '/^Maximum amplitude/ {a=$3} /^Minimum amplitude/ {b=-$3} END {print (a > b ? a : b)}'; }

# 1. Clean speech: three sentences (about 7.7 s with the pauses), resampled to 48 kHz, padded
#    to exactly 8 s.
say() {  # voice speed pitch text out
  espeak-ng -v "$1" -s "$2" -p "$3" -w "$5" "$4"
}
say en-us 160 50 "The birch canoe slid on the smooth planks." "$work/s1.wav"
say en-us 160 50 "Glue the sheet to the dark blue background." "$work/s2.wav"
say en-us 160 50 "Help is on the way." "$work/s3.wav"
for i in 1 2 3; do
  sx "$work/s$i.wav" "${F32[@]}" "$work/r$i.wav" rate -v pad 0 0.25
done
sx "$work/r1.wav" "$work/r2.wav" "$work/r3.wav" "$work/speech_cat.wav"
sx "$work/speech_cat.wav" "$work/clean.wav" pad 0.3 "$SECONDS_TOTAL" trim 0 "$SECONDS_TOTAL" gain -n -6

# 2. Noise, 8 s each at 48 kHz.
sx -n "${F32[@]}" "$work/pink.wav" synth "$SECONDS_TOTAL" pinknoise vol 0.5
sx -n "${F32[@]}" "$work/brown.wav" synth "$SECONDS_TOTAL" brownnoise vol 0.5
sx -n "${F32[@]}" "$work/hum.wav" synth "$SECONDS_TOTAL" sine 50 synth sine mix 150 synth sine mix 250 vol 0.3
# Babble: other voices, other sentences, slowed/quickened, overlapped and band-limited.
say en-gb 170 30 "Rain is expected later this afternoon across the northern hills." "$work/b1.wav"
say en-us+f3 140 70 "Our meeting moved to Thursday at half past ten in the small room." "$work/b2.wav"
say en-gb-scotland 160 40 "Turn left at the second roundabout and follow the signs to the station." "$work/b3.wav"
for i in 1 2 3; do
  sx "$work/b$i.wav" "${F32[@]}" "$work/br$i.wav" rate -v pad "0.$((i * 3))" 0 repeat 3 trim 0 "$SECONDS_TOTAL" pad 0 "$SECONDS_TOTAL" trim 0 "$SECONDS_TOTAL"
done
sx -m "$work/br1.wav" "$work/br2.wav" "$work/br3.wav" "$work/babble.wav" lowpass 3500 norm -20
sx -m -v 1 "$work/pink.wav" -v 0.7 "$work/brown.wav" -v 0.5 "$work/hum.wav" -v 1 "$work/babble.wav" \
   "$work/noise.wav" norm -20

# 3. Mix at SNR_DB: scale the noise so that rms(clean) / rms(noise) = 10^(SNR/20).
rms_s=$(rms "$work/clean.wav")
rms_n=$(rms "$work/noise.wav")
gain=$(awk -v s="$rms_s" -v n="$rms_n" -v snr="$SNR_DB" 'BEGIN {printf "%.9f", s / (n * 10^(snr / 20))}')
sx -m -v 1 "$work/clean.wav" -v "$gain" "$work/noise.wav" "$work/noisy.wav"

# 4. Keep the pair consistent: one common gain so the noisy file peaks at -1 dBFS.
pk=$(peak "$work/noisy.wav")
norm=$(awk -v p="$pk" 'BEGIN {printf "%.9f", 0.891 / p}')
sx "$work/clean.wav" -b 16 -e signed-integer "$outdir/demo_clean.wav" vol "$norm"
sx "$work/noisy.wav" -b 16 -e signed-integer "$outdir/demo_noisy.wav" vol "$norm"

snr=$(awk -v s="$rms_s" -v n="$rms_n" -v g="$gain" 'BEGIN {printf "%.1f", 20 * log(s / (n * g)) / log(10)}')
echo "$prog: wrote $outdir/demo_clean.wav and $outdir/demo_noisy.wav" \
     "(${SECONDS_TOTAL} s, ${RATE} Hz, 16-bit mono, SNR ${snr} dB)"
