#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time on a corpus seeded from the
# project's own files (pipelines, PubFig's index files, cache entries of a
# tiny pipeline), after replaying the inputs that crashed before
# (tests/fuzz/regressions/<target>/, each a regression test).
#   tests/fuzz/run.sh [build-dir] [seconds per target]
# build-dir: a build configured with clang and -DFACET_FUZZ=ON (tests/sanitize.sh
# makes build-sanitize). A crash stops with its input under build-dir/fuzz-findings/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:-$root/build-sanitize}" && pwd)"
seconds="${2:-60}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
findings="$build/fuzz-findings"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}"
mkdir -p "$findings"

# Seeds.
mkdir -p "$work/seeds/fuzz_pipeline" "$work/seeds/fuzz_index" "$work/seeds/fuzz_artifact"
cp "$root"/pipelines/*.yaml "$root"/experiments/*.yaml "$work/seeds/fuzz_pipeline/"
printf 'name: s\nsteps:\n  faces: {uses: synthfaces}\n---set\nsteps.faces.with.count=5\n' >"$work/seeds/fuzz_pipeline/set.yaml"
# PubFig's own index files, where they are (as tests/support finds them).
for pubfig in "${FACET_PUBFIG_INDEX:-}" "$root/../shared/data/pubfig" /work/shared/data/pubfig; do
  if [[ -n "$pubfig" && -f "$pubfig/dev_urls.txt" ]]; then
    for f in "$pubfig"/*.txt; do head -c 6000 "$f" >"$work/seeds/fuzz_index/$(basename "$f")"; done
    break
  fi
done
printf '2\n5_o_Clock_Shadow Smiling\n000001.jpg -1  1\n000002.jpg  1 -1\n' >"$work/seeds/fuzz_index/list_attr_celeba.txt"
printf '1\nimage_id x_1 y_1 width height\n000001.jpg    95  71 226 313\n' >"$work/seeds/fuzz_index/list_bbox_celeba.txt"
printf '000001.jpg 0\n000002.jpg 2\n' >"$work/seeds/fuzz_index/list_eval_partition.txt"
printf 'name: tiny\nsteps:\n  faces: {uses: synthfaces, with: {count: 4, size: 16, persons: 2}}\n'\
'  labels: {uses: binarize, inputs: {attributes: faces.attributes}}\n'\
'  split: {uses: split, inputs: {people: faces.attributes}}\n' >"$work/tiny.yaml"
(cd "$work" && "$build/bin/runner" tiny.yaml --cache-dir artifact-cache >/dev/null 2>&1)
cp "$work"/artifact-cache/*.h5 "$work/seeds/fuzz_artifact/"

status=0
for target in ${FACET_FUZZ_TARGETS:-fuzz_pipeline fuzz_index fuzz_artifact}; do
  binary="$build/bin/$target"
  regressions="$root/tests/fuzz/regressions/$target"
  if compgen -G "$regressions/*" >/dev/null; then
    "$binary" "$regressions"/* >"$work/$target-regressions.log" 2>&1 || {
      cat "$work/$target-regressions.log"
      echo "fuzz: $target fails on an input of $regressions"
      exit 1
    }
  fi
  extra=()
  [[ -f "$root/tests/fuzz/${target#fuzz_}.dict" ]] && extra+=(-dict="$root/tests/fuzz/${target#fuzz_}.dict")
  # HDF5's error paths leak (tests/lsan.supp): a leak check after nearly every
  # damaged file would take most of the time. The tests under LeakSanitizer cover facet's own code.
  [[ "$target" == fuzz_artifact ]] && extra+=(-detect_leaks=0)
  mkdir -p "$work/corpus/$target"
  if "$binary" "$work/corpus/$target" "$work/seeds/$target" "${extra[@]}" -max_total_time="$seconds" \
    -max_len=65536 -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$findings/$target-" >"$work/$target.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $target: $runs inputs in ${seconds} s, no finding"
  else
    tail -40 "$work/$target.log"
    echo "fuzz: $target found a crash; its input is in $findings (add it to $regressions once fixed)"
    status=1
  fi
done
exit $status
