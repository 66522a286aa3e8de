#!/usr/bin/env bash
# Usage: [MQTOOL=path/to/mqtool] scripts/smoke.sh
#
# CI smoke test: starts `mqtool serve` on a free loopback port, waits for its
# ready line, then round-trips one message at QoS 0, 1 and 2 with
# `mqtool sub -C 1 -W 10` and `mqtool pub`, and checks the payload.
# Exits non-zero on any failure; the broker is stopped on exit.
#
# mqtool is $MQTOOL if set, else built from the checkout this script is in
# (when there is one and go is installed), else `mqtool` on PATH.
# Copy it into your CI as it is; only bash, sed and grep are needed.
set -euo pipefail

usage() { echo "usage: [MQTOOL=path/to/mqtool] $0" >&2; }
case ${1-} in
  "") ;;
  -h|--help) usage; exit 0 ;;
  *) usage; exit 2 ;;
esac

work=$(mktemp -d)
broker='' sub=''
cleanup() {
  local p
  for p in $sub $broker; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
say() { echo "smoke: $*" >&2; }

# wait_for FILE REGEX SECONDS PID: poll FILE until a line matches REGEX,
# failing when PID exits first or the deadline passes.
wait_for() {
  local file=$1 re=$2 deadline=$((SECONDS + $3)) pid=$4
  until grep -Eq "$re" "$file" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { sleep 0.1; grep -Eq "$re" "$file" && return 0; return 1; }
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${MQTOOL:-}" ]; then
  mqtool=$MQTOOL
elif [ -f "$repo/go.mod" ] && grep -q '^module github.com/mqtool/mqtool$' "$repo/go.mod" && command -v go >/dev/null; then
  say "building mqtool from $repo"
  "$repo/scripts/build.sh" "$work/mqtool" || fail "scripts/build.sh"
  mqtool=$work/mqtool
elif command -v mqtool >/dev/null; then
  mqtool=$(command -v mqtool)
else
  fail "no mqtool: set MQTOOL=path or put mqtool on PATH"
fi
"$mqtool" version >/dev/null || fail "$mqtool version"

# The broker, on a port the kernel picks; its ready line names the port.
"$mqtool" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
broker=$!
ready='^mqtool: listening on mqtt://127\.0\.0\.1:[0-9]+$'
wait_for "$work/serve.err" "$ready" 10 "$broker" ||
  fail "no ready line from mqtool serve within 10s; its stderr:
$(cat "$work/serve.err")"
port=$(grep -Em1 "$ready" "$work/serve.err" | sed 's/.*://')
say "broker ready on 127.0.0.1:$port"

for qos in 0 1 2; do
  topic="smoke/$$/qos$qos"
  payload="hello at qos $qos from $$"
  # -d traces packets on stderr: publish only once the SUBACK is in, so a
  # QoS 0 message cannot be lost to the race.
  "$mqtool" sub -h 127.0.0.1 -p "$port" -t "$topic" -q "$qos" -C 1 -W 10 -d \
    >"$work/sub$qos.out" 2>"$work/sub$qos.err" &
  sub=$!
  wait_for "$work/sub$qos.err" 'SUBACK' 10 "$sub" ||
    fail "qos $qos: no SUBACK for mqtool sub within 10s; its stderr:
$(cat "$work/sub$qos.err")"
  "$mqtool" pub -h 127.0.0.1 -p "$port" -t "$topic" -m "$payload" -q "$qos" ||
    fail "qos $qos: mqtool pub exited $?"
  code=0
  wait "$sub" || code=$?
  sub=''
  [ "$code" -eq 0 ] || fail "qos $qos: mqtool sub exited $code (27 is its -W timeout); its stderr:
$(cat "$work/sub$qos.err")"
  got=$(cat "$work/sub$qos.out")
  [ "$got" = "$payload" ] || fail "qos $qos: received '$got', want '$payload'"
  say "qos $qos: ok"
done

kill -0 "$broker" 2>/dev/null || fail "mqtool serve died; its stderr:
$(cat "$work/serve.err")"
say "PASS"
