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
#   bash tools/gpu-check.sh --full          # instead: the whole project in build-h200 (deps from
#                                           # tools/dev/make-gpu-deps.sh), ctest -L gpu there and
#                                           # ghostnv-denoise --backend cuda vs cpu (SNR, report)
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

# ---- --full (h200-build's block): the WHOLE project (libsndfile/libsoxr/ALSA from the deps
# prefix, tools/dev/make-gpu-deps.sh), `ctest -L gpu` there (CudaPlan, the CUDA backend behind
# Stream/Scheduler/libghostnv, ghostnv-denoise --backend cuda, runtime, mem, kernels), then
# ghostnv-denoise --backend cuda vs --backend cpu on a synthesized file; a table last. Only the
# targets the GPU tests need are built. Logs in build-h200/logs (copied to $OUT when set).
if [ "${1:-}" = "--full" ]; then
  b=${GHOSTNV_FULL_BUILD_DIR:-$root/build-h200}
  fout=$b/logs
  mkdir -p "$fout"
  fprefix=()
  if [ -d "$deps" ]; then
    fprefix=(-DCMAKE_PREFIX_PATH="$deps")
    export LD_LIBRARY_PATH="$deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PKG_CONFIG_PATH="$deps/lib/x86_64-linux-gnu/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    # The prefix carries Debian's pkgconf for machines that have no pkg-config.
    if ! command -v pkg-config >/dev/null && ! command -v pkgconf >/dev/null && [ -x "$deps/tools/pkg-config" ]; then
      export PKG_CONFIG="$deps/tools/pkg-config"
    fi
  fi
  # Time budget: the device tool kills a command at its limit together with its pipeline (`| tail`
  # then shows nothing), so every step below is bounded to finish inside GHOSTNV_FULL_BUDGET_S
  # seconds from the script's start (default 220, for a 240 s call).
  budget=${GHOSTNV_FULL_BUDGET_S:-220}
  left() { local l=$((budget - SECONDS - $1)); [ $l -lt 10 ] && l=10; echo $l; }
  echo "== build (whole project in ${b#$root/}; pkg-config: ${PKG_CONFIG:-$(command -v pkg-config || command -v pkgconf)})"
  cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release "${fprefix[@]}" > "$fout/configure.log" 2>&1 ||
    { tail -40 "$fout/configure.log"; exit 1; }
  grep -E "^-- (ALSA|ghostnv: |GhostNV: )" "$fout/configure.log"
  mapfile -t ftests < <(cd "$b" && ctest -L gpu -N | sed -n 's/^ *Test *#[0-9]*: *//p')
  ftargets=(ghostnv-denoise)
  for t in "${ftests[@]}"; do ninja -C "$b" -t query "$t" >/dev/null 2>&1 && ftargets+=("$t"); done
  echo "   gpu tests: ${ftests[*]}"
  t0=$SECONDS
  timeout "$(left 75)" cmake --build "$b" -j"$jobs" --target "${ftargets[@]}" -- -k 0 > "$fout/build.log" 2>&1
  fbuild_status=$?
  [ $fbuild_status -eq 124 ] && echo "!! build stopped at the time budget (GHOSTNV_FULL_BUDGET_S=$budget)"
  [ $fbuild_status -ne 0 ] && { echo "!! build errors (continuing with the targets that built):"
    grep -E "error|FAILED" -A5 "$fout/build.log" | head -40; }
  echo "   built in $((SECONDS - t0)) s (status $fbuild_status)"
  echo "== ctest -L gpu (whole project)"
  export GHOSTNV_CACHE_DIR="$b/kernel-cache"
  # -V: the tests' own lines (SNRs, latencies) are wanted even when they pass.
  (cd "$b" && timeout "$(left 25)" ctest -L gpu -V --output-on-failure -j4) > "$fout/ctest-gpu.log" 2>&1
  fgpu_status=$?
  grep -E "^[0-9]+: .*(SNR|submit->done|scheduler:|\[  FAILED  \]|Failure$|SKIPPED \] [0-9]+ test)" \
    "$fout/ctest-gpu.log" | grep -vE "^[0-9]+: session [1-9]" | head -32
  sed -n '/tests passed/,$p' "$fout/ctest-gpu.log"
  echo "== ghostnv-denoise --backend cuda vs --backend cpu (5 s synthesized, 48 kHz mono float)"
  fden_status=1
  if [ -x "$b/tools/denoise/ghostnv-denoise" ] || [ -x "$b/ghostnv-denoise" ]; then
    fbin=$( [ -x "$b/tools/denoise/ghostnv-denoise" ] && echo "$b/tools/denoise/ghostnv-denoise" || echo "$b/ghostnv-denoise")
    timeout "$(left 3)" python3 - "$fbin" "$fout" > "$fout/denoise.txt" 2>&1 <<'PY'
import json, math, struct, subprocess, sys
import numpy as np
binary, d = sys.argv[1], sys.argv[2]
rate, n = 48000, 48000 * 5
t = np.arange(n) / rate
rng = np.random.default_rng(5)
x = (0.3 * np.maximum(0, np.sin(2 * np.pi * 1.7 * t)) * np.sin(2 * np.pi * 220 * t) *
     (1 + 0.5 * np.sin(2 * np.pi * 1100 * t)) + 0.03 * rng.standard_normal(n)).astype('<f4')
