#!/usr/bin/env bash
# Usage: scripts/bench-idle.sh [-n CONNECTIONS] [-l KB] [-H HOLD]
#
# Measures what an idle connection costs `mqtool serve` in resident memory:
# builds mqtool, starts `mqtool serve --listen 127.0.0.1:0` (its port read
# from the ready line), reads the broker's VmRSS from /proc/PID/status, then
# opens CONNECTIONS (default 10000) idle MQTT 3.1.1 connections with
# `mqtool bench conn --clients N --hold HOLD` (default hold 20s), reads VmRSS
# again once the hold has started and the figure has settled, and prints
# the difference per connection in KB (1 KB = 1024 bytes).
# Exits non-zero when a connection fails or drops, or when the cost is above
# KB per connection (-l, default 8). Raises `ulimit -n` as far as the hard
# limit allows; both the broker and bench need CONNECTIONS descriptors.
# Linux only (reads /proc). Needs go.
set -euo pipefail

usage() { echo "usage: $0 [-n CONNECTIONS] [-l KB] [-H HOLD]" >&2; }
n=10000 limit=8 hold=20s
while [ $# -gt 0 ]; do
  case $1 in
    -n) [ $# -ge 2 ] || { usage; exit 2; }; n=$2; shift 2 ;;
    -l) [ $# -ge 2 ] || { usage; exit 2; }; limit=$2; shift 2 ;;
    -H) [ $# -ge 2 ] || { usage; exit 2; }; hold=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage; exit 2 ;;
  esac
done
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench-idle: -n wants a positive number, not $n" >&2; usage; exit 2; }
[[ $limit =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "bench-idle: -l wants a number of KB, not $limit" >&2; usage; exit 2; }

fail() { echo "bench-idle: FAIL: $*" >&2; exit 1; }
say() { echo "bench-idle: $*" >&2; }

[ -r /proc/self/status ] || fail "no /proc: Linux only"
command -v go >/dev/null || fail "go not found"

# Descriptors: the connections plus some for the runtime, stdio and listeners.
want=$((n + 100))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
    fail "need $want file descriptors, hard limit is $hard (raise it, or use -n)"
  fi
  ulimit -n "$want" || fail "ulimit -n $want"
fi
ports=$(awk '{print $2 - $1 + 1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 28232)
[ "$n" -lt "$ports" ] || fail "$n connections need more than the $ports local ports in ip_local_port_range"

work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# wait_for FILE REGEX SECONDS PID: poll FILE until a line matches REGEX.
wait_for() {
  local file=$1 re=$2 deadline=$((SECONDS + $3)) pid=$4
  until grep -Eq "$re" "$file" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# rss PID: resident set size in kB (VmRSS).
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

repo=$(cd "$(dirname "$0")/.." && pwd)
say "building mqtool from $repo"
"$repo/scripts/build.sh" "$work/mqtool" || fail "scripts/build.sh"
mqtool=$work/mqtool

"$mqtool" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
pids+=($!)
serve_pid=$!
ready='^mqtool: listening on mqtt://127\.0\.0\.1:[0-9]+$'
wait_for "$work/serve.err" "$ready" 10 "$serve_pid" ||
  fail "no ready line from mqtool serve within 10s: $(cat "$work/serve.err")"
port=$(grep -Em1 "$ready" "$work/serve.err" | sed 's/.*://')

sleep 0.5 # let the broker's start-up allocations settle
before=$(rss "$serve_pid")
say "mqtool serve (pid $serve_pid) on 127.0.0.1:$port: VmRSS $before kB before"

"$mqtool" bench conn -h 127.0.0.1 -p "$port" -V 311 --clients "$n" --hold "$hold" \
  --color never --json "$work/conn.json" >"$work/conn.out" 2>"$work/conn.err" &
pids+=($!)
bench_pid=$!
holding='^mqtool bench conn: holding [0-9]+ connections'
if ! wait_for "$work/conn.err" "$holding" 300 "$bench_pid"; then
  code=0
  wait "$bench_pid" || code=$?
  fail "bench conn exited $code before holding: $(cat "$work/conn.err") $(cat "$work/conn.out")"
fi
# Sample until two readings half a second apart agree within 1%, at most 10s.
with=$(rss "$serve_pid")
for _ in $(seq 20); do
  sleep 0.5
  next=$(rss "$serve_pid")
  if [ $(((next > with ? next - with : with - next) * 100)) -le "$with" ]; then
    with=$next
    break
  fi
  with=$next
done
held=$(grep -Em1 "$holding" "$work/conn.err" | awk '{print $5}')
code=0
wait "$bench_pid" || code=$?
[ "$code" -eq 0 ] || fail "bench conn exited $code: $(cat "$work/conn.err") $(cat "$work/conn.out")"
kill -0 "$serve_pid" 2>/dev/null || fail "mqtool serve died"

per=$(awk -v a="$before" -v b="$with" -v n="$held" 'BEGIN {printf "%.2f", (b - a) / n}')
echo "$("$mqtool" version); $(nproc) CPUs"
echo "mqtool serve VmRSS: $before kB before, $with kB with $held idle connections"
echo "per connection: $per KB (limit $limit KB)"
sed 's/^/bench conn: /' "$work/conn.out"
awk -v p="$per" -v l="$limit" 'BEGIN {exit !(p <= l)}' || fail "$per KB per connection is above the limit of $limit KB"
