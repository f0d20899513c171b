#!/usr/bin/env bash
# Shared usage-plan counters (#18): throughput of two Tollgate instances with
# their counters in Redis (`--counters redis://…`) against the same two with
# embedded counters, in one command, and Redis round trips per request.
# Modes: embedded, redis (grants on, the default), redis-nogrant
# (`--counters-grant 1`: every request asks Redis).
#
#   bench/redis_counters.sh            # builds release binaries first
#   SKIP_BUILD=1 DURATION=10s KEYS=1000 ROUNDS=2 bench/redis_counters.sh
#
# Set-up: one multitalk-upstream; one Tollgate configured with the aws CLI
# (an API whose ANY /{proxy+} requires a key, HTTP_PROXY to the upstream's
# /bench; one usage plan with throttle and quota far above what wrk sends;
# KEYS keys made by bench/make_keys.py), then stopped and its data directory
# copied, so that two instances serve the same configuration (same ids, so
# the same Redis keys). Each mode starts both instances and drives them with
# two wrk processes at once, one per instance (load spread evenly, each
# request with a key picked at random from KEYS). Redis is a private
# redis-server on a free port, so its INFO commandstats count only this
# benchmark's commands.
#
# Every run is printed with its status counts (keys.lua + statuses.lua): a run
# with less than 99 % 2xx is reported as invalid, not as a figure. The modes
# alternate order between rounds. The machine may be shared: the 1-minute load
# average is printed with every run, and figures taken under load are
# disturbed.
#
# Environment: DURATION (10s), WARMUP (2s), CONNECTIONS per wrk (16),
# THREADS per wrk (1), KEYS (1000), ROUNDS (2), MODES ("embedded redis
# redis-nogrant"; reversed on even rounds), SKIP_BUILD=1, KEEP_WORK=1.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}
KEYS=${KEYS:-1000}
ROUNDS=${ROUNDS:-2}
MODES=${MODES:-"embedded redis redis-nogrant"}
SKIP_BUILD=${SKIP_BUILD:-0}
BIG=100000000
MIN_OK_PCT=99

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
TOLLGATE_BIN=$TARGET_DIR/release/tollgate
UPSTREAM_BIN=$TARGET_DIR/release/multitalk-upstream

LOG_PREFIX=redis-bench
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-redis-bench.XXXXXX")
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

