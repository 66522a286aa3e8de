#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [seconds-per-target]   (default 20)
# Runs every Fuzz* target in the module for a bounded time each.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
case "$secs" in ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2; exit 2;; esac
found=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    found=1
    echo "fuzz: $pkg $target for ${secs}s"
    # Minimizing each new interesting input may take up to a minute by
    # default, showing "0/sec" meanwhile; a short budget keeps the time for
    # exploring (crashers are still minimized, briefly).
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="${secs}s" -fuzzminimizetime=2s "$pkg"
  done
done
[ "$found" = 1 ] || { echo "fuzz.sh: no fuzz targets found" >&2; exit 1; }
