#!/usr/bin/env bash
# Peak RSS of an fc7 extraction at 5,000 and 20,000 images: with row-slice
# streaming it stays flat (the 20,000 images are 4x the bytes). The dataset
# and a small model are made first (cached); the measured runs recompute
# only the extraction (--rerun fc7). Peak RSS is the runner's VmHWM.
#   bench/extract_rss.sh [build-dir]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > extract.yaml <<'YAML'
name: extract_rss
seed: 1
steps:
  faces: {uses: synthfaces, with: {count: 5000, size: 64}}
  labels: {uses: binarize, with: {mode: grouped}, inputs: {attributes: faces.attributes}}
  split: {uses: split, inputs: {people: faces.attributes}}
  backbone:
    uses: vggface
    with: {input_size: 64, width: 0.125, batch_norm: true, epochs: 1}
    inputs: {images: faces.images, labels: labels.labels, split: split.split}
  fc7:
    uses: extract
    inputs: {model: backbone.model, images: faces.images, labels: labels.labels}
YAML
peak() {  # runs the runner, prints its peak RSS in MiB
  "$build/bin/runner" extract.yaml "$@" > run.log 2>&1 &
  local pid=$! hwm=0
  while kill -0 "$pid" 2>/dev/null; do
    local now
    now=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)  # empty once a zombie
    if [[ -n "$now" ]] && ((now > hwm)); then hwm=$now; fi
    sleep 0.05
  done
  wait "$pid"
  echo $((hwm / 1024))
}
printf '%-8s %-14s %s\n' images 'peak RSS MiB' 'extract seconds'
for count in 5000 20000; do
  set_count="--set steps.faces.with.count=$count"
  "$build/bin/runner" extract.yaml $set_count --until backbone > /dev/null 2>&1
  rss=$(peak $set_count --rerun fc7)
  seconds=$(sed -n 's/.*\[fc7\] done in \([0-9.]*\) s/\1/p' run.log)
  printf '%-8s %-14s %s\n' "$count" "$rss" "$seconds"
done
