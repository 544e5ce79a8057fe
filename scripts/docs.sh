#!/usr/bin/env bash
# Builds the API reference from the public headers into build/docs/html (open index.html).
# Any Doxygen warning fails the build (docs/Doxyfile: WARN_AS_ERROR), including a public
# entity without documentation.  Needs doxygen (scripts/deps.sh --tests installs it).
# Usage: scripts/docs.sh            (from anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v doxygen >/dev/null || { echo "scripts/docs.sh: doxygen is not installed (apt-get install doxygen)" >&2; exit 1; }
version=$(sed -n 's/^inline constexpr char const version_string\[\] = "\(.*\)";/\1/p' include/rtmsg/version.hpp)
rm -rf build/docs
mkdir -p build/docs
RTMSG_VERSION="$version" doxygen docs/Doxyfile
echo "scripts/docs.sh: build/docs/html/index.html (rtmsg $version)"
