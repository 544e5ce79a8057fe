#!/usr/bin/env bash
# Installs what is needed, builds the API reference (scripts/docs.sh, warnings are errors),
# checks the formatting (scripts/format.sh --check), builds, and runs the whole test suite: the developer build,
# the same suite under AddressSanitizer + UndefinedBehaviorSanitizer (plus short soak and
# scale runs against the ASan testbed), a clang++ -Werror
# build of every public header alone and the testbed, a short run of every fuzzer, and the
# unit, socket, hub, codec and client tests (including the multi-threaded ones) under
# ThreadSanitizer.
# Usage: scripts/test.sh            (from anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --tests
# Node test clients (ws, eventsource, playwright-core) pinned by package-lock.json.
npm ci --no-audit --no-fund --loglevel=error
# The API reference from the public headers (Doxygen; any warning, an undocumented public
# member included, fails).
echo "=== docs: API reference (scripts/docs.sh)"
scripts/docs.sh
# One .clang-format for all C++ sources (clang-format 14).
echo "=== format: scripts/format.sh --check"
scripts/format.sh --check
jobs=$(nproc)
# deps.sh --tests installed hiredis and redis-server: the Redis tests are part of the suite here,
# never skipped because the presets' AUTO did not find hiredis.
with_redis=(-DRTMSG_WITH_HIREDIS=ON)
for preset in dev asan; do
  echo "=== build: $preset"
  cmake --preset "$preset" "${with_redis[@]}" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== test: $preset"
  ctest --preset "$preset" -j "$jobs"
done
# The heavier fault runs (see docs/testing.md, "Fault, scale and soak tests"), short, under ASan+UBSan: the server
# must lose nothing, leak no descriptor, not grow, and exit 0 on SIGTERM (LeakSanitizer clean).
echo "=== faults under ASan: soak (30 s, 200 subscribers, 20 churners), scale (2,000 WebSocket + 2,000 SSE, twice)"
tests/faults/soak.sh build/asan --seconds 30 --subscribers 200 --rate 20 --churn 20
tests/faults/scale.sh build/asan 2000
echo "=== build: clang (-Werror: every public header compiled alone, rtmsg-testbed)"
cmake --preset clang "${with_redis[@]}" >/dev/null
cmake --build --preset clang -j "$jobs"
echo "=== fuzz: every libFuzzer target for ${RTMSG_FUZZ_SECONDS:-20} s (clang, ASan+UBSan; tests/fuzz/run.sh)"
tests/fuzz/run.sh build/fuzz "${RTMSG_FUZZ_SECONDS:-20}"
echo "=== build: tsan (unit, socket, hub, codec, client and cluster tests)"
cmake --preset tsan "${with_redis[@]}" >/dev/null
cmake --build --preset tsan -j "$jobs" --target rtmsg_tests_http rtmsg_tests_websocket rtmsg_tests_hub rtmsg_tests_codec rtmsg_tests_client \
  rtmsg_tests_cluster
echo "=== test: tsan"
TSAN_OPTIONS="halt_on_error=1" ctest --preset tsan -j "$jobs" -R '^rtmsg_tests_(http|websocket|hub|codec|client|cluster)\.'
