#!/usr/bin/env bash
# The fast part of the suite under AddressSanitizer, UndefinedBehaviorSanitizer
# and LeakSanitizer: builds facet with clang in build-sanitize (with libFuzzer's
# coverage), runs the core and runner tests there, then every fuzzer for a few
# seconds. CI runs it after the suite.
#   tests/sanitize.sh [fuzz seconds per target, default 10]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-sanitize"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DFACET_SANITIZE=address,undefined -DFACET_FUZZ=ON \
  -DFACET_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target runner core_tests runner_tests fuzz_pipeline fuzz_index fuzz_artifact
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# The fast part: every core and runner test but the five that train the smoke
# pipeline several times over (about 6 of their 10 minutes under the
# sanitizers; the fault tests run the same code). Drop the -E to run them all.
ctest --test-dir "$build" -j2 -L 'core|runner' --output-on-failure \
  -E 'smoke twice|--dry-run, --until|gan or invert|runner generate: faces|damaged cache entry is detected'
"$root/tests/fuzz/run.sh" "$build" "${1:-10}"
