#!/usr/bin/env bash
# vggface training and extraction throughput, C++ (LibTorch) beside PyTorch
# for Python on the same LibTorch 1.13.1: same model, batch and threads.
# Runs each side three times, alternating, and prints medians and ratios.
#   bench/vggface_vs_pytorch.sh [build-dir] [-- bench flags, e.g. --width 0.125 --size 64 --batch 64]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"; shift || true
[[ "${1:-}" == "--" ]] && shift
out=$(mktemp)
for _ in 1 2 3; do
  "$build/bin/bench_vggface" "$@" >> "$out"
  /usr/bin/python3 "$root/bench/vggface_reference.py" "$@" >> "$out"
done
/usr/bin/python3 - "$out" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    who, *kv = line.split()
    for k, v in zip(kv[::2], kv[1::2]):
        rows.setdefault((who, k), []).append(float(v))
print(f"{'metric':<22} {'libtorch':>10} {'pytorch':>10} {'ratio':>7}")
for k in ["train_images_per_s", "extract_images_per_s", "peak_rss_mib"]:
    a, b = statistics.median(rows[("libtorch", k)]), statistics.median(rows[("pytorch", k)])
    print(f"{k:<22} {a:10.1f} {b:10.1f} {a / b:7.2f}")
PY
rm -f "$out"
