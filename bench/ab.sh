#!/usr/bin/env bash
# Interleaved A/B of two servers that implement ../shared/testbed.md, driven by rtmsg-load.
#
#   bench/ab.sh [options] A B
#
# A and B are server commands (a binary and its arguments; `--port 0` is added and the port
# is read from the server's "listening on HOST:PORT" line).  Each scenario runs in --pairs
# pairs, and which server runs first alternates from pair to pair, so a machine whose speed
# drifts during the run favours neither.  For every pair it prints the server CPU per message
# (`srv ns/msg`: per round trip for echo, per delivered message for fan-out) of A and B and
# their ratio B ÷ A; then the median ratio per scenario.  For idle scenarios it compares the
# server's bytes per connection.  A ratio below 1 means B spends less.
#
# Options:
#   --load PATH        rtmsg-load (default: build/bench/bench/load/rtmsg-load)
#   --pairs N          pairs per scenario (default 6)
#   --scenario "ARGS"  rtmsg-load arguments of one scenario; repeatable (default: echo 32 B
#                      x 16, echo 4 KiB x 16, echo 32 B x 1, each 3 s after 1 s of warm-up)
#   --cores "S L"      cores for the server and the load tool (default "0 1")
#
# Example (the testbed before and after a change, both Release builds):
#   bench/ab.sh /tmp/before/build/bench/examples/testbed/rtmsg-testbed \
#               build/bench/examples/testbed/rtmsg-testbed
# Servers are started with --threads 1 unless their command says otherwise.
set -euo pipefail

load=build/bench/bench/load/rtmsg-load
pairs=6
scenarios=()
cores=(0 1)
while [[ $# -gt 2 ]]; do
  case "$1" in
    --load) load=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --scenario) scenarios+=("$2"); shift 2 ;;
    --cores) read -r -a cores <<<"$2"; shift 2 ;;
    *) echo "bench/ab.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $# -eq 2 ]] || { sed -n '2,24p' "$0"; exit 2; }
A=$1
B=$2
if [[ ${#scenarios[@]} -eq 0 ]]; then
  t="--duration 3 --warmup 1"
  scenarios=("echo --conns 100 --depth 16 --size 32 $t"
             "echo --conns 100 --depth 16 --size 4096 $t"
             "echo --conns 100 --depth 1 --size 32 $t")
fi
[[ -x $load ]] || { echo "bench/ab.sh: $load not built" >&2; exit 2; }

# run SERVER_CMD LOAD_ARGS: prints the figure compared (srv ns/msg, or bytes per connection)
run() {
  local out pid port line
  out=$(mktemp)
  local cmd=$1
  [[ $cmd == *--threads* ]] || cmd="$cmd --threads 1"
  # shellcheck disable=SC2086
  taskset -c "${cores[0]}" $cmd --port 0 >"$out" 2>/dev/null &
  pid=$!
  for _ in $(seq 200); do grep -q '^listening on ' "$out" && break; sleep 0.05; done
  port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out" | head -1)
  # shellcheck disable=SC2086
  line=$(taskset -c "${cores[1]}" timeout 120 "$load" $2 --port "$port" --server-pid "$pid" 2>/dev/null |
    grep '^RESULT' || true)
  kill "$pid" 2>/dev/null || true
  sleep 0.3
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$out"
  if [[ $2 == idle* ]]; then
    grep -oE 'bytes_per_conn=[0-9.e+]+' <<<"$line" | cut -d= -f2
  else
    grep -oE 'server_ns_per_msg=[0-9.e+]+' <<<"$line" | cut -d= -f2
  fi
}

median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

echo "A = $A"
echo "B = $B"
for sc in "${scenarios[@]}"; do
  ratios=()
  for i in $(seq "$pairs"); do
    if ((i % 2)); then a=$(run "$A" "$sc"); b=$(run "$B" "$sc"); else b=$(run "$B" "$sc"); a=$(run "$A" "$sc"); fi
    r=$(awk -v a="${a:-0}" -v b="${b:-0}" 'BEGIN { if (a > 0 && b > 0) printf "%.3f", b / a; else print "-" }')
    [[ $r != - ]] && ratios+=("$r")
    printf '%s | pair %d | A %s | B %s | B/A %s\n' "${sc%% --duration*}" "$i" "${a:--}" "${b:--}" "$r"
  done
  printf '%s | median B/A %s (%s)\n' "${sc%% --duration*}" \
    "$(printf '%s\n' "${ratios[@]}" | median)" "${ratios[*]}"
done
