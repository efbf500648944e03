#!/usr/bin/env bash
# Runs a C++ benchmark and its PyTorch reference REPEATS times each (default
# 5), alternating, and prints the median of every metric on both sides and
# their ratio. Several processes, not one: with glibc's default malloc a
# process runs at one of two speeds, chosen by its allocation history
# (framework/include/facet/heap.hpp). SAME_HEAP=1 gives the reference the
# runner's malloc settings too (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_).
# Each program prints one line: "libtorch|pytorch NAME VALUE ...".
#   bench/side_by_side.sh BENCH_BINARY REFERENCE.py [bench flags]
set -euo pipefail
binary="$1"; reference="$2"; shift 2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "${REPEATS:-5}"); do
  "$binary" "$@" >> "$out"
  if [[ "${SAME_HEAP:-0}" == 1 ]]; then
    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=2147483647 /usr/bin/python3 "$reference" "$@" >> "$out"
  else
    /usr/bin/python3 "$reference" "$@" >> "$out"
  fi
done
/usr/bin/python3 - "$out" <<'PY'
import statistics, sys
rows, names = {}, []
for line in open(sys.argv[1]):
    who, *kv = line.split()
    for k, v in zip(kv[::2], kv[1::2]):
        rows.setdefault((who, k), []).append(float(v))
        if k not in names: names.append(k)
print(f"{'metric':<22} {'libtorch':>10} {'pytorch':>10} {'ratio':>7}")
for k in names:
    a, b = statistics.median(rows[("libtorch", k)]), statistics.median(rows[("pytorch", k)])
    print(f"{k:<22} {a:10.2f} {b:10.2f} {a / b:7.2f}")
PY
