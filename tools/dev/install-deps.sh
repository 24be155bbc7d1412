#!/usr/bin/env bash
# Installs what building, testing and the demo need on Debian 12 (root; apt-get and pip only).
# python3-dev: torch.compile (Inductor) builds C++ against Python.h in the train tests.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config git
      libabsl-dev libsndfile1-dev libsoxr-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
      ffmpeg sox libsox-fmt-all espeak-ng python3 python3-pip python3-dev
      libasound2-dev libasound2-plugins alsa-utils pipewire pipewire-alsa wireplumber dbus-daemon jackd2
      ladspa-sdk)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi
# Python side of the tests: numpy (the .gnvm writer's self-test), onnx (ghostnv-convert reads ONNX
# with it), onnxruntime (the peer our converted models are checked against), pesq and pystoi (the
# quality harness, tools/eval). Tests that need one of them skip with a message when it is missing.
py_missing=()
for m in numpy onnx onnxruntime pesq pystoi soundfile soxr; do
  python3 -c "import $m" 2>/dev/null || py_missing+=("$m")
done
if ((${#py_missing[@]})); then
  echo "install-deps: pip install ${py_missing[*]}"
  python3 -m pip install -q "${py_missing[@]}" 2>/dev/null ||
    python3 -m pip install -q --break-system-packages "${py_missing[@]}"
fi
# PyTorch for the training tests (label `train`: the trainers' loop, export vs the engine, the
# e2e pipelines). PyPI's Linux wheel is the CUDA build (~4 GB installed; it runs on the CPU
# here). Best effort: without it those tests report themselves skipped, nothing else needs it.
if ! python3 -c "import torch" 2>/dev/null; then
  echo "install-deps: pip install torch (for the train tests; best effort)"
  timeout 1200 python3 -m pip install -q "torch>=2.0" 2>/dev/null ||
    timeout 1200 python3 -m pip install -q --break-system-packages "torch>=2.0" ||
    echo "install-deps: torch not installed; the train tests will be skipped"
fi
# The enhanced model's architecture (facebookresearch/denoiser's Demucs, CC BY-NC 4.0 code; only
# its demucs.py / resample.py / utils.py are imported, so without its heavy dependencies): the
# enhanced trainer's test (train_enhanced_test) skips without it. Best effort, as torch.
if python3 -c "import torch" 2>/dev/null && ! python3 -c "import denoiser.demucs" 2>/dev/null; then
  echo "install-deps: pip install --no-deps denoiser (for train_enhanced_test; best effort)"
  python3 -m pip install -q --no-deps "denoiser==0.1.5" 2>/dev/null ||
    python3 -m pip install -q --no-deps --break-system-packages "denoiser==0.1.5" ||
    echo "install-deps: denoiser not installed; train_enhanced_test will be skipped"
fi
