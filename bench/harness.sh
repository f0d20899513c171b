# Shared by bench/tls.sh and bench/soak.sh (issue #19): the processes they
# start and stop, the seed's API behind Tollgate, nginx doing the same job,
# a test CA, wrk's output and /proc readings. The functions are those of
# bench/run.sh and bench/features.sh (same names, same behaviour), gathered
# here so the two newer scripts do not write them a third and fourth time.
#
# Source it after setting LOG_PREFIX and ROOT; it sources bench/lib.sh, makes
# WORK (a temporary directory) and installs the EXIT trap that stops every
# process in PIDS (TERM, then KILL after 5 s) and removes WORK unless
# KEEP_WORK=1.
# shellcheck shell=bash disable=SC2034

BENCH=$ROOT/bench
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
TOLLGATE_BIN=$TARGET_DIR/release/tollgate
UPSTREAM_BIN=$TARGET_DIR/release/multitalk-upstream
SKIP_BUILD=${SKIP_BUILD:-0}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
# Throttle rates, bursts and quotas "far above what wrk sends".
BIG=100000000
ACCOUNT=000000000000
REGION=us-east-1
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-${LOG_PREFIX:-bench}.XXXXXX")
# shellcheck source=bench/lib.sh disable=SC1091
. "$BENCH/lib.sh"

# ---------------------------------------------------------------------------
# Processes we start, and their bounded cleanup (as bench/run.sh).
# ---------------------------------------------------------------------------
PIDS=()
# shellcheck disable=SC2317  # called by the EXIT trap
harness_cleanup() {
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
trap harness_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits (bounded, 60 s) until FILE holds a line matching REGEX; prints it.
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
# A free TCP port on 127.0.0.1 (for nginx, which cannot report port 0 back).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------------------
# Tools and binaries: installed when missing, or the script dies.
# ---------------------------------------------------------------------------
# ensure_tools [nginx]: wrk, curl, openssl, python3, the aws CLI, boto3, and
# nginx when asked; then the release build (unless SKIP_BUILD=1).
ensure_tools() {
  local need_apt=()
  command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
  command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
  command -v curl >/dev/null 2>&1 || need_apt+=(curl)
  command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
  NGINX=$(command -v nginx 2>/dev/null || true)
  [ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
  if [ "${1:-}" = nginx ] && [ -z "$NGINX" ]; then need_apt+=(nginx); fi
  install_debian "${need_apt[@]}"
  command -v wrk >/dev/null 2>&1 || die "wrk not found after installing it"
  if [ "${1:-}" = nginx ]; then
    NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
    [ -x "$NGINX" ] || die "nginx not found"
  fi
  ensure_aws_cli
  pip_install boto3 boto3
  if [ "$SKIP_BUILD" != 1 ]; then
    log "building release binaries into $TARGET_DIR (several minutes on 2 cores the first time)"
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --locked -q -p tollgate -p multitalk-upstream) \
      || die "cargo build failed"
  fi
  [ -x "$TOLLGATE_BIN" ] || die "$TOLLGATE_BIN missing"
  [ -x "$UPSTREAM_BIN" ] || die "$UPSTREAM_BIN missing"
}

# ---------------------------------------------------------------------------
# A test CA and a server certificate for 127.0.0.1 and localhost (openssl),
# in $WORK/tls: ca.pem, server.pem (the chain: leaf then CA), server.key.
# ---------------------------------------------------------------------------
make_test_ca() {
  local d=$WORK/tls
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=Tollgate bench test CA" -keyout ca.key -out ca.pem \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out leaf.pem
    cat leaf.pem ca.pem >server.pem
  ) >"$WORK/openssl.log" 2>&1 || { cat "$WORK/openssl.log" >&2; die "openssl could not make the test CA"; }
  TLS_CA=$d/ca.pem
  TLS_CERT=$d/server.pem
  TLS_KEY=$d/server.key
}

