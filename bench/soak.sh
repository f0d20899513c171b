#!/usr/bin/env bash
# Soak test (issue #19): the seed's keyed path at half of Tollgate's measured
# capacity for SOAK_MINUTES (30), with a mix of valid keys, invalid keys and
# one throttled key; every minute Tollgate's RSS, the requests by status and
# every error. The verdict: no errors, and memory flat (bench/README.md,
# "Soak").
#
#   bash bench/soak.sh                          # about 33 minutes
#   SOAK_MINUTES=3 bash bench/soak.sh           # a smoke run
#   SKIP_BUILD=1 CARGO_TARGET_DIR=/work/target-soak bash bench/soak.sh
#
# Environment (defaults in brackets):
#   SOAK_MINUTES [30]       minutes of paced load
#   LOAD_PCT [50]           the paced rate, in % of the capacity measured first
#   CAP_DURATION [10s]      the capacity run (wrk -t THREADS -c CONNECTIONS, valid keys)
#   THREADS [2] CONNECTIONS [32]   the capacity run's wrk
#   SOAK_KEYS [1000]        valid keys (plan bench-admit, limits never reached)
#   INVALID_PCT [5]         share of the requests with a key that does not exist (403)
#   LIMITED_PCT [5]         share on the one key of plan bench-limited (429 above its rate)
#   LIMITED_RATE [10] LIMITED_BURST [20]   that plan's throttle
#   MEM_TOLERANCE_PCT [5]   "flat": the last 10 minutes' RSS within this % of minute 10's
#   TLS [1]                 1: Tollgate serves https (--tls-cert/--tls-key, a test CA made
#                           here), as a production deployment would; 0: plain http
#   CARGO_TARGET_DIR  SKIP_BUILD=1  KEEP_WORK=1
#
# Exit status: 2 when the soak saw an error (a socket error, a 5xx, a status
# other than expected, an observability record dropped) or a probe failed;
# 3 when memory was not flat; 1 on a set-up error; else 0.
set -euo pipefail

SOAK_MINUTES=${SOAK_MINUTES:-30}
LOAD_PCT=${LOAD_PCT:-50}
CAP_DURATION=${CAP_DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
SOAK_KEYS=${SOAK_KEYS:-1000}
INVALID_PCT=${INVALID_PCT:-5}
LIMITED_PCT=${LIMITED_PCT:-5}
LIMITED_RATE=${LIMITED_RATE:-10}
LIMITED_BURST=${LIMITED_BURST:-20}
MEM_TOLERANCE_PCT=${MEM_TOLERANCE_PCT:-5}
TLS=${TLS:-1}
# The 1-minute load average above which a minute is marked DISTURBED.
LOAD_LIMIT=1.5
# Connections of the paced wrk processes: enough that each keeps its rate
# with answers taking a few milliseconds.
VALID_CONNS=16
SMALL_CONNS=4

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOG_PREFIX=soak
# shellcheck source=bench/harness.sh disable=SC1091
. "$ROOT/bench/harness.sh"

for v in SOAK_MINUTES LOAD_PCT SOAK_KEYS LIMITED_RATE LIMITED_BURST MEM_TOLERANCE_PCT; do
  if ! [[ ${!v} =~ ^[0-9]+$ ]] || [ "${!v}" -lt 1 ]; then die "$v must be a whole number >= 1 (got '${!v}')"; fi
done
# (memory is judged on two minutes or more)
[ "$SOAK_MINUTES" -ge 2 ] || die "SOAK_MINUTES must be at least 2 (got $SOAK_MINUTES)"
for v in INVALID_PCT LIMITED_PCT; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -lt 50 ] || die "$v must be a whole number under 50 (got '${!v}')"
done

ensure_tools
[ "$TLS" = 1 ] && make_test_ca
start_upstream
start_sink
if [ "$TLS" = 1 ]; then start_tollgate tollgate tls; else start_tollgate tollgate; fi
seed_api

