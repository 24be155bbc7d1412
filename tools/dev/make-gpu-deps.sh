#!/usr/bin/env bash
# tools/dev/make-gpu-deps.sh — builds build-gpu-deps/, the relocatable dependency prefix that
# travels to the GPU machine (Ubuntu 24.04 image with CUDA, CMake, ninja, g++ 13, GoogleTest,
# Google Benchmark and nlohmann/json, but no Abseil, libsndfile, libsoxr or ALSA). Run it on the
# Debian 12 build machine, from anywhere; nothing is installed, nothing outside the prefix changes.
#
#   bash tools/dev/make-gpu-deps.sh            # -> build-gpu-deps/ (git-ignored, ~15 MB)
#   bash tools/dev/make-gpu-deps.sh /tmp/deps  # another place
#
# What goes in:
#   - Abseil, GoogleTest/GoogleMock and nlohmann_json: copied from this machine's installed
#     Debian packages (libabsl-dev, libgtest-dev, nlohmann-json3-dev), with their CMake configs
#     (they compute their prefix from their own location, so the copy is relocatable);
#   - libsndfile, libsoxr, ALSA (with the shared libraries libsndfile needs at run time: FLAC,
#     Vorbis, Ogg, Opus, mpg123, LAME) and pkgconf: `apt-get download` + `dpkg-deb -x` (not
#     installed). Their .pc files are rewritten to ${pcfiledir}, i.e. relocatable too. libsoxr's
#     libgomp.so.1 is not carried: every g++ installation has it.
#     Debian 12's glibc (2.36) is older than the GPU image's (2.39), so these .so files run there.
#
# Users (tools/gpu-check.sh does all of it): -DCMAKE_PREFIX_PATH=<prefix> (CMake also searches
# <prefix>/lib/x86_64-linux-gnu/pkgconfig for pkg-config), LD_LIBRARY_PATH=<prefix>/lib/x86_64-linux-gnu
# at run time, and PKG_CONFIG=<prefix>/tools/pkg-config where the machine has no pkg-config.
# The package names and versions land in <prefix>/VERSIONS.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=${1:-build-gpu-deps}
arch=x86_64-linux-gnu
mkdir -p "$(dirname "$dest")"
work=$(mktemp -d "$dest.tmp.XXXXXX")  # same file system as $dest: the final mv is a rename
trap 'rm -rf "$work"' EXIT
new=$work/prefix
lib=$new/lib/$arch
mkdir -p "$new/include" "$lib/cmake" "$lib/pkgconfig" "$new/share/cmake" "$new/tools"

# ---- 1. Abseil, GoogleTest, nlohmann_json from the installed packages ----
for p in libabsl-dev libgtest-dev nlohmann-json3-dev; do
  dpkg-query -W -f='${Package} ${Version}\n' "$p" >/dev/null ||
    { echo "make-gpu-deps: $p is not installed (tools/dev/install-deps.sh)" >&2; exit 1; }
done
cp -r /usr/include/absl /usr/include/gtest /usr/include/gmock /usr/include/nlohmann "$new/include/"
cp -a /usr/lib/$arch/libabsl_* /usr/lib/$arch/libgtest* /usr/lib/$arch/libgmock* "$lib/"
cp -r /usr/lib/$arch/cmake/absl /usr/lib/$arch/cmake/GTest "$lib/cmake/"
cp -r /usr/share/cmake/nlohmann_json "$new/share/cmake/"
dpkg-query -W -f='${Package} ${Version} (installed, copied)\n' libabsl-dev libgtest-dev \
  nlohmann-json3-dev > "$new/VERSIONS.txt"

# ---- 2. libsndfile, libsoxr, ALSA, pkgconf: downloaded and extracted, not installed ----
pkgs=(libsndfile1-dev libsndfile1 libflac12 libvorbis0a libvorbisenc2 libogg0 libopus0
      libmpg123-0 libmp3lame0 libsoxr-dev libsoxr0 libasound2-dev libasound2 pkgconf-bin libpkgconf3)
