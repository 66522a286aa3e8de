#!/usr/bin/env bash
# Usage: scripts/bench-broker.sh [-d DURATION] [-w WARMUP]
#
# Compares `mqtool serve` with mosquitto on this machine: builds mqtool,
# starts both brokers on free loopback ports (mosquitto with its own config
# in a temporary directory), runs the same `mqtool bench` loads against each
# and prints the results side by side:
#   pair     4 publishers -> 4 subscribers, QoS 0/1/2, 64 B, as fast as the
#            inflight window allows (QoS 0: as fast as the client can write)
#   fan-out  1 publisher -> 50 subscribers, QoS 0/1/2, 64 B, as fast as allowed
#   20k      4 -> 4 at a fixed 20,000 msg/s in total: latency at a set load
# Each run measures DURATION (default 3s) after WARMUP (default 1s).
# The bench cpu column is mqtool bench's own CPU use, broker cpu the
# broker's over the same run (100% = one core; from /proc, "-" without it),
# so you can see which of the two is the limit: mosquitto runs on one
# thread, so near 100% it is. bench runs with its default --procs, half the
# CPUs against a broker on this machine.
#
# mosquitto is $MOSQUITTO if set, else mosquitto on PATH or /usr/sbin/mosquitto.
# mosquitto gets set_tcp_nodelay true: mqtool serve (like every Go server)
# disables Nagle's algorithm, and with it on mosquitto's latency is mostly
# the 40 ms delayed-ACK interplay, not its own work. Both brokers queue
# without limit (max_queued_messages 0, --max-queued-messages 0): with the
# default of 1000 a broker that acknowledges faster than its subscribers
# read drops QoS 1/2 messages by policy, which bench reports as loss; here
# any loss is a bug.
# Needs go, jq and mosquitto. Exits non-zero when a run fails (unreachable
# broker, loss at QoS 1/2, duplicates at QoS 2) or a broker dies.
set -euo pipefail