PIDS=()
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ $KEYS =~ ^[0-9]+$ ]] && [ "$KEYS" -ge 1 ] || die "KEYS must be a number >= 1"
[[ $ROUNDS =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 1 ] || die "ROUNDS must be a number >= 1"

need_apt=()
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
install_debian "${need_apt[@]}"
ensure_aws_cli
pip_install boto3 boto3

if [ "$SKIP_BUILD" != 1 ]; then
  log "building release binaries"
  (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --locked -q -p tollgate -p multitalk-upstream) \
    || die "cargo build failed"
fi
[ -x "$TOLLGATE_BIN" ] || die "$TOLLGATE_BIN missing (SKIP_BUILD=1 without a release build?)"
[ -x "$UPSTREAM_BIN" ] || die "$UPSTREAM_BIN missing"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_for_line() {
  local file=$1 regex=$2 pid=$3 what=$4 line
  for _ in $(seq 1 300); do
    line=$(grep -m1 -E "$regex" "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then printf '%s\n' "$line"; return 0; fi
    kill -0 "$pid" 2>/dev/null || { cat "$file" "$file.err" >&2 2>/dev/null || true; die "$what exited before it was ready"; }
    sleep 0.1
  done
  die "$what not ready after 30 s"
}
load1() { cut -d' ' -f1 /proc/loadavg; }

log "starting multitalk-upstream"
RUST_LOG=warn "$UPSTREAM_BIN" --listen 127.0.0.1:0 >"$WORK/upstream.out" 2>"$WORK/upstream.out.err" &
PIDS+=($!)
line=$(wait_for_line "$WORK/upstream.out" 'listening on http://' "${PIDS[-1]}" multitalk-upstream)
UP_ADDR=${line##*http://}
UP_ADDR=${UP_ADDR%%[^0-9.:]*}

log "starting a private redis-server"
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  >"$WORK/redis.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || die "redis-server did not start"

# start_tollgate NAME DATA_DIR [FLAG...]: sets TG_ADDR and TG_PID.
start_tollgate() {
  local name=$1 dir=$2
  shift 2
  mkdir -p "$WORK/$name-cwd"
  (cd "$WORK/$name-cwd" && exec env -u TOLLGATE_CONFIG -u TOLLGATE_PUBLIC_LISTEN \
    -u TOLLGATE_ACCESS_KEY_ID -u TOLLGATE_SECRET_ACCESS_KEY -u TOLLGATE_COUNTERS \
    TOLLGATE_LOG=warn "$TOLLGATE_BIN" serve --listen 127.0.0.1:0 --data-dir "$dir" "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.out.err") &
  PIDS+=($!)
  TG_PID=$!
  line=$(wait_for_line "$WORK/$name.out" '^tollgate listening on http://' "$TG_PID" "tollgate $name")
  TG_ADDR=${line##*http://}
}
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

log "configuring the API, the plan and $KEYS keys"
start_tollgate setup "$WORK/data-a"
export AWS_ENDPOINT_URL=http://$TG_ADDR AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=$WORK/aws-config
export AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-credentials
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_API_GATEWAY 2>/dev/null || true
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
awsq() { timeout 60 aws "$@"; }
API_ID=$(awsq apigateway create-rest-api --name redis-bench --query id --output text)
ROOT_ID=$(awsq apigateway get-resources --rest-api-id "$API_ID" --query 'items[?path==`/`].id' --output text)
PROXY_ID=$(awsq apigateway create-resource --rest-api-id "$API_ID" --parent-id "$ROOT_ID" \
  --path-part '{proxy+}' --query id --output text)
awsq apigateway put-method --rest-api-id "$API_ID" --resource-id "$PROXY_ID" --http-method ANY \
  --authorization-type NONE --api-key-required --request-parameters method.request.path.proxy=true >/dev/null
awsq apigateway put-integration --rest-api-id "$API_ID" --resource-id "$PROXY_ID" --http-method ANY \
  --type HTTP_PROXY --integration-http-method ANY --uri "http://$UP_ADDR/{proxy}" \
  --request-parameters integration.request.path.proxy=method.request.path.proxy >/dev/null
awsq apigateway create-deployment --rest-api-id "$API_ID" --stage-name bench >/dev/null
awsq apigateway update-account --patch-operations \
  op=replace,path=/throttle/rateLimit,value=$BIG \
  op=replace,path=/throttle/burstLimit,value=$BIG >/dev/null
PLAN_ID=$(awsq apigateway create-usage-plan --name redis-bench \
  --api-stages "apiId=$API_ID,stage=bench" \
  --throttle "burstLimit=$BIG,rateLimit=$BIG" --quota "limit=$BIG,period=DAY" \
  --query id --output text)
python3 "$BENCH/make_keys.py" --endpoint "http://$TG_ADDR" --plan-id "$PLAN_ID" --count "$KEYS" \
  --threads 4 --out "$WORK/keys.txt" --progress "$KEYS" >"$WORK/make_keys.out" \
  || die "make_keys.py failed"
stop_pid "$TG_PID"
cp -a "$WORK/data-a" "$WORK/data-b"
PATH_PART="/_aws/execute-api/$API_ID/bench/bench"
cat "$BENCH/wrk/keys.lua" "$BENCH/wrk/statuses.lua" >"$WORK/keyed.lua"
export WRK_KEYS_FILE=$WORK/keys.txt
FIRST_KEY=$(head -1 "$WORK/keys.txt")

# redis_calls: every command Redis has run, from INFO commandstats.
redis_calls() {
  redis-cli -p "$REDIS_PORT" info commandstats \
    | awk -F'[:=,]' '/^cmdstat_/ { n += $3 } END { print n + 0 }'
}
redis_cmd_calls() {
  redis-cli -p "$REDIS_PORT" info commandstats \
    | awk -F'[:=,]' -v c="cmdstat_$1" '$1 == c { print $3 + 0; f = 1 } END { if (!f) print 0 }'
}

declare -A RPS_SUM RUNS_OK
# run_mode MODE ROUND: both instances up, two wrk at once, then both stopped.
run_mode() {
  local mode=$1 round=$2 flags=() a_pid b_pid a_addr b_addr
  if [ "$mode" != embedded ]; then
    flags=(--counters "redis://127.0.0.1:$REDIS_PORT/0" --counters-prefix "bench$mode$round:" --instances 2)
  fi
  if [ "$mode" = redis-nogrant ]; then flags+=(--counters-grant 1); fi
  start_tollgate "$mode$round-a" "$WORK/data-a" "${flags[@]}"
  a_pid=$TG_PID a_addr=$TG_ADDR
  start_tollgate "$mode$round-b" "$WORK/data-b" "${flags[@]}"
  b_pid=$TG_PID b_addr=$TG_ADDR
  local code
  for addr in "$a_addr" "$b_addr"; do
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "x-api-key: $FIRST_KEY" "http://$addr$PATH_PART")
    [ "$code" = 200 ] || die "$mode: probe of $addr gave HTTP $code"
  done
  # Warm-up (both), then the measured runs.
  wrk -t "$THREADS" -c "$CONNECTIONS" -d "$WARMUP" -s "$WORK/keyed.lua" "http://$a_addr$PATH_PART" >/dev/null &
  local warm1=$!
  wrk -t "$THREADS" -c "$CONNECTIONS" -d "$WARMUP" -s "$WORK/keyed.lua" "http://$b_addr$PATH_PART" >/dev/null &
  local warm2=$!
  wait "$warm1" "$warm2" || die "$mode: wrk warm-up failed"
  local calls_before evalsha_before eval_before load_before
  calls_before=$(redis_calls)
  evalsha_before=$(redis_cmd_calls evalsha)
  eval_before=$(redis_cmd_calls eval)
  load_before=$(load1)
  wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" -s "$WORK/keyed.lua" "http://$a_addr$PATH_PART" \
    >"$WORK/$mode$round-a.wrk" 2>&1 &
  local w1=$!
  wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" -s "$WORK/keyed.lua" "http://$b_addr$PATH_PART" \
    >"$WORK/$mode$round-b.wrk" 2>&1 &
  local w2=$!
  wait "$w1" "$w2" || die "$mode: wrk failed: $(cat "$WORK/$mode$round-a.wrk" "$WORK/$mode$round-b.wrk")"
  local calls evalsha evals
  calls=$(($(redis_calls) - calls_before))
  evalsha=$(($(redis_cmd_calls evalsha) - evalsha_before))
  evals=$(($(redis_cmd_calls eval) - eval_before))
  local total_rps=0 total_req=0 ok=0 all=0 side f rps req statuses n2xx nall
  for side in a b; do
    f=$WORK/$mode$round-$side.wrk
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$f")
    req=$(awk '/requests in/ { print $1 }' "$f")
    statuses=$(grep '^statuses:' "$f" || echo "statuses: none")
    n2xx=$(echo "$statuses" | tr ' ' '\n' | awk -F= '$1 ~ /^2[0-9][0-9]$/ { n += $2 } END { print n + 0 }')
    nall=$(echo "$statuses" | tr ' ' '\n' | awk -F= '$1 ~ /^[0-9]+$/ { n += $2 } END { print n + 0 }')
    printf '  %-13s round %s instance %s: %10s req/s  %8s requests  %s\n' "$mode" "$round" "$side" "$rps" "$req" "$statuses"
    total_rps=$(awk -v a="$total_rps" -v b="$rps" 'BEGIN { printf "%.1f", a + b }')
    total_req=$((total_req + req))
    ok=$((ok + n2xx))
    all=$((all + nall))
  done
  local pct
  pct=$(awk -v o="$ok" -v a="$all" 'BEGIN { if (a == 0) print 0; else printf "%.2f", 100 * o / a }')
  local per_req
  per_req=$(awk -v c="$calls" -v r="$total_req" 'BEGIN { if (r == 0) print "n/a"; else printf "%.3f", c / r }')
  printf '  %-13s round %s total:       %10s req/s  2xx %s%%  load1 %s -> %s' "$mode" "$round" "$total_rps" "$pct" "$load_before" "$(load1)"
  if [ "$mode" != embedded ]; then
    local trips
    trips=$(awk -v c="$((evalsha + evals))" -v r="$total_req" 'BEGIN { if (r == 0) print "n/a"; else printf "%.3f", c / r }')
    printf '  redis round trips/request %s (evalsha %s, eval %s); commands/request %s counting those the script runs' \
      "$trips" "$evalsha" "$evals" "$per_req"
  fi
  printf '\n'
  if awk -v p="$pct" -v m="$MIN_OK_PCT" 'BEGIN { exit !(p < m) }'; then
    printf '  %-13s round %s INVALID: only %s%% 2xx\n' "$mode" "$round" "$pct"
  else
    RPS_SUM[$mode]=$(awk -v a="${RPS_SUM[$mode]:-0}" -v b="$total_rps" 'BEGIN { printf "%.1f", a + b }')
    RUNS_OK[$mode]=$(( ${RUNS_OK[$mode]:-0} + 1 ))
  fi
  stop_pid "$a_pid"
  stop_pid "$b_pid"
}

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (a shared machine: figures under load are disturbed)"
echo "two instances, $KEYS keys, $CONNECTIONS connections x $THREADS thread(s) per instance, $DURATION per run"
for round in $(seq 1 "$ROUNDS"); do
  order=$MODES
  if [ $((round % 2)) = 0 ]; then order=$(echo "$MODES" | tr ' ' '\n' | tac | tr '\n' ' '); fi
  for mode in $order; do run_mode "$mode" "$round"; done
done
e=${RPS_SUM[embedded]:-0} ne=${RUNS_OK[embedded]:-0}
for mode in $MODES; do
  [ "$mode" = embedded ] && continue
  r=${RPS_SUM[$mode]:-0} nr=${RUNS_OK[$mode]:-0}
  if [ "$ne" -gt 0 ] && [ "$nr" -gt 0 ]; then
    awk -v e="$e" -v r="$r" -v ne="$ne" -v nr="$nr" -v m="$mode" 'BEGIN {
      me = e / ne; mr = r / nr
      printf "mean req/s: embedded %.0f (%d runs), %s %.0f (%d runs); %s/embedded = %.2fx (target >= 0.7x)\n", me, ne, m, mr, nr, m, mr / me }'
  else
    echo "$mode: no valid pair of runs with embedded: no ratio"
  fi
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
