#!/usr/bin/env bash
# TLS termination (issue #19): the seed's keyed path with Tollgate terminating
# TLS (--tls-cert/--tls-key, a test CA made here with openssl) against nginx
# terminating TLS for the same job (the key check and limit_req of
# bench/run.sh's nginx-keyed, proxy_pass to the same upstream, the same
# certificate), in one command, with wrk over https (bench/README.md, "TLS").
#
#   bash bench/tls.sh                  # about 2 minutes after the build
#   RUN_INDEX=1 bash bench/tls.sh      # the next run: the systems in the other order
#
# Pairs, each Tollgate then nginx (or the reverse, from RUN_INDEX/ORDER):
#   keepalive  stage "plain" of the seed's API (no access log, no tracing) against
#              nginx without access log: wrk -t THREADS -c CONNECTIONS -d DURATION,
#              keep-alive (one handshake per connection)
#   close      the same with "Connection: close" on every request (a TCP connection
#              and a full TLS handshake per request; wrk resumes no session):
#              -d CLOSE_DURATION
#   seed       stage "prod" as the seed sets it (its access log and tracing on)
#              against nginx writing its access log (combined): keep-alive
# Every request carries one of TLS_KEYS (1000) keys of plan bench-admit (limits
# BIG), picked at random (bench/wrk/keys.lua); nginx's map holds the same keys.
#
# Environment (defaults in brackets):
#   DURATION [10s] CLOSE_DURATION [5s] WARMUP [2s] CONNECTIONS [32] THREADS [2]
#   RUN_INDEX [0]  ORDER [even RUN_INDEX: forward (Tollgate first), odd: reverse]
#   PAIRS ["keepalive close seed"]  TLS_KEYS [1000]
#   NGINX_WORKERS [auto]  CARGO_TARGET_DIR  SKIP_BUILD=1  KEEP_WORK=1
#
# Exit status: 2 when a run is invalid (any non-2xx response or socket error,
# or a probe failed); 1 on a set-up error; else 0 (the ratios are reported,
# not enforced).
set -euo pipefail

DURATION=${DURATION:-10s}
CLOSE_DURATION=${CLOSE_DURATION:-5s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
RUN_INDEX=${RUN_INDEX:-0}
PAIRS=${PAIRS:-"keepalive close seed"}
TLS_KEYS=${TLS_KEYS:-1000}
# The 1-minute load average above which a run is marked DISTURBED.
LOAD_LIMIT=1.5

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOG_PREFIX=tls
# shellcheck source=bench/harness.sh disable=SC1091
. "$ROOT/bench/harness.sh"

[[ $RUN_INDEX =~ ^[0-9]+$ ]] || die "RUN_INDEX must be a number (got '$RUN_INDEX')"
if [ -z "${ORDER:-}" ]; then
  if [ $((RUN_INDEX % 2)) = 0 ]; then ORDER=forward; else ORDER=reverse; fi
fi
case $ORDER in forward | reverse) ;; *) die "ORDER must be forward or reverse (got '$ORDER')" ;; esac
for p in $PAIRS; do
  case $p in keepalive | close | seed) ;; *) die "unknown pair '$p' in PAIRS (known: keepalive close seed)" ;; esac
done
[[ $TLS_KEYS =~ ^[0-9]+$ ]] && [ "$TLS_KEYS" -ge 1 ] || die "TLS_KEYS must be a number >= 1"

ensure_tools nginx
make_test_ca
start_upstream
start_sink
start_tollgate tollgate tls
SEED_EXTRA_STAGES=plain seed_api
make_keys "$ADMIT_PLAN_ID" "$TLS_KEYS" "$WORK/keys.txt" tls-bench
TG_BASE="https://$TG_ADDR/_aws/execute-api/$API_ID"
KEY0=$(head -n1 "$WORK/keys.txt")
probe "tollgate plain, no key" "$TG_BASE/plain/api/bench" 403 '{"message":"Forbidden"}'
probe "tollgate plain, key" "$TG_BASE/plain/api/bench" 200 '{"ok":true}' "$KEY0"
probe "tollgate prod (seed), key" "$TG_BASE/prod/api/bench" 200 '{"ok":true}' "$KEY0"

