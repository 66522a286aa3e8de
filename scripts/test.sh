#!/usr/bin/env bash
# Usage: scripts/test.sh
# Runs the whole test suite: gofmt, go vet, the dependency-direction check,
# go test -race, and (with MQTOOL_FUZZ_SECONDS > 0) each fuzz target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "test.sh: $*" >&2; exit 1; }

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
[ -z "$unformatted" ] || fail "gofmt needed on: $unformatted"

go vet ./...

# packet imports only the standard library.
nonstd=$(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./packet | grep -v '^github.com/mqtool/mqtool/packet$' || true)
[ -z "$nonstd" ] || fail "packet imports non-standard packages: $nonstd"
# Nothing but main imports commands.
for pkg in $(go list ./... | grep -v '^github.com/mqtool/mqtool$' | grep -v '/commands$'); do
  if go list -deps "$pkg" | grep -qx 'github.com/mqtool/mqtool/commands'; then
    fail "$pkg imports commands"
  fi
done

# The release build (scripts/build.sh: static, no urfave/cli docs) compiles.
scripts/build.sh "$(mktemp -d)/mqtool"

go test -race -count=1 -timeout 8m ./...

if [ "${MQTOOL_FUZZ_SECONDS:-0}" != 0 ]; then
  scripts/fuzz.sh "${MQTOOL_FUZZ_SECONDS}"
fi
