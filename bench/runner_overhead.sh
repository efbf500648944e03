#!/usr/bin/env bash
# Runner overhead beside LibTorch's own start-up, in one hyperfine run:
# process start + plugin discovery and loading (runner plugins), planning
# (--dry-run) and a fully cached baseline.yaml run.
#   bench/runner_overhead.sh [build-dir]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$build/bin/runner" "$root/pipelines/baseline.yaml" >/dev/null 2>&1  # fill the cache
hyperfine --warmup 2 --runs 15 --export-json "$work/overhead.json" \
  -n "LibTorch start-up (reference)" "$build/bin/torch_startup" \
  -n "runner plugins" "$build/bin/runner plugins" \
  -n "runner baseline --dry-run" "$build/bin/runner $root/pipelines/baseline.yaml --dry-run" \
  -n "runner baseline (fully cached)" "$build/bin/runner $root/pipelines/baseline.yaml"
# Medians, and each command's excess over the LibTorch start-up.
/usr/bin/python3 - "$work/overhead.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]["median"]
print(f"{'command':<34} {'median s':>9} {'beyond LibTorch s':>18}")
for r in results:
    print(f"{r['command']:<34} {r['median']:9.3f} {r['median'] - base:18.3f}")
PY
