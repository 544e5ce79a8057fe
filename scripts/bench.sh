#!/usr/bin/env bash
# Benchmarks rtmsg-testbed against Boost.Beast, websocketpp, Node `ws` and, when built (from a
# uWebSockets source tree: -DRTMSG_BENCH_UWS_DIR, docs/performance.md), uWebSockets; writes BENCHMARKS.md.
#
#   scripts/bench.sh            full run (3 interleaved rounds, <= ~15 minutes)
#   scripts/bench.sh --quick    short windows, fewer scenarios (~4 minutes)
#   options: --rounds N  --servers "rtmsg beast websocketpp node uws"  --no-build  --no-install
#            --no-micro  --out FILE
#            --report-only  (rewrite the report from build/bench/results.tsv of the last run)
#            --build-dir DIR  (an already configured build instead of the `bench` preset)
#   cross-node step (needs redis-server and an rtmsg-testbed built with -DRTMSG_WITH_HIREDIS=ON):
#            --cross-node-only  (run only it; rewrites only that section of --out)
#            --no-cross-node  --xnode-subs N (1000)  --xnode-duration SEC  --xnode-rate R (100)
#   compression step (scripts/bench-compression.sh, permessage-deflate): --no-compression
#
# Installs its packages (as root, with apt-get, only if missing), builds the `bench` preset
# (Release, build/bench), then runs every scenario of bench/load (rtmsg-load) against each
# server, server pinned to core 0 and load to core 1 (taskset), interleaved A,B,C,D,A,B,...
# Each server is started fresh for every run and must print `listening on HOST:PORT`.
# Everything goes to 127.0.0.1 only.  Raw results: build/bench/results.tsv.
# Cross-node step: a redis-server and two rtmsg-testbed --redis (nodes A and B, all three on
# core 0); the WebSocket fan-out with the publisher on A and the subscribers on B, beside the
# same fan-out on one node (without Redis, and through Redis), flat out and at a fixed rate.
# Raw results: build/bench/crossnode.tsv; section "Cross-node fan-out (Redis)".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
COMMAND="scripts/bench.sh $*"

QUICK=0 ROUNDS=3 BUILD=1 INSTALL=1 MICRO=1 OUT=BENCHMARKS.md REPORT_ONLY=0
COMP=1 XNODE=1 XNODE_ONLY=0 XSUBS=1000 XDUR="" XRATE=100 B=build/bench
SERVERS="" # default: rtmsg beast websocketpp node, and uws if peer-uws is built
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) QUICK=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --servers) SERVERS=$2; shift ;;
    --no-build) BUILD=0 ;;
    --no-install) INSTALL=0 ;;
    --no-micro) MICRO=0 ;;
    --out) OUT=$2; shift ;;
    --report-only) REPORT_ONLY=1 ;;
    --build-dir) B=${2%/}; shift ;;
    --cross-node-only) XNODE_ONLY=1 ;;
    --no-cross-node) XNODE=0 ;;
    --no-compression) COMP=0 ;;
    --xnode-subs) XSUBS=$2; shift ;;
    --xnode-duration) XDUR=$2; shift ;;
    --xnode-rate) XRATE=$2; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
(( ROUNDS >= 1 )) || { echo "bench.sh: --rounds must be >= 1" >&2; exit 2; }
(( XNODE_ONLY && ! XNODE )) && { echo "bench.sh: --cross-node-only and --no-cross-node" >&2; exit 2; }
(( XNODE_ONLY && REPORT_ONLY )) && { echo "bench.sh: --cross-node-only and --report-only" >&2; exit 2; }

RESULTS=$B/results.tsv
XRESULTS=$B/crossnode.tsv
XNODE_MD=$B/crossnode.md
MICRO_OUT=$B/micro.txt
if (( REPORT_ONLY )); then
  [[ -f $RESULTS && -f $B/results.meta ]] || { echo "bench.sh: no previous run in $B" >&2; exit 1; }
  source $B/results.meta