log "starting nginx (TLS, keyed; one server without and one with its access log)"
NGX_PORT=$(free_port)
nginx_keyed_conf nginx "$NGX_PORT" "$WORK/keys.txt" tls
start_nginx nginx "https://127.0.0.1:$NGX_PORT/api/bench"
NGX_PID=$NGINX_PID
NGXL_PORT=$(free_port)
nginx_keyed_conf nginx-log "$NGXL_PORT" "$WORK/keys.txt" tls "$WORK/nginx-access.log"
start_nginx nginx-log "https://127.0.0.1:$NGXL_PORT/api/bench"
NGXL_PID=$NGINX_PID
probe "nginx, key" "https://127.0.0.1:$NGX_PORT/api/bench" 200 '{"ok":true}' "$KEY0"
probe "nginx-log, key" "https://127.0.0.1:$NGXL_PORT/api/bench" 200 '{"ok":true}' "$KEY0"
# What each side negotiates with an OpenSSL client (wrk links OpenSSL too).
negotiated() {
  openssl s_client -connect "$1" -servername localhost -CAfile "$TLS_CA" </dev/null 2>/dev/null \
    | awk '/^New, / { p = $2; sub(/,$/, "", p); c = $NF } /Server Temp Key:/ { sub(/^.*Server Temp Key: /, ""); k = $0 }
      /Verify return code:/ { v = $4 } END { printf "%s %s, key exchange %s, verify %s\n", p, c, k, v }'
}
TG_NEG=$(negotiated "$TG_ADDR")
NGX_NEG=$(negotiated "127.0.0.1:$NGX_PORT")
log "negotiated: Tollgate $TG_NEG; nginx $NGX_NEG"

# ---------------------------------------------------------------------------
# The runs.
# ---------------------------------------------------------------------------
cat "$BENCH/wrk/keys.lua" "$BENCH/wrk/statuses.lua" >"$WORK/keys-tally.lua"
declare -A URL_OF CPU_OF DUR_OF CLOSE_OF PAIR_OF RPS REQS NON2XX SOCKERR SOCKERR_N P50 P99 CPU_US LOAD_AT WARM_ST
RUNS=()
INVALID=()
URL_OF[tg-keepalive]="$TG_BASE/plain/api/bench"
URL_OF[ngx-keepalive]="https://127.0.0.1:$NGX_PORT/api/bench"
URL_OF[tg-close]="$TG_BASE/plain/api/bench"
URL_OF[ngx-close]="https://127.0.0.1:$NGX_PORT/api/bench"
URL_OF[tg-seed]="$TG_BASE/prod/api/bench"
URL_OF[ngx-log]="https://127.0.0.1:$NGXL_PORT/api/bench"
for t in tg-keepalive tg-close tg-seed; do CPU_OF[$t]=$TG_PID; done
CPU_OF[ngx-keepalive]=$(family "$NGX_PID")
CPU_OF[ngx-close]=${CPU_OF[ngx-keepalive]}
CPU_OF[ngx-log]=$(family "$NGXL_PID")

# run NAME DURATION CLOSE: warm-up (tallying statuses), then the measured run.
run() {
  local name=$1 dur=$2 close=$3 out=$WORK/wrk-$1.txt ticks0 ticks
  log "$name: warm-up $WARMUP"
  WRK_CLOSE=$close WRK_KEYS_FILE=$WORK/keys.txt timeout $(($(duration_secs "$WARMUP") + 60)) \
    wrk -t "$THREADS" -c "$CONNECTIONS" -d "$WARMUP" -s "$WORK/keys-tally.lua" "${URL_OF[$name]}" >"$out.warmup" \
    || die "wrk warm-up of $name failed: $(cat "$out.warmup")"
  WARM_ST[$name]=$(wrk_field "$out.warmup" statuses)
  LOAD_AT[$name]=$(load3)
  log "$name: measuring $dur (load ${LOAD_AT[$name]})${close:+ with Connection: close}: ${URL_OF[$name]}"
  ticks0=$(cpu_ticks "${CPU_OF[$name]}")
  WRK_CLOSE=$close WRK_KEYS_FILE=$WORK/keys.txt timeout $(($(duration_secs "$dur") + 60)) \
    wrk -t "$THREADS" -c "$CONNECTIONS" -d "$dur" --latency -s "$BENCH/wrk/keys.lua" "${URL_OF[$name]}" >"$out" \
    || die "wrk run $name failed: $(cat "$out")"
  ticks=$(($(cpu_ticks "${CPU_OF[$name]}") - ticks0))
  sed 's/^/    /' "$out" >&2
  RPS[$name]=$(wrk_field "$out" rps)
  REQS[$name]=$(wrk_field "$out" reqs)
  NON2XX[$name]=$(wrk_field "$out" non2xx)
  SOCKERR[$name]=$(wrk_field "$out" sockerr)
  SOCKERR_N[$name]=$(wrk_field "$out" sockerr_n)
  P50[$name]=$(wrk_field "$out" p50)
  P99[$name]=$(wrk_field "$out" p99)
  CPU_US[$name]=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="${REQS[$name]}" \
    'BEGIN { if (n > 0 && t > 0) printf "%.1f", t * 1e6 / hz / n; else print "?" }')
  RUNS+=("$name")
  [ "${NON2XX[$name]}" = 0 ] || INVALID+=("$name: ${NON2XX[$name]} non-2xx responses of ${REQS[$name]}")
  [ "${SOCKERR_N[$name]}" = 0 ] || INVALID+=("$name: socket errors ${SOCKERR[$name]}")
  [[ ${WARM_ST[$name]} =~ ^200=[0-9]+$ ]] || INVALID+=("$name: the warm-up got '${WARM_ST[$name]}', not only 200s")
  log "$name: ${RPS[$name]} req/s, non2xx ${NON2XX[$name]}, socket errors ${SOCKERR[$name]}, ${CPU_US[$name]} us CPU/req"
}
ordered() { if [ "$ORDER" = forward ]; then echo "$1 $2"; else echo "$2 $1"; fi; }
for pair in $PAIRS; do
  case $pair in
    keepalive) names=$(ordered tg-keepalive ngx-keepalive); dur=$DURATION; close="" ;;
    close) names=$(ordered tg-close ngx-close); dur=$CLOSE_DURATION; close=1 ;;
    seed) names=$(ordered tg-seed ngx-log); dur=$DURATION; close="" ;;
  esac
  for n in $names; do PAIR_OF[$n]=$pair; run "$n" "$dur" "$close"; done
