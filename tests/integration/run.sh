#!/usr/bin/env bash
# Real-peer integration tests against rtmsg-testbed (shared/testbed.md).
#
#   tests/integration/run.sh BUILD_DIR [SERVER]
#
# Starts SERVER (default BUILD_DIR/examples/testbed/rtmsg-testbed; any server that follows
# shared/testbed.md, e.g. BUILD_DIR/examples/existing-server/rtmsg-existing-server) on free
# ports and runs, in order:
#   1. conformance.py (raw-socket RFC 6455 suite) against an instance with --max-message 1 MiB;
#   2. against an instance with the default limit (16 MiB): the framing and limit groups of
#      conformance.py again, the Python websockets client and the Node ws client;
#   3. if `rtmsg-testbed --help` mentions --tls: the same three over TLS (wss), with a
#      self-signed certificate made here with openssl;
#   and checks that each instance is still alive after every suite, that SIGTERM sends 1001 to
#   open WebSockets and that the process then exits 0.
# Exits non-zero if anything failed. The last line is `N passed, M failed` over the suites.
#
# Environment: PYTHON (default /usr/bin/python3, which has Debian's python3-websockets),
# NODE (default node). Node packages come from `npm ci` in the repository root, run here if
# node_modules/ws is missing.

set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -ne 1 ] && [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR [SERVER]" >&2
    exit 2
fi
build=$(cd "$1" 2>/dev/null && pwd) || { echo "FAIL setup: no build directory $1"; echo "0 passed, 1 failed"; exit 1; }
testbed=${2:-$build/examples/testbed/rtmsg-testbed}
python=${PYTHON:-/usr/bin/python3}
node=${NODE:-node}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rtmsg-integration.XXXXXX")
live_pids=()
suites_passed=0
suites_failed=0
failed_names=()

cleanup() {
    local pid
    for pid in "${live_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${live_pids[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

record() {  # record NAME STATUS [WHY]
    if [ "$2" -eq 0 ]; then
        suites_passed=$((suites_passed + 1))
        echo "PASS $1"
    else
        suites_failed=$((suites_failed + 1))
        failed_names+=("$1")
        echo "FAIL $1${3:+: $3}"
    fi
}

forget_pid() {
    local keep=() pid
    for pid in "${live_pids[@]}"; do
        [ "$pid" = "$1" ] || keep+=("$pid")
    done
    live_pids=("${keep[@]}")
}

# start_server NAME ARGS... -> sets server_pid, server_port (returns 1 if it did not start)
start_server() {
    local name=$1
    shift
    local out=$tmp/$name.out err=$tmp/$name.err line=""
    echo "# starting $name: $testbed $*"
    "$testbed" "$@" >"$out" 2>"$err" &
    server_pid=$!
    live_pids+=("$server_pid")
    for _ in $(seq 1 100); do
        line=$(grep -m1 -E '^listening on .+:[0-9]+$' "$out" 2>/dev/null) && break
        if ! kill -0 "$server_pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    if [ -z "$line" ]; then
        record "start $name" 1 "no 'listening on HOST:PORT' line within 10 s"
        tail -n 20 "$out" "$err" | sed 's/^/#   /'
        kill -KILL "$server_pid" 2>/dev/null
        forget_pid "$server_pid"
        server_pid=""
        return 1
    fi
    server_port=${line##*:}
    server_name=$name
    echo "# $name is $line (pid $server_pid)"
    return 0
}

# check_alive AFTER: the server must survive every suite.
check_alive() {
    if kill -0 "$server_pid" 2>/dev/null; then
        return 0
    fi
    wait "$server_pid" 2>/dev/null
    local status=$?
    forget_pid "$server_pid"
    record "$server_name still running after $1" 1 "the testbed died (exit status $status)"
    tail -n 20 "$tmp/$server_name.err" | sed 's/^/#   /'
    server_pid=""
    return 1
}

# stop_server [TLS_ARGS...]: SIGTERM with open WebSockets; expect 1001 closes and exit status 0.
stop_server() {
    [ -n "$server_pid" ] || return 0
    local probe=$tmp/$server_name.shutdown status=0
    "$python" "$here/conformance.py" --host 127.0.0.1 --port "$server_port" "$@" \
        --expect-shutdown 3 >"$probe" 2>&1 &
    local probe_pid=$!
    for _ in $(seq 1 100); do
        grep -q '^ready$' "$probe" 2>/dev/null && break
        kill -0 "$probe_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -TERM "$server_pid" 2>/dev/null
    local exited=1
    for _ in $(seq 1 100); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            exited=0
            break
        fi
        sleep 0.1
    done
    if [ $exited -ne 0 ]; then
        kill -KILL "$server_pid" 2>/dev/null
        record "$server_name exits on SIGTERM" 1 "still running 10 s after SIGTERM (killed)"
    else
        wait "$server_pid" 2>/dev/null
        status=$?
        record "$server_name exits on SIGTERM" "$status" "exit status $status"
    fi
    forget_pid "$server_pid"
    wait "$probe_pid" 2>/dev/null
    local probe_status=$?
    sed 's/^/#   /' "$probe"
    record "$server_name sends 1001 to open WebSockets on SIGTERM" "$probe_status"
    local lines
    lines=$(wc -l <"$tmp/$server_name.out")
    if [ "$lines" -ne 1 ]; then
        record "$server_name prints exactly one line on stdout" 1 "it printed $lines lines"
    fi
    server_pid=""
}

# suite NAME COMMAND...: run a peer, record its result, then check the server survived it.
suite() {
    local name=$1
    shift
    echo
    echo "=== $name"
    local started=$SECONDS
    "$@"
    local status=$?
    record "$name" "$status" "exit status $status after $((SECONDS - started)) s"
    check_alive "$name"
}

node_ready() {
    if ! command -v "$node" >/dev/null 2>&1; then
        echo "# node not found"
        return 1
    fi
    if [ ! -d "$root/node_modules/ws" ] || [ ! -d "$root/node_modules/eventsource" ]; then
        echo "# installing Node packages: npm ci in $root"
        (cd "$root" && npm ci --no-audit --no-fund --loglevel=error) || return 1
    fi
}

run_peers() {  # run_peers SCHEME TLS_CONFORMANCE_ARGS... (the server's limit is the default)
    local scheme=$1
    shift
    local ca_args=()
    [ "$scheme" = wss ] && ca_args=(--ca "$tmp/cert.pem")
    suite "python websockets client ($scheme)" \
        "$python" "$here/py_websockets_client.py" --url "$scheme://127.0.0.1:$server_port" "${ca_args[@]}" \
        || start_server "${server_name}-again" "${server_args[@]}" || return
    if node_ready; then
        suite "node ws client ($scheme)" \
            "$node" "$here/node_ws_client.mjs" --url "$scheme://127.0.0.1:$server_port" "${ca_args[@]}" \
            || start_server "${server_name}-again" "${server_args[@]}" || return
    else
        record "node ws client ($scheme)" 1 "node or its packages (npm ci) are not available"
    fi
}

if [ ! -x "$testbed" ]; then
    record "setup" 1 "$testbed not found or not executable (build the examples)"
    echo "0 passed, 1 failed"
    exit 1
fi
if ! "$python" -c 'import websockets' 2>/dev/null; then
    echo "# $python cannot import websockets: apt-get install python3-websockets"
fi

# --- 1. conformance against a 1 MiB limit -------------------------------------------------
server_args=(--port 0 --max-message 1048576)
if start_server small "${server_args[@]}"; then
    suite "conformance (ws, --max-message 1 MiB)" \
        "$python" "$here/conformance.py" --host 127.0.0.1 --port "$server_port" --max-message 1048576
    stop_server
fi

# --- 2. default limit: framing/limits at 16 MiB, then the library peers ------------------------
server_args=(--port 0)
if start_server default "${server_args[@]}"; then
    suite "conformance framing and limits (ws, 16 MiB)" \
        "$python" "$here/conformance.py" --host 127.0.0.1 --port "$server_port" -k 1 -k 9
    [ -n "$server_pid" ] || start_server default-again "${server_args[@]}"
    [ -n "$server_pid" ] && run_peers ws
    stop_server
fi

# --- 3. TLS ---------------------------------------------------------------------------------
help=$(timeout 5 "$testbed" --help 2>&1)
if grep -q -- '--tls' <<<"$help"; then
    if openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 1 \
        -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >"$tmp/openssl.log" 2>&1; then
        server_args=(--port 0 --tls "$tmp/cert.pem" "$tmp/key.pem")
        if start_server tls "${server_args[@]}"; then
            suite "conformance (wss, 16 MiB)" \
                "$python" "$here/conformance.py" --host 127.0.0.1 --port "$server_port" \
                --tls --ca "$tmp/cert.pem"
            [ -n "$server_pid" ] || start_server tls-again "${server_args[@]}"
            [ -n "$server_pid" ] && run_peers wss
            stop_server --tls --ca "$tmp/cert.pem"
        fi
    else
        record "make a TLS certificate" 1 "$(tail -n 3 "$tmp/openssl.log")"
    fi
else
    echo
    echo "SKIP TLS suites: 'rtmsg-testbed --help' does not mention --tls"
fi

echo
if [ $suites_failed -ne 0 ]; then
    echo "# failed: ${failed_names[*]}"
fi
echo "$suites_passed passed, $suites_failed failed"
[ $suites_failed -eq 0 ]
