#!/usr/bin/env bash
# Tollgate load benchmark, in four sections, each measured with wrk against a
# baseline doing the same job (bench/README.md says how to read the output):
#
#   proxy     the same minimal upstream directly, behind nginx, and behind
#             Tollgate (HTTP_PROXY on /{proxy+}). Ratios against nginx.
#   keyed     the ADMITTED keyed path: /{proxy+} ANY requires an API key, the
#             key is in a usage plan whose throttle and quota (and the
#             account's throttle) are far above what wrk sends, so every
#             request is checked and proxied; against nginx checking the key
#             (map) and a limit_req zone keyed by it at an equally high rate.
#             Ratios against nginx-keyed. The run FAILS unless >= 99 % of each
#             side's requests were 2xx.
#   refusals  Tollgate's 403 (no key) and 429 (a burst-0 plan's key), and
#             nginx-keyed's 403, against the upstream measured again just
#             before them. Ratios against that direct run.
#   manykeys  MANY_KEYS (10 000) keys in one plan, each request with a random
#             one of them (wrk Lua), against the same script with one key of
#             that plan. Ratios against the one-key run. Tollgate's RSS idle
#             before and after the keys are created and after the run, its
#             idle CPU, and the key creation time (boto3, a thread pool).
#             Then nginx-keyed with the same keys as a reference (its own
#             sub-section, ratios against its one-key run).
#
#   bash bench/run.sh                      # DURATION=10s, 32 connections
#   RUN_INDEX=1 bash bench/run.sh          # the next run: systems in the other order
#   DURATION=30s CONNECTIONS=64 bash bench/run.sh
#
# Environment:
#   DURATION       wrk duration of each measured run (default 10s)
#   WARMUP         wrk duration of the warm-up run before each (default 2s)
#   CONNECTIONS    wrk connections (default 32; the targets are stated for 32)
#   THREADS        wrk threads (default 2)
#   LAT_DURATION   duration of the extra 1-connection latency runs (default 5s; 0: not run, and said so)
#   RUN_INDEX      number of this run in a series (default 0); sets ORDER when ORDER is unset:
#                  even -> forward, odd -> reverse
#   ORDER          forward | reverse: the order of the systems within every section
#   SECTIONS       which sections to run (default "proxy keyed refusals manykeys");
#                  the report names every section left out
#   MANY_KEYS      keys in the many-keys plan (default 10000)
#   KEY_THREADS    threads of the boto3 pool creating them (default 1: Tollgate serialises
#                  key creation, and on 2 cores more threads did not help; see bench/README.md)
#   IDLE_SECS      idle window for Tollgate's idle CPU in the manykeys section (default 5)
#   NGINX_WORKERS  nginx worker_processes (default auto; see the config below)
#   CARGO_TARGET_DIR  where the release binaries are built (default ./target)
#   SKIP_BUILD=1   use the binaries already in the target dir
#   BENCH_STRICT=1 exit 1 when any target verdict is FAIL (default: exit 0, verdicts printed)
#   KEEP_WORK=1    keep the temporary directory (wrk outputs, nginx configs, logs, key files)
#
# Exit status: 2 when a measurement is invalid (a run meant to be proxied got
# fewer than 99 % 2xx, a refusal run got a 2xx, a probe failed: the numbers
# would not measure what their row says), 1 on BENCH_STRICT=1 and a FAIL
# verdict or on a set-up error, else 0.
#
# Everything listens on 127.0.0.1 and every process started here is stopped on
# exit.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
LAT_DURATION=${LAT_DURATION:-5s}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
BENCH_STRICT=${BENCH_STRICT:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
RUN_INDEX=${RUN_INDEX:-0}
SECTIONS=${SECTIONS:-"proxy keyed refusals manykeys"}
MANY_KEYS=${MANY_KEYS:-10000}
KEY_THREADS=${KEY_THREADS:-1}
IDLE_SECS=${IDLE_SECS:-5}
# A run meant to be proxied is valid only with at least this share of 2xx.
MIN_OK_PCT=99
# Throttle rates, bursts and quotas "far above what wrk sends".
BIG=100000000

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
TOLLGATE_BIN=$TARGET_DIR/release/tollgate
UPSTREAM_BIN=$TARGET_DIR/release/multitalk-upstream

LOG_PREFIX=bench
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench.XXXXXX")
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

# ---------------------------------------------------------------------------
# 0. Processes we start, and their bounded cleanup.
# ---------------------------------------------------------------------------
PIDS=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid child
  # nginx workers are children of the master: stop them by parent pid too,
  # in case the master has to be killed hard.
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      for child in $(pgrep -P "$pid" 2>/dev/null || true); do PIDS+=("$child"); done
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  # Up to 5 s for a graceful stop, then SIGKILL.
  local deadline=$((SECONDS + 5)) alive
  while :; do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    [ "$SECONDS" -ge "$deadline" ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [ "${KEEP_WORK:-0}" = 1 ]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ $RUN_INDEX =~ ^[0-9]+$ ]] || die "RUN_INDEX must be a number (got '$RUN_INDEX')"
if [ -z "${ORDER:-}" ]; then
  if [ $((RUN_INDEX % 2)) = 0 ]; then ORDER=forward; else ORDER=reverse; fi
  ORDER_WHY="from RUN_INDEX=$RUN_INDEX"
else
  ORDER_WHY="set by ORDER"
fi
case $ORDER in forward | reverse) ;; *) die "ORDER must be forward or reverse (got '$ORDER')" ;; esac
ALL_SECTIONS="proxy keyed refusals manykeys"
for s in $SECTIONS; do
  case " $ALL_SECTIONS " in *" $s "*) ;; *) die "unknown section '$s' in SECTIONS (known: $ALL_SECTIONS)" ;; esac