else
# ---- packages ------------------------------------------------------------------------------
PKGS="libbenchmark-dev libmsgpack-cxx-dev libboost-dev libwebsocketpp-dev libhiredis-dev redis-server"
if (( INSTALL )); then
  scripts/deps.sh   # the build's own packages (compiler, cmake, Asio, simdjson, OpenSSL)
  # Node ws peer: the repository's pinned node_modules.
  if command -v npm >/dev/null 2>&1 && [[ ! -d node_modules/ws ]]; then npm ci --no-audit --no-fund --loglevel=error || true; fi
  missing=""
  for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [[ -n $missing ]]; then
    if [[ $(id -u) -eq 0 ]]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y $missing || {
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $missing; }
    else
      echo "bench.sh: missing$missing (run as root, or install them); peers without packages are skipped" >&2
    fi
  fi
fi

# ---- build ---------------------------------------------------------------------------------
if (( BUILD )); then
  if [[ $B == build/bench ]]; then
    # rtmsg-testbed --redis (the cross-node step) needs rtmsg::redis, i.e. hiredis.
    HIREDIS=""
    (( XNODE )) && { pkg-config --exists hiredis 2>/dev/null || dpkg -s libhiredis-dev >/dev/null 2>&1; } &&
      HIREDIS="-DRTMSG_WITH_HIREDIS=ON"
    cmake --preset bench $HIREDIS >/dev/null
  fi
  if (( XNODE_ONLY )); then
    cmake --build $B -j2 --target rtmsg-testbed rtmsg-load
  else
    cmake --build $B -j2 --target rtmsg-testbed rtmsg-load rtmsg_bench_micro
    for t in peer-beast peer-websocketpp; do
      cmake --build $B -j2 --target $t 2>/dev/null || echo "bench.sh: $t not built (package missing?)" >&2
    done
    # peer-uws exists only in a build configured with -DRTMSG_BENCH_UWS_DIR (docs/performance.md).
    if cmake --build $B --target help 2>/dev/null | grep -q 'peer-uws'; then
      cmake --build $B -j2 --target peer-uws || echo "bench.sh: peer-uws did not build" >&2
    fi
  fi
fi
LOAD=$B/bench/load/rtmsg-load
[[ -x $LOAD ]] || { echo "bench.sh: $LOAD missing (drop --no-build)" >&2; exit 1; }

server_cmd() {
  case $1 in
    rtmsg) echo "$B/examples/testbed/rtmsg-testbed" ;;
    beast) echo "$B/bench/peers/peer-beast" ;;
    websocketpp) echo "$B/bench/peers/peer-websocketpp" ;;
    node) echo "node bench/peers/node_ws.mjs" ;;
    uws) echo "$B/bench/peers/peer-uws" ;;
  esac
}
if [[ -z $SERVERS ]]; then
  SERVERS="rtmsg beast websocketpp node"
  if [[ -x $(server_cmd uws) ]]; then SERVERS="$SERVERS uws"
  else echo "bench.sh: no $(server_cmd uws) (configure with -DRTMSG_BENCH_UWS_DIR, docs/performance.md): skipping uws" >&2; fi
fi
AVAILABLE=""
for s in $SERVERS; do
  cmd=$(server_cmd "$s")
  bin=${cmd%% *}
  if [[ $s == node ]]; then
    command -v node >/dev/null && [[ -d node_modules/ws ]] && AVAILABLE="$AVAILABLE $s" ||
      echo "bench.sh: node or node_modules/ws missing: skipping node" >&2
  elif [[ -x $bin ]]; then AVAILABLE="$AVAILABLE $s"
  else echo "bench.sh: $bin missing: skipping $s" >&2; fi
done

# ---- limits, cores -------------------------------------------------------------------------
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NCPU=$(nproc)
SRV_CPU=0 LOAD_CPU=1
(( NCPU >= 2 )) || LOAD_CPU=0
PIN_SRV="taskset -c $SRV_CPU" PIN_LOAD="taskset -c $LOAD_CPU"
command -v taskset >/dev/null || { PIN_SRV="" PIN_LOAD=""; echo "bench.sh: no taskset: not pinning" >&2; }

# ---- scenarios -----------------------------------------------------------------------------
# name | servers ("all" or a list) | rtmsg-load arguments
if (( QUICK )); then
  T="--duration 1.5 --warmup 0.5"; IDLE=5000; CONNS=5000
else
  T="--duration 3 --warmup 1"; IDLE=10000; CONNS=20000
