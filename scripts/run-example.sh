#!/usr/bin/env bash
# Installs what is needed, builds the release preset, and runs an example server; it prints
# the URL to open (http://127.0.0.1:8080/ for the chat).  Extra arguments go to the server.
#
#   scripts/run-example.sh                       the chat (examples/chat)
#   scripts/run-example.sh ticker                the market-data ticker (examples/ticker)
#   scripts/run-example.sh board                 the live collaboration board (examples/board):
#                                                open http://127.0.0.1:8070/ in two windows
#   scripts/run-example.sh assistant             the AI token-streaming gateway (examples/assistant),
#                                                with its offline demo model
#   scripts/run-example.sh assistant --upstream http://127.0.0.1:11434 --model llama3.2
#                                                in front of any OpenAI-compatible server (Ollama here)
#   scripts/run-example.sh chat --port 9000      options: --host, --port, and for the chat --tls CERT KEY
#   scripts/run-example.sh chat --redis 127.0.0.1:6379
#                                                several chat servers share rooms through Redis: only
#                                                then are hiredis and redis-server installed and built in
set -euo pipefail
cd "$(dirname "$0")/.."
example=chat
case "${1:-}" in
  chat | ticker | assistant | board) example=$1; shift ;;
esac
deps=()
configure=()
for arg in "$@"; do
  if [[ "$arg" == --redis ]]; then
    deps=(--redis)
    configure=(-DRTMSG_WITH_HIREDIS=ON)
  fi
done
scripts/deps.sh "${deps[@]}"
cmake --preset release "${configure[@]}" >/dev/null
cmake --build --preset release -j "$(nproc)" --target "rtmsg-$example"
exec "build/release/examples/$example/rtmsg-$example" "$@"
