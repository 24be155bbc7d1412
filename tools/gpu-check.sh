#!/usr/bin/env bash
# tools/gpu-check.sh — run on a machine with an NVIDIA GPU and the CUDA toolkit: builds the
# device layer and kernels (standalone CMake project in runtime/, so libsndfile/libsoxr are not
# needed), runs `ctest -L gpu` and the CPU-side runtime tests (NVRTC for sm_75/86/90, loader,
# cache), then the GPU benchmark next to PyTorch on the same GPU, and the whole RNNoise pipeline
# on the GPU (CudaPlan: PCM in -> PCM out, batch-1 latency and batched throughput; the
# standalone project builds audio/'s DSP core and models/ for it when nlohmann_json is found —
# build-gpu-deps/ carries it), and prints a short table last.
#
#   bash tools/gpu-check.sh                 # logs and CSVs in build-gpu/logs (the main ones
#                                           # also copied to $OUT when it is set)
#   GHOSTNV_DEPS=/path/prefix bash tools/gpu-check.sh   # where Abseil/GoogleTest live, if not
#                                                       # installed (default: build-gpu-deps/)
#   bash tools/gpu-check.sh --sanitize      # instead of tests + benchmark: the GPU tests under
#                                           # compute-sanitizer (memcheck, then racecheck on
#                                           # the kernels that use shared memory)
# Exit status: non-zero if a test failed (the benchmark still runs and the table is printed).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=$root/build-gpu/logs
mkdir -p "$out"
deps=${GHOSTNV_DEPS:-$root/build-gpu-deps}
jobs=$(nproc)

echo "== gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
(nvcc --version 2>/dev/null | tail -1; python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1) | tee -a "$out/gpu.txt"

echo "== build (standalone device layer: runtime/ + kernels/)"
prefix=()
if [ -d "$deps" ]; then
  prefix=(-DCMAKE_PREFIX_PATH="$deps")
  # Shared Abseil libraries find each other through the loader path (RUNPATH is not transitive).
  export LD_LIBRARY_PATH="$deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
cmake -S runtime -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release "${prefix[@]}" > "$out/configure.log" 2>&1 ||
  { tail -30 "$out/configure.log"; exit 1; }
# Keep going past a broken target (another folder mid-edit): what built is still tested, and
# ctest reports the rest as not run.
cmake --build build-gpu -j"$jobs" -- -k 0 > "$out/build.log" 2>&1 ||
  { echo "!! build errors (continuing with the targets that built):"; grep -E "error|FAILED" -A5 "$out/build.log" | head -60; }

if [ "${1:-}" = "--sanitize" ]; then
  export GHOSTNV_CACHE_DIR="$root/build-gpu/kernel-cache"
  status=0
  cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  run() {  # tool binary filter
    echo "== compute-sanitizer --tool $1 $2 --gtest_filter=$3"
    # API errors are not reported: the tests provoke some on purpose (out of memory, bad image).
    timeout 240 "$cs" --tool "$1" --report-api-errors no --error-exitcode 99 "build-gpu/$2" \
      --gtest_filter="$3" > "$out/cs-$1-$2.log" 2>&1
    local rc=$?
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|PASSED|FAILED|SKIPPED" "$out/cs-$1-$2.log" | tail -6
    [ $rc -eq 0 ] || { status=1; echo "!! status $rc"; grep -m 20 -E "Invalid|Race|Hazard|error" "$out/cs-$1-$2.log"; }
  }
  run memcheck runtime_gpu_ops_test '*'
  run memcheck runtime_gpu_dsp_test '*'
  run memcheck runtime_device_test '*'
  run racecheck runtime_gpu_ops_test 'GpuGru.EveryRows*:GpuGru.Large*:GpuDense.EveryRows*'
  run racecheck runtime_gpu_dsp_test 'GpuFft.*:GpuFraming.*:GpuXcorr.*'
  if [ -x build-gpu/sched_cuda_plan_test ]; then  # the RNNoise pipeline kernels (CudaPlan)
    run memcheck sched_cuda_plan_test 'SumOrder/Frontend.*:CudaPlanGpu.*'
    run racecheck sched_cuda_plan_test 'SumOrder/Frontend.*'
  fi
  if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then cp "$out"/cs-*.log "$OUT/" 2>/dev/null; fi
  exit $status