def write(path, s):  # WAVE_FORMAT_IEEE_FLOAT, mono
    data = s.tobytes()
    fmt = struct.pack('<HHIIHH', 3, 1, rate, rate * 4, 4, 32)
    with open(path, 'wb') as f:
        f.write(b'RIFF' + struct.pack('<I', 4 + 8 + len(fmt) + 12 + 8 + len(data)) + b'WAVE')
        f.write(b'fmt ' + struct.pack('<I', len(fmt)) + fmt)
        f.write(b'fact' + struct.pack('<II', 4, len(s)))
        f.write(b'data' + struct.pack('<I', len(data)) + data)
def read(path):
    b = open(path, 'rb').read()
    i, fmt = 12, None
    while i + 8 <= len(b):
        cid, size = b[i:i + 4], struct.unpack('<I', b[i + 4:i + 8])[0]
        body = b[i + 8:i + 8 + size]
        if cid == b'fmt ': fmt = struct.unpack('<HHIIHH', body[:16])
        if cid == b'data':
            if fmt[0] in (3, 0xFFFE) and fmt[5] == 32: return np.frombuffer(body, '<f4').astype(np.float64)
            if fmt[0] == 1 and fmt[5] == 16: return np.frombuffer(body, '<i2') / 32768.0
            raise SystemExit(f'unexpected WAV format {fmt}')
        i += 8 + size + (size & 1)
    raise SystemExit('no data chunk')
write(f'{d}/denoise_in.wav', x)
out, rep = {}, {}
for be in ('cpu', 'cuda'):
    r = subprocess.run([binary, f'{d}/denoise_in.wav', f'{d}/denoise_{be}.wav', '--backend', be,
                        '--report', 'json', '--format', 'float'], capture_output=True, text=True)
    if r.returncode != 0:
        print(f'ghostnv-denoise --backend {be}: exit {r.returncode}: {r.stderr.strip()}')
        sys.exit(1)
    rep[be] = json.loads(r.stdout)
    out[be] = read(f'{d}/denoise_{be}.wav')
    print(f"--backend {be}: backend={rep[be].get('backend')!r} backend_active={rep[be].get('backend_active')!r} "
          f"device={rep[be].get('device')!r} fallback_events={rep[be].get('fallback', {}).get('events', 0)} "
          f"gpu_hops={rep[be].get('gpu', {}).get('hops')}")
a, g = out['cpu'], out['cuda']
e = float(np.sum((g - a) ** 2)); s = float(np.sum(a ** 2))
snr = 10 * math.log10(s / max(e, 1e-30))
ok = (len(a) == len(g) == n and snr >= 60 and rep['cuda'].get('backend') == 'cuda' and
      rep['cuda'].get('backend_active') == 'cuda' and rep['cuda'].get('fallback', {}).get('events', 0) == 0)
print(f'denoise cuda vs cpu: {len(g)} vs {len(a)} frames, SNR of the difference {snr:.1f} dB -> {"OK" if ok else "FAIL"}')
sys.exit(0 if ok else 1)
PY
    fden_status=$?
    cat "$fout/denoise.txt"
  else
    echo "!! ghostnv-denoise was not built"
  fi
  echo
  echo "== summary (--full): build status $fbuild_status, ctest -L gpu status $fgpu_status," \
       "denoise cuda vs cpu status $fden_status, $SECONDS s"
  printf '%-34s %s\n' test result
  grep -E "^ *[0-9]+/[0-9]+ Test +#" "$fout/ctest-gpu.log" |
    sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: //; s/ \.+ */ /; s/\*\*\*//' |
    awk '{r=""; for(i=2;i<=NF-2;i++) r=r (r?" ":"") $i; printf "%-34s %-12s %s %s\n", $1, r, $(NF-1), $NF}'
  for t in "${ftests[@]}"; do
    grep -qE "Test +#[0-9]+: $t " "$fout/ctest-gpu.log" || printf '%-34s %s\n' "$t" "not run"
  done
  grep -E "SNR of the difference [0-9.-]+ dB ->" "$fout/denoise.txt" | sed 's/^/ghostnv-denoise: /'
  if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
    for f in configure.log ctest-gpu.log denoise.txt; do [ -f "$fout/$f" ] && cp "$fout/$f" "$OUT/full-$f"; done
    grep -E "error|FAILED" -A8 "$fout/build.log" | head -400 > "$OUT/full-build-errors.txt"
  fi
  [ $fgpu_status -eq 0 ] && [ $fden_status -eq 0 ]
  exit
fi

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
if [ -x build-gpu/ghostnv_network_tc_benchmark ]; then
  # The RNNoise network alone: fp16 tensor cores (one fused kernel) and fp32 vs PyTorch graph
  # replay, with the copy / FMA / mma.sync ceilings measured by probe kernels in the same run.
  echo "== the network alone, fp16 tensor cores vs fp32 vs PyTorch (ghostnv_network_tc_benchmark)"
  timeout 120 python3 runtime/sched/cuda_plan_benchmark_torch.py --batches 1024,4096,16384,65536 \
    > "$out/torch-net.txt" 2>&1
  GHOSTNV_SOURCE_DIR="$root" build-gpu/ghostnv_network_tc_benchmark --torch "$out/torch-net.txt" \
    --csv "$out/network_tc.csv" 2>&1 | tee "$out/network-tc-bench.txt"
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
           cuda-plan-bench.txt cuda_plan.csv cuda-plan-snr.txt infra-bench.txt network-tc-bench.txt \
           network_tc.csv; do
    [ -f "$out/$f" ] && cp "$out/$f" "$OUT/"
  done
fi
[ $gpu_status -eq 0 ] && [ $unit_status -eq 0 ]
