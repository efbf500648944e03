#!/usr/bin/env bash
# bfloat16 against float32 on this CPU: the vggface training step and
# extraction (bench_vggface with and without --bf16, alternating, three tries
# each, medians) at the baseline's configuration and at width 0.5 / 128 px,
# beside the machine's measured float32 and bfloat16 matrix-product peaks.
#   bench/precision.sh [build-dir]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "bf16 units: $(grep -m1 -o -E 'avx512_bf16|amx_bf16' /proc/cpuinfo | sort -u | xargs || echo none)"
/usr/bin/python3 - <<'PY'
import time, torch
torch.set_num_threads(2)
for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
    a, b = torch.randn(4096, 4096).to(dtype), torch.randn(4096, 4096).to(dtype)
    torch.mm(a, b)
    runs = []
    for _ in range(5):
        t = time.perf_counter(); torch.mm(a, b); runs.append(time.perf_counter() - t)
    print(f"matrix peak {name}: {2 * 4096 ** 3 / sorted(runs)[2] / 1e9:.0f} GFLOP/s (4096-square, 2 threads)")
PY
configs=("--width 0.125 --size 64 --batch 64 --steps 20" "--width 0.5 --size 128 --batch 32 --steps 6")
for _ in 1 2 3; do
  for c in "${!configs[@]}"; do
    for bf16 in 0 1; do
      echo "$c $bf16 $("$build/bin/bench_vggface" ${configs[$c]} --bf16 $bf16)" >> "$out"
    done
  done
done
/usr/bin/python3 - "$out" "${configs[@]}" <<'PY'
import statistics, sys
def flops(flags):
    """Forward FLOPs per image of bench_vggface's network up to fc7, and of its 42 heads."""
    a = dict(zip(flags.split()[::2], flags.split()[1::2]))
    width, size = float(a["--width"]), int(a["--size"])
    macs, c, s = 0, 3, size
    for convs, channels in zip([2, 2, 3, 3, 3], [64, 128, 256, 512, 512]):
        out = max(1, round(channels * width))
        for _ in range(convs):
            macs += c * out * 9 * s * s; c = out
        s //= 2
    fc = max(1, round(4096 * width))
    macs += c * (size // 32) ** 2 * fc + fc * fc
    return 2 * macs, 2 * fc * 2 * 42
rows = {}
for line in open(sys.argv[1]):
    config, bf16, _, *kv = line.split()
    for k, v in zip(kv[::2], kv[1::2]):
        rows.setdefault((int(config), int(bf16), k), []).append(float(v))
print(f"{'configuration':<46} {'metric':<22} {'fp32':>8} {'bf16':>8} {'bf16/fp32':>9}")
for c, text in enumerate(sys.argv[2:]):
    backbone, heads = flops(text)
    per_image = {"train_images_per_s": 3 * (backbone + heads), "extract_images_per_s": backbone}
    for k in ("train_images_per_s", "extract_images_per_s", "peak_rss_mib"):
        a, b = statistics.median(rows[(c, 0, k)]), statistics.median(rows[(c, 1, k)])
        print(f"{text:<46} {k:<22} {a:8.1f} {b:8.1f} {b / a:9.2f}")
        if k in per_image:  # training: forward and two backward products, about 3x the forward FLOPs
            g = per_image[k] / 1e9
            print(f"{'':<46} {'  as GFLOP/s':<22} {a * g:8.1f} {b * g:8.1f}")
PY
