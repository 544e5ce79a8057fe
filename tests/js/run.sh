#!/usr/bin/env bash
# Tests of js/ as a package, without a server build: the TypeScript types (tsc --strict on
# tests/js/types.test.ts against js/rtmsg.d.ts), then under Node the package (its version
# against the library's, its exports map, the tarball `npm pack` makes, installed and
# imported by name, with its types) and rtmsg.js against a scripted server (*.test.mjs).
#
#   tests/js/run.sh
#
# Installs the Node packages first if they are missing (npm ci in the repository root, which
# pins typescript).  Works with Debian 12's Node 18.  Environment: NODE (default node),
# RTMSG_JS_TIMEOUT (seconds for the whole run, default 120).
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
node=${NODE:-node}
limit=${RTMSG_JS_TIMEOUT:-120}
fail_setup() {
    echo "FAIL setup: $1"
    echo "0 passed, 1 failed"
    exit 1
}
command -v "$node" >/dev/null 2>&1 || fail_setup "node not found (apt-get install nodejs)"
if [ ! -x "$root/node_modules/.bin/tsc" ] || [ ! -d "$root/node_modules/ws" ]; then
    echo "# installing Node packages: npm ci in $root"
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error) || fail_setup "npm ci failed"
fi

cd "$root" || exit 1
status=0
echo "# tsc -p tests/js/tsconfig.json ($("$root/node_modules/.bin/tsc" --version))"
if timeout -k 10 "$limit" "$node" "$root/node_modules/.bin/tsc" -p "$here/tsconfig.json"; then
    echo "ok - types: tests/js/types.test.ts compiles against js/rtmsg.d.ts, every @ts-expect-error used"
else
    echo "not ok - types: tsc failed (above)"
    status=1
fi
timeout -k 10 "$limit" "$node" --test "$here"/*.test.mjs || status=1
exit "$status"
