#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds a consumer against it with
# find_package(torc) and with pkg-config; both programs must run and see the same version.
set -euo pipefail
build="$1"; src="$2"
prefix=$(mktemp -d); trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name 'libtorc.so' | head -1)")
readelf -d "$libdir/libtorc.so" | grep -q 'SONAME.*libtorc.so.0' || { echo "no versioned SONAME"; exit 1; }
cmake -S "$src/tests/install/consumer" -B "$prefix/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/consumer" >/dev/null
LD_LIBRARY_PATH="$libdir" "$prefix/consumer/with_cmake"
flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs torc)
cc -std=c99 -o "$prefix/with_pkgconfig" "$src/tests/install/consumer/main.c" $flags
LD_LIBRARY_PATH="$libdir" "$prefix/with_pkgconfig"
# Only the C API is exported.
if nm -D --defined-only "$libdir/libtorc.so" | awk '{print $3}' | grep -v '^torc' | grep -q .; then
  echo "libtorc.so exports non-torc symbols:"; nm -D --defined-only "$libdir/libtorc.so" | grep -v ' torc' | head; exit 1
fi
echo "install ok"
