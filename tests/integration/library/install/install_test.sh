#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then builds and runs
#  1. a C program with `cc ... $(pkg-config --cflags --libs ghostnv)`, and
#  2. a C++ program with CMake's find_package(ghostnv),
# against the installed files only.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR   (env RUN_ENV: extra env for running the programs)
set -euo pipefail
build=$1
src=$2
here=$(cd "$(dirname "$0")" && pwd)
for tool in pkg-config cc cmake; do
  command -v $tool > /dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
tmp=$(mktemp -d /tmp/ghostnv_install_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

# The library's own install components (a plain `cmake --install` installs these and the tools).
for component in library ladspa; do
  cmake --install "$build" --prefix "$prefix" --component $component >> "$tmp/install.log" ||
    { cat "$tmp/install.log"; exit 1; }
done

export PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name ghostnv.pc | head -1)")
[ -n "$PKG_CONFIG_PATH" ] || { echo "FAIL: no ghostnv.pc installed"; exit 1; }
libdir=$(cd "$(pkg-config --variable=libdir ghostnv)" && pwd -P)
includedir=$(cd "$(pkg-config --variable=includedir ghostnv)" && pwd -P)
echo "pkg-config: $(pkg-config --modversion ghostnv): $(pkg-config --cflags --libs ghostnv)"
version=$(sed -n 's/^project(ghostnv VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[ "$(pkg-config --modversion ghostnv)" = "$version" ] || { echo "FAIL: version mismatch"; exit 1; }

# What the install must hold.
for f in "$includedir/ghostnv/ghostnv.h" "$includedir/ghostnv/ghostnv.hpp" \
         "$libdir/libghostnv.so" "$libdir/libghostnv.so.0" "$libdir/libghostnv.so.$version" \
         "$libdir/cmake/ghostnv/ghostnvConfig.cmake" "$libdir/cmake/ghostnv/ghostnvConfigVersion.cmake" \
         "$libdir/cmake/ghostnv/ghostnvTargets.cmake"; do
  [ -e "$f" ] || { echo "FAIL: not installed: $f"; exit 1; }
done
[ -L "$libdir/libghostnv.so" ] && [ -L "$libdir/libghostnv.so.0" ] || { echo "FAIL: soname links"; exit 1; }
if [ -e "$build/plugins/ladspa/ghostnv_ladspa.so" ]; then
  [ -e "$libdir/ladspa/ghostnv_ladspa.so" ] || { echo "FAIL: LADSPA plugin not installed"; exit 1; }
fi

# 1. C, through pkg-config.
cc -std=c99 -Wall -Wextra -Werror "$here/consumer.c" -o "$tmp/consumer" \
   $(pkg-config --cflags --libs ghostnv) -lm
out=$(env LD_LIBRARY_PATH="$libdir" ${RUN_ENV:-} "$tmp/consumer")
echo "$out"
grep -q "^spec: buffer_size=480 latency=959 " <<< "$out" || { echo "FAIL: spec calls"; exit 1; }
grep -q "^gpu 99: backend unavailable (gpu_id 99: " <<< "$out" || { echo "FAIL: gpu refusal"; exit 1; }
grep -q "^versioned: rc=0 latency=" <<< "$out" || { echo "FAIL: versioned API"; exit 1; }
# The library resolved is the installed one.
deps=$(env LD_LIBRARY_PATH="$libdir" ldd "$tmp/consumer")
grep -q "$libdir/libghostnv.so.0" <<< "$deps" ||
  { echo "FAIL: consumer did not load the installed library:"; echo "$deps"; exit 1; }

# 2. C++, through find_package.
cmake -S "$here/cpp_consumer" -B "$tmp/cpp" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_BUILD_TYPE=Release > "$tmp/cpp.log" 2>&1 || { cat "$tmp/cpp.log"; exit 1; }
cmake --build "$tmp/cpp" > "$tmp/cpp-build.log" 2>&1 || { cat "$tmp/cpp-build.log"; exit 1; }
out=$(env LD_LIBRARY_PATH="$libdir" ${RUN_ENV:-} "$tmp/cpp/cpp_consumer")
echo "$out"
grep -q "^cpp: latency=959 OK" <<< "$out" || { echo "FAIL: find_package consumer"; exit 1; }
echo "install test: OK"