# The three kinds of request and their keys.
make_keys "$ADMIT_PLAN_ID" "$SOAK_KEYS" "$WORK/valid-keys.txt" soak-valid
LIMITED_PLAN_ID=$(new_plan bench-limited "$LIMITED_BURST" "$LIMITED_RATE")
make_keys "$LIMITED_PLAN_ID" 1 "$WORK/limited-key.txt" soak-limited
python3 -c 'import secrets
for _ in range(100): print("soak-invalid-" + secrets.token_hex(12))' >"$WORK/invalid-keys.txt"
probe "seed path, no key" "$SEED_URL" 403 '{"message":"Forbidden"}'
probe "seed path, valid key" "$SEED_URL" 200 '{"ok":true}' "$(head -n1 "$WORK/valid-keys.txt")"
probe "seed path, invalid key" "$SEED_URL" 403 '{"message":"Forbidden"}' "$(head -n1 "$WORK/invalid-keys.txt")"
probe "seed path, limited key" "$SEED_URL" 200 '{"ok":true}' "$(cat "$WORK/limited-key.txt")"
METRICS_URL="$TG_SCHEME://$TG_ADDR/metrics"
tcurl -o "$WORK/metrics.txt" "$METRICS_URL" || die "GET $METRICS_URL failed"
grep -q '^tollgate_apigateway_requests_total' "$WORK/metrics.txt" || die "no tollgate_apigateway_requests_total in /metrics"

# What the seed's stage has on (reported as is; the script changes none of it).
STAGE_DESC=$(awsq apigateway get-stage --rest-api-id "$API_ID" --stage-name prod \
  --query '[accessLogSettings.format, tracingEnabled, methodSettings]' --output json | tr -d '\n ' )

# ---------------------------------------------------------------------------
# Capacity: a short saturating run on the valid keys.
# ---------------------------------------------------------------------------
cat "$BENCH/wrk/keys.lua" "$BENCH/wrk/statuses.lua" >"$WORK/keys-tally.lua"
cat "$BENCH/wrk/paced.lua" "$BENCH/wrk/statuses.lua" >"$WORK/paced-tally.lua"
log "capacity: warm-up 2s, then wrk -t $THREADS -c $CONNECTIONS -d $CAP_DURATION on $SOAK_KEYS keys"
WRK_KEYS_FILE=$WORK/valid-keys.txt wrk -t "$THREADS" -c "$CONNECTIONS" -d 2s -s "$BENCH/wrk/keys.lua" "$SEED_URL" >"$WORK/cap-warmup.txt" \
  || die "wrk warm-up failed: $(cat "$WORK/cap-warmup.txt")"
CAP_LOAD=$(load3)
WRK_KEYS_FILE=$WORK/valid-keys.txt timeout $(($(duration_secs "$CAP_DURATION") + 60)) \
  wrk -t "$THREADS" -c "$CONNECTIONS" -d "$CAP_DURATION" --latency -s "$WORK/keys-tally.lua" "$SEED_URL" >"$WORK/cap.txt" \
  || die "wrk capacity run failed: $(cat "$WORK/cap.txt")"
sed 's/^/    /' "$WORK/cap.txt" >&2
CAPACITY=$(wrk_field "$WORK/cap.txt" rps)
CAP_STATUSES=$(wrk_field "$WORK/cap.txt" statuses)
[[ $CAP_STATUSES =~ ^200=[0-9]+$ ]] && [ "$(wrk_field "$WORK/cap.txt" sockerr_n)" = 0 ] || {
  log "INVALID: the capacity run got '$CAP_STATUSES', socket errors $(wrk_field "$WORK/cap.txt" sockerr)"
  exit 2
}
TARGET=$(awk -v c="$CAPACITY" -v p="$LOAD_PCT" 'BEGIN { printf "%d", c * p / 100 }')
INVALID_RATE=$(awk -v t="$TARGET" -v p="$INVALID_PCT" 'BEGIN { r = int(t * p / 100); print (r < 1 ? 1 : r) }')
LIMITED_SEND=$(awk -v t="$TARGET" -v p="$LIMITED_PCT" 'BEGIN { r = int(t * p / 100); print (r < 1 ? 1 : r) }')
VALID_RATE=$((TARGET - INVALID_RATE - LIMITED_SEND))
log "capacity $CAPACITY req/s (load $CAP_LOAD); soak at $TARGET req/s: $VALID_RATE valid, $INVALID_RATE invalid, $LIMITED_SEND on the limited key"