mkdir -p "$work/debs" "$work/root"
chmod 777 "$work" "$work/debs"  # apt's _apt user writes the downloads
(cd "$work/debs" && apt-get download -q "${pkgs[@]}" 2>&1 | grep -vE "^(Get:|Fetched|W: Download is performed unsandboxed)" || true)
for p in "${pkgs[@]}"; do
  deb=$(ls "$work/debs/${p}_"*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || { echo "make-gpu-deps: apt-get download $p failed" >&2; exit 1; }
  dpkg-deb -x "$deb" "$work/root"
  echo "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version) (apt-get download)" >> "$new/VERSIONS.txt"
done
r=$work/root/usr
cp -r "$r/include/sndfile.h" "$r/include/sndfile.hh" "$r/include/soxr.h" "$r/include/alsa" \
  "$r/include/sys" "$new/include/"
# Shared libraries and their dev symlinks only (no static archives, docs or ALSA's configs: the
# GPU machine runs no live audio).
cp -a "$r/lib/$arch"/lib*.so* "$lib/"
cp "$r/lib/$arch/pkgconfig"/{sndfile,soxr,alsa}.pc "$lib/pkgconfig/"
cp "$r/bin/pkgconf" "$new/tools/pkgconf"
ln -s pkgconf "$new/tools/pkg-config"

# .pc files: prefix relative to the file (pkg-config's ${pcfiledir} = <prefix>/lib/<arch>/pkgconfig).
# Only dynamic linking is used, so the private requirements (whose .pc files are not carried)
# are dropped: pkg-config would otherwise fail to resolve sndfile for want of flac.pc, ogg.pc...
for pc in "$lib/pkgconfig"/*.pc; do
  sed -i -e 's|^prefix=.*|prefix=${pcfiledir}/../../..|' \
         -e 's|^exec_prefix=.*|exec_prefix=${prefix}|' \
         -e 's|^libdir=.*|libdir=${prefix}/lib/'"$arch"'|' \
         -e 's|^includedir=.*|includedir=${prefix}/include|' \
         -e 's|-L/usr/lib/'"$arch"'|-L${libdir}|' -e 's|-I/usr/include|-I${includedir}|' \
         -e '/^Requires.private:/d' -e '/^Libs.private:/d' "$pc"
  # soxr.pc names its directories literally and has no variables: give it the same header.
  grep -q '^prefix=' "$pc" || sed -i "1i prefix=\${pcfiledir}/../../..\nlibdir=\${prefix}/lib/$arch\nincludedir=\${prefix}/include\n" "$pc"
done
find "$lib" -xtype l -delete  # dev links to libraries not carried (libsoxr-lsr.so)

# ---- 3. checks: pkg-config resolves the modules, every library's needs are met inside the
# prefix or by glibc/libgomp (present on the GPU machine) ----
export LD_LIBRARY_PATH=$lib
for m in sndfile soxr alsa; do
  PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=$lib/pkgconfig "$new/tools/pkg-config" --cflags --libs "$m" >/dev/null ||
    { echo "make-gpu-deps: pkg-config cannot resolve $m" >&2; exit 1; }
done
bad=0
for so in "$lib"/libsndfile.so.1 "$lib"/libsoxr.so.0 "$lib"/libasound.so.2 "$new/tools/pkgconf"; do
  while read -r name _ path _; do
    case "$name" in linux-vdso*|/lib64/*) continue ;; esac
    case "$path" in
      "$lib"/*) ;;
      */libc.so.6|*/libm.so.6|*/libgomp.so.1|*/libdl.so.2|*/libpthread.so.0|*/librt.so.1) ;;
      *) echo "make-gpu-deps: $(basename "$so") needs $name from $path (not in the prefix)" >&2; bad=1 ;;
    esac
  done < <(ldd "$so" | sed 's/^\s*//')
done
[ $bad -eq 0 ] || exit 1

# ---- 4. swap in (other sessions may be reading the old prefix: rename, don't rewrite) ----
rm -rf "$dest.old"
[ -e "$dest" ] && mv "$dest" "$dest.old"
mv "$new" "$dest"
rm -rf "$dest.old"
echo "make-gpu-deps: $(du -sh "$dest" | cut -f1) in $dest"
cat "$dest/VERSIONS.txt"