fi
SCENARIOS=(
  "echo_32B_x16|all|echo --conns 100 --depth 16 --size 32 $T"
  "echo_4KiB_x16|all|echo --conns 100 --depth 16 --size 4096 $T"
  "echo_32B_x1|all|echo --conns 100 --depth 1 --size 32 $T"
  "fanout_1000|all|fanout --conns 1000 --publishers 1 --size 64 --window 64 $T"
  "sse_fanout_1000|rtmsg uws|sse --conns 1000 --publishers 1 --size 64 --window 64 $T"
  "connrate|all|connrate --count $CONNS --conns 64 --duration 10"
  "idle_ws_${IDLE}|all|idle --count $IDLE --path /echo"
  "idle_sse_${IDLE}|rtmsg uws|idle --count $IDLE --path /sse"
)
if (( ! QUICK )); then
  SCENARIOS+=(
    "echo_64KiB_x1|all|echo --conns 10 --depth 1 --size 65536 $T"
    "fanout_1000_rate100|all|fanout --conns 1000 --publishers 1 --size 64 --rate 100 $T"
  )
fi

LOG=$B/bench.log
# A new run drops the sections of the last one that it makes again (--no-compression keeps the old one).
(( XNODE_ONLY )) || { : > "$RESULTS"; : > "$LOG"; rm -f "$XNODE_MD"; (( ! COMP )) || rm -f "$B/compression.md"; }

start_server() { # name -> sets SPID, SPORT
  local cmd; cmd=$(server_cmd "$1")
  local out=$B/server.out
  : > "$out"
  $PIN_SRV $cmd --port 0 --threads 1 > "$out" 2>>"$LOG" &
  SPID=$!
  for _ in $(seq 100); do
    if grep -q '^listening on ' "$out"; then
      SPORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out" | head -1)
      return 0
    fi
    kill -0 $SPID 2>/dev/null || break
    sleep 0.05
  done
  echo "bench.sh: $1 did not start" >&2
  kill $SPID 2>/dev/null || true
  return 1
}
stop_server() {
  kill $SPID 2>/dev/null || true
  for _ in $(seq 50); do kill -0 $SPID 2>/dev/null || break; sleep 0.05; done
  kill -9 $SPID 2>/dev/null || true
  wait $SPID 2>/dev/null || true
}

if (( ! XNODE_ONLY )); then
START=$(date +%s)
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench.sh: servers:$AVAILABLE; $ROUNDS rounds; results in $RESULTS"
for round in $(seq "$ROUNDS"); do
  for sc in "${SCENARIOS[@]}"; do
    IFS='|' read -r name who args <<<"$sc"
    for s in $AVAILABLE; do
      [[ $who == all || " $who " == *" $s "* ]] || continue
      start_server "$s" || continue
      line=$($PIN_LOAD timeout 120 $LOAD $args --port "$SPORT" --server-pid "$SPID" 2>>"$LOG" | grep '^RESULT' || true)
      stop_server
      [[ -n $line ]] || line="RESULT rc=failed"
      printf '%s\t%s\t%s\t%s\n' "$name" "$s" "$round" "${line#RESULT }" >> "$RESULTS"
      printf '  round %s %-20s %-12s %s\n' "$round" "$name" "$s" "${line#RESULT }" | cut -c1-200
    done
  done
done
ELAPSED=$(( $(date +%s) - START ))

: > "$MICRO_OUT"
if (( MICRO )) && [[ -x $B/bench/rtmsg_bench_micro ]]; then
  mt=0.2; (( QUICK )) && mt=0.05
  $PIN_LOAD $B/bench/rtmsg_bench_micro --benchmark_min_time=$mt \
    --benchmark_filter='frame_read_text|frame_serialize/|mask|utf8|sse_format_single|hub_publish_(callback|outbox)|codec' \
    > "$MICRO_OUT" 2>>"$LOG" || true
  # Hub lock contention: its threads need both cores, so this one is not pinned.
  echo "--- hub_publish_threads: not pinned (publisher threads on both cores) ---" >> "$MICRO_OUT"
  $B/bench/rtmsg_bench_micro --benchmark_min_time=$mt --benchmark_filter='hub_publish_threads' 2>>"$LOG" \
    | grep -E '^hub_publish_threads' >> "$MICRO_OUT" || true