# ---------------------------------------------------------------------------
# Upstream, OTLP sink, Tollgate.
# ---------------------------------------------------------------------------
# start_upstream: multitalk-upstream on a free port (GET /bench answers
# {"ok":true}). Sets UP_PID, UP_ADDR, UP_PORT.
start_upstream() {
  local line
  log "starting multitalk-upstream"
  RUST_LOG=warn "$UPSTREAM_BIN" --listen 127.0.0.1:0 >"$WORK/upstream.out" 2>"$WORK/upstream.out.err" &
  PIDS+=($!)
  UP_PID=$!
  line=$(wait_for_line "$WORK/upstream.out" 'listening on http://' "$UP_PID" multitalk-upstream)
  UP_ADDR=${line##*http://}
  UP_PORT=${UP_ADDR##*:}
  [ "$(curl -s -m 5 "http://$UP_ADDR/bench")" = '{"ok":true}' ] \
    || die "upstream GET /bench did not answer {\"ok\":true}"
}

# start_sink: bench/otlp_sink.py, the OTLP/HTTP receiver the seed's tracing
# exports to (as bench/features.sh). Sets SINK_PID, SINK_URL.
start_sink() {
  local line
  log "starting the OTLP sink (bench/otlp_sink.py)"
  python3 "$BENCH/otlp_sink.py" --listen 127.0.0.1:0 >"$WORK/sink.out" 2>"$WORK/sink.out.err" &
  PIDS+=($!)
  SINK_PID=$!
  line=$(wait_for_line "$WORK/sink.out" 'listening on http://' "$SINK_PID" otlp-sink)
  SINK_URL=${line##*listening on }
}

# start_tollgate NAME [tls]: Tollgate in its own cwd and data dir, spans to
# the sink when one runs, TLS with $TLS_CERT/$TLS_KEY when asked. Sets
# TG_PID (the process itself), TG_ADDR, TG_SCHEME, and points the aws CLI
# (and boto3) at it: AWS_ENDPOINT_URL, and AWS_CA_BUNDLE with TLS.
start_tollgate() {
  local name=$1 tls=${2:-} line extra=()
  mkdir -p "$WORK/$name-data" "$WORK/$name-cwd"
  [ -n "${SINK_URL:-}" ] && extra+=(--otlp-endpoint "$SINK_URL")
  [ "$tls" = tls ] && extra+=(--tls-cert "$TLS_CERT" --tls-key "$TLS_KEY")
  log "starting tollgate ${extra[*]}"
  (cd "$WORK/$name-cwd" && exec env -u TOLLGATE_CONFIG -u TOLLGATE_PUBLIC_LISTEN \
    -u TOLLGATE_ACCESS_KEY_ID -u TOLLGATE_SECRET_ACCESS_KEY -u TOLLGATE_OTLP_ENDPOINT \
    TOLLGATE_LOG=warn "$TOLLGATE_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/$name-data" \
    "${extra[@]}" >"$WORK/$name.out" 2>"$WORK/$name.out.err") &
  PIDS+=($!)
  TG_PID=$!
  line=$(wait_for_line "$WORK/$name.out" '^tollgate listening on https?://' "$TG_PID" "$name")
  TG_SCHEME=${line#tollgate listening on }
  TG_SCHEME=${TG_SCHEME%%://*}
  TG_ADDR=${line##*://}
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  export AWS_DEFAULT_REGION=$REGION AWS_PAGER="" AWS_CONFIG_FILE=$WORK/aws-config
  export AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-credentials
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_API_GATEWAY 2>/dev/null || true
  export AWS_ENDPOINT_URL=$TG_SCHEME://$TG_ADDR
  if [ "$tls" = tls ]; then export AWS_CA_BUNDLE=$TLS_CA; else unset AWS_CA_BUNDLE; fi
}
awsq() { timeout 120 aws "$@"; }
# curl against Tollgate or nginx, trusting the test CA when there is one.
tcurl() { curl -s -m 10 ${TLS_CA:+--cacert "$TLS_CA"} "$@"; }

# ---------------------------------------------------------------------------
# The seed's API, as examples/multitalk/setup.sh makes it, with one change.
# ---------------------------------------------------------------------------
# seed_api: runs the seed guide's own commands (examples/multitalk/setup.sh,
# unchanged: MeiGen-MultiTalk-API, /api/{proxy+} ANY with an API key, stage
# prod, plan MultitalkBasic and its key, the access log into
# /aws/apigateway/multitalk with format $context.requestId, tracing on, the
# 4XXError alarm) against Tollgate. The guide's integration is its Lambda
# proxy (AWS_PROXY); here the same ANY method is then pointed at the
# multitalk-upstream binary with an HTTP_PROXY integration (what the guide's
# Lambda does: forward the call to MultiTalk), /api/bench -> UP/bench, and
# prod is deployed again. Everything else on the stage stays as the seed set
# it. Then: the account throttle raised to BIG (AWS's default 10 000 req/s
# would refuse most of a saturating run), and plan ADMIT_PLAN (burst, rate,
# quota BIG) on prod and on the stages named in SEED_EXTRA_STAGES (deployed
# here too, with nothing turned on: no access log, no tracing). Sets API_ID,
# PROXY_ID, SEED_PLAN_ID, SEED_KEY_ID, ADMIT_PLAN_ID, SEED_URL (the invoke URL
# of /api/bench on prod).
seed_api() {
  log "the seed's API: bash examples/multitalk/setup.sh"
  (cd "$ROOT" && timeout 600 bash examples/multitalk/setup.sh) >"$WORK/seed-setup.out" 2>"$WORK/seed-setup.err" \
    || { cat "$WORK/seed-setup.out" "$WORK/seed-setup.err" >&2; die "examples/multitalk/setup.sh failed"; }
  API_ID=$(awk -F= '$1 == "API_ID" { print $2 }' "$WORK/seed-setup.out")
  PROXY_ID=$(awk -F= '$1 == "PROXY_ID" { print $2 }' "$WORK/seed-setup.out")
  SEED_PLAN_ID=$(awk -F= '$1 == "USAGE_PLAN_ID" { print $2 }' "$WORK/seed-setup.out")
  SEED_KEY_ID=$(awk -F= '$1 == "API_KEY_ID" { print $2 }' "$WORK/seed-setup.out")
  [ -n "$API_ID" ] && [ -n "$PROXY_ID" ] || die "setup.sh printed no API_ID/PROXY_ID"
  log "the seed's ANY /api/{proxy+}: HTTP_PROXY to multitalk-upstream instead of the Lambda proxy"
  awsq apigateway update-method --rest-api-id "$API_ID" --resource-id "$PROXY_ID" --http-method ANY \
    --patch-operations op=add,path=/requestParameters/method.request.path.proxy,value=true >/dev/null
  awsq apigateway put-integration --rest-api-id "$API_ID" --resource-id "$PROXY_ID" --http-method ANY \
    --type HTTP_PROXY --integration-http-method ANY --uri "http://127.0.0.1:$UP_PORT/{proxy}" \
    --request-parameters integration.request.path.proxy=method.request.path.proxy >/dev/null
  awsq apigateway create-deployment --rest-api-id "$API_ID" --stage-name prod >/dev/null
  local st
  PLAN_STAGES=prod
  for st in ${SEED_EXTRA_STAGES:-}; do
    awsq apigateway create-deployment --rest-api-id "$API_ID" --stage-name "$st" >/dev/null
    PLAN_STAGES="$PLAN_STAGES $st"
  done
  awsq apigateway update-account --patch-operations \
    op=replace,path=/throttle/rateLimit,value=$BIG op=replace,path=/throttle/burstLimit,value=$BIG >/dev/null
  ADMIT_PLAN_ID=$(new_plan bench-admit "$BIG" "$BIG" "$BIG")
  PLAN_STAGES=prod
  SEED_URL="$TG_SCHEME://$TG_ADDR/_aws/execute-api/$API_ID/prod/api/bench"
}
# new_plan NAME BURST RATE [QUOTA]: a usage plan on the seed's stages named
# in PLAN_STAGES (default prod); prints its id.
new_plan() {
  local quota=() stages=() st
  [ -n "${4:-}" ] && quota=(--quota "limit=$4,period=DAY")
  for st in ${PLAN_STAGES:-prod}; do stages+=("apiId=$API_ID,stage=$st"); done
  awsq apigateway create-usage-plan --name "$1" --throttle "burstLimit=$2,rateLimit=$3" "${quota[@]}" \
    --api-stages "${stages[@]}" --query id --output text
}
# make_keys PLAN_ID COUNT FILE PREFIX: COUNT keys in the plan
# (bench/make_keys.py, one boto3 thread), their values in FILE.
make_keys() {
  log "creating $2 keys in plan $1 (bench/make_keys.py)"
  python3 "$BENCH/make_keys.py" --endpoint "$AWS_ENDPOINT_URL" --plan-id "$1" --count "$2" \
    --threads 1 --out "$3" --name-prefix "$4" >"$WORK/make_keys-$4.out" 2>"$WORK/make_keys-$4.err" \
    || { cat "$WORK/make_keys-$4.err" >&2; die "make_keys.py failed"; }
  [ "$(grep -c . "$3")" = "$2" ] || die "make_keys.py wrote $(grep -c . "$3") keys, expected $2"
}

# probe WHAT URL EXPECTED_CODE EXPECTED_BODY [API_KEY]: one request, which
# must get exactly that answer (EXPECTED_BODY "*" takes any), or exit 2.
probe() {
  local hdr=() code body
  [ -n "${5:-}" ] && hdr=(-H "x-api-key: $5")
  code=$(tcurl -o "$WORK/probe.body" -w '%{http_code}' "${hdr[@]}" "$2" || true)
  body=$(cat "$WORK/probe.body" 2>/dev/null || true)
  if [ "$code" != "$3" ] || { [ "$4" != '*' ] && [ "$body" != "$4" ]; }; then
    log "error: probe $1: $2 gave HTTP $code $body, expected $3 $4"
    exit 2
  fi
}

# ---------------------------------------------------------------------------
# nginx doing the keyed job (as bench/run.sh's nginx-keyed).
# ---------------------------------------------------------------------------
# nginx_keyed_conf NAME PORT KEYS_FILE [tls] [ACCESS_LOG]: $WORK/NAME/nginx.conf:
# the key checked against the file's keys (403 {"message":"Forbidden"}), a
# limit_req bucket per key at BIG (nothing refused, every request updates its
# key's state), then proxy_pass to the upstream with keep-alive (as
# bench/run.sh's nginx-keyed). With tls: listen ... ssl with the same
# certificate and key as Tollgate, TLS 1.2 and 1.3, nginx's defaults
# otherwise. ACCESS_LOG: a file written in the default combined format,
# unbuffered (nginx's default); none without it.
nginx_keyed_conf() {
  local name=$1 port=$2 keys=$3 tls=${4:-} alog=${5:-} dir=$WORK/$1 n hash_max=2048 ssl="" ssl_conf=""
  mkdir -p "$dir/logs"
  awk 'NF { printf "\"%s\" 1;\n", $1 }' "$keys" >"$dir/keys.map"
  n=$(wc -l <"$dir/keys.map")
  [ "$n" -gt 0 ] || die "no keys for $name"
  # As bench/run.sh. With 1 000 keys nginx warns at start that it "could not
  # build optimal map_hash" and ignores map_hash_bucket_size: it still builds
  # the hash (with larger buckets), the warning changes nothing measured.
  while [ "$hash_max" -lt $((n * 4)) ]; do hash_max=$((hash_max * 2)); done
  local user=""
  [ "$(id -u)" = 0 ] && user="user root;"
  if [ "$tls" = tls ]; then
    ssl=" ssl"
    ssl_conf="        ssl_certificate $TLS_CERT;
        ssl_certificate_key $TLS_KEY;
        ssl_protocols TLSv1.2 TLSv1.3;"
  fi
  local log_line="access_log off;"
  [ -n "$alog" ] && log_line="access_log $alog combined;"

  cat >"$dir/nginx.conf" <<EOF
# Generated by bench/harness.sh (${LOG_PREFIX:-bench}).
$user
daemon off;
master_process on;
# Both proxies may use both cores (Tollgate runs a single-threaded runtime per
# core): worker_processes auto, as bench/run.sh.
worker_processes $NGINX_WORKERS;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
    $log_line
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
    # The usage plan's $n key(s), as Tollgate's key index holds them.
    map_hash_max_size $hash_max;
    map_hash_bucket_size 128;
    map \$http_x_api_key \$api_key_ok {
        default 0;
        include $dir/keys.map;
    }
    limit_req_zone \$http_x_api_key zone=plan:16m rate=${BIG}r/s;
    server {
        listen 127.0.0.1:$port$ssl;
$ssl_conf
        default_type application/json;
        # The seed's /api/{proxy+} -> http://UP/{proxy}: /api/bench -> /bench.
        location /api/ {
            if (\$api_key_ok = 0) { return 403 '{"message":"Forbidden"}'; }
            limit_req zone=plan burst=$BIG nodelay;
            limit_req_status 429;
            limit_req_log_level info;
            error_page 429 = @throttled;
            proxy_pass http://bench_upstream/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location @throttled {
            return 429 '{"message":"Too Many Requests"}';
        }
    }
}
EOF
}
# start_nginx NAME URL: checks and starts nginx with $WORK/NAME/nginx.conf,
# waits until URL refuses a keyless request (403). Sets NGINX_PID.
start_nginx() {
  local name=$1 url=$2 dir=$WORK/$1 _
  "$NGINX" -t -q -p "$dir/" -e "$dir/logs/error.log" -c "$dir/nginx.conf" || die "nginx rejected the generated $name config"
  "$NGINX" -p "$dir/" -e "$dir/logs/error.log" -c "$dir/nginx.conf" >"$WORK/$name.out" 2>&1 &
  PIDS+=($!)
  NGINX_PID=$!
  for _ in $(seq 1 100); do
    [ "$(tcurl -o /dev/null -w '%{http_code}' "$url" 2>/dev/null)" = 403 ] && return 0
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/$name.out" "$dir/logs/error.log" >&2 2>/dev/null || true
  die "$name not answering as expected"
}

# ---------------------------------------------------------------------------
# /proc readings and wrk's output.
# ---------------------------------------------------------------------------
# A process and its children (nginx's workers), as "PID PID ...".
family() { echo "$1 $(pgrep -P "$1" 2>/dev/null | tr '\n' ' ')"; }
# Clock ticks of user + system time of the processes in $1, all threads.
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
mib() { awk -v k="$1" 'BEGIN { if (k ~ /^[0-9]+$/) printf "%.1f", k / 1024; else print "?" }'; }
load1() { cut -d' ' -f1 /proc/loadavg; }
load3() { cut -d' ' -f1-3 /proc/loadavg; }
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
# wrk_field FILE FIELD: one figure of a wrk output file.
#   rps reqs non2xx sockerr (c/r/w/t) sockerr_n p50 p99 max (ms) statuses
wrk_field() {
  case $2 in
    rps) awk '/^Requests\/sec:/ { print $2 }' "$1" ;;
    reqs) awk '/ requests in / { print $1; exit }' "$1" ;;
    non2xx) awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$1" ;;
    sockerr) awk '/Socket errors:/ { gsub(/,/, ""); s = sprintf("c%s/r%s/w%s/t%s", $4, $6, $8, $10) } END { print (s == "" ? "none" : s) }' "$1" ;;
    sockerr_n) awk '/Socket errors:/ { gsub(/,/, ""); n = $4 + $6 + $8 + $10 } END { print n + 0 }' "$1" ;;
    p50) to_ms "$(awk '$1 == "50%" { print $2; exit }' "$1")" ;;
    p99) to_ms "$(awk '$1 == "99%" { print $2; exit }' "$1")" ;;
    max) to_ms "$(awk '$1 == "Latency" { print $4; exit }' "$1")" ;;
    statuses) awk '/^statuses: / { sub(/^statuses: /, ""); print }' "$1" ;;
    *) die "wrk_field: unknown field $2" ;;
  esac
}
