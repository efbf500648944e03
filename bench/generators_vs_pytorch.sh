#!/usr/bin/env bash
# DRAW and conditional-GAN training steps per second, C++ (LibTorch) beside
# PyTorch for Python on the same LibTorch 1.13.1: same models, batch and
# threads, at the baseline's settings (32 px, 12 glimpses, the 73 attributes as
# the condition; --condition 512 for fc7 at the baseline's width).
#   bench/generators_vs_pytorch.sh [build-dir] [-- bench flags, e.g. --size 32 --batch 64 --glimpses 12 --bf16 1]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"; shift || true
[[ "${1:-}" == "--" ]] && shift
"$root/bench/side_by_side.sh" "$build/bin/bench_generators" "$root/bench/generators_reference.py" "$@"