fi

# Which uWebSockets peer-uws was built from (the source tree's git commit, if it has one).
UWS_INFO=""
if [[ " $AVAILABLE " == *" uws "* ]]; then
  UWS_DIR=$(sed -n 's/^RTMSG_BENCH_UWS_DIR:PATH=//p' "$B/CMakeCache.txt" 2>/dev/null || true)
  UWS_INFO="uWebSockets ${UWS_DIR:-?}"
  v=""
  if [[ -e $UWS_DIR/.git ]]; then v=$(git -C "$UWS_DIR" describe --tags --always 2>/dev/null || true)
  elif [[ -f $UWS_DIR/.uws-version ]]; then v=$(head -1 "$UWS_DIR/.uws-version"); fi  # a tree without git
  if [[ -n $v ]]; then UWS_INFO="uWebSockets $v"; fi
fi
printf 'COMMAND=%q\nELAPSED=%q\nLOADAVG_START=%q\nROUNDS=%q\nQUICK=%q\nUWS_INFO=%q\n' \
  "$COMMAND" "$ELAPSED" "$LOADAVG_START" "$ROUNDS" "$QUICK" "$UWS_INFO" > $B/results.meta
fi # ! XNODE_ONLY

# ---- cross-node fan-out (Redis) --------------------------------------------------------------
# Node A and node B are two rtmsg-testbed --redis sharing one redis-server (fresh for every
# run, so no topic state carries over); publisher on A, subscribers on B.  Beside them, in the
# same rounds: the same fan-out on one node without Redis (`single`) and through Redis
# (`single_redis`: publisher and subscribers on A).  Flat out (window 64) for throughput, and
# at --xnode-rate messages/s for latency.  All servers on core 0, rtmsg-load on core 1.
TESTBED=$(server_cmd rtmsg)
xnode_ready() { # -> 0 if redis-server exists and rtmsg-testbed understands --redis
  command -v redis-server >/dev/null || { echo "bench.sh: no redis-server: skipping the cross-node step" >&2; return 1; }
  [[ -x $TESTBED ]] || { echo "bench.sh: $TESTBED missing: skipping the cross-node step" >&2; return 1; }
  if $TESTBED --redis - 2>&1 | grep -q 'without Redis support'; then
    echo "bench.sh: $TESTBED built without Redis support (-DRTMSG_WITH_HIREDIS=ON): skipping the cross-node step" >&2
    return 1
  fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
stop_pid() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 60); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
XPIDS=()
stop_all() { local p; for p in "${XPIDS[@]}"; do stop_pid "$p"; done; XPIDS=(); }
start_redis() { # -> RPORT
  RPORT=$(free_port)
  $PIN_SRV redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --logfile /dev/null &
  XPIDS+=($!)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$RPORT" && printf 'PING\r\n' >&3 && timeout 1 head -c 5 <&3 | grep -q PONG) \
      2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench.sh: redis-server did not start" >&2
  return 1
}
start_node() { # tag [--redis HOST:PORT] -> TPID, TPORT
  local tag=$1; shift
  local out=$B/xnode-$tag.out err=$B/xnode-$tag.err
  : > "$out"; : > "$err"
  $PIN_SRV $TESTBED --port 0 --threads 1 "$@" > "$out" 2> "$err" &
  TPID=$!
  XPIDS+=($TPID)
  for _ in $(seq 200); do # with --redis, `listening on` comes once the bridge is connected (<= 5 s)
    if grep -q '^listening on ' "$out"; then
      TPORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out" | head -1)
      [[ $# -eq 0 ]] || grep -q 'connected to Redis' "$err" && return 0
      echo "bench.sh: node $tag not connected to Redis" >&2
      return 1
    fi
    kill -0 $TPID 2>/dev/null || break
    sleep 0.05
  done
  echo "bench.sh: node $tag did not start" >&2
  return 1
}

if (( XNODE )) && xnode_ready; then
  if [[ -n $XDUR ]]; then XT="--duration $XDUR --warmup 1"
  elif (( QUICK )); then XT="--duration 1.5 --warmup 0.5"
  else XT="--duration 3 --warmup 1"; fi
  XMODES=("flat|--window 64" "rate|--rate $XRATE")
  XSETUPS="single single_redis cross"
  : > "$XRESULTS"
  XSTART=$(date +%s)
  XLOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "bench.sh: cross-node step: $XSUBS subscribers, $ROUNDS rounds; results in $XRESULTS"
  for round in $(seq "$ROUNDS"); do
    for m in "${XMODES[@]}"; do
      IFS='|' read -r mode margs <<<"$m"
      for setup in $XSETUPS; do
        line=""
        args="fanout --conns $XSUBS --publishers 1 --size 64 $margs $XT"
        case $setup in
          single)
            if start_node a; then
              line=$($PIN_LOAD timeout 120 $LOAD $args --port "$TPORT" --server-pid "$TPID" 2>>"$LOG" | grep '^RESULT' || true)
            fi ;;
          single_redis)
            if start_redis && start_node a --redis "127.0.0.1:$RPORT"; then
              line=$($PIN_LOAD timeout 120 $LOAD $args --port "$TPORT" --server-pid "$TPID" 2>>"$LOG" | grep '^RESULT' || true)
            fi ;;
          cross)
            if start_redis && start_node a --redis "127.0.0.1:$RPORT"; then
              APID=$TPID APORT=$TPORT
              if start_node b --redis "127.0.0.1:$RPORT"; then
                line=$($PIN_LOAD timeout 120 $LOAD $args --port "$TPORT" --server-pid "$TPID" \
                         --pub-port "$APORT" --pub-server-pid "$APID" 2>>"$LOG" | grep '^RESULT' || true)
              fi
            fi ;;
        esac
        stop_all
        [[ -n $line ]] || line="RESULT rc=failed"
        printf '%s\t%s\t%s\t%s\n' "$mode" "$setup" "$round" "${line#RESULT }" >> "$XRESULTS"
        printf '  round %s xnode %-5s %-13s %s\n' "$round" "$mode" "$setup" "${line#RESULT }" | cut -c1-200
      done
    done
  done
  XELAPSED=$(( $(date +%s) - XSTART ))
  export XRESULTS XNODE_MD COMMAND ROUNDS XSUBS XT XRATE XLOADAVG XELAPSED
  python3 - <<'PY'
