#!/usr/bin/env bash
# Browser tests of examples/chat, examples/ticker, examples/assistant and examples/board: Debian's Chromium
# (playwright-core) against the example servers of a build tree.  They also take
# docs/screenshots/*.png.
#
#   tests/examples/run.sh BUILD_DIR [TEST_FILE...]     (default: every *.test.mjs here)
#
# Installs what is missing first: Debian's chromium (apt-get; needs root), redis-server for
# chat-redis.test.mjs, and the Node packages (npm ci in the repository root).  Environment:
# NODE (default node), RTMSG_CHROMIUM (default /usr/bin/chromium), RTMSG_REDIS_SERVER
# (default redis-server), RTMSG_EXAMPLES_TIMEOUT (seconds, default 150).
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD_DIR [TEST_FILE...]" >&2
    exit 2
fi
fail_setup() {
    echo "FAIL setup: $1"
    exit 1
}
build=$(cd "$1" 2>/dev/null && pwd) || fail_setup "no build directory $1"
shift
node=${NODE:-node}
chromium=${RTMSG_CHROMIUM:-/usr/bin/chromium}
limit=${RTMSG_EXAMPLES_TIMEOUT:-150}

command -v "$node" >/dev/null 2>&1 || fail_setup "node not found (apt-get install nodejs)"
if [ -z "${RTMSG_CHROMIUM:-}" ] && ! dpkg -s chromium >/dev/null 2>&1; then
    echo "# installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } ||
        fail_setup "cannot install chromium (apt-get install -y chromium, as root)"
fi
[ -x "$chromium" ] || fail_setup "$chromium not found"
if [ ! -d "$root/node_modules/playwright-core" ]; then
    echo "# installing Node packages: npm ci in $root"
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error) || fail_setup "npm ci failed"
fi

if [ $# -eq 0 ]; then set -- "$here"/*.test.mjs; fi
# chat-redis.test.mjs runs its own redis-server (Debian's redis-server package).
case " $* " in
*chat-redis.test.mjs*)
    if [ -z "${RTMSG_REDIS_SERVER:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
        echo "# installing Debian's redis-server"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q redis-server >/dev/null ||
            { apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null; } ||
            fail_setup "cannot install redis-server (apt-get install -y redis-server, as root)"
    fi
    ;;
esac
export RTMSG_BUILD_DIR=$build RTMSG_CHROMIUM=$chromium
cd "$root" || exit 1
# A last-resort deadline: every wait in the tests has its own, much shorter one.  The files run
# one after another (they share docs/screenshots and the machine's two cores): one `node --test`
# per file, since --test-concurrency exists only from Node 20.10 (Debian 12 has Node 18).  Each
# test's own time limit is set in the file (tests/support/node_test.mjs).
deadline=$((SECONDS + limit))
status=0
for file in "$@"; do
    left=$((deadline - SECONDS))
    if [ "$left" -le 0 ]; then
        echo "FAIL $file: not run, the run's deadline of $limit s has passed"
        status=1
        continue
    fi
    timeout -k 10 "$left" "$node" --test "$file" || status=1
done
exit "$status"
