#!/usr/bin/env bash
# How planning time grows with a pipeline's size: `runner --dry-run` on
# pipelines of 5,000 to 40,000 steps (one dataset feeding N-1 binarize steps),
# beside LibTorch's own start-up, in one hyperfine run. Linear validation
# keeps the time per step flat as the pipeline doubles.
#   bench/validation_scaling.sh [build-dir]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sizes=(5000 10000 20000 40000)
for n in "${sizes[@]}"; do
  {
    printf 'name: big\nsteps:\n  faces: {uses: synthfaces, with: {count: 10}}\n'
    for ((i = 1; i < n; ++i)); do printf '  labels%d: {uses: binarize, inputs: {attributes: faces.attributes}}\n' "$i"; done
  } >"$work/big$n.yaml"
done
commands=(-n "LibTorch start-up (reference)" "$build/bin/torch_startup")
for n in "${sizes[@]}"; do commands+=(-n "$n steps" "$build/bin/runner $work/big$n.yaml --dry-run"); done
hyperfine --warmup 1 --runs 5 --export-json "$work/scaling.json" "${commands[@]}" >/dev/null
/usr/bin/python3 - "$work/scaling.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]["median"]
print(f"{'command':<30} {'median s':>9} {'beyond start-up s':>18} {'us per step':>12}")
for r in results:
    extra = r["median"] - base
    steps = int(r["command"].split()[0]) if r["command"][0].isdigit() else 0
    per = f"{1e6 * extra / steps:12.1f}" if steps else f"{'':>12}"
    print(f"{r['command']:<30} {r['median']:9.3f} {extra:18.3f} {per}")
PY