import os, statistics, collections, subprocess
res = collections.defaultdict(list)
for line in open(os.environ["XRESULTS"]):
    mode, setup, rnd, kv = line.rstrip("\n").split("\t")
    res[(mode, setup)].append(dict(x.split("=", 1) for x in kv.split() if "=" in x))
def vals(rows, k):
    out = []
    for r in rows:
        try:
            if r.get("rc") == "0" and k in r: out.append(float(r[k]))
        except ValueError: pass
    return out
def med(v): return statistics.median(v) if v else None
def fmt(x, d=0):
    if x is None: return "–"
    if abs(x) >= 1e6: return f"{x/1e6:.2f} M"
    if abs(x) >= 1e4: return f"{x/1e3:.1f} k"
    return f"{x:.{d}f}"
def sh(cmd):
    try: return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return "?"
subs, rate = os.environ["XSUBS"], os.environ["XRATE"]
load1 = float(os.environ["XLOADAVG"].split()[0])
rv = sh("redis-server --version | cut -d' ' -f3")
where = {"single": ("A", "A", "no"), "single_redis": ("A", "A", "yes"), "cross": ("A", "B", "yes")}
L = ["## Cross-node fan-out (Redis)\n"]
L.append(f"Generated by `{os.environ['COMMAND']}` ({os.environ['ROUNDS']} interleaved rounds, "
         f"{os.environ['XELAPSED']} s; `{os.environ['XT']}` per run). WebSocket `/broadcast` fan-out to "
         f"{subs} subscribers, one publisher, 64 B messages: **cross** = two `rtmsg-testbed --redis` sharing one "
         f"redis-server ({rv}), the publisher on node A and the subscribers on node B, "
         "so every message goes A → Redis (Lua publish script, PUBLISH) → B → subscribers; **single** = the existing "
         "fan-out on one testbed without Redis (the publisher is one of the subscribers); **single_redis** = one "
         "bridged testbed, publisher and subscribers on it (the Redis round trip without a second node). "
         f"*flat* = publishing flat out with 64 messages in flight (cross: closed by subscriber 0 on B seeing them); "
         f"*rate* = {rate} msg/s, i.e. {int(float(rate) * int(subs)):,} deliveries/s (latency at a fixed rate). "
         "Cells are medians over the rounds; latency is send (publisher) → receive (subscriber), all on one clock. "
         "`B cpu` = CPU of the subscribers' node (core fraction), `A cpu` = the publisher's node (cross only); "
         "redis-server's own CPU is not counted.\n")
