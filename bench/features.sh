#!/usr/bin/env bash
# Load benchmarks of Tollgate's features against nginx doing the same job in
# the same run (bench/README.md, "Features: observability, cache, memory"):
#
#   obs           the seed's path (HTTP_PROXY on /{proxy+}, an API key in a usage
#                 plan whose limits are never reached, as bench/run.sh's keyed
#                 section) with access logs, metrics and tracing ALL on
#                 (tg-obs), and without them (tg-plain), against nginx checking
#                 the key and limit_req (as run.sh's nginx-keyed) writing its own
#                 access log (ngx-log, the denominator) and without it
#                 (ngx-plain). Issue #14: tg-obs >= 0.9x ngx-log.
#   cache         cache hits: Tollgate's stage cache (GET of a job path, the path
#                 as the cache key) against nginx's proxy_cache serving the same
#                 upstream response, both keyed as above, both warm; every
#                 measured request must be a hit (the upstream sees none).
#                 Issue #16: tg-cache >= 1.0x ngx-cache.
#   instructions  user-space instructions per request of the keyed path, with and
#                 without observability, under callgrind (as bench/instructions.sh).
#   memory        MEM_RESOURCES (300) resources and MEM_KEYS (100 000) keys with
#                 access logs, metrics (per method) and tracing on: Tollgate's RSS
#                 before and after the keys, after one run spread over every key
#                 and resource, and after each further equal run (MEM_RUNS). Issue #14.
#
#   bash bench/features.sh                 # all sections (the key creation takes minutes)
#   RUN_INDEX=1 bash bench/features.sh     # the next run: systems in the other order
#   SECTIONS="obs cache" bash bench/features.sh
#
# Environment (defaults in brackets):
#   DURATION [10s] WARMUP [2s] CONNECTIONS [32] THREADS [2]   wrk's, the same for every run
#   RUN_INDEX [0]  ORDER [from RUN_INDEX: even forward, odd reverse]
#   SECTIONS ["obs cache instructions memory"]
#   JOBS [1000]            job ids the cache runs spread over
#   MEM_KEYS [100000] MEM_RESOURCES [300] KEY_THREADS [1]  the memory section
#   MEM_RUNS [3]           equal memory runs, one after the other
#   MEM_DURATION [DURATION] each of them
#   INSTR_N [8000]         requests per kind under callgrind
#   DRAIN_TIMEOUT [60]     seconds to wait for Tollgate's log writer to catch up
#   NGINX_WORKERS [auto]   CARGO_TARGET_DIR  SKIP_BUILD=1  KEEP_WORK=1
#   BENCH_STRICT=1         exit 1 when a target verdict is FAIL
#
# Exit status: 2 when a measurement is invalid (a run meant to be 200s got
# fewer than 99 % 2xx, a cache run reached the upstream, observability records
# were dropped or not written, a probe failed); 1 on a set-up error or on
# BENCH_STRICT=1 and a FAIL verdict; else 0.
#
# Everything listens on 127.0.0.1; every process started here is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
BENCH_STRICT=${BENCH_STRICT:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
RUN_INDEX=${RUN_INDEX:-0}
SECTIONS=${SECTIONS:-"obs cache instructions memory"}
JOBS=${JOBS:-1000}
MEM_KEYS=${MEM_KEYS:-100000}
MEM_RESOURCES=${MEM_RESOURCES:-300}
MEM_DURATION=${MEM_DURATION:-$DURATION}
MEM_RUNS=${MEM_RUNS:-3}
KEY_THREADS=${KEY_THREADS:-1}
INSTR_N=${INSTR_N:-8000}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-60}
MIN_OK_PCT=99
BIG=100000000
# The 1-minute load average above which a run's figures are called disturbed.
LOAD_LIMIT=2.5
# Access log format: the CLF line the console offers (the closest to nginx's
# "combined"); the memory section adds the key id. (Single quotes: these are
# API Gateway's $context variables, not the shell's.)
# shellcheck disable=SC2016
CLF='$context.identity.sourceIp $context.identity.caller $context.identity.user [$context.requestTime] "$context.httpMethod $context.resourcePath $context.protocol" $context.status $context.responseLength $context.requestId $context.extendedRequestId'
ACCOUNT=000000000000
REGION=us-east-1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
TOLLGATE_BIN=$TARGET_DIR/release/tollgate
UPSTREAM_BIN=$TARGET_DIR/release/multitalk-upstream

# shellcheck disable=SC2034  # read by bench/lib.sh's log()
LOG_PREFIX=features
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-features.XXXXXX")
# shellcheck source=bench/lib.sh disable=SC1091
. "$BENCH/lib.sh"

# ---------------------------------------------------------------------------
# 0. Processes we start, and their bounded cleanup (as bench/run.sh).
# ---------------------------------------------------------------------------
PIDS=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid child
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      for child in $(pgrep -P "$pid" 2>/dev/null || true); do PIDS+=("$child"); done
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  local deadline=$((SECONDS + 5)) alive
  while :; do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    [ "$SECONDS" -ge "$deadline" ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
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
ALL_SECTIONS="obs cache instructions memory"
for s in $SECTIONS; do
  case " $ALL_SECTIONS " in *" $s "*) ;; *) die "unknown section '$s' in SECTIONS (known: $ALL_SECTIONS)" ;; esac
