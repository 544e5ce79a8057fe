#!/usr/bin/env bash
# Packaging test.  An "existing server" (host/: its own io_context, signals, timer and plain HTTP
# routes) adds rtmsg's WebSocket and SSE endpoints, taking rtmsg three ways -- the installed CMake
# package, add_subdirectory of a copy, FetchContent of a release-like archive -- and each build is
# run and talked to (curl for the plain routes, client.py for the WebSocket echo and the SSE
# stream, SIGTERM for a clean stop).
# Also: the installed layout, find_package() components and versions, pkg-config, the Conan
# test_package against the installed package, and the vcpkg/Conan recipes (recipes.py).
# The install has rtmsg::redis: the build tree's if it was configured with RTMSG_WITH_HIREDIS=ON
# (the presets do), else a configure of the same source with -DRTMSG_WITH_HIREDIS=ON is installed.
#
# Usage: tests/package/run.sh BUILD_DIR    a configured rtmsg build tree (RTMSG_INSTALL=ON)
# Prints one line per check and a final "N passed, M failed"; exits non-zero if any failed.
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
tmp=$(mktemp -d)
host_pid=""
cleanup() {
  [[ -n "$host_pid" ]] && kill "$host_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; } # the build tree's cache
cxx=$(cache_value CMAKE_CXX_COMPILER)
cxx=${cxx:-c++}
version=$(sed -n 's/^project(rtmsg VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
passed=0 failed=0

ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() {
  echo "FAIL $1"
  [[ -s "$tmp/log" ]] && tail -n 25 "$tmp/log" | sed 's/^/     | /'
  failed=$((failed + 1))
}
# check NAME COMMAND...: passes if COMMAND succeeds (its output goes to $tmp/log).
check() {
  local name=$1
  shift
  if "$@" >"$tmp/log" 2>&1; then ok "$name"; else fail "$name"; fi
}
# check_fails NAME PATTERN COMMAND...: passes if COMMAND fails and says PATTERN.
check_fails() {
  local name=$1 pattern=$2
  shift 2
  if "$@" >"$tmp/log" 2>&1; then
    fail "$name (it succeeded)"
  elif grep -q -- "$pattern" "$tmp/log"; then
    ok "$name"
  else
    fail "$name (no '$pattern' in the output)"
  fi
}
configure() { cmake "${generator[@]}" -DCMAKE_CXX_COMPILER="$cxx" "$@"; }

# --- 1. cmake --install: headers, CMake package, pkg-config files -------------------------------
prefix=$tmp/prefix
install_tree=$build
if [[ ! "$(cache_value RTMSG_WITH_HIREDIS)" =~ ^([Oo][Nn]|[Tt][Rr][Uu][Ee]|[Yy]([Ee][Ss])?|1)$ ]]; then
  install_tree=$tmp/install-tree
  install_options=(-DRTMSG_WITH_HIREDIS=ON -DRTMSG_INSTALL=ON -DRTMSG_BUILD_TESTS=OFF -DRTMSG_BUILD_EXAMPLES=OFF
                   -DRTMSG_BUILD_BENCH=OFF)
  for var in RTMSG_WITH_OPENSSL CMAKE_PREFIX_PATH; do
    [[ -n "$(cache_value $var)" ]] && install_options+=("-D$var=$(cache_value $var)")
  done
  check "the build tree has RTMSG_WITH_HIREDIS=OFF: configure the source with -DRTMSG_WITH_HIREDIS=ON to install" \
    configure -S "$src" -B "$install_tree" "${install_options[@]}"
fi
check "cmake --install into a prefix" cmake --install "$install_tree" --prefix "$prefix"
installed_layout() {
  local f
  for f in include/rtmsg/server/server.hpp include/rtmsg/websocket/stream.hpp include/rtmsg/version.hpp \
           share/cmake/rtmsg/rtmsgConfig.cmake share/cmake/rtmsg/rtmsgConfigVersion.cmake \
           share/cmake/rtmsg/rtmsgTargets.cmake share/cmake/rtmsg/rtmsg-ssl-targets.cmake \
           share/cmake/rtmsg/FindAsio.cmake share/pkgconfig/rtmsg.pc share/pkgconfig/rtmsg-ssl.pc; do
    [[ -f "$prefix/$f" ]] || { echo "missing: $f"; return 1; }
  done
  grep -q "version_string\[\] = \"$version\"" "$prefix/include/rtmsg/version.hpp"
}
check "installed layout (headers, version.hpp $version, config, targets, FindAsio, .pc)" installed_layout
redis_layout() {
  local f
  for f in include/rtmsg/cluster/redis.hpp share/cmake/rtmsg/rtmsg-redis-targets.cmake \
           share/cmake/rtmsg/Findhiredis.cmake share/pkgconfig/rtmsg-redis.pc; do
    [[ -f "$prefix/$f" ]] || { echo "missing: $f"; return 1; }
  done
  grep -q "^Requires:.*hiredis" "$prefix/share/pkgconfig/rtmsg-redis.pc"
}
check "installed with RTMSG_WITH_HIREDIS=ON: rtmsg-redis-targets.cmake, Findhiredis.cmake, rtmsg-redis.pc" redis_layout

# --- 2. find_package(rtmsg): components, versions ---------------------------------------------
probe() { # probe NAME EXPECT... -- one configure of probe/ against the prefix
  configure -S "$here/probe" -B "$tmp/probe" -DCMAKE_PREFIX_PATH="$prefix" "$@"
}
check "find_package(rtmsg 0.1 CONFIG REQUIRED): rtmsg::rtmsg, no rtmsg::ssl, no OpenSSL, no rtmsg::redis, no hiredis" \
  probe -DPROBE_VERSION=0.1 -DPROBE_ARGS= "-DPROBE_EXPECT=no-ssl;no-openssl;no-redis"
check "find_package(rtmsg CONFIG REQUIRED COMPONENTS ssl): rtmsg::ssl" \
  probe -DPROBE_VERSION= "-DPROBE_ARGS=COMPONENTS;ssl" "-DPROBE_EXPECT=ssl;no-redis"
check "find_package(rtmsg CONFIG REQUIRED COMPONENTS redis): rtmsg::redis linking hiredis::hiredis, no OpenSSL" \
  probe -DPROBE_VERSION= "-DPROBE_ARGS=COMPONENTS;redis" "-DPROBE_EXPECT=redis;no-ssl;no-openssl"
check "find_package(rtmsg $version EXACT ...)" probe -DPROBE_VERSION="$version" -DPROBE_ARGS=EXACT -DPROBE_EXPECT=
check "OPTIONAL_COMPONENTS deflate redis: both found" \
  probe -DPROBE_VERSION= "-DPROBE_ARGS=OPTIONAL_COMPONENTS;deflate;redis" "-DPROBE_EXPECT=deflate;redis"
check "find_package(rtmsg CONFIG REQUIRED COMPONENTS deflate): rtmsg::deflate linking ZLIB::ZLIB, RTMSG_HAS_ZLIB" \
  probe -DPROBE_VERSION= "-DPROBE_ARGS=COMPONENTS;deflate" "-DPROBE_EXPECT=deflate;no-ssl;no-redis"
check_fails "COMPONENTS json: not an rtmsg component" "'json' is not an rtmsg component" \
  probe -DPROBE_VERSION= "-DPROBE_ARGS=COMPONENTS;json" -DPROBE_EXPECT=
major=${version%%.*}
check "find_package(rtmsg $major.0): accepted (SameMajorVersion)" probe -DPROBE_VERSION="$major.0" -DPROBE_ARGS= -DPROBE_EXPECT=
check_fails "find_package(rtmsg $((major + 1)).0): refused (SameMajorVersion)" "considered but not accepted" \
  probe -DPROBE_VERSION=$((major + 1)).0 -DPROBE_ARGS= -DPROBE_EXPECT=

# --- 3. pkg-config ------------------------------------------------------------------------------
pkgconfig_consumer() {
  export PKG_CONFIG_PATH="$prefix/share/pkgconfig"
  [[ "$(pkg-config --modversion rtmsg)" == "$version" ]] || { echo "modversion $(pkg-config --modversion rtmsg)"; return 1; }
  pkg-config --cflags --libs rtmsg-ssl | grep -q -- "-lssl" || return 1
  pkg-config --cflags --libs rtmsg-redis | grep -q -- "-lhiredis" || { pkg-config --libs rtmsg-redis; return 1; }
  cat >"$tmp/pc.cpp" <<'EOF'
#include <rtmsg/detail/utf8.hpp>
#include <rtmsg/version.hpp>
#include <iostream>
#include <string>
int main()
{
    std::string const text(100, 'a'); // long enough for simdjson's validator
    std::cout << "rtmsg " << rtmsg::version_string << "\n";
    return rtmsg::detail::utf8_validator::validate(text) && !rtmsg::detail::utf8_validator::validate("\xff") ? 0 : 1;
}
EOF
  # shellcheck disable=SC2046
  "$cxx" -std=c++20 "$tmp/pc.cpp" -o "$tmp/pc" $(pkg-config --cflags --libs rtmsg) && "$tmp/pc"
}
check "pkg-config rtmsg: --modversion, rtmsg-ssl, rtmsg-redis, compile and link a consumer" pkgconfig_consumer

# --- 3b. a consumer of rtmsg::redis (hiredis through its CMake package, else pkg-config) --------
# Like every rtmsg client, the bridge's sockets need rtmsg::ssl for TLS, or RTMSG_NO_TLS without
# OpenSSL: one executable of each.
redis_consumer() {
  local dir=$tmp/redis-consumer
  mkdir -p "$dir"
  cat >"$dir/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.21)
project(redis_consumer LANGUAGES CXX)
find_package(rtmsg CONFIG REQUIRED COMPONENTS redis ssl)
get_target_property(hiredis_links hiredis::hiredis INTERFACE_LINK_LIBRARIES)
message(STATUS "hiredis::hiredis links: ${hiredis_links}")
add_executable(redis_consumer main.cpp)
target_link_libraries(redis_consumer PRIVATE rtmsg::redis rtmsg::ssl)
add_executable(redis_consumer_no_tls main.cpp)
target_link_libraries(redis_consumer_no_tls PRIVATE rtmsg::redis)
target_compile_definitions(redis_consumer_no_tls PRIVATE RTMSG_NO_TLS)
EOF
  cat >"$dir/main.cpp" <<'EOF'
#include <rtmsg/cluster/redis.hpp>

#include <asio/io_context.hpp>

#include <iostream>

int main()
{
    rtmsg::cluster::redis_options o;
    if (!rtmsg::cluster::parse_redis_address("redis://127.0.0.1:1", o) || o.port != 1) return 1;
    asio::io_context io; // never run: the bridge is made and dropped without reaching Redis
    rtmsg::hub h;
    rtmsg::cluster::redis_bridge bridge(io.get_executor(), h, o);
    std::cout << "redis_bridge node " << bridge.node_id() << (bridge.connected() ? ", connected" : ", not connected") << "\n";
    return bridge.node_id().empty() || bridge.connected() ? 1 : 0;
}
EOF
  configure -S "$dir" -B "$dir/build" -DCMAKE_PREFIX_PATH="$prefix" && cmake --build "$dir/build" &&
    "$dir/build/redis_consumer" && "$dir/build/redis_consumer_no_tls" || return 1
  local bin libs
  for bin in redis_consumer redis_consumer_no_tls; do
    libs=$(ldd "$dir/build/$bin") || return 1 # not piped into grep -q: pipefail and SIGPIPE
    [[ "$libs" == *libhiredis* ]] || { echo "$bin is not linked to libhiredis"; return 1; }
  done
  [[ "$libs" != *libssl* ]] || { echo "redis_consumer_no_tls links OpenSSL"; return 1; }
}
check "find_package(rtmsg COMPONENTS redis ssl): consumers of <rtmsg/cluster/redis.hpp> (+rtmsg::ssl, RTMSG_NO_TLS) build, link hiredis, run" \
  redis_consumer

# --- 4. the existing server, three ways ---------------------------------------------------------
# A release-like archive of the checkout for FetchContent: what git tracks plus new files.
make_archive() {
  if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$src" ls-files -co --exclude-standard | while IFS= read -r f; do
      [[ -e "$src/$f" ]] && echo "$f" # not the deleted ones
    done >"$tmp/files"
    tar -C "$src" -czf "$tmp/rtmsg.tar.gz" --transform 's,^,rtmsg/,' -T "$tmp/files"
  else
    tar -C "$src/.." -czf "$tmp/rtmsg.tar.gz" --exclude='build*' --exclude=node_modules "$(basename "$src")"
  fi
}
check "archive of the checkout for FetchContent" make_archive
sha=$(sha256sum "$tmp/rtmsg.tar.gz" | cut -d' ' -f1)

# run_host BINARY: start it on port 0, talk to it, stop it with SIGTERM; it must exit 0.
run_host() {
  local bin=$1 port="" _
  "$bin" >"$tmp/host.out" 2>&1 &
  host_pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/host.out")
    [[ -n "$port" ]] && break
    kill -0 "$host_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$port" ]] || { cat "$tmp/host.out"; return 1; }
  local health stats status=0
  health=$(curl -sS --max-time 5 "http://127.0.0.1:$port/health") || status=1
  [[ "$health" == "ok" ]] || { echo "GET /health: '$health'"; status=1; }
  timeout 20 "$py" "$here/client.py" ws "ws://127.0.0.1:$port/ws/echo" || status=1
  timeout 20 "$py" "$here/client.py" sse "http://127.0.0.1:$port/events" || status=1
  stats=$(curl -sS --max-time 5 "http://127.0.0.1:$port/stats") || status=1
  [[ "$stats" =~ ^\{\"requests\":2,\"connections\":[0-9]+,\"ticks\":[0-9]+\}$ ]] || { echo "GET /stats: '$stats'"; status=1; }
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/nope")
  [[ "$code" == 404 ]] || { echo "GET /nope: $code"; status=1; }
  kill -TERM "$host_pid"
  local waited=0
  while kill -0 "$host_pid" 2>/dev/null && ((waited < 50)); do sleep 0.1; waited=$((waited + 1)); done
  if kill -0 "$host_pid" 2>/dev/null; then
    echo "host did not stop on SIGTERM"
    kill -KILL "$host_pid"
    status=1
  fi
  wait "$host_pid" || { echo "host exit status $?"; status=1; }
  host_pid=""
  cat "$tmp/host.out"
  return $status
}

host_variant() { # host_variant NAME CMAKE_ARGS...
  local name=$1
  shift
  configure -S "$here/host" -B "$tmp/host-$name" "$@" && cmake --build "$tmp/host-$name" && run_host "$tmp/host-$name/host"
}
check "existing server via find_package(rtmsg COMPONENTS ssl) from the prefix: builds, serves /health, /stats, ws, sse" \
  host_variant package -DHOST_RTMSG=package -DCMAKE_PREFIX_PATH="$prefix"
check "existing server via add_subdirectory(rtmsg): builds, serves, stops" \
  host_variant subdirectory -DHOST_RTMSG=subdirectory -DHOST_RTMSG_SOURCE_DIR="$src"
check "existing server via FetchContent (archive URL + SHA256, without TLS): builds, serves, stops" \
  host_variant fetchcontent -DHOST_RTMSG=fetchcontent -DHOST_WITH_TLS=OFF \
  -DHOST_RTMSG_URL="file://$tmp/rtmsg.tar.gz" -DHOST_RTMSG_URL_SHA256="$sha"

# --- 5. Conan's test_package, built against the installed CMake package ------------------------
test_package() {
  configure -S "$src/test_package" -B "$tmp/test_package" -DCMAKE_PREFIX_PATH="$prefix" -DRTMSG_TEST_SSL=ON &&
    cmake --build "$tmp/test_package" && "$tmp/test_package/test_package"
}
check "test_package/ (Conan's) against the installed package" test_package

# --- 6. vcpkg port and Conan recipe ---------------------------------------------------------------
"$py" "$here/recipes.py" "$src" "$tmp/recipes" "$cxx" >"$tmp/recipes.out" 2>&1
sed '$d' "$tmp/recipes.out"
summary=$(tail -n 1 "$tmp/recipes.out")
if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  passed=$((passed + BASH_REMATCH[1]))
  failed=$((failed + BASH_REMATCH[2]))
else
  : >"$tmp/log"
  fail "recipes.py did not finish"
fi

echo "$passed passed, $failed failed"
((failed == 0))
