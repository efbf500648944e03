#!/usr/bin/env bash
# Regenerates the metadata part of every plugin README from the steps' own
# declarations (runner describe STEP --markdown). The part between the
# markers is replaced; the hand-written text around it is kept.
#   plugins/generate_readmes.sh [build-dir]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runner="${1:-$root/build}/bin/runner"
begin='<!-- BEGIN runner describe -->'
end='<!-- END runner describe -->'
declare -A body
for step in $("$runner" plugins | awk '{print $1}'); do
  library=$("$runner" describe "$step" | sed -n 's/^plugin: //p')
  plugin=$(basename "$library" .so)
  plugin=${plugin#libfacet_}
  body[$plugin]+="$("$runner" describe "$step" --markdown)"$'\n\n'
done
for plugin in "${!body[@]}"; do
  readme="$root/plugins/$plugin/README.md"
  [[ -f "$readme" ]] || printf '# %s\n\n%s\n%s\n' "$plugin" "$begin" "$end" > "$readme"
  generated="${body[$plugin]}"
  generated="${generated%$'\n\n'}"
  awk -v b="$begin" -v e="$end" -v body="$generated" '
    $0 == b { print; inside = 1; next }
    $0 == e { if (inside) { print body } inside = 0; print; next }
    !inside { print }' "$readme" > "$readme.tmp"
  mv "$readme.tmp" "$readme"
  echo "updated $readme"
done
