#!/usr/bin/env bash
# Installs what is needed, builds the release preset, and runs the example server
# (rtmsg-testbed until the chat example lands).  Extra arguments go to the server.
# Usage: scripts/run-example.sh [--port 9001]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target rtmsg-testbed
exec build/release/examples/testbed/rtmsg-testbed "$@"
