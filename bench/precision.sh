#!/usr/bin/env bash
# bfloat16 against float32, channels-last against NCHW, on this CPU: the
# vggface training step and extraction (bench_vggface, the four variants
# alternating, three tries each, medians) at the baseline's configuration and
# at width 0.5 / 128 px, beside the machine's measured float32 and bfloat16
# matrix-product peaks. The reference is float32 NCHW.
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
    for variant in "0 0" "0 1" "1 0" "1 1"; do
      read -r bf16 nhwc <<< "$variant"
      echo "$c $bf16$nhwc $("$build/bin/bench_vggface" ${configs[$c]} --bf16 "$bf16" --channels-last "$nhwc")" >> "$out"
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
    config, variant, _, *kv = line.split()
    for k, v in zip(kv[::2], kv[1::2]):
        rows.setdefault((int(config), variant, k), []).append(float(v))
variants = [("00", "fp32 NCHW"), ("01", "fp32 NHWC"), ("10", "bf16 NCHW"), ("11", "bf16 NHWC")]
print(f"{'':<24}" + "".join(f"{name:>11}" for _, name in variants) + "   (ratio to fp32 NCHW)")
for c, text in enumerate(sys.argv[2:]):
    print(text)
    backbone, heads = flops(text)
    # Training: the forward and two backward products, about 3x the forward FLOPs.
    per_image = {"train_images_per_s": 3 * (backbone + heads), "extract_images_per_s": backbone}
    for k in ("train_images_per_s", "extract_images_per_s", "peak_rss_mib"):
        m = [statistics.median(rows[(c, v, k)]) for v, _ in variants]
        print(f"  {k:<22}" + "".join(f"{x:11.1f}" for x in m) + "   " + " ".join(f"{x / m[0]:.2f}" for x in m))
        if k in per_image:
            print(f"  {'  as GFLOP/s':<22}" + "".join(f"{x * per_image[k] / 1e9:11.1f}" for x in m))
PY
