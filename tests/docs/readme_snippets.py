#!/usr/bin/python3
"""The C++ snippets of README.md compile against the headers (g++ -fsyntax-only).

Usage: readme_snippets.py SOURCE_DIR CXX [FLAG | INCLUDE_DIRS]...
  FLAG          a compiler flag (-I..., -D...)
  INCLUDE_DIRS  a ;-list of include directories (Asio's)

Every ```cpp block of README.md is checked.  A block with its own `int main` is compiled alone,
as it is.  The others are fragments of the tour and the guides, compiled together in one
translation unit, each in a namespace of its own: a block that starts with `class` or `struct`
as it is; any other block inside a function body that already has what the fragments take
from the tour: `ioc` (asio::io_context), `hub` (rtmsg::hub), `server` (rtmsg::http::server),
and the application's `user_of_session()`.  A fragment may declare those names again (it is in
a nested block).  Prints one line per translation unit and exits 1 if any fails.
"""
import pathlib
import re
import subprocess
import sys
import tempfile

PRELUDE = """
#include <rtmsg/cluster/redis.hpp>
#include <rtmsg/server/server.hpp>
#include <rtmsg/hub/client.hpp>
#include <rtmsg/server/hub_protocol.hpp>
#include <rtmsg/sse/client.hpp>
#include <rtmsg/transport/ssl.hpp>

#include <asio/io_context.hpp>

#include <iostream>
#include <optional>
#include <string>

std::optional<std::string> user_of_session(std::optional<std::string> const& cookie) { return cookie; }
"""


def blocks(readme: str):
    for m in re.finditer(r"^```cpp\n(.*?)^```$", readme, re.S | re.M):
        line = readme.count("\n", 0, m.start()) + 2
        yield line, m.group(1)


def fragment(code: str, n: int, line: int) -> str:
    """One fragment, in a namespace of its own, with the README line it came from."""
    at = f'#line {line} "README.md"\n'
    if re.match(r"\s*(class|struct)\b", code):
        body = at + code
    else:
        body = f"""[[maybe_unused]] void snippet()
{{
    asio::io_context ioc;
    rtmsg::hub hub;
    rtmsg::http::server server(ioc.get_executor());
    {{
{at}{code}
    }}
}}
"""
    return f"namespace snippet_{n} {{\n{body}}}\n"


def main():
    source = pathlib.Path(sys.argv[1])
    cxx = sys.argv[2]
    flags = ["-std=c++20", "-fsyntax-only", f"-I{source / 'include'}", "-DRTMSG_HAS_SIMDJSON=1"]
    for a in sys.argv[3:]:
        flags += [a] if a.startswith("-") else [f"-I{d}" for d in a.split(";") if d]
    readme = (source / "README.md").read_text()
    found = list(blocks(readme))
    units = []  # (description, text): each complete program alone, the fragments together
    fragments = PRELUDE
    for n, (line, code) in enumerate(found):
        if re.search(r"\bint main\(", code):
            units.append((f"README.md:{line}", f'#line {line} "README.md"\n' + code))
        else:
            fragments += fragment(code, n, line)
    units.append(("README.md fragments (" + str(len(found) - len(units)) + ")", fragments))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n, (what, text) in enumerate(units):
            tu = pathlib.Path(tmp) / f"unit_{n}.cpp"
            tu.write_text(text)
            r = subprocess.run([cxx, *flags, str(tu)], capture_output=True, text=True)
            if r.returncode == 0:
                print(f"ok     {what}")
            else:
                failed += 1
                print(f"FAILED {what}\n{r.stderr[:6000]}")
    print(f"{len(units) - failed} passed, {failed} failed ({len(found)} snippets)")
    return 1 if failed or not found else 0


if __name__ == "__main__":
    sys.exit(main())
