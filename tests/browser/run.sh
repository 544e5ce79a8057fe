#!/usr/bin/env bash
# Tests of js/rtmsg.js under Node and in a real browser (Debian's Chromium via playwright-core),
# against rtmsg-testbed.
#
#   tests/browser/run.sh BUILD_DIR
#
# Installs what is missing first: Debian's chromium (apt-get; needs root) and the Node
# packages (npm ci in the repository root).  Then runs `node --test` on the test files here,
# which prints Node's test summary; the exit status is non-zero if anything failed.  Works with
# Debian 12's Node 18 and with Node 20+: each test's time limit is set in the test file
# (tests/support/node_test.mjs), not with --test-timeout, which Node 18 lacks.
#
# Environment: NODE (default node), RTMSG_CHROMIUM (default /usr/bin/chromium),
# RTMSG_BROWSER_TIMEOUT (seconds for the whole run, default 120).

set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" 2>/dev/null && pwd) || { echo "FAIL setup: no build directory $1"; echo "0 passed, 1 failed"; exit 1; }
node=${NODE:-node}
chromium=${RTMSG_CHROMIUM:-/usr/bin/chromium}
limit=${RTMSG_BROWSER_TIMEOUT:-220}

fail_setup() {
    echo "FAIL setup: $1"
    echo "0 passed, 1 failed"
    exit 1
}

[ -x "$build/examples/testbed/rtmsg-testbed" ] ||
    fail_setup "$build/examples/testbed/rtmsg-testbed not found (build the rtmsg-testbed target)"
command -v "$node" >/dev/null 2>&1 || fail_setup "node not found (apt-get install nodejs)"

if [ -z "${RTMSG_CHROMIUM:-}" ] && ! dpkg -s chromium >/dev/null 2>&1; then
    echo "# installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } ||
        fail_setup "cannot install chromium (apt-get install -y chromium, as root)"
fi
[ -x "$chromium" ] || fail_setup "$chromium not found"

if [ ! -d "$root/node_modules/playwright-core" ] || [ ! -d "$root/node_modules/ws" ]; then
    echo "# installing Node packages: npm ci in $root"
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error) || fail_setup "npm ci failed"
fi

export RTMSG_BUILD_DIR=$build RTMSG_CHROMIUM=$chromium
cd "$root" || exit 1
# A last-resort deadline: every wait in the tests has its own, much shorter one.  SIGTERM
# lets the test process kill the testbed and Chromium it started.
exec timeout -k 10 "$limit" "$node" --test "$here"/*.test.mjs