usage() { echo "usage: $0 [-d DURATION] [-w WARMUP]" >&2; }
dur=3s warm=1s
while [ $# -gt 0 ]; do
  case $1 in
    -d) [ $# -ge 2 ] || { usage; exit 2; }; dur=$2; shift 2 ;;
    -w) [ $# -ge 2 ] || { usage; exit 2; }; warm=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage; exit 2 ;;
  esac
done

fail() { echo "bench-broker: FAIL: $*" >&2; exit 1; }
say() { echo "bench-broker: $*" >&2; }

command -v go >/dev/null || fail "go not found"
command -v jq >/dev/null || fail "jq not found"
mosquitto=${MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
[ -x "$mosquitto" ] || fail "mosquitto not found; set MOSQUITTO=path/to/mosquitto"

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

# wait_port PORT SECONDS PID: poll until 127.0.0.1:PORT accepts.
wait_port() {
  local port=$1 deadline=$((SECONDS + $2)) pid=$3
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# free_port: a loopback TCP port nothing listens on.
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

repo=$(cd "$(dirname "$0")/.." && pwd)
say "building mqtool from $repo"
"$repo/scripts/build.sh" "$work/mqtool" || fail "scripts/build.sh"
mqtool=$work/mqtool

"$mqtool" serve --listen 127.0.0.1:0 --max-queued-messages 0 >"$work/serve.out" 2>"$work/serve.err" &
pids+=($!)
serve_pid=$!
ready='^mqtool: listening on mqtt://127\.0\.0\.1:[0-9]+$'
wait_for "$work/serve.err" "$ready" 10 "$serve_pid" ||
  fail "no ready line from mqtool serve within 10s: $(cat "$work/serve.err")"
serve_port=$(grep -Em1 "$ready" "$work/serve.err" | sed 's/.*://')

mosq_port=$(free_port) || fail "no free port for mosquitto"
cat >"$work/mosquitto.conf" <<EOF
listener $mosq_port 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
max_queued_messages 0
EOF
"$mosquitto" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
mosq_pid=$!
wait_port "$mosq_port" 10 "$mosq_pid" ||
  fail "mosquitto did not listen on $mosq_port within 10s: $(cat "$work/mosquitto.log")"
say "mqtool serve on 127.0.0.1:$serve_port, $("$mosquitto" -h 2>&1 | head -1 | sed 's/ version//') on 127.0.0.1:$mosq_port"

loads=(pair fan-out 20k)
declare -A load_args=(
  [pair]="--publishers 4 --subscribers 4 --pattern pair --rate 0"
  [fan-out]="--publishers 1 --subscribers 50 --pattern fan-out --rate 0"
  [20k]="--publishers 4 --subscribers 4 --pattern pair --rate 20000"
)
declare -A load_title=(
  [pair]="4 publishers -> 4 subscribers, 64 B, as fast as the inflight window allows"
  [fan-out]="fan-out 1 publisher -> 50 subscribers, 64 B, as fast as allowed"
  [20k]="4 -> 4 at a fixed 20,000 msg/s in total, 64 B"
)
brokers=(mqtool mosquitto)
declare -A broker_port=([mqtool]=$serve_port [mosquitto]=$mosq_port)
declare -A broker_pid=([mqtool]=$serve_pid [mosquitto]=$mosq_pid)

# cpu_ticks PID: the process's user+system CPU time in clock ticks, or
# nothing without /proc.
cpu_ticks() {
  [ -r "/proc/$1/stat" ] || return 0
  # Fields after the parenthesised command name; utime and stime are 14 and 15.
  sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)

failed=0
for load in "${loads[@]}"; do
  for b in "${brokers[@]}"; do
    for q in 0 1 2; do
      say "$load against $b, qos $q"
      run=$work/$load-$b-q$q
      t0=$(cpu_ticks "${broker_pid[$b]}") w0=$(date +%s%N)
      # shellcheck disable=SC2086 # load_args holds several flags
      if ! "$mqtool" bench -h 127.0.0.1 -p "${broker_port[$b]}" -q "$q" --size 64 \
        --duration "$dur" --warmup "$warm" ${load_args[$load]} --color never \
        --json "$run.json" >"$run.txt" 2>"$run.err"; then
        say "$load against $b, qos $q failed: $(cat "$run.err")"
        failed=1
      fi
      t1=$(cpu_ticks "${broker_pid[$b]}") w1=$(date +%s%N)
      if [ -n "$t0" ] && [ -n "$t1" ]; then
        echo $(((t1 - t0) * 100 * 1000000000 / hz / (w1 - w0)))% >"$run.bcpu"
      else
        echo - >"$run.bcpu"
      fi
      kill -0 "${broker_pid[$b]}" 2>/dev/null || fail "$b died during $load"
    done
  done
done

# One line per broker and QoS; latencies from the intended send time.
jq_row='
  def lat: if . == null or . == 0 then "-" elif . < 1000 then "\(.)us"
           elif . < 1000000 then "\((. / 10 | round) / 100)ms" else "\((. / 10000 | round) / 100)s" end;
  def k: if . >= 10000 then "\((. / 100 | round) / 10)k" else "\(. | round)" end;
  .runs[] | [$b, .qos, (.sent_per_s | k), (.received_per_s | k), .lost, .dup,
             (.e2e.p50_us | lat), (.e2e.p99_us | lat), (.e2e.p99_9_us | lat), (.e2e.max_us | lat),
             (.ack.p50_us | lat), (.ack.p99_us | lat), .late, "\(.cpu.percent | round)%", $bcpu] | @tsv'
for load in "${loads[@]}"; do
  echo
  echo "== ${load_title[$load]} (${dur} after ${warm} warm-up)"
  {
    printf 'broker\tqos\tsent/s\trecv/s\tlost\tdup\te2e p50\te2e p99\te2e p99.9\te2e max\tack p50\tack p99\tlate\tbench cpu\tbroker cpu\n'
    for q in 0 1 2; do
      for b in "${brokers[@]}"; do
        run=$work/$load-$b-q$q
        [ -s "$run.json" ] || { printf '%s\t%s\t(no result)\n' "$b" "$q"; continue; }
        jq -r --arg b "$b" --arg bcpu "$(cat "$run.bcpu")" "$jq_row" "$run.json"
      done
    done
  } | column -t -s $'\t'
done

[ "$failed" -eq 0 ] || fail "some runs failed (see above)"