done
want() { case " $SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
[[ $MANY_KEYS =~ ^[0-9]+$ ]] && [ "$MANY_KEYS" -ge 2 ] || die "MANY_KEYS must be a number >= 2"
[[ $KEY_THREADS =~ ^[0-9]+$ ]] && [ "$KEY_THREADS" -ge 1 ] || die "KEY_THREADS must be a number >= 1"
[[ $IDLE_SECS =~ ^[0-9]+$ ]] && [ "$IDLE_SECS" -ge 1 ] || die "IDLE_SECS must be a whole number of seconds >= 1"
log "order of the systems in every section: $ORDER ($ORDER_WHY); sections: $SECTIONS"


# Waits (bounded) until FILE contains a line matching REGEX; prints that line.
wait_for_line() {
  local file=$1 regex=$2 pid=$3 what=$4 i line
  for i in $(seq 1 300); do
    line=$(grep -m1 -E "$regex" "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then printf '%s\n' "$line"; return 0; fi
    kill -0 "$pid" 2>/dev/null || { cat "$file" "$file.err" >&2 2>/dev/null || true; die "$what exited before it was ready"; }
    sleep 0.1
  done
  cat "$file" "$file.err" >&2 2>/dev/null || true
  die "$what not ready after 30 s"
}

# start_nginx NAME READY: checks and starts nginx with $WORK/NAME/nginx.conf,
# then waits (up to 10 s) until the function READY succeeds. Sets NGINX_PID.
start_nginx() {
  local name=$1 ready=$2 dir=$WORK/$1 _
  "$NGINX" -t -q -p "$dir/" -e "$dir/logs/error.log" -c "$dir/nginx.conf" \
    || die "nginx rejected the generated $name config"
  "$NGINX" -p "$dir/" -e "$dir/logs/error.log" -c "$dir/nginx.conf" >"$WORK/$name.out" 2>&1 &
  PIDS+=($!)
  NGINX_PID=$!
  for _ in $(seq 1 100); do
    "$ready" && return 0
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/$name.out" "$dir/logs/error.log" >&2 2>/dev/null || true
  die "$name not answering as expected"
}

# A free TCP port on 127.0.0.1 (for nginx, which cannot report port 0 back).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------------------
# 1. Tools and binaries: installed when missing, or the script dies.
# ---------------------------------------------------------------------------
need_apt=()
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
NGINX=$(command -v nginx 2>/dev/null || true)
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
[ -z "$NGINX" ] && need_apt+=(nginx)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
install_debian "${need_apt[@]}"
command -v wrk >/dev/null 2>&1 || die "wrk not found after installing it"
command -v curl >/dev/null 2>&1 || die "curl not found after installing it"
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx not found"
ensure_aws_cli
want manykeys && pip_install boto3 boto3

if [ "$SKIP_BUILD" != 1 ]; then
  log "building release binaries into $TARGET_DIR (several minutes on 2 cores the first time)"
  (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --locked -q -p tollgate -p multitalk-upstream) \
    || die "cargo build failed"
fi
[ -x "$TOLLGATE_BIN" ] || die "$TOLLGATE_BIN missing"
[ -x "$UPSTREAM_BIN" ] || die "$UPSTREAM_BIN missing"

# ---------------------------------------------------------------------------
# 2. Upstream, nginx, Tollgate.
# ---------------------------------------------------------------------------
log "starting multitalk-upstream"
RUST_LOG=warn "$UPSTREAM_BIN" --listen 127.0.0.1:0 >"$WORK/upstream.out" 2>"$WORK/upstream.out.err" &
PIDS+=($!)
UP_PID=$!
line=$(wait_for_line "$WORK/upstream.out" 'listening on http://' "${PIDS[-1]}" multitalk-upstream)
UP_ADDR=${line##*http://}
UP_PORT=${UP_ADDR##*:}
[ "$(curl -s -m 5 "http://$UP_ADDR/bench")" = '{"ok":true}' ] \
  || die "upstream GET /bench did not answer {\"ok\":true} (is /bench implemented?)"

NGX_USER=""
# As root the workers would drop to nobody:nobody, a group Debian lacks.
[ "$(id -u)" = 0 ] && NGX_USER="user root;"

# nginx_conf NAME PORT [KEYS_FILE]: writes $WORK/NAME/nginx.conf. Without
# KEYS_FILE the plainest reverse proxy (the baseline); with it, the same job
# as a Tollgate API whose method requires a key in a plan: the key checked
# against the file's keys (403 {"message":"Forbidden"} otherwise), then a
# limit_req bucket per key at a rate far above what wrk sends, then the same
# proxy_pass.
nginx_conf() {
  local name=$1 port=$2 keys=${3:-} dir=$WORK/$1 n=0 hash_max=2048
  mkdir -p "$dir/logs"
  if [ -n "$keys" ]; then
    # "KEY" 1; per key, included by the map below.
    awk 'NF { printf "\"%s\" 1;\n", $1 }' "$keys" >"$dir/keys.map"
    n=$(wc -l <"$dir/keys.map")
    [ "$n" -gt 0 ] || die "no keys for $name"
    # The map's hash must hold every key (nginx refuses to start otherwise).
    while [ "$hash_max" -lt $((n * 4)) ]; do hash_max=$((hash_max * 2)); done
  fi
  {
    cat <<EOF
# Generated by bench/run.sh.
$NGX_USER
daemon off;
master_process on;
# worker_processes auto (= 2 here): Tollgate runs one single-threaded tokio
# runtime per core (2 on this machine), so nginx gets
# the same two cores to use. On a 2-core box both proxies share the CPUs with
# wrk and the upstream; worker_processes 1 would cap nginx at one core while
# Tollgate may use two, flattering Tollgate. Override with NGINX_WORKERS.
worker_processes $NGINX_WORKERS;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
    # Tollgate has no access log yet: nginx writes none either.
    access_log off;
    # nginx closes a client connection after 1000 requests by default, and an
    # upstream one too; neither Tollgate nor the upstream (hyper) does. Lift both so no
    # side pays for reconnects the other does not.
    keepalive_requests 1000000;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    upstream bench_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
EOF
    if [ -z "$keys" ]; then
      cat <<EOF
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    else
      cat <<EOF
    # The usage plan's $n key(s), as Tollgate's key index holds them.
    map_hash_max_size $hash_max;
    map_hash_bucket_size 128;
    map \$http_x_api_key \$api_key_ok {
        default 0;
        include $dir/keys.map;
    }
    # One bucket per key, shared by the workers, like the plan's per-key
    # throttle; the rate and burst are the plan's ($BIG), so nothing is
    # refused but every request still looks up and updates its key's bucket.
    # 16 MB holds about 100 000 keys' states.
    limit_req_zone \$http_x_api_key zone=plan:16m rate=${BIG}r/s;
    server {
        listen 127.0.0.1:$port;
        default_type application/json;
        location / {
            if (\$api_key_ok = 0) { return 403 '{"message":"Forbidden"}'; }
            limit_req zone=plan burst=$BIG nodelay;
            limit_req_status 429;
            # A refused request would be logged at error level by default, a
            # line Tollgate does not write: info is below error_log's level.
            limit_req_log_level info;
            error_page 429 = @throttled;
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location @throttled {
            return 429 '{"message":"Too Many Requests"}';
        }
    }
}
EOF
    fi
  } >"$dir/nginx.conf"
}

log "starting nginx"
NGX_PORT=$(free_port)
nginx_conf nginx "$NGX_PORT"
nginx_proxies() { [ "$(curl -s -m 2 "http://127.0.0.1:$NGX_PORT/bench" 2>/dev/null)" = '{"ok":true}' ]; }
start_nginx nginx nginx_proxies
NGX_PID=$NGINX_PID

log "starting tollgate"
mkdir -p "$WORK/tollgate-data" "$WORK/tollgate-cwd"
# Own cwd (no stray tollgate.toml), no inherited TOLLGATE_* settings.
(cd "$WORK/tollgate-cwd" && exec env -u TOLLGATE_CONFIG -u TOLLGATE_PUBLIC_LISTEN \
  -u TOLLGATE_ACCESS_KEY_ID -u TOLLGATE_SECRET_ACCESS_KEY \
  TOLLGATE_LOG=warn "$TOLLGATE_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/tollgate-data" \
  >"$WORK/tollgate.out" 2>"$WORK/tollgate.out.err") &
PIDS+=($!)
TG_PID=$!  # the subshell exec'd tollgate: the same process
line=$(wait_for_line "$WORK/tollgate.out" '^tollgate listening on http://' "${PIDS[-1]}" tollgate)
TG_ADDR=${line##*http://}

log "configuring the bench API in Tollgate"
export AWS_ENDPOINT_URL=http://$TG_ADDR AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=$WORK/aws-config
export AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-credentials
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_API_GATEWAY 2>/dev/null || true
awsq() { timeout 60 aws "$@"; }
API_ID=$(awsq apigateway create-rest-api --name tollgate-bench --query id --output text)
ROOT_ID=$(awsq apigateway get-resources --rest-api-id "$API_ID" --query 'items[?path==`/`].id' --output text)
PROXY_ID=$(awsq apigateway create-resource --rest-api-id "$API_ID" --parent-id "$ROOT_ID" \
  --path-part '{proxy+}' --query id --output text)
awsq apigateway put-method --rest-api-id "$API_ID" --resource-id "$PROXY_ID" --http-method ANY \
  --authorization-type NONE --request-parameters method.request.path.proxy=true >/dev/null
awsq apigateway put-integration --rest-api-id "$API_ID" --resource-id "$PROXY_ID" --http-method ANY \
  --type HTTP_PROXY --integration-http-method ANY --uri "http://127.0.0.1:$UP_PORT/{proxy}" \
  --request-parameters integration.request.path.proxy=method.request.path.proxy >/dev/null
awsq apigateway create-deployment --rest-api-id "$API_ID" --stage-name bench >/dev/null
# Tollgate enforces AWS's default account-wide throttle (10 000 req/s, burst
# 5 000) and answers 429 above it; nginx has no such limit, and the upstream
# alone does over 100 000 req/s here. Lift it (Tollgate accepts
# /throttle/* in UpdateAccount) so the runs measure proxying, not 429s. The
# bucket is still checked on every request.
awsq apigateway update-account --patch-operations \
  op=replace,path=/throttle/rateLimit,value=$BIG \
  op=replace,path=/throttle/burstLimit,value=$BIG >/dev/null
TG_URL="http://$TG_ADDR/_aws/execute-api/$API_ID/bench/bench"

# probe WHAT URL EXPECTED_CODE EXPECTED_BODY [API_KEY]: one request, which
# must get exactly that answer, or the script dies (exit 2: the rows that
# depend on it would not measure what they say).
probe() {
  local hdr=() code body
  [ -n "${5:-}" ] && hdr=(-H "x-api-key: $5")
  code=$(curl -s -m 5 -o "$WORK/probe.body" -w '%{http_code}' "${hdr[@]}" "$2" || true)
  body=$(cat "$WORK/probe.body" 2>/dev/null || true)
  if [ "$code" != "$3" ] || [ "$body" != "$4" ]; then
    log "error: probe $1: $2 gave HTTP $code $body, expected $3 $4"
    exit 2
  fi
}
probe "tollgate, open API" "$TG_URL" 200 '{"ok":true}'

# ---------------------------------------------------------------------------
# 3. wrk runs and what is recorded of each.
# ---------------------------------------------------------------------------
# "1.23ms" / "456.78us" / "1.02s" -> milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    else if (u == "h") n *= 3600000; else if (u != "ms") { print "nan"; exit }
    printf "%.3f", n }'
}
duration_secs() {
  awk -v d="$1" 'BEGIN { n = d + 0; u = d; sub(/^[0-9.]+/, "", u)
    if (u == "m") n *= 60; else if (u == "h") n *= 3600; printf "%d", n + 0.999 }'
}
# ordered A B C...: the arguments in ORDER (reverse reverses them).
ordered() {
  if [ "$ORDER" = forward ]; then
    printf '%s\n' "$@"
  else
    local i
    for ((i = $#; i >= 1; i--)); do printf '%s\n' "${!i}"; done
  fi
}

declare -A URLS RPS P50 P99 NON2XX SOCKERR SOCKERR_N REQS SECS OK_PCT WARM_STATUSES CPU_US RSS_AFTER
declare -A SECTION_OF DESC_OF THREAD_CPU INVALID_RUN
RUNS=()        # every measured run, in the order run
INVALID=()     # why a measurement is invalid (exit 2)
# The processes whose CPU time a run's requests cost (CPU_US: microseconds of
# user + system time per request). Steadier than req/s on a shared 2-core box,
# where the scheduler's placement of wrk, upstream and proxy moves req/s by
# ±10 % between runs. RSS_AFTER: their VmRSS (KiB) just after the run.
declare -A CPU_OF
# A process and its children (nginx's workers), as "PID PID ...".
family() { echo "$1 $(pgrep -P "$1" 2>/dev/null | tr '\n' ' ')"; }
# Clock ticks of user + system time of the processes in $1, all threads.
cpu_ticks() {
  local total=0 pid fields
  for pid in $1; do
    # Fields after "(comm)": utime and stime are the 12th and 13th.
    fields=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    total=$((total + $(awk '{ print $12 + $13 }' <<<"$fields")))
  done
  echo "$total"
}
rss_sum() {
  local total=0 pid v
  for pid in $1; do
    v=$(rss_kib "$pid")
    [ "$v" = '?' ] || total=$((total + v))
  done
  echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)
# Tollgate's threads, by what runs on them: "tollgate" is the main thread
# (a current-thread runtime: accepts, serves its share of the connections,
# and runs the usage flusher, whose scan of every key's counters happens
# there every 20 ms); "tollgate-worker-N" serve the other connections;
# "tokio-rt-worker" ("tokio-runtime-worker" in older tokio) is the main
# runtime's blocking pool (control-plane calls, and the usage flusher's
# writes to SQLite).
# thread_ticks PID: "TID GROUP TICKS" per thread.
thread_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    awk -v tid="${t##*/}" '{
      c = $0; sub(/^[^(]*\(/, "", c); sub(/\).*$/, "", c)
      s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
      g = "other"
      if (c == "tollgate") g = "main"
      else if (c ~ /^tollgate-worker/) g = "workers"
      else if (c ~ /^tokio-(runtime|rt)-/) g = "blocking"
      print tid, g, f[12] + f[13] }' "$t/stat" 2>/dev/null || true
  done
}
# thread_cpu_us BEFORE_FILE AFTER_FILE REQUESTS: microseconds per request by
# group, "main X workers Y blocking Z other W" (threads that exited during
# the run are missing from both: their time shows in the process total only).
thread_cpu_us() {
  awk -v hz="$CLK_TCK" -v n="$3" '
    FNR == NR { before[$1] = $3; next }
    { d = $3 - ($1 in before ? before[$1] : 0); if (d > 0) sum[$2] += d }
    END { split("main workers blocking other", g, " ")
      for (i = 1; i <= 4; i++) printf "%s %.1f ", g[i], (n > 0 ? sum[g[i]] * 1e6 / hz / n : 0)
      print "" }' "$1" "$2"
}
cat "$BENCH/wrk/keys.lua" "$BENCH/wrk/statuses.lua" >"$WORK/keys-tally.lua"

# run_wrk NAME URL THREADS CONNECTIONS DURATION [OPTION...]
# Options:
#   key=VALUE       x-api-key header of the measured run
#   warmkey=VALUE   x-api-key header of the warm-up (default: the measured one)
#   keys=FILE       each request carries a random key of FILE (wrk/keys.lua);
#                   the warm-up tallies statuses too
#   tally           the warm-up runs wrk/statuses.lua (WARM_STATUSES[NAME])
# SECTION_OF[NAME] and CPU_OF[NAME] are set by the caller beforehand.
run_wrk() {
  local name=$1 url=$2 threads=$3 conns=$4 dur=$5 out=$WORK/wrk-$1.txt
  shift 5
  local mopts=() wopts=() key="" warmkey="" haswarm=0 keys="" tally=0 opt
  for opt in "$@"; do
    case $opt in
      key=*) key=${opt#key=} ;;
      warmkey=*) warmkey=${opt#warmkey=}; haswarm=1 ;;
      keys=*) keys=${opt#keys=} ;;
      tally) tally=1 ;;
      *) die "run_wrk: unknown option $opt" ;;
    esac
  done
  [ "$haswarm" = 1 ] || warmkey=$key
  [ -n "$key" ] && mopts+=(-H "x-api-key: $key")
  [ -n "$warmkey" ] && wopts+=(-H "x-api-key: $warmkey")
  if [ -n "$keys" ]; then
    mopts+=(-s "$BENCH/wrk/keys.lua")
    wopts+=(-s "$WORK/keys-tally.lua")
  elif [ "$tally" = 1 ]; then
    wopts+=(-s "$BENCH/wrk/statuses.lua")
  fi
  log "$name: warm-up $WARMUP"
  WRK_KEYS_FILE=$keys timeout $(( $(duration_secs "$WARMUP") + 30 )) \
    wrk -t "$threads" -c "$conns" -d "$WARMUP" "${wopts[@]}" "$url" >"$out.warmup" \
    || die "wrk warm-up of $name failed: $(cat "$out.warmup")"
  WARM_STATUSES[$name]=$(awk '/^statuses: / { sub(/^statuses: /, ""); print }' "$out.warmup")
  [ -z "${WARM_STATUSES[$name]}" ] || log "$name: warm-up statuses: ${WARM_STATUSES[$name]}"
  log "$name: measuring $dur, $threads threads, $conns connections: $url${key:+ (with x-api-key)}${keys:+ (keys of $keys)}"
  local ticks_before ticks is_tg=0
  [ "${CPU_OF[$name]:-}" = "$TG_PID" ] && is_tg=1
  [ "$is_tg" = 0 ] || thread_ticks "$TG_PID" >"$out.threads-before"
  ticks_before=$(cpu_ticks "${CPU_OF[$name]:-}")
  WRK_KEYS_FILE=$keys timeout $(( $(duration_secs "$dur") + 30 )) \
    wrk -t "$threads" -c "$conns" -d "$dur" --latency "${mopts[@]}" "$url" >"$out" \
    || die "wrk run $name failed: $(cat "$out")"
  ticks=$(( $(cpu_ticks "${CPU_OF[$name]:-}") - ticks_before ))
  [ "$is_tg" = 0 ] || thread_ticks "$TG_PID" >"$out.threads-after"
  RSS_AFTER[$name]=$(rss_sum "${CPU_OF[$name]:-}")
  sed 's/^/    /' "$out" >&2
  RPS[$name]=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  [ -n "${RPS[$name]}" ] || die "could not parse wrk output for $name"
  P50[$name]=$(to_ms "$(awk '$1 == "50%" { print $2; exit }' "$out")")
  P99[$name]=$(to_ms "$(awk '$1 == "99%" { print $2; exit }' "$out")")
  # wrk counts a response with a status above 399 here; nothing in these
  # runs answers 1xx or 3xx, so requests - NON2XX are the 2xx.
  NON2XX[$name]=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
  NON2XX[$name]=${NON2XX[$name]:-0}
  # "Socket errors: connect 0, read 0, write 0, timeout 0" -> "c0/r0/w0/t0" and the total.
  SOCKERR[$name]=$(awk '/Socket errors:/ { gsub(/,/, ""); printf "c%s/r%s/w%s/t%s", $4, $6, $8, $10 }' "$out")
  SOCKERR_N[$name]=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
  SOCKERR[$name]=${SOCKERR[$name]:-none}
  SOCKERR_N[$name]=${SOCKERR_N[$name]:-0}
  # "  123456 requests in 10.00s, 12.34MB read"
  REQS[$name]=$(awk '/ requests in / { print $1; exit }' "$out")
  SECS[$name]=$(awk '/ requests in / { s = $4; sub(/,$/, "", s); print s; exit }' "$out")
  SECS[$name]=$(awk -v ms="$(to_ms "${SECS[$name]}")" 'BEGIN { printf "%.3f", ms / 1000 }')
  OK_PCT[$name]=$(awk -v n="${REQS[$name]}" -v bad="${NON2XX[$name]}" \
    'BEGIN { if (n > 0) printf "%.2f", (n - bad) * 100 / n; else print "0.00" }')
  CPU_US[$name]=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="${REQS[$name]}" \
    'BEGIN { if (n > 0 && t > 0) printf "%.1f", t * 1e6 / hz / n; else print "?" }')
  [ "$is_tg" = 0 ] || THREAD_CPU[$name]=$(thread_cpu_us "$out.threads-before" "$out.threads-after" "${REQS[$name]}")
  RUNS+=("$name")
  log "$name: ${RPS[$name]} req/s, ${OK_PCT[$name]} % 2xx, non2xx ${NON2XX[$name]}, socket errors ${SOCKERR[$name]}"
}

# invalid NAME WHY: records that run NAME does not measure what its row says.
invalid() {
  INVALID+=("$1: $2")
  INVALID_RUN[$1]=1
  log "INVALID: $1: $2"
}
# A run meant to be proxied: at least MIN_OK_PCT % 2xx and socket errors
# under 1 % of the requests, or its row does not measure what it says.
expect_ok() {
  local name=$1
  awk -v p="${OK_PCT[$name]}" -v m="$MIN_OK_PCT" 'BEGIN { exit !(p >= m) }' \
    || invalid "$name" "only ${OK_PCT[$name]} % of ${REQS[$name]} requests were 2xx (${NON2XX[$name]} non-2xx; at least $MIN_OK_PCT % must be for this row to measure the proxied path)"
  awk -v e="${SOCKERR_N[$name]}" -v n="${REQS[$name]}" 'BEGIN { exit !(e * 100 <= n) }' \
    || invalid "$name" "${SOCKERR_N[$name]} socket errors (${SOCKERR[$name]}) in ${REQS[$name]} requests (more than 1 %)"
  if [ -n "${WARM_STATUSES[$name]}" ] && ! [[ ${WARM_STATUSES[$name]} =~ ^200=[0-9]+$ ]]; then
    invalid "$name" "the warm-up got '${WARM_STATUSES[$name]}', not only 200s"
  fi
  return 0
}
# A refusal run: no 2xx at all, and the warm-up saw only STATUS.
expect_refused() {
  local name=$1 status=$2
  [ "${NON2XX[$name]}" = "${REQS[$name]}" ] \
    || invalid "$name" "$(( ${REQS[$name]} - ${NON2XX[$name]} )) of ${REQS[$name]} requests were 2xx; every one should be refused with $status"
  [[ ${WARM_STATUSES[$name]} =~ ^$status=[0-9]+$ ]] \
    || invalid "$name" "the warm-up got '${WARM_STATUSES[$name]:-?}', not only $status"
  return 0
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
START_TIME=$(date -u '+%Y-%m-%d %H:%M UTC')

# ---------------------------------------------------------------------------
# 3a. proxy: direct, nginx, Tollgate.
# ---------------------------------------------------------------------------
if want proxy; then
  URLS[direct]="http://$UP_ADDR/bench"
  URLS[nginx]="http://127.0.0.1:$NGX_PORT/bench"
  URLS[tollgate]=$TG_URL
  # direct: the upstream; each proxy: the proxy alone (its upstream's share is the same for both).
  CPU_OF[direct]=$UP_PID
  CPU_OF[nginx]=$(family "$NGX_PID")
  CPU_OF[tollgate]=$TG_PID
  DESC_OF[direct]="upstream alone"
  DESC_OF[nginx]="nginx proxy_pass"
  DESC_OF[tollgate]="Tollgate HTTP_PROXY"
  for t in $(ordered direct nginx tollgate); do
    SECTION_OF[$t]=proxy
    run_wrk "$t" "${URLS[$t]}" "$THREADS" "$CONNECTIONS" "$DURATION"
    expect_ok "$t"
  done
  # Unloaded latency: one connection, so the CPUs are not saturated and the
  # difference to direct is the proxy's own per-request cost.
  if [ "$LAT_DURATION" != 0 ]; then
    for t in $(ordered direct nginx tollgate); do
      CPU_OF[$t-c1]=${CPU_OF[$t]}
      DESC_OF[$t-c1]="${DESC_OF[$t]}, 1 connection"
      SECTION_OF[$t-c1]=latency
      run_wrk "$t-c1" "${URLS[$t]}" 1 1 "$LAT_DURATION"
      expect_ok "$t-c1"
    done
  fi
fi
TG_WARN_MARK=$(grep -cE 'WARN|ERROR' "$WORK/tollgate.out.err" 2>/dev/null || true)

# ---------------------------------------------------------------------------
# 3b. The keyed API, shared by keyed, refusals and manykeys.
# ---------------------------------------------------------------------------
# tollgate-bench-keyed: the same /{proxy+} ANY -> HTTP_PROXY as above but
# with --api-key-required, deployed to three stages:
#   prod     plan bench-admit: throttle burst and rate $BIG, quota $BIG/DAY,
#            with two keys (measured, warm-up): every request is admitted;
#   blocked  plan bench-blocked: burst 0, rate 0, one key: every request
#            with that key is a 429;
#   many     plan bench-many: the same limits as bench-admit, MANY_KEYS keys.
if want keyed || want refusals || want manykeys; then
  log "configuring tollgate-bench-keyed"
  K_API_ID=$(awsq apigateway create-rest-api --name tollgate-bench-keyed --query id --output text)
  K_ROOT_ID=$(awsq apigateway get-resources --rest-api-id "$K_API_ID" --query 'items[?path==`/`].id' --output text)
  K_PROXY_ID=$(awsq apigateway create-resource --rest-api-id "$K_API_ID" --parent-id "$K_ROOT_ID" \
    --path-part '{proxy+}' --query id --output text)
  awsq apigateway put-method --rest-api-id "$K_API_ID" --resource-id "$K_PROXY_ID" --http-method ANY \
    --authorization-type NONE --api-key-required --request-parameters method.request.path.proxy=true >/dev/null
  awsq apigateway put-integration --rest-api-id "$K_API_ID" --resource-id "$K_PROXY_ID" --http-method ANY \
    --type HTTP_PROXY --integration-http-method ANY --uri "http://127.0.0.1:$UP_PORT/{proxy}" \
    --request-parameters integration.request.path.proxy=method.request.path.proxy >/dev/null
  for stage in prod blocked many; do
    awsq apigateway create-deployment --rest-api-id "$K_API_ID" --stage-name "$stage" >/dev/null
  done
  # new_plan NAME STAGE BURST RATE [QUOTA]: prints the plan's id.
  new_plan() {
    local quota=()
    [ -n "${5:-}" ] && quota=(--quota "limit=$5,period=DAY")
    awsq apigateway create-usage-plan --name "$1" --throttle "burstLimit=$3,rateLimit=$4" "${quota[@]}" \
      --api-stages "apiId=$K_API_ID,stage=$2" --query id --output text
  }
  # new_key NAME PLAN_ID -> prints "ID VALUE"
  new_key() {
    local id_value
    id_value=$(awsq apigateway create-api-key --name "$1" --enabled --query '[id,value]' --output text)
    awsq apigateway create-usage-plan-key --usage-plan-id "$2" --key-id "${id_value%%[[:space:]]*}" \
      --key-type API_KEY >/dev/null
    printf '%s\n' "$id_value"
  }
  PLAN_ID=$(new_plan bench-admit prod "$BIG" "$BIG" "$BIG")
  read -r KEY_ID KEY < <(new_key bench-measured "$PLAN_ID")
  read -r WKEY_ID WKEY < <(new_key bench-warmup "$PLAN_ID")
  ZPLAN_ID=$(new_plan bench-blocked blocked 0 0)
  read -r ZKEY_ID ZKEY < <(new_key bench-blocked "$ZPLAN_ID")
  MPLAN_ID=$(new_plan bench-many many "$BIG" "$BIG" "$BIG")
  [ -n "$KEY" ] && [ -n "$WKEY" ] && [ -n "$ZKEY" ] || die "create-api-key returned no value"
  PLAN_DESC=$(awsq apigateway get-usage-plan --usage-plan-id "$PLAN_ID" \
    --query '[throttle.burstLimit,throttle.rateLimit,quota.limit,quota.period]' --output text | tr '\t' ' ')
  K_BASE="http://$TG_ADDR/_aws/execute-api/$K_API_ID"
  probe "tollgate, no key"            "$K_BASE/prod/bench"    403 '{"message":"Forbidden"}'
  probe "tollgate, unknown key"       "$K_BASE/prod/bench"    403 '{"message":"Forbidden"}' "not-a-key-not-a-key-not-a-key"
  probe "tollgate, plan key"          "$K_BASE/prod/bench"    200 '{"ok":true}' "$KEY"
  probe "tollgate, plan warm-up key"  "$K_BASE/prod/bench"    200 '{"ok":true}' "$WKEY"
  probe "tollgate, blocked-plan key"  "$K_BASE/blocked/bench" 429 '{"message":"Too Many Requests"}' "$ZKEY"
  probe "tollgate, key of other plan" "$K_BASE/blocked/bench" 403 '{"message":"Forbidden"}' "$KEY"
  printf '%s\n%s\n' "$KEY" "$WKEY" >"$WORK/admit-keys.txt"

  log "starting nginx-keyed (key check and limit_req)"
  NGXK_PORT=$(free_port)
  nginx_conf nginx-keyed "$NGXK_PORT" "$WORK/admit-keys.txt"
  NGXK_URL="http://127.0.0.1:$NGXK_PORT/bench"
  keyed_nginx_refuses() { [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$NGXK_URL" 2>/dev/null)" = 403 ]; }
  start_nginx nginx-keyed keyed_nginx_refuses
  NGXK_PID=$NGINX_PID
  probe "nginx-keyed, no key"   "$NGXK_URL" 403 '{"message":"Forbidden"}'
  probe "nginx-keyed, plan key" "$NGXK_URL" 200 '{"ok":true}' "$KEY"
fi

# ---------------------------------------------------------------------------
# 3c. keyed: the admitted keyed path, Tollgate against nginx-keyed.
# ---------------------------------------------------------------------------
if want keyed; then
  URLS[tg-keyed]="$K_BASE/prod/bench"
  URLS[ngx-keyed]=$NGXK_URL
  CPU_OF[tg-keyed]=$TG_PID
  CPU_OF[ngx-keyed]=$(family "$NGXK_PID")
  DESC_OF[tg-keyed]="Tollgate, plan key, admitted"
  DESC_OF[ngx-keyed]="nginx map + limit_req, admitted"
  # Measured with KEY; the warm-up with WKEY, so KEY's usage count is the
  # measured run's alone (checked against GetUsage below).
  for t in $(ordered tg-keyed ngx-keyed); do
    SECTION_OF[$t]=keyed
    run_wrk "$t" "${URLS[$t]}" "$THREADS" "$CONNECTIONS" "$DURATION" "key=$KEY" "warmkey=$WKEY" tally
    expect_ok "$t"
  done
  # Tollgate's usage count of the measured key (flushed every 20 ms): the 2xx
  # wrk read, plus at most one per connection admitted as wrk stopped.
  sleep 0.5
  TODAY=$(date -u +%Y-%m-%d)
  TG_USED=$(awsq apigateway get-usage --usage-plan-id "$PLAN_ID" --key-id "$KEY_ID" \
    --start-date "$TODAY" --end-date "$TODAY" --query "items.\"$KEY_ID\"[0][0]" --output text 2>/dev/null || true)
fi

# ---------------------------------------------------------------------------
# 3d. refusals: 403 and 429 against the upstream measured just before.
# ---------------------------------------------------------------------------
if want refusals; then
  URLS[direct2]="http://$UP_ADDR/bench"
  URLS[tg-nokey]="$K_BASE/prod/bench"
  URLS[tg-blocked]="$K_BASE/blocked/bench"
  URLS[ngx-nokey]=$NGXK_URL
  CPU_OF[direct2]=$UP_PID
  CPU_OF[tg-nokey]=$TG_PID
  CPU_OF[tg-blocked]=$TG_PID
  CPU_OF[ngx-nokey]=$(family "$NGXK_PID")
  DESC_OF[direct2]="upstream alone"
  DESC_OF[tg-nokey]="Tollgate, no key: 403"
  DESC_OF[tg-blocked]="Tollgate, burst-0 key: 429"
  DESC_OF[ngx-nokey]="nginx-keyed, no key: 403"
  for t in $(ordered direct2 tg-nokey tg-blocked ngx-nokey); do
    SECTION_OF[$t]=refusals
    case $t in
      direct2) run_wrk "$t" "${URLS[$t]}" "$THREADS" "$CONNECTIONS" "$DURATION"; expect_ok "$t" ;;
      tg-blocked) run_wrk "$t" "${URLS[$t]}" "$THREADS" "$CONNECTIONS" "$DURATION" "key=$ZKEY" tally; expect_refused "$t" 429 ;;
      *) run_wrk "$t" "${URLS[$t]}" "$THREADS" "$CONNECTIONS" "$DURATION" tally; expect_refused "$t" 403 ;;
    esac
  done
  probe "tollgate, no key, after the runs" "$K_BASE/prod/bench" 403 '{"message":"Forbidden"}'
fi

# ---------------------------------------------------------------------------
# 3e. manykeys: MANY_KEYS keys in one plan, a random one per request.
# ---------------------------------------------------------------------------
# idle_cpu: Tollgate's CPU time (ms per s) over IDLE_SECS with no requests.
idle_cpu() {
  local before after
  before=$(cpu_ticks "$TG_PID")
  sleep "$IDLE_SECS"
  after=$(cpu_ticks "$TG_PID")
  awk -v t=$((after - before)) -v hz="$CLK_TCK" -v s="$IDLE_SECS" 'BEGIN { printf "%.1f", t * 1000 / hz / s }'
}
if want manykeys; then
  M_URL="$K_BASE/many/bench"
  # Key 0 of the plan first: the one-key file (and the one-key run before the
  # others exist). Then MANY_KEYS - 1 more; the many-keys file holds all.
  log "manykeys: Tollgate idle for ${IDLE_SECS} s before the keys exist"
  sleep 1
  RSS_IDLE_BEFORE=$(rss_kib "$TG_PID")
  IDLE_CPU_BEFORE=$(idle_cpu)
  python3 "$BENCH/make_keys.py" --endpoint "http://$TG_ADDR" --plan-id "$MPLAN_ID" --count 1 \
    --threads 1 --out "$WORK/one-key.txt" --name-prefix bench-one >/dev/null \
    || die "make_keys.py could not create the one key"
  probe "tollgate, many plan, key 0" "$M_URL" 200 '{"ok":true}' "$(head -n1 "$WORK/one-key.txt")"
  probe "tollgate, many plan, key of another plan" "$M_URL" 403 '{"message":"Forbidden"}' "$KEY"
  # The one-key run before the keys are created (index of 4 keys); not
  # part of the ordered pair: it shows what merely holding the keys costs.
  URLS[tg-1key-before]=$M_URL
  CPU_OF[tg-1key-before]=$TG_PID
  DESC_OF[tg-1key-before]="Tollgate, 1 key, before the others exist"
  SECTION_OF[tg-1key-before]=manykeys
  run_wrk tg-1key-before "$M_URL" "$THREADS" "$CONNECTIONS" "$DURATION" "keys=$WORK/one-key.txt"
  expect_ok tg-1key-before

  log "manykeys: creating $((MANY_KEYS - 1)) more keys with boto3, $KEY_THREADS threads"
  ticks_before=$(cpu_ticks "$TG_PID")
  python3 "$BENCH/make_keys.py" --endpoint "http://$TG_ADDR" --plan-id "$MPLAN_ID" \
    --count $((MANY_KEYS - 1)) --threads "$KEY_THREADS" --out "$WORK/more-keys.txt" \
    >"$WORK/make_keys.out" || die "make_keys.py failed (see above)"
  KEYGEN_CPU_S=$(awk -v t=$(( $(cpu_ticks "$TG_PID") - ticks_before )) -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz }')
  KEYGEN=$(tail -n1 "$WORK/make_keys.out")
  log "manykeys: $KEYGEN (Tollgate CPU ${KEYGEN_CPU_S} s)"
  cat "$WORK/one-key.txt" "$WORK/more-keys.txt" >"$WORK/many-keys.txt"
  [ "$(wc -l <"$WORK/many-keys.txt")" = "$MANY_KEYS" ] || die "many-keys.txt does not hold $MANY_KEYS keys"
  M_IN_PLAN=$(python3 - "http://$TG_ADDR" "$MPLAN_ID" <<'PY'
import sys, boto3
c = boto3.client("apigateway", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
print(sum(len(p["items"]) for p in c.get_paginator("get_usage_plan_keys").paginate(usagePlanId=sys.argv[2], PaginationConfig={"PageSize": 500})))
PY
  ) || die "cannot count the keys of plan bench-many"
  [ "$M_IN_PLAN" = "$MANY_KEYS" ] || die "plan bench-many holds $M_IN_PLAN keys, expected $MANY_KEYS"
  probe "tollgate, many plan, last key" "$M_URL" 200 '{"ok":true}' "$(tail -n1 "$WORK/many-keys.txt")"
  log "manykeys: Tollgate idle for ${IDLE_SECS} s with the keys"
  sleep 1
  RSS_IDLE_AFTER=$(rss_kib "$TG_PID")
  IDLE_CPU_AFTER=$(idle_cpu)

  URLS[tg-1key]=$M_URL
  URLS[tg-many]=$M_URL
  CPU_OF[tg-1key]=$TG_PID
  CPU_OF[tg-many]=$TG_PID
  DESC_OF[tg-1key]="Tollgate, 1 key of the $MANY_KEYS"
  DESC_OF[tg-many]="Tollgate, random key of $MANY_KEYS"
  for t in $(ordered tg-1key tg-many); do
    SECTION_OF[$t]=manykeys
    if [ "$t" = tg-1key ]; then f=$WORK/one-key.txt; else f=$WORK/many-keys.txt; fi
    run_wrk "$t" "$M_URL" "$THREADS" "$CONNECTIONS" "$DURATION" "keys=$f"
    expect_ok "$t"
  done
  RSS_AFTER_MANY=${RSS_AFTER[tg-many]}
  log "manykeys: Tollgate idle for ${IDLE_SECS} s after the runs"
  sleep 1
  IDLE_CPU_END=$(idle_cpu)
  RSS_IDLE_END=$(rss_kib "$TG_PID")

  # nginx with the same keys, for reference.
  log "manykeys: starting nginx-many ($MANY_KEYS keys in its map)"
  NGXM_PORT=$(free_port)
  nginx_conf nginx-many "$NGXM_PORT" "$WORK/many-keys.txt"
  NGXM_URL="http://127.0.0.1:$NGXM_PORT/bench"
  many_nginx_refuses() { [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$NGXM_URL" 2>/dev/null)" = 403 ]; }
  start_nginx nginx-many many_nginx_refuses
  NGXM_PID=$NGINX_PID
  probe "nginx-many, last key" "$NGXM_URL" 200 '{"ok":true}' "$(tail -n1 "$WORK/many-keys.txt")"
  CPU_OF[ngx-1key]=$(family "$NGXM_PID")
  CPU_OF[ngx-many]=${CPU_OF[ngx-1key]}
  DESC_OF[ngx-1key]="nginx-keyed, 1 key of the $MANY_KEYS"
  DESC_OF[ngx-many]="nginx-keyed, random key of $MANY_KEYS"
  for t in $(ordered ngx-1key ngx-many); do
    SECTION_OF[$t]=manykeys-nginx
    if [ "$t" = ngx-1key ]; then f=$WORK/one-key.txt; else f=$WORK/many-keys.txt; fi
    run_wrk "$t" "$NGXM_URL" "$THREADS" "$CONNECTIONS" "$DURATION" "keys=$f"
    expect_ok "$t"
  done
fi

TG_WARNINGS=$(grep -cE 'WARN|ERROR' "$WORK/tollgate.out.err" 2>/dev/null || true)

# ---------------------------------------------------------------------------
# 4. Report.
# ---------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.3f", a / b; else print "?" }'; }
passfail() { awk -v r="$1" -v t="$2" 'BEGIN { print (r != "?" && r >= t) ? "PASS" : "FAIL" }'; }
mib() { awk -v k="$1" 'BEGIN { if (k ~ /^[0-9]+$/) printf "%.1f", k / 1024; else print "?" }'; }
# section_table DENOMINATOR RUN...: one row per run, req/s next to its
# non-2xx count and socket errors; "vs" = req/s / DENOMINATOR's req/s and
# cpu = cpu_us/req / DENOMINATOR's.
section_table() {
  local denom=$1 t
  shift
  printf '  %-15s %-38s %10s %8s %8s %10s %-16s %8s %8s %10s %8s  %s\n' \
    run what req/s "vs" "2xx%" non2xx socket_errors p50_ms p99_ms cpu_us/req "cpu vs" "warm-up statuses"
  for t in "$@"; do
    printf '  %-15s %-38s %10.0f %8s %8s %10s %-16s %8.3f %8.3f %10s %8s  %s%s\n' \
      "$t" "${DESC_OF[$t]:-}" "${RPS[$t]}" "$(ratio "${RPS[$t]}" "${RPS[$denom]}")x" "${OK_PCT[$t]}" \
      "${NON2XX[$t]}" "${SOCKERR[$t]}" "${P50[$t]}" "${P99[$t]}" "${CPU_US[$t]}" \
      "$(ratio "${CPU_US[$t]}" "${CPU_US[$denom]}")x" "${WARM_STATUSES[$t]:--}" "${INVALID_RUN[$t]:+  INVALID}"
  done
  local shown=0
  for t in "$@"; do
    [ -n "${THREAD_CPU[$t]:-}" ] || continue
    [ "$shown" = 1 ] || echo "  Tollgate CPU per request by thread, us (main: accepts, serves, scans usage counters every 20 ms;"
    [ "$shown" = 1 ] || echo "    workers: serve; blocking: control plane and the usage flush's SQLite writes):"
    shown=1
    printf '    %-15s %s (total %s)\n' "$t" "${THREAD_CPU[$t]}" "${CPU_US[$t]}"
  done
}
# verdict SECTION VERDICT: VERDICT, or INVALID when a run of SECTION is.
verdict() {
  local t
  for t in "${RUNS[@]}"; do
    [ "${SECTION_OF[$t]}" = "$1" ] && [ -n "${INVALID_RUN[$t]:-}" ] && { echo INVALID; return 0; }
  done
  echo "$2"
}
# runs_of SECTION: the section's runs in the order they ran.
runs_of() { local t; for t in "${RUNS[@]}"; do [ "${SECTION_OF[$t]}" = "$1" ] && printf '%s ' "$t"; done; return 0; }
not_run() { echo; echo "== $1: not run (SECTIONS=\"$SECTIONS\")"; }

VERDICTS=()
echo
echo "Tollgate load benchmark — $START_TIME, $(nproc) cores, $(uname -m)"
echo "wrk -t $THREADS -c $CONNECTIONS -d $DURATION --latency (after a $WARMUP warm-up each); upstream GET /bench -> {\"ok\":true}"
echo "nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') worker_processes $NGINX_WORKERS; Tollgate HTTP_PROXY /{proxy+} -> upstream"
echo "order of the systems in every section: $ORDER ($ORDER_WHY); the next run should use the other"
echo "  (RUN_INDEX=$((RUN_INDEX + 1))), and figures should be read over pairs of runs"
# Anything else running on the box shows here (a quiet 2-core box: well under 1 before).
echo "load average before the runs: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
echo "columns: vs = req/s over the section's denominator's req/s; cpu vs = the same for cpu_us/req"
echo "  (user + system CPU of the serving process(es) alone per request; lower is better); 2xx% = (requests"
echo "  - non2xx) / requests; socket_errors = connect/read/write/timeout, or none"

if want proxy; then
  echo
  echo "== proxy — denominator: nginx (plain proxy_pass)"
  # shellcheck disable=SC2046
  section_table nginx $(runs_of proxy)
  P_RATIO=$(ratio "${RPS[tollgate]}" "${RPS[nginx]}")
  read -r TG_ADD NGX_ADD < <(awk -v tp="${P99[tollgate]}" -v np="${P99[nginx]}" -v dp="${P99[direct]}" \
    'BEGIN { printf "%+.3f %+.3f\n", tp - dp, np - dp }')
  P_VERDICT=$(verdict proxy "$(awk -v r="$P_RATIO" -v a="$TG_ADD" 'BEGIN { print (r != "?" && r >= 0.9 && a <= 1.0) ? "PASS" : "FAIL" }')")
  echo "  p99 added over direct (a difference, not a ratio): Tollgate ${TG_ADD} ms, nginx ${NGX_ADD} ms (target <= +1 ms)."
  echo "  At $CONNECTIONS connections the CPUs are saturated and p99 is mostly queueing: it can be negative."
  if [ "$LAT_DURATION" != 0 ]; then
    echo
    echo "== latency — wrk -t 1 -c 1 -d $LAT_DURATION (CPUs not saturated); denominator: nginx-c1; added = minus direct-c1"
    # shellcheck disable=SC2046
    section_table nginx-c1 $(runs_of latency)
    for t in nginx tollgate; do
      printf '  %-9s p50 added %s ms, p99 added %s ms\n' "$t" \
        "$(awk -v a="${P50[$t-c1]}" -v b="${P50[direct-c1]}" 'BEGIN { printf "%+.3f", a - b }')" \
        "$(awk -v a="${P99[$t-c1]}" -v b="${P99[direct-c1]}" 'BEGIN { printf "%+.3f", a - b }')"
    done
  else
    echo
    echo "== latency: not run (LAT_DURATION=0)"
  fi
  VERDICTS+=("$P_VERDICT: proxy: Tollgate ${P_RATIO}x nginx throughput (target >= 0.9x), p99 ${TG_ADD} ms over direct (target <= +1 ms)")
else
  not_run proxy
fi

if want keyed; then
  echo
  echo "== keyed (admitted) — denominator: ngx-keyed"
  echo "  Tollgate: /{proxy+} ANY --api-key-required, stage prod, plan bench-admit (burst, rate, quota/DAY:"
  echo "            $PLAN_DESC), account throttle $BIG/$BIG: every request is checked and admitted"
  echo "  nginx-keyed: map \$http_x_api_key of the plan's keys (else 403), limit_req_zone \$http_x_api_key"
  echo "            rate=${BIG}r/s, limit_req burst=$BIG nodelay, then the same proxy_pass"
  echo "  measured with one key of the plan; warm-ups with the plan's other key"
  # shellcheck disable=SC2046
  section_table ngx-keyed $(runs_of keyed)
  K_RATIO=$(ratio "${RPS[tg-keyed]}" "${RPS[ngx-keyed]}")
  K_VERDICT=$(verdict keyed "$(passfail "$K_RATIO" 0.9)")
  TG_2XX=$(( ${REQS[tg-keyed]} - ${NON2XX[tg-keyed]} ))
  if awk -v u="${TG_USED:-}" -v a="$TG_2XX" -v c="$CONNECTIONS" 'BEGIN { exit !(u ~ /^[0-9]+$/ && u >= a && u - a <= c) }'; then
    echo "  Tollgate GetUsage of the measured key: ${TG_USED} (wrk read $TG_2XX 2xx; up to $CONNECTIONS more admitted as wrk stopped): consistent"
  else
    echo "  check failed: Tollgate GetUsage of the measured key is ${TG_USED:-?}, wrk read $TG_2XX 2xx (+ up to $CONNECTIONS in flight)"
    [ "$K_VERDICT" = INVALID ] || K_VERDICT=FAIL
  fi
  VERDICTS+=("$K_VERDICT: keyed: Tollgate ${K_RATIO}x nginx checking the key and limit_req, every request admitted (target >= 0.9x)")
else
  not_run keyed
fi

if want refusals; then
  echo
  echo "== refusals — denominator: direct2 (the upstream alone, measured in this section)"
  # shellcheck disable=SC2046
  section_table direct2 $(runs_of refusals)
  F_RATIO=$(ratio "${RPS[tg-nokey]}" "${RPS[direct2]}")
  T_RATIO=$(ratio "${RPS[tg-blocked]}" "${RPS[direct2]}")
  VERDICTS+=("$(verdict refusals "$(passfail "$F_RATIO" 0.8)"): refusals: Tollgate 403 (no key) at ${F_RATIO}x the direct rate (target >= 0.8x; nginx-keyed's 403: $(ratio "${RPS[ngx-nokey]}" "${RPS[direct2]}")x)")
  VERDICTS+=("$(verdict refusals "$(passfail "$T_RATIO" 0.8)"): refusals: Tollgate 429 (burst-0 plan) at ${T_RATIO}x the direct rate (target >= 0.8x)")
else
  not_run refusals
fi

if want manykeys; then
  echo
  echo "== manykeys — denominator: tg-1key (the same wrk Lua script, the file holding key 0 only)"
  echo "  plan bench-many on stage many: burst, rate, quota/DAY $BIG; $MANY_KEYS keys in it"
  echo "  tg-1key-before ran before the other $((MANY_KEYS - 1)) keys existed (not part of the ordered pair)"
  # shellcheck disable=SC2046
  section_table tg-1key $(runs_of manykeys)
  M_RATIO=$(ratio "${RPS[tg-many]}" "${RPS[tg-1key]}")
  read -r KG_SECS KG_RATE KG_FIRST KG_LAST KG_BLOCK < <(awk '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    print v["seconds"], v["keys_per_s"], v["first_block_s"], v["last_block_s"], v["block"] }' <<<"$KEYGEN")
  echo "  many keys / one key: ${M_RATIO}x req/s, $(ratio "${CPU_US[tg-many]}" "${CPU_US[tg-1key]}")x CPU per request"
  echo "  key creation: $((MANY_KEYS - 1)) keys (CreateApiKey + CreateUsagePlanKey each) in ${KG_SECS} s with $KEY_THREADS"
  echo "    threads (${KG_RATE} keys/s); first $KG_BLOCK ${KG_FIRST} s, last $KG_BLOCK ${KG_LAST} s; Tollgate CPU ${KEYGEN_CPU_S} s"
  printf '  Tollgate VmRSS: %s MiB idle before the keys, %s MiB idle after creating them, %s MiB right\n' \
    "$(mib "$RSS_IDLE_BEFORE")" "$(mib "$RSS_IDLE_AFTER")" "$(mib "$RSS_AFTER_MANY")"
  printf '    after the many-keys run, %s MiB idle at the end\n' "$(mib "$RSS_IDLE_END")"
  echo "  Tollgate idle CPU (ms per s, over ${IDLE_SECS} s): ${IDLE_CPU_BEFORE} before the keys, ${IDLE_CPU_AFTER} after creating them,"
  echo "    ${IDLE_CPU_END} after the runs"
  echo
  echo "== manykeys-nginx (reference) — denominator: ngx-1key (nginx-many: a map of the same $MANY_KEYS keys)"
  # shellcheck disable=SC2046
  section_table ngx-1key $(runs_of manykeys-nginx)
  echo "  nginx many keys / one key: $(ratio "${RPS[ngx-many]}" "${RPS[ngx-1key]}")x req/s, $(ratio "${CPU_US[ngx-many]}" "${CPU_US[ngx-1key]}")x CPU per request"
  VERDICTS+=("$(verdict manykeys INFO): manykeys: Tollgate with a random key of $MANY_KEYS at ${M_RATIO}x its one-key rate (nginx: $(ratio "${RPS[ngx-many]}" "${RPS[ngx-1key]}")x; no target)")
else
  not_run manykeys
fi

echo
echo "== every run, in the order run (order: $ORDER)"
printf '  %3s %-15s %-15s %10s %8s %-10s %8s %10s %-16s %8s %8s %10s %10s\n' \
  "#" section run req/s "vs" denominator "2xx%" non2xx socket_errors p50_ms p99_ms cpu_us/req rss_mib
declare -A DENOM_OF=([proxy]=nginx [latency]=nginx-c1 [keyed]=ngx-keyed [refusals]=direct2 [manykeys]=tg-1key [manykeys-nginx]=ngx-1key)
i=0
for t in "${RUNS[@]}"; do
  i=$((i + 1))
  d=${DENOM_OF[${SECTION_OF[$t]}]}
  printf '  %3d %-15s %-15s %10.0f %8s %-10s %8s %10s %-16s %8.3f %8.3f %10s %10s%s\n' \
    "$i" "${SECTION_OF[$t]}" "$t" "${RPS[$t]}" "$(ratio "${RPS[$t]}" "${RPS[$d]}")x" "$d" "${OK_PCT[$t]}" \
    "${NON2XX[$t]}" "${SOCKERR[$t]}" "${P50[$t]}" "${P99[$t]}" "${CPU_US[$t]}" "$(mib "${RSS_AFTER[$t]}")" \
    "${INVALID_RUN[$t]:+  INVALID}"
done
echo "  (rss_mib: VmRSS of the measured process(es) right after the run; nginx: master + workers)"
echo
[ "${TG_WARNINGS:-0}" = 0 ] || echo "Tollgate logged ${TG_WARNINGS} WARN/ERROR lines on stderr during the runs (${TG_WARN_MARK:-0} by the end of the proxy section)"
echo "note: on $(nproc) cores wrk, the upstream and the proxy share the CPUs: compare ratios within a"
echo "      section, over runs in both orders, not absolute numbers."
for v in "${VERDICTS[@]}"; do echo "$v"; done
if [ "${#INVALID[@]}" -gt 0 ]; then
  echo
  for m in "${INVALID[@]}"; do echo "INVALID: $m"; done
  echo "FAIL: ${#INVALID[@]} measurement(s) above do not measure what their rows say; exit 2"
  log "error: ${#INVALID[@]} invalid measurement(s); see the end of the report"
  exit 2
fi
if [ "$BENCH_STRICT" = 1 ]; then
  for v in "${VERDICTS[@]}"; do [ "${v%%:*}" != FAIL ] || exit 1; done
fi
exit 0
