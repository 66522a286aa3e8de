#!/usr/bin/env bash
# Usage: scripts/generate.sh
# Regenerates the files made from mqtool's command definitions:
# completions/mqtool.{bash,zsh,fish,ps1} and docs/mqtool.1.
# commands' tests fail when these differ from what the binary prints.
set -euo pipefail
if [ $# -ne 0 ]; then
  echo "usage: scripts/generate.sh" >&2
  exit 2
fi
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/mqtool" .

mkdir -p completions docs
for pair in bash:bash zsh:zsh fish:fish powershell:ps1; do
  shell=${pair%%:*} ext=${pair#*:}
  "$tmp/mqtool" completion "$shell" > "$tmp/mqtool.$ext"
  mv "$tmp/mqtool.$ext" "completions/mqtool.$ext"
done
"$tmp/mqtool" man > "$tmp/mqtool.1"
mv "$tmp/mqtool.1" docs/mqtool.1
echo "generate.sh: wrote completions/mqtool.{bash,zsh,fish,ps1} and docs/mqtool.1"