L.append(f"- all servers (redis-server, node A, node B) on core 0, rtmsg-load on core 1, loopback: the two "
         "nodes and Redis share one core, so *cross* shows the cost of the path, not the scaling of more machines.")
shared = " — **the machine was shared** (other builds and tests ran on the cores): compare rows within this table, not with other runs" \
         if load1 > 0.5 else ""
L.append(f"- load average at the start of the step: {os.environ['XLOADAVG']}{shared}\n")
L.append("| mode | setup | publisher on | subscribers on | via Redis | delivered msg/s | spread | p50 µs | p99 µs | p99.9 µs | B cpu | A cpu | lost/dup | runs ok |")
L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for mode in ("flat", "rate"):
    for setup in ("single", "single_redis", "cross"):
        rows = res.get((mode, setup))
        if not rows: continue
        v = vals(rows, "delivered_per_s"); m = med(v)
        spread = f"{(max(v)-min(v))/m*100:.0f}%" if v and m else "–"
        def mk(key, d=1):
            x = med(vals(rows, key)); return fmt(x, d) if x is not None else "–"
        lost = sum(int(r.get("lost", 0)) for r in rows if r.get("rc") == "0")
        dup = sum(int(r.get("dup", 0)) for r in rows if r.get("rc") == "0")
        ok = sum(1 for r in rows if r.get("rc") == "0")
        p, s_, via = where[setup]
        L.append(f"| {mode} | {setup} | {p} | {s_} | {via} | {fmt(m)} | {spread} | {mk('p50_us')} | {mk('p99_us')} | "
                 f"{mk('p999_us')} | {mk('server_cpu', 2)} | {mk('pub_server_cpu', 2) if setup == 'cross' else '–'} | "
                 f"{lost}/{dup} | {ok}/{len(rows)} |")
L.append("")
open(os.environ["XNODE_MD"], "w").write("\n".join(L) + "\n")
PY
fi
# ---- compression (permessage-deflate) -------------------------------------------------------
if (( COMP && ! XNODE_ONLY )); then
  qa=(); (( QUICK )) && qa=(--quick)
  scripts/bench-compression.sh --no-write --build-dir "$B" --rounds "$ROUNDS" "${qa[@]}" ||
    echo "bench.sh: the compression step failed (see $B/compression.log)" >&2
fi
fi # REPORT_ONLY


if (( XNODE_ONLY )); then
  # Only the cross-node section of $OUT is replaced (or added before the micro benchmarks).
  [[ -f $XNODE_MD ]] || { echo "bench.sh: the cross-node step did not run" >&2; exit 1; }
  python3 scripts/md-section.py "$OUT" "$XNODE_MD" "## Micro benchmarks"
  exit 0
fi

# ---- report --------------------------------------------------------------------------------
COMP_MD=$B/compression.md
UWS_INFO=${UWS_INFO:-}
export RESULTS OUT COMMAND ELAPSED LOADAVG_START MICRO_OUT ROUNDS QUICK ROOT XNODE_MD COMP_MD UWS_INFO
python3 - <<'PY'
import os, statistics, subprocess, collections, platform
res = collections.defaultdict(list)
order = []
for line in open(os.environ["RESULTS"]):
    name, server, rnd, kv = line.rstrip("\n").split("\t")
    d = dict(x.split("=", 1) for x in kv.split() if "=" in x)
    d["_round"] = rnd
    if name not in order: order.append(name)
    res[(name, server)].append(d)

def sh(cmd):
    try: return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return "?"

PRIMARY = [("rtt_per_s", "round trips/s", True), ("delivered_per_s", "delivered msg/s", True),
           ("handshakes_per_s", "handshakes/s", True), ("bytes_per_conn", "server bytes/conn", False)]
