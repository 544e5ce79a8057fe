#!/usr/bin/env bash
# Installs the build tree into a temporary prefix and builds a find_package consumer against it.
# Usage: tests/cmake/run.sh BUILD_DIR
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/share/cmake/rtmsg/rtmsgConfig.cmake"
test -f "$tmp/prefix/share/cmake/rtmsg/rtmsgConfigVersion.cmake"
test -f "$tmp/prefix/include/rtmsg/websocket/stream.hpp"
cmake -S "$here/find_package" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
"$tmp/consumer/consumer"
echo "find_package consumer: 1 passed, 0 failed"
