#!/usr/bin/env python3
"""Checks the include graph of include/rtmsg against tests/package/layers.txt.

Every `#include <rtmsg/FOLDER/...>` in a header must point to its own folder or to a folder
declared below it; no header may name `X::detail::` of another module X.  Exceptions are
listed in layers.txt, each one must still be needed (a stale exception fails too).

    layers.py SOURCE_DIR
"""
import pathlib
import re
import sys

src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
inc = src / "include" / "rtmsg"
order, exceptions = [], set()
for line in (src / "tests" / "package" / "layers.txt").read_text().splitlines():
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    if line.startswith("exception "):
        a, b = line[len("exception "):].split("->")
        exceptions.add((a.strip(), b.strip()))
    else:
        order.append(line)
rank = {name: i for i, name in enumerate(order)}
modules = set(order) - {"base"}


def module_of(rel):  # rel: path below include/rtmsg
    first = rel.parts[0]
    return "base" if len(rel.parts) == 1 or first == "detail" else first


problems, used = [], set()
include_re = re.compile(r'^\s*#\s*include\s*<rtmsg/([^>]+)>', re.M)
detail_re = re.compile(r'\b(?:rtmsg::)?(' + "|".join(sorted(modules)) + r')::detail::')
for path in sorted(inc.rglob("*.hpp")):
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
            key = (str(rel), target)
            if key in exceptions:
                used.add(key)
            else:
                problems.append(f"{rel}: includes <rtmsg/{target}>, a layer above '{me}' ({them})")
    code = re.sub(r'//[^\n]*|/\*.*?\*/', '', text, flags=re.S)  # names in comments do not count
    for other in sorted(set(detail_re.findall(code))):
        if other == me:
            continue
        key = (str(rel), f"{other}::detail")
        if key in exceptions:
            used.add(key)
        else:
            problems.append(f"{rel}: reaches into {other}::detail")
for a, b in sorted(exceptions - used):
    problems.append(f"layers.txt: exception '{a} -> {b}' is no longer needed: remove it")
for p in problems:
    print(p)
print(f"{len(problems)} problem(s); {len(exceptions)} listed exception(s)")
sys.exit(1 if problems else 0)
