#!/usr/bin/env bash
# Usage: [MQTOOL=path/to/mqtool] scripts/bench-clients.sh [-n MESSAGES] [-r RUNS] [-c COLD_RUNS]
#
# Compares mqtool's clients with mosquitto's, side by side, against one
# mosquitto broker started on a free loopback port with its own config:
#
#   drain    a backlog of MESSAGES QoS 0 messages queued for a persistent
#            session, received with `sub -C MESSAGES > /dev/null`
#            (mqtool sub vs mosquitto_sub): messages per second
#   pub -l   MESSAGES stdin lines published with `pub -l` at QoS 0
#            (mqtool pub vs mosquitto_pub), a mosquitto_sub checking that
#            all arrive: messages per second until the publisher exits,
#            and until the checker has every message
#   (both)   the client's CPU time (user + system, from bash's `time`): with
#            the broker as the limit, rates tie and CPU tells the clients apart
#   cold     one `pub -m x`: start, connect, publish, disconnect, exit
#            (hyperfine when installed, else a loop timed with date +%s%N)
#
# The drain and pub -l figures are the median of RUNS runs (default 3), the
# cold figure the median of COLD_RUNS runs (default 100, rounded up to tens)
# of each tool, taking turns. Exits non-zero on any
# failure (a tool missing, a client failing, a message lost).
set -euo pipefail

