#!/usr/bin/env bash
# Data-parallel scaling on this machine: the same vggface training (width
# 0.25, 64 px, batch 64, 600 faces) as 1 process with 1 thread, 1 process
# with 2 threads, and 2 ranks with 1 thread each (Gloo on loopback), one
# after the other in one run. Reports the median epoch time (epochs 2-4),
# images/s, the speed-up over 1 thread, and the time rank 0 waited for
# gradient sums (the all-reduce not hidden behind the backward pass). The
# last epoch's validation accuracy beside them shows what per-rank batch
# norm (each rank normalises its 32 rows) costs against one process's 64.
#   bench/ddp_scaling.sh [build-dir]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/train.yaml" <<'YAML'
name: ddp
seed: 7
steps:
  faces: {uses: synthfaces, with: {count: 600, size: 64, persons: 30}}
  labels: {uses: binarize, with: {mode: grouped}, inputs: {attributes: faces.attributes}}
  split: {uses: split, with: {train: 0.8, val: 0.1, test: 0.1}, inputs: {people: faces.attributes}}
  backbone:
    uses: vggface
    with: {input_size: 64, width: 0.25, batch_norm: true, epochs: 4, batch_size: 64, optimizer: adam, lr: 0.001}
    inputs: {images: faces.images, labels: labels.labels, split: split.split}
YAML
lscpu | grep -E "^Model name" || true
run() {  # label, threads, extra runner options
  "$build/bin/runner" "$work/train.yaml" --set threads="$2" $3 --cache-dir "$work/cache-$1" --runs-dir "$work/runs" \
    >"$work/$1.log" 2>&1
}
run one-thread 1 ""
run two-threads 2 ""
run two-ranks 1 "--nproc-per-node 2"
/usr/bin/python3 - "$work" <<'PY'
import re, statistics, sys
work = sys.argv[1]
rows = []
for label in ["one-thread", "two-threads", "two-ranks"]:
    log = open(f"{work}/{label}.log").read()
    epochs = [float(s) for s in re.findall(r"\| ([0-9.]+) s$", log, re.M)]
    train = int(re.search(r"; (\d+) train / ", log).group(1))
    wait = re.search(r"([0-9.]+) s of ([0-9.]+) s waiting for gradient sums", log)
    median = statistics.median(epochs[1:])
    accuracy = float(re.findall(r"val loss [0-9.]+ acc ([0-9.]+)", log)[-1])
    rows.append((label, median, train / median, float(wait.group(1)) / float(wait.group(2)) if wait else None,
                 accuracy))
base = rows[0][1]
print(f"{'configuration':<14} {'epoch s (median)':>17} {'images/s':>9} {'vs 1 thread':>12} {'all-reduce wait':>16} "
      f"{'val accuracy':>13}")
for label, median, rate, wait, accuracy in rows:
    share = f"{100 * wait:15.1f}%" if wait is not None else f"{'':>16}"
    print(f"{label:<14} {median:17.2f} {rate:9.1f} {base / median:11.2f}x {share} {accuracy:13.4f}")
PY