# ---------------------------------------------------------------------------
# The soak: one minute at a time, three paced wrk processes per minute.
# ---------------------------------------------------------------------------
# metric_sum FILE NAME: the sum of a Prometheus counter's series.
metric_sum() { awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%d\n", s }' "$1"; }
dropped_sum() {
  awk '/^tollgate_(observe_dropped_total|spans_dropped_total|log_lines_lost_total|metric_series_refused_total)[{ ]/ { s += $NF }
    END { printf "%d\n", s }' "$1"
}
read_metrics() {
  tcurl -o "$1" "$METRICS_URL" || { log "error: GET /metrics failed"; : >"$1"; }
}
read_metrics "$WORK/metrics-0.txt"
RSS_START=$(rss_kib "$TG_PID")
TG_TICKS0=$(cpu_ticks "$TG_PID")
# One line per minute, tab-separated (the report's table):
printf 'min\tutc\tload1\trss_kib\thwm_kib\tvalid_reqs\tvalid_st\tinvalid_reqs\tinvalid_st\tlimited_reqs\tlimited_st\tsockerr\tp99_ms\tmax_ms\ttg_req\ttg_4xx\ttg_5xx\tdropped\tmetrics_bytes\tlogs_db_kib\tcpu_pct\n' >"$WORK/minutes.tsv"
ERRORS=()
prev_metrics=$WORK/metrics-0.txt
prev_ticks=$TG_TICKS0
START_UTC=$(date -u '+%Y-%m-%d %H:%M UTC')
for m in $(seq 1 "$SOAK_MINUTES"); do
  ld=$(load1)
  utc=$(date -u +%H:%M:%S)
  pids=()
  WRK_RATE=$VALID_RATE WRK_THREADS=2 WRK_KEYS_FILE=$WORK/valid-keys.txt timeout 120 \
    wrk -t 2 -c "$VALID_CONNS" -d 60s --timeout 10s --latency -s "$WORK/paced-tally.lua" "$SEED_URL" >"$WORK/m$m-valid.txt" 2>&1 &
  pids+=($!)
  WRK_RATE=$INVALID_RATE WRK_THREADS=1 WRK_KEYS_FILE=$WORK/invalid-keys.txt timeout 120 \
    wrk -t 1 -c "$SMALL_CONNS" -d 60s --timeout 10s -s "$WORK/paced-tally.lua" "$SEED_URL" >"$WORK/m$m-invalid.txt" 2>&1 &
  pids+=($!)
  WRK_RATE=$LIMITED_SEND WRK_THREADS=1 WRK_KEYS_FILE=$WORK/limited-key.txt timeout 120 \
    wrk -t 1 -c "$SMALL_CONNS" -d 60s --timeout 10s -s "$WORK/paced-tally.lua" "$SEED_URL" >"$WORK/m$m-limited.txt" 2>&1 &
  pids+=($!)
  for p in "${pids[@]}"; do wait "$p" || ERRORS+=("minute $m: a wrk process exited with an error (see its output)"); done
  rss=$(rss_kib "$TG_PID")
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$TG_PID/status" 2>/dev/null || echo '?')
  # /metrics once a minute, as Prometheus would scrape it (it also drains
  # the samples its latency histograms hold).
  read_metrics "$WORK/metrics-$m.txt"
  ticks=$(cpu_ticks "$TG_PID")
  kill -0 "$TG_PID" 2>/dev/null || { ERRORS+=("minute $m: Tollgate is gone"); log "error: Tollgate exited"; break; }
  vr=$(wrk_field "$WORK/m$m-valid.txt" reqs); vs=$(wrk_field "$WORK/m$m-valid.txt" statuses)
  ir=$(wrk_field "$WORK/m$m-invalid.txt" reqs); is=$(wrk_field "$WORK/m$m-invalid.txt" statuses)
  lr=$(wrk_field "$WORK/m$m-limited.txt" reqs); ls_=$(wrk_field "$WORK/m$m-limited.txt" statuses)
  se=$(( $(wrk_field "$WORK/m$m-valid.txt" sockerr_n) + $(wrk_field "$WORK/m$m-invalid.txt" sockerr_n) + $(wrk_field "$WORK/m$m-limited.txt" sockerr_n) ))
  p99=$(wrk_field "$WORK/m$m-valid.txt" p99)
  mx=$(wrk_field "$WORK/m$m-valid.txt" max)
  tg_req=$(( $(metric_sum "$WORK/metrics-$m.txt" tollgate_apigateway_requests_total) - $(metric_sum "$prev_metrics" tollgate_apigateway_requests_total) ))
  tg_4xx=$(( $(metric_sum "$WORK/metrics-$m.txt" tollgate_apigateway_4xx_errors_total) - $(metric_sum "$prev_metrics" tollgate_apigateway_4xx_errors_total) ))
  tg_5xx=$(( $(metric_sum "$WORK/metrics-$m.txt" tollgate_apigateway_5xx_errors_total) - $(metric_sum "$prev_metrics" tollgate_apigateway_5xx_errors_total) ))
  dropped=$(( $(dropped_sum "$WORK/metrics-$m.txt") - $(dropped_sum "$prev_metrics") ))
  mbytes=$(wc -c <"$WORK/metrics-$m.txt")
  dbk=$(du -sk "$WORK/tollgate-data" 2>/dev/null | cut -f1)
  cpu=$(awk -v t=$((ticks - prev_ticks)) -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t * 100 / hz / 60 }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$m" "$utc" "$ld" "$rss" "$hwm" "$vr" "${vs:-none}" "$ir" "${is:-none}" "$lr" "${ls_:-none}" "$se" "$p99" "$mx" \
    "$tg_req" "$tg_4xx" "$tg_5xx" "$dropped" "$mbytes" "$dbk" "$cpu" >>"$WORK/minutes.tsv"
  # What each kind may answer.
  [[ $vs =~ ^200=[0-9]+$ ]] || ERRORS+=("minute $m: valid keys got '$vs' (only 200 expected)")
  [[ $is =~ ^403=[0-9]+$ ]] || ERRORS+=("minute $m: invalid keys got '$is' (only 403 expected)")
  if [[ $ls_ =~ ^(200=([0-9]+) )?429=[0-9]+$ ]]; then
    admitted=${BASH_REMATCH[2]:-0}
    [ "$admitted" -le $((LIMITED_BURST + LIMITED_RATE * 61)) ] \
      || ERRORS+=("minute $m: the limited key got $admitted 200s, above burst + rate x 61 s")
  else
    ERRORS+=("minute $m: the limited key got '$ls_' (200 up to its rate, then 429 expected)")
  fi
  [ "$se" = 0 ] || ERRORS+=("minute $m: $se socket errors")
  [ "$tg_5xx" = 0 ] || ERRORS+=("minute $m: Tollgate counted $tg_5xx 5xx")
  [ "$dropped" = 0 ] || ERRORS+=("minute $m: $dropped observability records dropped or refused")
  log "minute $m/$SOAK_MINUTES ($utc, load $ld): RSS $(mib "$rss") MiB; valid $vr ($vs), invalid $ir ($is), limited $lr ($ls_); socket errors $se; p99 ${p99} ms, max ${mx} ms; Tollgate CPU ${cpu} %"
  prev_metrics=$WORK/metrics-$m.txt
  prev_ticks=$ticks
done
END_UTC=$(date -u '+%H:%M UTC')
SINK_SPANS=$(curl -s -m 10 "$SINK_URL/stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["spans"])' 2>/dev/null || echo '?')
LOG_EVENTS=$(python3 - "$WORK/tollgate-data/logs.db" <<'PY' 2>/dev/null || echo '?'
import sqlite3, sys
c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30)
print(c.execute("SELECT count(*) FROM log_events WHERE group_name = '/aws/apigateway/multitalk'").fetchone()[0])
PY
)

# ---------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------
echo
echo "Soak (bench/soak.sh), $START_UTC to $END_UTC: $SOAK_MINUTES minutes at ${LOAD_PCT} % of capacity"
echo "  Tollgate: $TOLLGATE_BIN ($([ "$TLS" = 1 ] && echo "https, --tls-cert/--tls-key, test CA" || echo "plain http")), --otlp-endpoint bench/otlp_sink.py"
echo "  the seed's API (examples/multitalk/setup.sh as written; ANY /api/{proxy+} then HTTP_PROXY to multitalk-upstream)"
echo "  stage prod as the seed leaves it: [accessLogFormat, tracingEnabled, methodSettings] = $STAGE_DESC"
echo "    (the per-stage CloudWatch metrics are always recorded; the seed's 4XXError alarm is defined)"
echo "  capacity: $CAPACITY req/s (wrk -t $THREADS -c $CONNECTIONS -d $CAP_DURATION, $SOAK_KEYS keys, $CAP_STATUSES, load at start $CAP_LOAD)"
echo "  paced load: $TARGET req/s = $VALID_RATE on $SOAK_KEYS valid keys (wrk -t 2 -c $VALID_CONNS) + $INVALID_RATE on 100 unknown keys (-t 1 -c $SMALL_CONNS)"
echo "    + $LIMITED_SEND on one key of plan bench-limited (burst $LIMITED_BURST, rate $LIMITED_RATE/s; -t 1 -c $SMALL_CONNS);"
echo "    three wrk processes per minute (-d 60s --timeout 10s), paced by bench/wrk/paced.lua's delay(); /metrics read once a minute"
echo
printf '  %3s %8s %5s %8s %9s %9s %9s %9s %7s %8s %8s %9s %8s %6s %4s %s\n' \
  min utc load1 rss_mib valid_200 inv_403 lim_429 lim_200 sockerr p99_ms max_ms tg_req tg_4xx tg_5xx cpu% note
awk -F'\t' -v lim="$LOAD_LIMIT" 'NR > 1 {
  v = $7; sub(/^200=/, "", v); i = $9; sub(/^403=/, "", i)
  l429 = $11; sub(/.*429=/, "", l429); l200 = 0; if ($11 ~ /^200=/) { l200 = $11; sub(/^200=/, "", l200); sub(/ .*/, "", l200) }
  note = ($3 + 0 > lim) ? "DISTURBED" : ""
  printf "  %3s %8s %5s %8.1f %9s %9s %9s %9s %7s %8s %8s %9s %8s %6s %4s %s\n",
    $1, $2, $3, $4 / 1024, v, i, l429, l200, $12, $13, $14, $15, $16, $17, $21, note }' "$WORK/minutes.tsv"
