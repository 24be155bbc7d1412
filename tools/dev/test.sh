#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds twice (ASan+UBSan, then Release) and runs
# ctest in both; ends with the Release run's ctest summary. Exit status is non-zero if either fails.
set -uo pipefail
cd "$(dirname "$0")/../.."
bash tools/dev/install-deps.sh || exit 1
jobs=$(nproc)

echo "== sanitizer build (ASan + UBSan) =="
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGHOSTNV_SANITIZE=ON > /dev/null &&
  cmake --build build/asan -j"$jobs" || exit 1
(cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$jobs" -LE "train|benchmark")
asan_status=$?

echo "== release build =="
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null &&
  cmake --build build/release -j"$jobs" || exit 1
[ $asan_status -eq 0 ] || echo "!! the sanitizer run above FAILED (status $asan_status)"
cd build/release && ctest --output-on-failure -j"$jobs"
release_status=$?
[ $asan_status -eq 0 ] && [ $release_status -eq 0 ]
