#!/usr/bin/env bash
# Installs what building and testing rtmsg needs on Debian 12 (only what is missing).
# Usage: scripts/deps.sh [--tests]
set -euo pipefail
pkgs=(g++ cmake ninja-build ccache pkg-config libasio-dev libsimdjson-dev libssl-dev openssl libhiredis-dev)
if [[ "${1:-}" == "--tests" ]]; then
  pkgs+=(catch2 curl python3-websockets clang libclang-rt-14-dev libmsgpack-cxx-dev chromium redis-server)
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi
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
