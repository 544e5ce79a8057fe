#!/bin/sh
# The heavy fault tests, run against rtmsg-testbed from BUILD_DIR:
#   10,000 WebSocket and 10,000 SSE connections opened, used and closed (twice); the server's
#   descriptors return to their baseline and its memory does not grow between rounds.
#
#   tests/faults/scale.sh BUILD_DIR [CONNS]          (CONNS defaults to 10000)
set -eu
build=$1
conns=${2:-10000}
here=$(cd "$(dirname "$0")" && pwd)
testbed=$(find "$build" -name rtmsg-testbed -type f -perm -u+x | head -n 1)
[ -n "$testbed" ] || { echo "rtmsg-testbed not found under $build (build with -DRTMSG_BUILD_EXAMPLES=ON)" >&2; exit 1; }
exec /usr/bin/python3 "$here/scale.py" "$testbed" --conns "$conns"