def primary(rows):
    for k, label, hi in PRIMARY:
        if any(k in r for r in rows): return k, label, hi
    return None, None, True
def vals(rows, k):
    out = []
    for r in rows:
        try:
            if r.get("rc") == "0" and k in r: out.append(float(r[k]))
        except ValueError: pass
    return out
def med(v): return statistics.median(v) if v else None
def fmt(x, d=0):
    if x is None: return "–"
    if abs(x) >= 1e6: return f"{x/1e6:.2f} M"
    if abs(x) >= 1e4: return f"{x/1e3:.1f} k"
    return f"{x:.{d}f}"

servers = ["rtmsg", "beast", "websocketpp", "node", "uws"]
L = []
L.append("# rtmsg benchmarks\n")
L.append("Generated by `scripts/bench.sh` (bench/load = `rtmsg-load`, peers in bench/peers). "
         "Each cell is the **median** of the interleaved rounds; *spread* is (max − min) / median. "
         "`ratio` is rtmsg ÷ peer for the primary metric (higher is better for rates; for memory, "
         "lower is better, so a ratio < 1 means rtmsg uses less). `srv ns/msg` is server CPU time "
         "(utime+stime from /proc/PID/stat) per delivered message (per round trip for echo, per "
         "handshake for connrate); `cli` is the load tool's CPU use of its core (≥ 0.90: the load "
         "tool, not the server, was the limit).\n")
L.append(f"- command: `{os.environ['COMMAND']}` ({os.environ['ROUNDS']} rounds, "
         f"{'quick' if os.environ['QUICK']=='1' else 'full'} mode, {os.environ['ELAPSED']} s)")
cpu = sh("lscpu | sed -n 's/^Model name: *//p'")
mem = sh("free -g | awk '/Mem:/{print $2}'")
cxx = sh("c++ --version | head -1")
nodev = sh("node --version")
boostv = sh("dpkg-query -W -f='${Version}' libboost-dev")
wsppv = sh("dpkg-query -W -f='${Version}' libwebsocketpp-dev")
L.append(f"- machine: {cpu}, {sh('nproc')} cores, {mem} GiB, {platform.platform()}")
L.append(f"- compiler: {cxx}; node {nodev}; Boost {boostv}; websocketpp {wsppv}"
         + (f"; {os.environ['UWS_INFO']} (peer-uws: -O3 -march=native -flto, uWS's own flags)"
            if os.environ.get("UWS_INFO") else ""))
L.append(f"- server on core 0, load on core 1 (taskset), 1 I/O thread, loopback; load average at start: "
         f"{os.environ['LOADAVG_START']} (anything above ~0.5 means other work shared the cores)\n")

L.append("## Summary\n")
hdr = "| scenario | metric | " + " | ".join(s for s in servers if any((n, s) in res for n in order)) + " |"
present = [s for s in servers if any((n, s) in res for n in order)]
L.append(hdr)
L.append("|---|---|" + "---|" * len(present))
for n in order:
    rows_all = [r for s in present for r in res.get((n, s), [])]
    k, label, hi = primary(rows_all)
    if not k: continue
    base = med(vals(res.get((n, "rtmsg"), []), k))
    cells = []
    for s in present:
        v = med(vals(res.get((n, s), []), k))
        if v is None: cells.append("–"); continue
        c = fmt(v)
        if s != "rtmsg" and base and v:
            c += f" (×{base/v:.2f})"
        cells.append(c)
    L.append(f"| {n} | {label} | " + " | ".join(cells) + " |")
L.append("\n(×r) after a peer's figure = rtmsg ÷ that peer.\n")

# The rounds run the servers back to back; when the machine's speed swings between rounds,
# the ratio of two servers within one round is steadier than the ratio of their medians.
peers = [s for s in present if s != "rtmsg"]
rows_out = []
for n in order:
    rr = [r for r in res.get((n, "rtmsg"), []) if r.get("rc") == "0"]
    k, label, hi = primary(rr)
    if not k or not peers: continue
    cells, seen = [], False
    for s in peers:
        by_round = {r["_round"]: r for r in res.get((n, s), []) if r.get("rc") == "0" and k in r}
        rs = [float(r[k]) / float(by_round[r["_round"]][k]) for r in rr
              if k in r and r["_round"] in by_round and float(by_round[r["_round"]][k]) > 0]
        if rs:
            seen = True
            cells.append(" / ".join(f"{x:.2f}" for x in rs) + f" → **{statistics.median(rs):.2f}**")
        else:
            cells.append("–")
    if seen: rows_out.append(f"| {n} | " + " | ".join(cells) + " |")
