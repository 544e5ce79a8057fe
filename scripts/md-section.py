#!/usr/bin/env python3
"""Replaces one `## ` section of a Markdown file with the contents of another file.

    scripts/md-section.py OUT SECTION_FILE [BEFORE ...]

The section is the one whose heading equals SECTION_FILE's first line; it runs to the next `## `
heading.  Missing from OUT, it is inserted before the first heading that starts with one of the
BEFORE prefixes (at the end if none).  The benchmark scripts use it to rewrite only their part of
BENCHMARKS.md."""
import os
import sys

out, section_file, before = sys.argv[1], sys.argv[2], sys.argv[3:]
sec = open(section_file).read().rstrip("\n").split("\n") + [""]
heading = sec[0].strip()
lines = open(out).read().split("\n") if os.path.exists(out) else [""]
start = next((i for i, l in enumerate(lines) if l.strip() == heading), None)
if start is not None:
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines) - 1)
    lines[start:end] = sec
else:
    at = next((i for i, l in enumerate(lines) if any(l.startswith(b) for b in before)), len(lines) - 1)
    lines[at:at] = sec
open(out, "w").write("\n".join(lines))
print(f"wrote the section '{heading}' of {out}")
