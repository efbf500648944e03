#!/usr/bin/env bash
# Training beside another CPU-bound process: the same vggface training step
# (width 0.25, 64 px, batch 64, 2 threads) alone and beside one busy process
# (started and stopped here), for the runner as it starts (OpenMP threads
# spinning 1,000 turns before they sleep), with threads that sleep at once
# (OMP_WAIT_POLICY=PASSIVE), with spinning threads (OMP_WAIT_POLICY=ACTIVE,
# libgomp's default), and PyTorch for Python (bench/vggface_reference.py).
# Prints the median epoch time or step throughput of three tries and the slowdown.
#   bench/load_slowdown.sh [build-dir]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
work="$(mktemp -d)"
busy=""
trap '[[ -n "$busy" ]] && kill "$busy" 2>/dev/null; rm -rf "$work"' EXIT
cat >"$work/train.yaml" <<'YAML'
name: load
seed: 7
threads: 2
precision: fp32  # as the PyTorch reference
steps:
  faces: {uses: synthfaces, with: {count: 800, size: 64, persons: 40}}
  labels: {uses: binarize, with: {mode: grouped}, inputs: {attributes: faces.attributes}}
  split: {uses: split, with: {train: 0.8, val: 0.1, test: 0.1}, inputs: {people: faces.attributes}}
  backbone:
    uses: vggface
    with: {input_size: 64, width: 0.25, batch_norm: true, epochs: 3, batch_size: 64, optimizer: adam, lr: 0.001}
    inputs: {images: faces.images, labels: labels.labels, split: split.split}
YAML
lscpu | grep -E "^Model name" || true
facet() {  # prints the median epoch time (epochs 2 and 3) in seconds
  rm -rf "$work/cache"
  env "$@" "$build/bin/runner" "$work/train.yaml" --cache-dir "$work/cache" --runs-dir "$work/runs" 2>&1 |
    sed -n 's/.*epoch [23]\/3: .*| \([0-9.]*\) s$/\1/p' | sort -n | head -1
}
pytorch() {  # prints training images/s
  /usr/bin/python3 "$root/bench/vggface_reference.py" --width 0.25 --size 64 --batch 64 --threads 2 --steps 10 |
    awk '{print $3}'
}
measure() {  # label, command...: three tries, the median
  local label="$1"; shift
  local values=()
  for _ in 1 2 3; do values+=("$("$@")"); done
  printf '%s %s\n' "$label" "$(printf '%s\n' "${values[@]}" | sort -n | sed -n 2p)"
}
run_all() {  # suffix
  measure "facet_default_s$1" facet X=1
  measure "facet_passive_s$1" facet OMP_WAIT_POLICY=PASSIVE
  measure "facet_spinning_s$1" facet OMP_WAIT_POLICY=ACTIVE
  measure "pytorch_images_per_s$1" pytorch
}
run_all "" > "$work/alone"
/usr/bin/python3 -c "while True: pass" & busy=$!
run_all "" > "$work/loaded"
kill "$busy"; busy=""
/usr/bin/python3 - "$work/alone" "$work/loaded" <<'PY'
import sys
alone = dict(l.split() for l in open(sys.argv[1]))
loaded = dict(l.split() for l in open(sys.argv[2]))
print(f"{'':<36} {'alone':>8} {'beside 1 busy':>14} {'slowdown':>9}")
for key, what in [("facet_default_s", "facet (as started), s per epoch"),
                  ("facet_passive_s", "facet, passive threads, s per epoch"),
                  ("facet_spinning_s", "facet, spinning threads, s per epoch"),
                  ("pytorch_images_per_s", "PyTorch for Python, images/s")]:
    a, b = float(alone[key]), float(loaded[key])
    slowdown = b / a if key.startswith("facet") else a / b  # seconds vs images/s
    print(f"{what:<36} {a:8.2f} {b:14.2f} {slowdown:8.2f}x")
PY
