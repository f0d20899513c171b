#!/usr/bin/env bash
# Tollgate load benchmark: the same minimal upstream measured directly, behind
# nginx, and behind Tollgate (HTTP_PROXY on /{proxy+}), with wrk.
#
#   bash bench/run.sh                      # DURATION=10s, 32 connections
#   DURATION=30s CONNECTIONS=64 bash bench/run.sh
#
# Environment:
#   DURATION       wrk duration of each measured run (default 10s)
#   WARMUP         wrk duration of the warm-up run before each (default 2s)
#   CONNECTIONS    wrk connections (default 32; the targets are stated for 32)
#   THREADS        wrk threads (default 2)
#   LAT_DURATION   duration of the extra 1-connection latency runs (default 5s; 0 skips them)
#   NGINX_WORKERS  nginx worker_processes (default auto; see the config below)
#   CARGO_TARGET_DIR  where the release binaries are built (default ./target)
#   SKIP_BUILD=1   use the binaries already in the target dir
#   BENCH_STRICT=1 exit 1 when the verdict is FAIL (default: exit 0, verdict printed)
#
# Everything listens on 127.0.0.1 and every process started here is stopped on
# exit. See bench/README.md for how to read the output.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
LAT_DURATION=${LAT_DURATION:-5s}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
BENCH_STRICT=${BENCH_STRICT:-0}
SKIP_BUILD=${SKIP_BUILD:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
TOLLGATE_BIN=$TARGET_DIR/release/tollgate
UPSTREAM_BIN=$TARGET_DIR/release/multitalk-upstream

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------
# 0. Processes we start, and their bounded cleanup.
# ---------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench.XXXXXX")
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

# A free TCP port on 127.0.0.1 (for nginx, which cannot report port 0 back).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------------------
# 1. Tools and binaries.
# ---------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
NGINX=$(command -v nginx 2>/dev/null || true)
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
[ -z "$NGINX" ] && need_apt+=(nginx)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
if [ "${#need_apt[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${need_apt[*]} and not root: install them first"
  log "installing ${need_apt[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  # Keep the package's own nginx service (port 80) from being started.
  policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_added=1
  fi
  pkgs=()
  for p in "${need_apt[@]}"; do
    # nginx-light is the smaller build (still has proxy and upstream keepalive);
    # fall back to nginx where the release no longer ships it.
    if [ "$p" = nginx ]; then p=nginx-light; fi
    pkgs+=("$p")
  done
  apt-get update -qq
  if ! apt-get install -y -qq "${pkgs[@]}" >"$WORK/apt.log" 2>&1; then
    pkgs=("${pkgs[@]/nginx-light/nginx}")
    apt-get install -y -qq "${pkgs[@]}" >>"$WORK/apt.log" 2>&1 || { [ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d; cat "$WORK/apt.log" >&2; die "apt-get install failed"; }
  fi
  [ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d
  NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
fi
[ -x "$NGINX" ] || die "nginx not found"
if ! command -v aws >/dev/null 2>&1; then
  log "installing the aws CLI from PyPI"
  python3 -m pip install -q awscli >"$WORK/pip.log" 2>&1 \
    || python3 -m pip install -q --break-system-packages awscli >>"$WORK/pip.log" 2>&1 \
    || { cat "$WORK/pip.log" >&2; die "pip install awscli failed"; }
  hash -r
  command -v aws >/dev/null 2>&1 || die "aws CLI installed but not on PATH"
fi

if [ "$SKIP_BUILD" != 1 ]; then
  log "building release binaries into $TARGET_DIR (several minutes on 2 cores the first time)"
  (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --locked -q -p tollgate -p multitalk-upstream)
fi
[ -x "$TOLLGATE_BIN" ] || die "$TOLLGATE_BIN missing"
[ -x "$UPSTREAM_BIN" ] || die "$UPSTREAM_BIN missing"

# ---------------------------------------------------------------------------
# 2. Upstream, nginx, Tollgate.
# ---------------------------------------------------------------------------
log "starting multitalk-upstream"
RUST_LOG=warn "$UPSTREAM_BIN" --listen 127.0.0.1:0 >"$WORK/upstream.out" 2>"$WORK/upstream.out.err" &
PIDS+=($!)
line=$(wait_for_line "$WORK/upstream.out" 'listening on http://' "${PIDS[-1]}" multitalk-upstream)
UP_ADDR=${line##*http://}
UP_PORT=${UP_ADDR##*:}
[ "$(curl -s -m 5 "http://$UP_ADDR/bench")" = '{"ok":true}' ] \
  || die "upstream GET /bench did not answer {\"ok\":true} (is /bench implemented?)"

log "starting nginx"
NGX_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
NGX_USER=""
# As root the workers would drop to nobody:nobody, a group Debian lacks.
[ "$(id -u)" = 0 ] && NGX_USER="user root;"
cat >"$WORK/nginx/nginx.conf" <<EOF
# Generated by bench/run.sh: the plainest reverse proxy, as the baseline.
$NGX_USER
daemon off;
master_process on;
# worker_processes auto (= 2 here): Tollgate runs a tokio multi-threaded
# runtime with one worker thread per core (2 on this machine), so nginx gets
# the same two cores to use. On a 2-core box both proxies share the CPUs with
# wrk and the upstream; worker_processes 1 would cap nginx at one core while
# Tollgate may use two, flattering Tollgate. Override with NGINX_WORKERS.
worker_processes $NGINX_WORKERS;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    # Tollgate has no access log yet: nginx writes none either.
    access_log off;
    # nginx closes a client connection after 1000 requests by default, and an
    # upstream one too; hyper (Tollgate, upstream) never does. Lift both so no
    # side pays for reconnects the other does not.
    keepalive_requests 1000000;
    client_body_temp_path $WORK/nginx/client_body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    upstream bench_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGX_PORT;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
"$NGINX" -t -q -p "$WORK/nginx/" -e "$WORK/nginx/logs/error.log" -c "$WORK/nginx/nginx.conf" \
  || die "nginx rejected the generated config"
"$NGINX" -p "$WORK/nginx/" -e "$WORK/nginx/logs/error.log" -c "$WORK/nginx/nginx.conf" \
  >"$WORK/nginx.out" 2>&1 &
PIDS+=($!)
ok=0
for _ in $(seq 1 100); do
  if [ "$(curl -s -m 2 "http://127.0.0.1:$NGX_PORT/bench" 2>/dev/null)" = '{"ok":true}' ]; then ok=1; break; fi
  kill -0 "${PIDS[-1]}" 2>/dev/null || break
  sleep 0.1
done
[ "$ok" = 1 ] || { cat "$WORK/nginx.out" "$WORK/nginx/logs/error.log" >&2 2>/dev/null || true; die "nginx not proxying /bench"; }

log "starting tollgate"
mkdir -p "$WORK/tollgate-data" "$WORK/tollgate-cwd"
# Own cwd (no stray tollgate.toml), no inherited TOLLGATE_* settings.
(cd "$WORK/tollgate-cwd" && exec env -u TOLLGATE_CONFIG -u TOLLGATE_PUBLIC_LISTEN \
  -u TOLLGATE_ACCESS_KEY_ID -u TOLLGATE_SECRET_ACCESS_KEY \
  TOLLGATE_LOG=warn "$TOLLGATE_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/tollgate-data" \
  >"$WORK/tollgate.out" 2>"$WORK/tollgate.out.err") &
PIDS+=($!)
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
  op=replace,path=/throttle/rateLimit,value=100000000 \
  op=replace,path=/throttle/burstLimit,value=100000000 >/dev/null
TG_URL="http://$TG_ADDR/_aws/execute-api/$API_ID/bench/bench"
code=$(curl -s -m 5 -o "$WORK/probe.body" -w '%{http_code}' "$TG_URL" || true)
[ "$code" = 200 ] && [ "$(cat "$WORK/probe.body")" = '{"ok":true}' ] \
  || { cat "$WORK/probe.body" >&2 2>/dev/null || true; die "Tollgate probe of $TG_URL gave HTTP $code"; }

# ---------------------------------------------------------------------------
# 3. wrk runs.
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
declare -A URLS
declare -A RPS P50 P99 NON2XX SOCKERR
# run_wrk KEY URL THREADS CONNECTIONS DURATION
run_wrk() {
  local key=$1 url=$2 threads=$3 conns=$4 dur=$5 out=$WORK/wrk-$1.txt
  log "$key: warm-up $WARMUP"
  timeout $(( $(duration_secs "$WARMUP") + 30 )) \
    wrk -t "$threads" -c "$conns" -d "$WARMUP" "$url" >/dev/null
  log "$key: measuring $dur, $threads threads, $conns connections: $url"
  timeout $(( $(duration_secs "$dur") + 30 )) \
    wrk -t "$threads" -c "$conns" -d "$dur" --latency "$url" >"$out"
  sed 's/^/    /' "$out" >&2
  RPS[$key]=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  P50[$key]=$(to_ms "$(awk '$1 == "50%" { print $2; exit }' "$out")")
  P99[$key]=$(to_ms "$(awk '$1 == "99%" { print $2; exit }' "$out")")
  NON2XX[$key]=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
  NON2XX[$key]=${NON2XX[$key]:-0}
  SOCKERR[$key]=$(awk '/Socket errors:/ { sub(/.*Socket errors: /, ""); print }' "$out")
  SOCKERR[$key]=${SOCKERR[$key]:-none}
  [ -n "${RPS[$key]}" ] || die "could not parse wrk output for $key"
}

URLS=([direct]="http://$UP_ADDR/bench" [nginx]="http://127.0.0.1:$NGX_PORT/bench" [tollgate]="$TG_URL")
# The measured runs, in order: direct, nginx, Tollgate.
for t in direct nginx tollgate; do
  run_wrk "$t" "${URLS[$t]}" "$THREADS" "$CONNECTIONS" "$DURATION"
done
# Unloaded latency: one connection, so the CPUs are not saturated and the
# difference to direct is the proxy's own per-request cost (see the note).
if [ "$LAT_DURATION" != 0 ]; then
  for t in direct nginx tollgate; do
    run_wrk "$t-c1" "${URLS[$t]}" 1 1 "$LAT_DURATION"
  done
fi

# Did Tollgate log anything at warn or above during the runs?
TG_WARNINGS=$(grep -cE 'WARN|ERROR' "$WORK/tollgate.out.err" 2>/dev/null || true)

# ---------------------------------------------------------------------------
# 4. Report.
# ---------------------------------------------------------------------------
echo
echo "Tollgate load benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -m)"
echo "wrk -t $THREADS -c $CONNECTIONS -d $DURATION --latency (after a $WARMUP warm-up); upstream GET /bench -> {\"ok\":true}"
echo "nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') worker_processes $NGINX_WORKERS; Tollgate HTTP_PROXY /{proxy+} -> upstream"
echo
printf '%-10s %12s %10s %10s %10s  %s\n' target req/s p50_ms p99_ms non2xx socket_errors
for t in direct nginx tollgate; do
  printf '%-10s %12.0f %10.3f %10.3f %10s  %s\n' "$t" "${RPS[$t]}" "${P50[$t]}" "${P99[$t]}" "${NON2XX[$t]}" "${SOCKERR[$t]}"
done
echo
read -r RATIO TG_ADD NGX_ADD VERDICT < <(awk \
  -v tr="${RPS[tollgate]}" -v nr="${RPS[nginx]}" \
  -v tp="${P99[tollgate]}" -v np="${P99[nginx]}" -v dp="${P99[direct]}" \
  -v tn="${NON2XX[tollgate]}" 'BEGIN {
    ratio = tr / nr; tadd = tp - dp; nadd = np - dp
    v = (ratio >= 0.9 && tadd <= 1.0 && tn == 0) ? "PASS" : "FAIL"
    printf "%.3f %+.3f %+.3f %s\n", ratio, tadd, nadd, v }')
echo "throughput Tollgate/nginx:            ${RATIO}x    (target >= 0.9x)"
echo "p99 added latency, Tollgate - direct: ${TG_ADD} ms (target <= 1 ms at $CONNECTIONS connections)"
echo "p99 added latency, nginx - direct:    ${NGX_ADD} ms (for reference)"
if [ "$LAT_DURATION" != 0 ]; then
  echo
  echo "unloaded latency, wrk -t 1 -c 1 -d $LAT_DURATION (CPUs not saturated):"
  printf '%-10s %12s %10s %10s %12s %12s\n' target req/s p50_ms p99_ms p50_added p99_added
  for t in direct nginx tollgate; do
    k=$t-c1
    printf '%-10s %12.0f %10.3f %10.3f %12s %12s\n' "$t" "${RPS[$k]}" "${P50[$k]}" "${P99[$k]}" \
      "$(awk -v a="${P50[$k]}" -v b="${P50[direct-c1]}" 'BEGIN { printf "%+.3f", a - b }')" \
      "$(awk -v a="${P99[$k]}" -v b="${P99[direct-c1]}" 'BEGIN { printf "%+.3f", a - b }')"
  done
  [ "${NON2XX[tollgate-c1]}" = 0 ] || echo "Tollgate answered ${NON2XX[tollgate-c1]} non-2xx/3xx responses in the 1-connection run"
fi
echo
[ "${NON2XX[tollgate]}" = 0 ] || echo "Tollgate answered ${NON2XX[tollgate]} non-2xx/3xx responses: counted as FAIL"
[ "${TG_WARNINGS:-0}" = 0 ] || echo "Tollgate logged ${TG_WARNINGS} WARN/ERROR lines on stderr during the runs"
echo "note: on $(nproc) cores wrk, the upstream and the proxy share the CPUs. All three runs bear this"
echo "      equally (the direct run has one process fewer), so compare ratios, not absolute numbers."
echo "      At $CONNECTIONS connections the CPUs are saturated and p99 is mostly queueing: the direct"
echo "      run's p99 can exceed a proxied one, so the added p99 can be negative; the 1-connection"
echo "      table shows each proxy's own per-request cost."
echo "$VERDICT: Tollgate ${RATIO}x nginx throughput (target >= 0.9x), p99 ${TG_ADD} ms over direct (target <= +1 ms)"
if [ "$VERDICT" = FAIL ] && [ "$BENCH_STRICT" = 1 ]; then exit 1; fi
exit 0