fi

echo "== ctest -L gpu"
export GHOSTNV_CACHE_DIR="$root/build-gpu/kernel-cache"
(cd build-gpu && ctest -L gpu --output-on-failure -j4) > "$out/ctest-gpu.log" 2>&1
gpu_status=$?
tail -15 "$out/ctest-gpu.log"
echo "== ctest -L unit (runtime_*: NVRTC for sm_75/86/90, loader, cache; CudaPlan's host-side tests)"
(cd build-gpu && ctest -L unit -R 'runtime_|sched_cuda_plan|sched_rnnoise' --output-on-failure -j"$jobs") > "$out/ctest-unit.log" 2>&1
unit_status=$?
tail -6 "$out/ctest-unit.log"
# Per-test detail that matters for the report (kernel registers/spills, load times, device).
(cd build-gpu && ./runtime_device_test --gtest_filter='Devices.*:Modules.*' 2>&1 | grep -vE '^\[( |-|=)') > "$out/device-info.txt"
cat "$out/device-info.txt"

echo "== benchmark"
python3 runtime/gpu_ops_benchmark_torch.py --write-check "$out/gru_case.bin" 2>&1 | tail -3
build-gpu/ghostnv_gpu_benchmark --csv "$out/ghostnv.csv" --check "$out/gru_case.bin" 2>&1 | tee "$out/ghostnv-bench.txt"
python3 runtime/gpu_ops_benchmark_torch.py --csv "$out/torch.csv" > "$out/torch-bench.txt" 2>&1 ||
  tail -20 "$out/torch-bench.txt"
head -1 "$out/torch-bench.txt"
if [ -x build-gpu/ghostnv_cuda_plan_benchmark ]; then
  echo "== whole RNNoise pipeline on the GPU (ghostnv_cuda_plan_benchmark)"
  GHOSTNV_SOURCE_DIR="$root" build-gpu/ghostnv_cuda_plan_benchmark --csv "$out/cuda_plan.csv" 2>&1 |
    tee "$out/cuda-plan-bench.txt"
  # PyTorch peer: the same network alone (compare with the "network" stage above).
  timeout 120 python3 runtime/sched/cuda_plan_benchmark_torch.py 2>&1 | tee -a "$out/cuda-plan-bench.txt"
  # The whole-model check's numbers (SNR of GPU vs CPU output per session), for the record.
  GHOSTNV_SOURCE_DIR="$root" GHOSTNV_SHARED_DIR="$root/../shared" build-gpu/sched_cuda_plan_test \
    --gtest_filter='Sessions/WholeModel.*' 2>&1 | grep -E "^(signal|session [0-2]:)" | tee "$out/cuda-plan-snr.txt"
else
  echo "== ghostnv_cuda_plan_benchmark not built (no nlohmann_json for the standalone models build)"
fi
if [ -x build-gpu/ghostnv_infra_bench ]; then
  echo "== kernel cold/warm start, memory per 1/1k/100k sessions (ghostnv_infra_bench)"
  GHOSTNV_SOURCE_DIR="$root" build-gpu/ghostnv_infra_bench --kernels --memory --sessions=1,1000,100000 \
    2>&1 | tee "$out/infra-bench.txt"
fi
echo
echo "== summary: ctest -L gpu status $gpu_status, runtime unit tests status $unit_status"
grep -E '^CHECK' "$out/ghostnv-bench.txt"
grep -E '^kernel load|round trip|graph replay p50' "$out/ghostnv-bench.txt"
grep -E '^(cpu family|cuda_plan|torch network)' "$out/cuda-plan-bench.txt" 2>/dev/null
python3 runtime/gpu_ops_benchmark_torch.py --table "$out/ghostnv.csv" "$out/torch.csv"
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
  for f in gpu.txt ctest-gpu.log ctest-unit.log ghostnv-bench.txt torch-bench.txt ghostnv.csv torch.csv \
           cuda-plan-bench.txt cuda_plan.csv cuda-plan-snr.txt infra-bench.txt; do
    [ -f "$out/$f" ] && cp "$out/$f" "$OUT/"
  done
fi
[ $gpu_status -eq 0 ] && [ $unit_status -eq 0 ]