done
NGX_LOG_LINES=$(wc -l <"$WORK/nginx-access.log" 2>/dev/null || echo 0)
TG_WARN=$(grep -cE ' (WARN|ERROR) ' "$WORK/tollgate.out.err" 2>/dev/null || true)

# ---------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------
echo
echo "TLS termination (bench/tls.sh), $(date -u '+%Y-%m-%d %H:%M UTC'), order $ORDER (RUN_INDEX=$RUN_INDEX)"
echo "  the seed's API (examples/multitalk/setup.sh; ANY /api/{proxy+} -> HTTP_PROXY multitalk-upstream), plan bench-admit"
echo "  (burst, rate, quota $BIG) with $TLS_KEYS keys, each request a random one (bench/wrk/keys.lua); nginx: map of the same keys,"
echo "  limit_req at $BIG r/s, proxy_pass with upstream keep-alive, worker_processes $NGINX_WORKERS; the same ECDSA P-256 certificate"
echo "  negotiated (openssl s_client): Tollgate $TG_NEG; nginx $NGX_NEG"
echo "  wrk -t $THREADS -c $CONNECTIONS --latency over https; warm-up $WARMUP; keepalive/seed $DURATION, close $CLOSE_DURATION"
echo
printf '  %-14s %-9s %10s %9s %8s %-12s %8s %8s %10s %16s %s\n' run pair req/s requests non2xx sockerr p50_ms p99_ms cpu_us/req load@start note
for n in "${RUNS[@]}"; do
  note=""
  awk -v l="${LOAD_AT[$n]%% *}" -v m="$LOAD_LIMIT" 'BEGIN { exit !(l > m) }' && note=DISTURBED
  printf '  %-14s %-9s %10s %9s %8s %-12s %8s %8s %10s %16s %s\n' "$n" "${PAIR_OF[$n]}" "${RPS[$n]}" "${REQS[$n]}" \
    "${NON2XX[$n]}" "${SOCKERR[$n]}" "${P50[$n]}" "${P99[$n]}" "${CPU_US[$n]}" "${LOAD_AT[$n]}" "$note"
done
echo "  (cpu_us/req: user + system time of the serving process(es) over the requests: Tollgate's process, nginx's master"
echo "   and workers; DISTURBED: 1-minute load above $LOAD_LIMIT when the measured run started: other work on the box)"
echo
# ratio A B [goal]: A/B req/s and CPU per request; PASS/FAIL against 0.9x with goal.
ratio() {
  awk -v a="${RPS[$1]:-0}" -v b="${RPS[$2]:-0}" -v ca="${CPU_US[$1]:-?}" -v cb="${CPU_US[$2]:-?}" -v verdict="${3:-}" 'BEGIN {
    if (b <= 0) { print "?"; exit }
    r = a / b; c = (ca + 0 > 0 && cb + 0 > 0) ? sprintf("%.2fx", ca / cb) : "?"
    v = (verdict == "") ? "" : (r >= 0.9 ? "PASS" : "FAIL")
    printf "%.3fx (CPU per request %s: %s vs %s us) %s\n", r, c, ca, cb, v }'
}
for pair in $PAIRS; do
  case $pair in
    keepalive) echo "  keep-alive, Tollgate/nginx:        $(ratio tg-keepalive ngx-keepalive goal)   (goal >= 0.9x)" ;;
    close) echo "  new connection per request:        $(ratio tg-close ngx-close goal)   (goal >= 0.9x)" ;;
    seed) echo "  seed stage (access log + tracing) vs nginx with access log: $(ratio tg-seed ngx-log)   (reference)"
      echo "    nginx access log lines: $NGX_LOG_LINES" ;;
  esac
done
echo "  Tollgate warnings/errors logged: $TG_WARN"
if [ "${#INVALID[@]}" -gt 0 ]; then
  printf 'INVALID: %s\n' "${INVALID[@]}"
  exit 2
fi
echo "every run: only 2xx, no socket errors"
