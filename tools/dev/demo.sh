#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build in Release, make a noisy speech
# sample from material Debian ships (espeak-ng speech + synthesised noise), denoise it with the
# embedded default model and print the report (SI-SDR against the clean reference included).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/dev/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build/release -j"$(nproc)" --target ghostnv-denoise
mkdir -p build/demo
bash tools/dev/make-demo-sample.sh build/demo
build/release/tools/denoise/ghostnv-denoise build/demo/demo_noisy.wav build/demo/demo_denoised.wav \
  --reference build/demo/demo_clean.wav "$@"
echo "demo: listen to build/demo/demo_noisy.wav and build/demo/demo_denoised.wav"