usage() { echo "usage: [MQTOOL=path/to/mqtool] $0 [-n MESSAGES] [-r RUNS] [-c COLD_RUNS]" >&2; }
messages=500000 runs=3 cold_runs=100
while [ $# -gt 0 ]; do
  case $1 in
    -n) [ $# -ge 2 ] || { usage; exit 2; }; messages=$2; shift 2 ;;
    -r) [ $# -ge 2 ] || { usage; exit 2; }; runs=$2; shift 2 ;;
    -c) [ $# -ge 2 ] || { usage; exit 2; }; cold_runs=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage; exit 2 ;;
  esac
done
for v in "$messages" "$runs" "$cold_runs"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench-clients: not a positive number: $v" >&2; usage; exit 2; }
done

fail() { echo "bench-clients: FAIL: $*" >&2; exit 1; }
say() { echo "bench-clients: $*" >&2; }

work=$(mktemp -d)
broker='' bg=''
cleanup() {
  local p
  for p in $bg $broker; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$mosquitto" ] || fail "mosquitto not found (apt-get install mosquitto)"
for tool in mosquitto_sub mosquitto_pub; do
  command -v "$tool" >/dev/null || fail "$tool not found (apt-get install mosquitto-clients)"
done

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

now() { date +%s%N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown; }
load_start=$(loadavg)

# start_broker finds a free port by trying random ones until mosquitto
# listens there and stays up. It sets port and broker.
start_broker() {
  local try deadline
  for try in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 40000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
    printf '%s\n' "listener $port 127.0.0.1" "allow_anonymous true" "persistence false" \
      "max_queued_messages 0" "max_queued_bytes 0" "queue_qos0_messages true" >"$work/mosquitto.conf"
    "$mosquitto" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
    broker=$!
    deadline=$((SECONDS + 5))
    while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$broker" 2>/dev/null; do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        return 0
      fi
      sleep 0.05
    done
    kill "$broker" 2>/dev/null || true
    wait "$broker" 2>/dev/null || true
    broker=''
  done
  return 1
}
start_broker || fail "could not start mosquitto on a free port: $(cat "$work/mosquitto.log" 2>/dev/null)"
say "mosquitto $("$mosquitto" -h 2>/dev/null | sed -n '1s/.*version //p') on 127.0.0.1:$port"

conn=(-h 127.0.0.1 -p "$port")
seq -f 'message %.0f' 1 "$messages" >"$work/lines"
payloads="$(head -n1 "$work/lines" | tr -d '\n' | wc -c)-$(tail -n1 "$work/lines" | tr -d '\n' | wc -c)"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rate() { awk -v n="$messages" -v ns="$1" 'BEGIN {printf "%.0f", n / (ns / 1e9)}'; }

# cpu FILE: the user + system CPU seconds that bash's `time` wrote to FILE
# (TIMEFORMAT='%U %S').
cpu() { awk '{printf "%.2f", $1 + $2}' "$1"; }
TIMEFORMAT='%U %S'

# drain SUB: one run of the drain test; prints the elapsed nanoseconds and
# the client's CPU seconds.
drain() {
  local sub=$1 name id topic t0 t1 code=0
  name=$(basename "$sub")
  id="bench-drain-$name-$$" topic="bench/drain/$name/$$"
  "$sub" "${conn[@]}" -q 0 -c -i "$id" -t "$topic" -E >/dev/null ||
    fail "$name -c -E (creating the session) failed"
  mosquitto_pub "${conn[@]}" -q 0 -t "$topic" -l <"$work/lines" || fail "mosquitto_pub -l (the backlog) failed"
  t0=$(now)
  { time "$sub" "${conn[@]}" -q 0 -c -i "$id" -t "$topic" -C "$messages" -W 300 >/dev/null 2>"$work/client.err" || code=$?; } 2>"$work/time"
  t1=$(now)
  [ "$code" -eq 0 ] || fail "$name -C $messages exited $code (27: timed out, messages lost): $(cat "$work/client.err")"
  echo "$((t1 - t0)) $(cpu "$work/time")"
}

# publines PUB: one run of the pub -l test; prints the nanoseconds until the
# publisher exited, the nanoseconds until a checking mosquitto_sub had
# received every message, and the publisher's CPU seconds. The
# checker's session and subscription exist before the publisher starts, so
# it cannot miss a message however late it connects.
publines() {
  local pub=$1 name id topic t0 t1 t2 code=0
  name=$(basename "$pub")
  id="bench-check-$name-$$" topic="bench/lines/$name/$$"
  mosquitto_sub "${conn[@]}" -q 0 -c -i "$id" -t "$topic" -E >/dev/null ||
    fail "mosquitto_sub -c -E (creating the checker's session) failed"
  mosquitto_sub "${conn[@]}" -q 0 -c -i "$id" -t "$topic" -C "$messages" -W 300 >/dev/null &
  bg=$!
  t0=$(now)
  { time "$pub" "${conn[@]}" -q 0 -t "$topic" -l <"$work/lines" 2>"$work/client.err" || code=$?; } 2>"$work/time"
  t1=$(now)
  [ "$code" -eq 0 ] || fail "$name -l exited $code: $(cat "$work/client.err")"
  wait "$bg" || code=$?
  t2=$(now)
  bg=''
  [ "$code" -eq 0 ] || fail "$name -l: the checking mosquitto_sub did not get all $messages messages (exit $code)"
  echo "$((t1 - t0)) $((t2 - t0)) $(cpu "$work/time")"
}

# mqtool's clients are "mqtool sub" and "mqtool pub": wrap them so that both
# tools take the same arguments.
printf '#!/bin/sh\nexec "%s" sub "$@"\n' "$mqtool" >"$work/mqtool_sub"
printf '#!/bin/sh\nexec "%s" pub "$@"\n' "$mqtool" >"$work/mqtool_pub"
chmod +x "$work/mqtool_sub" "$work/mqtool_pub"

declare -A result
for tool in mqtool mosquitto; do
  if [ "$tool" = mqtool ]; then
    sub=$work/mqtool_sub pub=$work/mqtool_pub
  else
    sub=mosquitto_sub pub=mosquitto_pub
  fi
  say "$tool: drain, $runs runs"
  : >"$work/ns"
  for _ in $(seq "$runs"); do drain "$sub" >>"$work/ns"; done
  result[drain,$tool]=$(rate "$(cut -d' ' -f1 "$work/ns" | median)")
  result[draincpu,$tool]=$(cut -d' ' -f2 "$work/ns" | median)
  say "$tool: pub -l, $runs runs"
  : >"$work/ns"
  for _ in $(seq "$runs"); do publines "$pub" >>"$work/ns"; done
  result[lines,$tool]=$(rate "$(cut -d' ' -f1 "$work/ns" | median)")
  result[delivered,$tool]=$(rate "$(cut -d' ' -f2 "$work/ns" | median)")
  result[linescpu,$tool]=$(cut -d' ' -f3 "$work/ns" | median)
done

# Cold start: the binaries themselves, not the wrappers (a sh exec would
# add to the time).
cold_mq=("$mqtool" pub "${conn[@]}" -t bench/cold -m x)
cold_mo=(mosquitto_pub "${conn[@]}" -t bench/cold -m x)
# The two tools take turns, in rounds of 10 runs whose order alternates, so
# that a machine that speeds up or slows down during the test (a shared
# virtual machine does) weighs on both alike. Each line of cold.times is
# "TOOL MILLISECONDS".
: >"$work/cold.times"
rounds=$(((cold_runs + 9) / 10))
if command -v hyperfine >/dev/null && command -v jq >/dev/null; then
  say "cold pub -m x: hyperfine, $rounds alternating rounds of 10 runs each"
  for r in $(seq "$rounds"); do
    if [ $((r % 2)) -eq 1 ]; then
      order=(-n mqtool "${cold_mq[*]}" -n mosquitto "${cold_mo[*]}")
    else
      order=(-n mosquitto "${cold_mo[*]}" -n mqtool "${cold_mq[*]}")
    fi
    hyperfine -N --warmup 2 --runs 10 --style none --export-json "$work/cold.json" "${order[@]}" \
      >/dev/null 2>"$work/hyperfine.err" || fail "hyperfine: $(cat "$work/hyperfine.err")"
    jq -r '.results[] | .command as $c | .times[] | "\($c) \(. * 1000)"' "$work/cold.json" >>"$work/cold.times"
  done
  cold_how="hyperfine -N, $((rounds * 10)) runs"
else
  say "cold pub -m x: date +%s%N, $((rounds * 10)) runs each, taking turns"
  # cold NAME CMD...: appends one timed run of CMD to cold.times.
  cold() {
    local name=$1 t0 t1
    shift
    t0=$(now)
    "$@" || fail "$* exited $?"
    t1=$(now)
    echo "$name $(awk -v ns=$((t1 - t0)) 'BEGIN {print ns / 1e6}')" >>"$work/cold.times"
  }
  for _ in $(seq $((rounds * 10))); do
    cold mqtool "${cold_mq[@]}"
    cold mosquitto "${cold_mo[@]}"
  done
  cold_how="date +%s%N, $((rounds * 10)) runs"
fi
# coldstat TOOL: "MEDIAN MEAN SD" of TOOL's runs, in ms.
coldstat() {
  awk -v t="$1" '$1 == t {print $2}' "$work/cold.times" | sort -g |
    awk '{x[NR] = $1; s += $1; q += $1 * $1} END {if (NR) {m = s / NR; printf "%.2f %.2f %.2f", x[int((NR + 1) / 2)], m, sqrt(q / NR - m * m)}}'
}
for tool in mqtool mosquitto; do
  read -r med mean sd <<<"$(coldstat "$tool")"
  result[cold,$tool]=$med
  result[coldmean,$tool]="$mean ± $sd"
done
[ -n "${result[cold,mqtool]}" ] && [ -n "${result[cold,mosquitto]}" ] || fail "no cold start figures"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
row() { printf '%-46s %16s %16s %12s\n' "$@"; }
echo
echo "$("$mqtool" version) vs mosquitto clients $(mosquitto_pub --help 2>/dev/null | sed -n 's/^mosquitto_pub version \([^ ]*\).*/\1/p' || true)"
echo "broker: mosquitto on 127.0.0.1:$port; $(nproc) CPUs; load average $load_start before, $(loadavg) after"
echo "$messages messages, payloads \"message N\" of $payloads bytes, QoS 0, MQTT 3.1.1"
row "test" "mqtool" "mosquitto" "mqtool speed"
row "sub -C $messages drain, msg/s (median of $runs)" \
  "${result[drain,mqtool]}" "${result[drain,mosquitto]}" "$(ratio "${result[drain,mqtool]}" "${result[drain,mosquitto]}")"
row "  client CPU, s (user + system, median)" \
  "${result[draincpu,mqtool]}" "${result[draincpu,mosquitto]}" "$(ratio "${result[draincpu,mosquitto]}" "${result[draincpu,mqtool]}")"
row "pub -l $messages lines, msg/s (median of $runs)" \
  "${result[lines,mqtool]}" "${result[lines,mosquitto]}" "$(ratio "${result[lines,mqtool]}" "${result[lines,mosquitto]}")"
row "  delivered to the checking sub, msg/s" \
  "${result[delivered,mqtool]}" "${result[delivered,mosquitto]}" "$(ratio "${result[delivered,mqtool]}" "${result[delivered,mosquitto]}")"
row "  client CPU, s (user + system, median)" \
  "${result[linescpu,mqtool]}" "${result[linescpu,mosquitto]}" "$(ratio "${result[linescpu,mosquitto]}" "${result[linescpu,mqtool]}")"
row "pub -m x cold, ms (median, $cold_how)" \
  "${result[cold,mqtool]}" "${result[cold,mosquitto]}" "$(ratio "${result[cold,mosquitto]}" "${result[cold,mqtool]}")"
row "  mean ± sd, ms" "${result[coldmean,mqtool]}" "${result[coldmean,mosquitto]}" ""
echo "(msg/s: higher is better; ms: lower is better; mqtool speed is mqtool's speed over mosquitto's: > 1x is faster)"