echo "  (rss_mib: Tollgate's VmRSS after the minute; tg_*: Tollgate's /metrics counters over the minute;"
echo "   DISTURBED: 1-minute load above $LOAD_LIMIT when the minute started; cpu%: Tollgate's CPU, % of one core)"
echo

N=$(($(wc -l <"$WORK/minutes.tsv") - 1))
DISTURBED_N=$(awk -F'\t' -v lim="$LOAD_LIMIT" 'NR > 1 && $3 + 0 > lim { n++ } END { print n + 0 }' "$WORK/minutes.tsv")
TOTALS=$(awk -F'\t' 'NR > 1 { vr += $6; ir += $8; lr += $10; se += $12; tr += $15; t4 += $16; t5 += $17; d += $18
  l = $11; a = 0; if (l ~ /^200=/) { a = l; sub(/^200=/, "", a); sub(/ .*/, "", a) } la += a }
  END { printf "%d %d %d %d %d %d %d %d %d", vr, ir, lr, se, tr, t4, t5, d, la }' "$WORK/minutes.tsv")
read -r T_VALID T_INVALID T_LIMITED T_SOCKERR T_TGREQ T_TG4XX T_TG5XX T_DROPPED T_LIM200 <<<"$TOTALS"
T_ALL=$((T_VALID + T_INVALID + T_LIMITED))
echo "  totals: $T_ALL requests read by wrk ($T_VALID valid: all 200; $T_INVALID invalid: all 403;"
echo "    $T_LIMITED on the limited key: $T_LIM200 200 and $((T_LIMITED - T_LIM200)) 429), socket errors $T_SOCKERR"
echo "  Tollgate's /metrics over the soak: $T_TGREQ requests, $T_TG4XX 4xx, $T_TG5XX 5xx, $T_DROPPED records dropped"
echo "    (Tollgate also counts the requests wrk had in flight when each minute's processes stopped: up to $((VALID_CONNS + 2 * SMALL_CONNS)) a minute)"
echo "  access log lines in /aws/apigateway/multitalk: $LOG_EVENTS; spans received by the sink: $SINK_SPANS"
echo "  load: $DISTURBED_N of $N minutes DISTURBED (1-minute load above $LOAD_LIMIT at their start)"
echo

