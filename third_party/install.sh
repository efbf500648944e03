#!/usr/bin/env bash
# Installs the Debian packages listed in debian-packages.txt that are missing,
# and the browser test's npm package (tests/browser).
# Idempotent: a machine that already has them all is left untouched and
# nothing is downloaded.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/debian-packages.txt")

missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "third_party: all ${#wanted[@]} Debian packages present"
else
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  echo "third_party: installing ${#missing[@]} missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The browser test's driver (playwright-core, pinned in tests/browser/package-lock.json),
# from the npm registry; it drives Debian's chromium. Without it that one test skips.
browser="$here/../tests/browser"
if [[ -f "$browser/node_modules/.package-lock.json" && "$browser/node_modules/.package-lock.json" -nt "$browser/package-lock.json" ]]; then
  echo "third_party: tests/browser/node_modules present"
elif command -v npm >/dev/null; then
  npm ci --prefix "$browser" --no-audit --no-fund --loglevel=error ||
    echo "third_party: warning: npm ci failed in tests/browser; the browser test will skip"
else
  echo "third_party: warning: no npm; the browser test will skip"
fi
