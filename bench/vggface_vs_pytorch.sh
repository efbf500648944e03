#!/usr/bin/env bash
# vggface training and extraction throughput, C++ (LibTorch) beside PyTorch
# for Python on the same LibTorch 1.13.1: same model, batch and threads.
#   bench/vggface_vs_pytorch.sh [build-dir] [-- bench flags, e.g. --width 0.125 --size 64 --batch 64]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"; shift || true
[[ "${1:-}" == "--" ]] && shift
"$root/bench/side_by_side.sh" "$build/bin/bench_vggface" "$root/bench/vggface_reference.py" "$@"