# Memory: minute REF (10, or a third of a shorter soak) against the last
# window (the last 10 minutes, or what follows REF).
MEM=$(awk -F'\t' -v tol="$MEM_TOLERANCE_PCT" 'NR > 1 { n++; rss[n] = $4 }
  END {
    if (n < 2) { print "? ? ? ? ? ? 0 ? ?"; exit }
    ref = (n >= 20) ? 10 : int((n + 2) / 3); if (ref < 1) ref = 1
    from = (n - 9 > ref) ? n - 9 : ref + 1
    max = 0; for (i = from; i <= n; i++) if (rss[i] > max) max = rss[i]
    # least-squares slope over minutes ref..n, KiB per minute
    k = 0; sx = 0; sy = 0; sxx = 0; sxy = 0
    for (i = ref; i <= n; i++) { k++; sx += i; sy += rss[i]; sxx += i * i; sxy += i * rss[i] }
    slope = (k > 1) ? (k * sxy - sx * sy) / (k * sxx - sx * sx) : 0
    pct = (max - rss[ref]) * 100 / rss[ref]
    # the median of the window, which one transient reading does not move
    m = 0; for (i = from; i <= n; i++) w[++m] = rss[i]
    for (i = 2; i <= m; i++) { v = w[i]; j = i - 1; while (j > 0 && w[j] > v) { w[j + 1] = w[j]; j-- } w[j + 1] = v }
    med = (m % 2) ? w[(m + 1) / 2] : (w[m / 2] + w[m / 2 + 1]) / 2
    printf "%d %d %d %d %.2f %.1f %d %d %.2f\n", ref, from, rss[ref], max, pct, slope, (pct <= tol), med, (med - rss[ref]) * 100 / rss[ref] }' "$WORK/minutes.tsv")
read -r MEM_REF MEM_FROM MEM_REF_KIB MEM_MAX_KIB MEM_PCT MEM_SLOPE MEM_FLAT MEM_MED_KIB MEM_MED_PCT <<<"$MEM"
echo "  RSS: $(mib "$RSS_START") MiB before the soak (after the capacity run), $(mib "$MEM_REF_KIB") MiB after minute $MEM_REF,"
echo "    at most $(mib "$MEM_MAX_KIB") MiB over minutes $MEM_FROM-$N: ${MEM_PCT} % above minute $MEM_REF's (median $(mib "$MEM_MED_KIB") MiB: ${MEM_MED_PCT} %);"
echo "    slope from minute $MEM_REF on: $(awk -v s="$MEM_SLOPE" 'BEGIN { printf "%.2f", s / 1024 }') MiB per minute ($(awk -v s="$MEM_SLOPE" 'BEGIN { printf "%.0f", s * 1440 / 1024 }') MiB a day at this rate)"
echo "    /metrics: $(wc -c <"$WORK/metrics-0.txt") bytes before, $(wc -c <"$prev_metrics") after; data dir (logs.db) $(du -sh "$WORK/tollgate-data" | cut -f1)"
echo

rc=0
if [ "${#ERRORS[@]}" -gt 0 ] || [ "$N" -lt "$SOAK_MINUTES" ]; then
  echo "VERDICT errors: FAIL (${#ERRORS[@]} problem(s)):"
  printf '  %s\n' "${ERRORS[@]}"
  rc=2
else
  echo "VERDICT errors: PASS: $N minutes, no socket error, no 5xx, no record dropped; valid keys only 200, unknown keys only 403,"
  echo "  the limited key 429 beyond its plan's rate ($T_LIM200 admitted over $N minutes, at most burst + rate x s)"
fi
if [ "$MEM_FLAT" = 1 ]; then
  echo "VERDICT memory: FLAT: the last minutes' RSS within ${MEM_PCT} % of minute $MEM_REF's (tolerance $MEM_TOLERANCE_PCT %)"
else
  echo "VERDICT memory: GROWING: ${MEM_PCT} % above minute $MEM_REF's (tolerance $MEM_TOLERANCE_PCT %), $(awk -v s="$MEM_SLOPE" 'BEGIN { printf "%.2f", s / 1024 }') MiB per minute"
  [ "$rc" = 0 ] && rc=3
fi
exit "$rc"