done
want() { case " $SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
for v in JOBS MEM_KEYS MEM_RESOURCES MEM_RUNS KEY_THREADS INSTR_N DRAIN_TIMEOUT; do
  if ! [[ ${!v} =~ ^[0-9]+$ ]] || [ "${!v}" -lt 1 ]; then die "$v must be a whole number >= 1 (got '${!v}')"; fi
done
log "order of the systems in every section: $ORDER ($ORDER_WHY); sections: $SECTIONS"

# Waits (bounded) until FILE holds a line matching REGEX; prints that line.
wait_for_line() {
  local file=$1 regex=$2 pid=$3 what=$4 line _
  for _ in $(seq 1 600); do
    line=$(grep -m1 -E "$regex" "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then printf '%s\n' "$line"; return 0; fi
    kill -0 "$pid" 2>/dev/null || { cat "$file" "$file.err" >&2 2>/dev/null || true; die "$what exited before it was ready"; }
    sleep 0.1
  done
  cat "$file" "$file.err" >&2 2>/dev/null || true
  die "$what not ready after 60 s"
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------------------
# 1. Tools and binaries.
# ---------------------------------------------------------------------------
need_apt=()
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
NGINX=$(command -v nginx 2>/dev/null || true)
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
[ -z "$NGINX" ] && need_apt+=(nginx)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if want instructions; then
  command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)
fi
install_debian "${need_apt[@]}"
command -v wrk >/dev/null 2>&1 || die "wrk not found after installing it"
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx not found"
ensure_aws_cli
pip_install boto3 boto3
if want instructions; then
  command -v callgrind_control >/dev/null 2>&1 || die "callgrind_control missing (part of valgrind)"
fi

if [ "$SKIP_BUILD" != 1 ]; then
  log "building release binaries into $TARGET_DIR"
  (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --locked -q -p tollgate -p multitalk-upstream) \
    || die "cargo build failed"
fi
[ -x "$TOLLGATE_BIN" ] || die "$TOLLGATE_BIN missing"
[ -x "$UPSTREAM_BIN" ] || die "$UPSTREAM_BIN missing"

# ---------------------------------------------------------------------------
# 2. Upstream, OTLP sink, Tollgate.
# ---------------------------------------------------------------------------
log "starting multitalk-upstream"
# No --api-key: any bearer token passes (the job paths still need one).
# --job-seconds 0: a job is completed when submitted, so its status body
# never changes between a fill and the hits.
RUST_LOG=warn "$UPSTREAM_BIN" --listen 127.0.0.1:0 --job-seconds 0 >"$WORK/upstream.out" 2>"$WORK/upstream.out.err" &
PIDS+=($!)
UP_PID=$!
line=$(wait_for_line "$WORK/upstream.out" 'listening on http://' "$UP_PID" multitalk-upstream)
UP_ADDR=${line##*http://}
UP_PORT=${UP_ADDR##*:}
[ "$(curl -s -m 5 "http://$UP_ADDR/bench")" = '{"ok":true}' ] || die "upstream GET /bench did not answer {\"ok\":true}"

log "starting the OTLP sink (bench/otlp_sink.py)"
python3 "$BENCH/otlp_sink.py" --listen 127.0.0.1:0 >"$WORK/sink.out" 2>"$WORK/sink.out.err" &
PIDS+=($!)
SINK_PID=$!
line=$(wait_for_line "$WORK/sink.out" 'listening on http://' "$SINK_PID" otlp-sink)
SINK_URL=${line##*listening on }
sink_stat() { curl -s -m 5 "$SINK_URL/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# start_tollgate NAME [WRAPPER...]: Tollgate in its own cwd and data dir,
# exporting spans to the sink. Sets TG_ADDR and TG_PID (the process itself).
start_tollgate() {
  local name=$1
  shift
  mkdir -p "$WORK/$name-data" "$WORK/$name-cwd"
  (cd "$WORK/$name-cwd" && exec env -u TOLLGATE_CONFIG -u TOLLGATE_PUBLIC_LISTEN \
    -u TOLLGATE_ACCESS_KEY_ID -u TOLLGATE_SECRET_ACCESS_KEY -u TOLLGATE_OTLP_ENDPOINT \
    TOLLGATE_LOG=warn "$@" "$TOLLGATE_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/$name-data" \
    --otlp-endpoint "$SINK_URL" >"$WORK/$name.out" 2>"$WORK/$name.out.err") &
  PIDS+=($!)
  TG_PID=$!
  line=$(wait_for_line "$WORK/$name.out" '^tollgate listening on http://' "$TG_PID" "$name")
  TG_ADDR=${line##*http://}
}
log "starting tollgate (--otlp-endpoint $SINK_URL)"
start_tollgate tollgate
MAIN_TG_PID=$TG_PID
MAIN_TG_ADDR=$TG_ADDR

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_DEFAULT_REGION=$REGION AWS_PAGER="" AWS_CONFIG_FILE=$WORK/aws-config
export AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-credentials
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_API_GATEWAY 2>/dev/null || true
export AWS_ENDPOINT_URL=http://$TG_ADDR
awsq() { timeout 120 aws "$@"; }
# patch_ops PATH VALUE [PATH VALUE...]: "replace" patch operations as JSON
# (the CLI's shorthand cannot carry a CLF format's brackets and quotes).
patch_ops() {
  python3 -c 'import json, sys; a = sys.argv[1:]; print(json.dumps([{"op": "replace", "path": a[i], "value": a[i + 1]} for i in range(0, len(a), 2)]))' "$@"
}

# configure_keyed: in the Tollgate at AWS_ENDPOINT_URL, API tollgate-bench-obs
# (/{proxy+} ANY --api-key-required -> HTTP_PROXY http://UP/{proxy}, as
# bench/run.sh's keyed API) on stages "plain" and "obs"; on "obs" the access
# log (CLF, into /aws/apigateway/bench-obs), metrics for every method
# (*/*/metrics/enabled) and tracing (tracingEnabled). Plan bench-admit (burst,
# rate and quota BIG) covers both stages (and, with the cache section,
# bench-cache's stage), with two keys: KEY (measured) and WKEY (warm-ups).
# The account throttle is raised to BIG as in run.sh.
# JMESPath: the root resource's id (the backquotes are a JMESPath literal).
# shellcheck disable=SC2016
ROOT_QUERY='items[?path==`/`].id'
configure_keyed() {
  local root proxy stages
  O_API_ID=$(awsq apigateway create-rest-api --name tollgate-bench-obs --query id --output text)
  root=$(awsq apigateway get-resources --rest-api-id "$O_API_ID" --query "$ROOT_QUERY" --output text)
  proxy=$(awsq apigateway create-resource --rest-api-id "$O_API_ID" --parent-id "$root" \
    --path-part '{proxy+}' --query id --output text)
  awsq apigateway put-method --rest-api-id "$O_API_ID" --resource-id "$proxy" --http-method ANY \
    --authorization-type NONE --api-key-required --request-parameters method.request.path.proxy=true >/dev/null
  awsq apigateway put-integration --rest-api-id "$O_API_ID" --resource-id "$proxy" --http-method ANY \
    --type HTTP_PROXY --integration-http-method ANY --uri "http://127.0.0.1:$UP_PORT/{proxy}" \
    --request-parameters integration.request.path.proxy=method.request.path.proxy >/dev/null
  awsq apigateway create-deployment --rest-api-id "$O_API_ID" --stage-name plain >/dev/null
  awsq apigateway create-deployment --rest-api-id "$O_API_ID" --stage-name obs >/dev/null
  awsq logs create-log-group --log-group-name /aws/apigateway/bench-obs
  # A stage's first method setting comes with AWS's default method throttle
  # (rate 10 000, burst 5 000): raise it as the account's, on both stages so
  # they check the same throttle layers and differ only in what they observe.
  awsq apigateway update-stage --rest-api-id "$O_API_ID" --stage-name plain --patch-operations "$(patch_ops \
    '/*/*/throttling/rateLimit' "$BIG" '/*/*/throttling/burstLimit' "$BIG")" >/dev/null
  awsq apigateway update-stage --rest-api-id "$O_API_ID" --stage-name obs --patch-operations "$(patch_ops \
    /accessLogSettings/destinationArn "arn:aws:logs:$REGION:$ACCOUNT:log-group:/aws/apigateway/bench-obs" \
    /accessLogSettings/format "$CLF" /tracingEnabled true '/*/*/metrics/enabled' true \
    '/*/*/throttling/rateLimit' "$BIG" '/*/*/throttling/burstLimit' "$BIG")" >/dev/null
  stages="apiId=$O_API_ID,stage=plain apiId=$O_API_ID,stage=obs"
  if [ -n "${C_API_ID:-}" ]; then stages="$stages apiId=$C_API_ID,stage=cache"; fi
  # shellcheck disable=SC2086
  PLAN_ID=$(awsq apigateway create-usage-plan --name bench-admit --throttle "burstLimit=$BIG,rateLimit=$BIG" \
    --quota "limit=$BIG,period=DAY" --api-stages $stages --query id --output text)
  read -r KEY_ID KEY < <(awsq apigateway create-api-key --name bench-measured --enabled --query '[id,value]' --output text)
  read -r WKEY_ID WKEY < <(awsq apigateway create-api-key --name bench-warmup --enabled --query '[id,value]' --output text)
  if [ -z "$KEY" ] || [ -z "$WKEY" ]; then die "create-api-key returned no value"; fi
  awsq apigateway create-usage-plan-key --usage-plan-id "$PLAN_ID" --key-id "$KEY_ID" --key-type API_KEY >/dev/null
  awsq apigateway create-usage-plan-key --usage-plan-id "$PLAN_ID" --key-id "$WKEY_ID" --key-type API_KEY >/dev/null
  awsq apigateway update-account --patch-operations \
    op=replace,path=/throttle/rateLimit,value=$BIG op=replace,path=/throttle/burstLimit,value=$BIG >/dev/null
}

# configure_cache: API tollgate-bench-cache, the same /{proxy+} ANY with a
# key, HTTP_PROXY http://UP/{proxy} sending "Authorization: Bearer bench"
# (the upstream's job paths need a bearer token), cacheKeyParameters
# method.request.path.proxy (the job path is the key); stage "cache" with
# cacheClusterEnabled (0.5 GB budget), caching on for every method, TTL 600 s
# (nginx: proxy_cache_valid 200 10m). As tests/compat/test_cache.py.
configure_cache() {
  local root proxy
  C_API_ID=$(awsq apigateway create-rest-api --name tollgate-bench-cache --query id --output text)
  root=$(awsq apigateway get-resources --rest-api-id "$C_API_ID" --query "$ROOT_QUERY" --output text)
  proxy=$(awsq apigateway create-resource --rest-api-id "$C_API_ID" --parent-id "$root" \
    --path-part '{proxy+}' --query id --output text)
  awsq apigateway put-method --rest-api-id "$C_API_ID" --resource-id "$proxy" --http-method ANY \
    --authorization-type NONE --api-key-required --request-parameters method.request.path.proxy=true >/dev/null
  awsq apigateway put-integration --rest-api-id "$C_API_ID" --resource-id "$proxy" --http-method ANY \
    --type HTTP_PROXY --integration-http-method ANY --uri "http://127.0.0.1:$UP_PORT/{proxy}" \
    --request-parameters '{"integration.request.path.proxy":"method.request.path.proxy","integration.request.header.Authorization":"'"'Bearer bench'"'"}' \
    --cache-key-parameters method.request.path.proxy >/dev/null
  awsq apigateway create-deployment --rest-api-id "$C_API_ID" --stage-name cache >/dev/null
  awsq apigateway update-stage --rest-api-id "$C_API_ID" --stage-name cache --patch-operations \
    op=replace,path=/cacheClusterEnabled,value=true op=replace,path=/cacheClusterSize,value=0.5 >/dev/null
  # (and the method throttle that comes with a stage's first method setting
  # raised, as in configure_keyed)
  awsq apigateway update-stage --rest-api-id "$C_API_ID" --stage-name cache --patch-operations "$(patch_ops \
    '/*/*/caching/enabled' true '/*/*/caching/ttlInSeconds' 600 \
    '/*/*/throttling/rateLimit' "$BIG" '/*/*/throttling/burstLimit' "$BIG")" >/dev/null
}

log "configuring Tollgate"
C_API_ID=""
want cache && configure_cache
configure_keyed
O_BASE="http://$TG_ADDR/_aws/execute-api/$O_API_ID"

# probe WHAT URL EXPECTED_CODE EXPECTED_BODY [API_KEY]: one request, which
# must get exactly that answer (EXPECTED_BODY "*" takes any), or exit 2.
probe() {
  local hdr=() code body
  [ -n "${5:-}" ] && hdr=(-H "x-api-key: $5")
  code=$(curl -s -m 5 -o "$WORK/probe.body" -w '%{http_code}' "${hdr[@]}" "$2" || true)
  body=$(cat "$WORK/probe.body" 2>/dev/null || true)
  if [ "$code" != "$3" ] || { [ "$4" != '*' ] && [ "$body" != "$4" ]; }; then
    log "error: probe $1: $2 gave HTTP $code $body, expected $3 $4"
    exit 2
  fi
}

# ---------------------------------------------------------------------------
# 3. nginx.
# ---------------------------------------------------------------------------
NGX_USER=""
[ "$(id -u)" = 0 ] && NGX_USER="user root;"
printf '"%s" 1;\n"%s" 1;\n' "$KEY" "$WKEY" >"$WORK/keys.map"

# nginx_server PORT LOG CACHE: one server doing what Tollgate's keyed
# /{proxy+} does (as bench/run.sh's nginx-keyed): the key checked against the
# plan's keys (403 {"message":"Forbidden"}), a limit_req bucket per key at a
# rate far above what wrk sends, then proxy_pass. LOG: "off" or a file
# written in the default combined format, unbuffered (nginx's default).
# CACHE=1: proxy_cache for the job paths, as Tollgate's stage cache.
nginx_server() {
  local port=$1 logto=$2 cache=$3
  cat <<EOF
    server {
        listen 127.0.0.1:$port;
        default_type application/json;
EOF
  if [ "$logto" = off ]; then
    echo "        access_log off;"
  else
    echo "        # nginx's own access log: the default combined format, not buffered."
    echo "        access_log $logto combined;"
  fi
  cat <<EOF
        location / {
            if (\$api_key_ok = 0) { return 403 '{"message":"Forbidden"}'; }
            limit_req zone=plan burst=$BIG nodelay;
            limit_req_status 429;
            limit_req_log_level info;
            error_page 429 = @throttled;
EOF
  if [ "$cache" = 1 ]; then
    cat <<EOF
            # The stage cache's job: GETs kept 10 minutes, keyed by the path
            # (Tollgate: method, resource and method.request.path.proxy).
            proxy_cache jobs;
            proxy_cache_key "\$request_method \$uri";
            proxy_cache_valid 200 10m;
            add_header X-Cache-Status \$upstream_cache_status;
            proxy_set_header Authorization "Bearer bench";
EOF
  fi
  cat <<EOF
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location @throttled {
            return 429 '{"message":"Too Many Requests"}';
        }
    }
EOF
}
# nginx_conf NAME SERVERS [CACHE]: $WORK/NAME/nginx.conf with the shared
# http block (settings as bench/run.sh's, see its comments) around SERVERS;
# CACHE=1 adds the proxy_cache zone "jobs" in $WORK/NAME/cache (only then, as
# it starts nginx's cache manager and loader processes).
nginx_conf() {
  local name=$1 servers=$2 dir=$WORK/$1 cache_path=""
  mkdir -p "$dir/logs"
  if [ "${3:-0}" = 1 ]; then
    mkdir -p "$dir/cache"
    cache_path="    proxy_cache_path $dir/cache levels=1:2 keys_zone=jobs:10m max_size=256m inactive=60m use_temp_path=off;"
  fi
  cat >"$dir/nginx.conf" <<EOF
# Generated by bench/features.sh.
$NGX_USER
daemon off;
master_process on;
# As bench/run.sh: both proxies may use both cores (Tollgate runs a
# single-threaded runtime per core).
worker_processes $NGINX_WORKERS;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    # Neither Tollgate nor the upstream closes a connection after 1000 requests.
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
    # The usage plan's keys, as Tollgate's key index holds them.
    map_hash_max_size 2048;
    map_hash_bucket_size 128;
    map \$http_x_api_key \$api_key_ok {
        default 0;
        include $WORK/keys.map;
    }
    # One bucket per key at the plan's rate and burst ($BIG): nothing is
    # refused, every request looks up and updates its key's bucket.
    limit_req_zone \$http_x_api_key zone=plan:16m rate=${BIG}r/s;
$cache_path
$servers
}
EOF
}
# start_nginx NAME PORT: starts it and waits until PORT refuses a keyless request.
start_nginx() {
  local name=$1 port=$2 dir=$WORK/$1 _
  "$NGINX" -t -q -p "$dir/" -e "$dir/logs/error.log" -c "$dir/nginx.conf" || die "nginx rejected the generated $name config"
  "$NGINX" -p "$dir/" -e "$dir/logs/error.log" -c "$dir/nginx.conf" >"$WORK/$name.out" 2>&1 &
  PIDS+=($!)
  NGINX_PID=$!
  for _ in $(seq 1 100); do
    [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/bench" 2>/dev/null)" = 403 ] && return 0
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/$name.out" "$dir/logs/error.log" >&2 2>/dev/null || true
  die "$name not answering as expected"
}

# ---------------------------------------------------------------------------
# 4. wrk runs and what is recorded of each (as bench/run.sh, plus the load).
# ---------------------------------------------------------------------------
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
ordered() {
  if [ "$ORDER" = forward ]; then
    printf '%s\n' "$@"
  else
    local i
    for ((i = $#; i >= 1; i--)); do printf '%s\n' "${!i}"; done
  fi
}
family() { echo "$1 $(pgrep -P "$1" 2>/dev/null | tr '\n' ' ')"; }
cpu_ticks() {
  local total=0 pid fields
  for pid in $1; do
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
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo '?'; }
mib() { awk -v k="$1" 'BEGIN { if (k ~ /^[0-9]+$/) printf "%.1f", k / 1024; else print "?" }'; }
CLK_TCK=$(getconf CLK_TCK)
# Ticks the whole machine spent running processes (all CPUs: user, nice,
# system) or lost to the hypervisor (steal). Interrupt and softirq time is
# left out: loopback traffic's softirq work (about half a core at 100 000
# req/s here) is not in any process's own time, and would show as "other".
machine_busy() { awk '/^cpu / { print $2 + $3 + $4 + $9; exit }' /proc/stat; }
# Every process this script keeps running (and nginx's workers).
our_pids() {
  local p
  for p in "${PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then family "$p"; fi
  done | tr '\n' ' '
}
# Ticks of user + system time of this shell's waited-for children (wrk),
# from the output of `times` saved in FILE: `times` must run in this shell
# (a subshell starts with its children's times at zero).
children_ticks() { awk -v hz="$CLK_TCK" 'NR == 2 {
  split($1, u, "m"); split($2, s, "m"); sub(/s$/, "", u[2]); sub(/s$/, "", s[2])
  printf "%d\n", ((u[1] * 60 + u[2]) + (s[1] * 60 + s[2])) * hz }' "$1"; }
# Tollgate's threads by what runs on them (comm names are cut at 15 bytes).
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
      else if (c ~ /^tollgate-observ/) g = "observers"
      else if (c ~ /^tollgate-log-wr/) g = "logwriter"
      else if (c ~ /^tollgate-otlp/) g = "otlp"
      print tid, g, f[12] + f[13] }' "$t/stat" 2>/dev/null || true
  done
}
thread_cpu_us() {
  awk -v hz="$CLK_TCK" -v n="$3" '
    FNR == NR { before[$1] = $3; next }
    { d = $3 - ($1 in before ? before[$1] : 0); if (d > 0) sum[$2] += d }
    END { split("main workers blocking observers logwriter otlp other", g, " ")
      for (i = 1; i <= 7; i++) printf "%s %.1f ", g[i], (n > 0 ? sum[g[i]] * 1e6 / hz / n : 0)
      print "" }' "$1" "$2"
}
cat "$BENCH/wrk/spread.lua" "$BENCH/wrk/statuses.lua" >"$WORK/spread-tally.lua"

declare -A RPS P50 P99 NON2XX SOCKERR SOCKERR_N REQS WREQS SECS OK_PCT WARM_STATUSES CPU_US RSS_AFTER
declare -A SECTION_OF DESC_OF THREAD_CPU INVALID_RUN CPU_OF LOAD_AT OTHER_CPU DISTURBED
RUNS=()
INVALID=()
DISTURBED_RUNS=()

# run_wrk NAME URL [OPTION...]: a warm-up of WARMUP, then the measured run of
# DURATION (or dur=), wrk -t THREADS -c CONNECTIONS --latency.
#   key=VALUE / warmkey=VALUE   x-api-key of the measured run / the warm-up
#   tally                       the warm-up tallies statuses (wrk/statuses.lua)
#   spread                      wrk/spread.lua (the warm-up with statuses.lua
#                               appended); its settings from the environment
#                               (WRK_PATHS_FILE, WRK_PREFIX, WRK_KEY, WRK_KEYS_FILE)
#   dur=D                       the measured run's duration
# CPU_OF[NAME] (processes whose CPU per request is reported) and
# SECTION_OF[NAME] are set by the caller.
run_wrk() {
  local name=$1 url=$2 out=$WORK/wrk-$1.txt
  shift 2
  local mopts=() wopts=() key="" warmkey="" haswarm=0 tally=0 spread=0 dur=$DURATION opt
  for opt in "$@"; do
    case $opt in
      key=*) key=${opt#key=} ;;
      warmkey=*) warmkey=${opt#warmkey=}; haswarm=1 ;;
      tally) tally=1 ;;
      spread) spread=1 ;;
      dur=*) dur=${opt#dur=} ;;
      *) die "run_wrk: unknown option $opt" ;;
    esac
  done
  [ "$haswarm" = 1 ] || warmkey=$key
  [ -n "$key" ] && mopts+=(-H "x-api-key: $key")
  [ -n "$warmkey" ] && wopts+=(-H "x-api-key: $warmkey")
  if [ "$spread" = 1 ]; then
    mopts+=(-s "$BENCH/wrk/spread.lua")
    wopts+=(-s "$WORK/spread-tally.lua")
  elif [ "$tally" = 1 ]; then
    wopts+=(-s "$BENCH/wrk/statuses.lua")
  fi
  log "$name: warm-up $WARMUP"
  timeout $(($(duration_secs "$WARMUP") + 60)) \
    wrk -t "$THREADS" -c "$CONNECTIONS" -d "$WARMUP" "${wopts[@]}" "$url" >"$out.warmup" \
    || die "wrk warm-up of $name failed: $(cat "$out.warmup")"
  WARM_STATUSES[$name]=$(awk '/^statuses: / { sub(/^statuses: /, ""); print }' "$out.warmup")
  WREQS[$name]=$(awk '/ requests in / { print $1; exit }' "$out.warmup")
  LOAD_AT[$name]=$(cut -d' ' -f1-3 /proc/loadavg)
  if awk -v l="${LOAD_AT[$name]%% *}" -v m="$LOAD_LIMIT" 'BEGIN { exit !(l > m) }'; then
    DISTURBED[$name]=1
    DISTURBED_RUNS+=("$name")
  fi
  log "$name: measuring $dur (load average ${LOAD_AT[$name]}): $url"
  local ticks_before ticks is_tg=0 ours busy0 ours0 wrk0 busy1 ours1 wrk1
  [ "${CPU_OF[$name]:-}" = "$TG_PID" ] && is_tg=1
  [ "$is_tg" = 0 ] || thread_ticks "$TG_PID" >"$out.threads-before"
  ours=$(our_pids)
  ticks_before=$(cpu_ticks "${CPU_OF[$name]:-}")
  ours0=$(cpu_ticks "$ours")
  busy0=$(machine_busy)
  times >"$out.times0"
  wrk0=$(children_ticks "$out.times0")
  timeout $(($(duration_secs "$dur") + 60)) \
    wrk -t "$THREADS" -c "$CONNECTIONS" -d "$dur" --latency "${mopts[@]}" "$url" >"$out" \
    || die "wrk run $name failed: $(cat "$out")"
  times >"$out.times1"
  wrk1=$(children_ticks "$out.times1")
  busy1=$(machine_busy)
  ours1=$(cpu_ticks "$ours")
  ticks=$(($(cpu_ticks "${CPU_OF[$name]:-}") - ticks_before))
  [ "$is_tg" = 0 ] || thread_ticks "$TG_PID" >"$out.threads-after"
  RSS_AFTER[$name]=$(rss_sum "${CPU_OF[$name]:-}")
  sed 's/^/    /' "$out" >&2
  RPS[$name]=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  [ -n "${RPS[$name]}" ] || die "could not parse wrk output for $name"
  P50[$name]=$(to_ms "$(awk '$1 == "50%" { print $2; exit }' "$out")")
  P99[$name]=$(to_ms "$(awk '$1 == "99%" { print $2; exit }' "$out")")
  NON2XX[$name]=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
  NON2XX[$name]=${NON2XX[$name]:-0}
  SOCKERR[$name]=$(awk '/Socket errors:/ { gsub(/,/, ""); printf "c%s/r%s/w%s/t%s", $4, $6, $8, $10 }' "$out")
  SOCKERR_N[$name]=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
  SOCKERR[$name]=${SOCKERR[$name]:-none}
  SOCKERR_N[$name]=${SOCKERR_N[$name]:-0}
  REQS[$name]=$(awk '/ requests in / { print $1; exit }' "$out")
  SECS[$name]=$(awk '/ requests in / { s = $4; sub(/,$/, "", s); print s; exit }' "$out")
  SECS[$name]=$(awk -v ms="$(to_ms "${SECS[$name]}")" 'BEGIN { printf "%.3f", ms / 1000 }')
  OK_PCT[$name]=$(awk -v n="${REQS[$name]}" -v bad="${NON2XX[$name]}" \
    'BEGIN { if (n > 0) printf "%.2f", (n - bad) * 100 / n; else print "0.00" }')
  CPU_US[$name]=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="${REQS[$name]}" \
    'BEGIN { if (n > 0 && t > 0) printf "%.1f", t * 1e6 / hz / n; else print "?" }')
  # CPU used meanwhile by processes other than wrk and ours, in % of one core.
  OTHER_CPU[$name]=$(awk -v b=$((busy1 - busy0)) -v o=$((ours1 - ours0)) -v w=$((wrk1 - wrk0)) \
    -v s="${SECS[$name]}" -v hz="$CLK_TCK" 'BEGIN { x = b - o - w; if (x < 0) x = 0; printf "%.0f", (s > 0 ? x * 100 / hz / s : 0) }')
  [ "$is_tg" = 0 ] || THREAD_CPU[$name]=$(thread_cpu_us "$out.threads-before" "$out.threads-after" "${REQS[$name]}")
  RUNS+=("$name")
  log "$name: ${RPS[$name]} req/s, ${OK_PCT[$name]} % 2xx, non2xx ${NON2XX[$name]}, socket errors ${SOCKERR[$name]}, other CPU ${OTHER_CPU[$name]} %"
}
invalid() {
  INVALID+=("$1: $2")
  INVALID_RUN[$1]=1
  log "INVALID: $1: $2"
}
expect_ok() {
  local name=$1
  awk -v p="${OK_PCT[$name]}" -v m="$MIN_OK_PCT" 'BEGIN { exit !(p >= m) }' \
    || invalid "$name" "only ${OK_PCT[$name]} % of ${REQS[$name]} requests were 2xx (${NON2XX[$name]} non-2xx; at least $MIN_OK_PCT % must be)"
  awk -v e="${SOCKERR_N[$name]}" -v n="${REQS[$name]}" 'BEGIN { exit !(e * 100 <= n) }' \
    || invalid "$name" "${SOCKERR_N[$name]} socket errors (${SOCKERR[$name]}) in ${REQS[$name]} requests (more than 1 %)"
  if [ -n "${WARM_STATUSES[$name]}" ] && ! [[ ${WARM_STATUSES[$name]} =~ ^200=[0-9]+$ ]]; then
    invalid "$name" "the warm-up got '${WARM_STATUSES[$name]}', not only 200s"
  fi
  return 0
}

# Tollgate's counters of dropped observability records (/metrics), summed:
# full queues (outcomes, log lines, spans), spans that failed to export,
# log lines the store lost.
tg_dropped() {
  curl -s -m 10 "http://$1/metrics" | awk '
    /^tollgate_(observe_dropped_total|spans_dropped_total|log_lines_lost_total)[{ ]/ { s += $NF }
    END { printf "%d\n", s }'
}
# Events in log group $2 of the Tollgate whose data dir is $1 (read-only).
log_events() {
  python3 - "$1/logs.db" "$2" <<'PY'
import sqlite3, sys
c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30)
print(c.execute("SELECT count(*) FROM log_events WHERE group_name = ?", (sys.argv[2],)).fetchone()[0])
PY
}
# wait_log_events DATA_DIR GROUP AT_LEAST: waits (DRAIN_TIMEOUT) until the
# group holds AT_LEAST events, then until the count stops moving for 0.5 s;
# prints "COUNT SECONDS_WAITED".
wait_log_events() {
  local start=$SECONDS n last=-1
  while :; do
    n=$(log_events "$1" "$2")
    if [ "$n" -ge "$3" ] && [ "$n" = "$last" ]; then break; fi
    [ $((SECONDS - start)) -ge "$DRAIN_TIMEOUT" ] && break
    last=$n
    sleep 0.5
  done
  echo "$n $((SECONDS - start))"
}
# CloudWatch sum of METRIC for ApiName $1, Stage $2 over the last hour.
metric_sum() {
  awsq cloudwatch get-metric-statistics --namespace AWS/ApiGateway --metric-name "$3" \
    --dimensions "Name=ApiName,Value=$1" "Name=Stage,Value=$2" --statistics Sum --period 60 \
    --start-time "$(date -u -d '-60 min' +%Y-%m-%dT%H:%M:%SZ)" --end-time "$(date -u -d '+5 min' +%Y-%m-%dT%H:%M:%SZ)" \
    --query 'sum(Datapoints[].Sum)' --output text 2>/dev/null | awk '{ printf "%d\n", $1 + 0 }'
}
# The upstream's highest request sequence number so far (its recorder keeps
# the last 10 000 requests; /bench is never recorded).
upstream_seq() {
  curl -s -m 30 "http://$UP_ADDR/_upstream/requests" | python3 -c \
    'import json, sys; print(max((r["seq"] for r in json.load(sys.stdin)), default=0))'
}
# Requests the upstream recorded after sequence number $1.
upstream_since() {
  curl -s -m 30 "http://$UP_ADDR/_upstream/requests?since=$1" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'
}

START_TIME=$(date -u '+%Y-%m-%d %H:%M UTC')
UPTIME_START=$(uptime)
COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')
BIN_BUILT=$(date -u -r "$TOLLGATE_BIN" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo '?')
DIRTY=$(cd "$ROOT" && git status --porcelain --untracked-files=no -- crates Cargo.lock 2>/dev/null | wc -l)

# ---------------------------------------------------------------------------
# 5a. obs: the keyed path with and without access logs, metrics and tracing.
# ---------------------------------------------------------------------------
if want obs; then
  NGXO_PLAIN_PORT=$(free_port)
  NGXO_LOG_PORT=$(free_port)
  NGXO_LOG=$WORK/nginx-obs/logs/access.log
  nginx_conf nginx-obs "$(nginx_server "$NGXO_PLAIN_PORT" off 0; nginx_server "$NGXO_LOG_PORT" "$NGXO_LOG" 0)"
  log "starting nginx-obs (key check + limit_req; one server without and one with an access log)"
  start_nginx nginx-obs "$NGXO_PLAIN_PORT"
  NGXO_PID=$NGINX_PID
  probe "tollgate plain, no key" "$O_BASE/plain/bench" 403 '{"message":"Forbidden"}'
  probe "tollgate plain, key" "$O_BASE/plain/bench" 200 '{"ok":true}' "$KEY"
  probe "tollgate obs, key" "$O_BASE/obs/bench" 200 '{"ok":true}' "$KEY"
  probe "nginx plain, key" "http://127.0.0.1:$NGXO_PLAIN_PORT/bench" 200 '{"ok":true}' "$KEY"
  probe "nginx log, no key" "http://127.0.0.1:$NGXO_LOG_PORT/bench" 403 '{"message":"Forbidden"}'
  probe "nginx log, key" "http://127.0.0.1:$NGXO_LOG_PORT/bench" 200 '{"ok":true}' "$KEY"
  declare -A URL_OF=(
    [tg-plain]="$O_BASE/plain/bench" [tg-obs]="$O_BASE/obs/bench"
    [ngx-plain]="http://127.0.0.1:$NGXO_PLAIN_PORT/bench" [ngx-log]="http://127.0.0.1:$NGXO_LOG_PORT/bench")
  DESC_OF[tg-plain]="Tollgate keyed, no log/metrics/tracing"
  DESC_OF[tg-obs]="Tollgate keyed, access log+metrics+tracing"
  DESC_OF[ngx-plain]="nginx keyed, access_log off"
  DESC_OF[ngx-log]="nginx keyed, access_log combined"
  CPU_OF[tg-plain]=$TG_PID
  CPU_OF[tg-obs]=$TG_PID
  CPU_OF[ngx-plain]=$(family "$NGXO_PID")
  CPU_OF[ngx-log]=${CPU_OF[ngx-plain]}
  OBS_PROBES=1  # the probe above on stage obs
  for t in $(ordered tg-plain ngx-plain tg-obs ngx-log); do
    SECTION_OF[$t]=obs
    if [ "$t" = tg-obs ]; then
      DROP0=$(tg_dropped "$TG_ADDR")
      SPANS0=$(sink_stat spans)
      SINK0=$(cpu_ticks "$SINK_PID")
    fi
    [ "$t" = ngx-log ] && NGX_LINES0=$(wc -l <"$NGXO_LOG")
    run_wrk "$t" "${URL_OF[$t]}" "key=$KEY" "warmkey=$WKEY" tally
    expect_ok "$t"
    if [ "$t" = tg-obs ]; then
      # The writers run off the request path: wait until every line is in the
      # log store, and count the CPU Tollgate spends meanwhile.
      expect=$((OBS_PROBES + WREQS[tg-obs] + REQS[tg-obs]))
      d0=$(cpu_ticks "$TG_PID")
      read -r OBS_LINES OBS_DRAIN_S < <(wait_log_events "$WORK/tollgate-data" /aws/apigateway/bench-obs "$expect")
      sleep 1.5  # the OTLP exporter flushes at least every second
      OBS_DRAIN_US=$(awk -v t=$(($(cpu_ticks "$TG_PID") - d0)) -v hz="$CLK_TCK" -v n="${REQS[tg-obs]}" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
      OBS_EXPECT=$expect
      OBS_DROPPED=$(($(tg_dropped "$TG_ADDR") - DROP0))
      OBS_SPANS=$(($(sink_stat spans) - SPANS0))
      OBS_SINK_US=$(awk -v t=$(($(cpu_ticks "$SINK_PID") - SINK0)) -v hz="$CLK_TCK" -v n=$((WREQS[tg-obs] + REQS[tg-obs])) 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
      OBS_COUNT=$(metric_sum tollgate-bench-obs obs Count)
      [ "$OBS_DROPPED" = 0 ] || invalid tg-obs "Tollgate dropped $OBS_DROPPED observability records (queues full or export failed): observability was not on for every request"
      [ "$OBS_LINES" -ge "$expect" ] || invalid tg-obs "only $OBS_LINES access-log events for at least $expect requests after ${OBS_DRAIN_S} s"
      # Two spans per request (the stage's and the integration's), warm-up included.
      [ "$OBS_SPANS" -ge $((2 * (WREQS[tg-obs] + REQS[tg-obs]))) ] \
        || invalid tg-obs "the OTLP sink received $OBS_SPANS spans for $((WREQS[tg-obs] + REQS[tg-obs])) requests (2 each expected)"
      [ "$OBS_COUNT" -ge "$expect" ] || invalid tg-obs "CloudWatch Count for the obs stage is $OBS_COUNT, under the $expect requests sent"
    fi
    if [ "$t" = ngx-log ]; then
      NGX_LINES=$(($(wc -l <"$NGXO_LOG") - NGX_LINES0))
      [ "$NGX_LINES" -ge $((WREQS[ngx-log] + REQS[ngx-log])) ] \
        || invalid ngx-log "nginx wrote $NGX_LINES access-log lines for $((WREQS[ngx-log] + REQS[ngx-log])) requests"
    fi
  done
fi

# ---------------------------------------------------------------------------
# 5b. cache: hits from Tollgate's stage cache and from nginx's proxy_cache.
# ---------------------------------------------------------------------------
if want cache; then
  log "cache: submitting $JOBS jobs to the upstream"
  python3 - "http://$UP_ADDR" "$JOBS" >"$WORK/job-paths.txt" <<'PY' || die "could not create the jobs"
import http.client, json, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
body = json.dumps({"prompt": "bench", "image_s3_url": "s3://b/i", "audio_s3_urls": ["s3://b/a"]})
for _ in range(int(sys.argv[2])):
    c.request("POST", "/api/v1/generate", body, {"Authorization": "Bearer bench", "Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    assert r.status in (200, 201, 202), (r.status, data)
    print("/api/v1/jobs/" + json.loads(data)["job_id"])
PY
  [ "$(wc -l <"$WORK/job-paths.txt")" = "$JOBS" ] || die "job-paths.txt does not hold $JOBS paths"
  JOB1=$(head -n1 "$WORK/job-paths.txt")
  JOB_BODY=$(curl -s -m 5 -H 'Authorization: Bearer bench' "http://$UP_ADDR$JOB1")
  NGXC_PORT=$(free_port)
  nginx_conf nginx-cache "$(nginx_server "$NGXC_PORT" off 1)" 1
  log "starting nginx-cache (key check + limit_req + proxy_cache)"
  start_nginx nginx-cache "$NGXC_PORT"
  NGXC_PID=$NGINX_PID
  C_PREFIX="/_aws/execute-api/$C_API_ID/cache"
  declare -A PREFIX_OF=([tg-cache]="http://$TG_ADDR$C_PREFIX" [ngx-cache]="http://127.0.0.1:$NGXC_PORT")
  probe "tollgate cache, job, key" "${PREFIX_OF[tg-cache]}$JOB1" 200 "$JOB_BODY" "$KEY"
  probe "tollgate cache, job, no key" "${PREFIX_OF[tg-cache]}$JOB1" 403 '{"message":"Forbidden"}'
  probe "nginx cache, job, key" "${PREFIX_OF[ngx-cache]}$JOB1" 200 "$JOB_BODY" "$KEY"
  NGX_HIT=$(curl -s -m 5 -o /dev/null -D - -H "x-api-key: $KEY" "${PREFIX_OF[ngx-cache]}$JOB1" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache-status" { print $2 }')
  [ "$NGX_HIT" = HIT ] || { log "error: nginx's second request for $JOB1 was X-Cache-Status '$NGX_HIT', not HIT"; exit 2; }
  DESC_OF[tg-cache]="Tollgate stage cache hit, keyed"
  DESC_OF[ngx-cache]="nginx proxy_cache hit, keyed"
  CPU_OF[tg-cache]=$TG_PID
  CPU_OF[ngx-cache]=$(family "$NGXC_PID")
  declare -A CACHE_UP_DURING
  HITS0=$(metric_sum tollgate-bench-cache cache CacheHitCount)
  for t in $(ordered tg-cache ngx-cache); do
    SECTION_OF[$t]=cache
    # Fill: every job once through this system (misses), all 200s.
    python3 - "${PREFIX_OF[$t]}" "$KEY" "$WORK/job-paths.txt" <<'PY' || die "the cache fill of $t failed"
import http.client, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
bad = 0
for path in open(sys.argv[3]).read().split():
    c.request("GET", u.path + path, headers={"x-api-key": sys.argv[2]})
    r = c.getresponse()
    r.read()
    bad += r.status != 200
sys.exit(1 if bad else 0)
PY
    mark=$(upstream_seq)
    # spread.lua: a random one of the JOBS paths per request, with KEY.
    export WRK_PATHS_FILE=$WORK/job-paths.txt WRK_KEY=$KEY
    if [ "$t" = tg-cache ]; then export WRK_PREFIX=$C_PREFIX; else export WRK_PREFIX=""; fi
    run_wrk "$t" "${PREFIX_OF[$t]%"$WRK_PREFIX"}/" spread
    unset WRK_PATHS_FILE WRK_KEY WRK_PREFIX
    expect_ok "$t"
    CACHE_UP_DURING[$t]=$(upstream_since "$mark")
    [ "${CACHE_UP_DURING[$t]}" = 0 ] \
      || invalid "$t" "${CACHE_UP_DURING[$t]} requests reached the upstream during the warm-up and measured run: not every request was a cache hit"
    if [ "$t" = tg-cache ]; then
      sleep 1
      CACHE_HITS=$(($(metric_sum tollgate-bench-cache cache CacheHitCount) - HITS0))
      [ "$CACHE_HITS" -ge $((WREQS[tg-cache] + REQS[tg-cache])) ] \
        || invalid tg-cache "CloudWatch counts $CACHE_HITS cache hits for $((WREQS[tg-cache] + REQS[tg-cache])) requests read"
    fi
  done
  CACHE_MISSES=$(metric_sum tollgate-bench-cache cache CacheMissCount)
fi

# ---------------------------------------------------------------------------
# 5c. instructions: the keyed path under callgrind, with and without
#     observability (as bench/instructions.sh counts them).
# ---------------------------------------------------------------------------
# drive ADDR PATH KEY N: N requests over 4 keep-alive connections, each of
# which must answer {"ok":true}.
drive() {
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import socket, sys, threading
addr, path, key, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
host, port = addr.rsplit(":", 1)
req = f"GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: instructions\r\nAccept: */*\r\nx-api-key: {key}\r\n\r\n".encode()
errors = []
def run(k):
    s = socket.create_connection((host, int(port)))
    for _ in range(k):
        s.sendall(req)
        buf = b""
        while b'{"ok":true}' not in buf:
            chunk = s.recv(65536)
            if not chunk:
                errors.append("connection closed")
                return
            buf += chunk
    s.close()
threads = [threading.Thread(target=run, args=(n // 4,)) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
sys.exit(1 if errors else 0)
PY
}
declare -A INSTR INSTR_PARTS
# breakdown FILE: inclusive instructions of the parts of a callgrind dump, by
# the function each thread's work hangs under (callgrind_annotate; 0 when a
# name is not found): "request observers metrics logwriter otlp".
breakdown() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null | awk '
    function take(i) { v = $1; gsub(/,/, "", v); if (v + 0 > best[i]) best[i] = v + 0 }
    /^ *[0-9,]+ \(/ {
      if ($0 ~ /server\.rs:tollgate_http1::server::serve_until_closing::\{\{closure\}\}/) take(1)
      if ($0 ~ /tollgate-observe\/src\/hub\.rs:std::sys::backtrace::__rust_begin_short_backtrace/) take(2)
      if ($0 ~ /requests\.rs:tollgate_observe::metrics::requests::RequestMetrics::record/) take(3)
      if ($0 ~ /requests\.rs:tollgate_observe::metrics::requests::RequestMetrics::flush/) take(6)
      if ($0 ~ /writer\.rs:tollgate_observe::logs::writer::run/) take(4)
      if ($0 ~ /otlp\.rs:tollgate_observe::otlp::export_all/) take(5)
    }
    END { printf "%d %d %d %d %d\n", best[1], best[2], best[3] + best[6], best[4], best[5] }'
}
if want instructions; then
  log "instructions: starting a second tollgate under callgrind (slow)"
  start_tollgate instr valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out"
  VG_PID=$TG_PID
  SAVED=("$C_API_ID" "$KEY" "$KEY_ID" "$WKEY" "$WKEY_ID" "$O_API_ID" "$PLAN_ID")
  C_API_ID=""
  export AWS_ENDPOINT_URL=http://$TG_ADDR
  configure_keyed
  I_KEY=$KEY
  I_BASE=/_aws/execute-api/$O_API_ID
  C_API_ID=${SAVED[0]} KEY=${SAVED[1]} KEY_ID=${SAVED[2]} WKEY=${SAVED[3]} WKEY_ID=${SAVED[4]} O_API_ID=${SAVED[5]} PLAN_ID=${SAVED[6]}
  I_ADDR=$TG_ADDR
  TG_PID=$MAIN_TG_PID TG_ADDR=$MAIN_TG_ADDR
  export AWS_ENDPOINT_URL=http://$TG_ADDR
  # window KIND: zeroes callgrind's counters, turns counting on, runs KIND,
  # waits until the writers have caught up (the access-log events in the
  # store, the spans at the sink; then 1.5 s, as the exporter flushes every
  # second), turns counting off and sums every thread's instructions.
  i_lines=0
  window() {
    local kind=$1 total spans0 start
    callgrind_control -z "$VG_PID" >/dev/null 2>&1 || die "callgrind_control -z failed"
    callgrind_control -i on "$VG_PID" >/dev/null 2>&1 || die "callgrind_control -i on failed"
    spans0=$(sink_stat spans)
    case $kind in
      plain) drive "$I_ADDR" "$I_BASE/plain/bench" "$I_KEY" "$INSTR_N" || die "instructions: plain did not answer" ;;
      obs)
        drive "$I_ADDR" "$I_BASE/obs/bench" "$I_KEY" "$INSTR_N" || die "instructions: obs did not answer"
        i_lines=$((i_lines + INSTR_N))
        read -r n _ < <(wait_log_events "$WORK/instr-data" /aws/apigateway/bench-obs "$i_lines")
        [ "$n" -ge "$i_lines" ] || die "instructions: $n access-log events, expected $i_lines"
        start=$SECONDS
        while [ $(($(sink_stat spans) - spans0)) -lt $((2 * INSTR_N)) ] && [ $((SECONDS - start)) -lt "$DRAIN_TIMEOUT" ]; do sleep 0.5; done
        ;;
      idle) ;;
    esac
    sleep 1.5
    callgrind_control -i off "$VG_PID" >/dev/null 2>&1 || die "callgrind_control -i off failed"
    rm -f "$WORK"/callgrind.out.*
    callgrind_control -d "$VG_PID" >/dev/null 2>&1 || die "callgrind_control -d failed"
    sleep 0.5
    total=$(grep -h '^totals:' "$WORK"/callgrind.out.* 2>/dev/null | awk '{ s += $2 } END { print s + 0 }')
    [ "$total" -gt 0 ] || die "callgrind reported nothing for $kind"
    # Kept for callgrind_annotate (with KEEP_WORK=1).
    cat "$WORK"/callgrind.out.* >"$WORK/callgrind-$kind.out"
    INSTR_PARTS[$kind]=$(breakdown "$WORK/callgrind-$kind.out")
    INSTR[$kind]=$total
    log "instructions: $kind: $total"
  }
  log "instructions: warm-ups (400 requests per stage)"
  drive "$I_ADDR" "$I_BASE/plain/bench" "$I_KEY" 400 || die "instructions: warm-up of plain failed"
  drive "$I_ADDR" "$I_BASE/obs/bench" "$I_KEY" 400 || die "instructions: warm-up of obs failed"
  i_lines=400
  read -r n _ < <(wait_log_events "$WORK/instr-data" /aws/apigateway/bench-obs "$i_lines")
  sleep 2
  I_DROP0=$(tg_dropped "$I_ADDR")
  for kind in $(ordered plain obs) idle; do window "$kind"; done
  I_DROPPED=$(($(tg_dropped "$I_ADDR") - I_DROP0))
  [ "$I_DROPPED" = 0 ] || { INSTR_INVALID="Tollgate under callgrind dropped $I_DROPPED observability records"; INVALID+=("instructions: $INSTR_INVALID"); }
  kill -TERM "$VG_PID" 2>/dev/null || true
fi

# ---------------------------------------------------------------------------
# 5d. memory: MEM_RESOURCES resources and MEM_KEYS keys, logs, metrics and
#     tracing on; RSS before and after the keys and after two equal runs.
# ---------------------------------------------------------------------------
if want memory; then
  log "memory: API tollgate-bench-many with $MEM_RESOURCES resources (boto3)"
  M_API_ID=$(awsq apigateway create-rest-api --name tollgate-bench-many --query id --output text)
  python3 "$BENCH/make_resources.py" --endpoint "http://$TG_ADDR" --api-id "$M_API_ID" --count "$MEM_RESOURCES" \
    --uri "http://127.0.0.1:$UP_PORT/bench" --out "$WORK/res-paths.txt" >"$WORK/make_resources.out" \
    || die "make_resources.py failed"
  MRES=$(tail -n1 "$WORK/make_resources.out")
  awsq apigateway create-deployment --rest-api-id "$M_API_ID" --stage-name many >/dev/null
  awsq logs create-log-group --log-group-name /aws/apigateway/bench-many
  awsq apigateway update-stage --rest-api-id "$M_API_ID" --stage-name many --patch-operations "$(patch_ops \
    /accessLogSettings/destinationArn "arn:aws:logs:$REGION:$ACCOUNT:log-group:/aws/apigateway/bench-many" \
    /accessLogSettings/format "$CLF \$context.identity.apiKeyId" /tracingEnabled true '/*/*/metrics/enabled' true \
    '/*/*/throttling/rateLimit' "$BIG" '/*/*/throttling/burstLimit' "$BIG")" >/dev/null
  MPLAN_ID=$(awsq apigateway create-usage-plan --name bench-many --throttle "burstLimit=$BIG,rateLimit=$BIG" \
    --quota "limit=$BIG,period=DAY" --api-stages "apiId=$M_API_ID,stage=many" --query id --output text)
  M_PREFIX=/_aws/execute-api/$M_API_ID/many
  sleep 2
  RSS_M0=$(rss_kib "$TG_PID")
  log "memory: creating $MEM_KEYS keys with bench/make_keys.py ($KEY_THREADS threads); RSS now $(mib "$RSS_M0") MiB"
  ticks0=$(cpu_ticks "$TG_PID")
  python3 "$BENCH/make_keys.py" --endpoint "http://$TG_ADDR" --plan-id "$MPLAN_ID" --count "$MEM_KEYS" \
    --threads "$KEY_THREADS" --progress 10000 --out "$WORK/mem-keys.txt" >"$WORK/make_keys.out" \
    || die "make_keys.py failed"
  MKEYGEN=$(tail -n1 "$WORK/make_keys.out")
  MKEYGEN_CPU=$(awk -v t=$(($(cpu_ticks "$TG_PID") - ticks0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz }')
  M_IN_PLAN=$(python3 - "http://$TG_ADDR" "$MPLAN_ID" <<'PY'
import sys, boto3
c = boto3.client("apigateway", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
print(sum(len(p["items"]) for p in c.get_paginator("get_usage_plan_keys").paginate(usagePlanId=sys.argv[2], PaginationConfig={"PageSize": 500})))
PY
  ) || die "cannot count the keys of plan bench-many"
  [ "$M_IN_PLAN" = "$MEM_KEYS" ] || die "plan bench-many holds $M_IN_PLAN keys, expected $MEM_KEYS"
  probe "tollgate many, first resource, first key" "http://$TG_ADDR$M_PREFIX$(head -n1 "$WORK/res-paths.txt")" 200 '{"ok":true}' "$(head -n1 "$WORK/mem-keys.txt")"
  probe "tollgate many, last resource, last key" "http://$TG_ADDR$M_PREFIX$(tail -n1 "$WORK/res-paths.txt")" 200 '{"ok":true}' "$(tail -n1 "$WORK/mem-keys.txt")"
  M_SENT=2
  sleep 2
  RSS_M1=$(rss_kib "$TG_PID")
  declare -A RSS_DRAINED LINES_AFTER DRAIN_S
  M_DROP0=$(tg_dropped "$TG_ADDR")
  export WRK_PATHS_FILE=$WORK/res-paths.txt WRK_KEYS_FILE=$WORK/mem-keys.txt WRK_PREFIX=$M_PREFIX
  MEM_NAMES=$(seq -f 'mem-%g' 1 "$MEM_RUNS")
  for t in $MEM_NAMES; do
    SECTION_OF[$t]=memory
    DESC_OF[$t]="Tollgate, $MEM_KEYS keys x $MEM_RESOURCES resources, all on"
    CPU_OF[$t]=$TG_PID
    run_wrk "$t" "http://$TG_ADDR/" spread "dur=$MEM_DURATION"
    expect_ok "$t"
    M_SENT=$((M_SENT + WREQS[$t] + REQS[$t]))
    read -r lines_n drain_s < <(wait_log_events "$WORK/tollgate-data" /aws/apigateway/bench-many "$M_SENT")
    LINES_AFTER[$t]=$lines_n
    DRAIN_S[$t]=$drain_s
    [ "${LINES_AFTER[$t]}" -ge "$M_SENT" ] || invalid "$t" "only ${LINES_AFTER[$t]} access-log events for at least $M_SENT requests"
    sleep 2
    RSS_DRAINED[$t]=$(rss_kib "$TG_PID")
  done
  unset WRK_PATHS_FILE WRK_KEYS_FILE WRK_PREFIX
  # Nothing read /metrics during the runs (as where nobody runs Prometheus);
  # this read (the dropped counters) is the first since before mem-1.
  M_DROPPED=$(($(tg_dropped "$TG_ADDR") - M_DROP0))
  [ "$M_DROPPED" = 0 ] || invalid "mem-$MEM_RUNS" "Tollgate dropped $M_DROPPED observability records during the memory runs"
  sleep 1
  RSS_SCRAPED=$(rss_kib "$TG_PID")
  M_HWM=$(hwm_kib "$TG_PID")
  M_SERIES=$(python3 - "http://$TG_ADDR" <<'PY' || echo '?'
import sys, boto3
c = boto3.client("cloudwatch", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
pages = c.get_paginator("list_metrics").paginate(Namespace="AWS/ApiGateway",
                                                 Dimensions=[{"Name": "ApiName", "Value": "tollgate-bench-many"}])
print(sum(len(p["Metrics"]) for p in pages))
PY
  )
  M_LOGS_DB=$(du -k "$WORK/tollgate-data/logs.db" 2>/dev/null | awk '{ print $1 }')
  M_LOGS_WAL=$(du -k "$WORK/tollgate-data/logs.db-wal" 2>/dev/null | awk '{ print $1 }')
fi

TG_WARNINGS=$(grep -cE 'WARN|ERROR' "$WORK/tollgate.out.err" 2>/dev/null || true)

# ---------------------------------------------------------------------------
# 6. Report.
# ---------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.3f", a / b; else print "?" }'; }
passfail() { awk -v r="$1" -v t="$2" 'BEGIN { print (r != "?" && r >= t) ? "PASS" : "FAIL" }'; }
section_table() {
  local denom=$1 t
  shift
  printf '  %-10s %-44s %9s %7s %7s %8s %-14s %7s %7s %8s %7s %-15s %6s  %s\n' \
    run what req/s vs 2xx% non2xx socket_errors p50_ms p99_ms cpu_us/req "cpu vs" "load@start" other% "warm-up statuses"
  for t in "$@"; do
    printf '  %-10s %-44s %9.0f %7s %7s %8s %-14s %7.3f %7.3f %8s %7s %-15s %6s  %s%s%s\n' \
      "$t" "${DESC_OF[$t]:-}" "${RPS[$t]}" "$(ratio "${RPS[$t]}" "${RPS[$denom]}")x" "${OK_PCT[$t]}" \
      "${NON2XX[$t]}" "${SOCKERR[$t]}" "${P50[$t]}" "${P99[$t]}" "${CPU_US[$t]}" \
      "$(ratio "${CPU_US[$t]}" "${CPU_US[$denom]}")x" "${LOAD_AT[$t]// /,}" "${OTHER_CPU[$t]}" "${WARM_STATUSES[$t]:--}" \
      "${DISTURBED[$t]:+  DISTURBED}" "${INVALID_RUN[$t]:+  INVALID}"
  done
  local shown=0
  for t in "$@"; do
    [ -n "${THREAD_CPU[$t]:-}" ] || continue
    [ "$shown" = 1 ] || echo "  Tollgate CPU per request by thread, us (main+workers serve; blocking: control plane, usage flush;"
    [ "$shown" = 1 ] || echo "    observers: outcome records -> log lines + metrics + spans; logwriter: SQLite; otlp: export):"
    shown=1
    printf '    %-10s %s(total %s)\n' "$t" "${THREAD_CPU[$t]}" "${CPU_US[$t]}"
  done
}
verdict() {
  local t
  for t in "${RUNS[@]}"; do
    [ "${SECTION_OF[$t]}" = "$1" ] && [ -n "${INVALID_RUN[$t]:-}" ] && { echo INVALID; return 0; }
  done
  echo "$2"
}
runs_of() { local t; for t in "${RUNS[@]}"; do [ "${SECTION_OF[$t]}" = "$1" ] && printf '%s ' "$t"; done; return 0; }
not_run() { echo; echo "== $1: not run (SECTIONS=\"$SECTIONS\")"; }

VERDICTS=()
echo
echo "Tollgate feature benchmarks (bench/features.sh) — $START_TIME, commit $COMMIT$([ "$DIRTY" = 0 ] || echo " + $DIRTY uncommitted change(s) under crates/"), $(nproc) cores, $(uname -m)"
echo "binaries: $TOLLGATE_BIN (modified $BIN_BUILT$([ "$SKIP_BUILD" = 1 ] && echo ", SKIP_BUILD=1: not necessarily built from the commit above"))"
echo "uptime at the start: $UPTIME_START"
echo "wrk -t $THREADS -c $CONNECTIONS -d $DURATION --latency (after a $WARMUP warm-up each); nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') worker_processes $NGINX_WORKERS"
echo "order of the systems in every section: $ORDER ($ORDER_WHY); the next run should use the other (RUN_INDEX=$((RUN_INDEX + 1)))"
echo "columns: vs = req/s over the section's denominator; cpu_us/req = user+system CPU of the serving process(es) per"
echo "  request (lower is better), cpu vs = over the denominator's; load@start = /proc/loadavg (1, 5, 15 min) when the"
echo "  measured run started; other% = CPU used during the run by processes other than wrk and this script's servers"
echo "  (user + system + steal, no interrupt time), in % of one core (of $(($(nproc) * 100))); a run with a 1-minute load"
echo "  above $LOAD_LIMIT is marked DISTURBED (this script's own previous run counts in that average: read other% for"
echo "  what else was running)"

if want obs; then
  echo
  echo "== obs — denominator: ngx-log (nginx checking the key and limit_req, writing its own access log)"
  echo "  Tollgate: /{proxy+} ANY --api-key-required -> HTTP_PROXY, plan burst/rate/quota $BIG (as run.sh keyed);"
  echo "    stage plain: no access log, no detailed metrics, no tracing (the per-stage CloudWatch metrics AWS"
  echo "    always publishes are still recorded); stage obs: accessLogSettings (CLF) into /aws/apigateway/bench-obs,"
  echo "    */*/metrics/enabled, tracingEnabled, spans exported over OTLP/HTTP to bench/otlp_sink.py (accepts, counts,"
  echo "    discards)"
  echo "  nginx: map + limit_req + proxy_pass; ngx-log adds access_log FILE combined (unbuffered)"
  # shellcheck disable=SC2046
  section_table ngx-log $(runs_of obs)
  O_RATIO=$(ratio "${RPS[tg-obs]}" "${RPS[ngx-log]}")
  echo "  Tollgate with observability / nginx with its access log: ${O_RATIO}x req/s, $(ratio "${CPU_US[tg-obs]}" "${CPU_US[ngx-log]}")x CPU per request"
  echo "  Tollgate without / nginx without:                         $(ratio "${RPS[tg-plain]}" "${RPS[ngx-plain]}")x req/s, $(ratio "${CPU_US[tg-plain]}" "${CPU_US[ngx-plain]}")x CPU per request"
  echo "  cost of turning it on: Tollgate $(ratio "${RPS[tg-obs]}" "${RPS[tg-plain]}")x req/s, $(ratio "${CPU_US[tg-obs]}" "${CPU_US[tg-plain]}")x CPU per request;" \
    "nginx's access log $(ratio "${RPS[ngx-log]}" "${RPS[ngx-plain]}")x req/s, $(ratio "${CPU_US[ngx-log]}" "${CPU_US[ngx-plain]}")x CPU"
  echo "  after tg-obs: $OBS_LINES access-log events for $OBS_EXPECT requests read (probe + warm-up + measured; up to"
  echo "    $((2 * CONNECTIONS)) more in flight as wrk stopped), in the store ${OBS_DRAIN_S} s after wrk ended; Tollgate"
  echo "    spent ${OBS_DRAIN_US} us of CPU per measured request more while the writers caught up (not in cpu_us/req);"
  echo "    $OBS_SPANS spans reached the sink (which used ${OBS_SINK_US} us of CPU per request, warm-up included, not in"
  echo "    cpu_us/req); CloudWatch Count for the stage $OBS_COUNT; records dropped: $OBS_DROPPED"
  echo "  nginx wrote $NGX_LINES access-log lines for $((WREQS[ngx-log] + REQS[ngx-log])) requests (warm-up + measured)"
  VERDICTS+=("$(verdict obs "$(passfail "$O_RATIO" 0.9)"): obs (#14): Tollgate with access log + metrics + tracing at ${O_RATIO}x nginx writing its access log (target >= 0.9x)")
else
  not_run obs
fi

if want cache; then
  echo
  echo "== cache — denominator: ngx-cache (nginx proxy_cache, warm)"
  echo "  both keyed (Tollgate's plan as above; nginx map + limit_req), GET of a random one of $JOBS job paths"
  echo "  (bench/wrk/spread.lua), each filled once just before its runs; Tollgate: cacheClusterEnabled, */*/caching"
  echo "  TTL 600 s, cacheKeyParameters method.request.path.proxy; nginx: proxy_cache_valid 200 10m, key \"\$request_method \$uri\""
  # shellcheck disable=SC2046
  section_table ngx-cache $(runs_of cache)
  C_RATIO=$(ratio "${RPS[tg-cache]}" "${RPS[ngx-cache]}")
  echo "  requests that reached the upstream during warm-up + measured run: Tollgate ${CACHE_UP_DURING[tg-cache]:-?}, nginx ${CACHE_UP_DURING[ngx-cache]:-?} (must be 0)"
  echo "  Tollgate CloudWatch CacheHitCount during the runs: $CACHE_HITS (warm-up + measured: $((WREQS[tg-cache] + REQS[tg-cache])) read by wrk);"
  echo "    CacheMissCount since the start: $CACHE_MISSES (expected $JOBS: one per job, at the probe or the fill)"
  echo "  Tollgate CPU per hit: ${CPU_US[tg-cache]} us (the issue's bar: a hit in under 20 us of gateway CPU)"
  VERDICTS+=("$(verdict cache "$(passfail "$C_RATIO" 1.0)"): cache (#16): Tollgate cache hits at ${C_RATIO}x nginx proxy_cache hits (target >= 1.0x)")
  VERDICTS+=("$(verdict cache "$(awk -v c="${CPU_US[tg-cache]}" 'BEGIN { print (c + 0 > 0 && c < 20) ? "PASS" : "FAIL" }')"): cache (#16): ${CPU_US[tg-cache]} us of Tollgate CPU per hit, whole process, kernel included (target < 20 us)")
else
  not_run cache
fi

if want instructions; then
  echo
  echo "== instructions — user-space instructions per request under callgrind ($INSTR_N requests over 4 connections,"
  echo "   every thread of the process, until the log lines are stored and the spans exported, then 1.5 s more)"
  for kind in plain obs; do
    printf '  %-6s %8d per request  (%s in the window)\n' "$kind" $((INSTR[$kind] / INSTR_N)) "${INSTR[$kind]}"
  done
  printf '  idle   %8d per request equivalent (%s instructions in the same 1.5 s window with no requests)\n' \
    $((INSTR[idle] / INSTR_N)) "${INSTR[idle]}"
  echo "  observability adds $(((INSTR[obs] - INSTR[plain]) / INSTR_N)) instructions per request ($(ratio "${INSTR[obs]}" "${INSTR[plain]}")x)"
  echo "  per request, by where the work hangs (callgrind_annotate, inclusive):"
  printf '    %-6s %9s %10s %9s %10s %8s %8s\n' "" request observers metrics logwriter otlp rest
  for kind in plain obs; do
    read -r p_req p_obs p_met p_log p_otlp <<<"${INSTR_PARTS[$kind]}"
    printf '    %-6s %9d %10d %9d %10d %8d %8d\n' "$kind" $((p_req / INSTR_N)) $((p_obs / INSTR_N)) $((p_met / INSTR_N)) \
      $((p_log / INSTR_N)) $((p_otlp / INSTR_N)) $(((INSTR[$kind] - p_req - p_obs - p_log - p_otlp) / INSTR_N))
  done
  echo "    request: the HTTP/1 connection loop (serve_until_closing: parse, pipeline, upstream exchange, response);"
  echo "    observers: the thread turning outcome records into log lines, metrics and spans, of which metrics:"
  echo "    RequestMetrics::record and ::flush (CloudWatch tallies, Prometheus series); logwriter: SQLite batches; otlp: encoding"
  echo "    and posting spans; rest: the runtimes outside a connection (accept, timers), the usage flush, idle"
  [ -z "${INSTR_INVALID:-}" ] || echo "  INVALID: $INSTR_INVALID"
else
  not_run instructions
fi

if want memory; then
  echo
  echo "== memory — $MEM_RESOURCES resources (GET, key required, HTTP_PROXY), $MEM_KEYS keys in one plan; stage many:"
  echo "   access log (CLF + \$context.identity.apiKeyId), */*/metrics/enabled, tracing; request i of bench/wrk/spread.lua"
  echo "   carries key i and resource i mod $MEM_RESOURCES, wrk picks one at random; denominator: mem-1"
  # shellcheck disable=SC2046
  section_table mem-1 $(runs_of memory)
  echo "  resources: $MRES; keys: $MKEYGEN (Tollgate CPU ${MKEYGEN_CPU} s)"
  printf '  Tollgate VmRSS: %s MiB idle before the keys, %s MiB idle after creating them; peak (VmHWM) %s MiB\n' \
    "$(mib "$RSS_M0")" "$(mib "$RSS_M1")" "$(mib "$M_HWM")"
  prev=$RSS_M1
  for t in $MEM_NAMES; do
    printf '    after %-6s %7s MiB (%+.1f MiB; right at the end of the run %s MiB); %s requests (warm-up + measured);\n' \
      "$t:" "$(mib "${RSS_DRAINED[$t]}")" "$(awk -v a="${RSS_DRAINED[$t]}" -v b="$prev" 'BEGIN { print (a - b) / 1024 }')" \
      "$(mib "${RSS_AFTER[$t]}")" "$((WREQS[$t] + REQS[$t]))"
    printf '      %s access-log events stored in all, %s s after wrk ended\n' "${LINES_AFTER[$t]}" "${DRAIN_S[$t]}"
    prev=${RSS_DRAINED[$t]}
  done
  echo "    (after a run: once its log lines are stored, + 2 s; nothing read /metrics during the runs)"
  echo "  after one read of /metrics (which drains the samples its latency histograms hold): $(mib "$RSS_SCRAPED") MiB"
  echo "    logs.db $(mib "${M_LOGS_DB:-0}") MiB + WAL $(mib "${M_LOGS_WAL:-0}") MiB on disk; CloudWatch metrics of the API: $M_SERIES; records dropped: $M_DROPPED"
  VERDICTS+=("$(verdict memory INFO): memory (#14): RSS $(mib "$RSS_M1") MiB with the keys, then after each of $MEM_RUNS equal runs:$(for t in $MEM_NAMES; do printf ' %s' "$(mib "${RSS_DRAINED[$t]}")"; done) MiB")
else
  not_run memory
fi

echo
echo "== every run, in the order run (order: $ORDER)"
printf '  %3s %-8s %-10s %9s %8s %-10s %7s %8s %-14s %8s %8s %10s %9s %-15s %6s\n' \
  "#" section run req/s vs denominator 2xx% non2xx socket_errors p50_ms p99_ms cpu_us/req rss_mib load@start other%
declare -A DENOM_OF=([obs]=ngx-log [cache]=ngx-cache [memory]=mem-1)
i=0
for t in "${RUNS[@]}"; do
  i=$((i + 1))
  d=${DENOM_OF[${SECTION_OF[$t]}]}
  printf '  %3d %-8s %-10s %9.0f %8s %-10s %7s %8s %-14s %8.3f %8.3f %10s %9s %-15s %6s%s%s\n' \
    "$i" "${SECTION_OF[$t]}" "$t" "${RPS[$t]}" "$(ratio "${RPS[$t]}" "${RPS[$d]}")x" "$d" "${OK_PCT[$t]}" \
    "${NON2XX[$t]}" "${SOCKERR[$t]}" "${P50[$t]}" "${P99[$t]}" "${CPU_US[$t]}" "$(mib "${RSS_AFTER[$t]}")" \
    "${LOAD_AT[$t]// /,}" "${OTHER_CPU[$t]}" "${DISTURBED[$t]:+  DISTURBED}" "${INVALID_RUN[$t]:+  INVALID}"
done
echo "  (rss_mib: VmRSS of the measured process(es) right after the run; nginx: master + workers)"
echo
[ "${TG_WARNINGS:-0}" = 0 ] || echo "Tollgate logged ${TG_WARNINGS} WARN/ERROR lines on stderr during the runs"
if [ "${#DISTURBED_RUNS[@]}" -gt 0 ]; then
  echo "DISTURBED: ${#DISTURBED_RUNS[@]} of ${#RUNS[@]} runs started with a 1-minute load average above $LOAD_LIMIT (${DISTURBED_RUNS[*]}):"
  echo "  their figures are disturbed; read other% for how much CPU something else took during each."
fi
echo "note: on $(nproc) cores wrk, the upstream and the proxy share the CPUs: compare ratios within a section,"
echo "      over runs in both orders, not absolute numbers."
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
