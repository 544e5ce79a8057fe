#!/usr/bin/env bash
# Installs what is needed, builds the release preset, and runs an example server; it prints
# the URL to open (http://127.0.0.1:8080/ for the chat).  Extra arguments go to the server.
#
#   scripts/run-example.sh                       the chat (examples/chat)
#   scripts/run-example.sh ticker                the market-data ticker (examples/ticker)
#   scripts/run-example.sh chat --port 9000      options: --host, --port, and for the chat --tls CERT KEY
set -euo pipefail
cd "$(dirname "$0")/.."
example=chat
case "${1:-}" in
  chat | ticker) example=$1; shift ;;
esac
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target "rtmsg-$example"
exec "build/release/examples/$example/rtmsg-$example" "$@"