if rows_out:
    L.append("### Ratios within each round\n")
    L.append("rtmsg ÷ peer for the primary metric in each round (the servers of one round run back to "
             "back), then the median of those ratios.  When this machine's speed swings between rounds "
             "(large spreads above), these are steadier than the ratios of the medians.\n")
    L.append("| scenario | " + " | ".join(peers) + " |")
    L.append("|---|" + "---|" * len(peers))
    L.extend(rows_out)
    L.append("")

L.append("## Details\n")
L.append("| scenario | server | primary (median) | spread | p50 µs | p99 µs | p99.9 µs | srv ns/msg | srv cpu | cli cpu | lost/dup | runs ok |")
L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
for n in order:
    for s in present:
        rows = res.get((n, s))
        if not rows: continue
        k, label, hi = primary(rows)
        v = vals(rows, k) if k else []
        m = med(v)
        spread = f"{(max(v)-min(v))/m*100:.0f}%" if v and m else "–"
        def mk(key, d=1):
            x = med(vals(rows, key)); return fmt(x, d) if x is not None else "–"
        cli = med(vals(rows, "client_cpu"))
        clis = (f"{cli:.2f}" + (" **sat**" if cli >= 0.9 else "")) if cli is not None else "–"
        lost = sum(int(r.get("lost", 0)) for r in rows if r.get("rc") == "0")
        dup = sum(int(r.get("dup", 0)) for r in rows if r.get("rc") == "0")
        ld = f"{lost}/{dup}" if any("lost" in r for r in rows) else "–"
        ok = sum(1 for r in rows if r.get("rc") == "0")
        L.append(f"| {n} | {s} | {fmt(m)} {label or ''} | {spread} | {mk('p50_us')} | {mk('p99_us')} | "
                 f"{mk('p999_us')} | {mk('server_ns_per_msg', 0)} | {mk('server_cpu', 2)} | {clis} | {ld} | {ok}/{len(rows)} |")
L.append("")
L.append("Scenarios (rtmsg-load arguments): echo_32B_x16 = 100 connections × 16 in flight × 32 B binary; "
         "echo_4KiB_x16 = same at 4 KiB; echo_32B_x1 = no pipelining; echo_64KiB_x1 = 10 connections × 1 × 64 KiB; fanout_1000 = 1,000 /broadcast "
         "subscribers, one publisher (also a subscriber, the first to join) flat out with 64 messages of 64 B in flight "
         "(seq + timestamp in the payload; lost/dup counted per subscriber); fanout_1000_rate100 = the same "
         "at 100 msg/s, i.e. 100,000 deliveries/s (latency at a fixed rate); sse_fanout_1000 = 1,000 /sse subscribers, publishing "
         "through a /broadcast WebSocket that joins the topic before the subscribers, as in fanout_1000; connrate = handshakes/s, 64 at a time; idle_* = server VmRSS "
         "growth per open connection, with as many open as the name says (VmRSS: user-space memory of the server; kernel socket buffers are not in it).\n")
xm = os.environ["XNODE_MD"]
if os.path.exists(xm):
    L.append(open(xm).read())
cm = os.environ["COMP_MD"]  # scripts/bench-compression.sh
if os.path.exists(cm):
    L.append(open(cm).read())
mo = open(os.environ["MICRO_OUT"]).read().strip() if os.path.exists(os.environ["MICRO_OUT"]) else ""
if mo:
    L.append("## Micro benchmarks (bench/micro, Google Benchmark)\n")
    L.append("```\n" + mo + "\n```\n")
an = os.path.join(os.environ["ROOT"], "bench", "analysis.md")
if os.path.exists(an):
    L.append(open(an).read())
open(os.environ["OUT"], "w").write("\n".join(L) + "\n")
print("bench.sh: wrote", os.environ["OUT"])
PY
