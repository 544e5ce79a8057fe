#!/bin/sh
# Soak run against rtmsg-testbed from BUILD_DIR (minutes; see soak.py for the options):
#   tests/faults/soak.sh BUILD_DIR [--seconds 300] [--subscribers 1000] [--rate 200] [--churn 50]
set -eu
build=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
testbed=$(find "$build" -name rtmsg-testbed -type f -perm -u+x | head -n 1)
[ -n "$testbed" ] || { echo "rtmsg-testbed not found under $build" >&2; exit 1; }
exec /usr/bin/python3 "$here/soak.py" "$testbed" "$@"
