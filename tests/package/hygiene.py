#!/usr/bin/python3
"""Header hygiene: rtmsg's headers leak no macros and no using-directives into the code including them.

Usage: hygiene.py SOURCE_DIR CXX [FLAG | INCLUDE_DIRS]...
  FLAG          a compiler flag (-I..., -D...)
  INCLUDE_DIRS  a ;-list of include directories (Asio's), the compiler's own ones left out

1. Macros: one translation unit includes every public header; the preprocessor's -dD output tells
   which file each surviving #define comes from.  A macro defined in include/rtmsg/ and not
   #undef'd again must be named RTMSG_* (or be one of ALLOWED below).
2. using-directives: `using namespace` at namespace scope in any header under include/rtmsg/
   (inside a function body it is fine).
Prints one line per finding and a final "N passed, M failed".
"""
import pathlib
import re
import subprocess
import sys
import tempfile

# Macros rtmsg's headers define on purpose, outside the RTMSG_ prefix.
ALLOWED = {
    # rtmsg/config.hpp: standalone Asio, only when the includer has not configured Asio itself
    # (rtmsg::rtmsg's Asio::Asio passes it with -D).  Never ASIO_NO_DEPRECATED: that is the host's.
    "ASIO_STANDALONE",
}


def public_headers(include_dir: pathlib.Path):
    for h in sorted(include_dir.glob("rtmsg/**/*.hpp")):
        rel = h.relative_to(include_dir).as_posix()
        if "/detail/" in rel or "/impl/" in rel or rel == "rtmsg/src.hpp":  # src.hpp: separate builds only
            continue
        yield rel


def leaked_macros(include_dir: pathlib.Path, cxx: str, flags):
    rtmsg_dir = str((include_dir / "rtmsg").resolve())
    with tempfile.TemporaryDirectory() as tmp:
        tu = pathlib.Path(tmp) / "all_headers.cpp"
        tu.write_text("".join(f"#include <{h}>\n" for h in public_headers(include_dir)))
        out = subprocess.run([cxx, "-std=c++20", "-E", "-dD", f"-I{include_dir}", "-DRTMSG_HAS_SIMDJSON=1",
                              *flags, str(tu)], check=True, capture_output=True, text=True).stdout
    current = ""
    defined = {}  # name -> file
    marker = re.compile(r'^# \d+ "([^"]*)"')
    for line in out.splitlines():
        m = marker.match(line)
        if m:
            current = str(pathlib.Path(m.group(1)).resolve()) if m.group(1)[:1] not in "<" else m.group(1)
            continue
        if line.startswith("#define "):
            name = re.match(r"#define (\w+)", line).group(1)
            if current.startswith(rtmsg_dir + "/"):
                defined[name] = current
            else:
                defined.pop(name, None)
        elif line.startswith("#undef "):
            defined.pop(line.split()[1], None)
    return {n: f for n, f in defined.items() if not n.startswith("RTMSG_") and n not in ALLOWED}


def strip_comments_and_literals(src: str) -> str:
    """Blanks out comments, string and character literals and preprocessor lines (newlines kept)."""
    out = []
    i, n = 0, len(src)
    at_line_start = True
    while i < n:
        c = src[i]
        if at_line_start and c == "#":
            j = i
            while True:  # a directive, with its continuation lines
                k = src.find("\n", j)
                if k < 0:
                    k = n
                    break
                if src[k - 1] != "\\":
                    break
                j = k + 1
            out.append("\n" * src.count("\n", i, k))
            i = k
            continue
        if c == "\n":
            at_line_start = True
            out.append(c)
            i += 1
            continue
        if not c.isspace():
            at_line_start = False
        if src.startswith("//", i):
            k = src.find("\n", i)
            i = n if k < 0 else k
            continue
        if src.startswith("/*", i):
            k = src.find("*/", i + 2)
            k = n if k < 0 else k + 2
            out.append("\n" * src.count("\n", i, k))
            i = k
            continue
        m = re.match(r'(?:u8|u|U|L)?R"([^(\s]{0,16})\(', src[i:i + 24])
        if m and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            end = src.find(")" + m.group(1) + '"', i)
            k = n if end < 0 else end + len(m.group(1)) + 2
            out.append(' ""' + "\n" * src.count("\n", i, k))
            i = k
            continue
        if c == '"' or (c == "'" and not (i > 0 and src[i - 1].isalnum())):  # not a digit separator
            k = i + 1
            while k < n and src[k] != c:
                k += 2 if src[k] == "\\" else 1
            out.append(' ""')
            i = k + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def namespace_scope_using_directives(path: pathlib.Path):
    text = strip_comments_and_literals(path.read_text())
    token = re.compile(r"\busing\s+namespace\b|\bnamespace\b[\w\s:]*\{|\bextern\s*\"\"\s*\{|\{|\}")
    stack = []
    for m in token.finditer(text):
        t = m.group(0)
        if t.startswith("using"):
            if all(s == "ns" for s in stack):
                yield text.count("\n", 0, m.start()) + 1
        elif t == "{":
            stack.append("block")
        elif t == "}":
            if stack:
                stack.pop()
        else:
            stack.append("ns")


def compiler_flags(cxx, args):
    """Flags as given; include-directory lists as -I, minus the compiler's implicit directories
    (-I/usr/include would break libstdc++'s #include_next)."""
    verbose = subprocess.run([cxx, "-x", "c++", "-E", "-v", "-"], input="", capture_output=True, text=True).stderr
    block = verbose.split("#include <...> search starts here:")[-1].split("End of search list.")[0]
    implicit = {str(pathlib.Path(d.strip()).resolve()) for d in block.splitlines() if d.strip()}
    flags = []
    for a in args:
        if a.startswith("-"):
            flags.append(a)
            continue
        flags += [f"-I{d}" for d in a.split(";") if d and str(pathlib.Path(d).resolve()) not in implicit]
    return flags


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    source_dir = pathlib.Path(sys.argv[1]).resolve()
    cxx = sys.argv[2]
    flags = compiler_flags(cxx, sys.argv[3:])
    include_dir = source_dir / "include"
    passed = failed = 0

    leaks = leaked_macros(include_dir, cxx, flags)
    for name, where in sorted(leaks.items()):
        print(f"FAIL macro {name} leaks from {pathlib.Path(where).relative_to(source_dir)}")
    if leaks:
        failed += 1
    else:
        print("ok   no header leaks a macro outside RTMSG_* (allowed: " + ", ".join(sorted(ALLOWED)) + ")")
        passed += 1

    found = False
    for h in sorted(include_dir.glob("rtmsg/**/*.hpp")):
        for line in namespace_scope_using_directives(h):
            print(f"FAIL using-directive at namespace scope: {h.relative_to(source_dir)}:{line}")
            found = True
    if found:
        failed += 1
    else:
        print("ok   no using-directive at namespace scope in include/rtmsg")
        passed += 1

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
