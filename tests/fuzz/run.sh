#!/bin/sh
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined) in BUILD_DIR and
# runs each for SECONDS, starting from its seed corpus; fails on any crash, leak, timeout or
# failed check.  New interesting inputs go to BUILD_DIR/corpus/<name> (kept between runs).
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [FUZZER...]
#
# Environment: FUZZ_JOBS (parallel fuzzing processes per fuzzer, default 1), CXX_FUZZ (clang++).
set -eu
if [ $# -lt 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS [FUZZER...]" >&2
    exit 2
fi
build=$1
seconds=$2
shift 2
src=$(cd "$(dirname "$0")/../.." && pwd)
jobs=${FUZZ_JOBS:-1}
cxx=${CXX_FUZZ:-clang++}

all="http_parser ws_frame ws_stream ws_inflate codec_json codec_binary protocol sse_client"
fuzzers=${*:-$all}

launcher=
if command -v ccache >/dev/null 2>&1; then launcher=-DCMAKE_CXX_COMPILER_LAUNCHER=ccache; fi
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
    -DRTMSG_BUILD_TESTS=ON -DRTMSG_BUILD_EXAMPLES=OFF -DRTMSG_INSTALL=OFF -DRTMSG_WARNINGS_AS_ERRORS=ON \
    -DRTMSG_SANITIZE=address,undefined $launcher >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 1; }
targets=
for f in $fuzzers; do targets="$targets rtmsg_fuzz_$f"; done
# shellcheck disable=SC2086
cmake --build "$build" -j "${BUILD_JOBS:-2}" --target $targets

status=0
summary=
for f in $fuzzers; do
    bin="$build/tests/fuzz/rtmsg_fuzz_$f"
    work="$build/corpus/$f"
    mkdir -p "$work" "$build/artifacts"
    log="$build/fuzz-$f.log"
    regressions="$src/tests/fuzz/regressions/$f"
    if [ -d "$regressions" ]; then
        if ! "$bin" -runs=0 "$regressions" >"$log.regressions" 2>&1; then
            echo "FAIL $f: a regression input crashes (see $log.regressions)"
            status=1
        fi
    fi
    echo "== $f: ${seconds}s"
    parallel=
    # -jobs=1 would still switch libFuzzer to job mode (output to ./fuzz-0.log).
    if [ "$jobs" -gt 1 ]; then parallel="-jobs=$jobs -workers=$jobs"; fi
    set +e
    # shellcheck disable=SC2086
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
        "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
        $parallel -artifact_prefix="$build/artifacts/$f-" \
        "$work" "$src/tests/fuzz/corpus/$f" >"$log" 2>&1
    rc=$?
    set -e
    if [ "$jobs" -gt 1 ]; then cat fuzz-*.log >>"$log" 2>/dev/null && rm -f fuzz-*.log; fi
    execs=$(grep -h 'stat::number_of_executed_units' "$log" | awk '{s+=$2} END {print s+0}')
    summary="$summary
$f: $execs executions in ${seconds}s (exit $rc)"
    if [ $rc -ne 0 ]; then
        echo "FAIL $f (exit $rc); log: $log; artifacts: $build/artifacts/"
        grep -E 'ERROR|SUMMARY|Test unit written|runtime error' "$log" | head -20 || true
        status=1
    fi
done
echo "$summary"
exit $status
