#!/usr/bin/env bash
# Installs what is needed, builds, and runs the whole test suite: the developer build,
# then the same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
# Usage: scripts/test.sh            (from anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --tests
# Node test clients (ws, eventsource, playwright-core) pinned by package-lock.json.
npm ci --no-audit --no-fund --loglevel=error
jobs=$(nproc)
for preset in dev asan; do
  echo "=== build: $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== test: $preset"
  ctest --preset "$preset" -j "$jobs"
done
