#!/usr/bin/env python3
"""What one translation unit of a typical rtmsg server costs to compile.

The unit is the README's first example (the tour's "A server": the hub, the protocol and SSE
endpoints, the HTTP server), taken from README.md as it stands, so the figure follows the
documentation.  It is compiled the way a CMake user's build compiles it: a small project that
adds rtmsg with add_subdirectory() and links rtmsg::rtmsg, configured for Debug (-O0 -g) and
Release (-O3), and the compile command CMake generated for the unit is run alone, 3 times.
Reported: CPU seconds (user + system) and peak memory of the compiler, the median of 3.

Two modes: header-only (the default build), and separate compilation, where the unit is built
with RTMSG_SEPARATE_COMPILATION and the project has one more source file that includes
<rtmsg/src.hpp>.  That file's own cost, paid once per program, is reported on its own row.

    bench/compile/cost.py [--runs N] [--cxx g++] [--out build/compile-cost] [--source DIR]

--source measures another checkout of rtmsg (an older commit, for a before/after); a checkout
without <rtmsg/src.hpp> is measured header-only.
"""
import argparse
import pathlib
import re
import shlex
import statistics
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parents[2]
ap = argparse.ArgumentParser()
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--cxx", default="g++")
ap.add_argument("--out", default=str(root / "build" / "compile-cost"))
ap.add_argument("--source", default=str(root), help="the rtmsg checkout to measure")
args = ap.parse_args()
root = pathlib.Path(args.source).resolve()
out = pathlib.Path(args.out)
(out / "src").mkdir(parents=True, exist_ok=True)

readme = (root / "README.md").read_text()
blocks = re.findall(r"```cpp\n(.*?)```", readme, re.S)
unit = next(b for b in blocks if "int main" in b and "rtmsg::http::server" in b)
(out / "src" / "main.cpp").write_text(unit)
(out / "src" / "rtmsg.cpp").write_text("#include <rtmsg/src.hpp>\n")
separate = (root / "include" / "rtmsg" / "src.hpp").exists()
(out / "src" / "CMakeLists.txt").write_text(f"""cmake_minimum_required(VERSION 3.20)
project(typical_server CXX)
set(RTMSG_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(RTMSG_BUILD_EXAMPLES OFF CACHE BOOL "" FORCE)
set(RTMSG_BUILD_BENCH OFF CACHE BOOL "" FORCE)
set(RTMSG_INSTALL OFF CACHE BOOL "" FORCE)
add_subdirectory({root.as_posix()} rtmsg)
add_executable(typical_server main.cpp)
target_link_libraries(typical_server PRIVATE rtmsg::rtmsg)
if(SEPARATE)
  add_executable(typical_server_separate main.cpp rtmsg.cpp)
  target_link_libraries(typical_server_separate PRIVATE rtmsg::rtmsg)
  target_compile_definitions(typical_server_separate PRIVATE RTMSG_SEPARATE_COMPILATION)
endif()
""")


def measure(build, target, source):
    cmds = subprocess.run(["ninja", "-C", str(build), "-t", "commands", target], check=True,
                          capture_output=True, text=True).stdout.splitlines()
    compile_cmd = next(c for c in cmds if source in c and " -c " in c)
    # Run in the build directory, as ninja does; no launcher (ccache would hide the cost).
    argv = [a for a in shlex.split(compile_cmd) if not a.endswith("ccache")]
    cpu, mem = [], []
    for _ in range(args.runs):
        # A fresh process per run: RUSAGE_CHILDREN's peak covers every child so far, so each run
        # measures itself in a python child that reports its own child's figures.
        probe = ("import resource,subprocess,sys;"
                 "subprocess.run(sys.argv[1:],check=True);"
                 "r=resource.getrusage(resource.RUSAGE_CHILDREN);"
                 "print(r.ru_utime+r.ru_stime, r.ru_maxrss)")
        res = subprocess.run([sys.executable, "-c", probe] + argv, cwd=build, check=True,
                             capture_output=True, text=True)
        c, m = res.stdout.split()
        cpu.append(float(c))
        mem.append(int(m) / 1024)
    return statistics.median(cpu), statistics.median(mem)



rows = []
for config in ("Debug", "Release"):
    build = out / config.lower()
    subprocess.run(["cmake", "-S", str(out / "src"), "-B", str(build), "-G", "Ninja",
                    f"-DCMAKE_BUILD_TYPE={config}", f"-DCMAKE_CXX_COMPILER={args.cxx}",
                    f"-DSEPARATE={'ON' if separate else 'OFF'}"],
                   check=True, stdout=subprocess.DEVNULL)
    rows.append(("header-only", "the server unit", config, *measure(build, "typical_server", "main.cpp")))
    if separate:
        rows.append(("separate", "the server unit", config, *measure(build, "typical_server_separate", "main.cpp")))
        rows.append(("separate", "rtmsg.cpp (once per program)", config,
                     *measure(build, "typical_server_separate", "rtmsg.cpp")))

rev = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True,
                     text=True).stdout.strip()
print(f"compile cost of README's server example at {rev} ({args.cxx}, median of {args.runs}):")
print("| mode | unit | build | CPU s | peak memory MB |")
print("|---|---|---|---|---|")
for mode, unit_name, config, c, m in rows:
    flags = "-O0 -g" if config == "Debug" else "-O3"
    print(f"| {mode} | {unit_name} | {config} ({flags}) | {c:.1f} | {m:.0f} |")
