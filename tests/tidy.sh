#!/usr/bin/env bash
# clang-tidy over the project's own sources with the checks in .clang-tidy,
# through the clang build's compile commands (build-sanitize, made by
# tests/sanitize.sh: GCC's precompiled header is unreadable to clang-tidy,
# clang's is not). Any warning fails, naming the file and line.
#   tests/tidy.sh [build-dir]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build-sanitize}"
if [[ ! -f "$build/compile_commands.json" ]]; then
  echo "tidy: no $build/compile_commands.json: run tests/sanitize.sh first (it configures the clang build)" >&2
  exit 2
fi
# The precompiled header every target reuses must exist for clang-tidy to read it.
cmake --build "$build" --target facet_pch >/dev/null
tidy=$(command -v run-clang-tidy || command -v run-clang-tidy-14)
"$tidy" -p "$build" -j "$(nproc)" -quiet "$root/framework/" "$root/plugins/" >"$build/tidy.log" 2>&1 || {
  grep -E '(warning|error):' "$build/tidy.log" | grep -v 'warnings generated' >&2 || tail -20 "$build/tidy.log" >&2
  echo "tidy: clang-tidy found the problems above (checks and why: .clang-tidy)" >&2
  exit 1
}
echo "tidy: $(grep -c '^clang-tidy' "$build/tidy.log" || true) files clean"
