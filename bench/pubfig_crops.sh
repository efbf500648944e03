#!/usr/bin/env bash
# The pubfig step's crop-and-store throughput beside OpenCV's own decoding of
# the same JPEGs (same machine, same cores, one run), and its peak RSS at
# 5,000 and 20,000 images: with block streaming it stays flat.
#   bench/pubfig_crops.sh [build-dir] [work-dir]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
work="${2:-$(mktemp -d)}"
mkdir -p "$work"
cd "$work"
for count in 5000 20000; do
  [[ -f "data$count/dev_urls.txt" ]] || { mkdir -p "data$count"; "$build/bin/bench_crops" make "data$count" "$count"; }
done
peak() {  # runs the runner, prints its peak RSS in MiB
  "$build/bin/runner" "$@" > run.log 2>&1 &
  local pid=$! hwm=0
  while kill -0 "$pid" 2>/dev/null; do
    local now
    now=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    if [[ -n "$now" ]] && ((now > hwm)); then hwm=$now; fi
    sleep 0.05
  done
  wait "$pid"
  echo $((hwm / 1024))
}
printf '%-8s %-14s %-16s %-22s %s\n' images 'peak RSS MiB' 'crops/s (224 px)' 'OpenCV decode only/s' ratio
for count in 5000 20000; do
  cat > crops.yaml <<YAML
name: crops
steps:
  faces: {uses: pubfig, with: {root: data$count, images: data$count/images, sets: dev, size: 224}}
YAML
  reference=$("$build/bin/bench_crops" decode "data$count")
  rss=$(peak crops.yaml --no-cache)
  seconds=$(sed -n 's/.*\[faces\] done in \([0-9.]*\) s/\1/p' run.log)
  rate=$(awk -v n="$count" -v s="$seconds" 'BEGIN {printf "%.1f", n / s}')
  printf '%-8s %-14s %-16s %-22s %.2f\n' "$count" "$rss" "$rate" "$reference" "$(awk -v a="$rate" -v b="$reference" 'BEGIN {print a / b}')"
done
