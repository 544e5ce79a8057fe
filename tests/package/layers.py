#!/usr/bin/env python3
"""Checks the include graph of include/rtmsg against tests/package/layers.txt.

Every `#include <rtmsg/FOLDER/...>` in a header must point to its own folder or to a folder
declared below it; no header may name `X::detail::` of another module X.  There is no
exception list: an edge against the order fails, whatever the reason.  Headers
declared `sans-io` must not include an Asio or OpenSSL header, directly or through the rtmsg
headers they include.

    layers.py SOURCE_DIR
"""
import pathlib
import re
import sys

src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
inc = src / "include" / "rtmsg"
order, sans_io = [], []
for line in (src / "tests" / "package" / "layers.txt").read_text().splitlines():
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    if line.startswith("sans-io "):
        sans_io.append(line[len("sans-io "):].strip())
    elif " " in line:
        sys.exit(f"layers.txt: not a folder or a sans-io line: '{line}'")
    else:
        order.append(line)
rank = {name: i for i, name in enumerate(order)}
modules = set(order) - {"base"}


def module_of(rel):  # rel: path below include/rtmsg
    first = rel.parts[0]
    if len(rel.parts) == 1:  # a top-level header named after a layer (src.hpp) is that layer
        return rel.stem if rel.stem in rank else "base"
    return "base" if first == "detail" else first


problems = []
include_re = re.compile(r'^\s*#\s*include\s*<rtmsg/([^>]+)>', re.M)
detail_re = re.compile(r'\b(?:rtmsg::)?(' + "|".join(sorted(modules)) + r')::detail::')
for path in sorted([*inc.rglob("*.hpp"), *inc.rglob("*.ipp")]):
    rel = path.relative_to(inc)
    me = module_of(rel)
    if me not in rank:
        problems.append(f"{rel}: folder '{me}' is not declared in layers.txt")
        continue
    text = path.read_text()
    for target in include_re.findall(text):
        them = module_of(pathlib.PurePosixPath(target))
        if them not in rank:
            problems.append(f"{rel}: includes <rtmsg/{target}> of undeclared folder '{them}'")
        elif rank[them] > rank[me]:
            problems.append(f"{rel}: includes <rtmsg/{target}>, a layer above '{me}' ({them})")
    code = re.sub(r'//[^\n]*|/\*.*?\*/', '', text, flags=re.S)  # names in comments do not count
    for other in sorted(set(detail_re.findall(code))):
        if other != me:
            problems.append(f"{rel}: reaches into {other}::detail")
system_re = re.compile(r'^\s*#\s*include\s*<((?:asio|openssl)[/.][^>]*)>', re.M)
io_memo = {}


def io_includes(rel):  # the Asio/OpenSSL headers that including rel brings, and through what
    if rel in io_memo:
        return io_memo[rel]
    io_memo[rel] = {}
    path = inc / rel
    found = {}
    if path.exists():
        text = path.read_text()
        for h in system_re.findall(text):
            found.setdefault(h, rel)
        for target in include_re.findall(text):
            for h, via in io_includes(target).items():
                found.setdefault(h, via)
    io_memo[rel] = found
    return found


for entry in sans_io:
    headers = sorted(str(p.relative_to(inc)) for p in (inc / entry).rglob("*.hpp")) if entry.endswith("/") else [entry]
    if not headers or not all((inc / h).exists() for h in headers):
        problems.append(f"layers.txt: sans-io '{entry}' names no header")
    for h in headers:
        for sys_h, via in sorted(io_includes(h).items()):
            problems.append(f"{h}: declared sans-io, but includes <{sys_h}>" + ("" if via == h else f" (through {via})"))
for p in problems:
    print(p)
print(f"{len(problems)} problem(s)")
sys.exit(1 if problems else 0)
