#!/usr/bin/env bash
# Usage: scripts/build.sh [OUTPUT]    (default OUTPUT: ./mqtool)
#
# Builds the release binary. Every flag here is about start-up time, which
# is most of a one-shot command's run (`mqtool pub -m x` takes a few
# milliseconds in all):
#   CGO_ENABLED=0             a static binary: no dynamic loader and libc to map
#                             at each start (the pure-Go resolver reads
#                             /etc/hosts and resolv.conf as libc does)
#   -tags urfave_cli_no_docs  leaves out urfave/cli's Markdown and man page
#                             writers, whose dependency (blackfriday) builds
#                             tables at init; `mqtool man` has its own writer
#   -trimpath -ldflags -s -w  a smaller file without symbol tables
# The version comes from `git describe` when this is a git checkout.
set -euo pipefail
out=${1:-mqtool}
repo=$(cd "$(dirname "$0")/.." && pwd)
version=$(git -C "$repo" describe --tags --always --dirty 2>/dev/null || echo dev)
cd "$repo"
CGO_ENABLED=0 go build -tags urfave_cli_no_docs -trimpath \
  -ldflags "-s -w -X github.com/mqtool/mqtool/commands.Version=$version" -o "$out" .
