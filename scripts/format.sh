#!/usr/bin/env bash
# Formats the C++ sources with the repository's .clang-format (clang-format 14, as Debian 12 ships).
#
#   scripts/format.sh            rewrite the files in place
#   scripts/format.sh --check    change nothing; list the files that differ and fail (run by scripts/test.sh)
#
# Covers every tracked .hpp/.ipp/.cpp/.h of include/, tests/, examples/, bench/ and test_package/, except
# include/rtmsg/version.hpp (generated from cmake/version.hpp.in; configuring compares the two).
set -euo pipefail
cd "$(dirname "$0")/.."
cf=$(command -v clang-format-14 || true)
[[ -n $cf ]] || { echo "format.sh: clang-format-14 is missing (scripts/deps.sh --tests installs it)" >&2; exit 2; }
mapfile -t files < <(git ls-files -- 'include/*.hpp' 'include/*.ipp' 'tests/*.hpp' 'tests/*.cpp' 'tests/*.h' 'examples/*.hpp' \
  'examples/*.cpp' 'bench/*.hpp' 'bench/*.cpp' 'test_package/*.cpp' | grep -v '^include/rtmsg/version.hpp$')
case ${1:-} in
  "") "$cf" -i "${files[@]}" ;;
  --check)
    bad=()
    for f in "${files[@]}"; do
      "$cf" "$f" | cmp -s - "$f" || bad+=("$f")
    done
    if ((${#bad[@]})); then
      printf 'not formatted (scripts/format.sh fixes it):\n' >&2
      printf '  %s\n' "${bad[@]}" >&2
      exit 1
    fi
    echo "format: ${#files[@]} files as .clang-format says" ;;
  *) echo "usage: scripts/format.sh [--check]" >&2; exit 2 ;;
esac
