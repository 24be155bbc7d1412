#!/usr/bin/env bash
# cargo test --offline for bindings/rust against the freshly built libghostnv.
# Usage: rust_test.sh SOURCE_DIR LIB_DIR TARGET_DIR [RUNNER_ENV...]
#   RUNNER_ENV (sanitizer builds): env assignments for running the test binaries (LD_PRELOAD of
#   the ASan runtime); doctests are skipped then, since rustdoc cannot be given a runner.
# Exits 77 (skipped) when cargo is not installed.
set -euo pipefail
src=$1
lib=$2
target=$3
shift 3
command -v cargo > /dev/null || { echo "SKIP: cargo is not installed"; exit 77; }
export GHOSTNV_LIB_DIR=$lib
export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CARGO_TARGET_DIR=$target
export CARGO_TERM_COLOR=never
args=(test --offline --locked --manifest-path "$src/bindings/rust/Cargo.toml" --workspace)
if [ $# -gt 0 ]; then
  triple=$(rustc -vV | sed -n 's/^host: //p' | tr 'a-z-' 'A-Z_')
  export CARGO_TARGET_${triple}_RUNNER="env $*"
  args+=(--lib --tests)
fi
cargo "${args[@]}" -- --test-threads=2
