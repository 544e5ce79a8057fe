#!/usr/bin/env bash
# Installs what building and testing rtmsg needs on Debian 12 (only what is missing).
#
#   scripts/deps.sh            what the library and its examples need (no optional part)
#   scripts/deps.sh --redis    and hiredis + redis-server (rtmsg::redis, the chat's --redis)
#   scripts/deps.sh --tests    everything the whole test suite needs (hiredis, Redis, Chromium,
#                              Node and npm from Debian when no node is on PATH, clang,
#                              doxygen for scripts/docs.sh, clang-format-14 for
#                              scripts/format.sh, Boost's headers for Beast in
#                              examples/existing-server and its tests, ...)
# ccache is used when present (the presets pick it up), never required.
set -euo pipefail
# curl: to check a running example from a shell (curl -fsS http://127.0.0.1:8080/).
pkgs=(g++ cmake ninja-build pkg-config libasio-dev libsimdjson-dev libssl-dev zlib1g-dev openssl curl)
for arg in "$@"; do
  case "$arg" in
  --redis) pkgs+=(libhiredis-dev redis-server) ;;
  --tests)
    pkgs+=(ccache libhiredis-dev catch2 python3-websockets clang libclang-rt-14-dev libmsgpack-cxx-dev
           chromium redis-server doxygen libboost-dev clang-format-14)
    command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
    ;;
  *) echo "usage: scripts/deps.sh [--redis] [--tests]" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
