#!/usr/bin/env bash
# User-space instructions Tollgate spends per request, counted by callgrind:
# the same total for the same binary and input whatever else the machine is
# doing, so a change of a few percent shows, where req/s moves by ±10 %
# between runs on a 2-core box. Counts every thread of the process from the
# first to the last of N requests (kernel time is not counted).
#
# The kinds of request, one per row of bench/run.sh:
#   proxy   an open /{proxy+} -> HTTP_PROXY, proxied       (run.sh: proxy, tollgate)
#   keyed   a /{proxy+} that requires a key, with a key of a plan whose
#           limits are never reached: checked and proxied  (run.sh: keyed, tg-keyed)
#   403     the keyed /{proxy+} without a key               (run.sh: refusals, tg-nokey)
#   429     the keyed /{proxy+} with a burst-0 plan's key   (run.sh: refusals, tg-blocked)
#
#   bash bench/instructions.sh                 # all four, 8000 requests each
#   BIN=/path/to/target/release bash bench/instructions.sh
#   N=20000 PATHS="proxy keyed" bash bench/instructions.sh
#   UPSTREAM_BIN=... BIN=/old/target/release bash bench/instructions.sh   # an older tollgate
#
# Each row also splits the count by thread: "serving" is the request's own
# threads (the HTTP front end, the pipeline, the upstream client and the
# hand-off to the observers: what #11's bar covers), "observers" the
# threads of tollgate-observe and the Prometheus recorder (access logs,
# metrics, traces: #14's).
#
# Needs valgrind (installed from Debian when missing, as root), the aws CLI
# (from PyPI when missing) and the release binaries (bench/run.sh builds them).
# KEEP_WORK=1 keeps the temporary directory with callgrind's output.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
UPSTREAM_BIN=${UPSTREAM_BIN:-$BIN/multitalk-upstream}
N=${N:-8000}
PATHS=${PATHS:-"proxy keyed 403 429"}
KEY=bench-instructions-key-0123456789abcdef
OKEY=bench-instructions-admitted-0123456789abcdef
BIG=100000000

LOG_PREFIX=instructions
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-instructions.XXXXXX")
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  [ "${KEEP_WORK:-0}" = 1 ] && log "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
for kind in $PATHS; do
  case $kind in proxy | keyed | 403 | 429) ;; *) die "unknown path kind $kind (proxy, keyed, 403, 429)" ;; esac
done
need=()
command -v python3 >/dev/null || need+=(python3 python3-pip)
command -v valgrind >/dev/null || need+=(valgrind)
install_debian "${need[@]}"
command -v callgrind_control >/dev/null || die "callgrind_control missing (part of valgrind)"
ensure_aws_cli
[ -x "$BIN/tollgate" ] && [ -x "$UPSTREAM_BIN" ] \
  || die "no release binaries in $BIN (cargo build --release -p tollgate -p multitalk-upstream)"


# Prints the first http://ADDR a process writes to FILE.
addr_of() {
  local file=$1 i
  for i in $(seq 1 600); do
    if grep -q 'listening on http://' "$file" 2>/dev/null; then
      grep -o -m1 'http://[0-9.:]*' "$file" | sed 's#http://##'
      return 0
    fi
    sleep 0.1
  done
  die "no listening line in $file"
}

RUST_LOG=warn "$UPSTREAM_BIN" --listen 127.0.0.1:0 >"$WORK/up.out" 2>&1 &
PIDS+=($!)
UP=$(addr_of "$WORK/up.out")

mkdir -p "$WORK/data" "$WORK/cwd"
(cd "$WORK/cwd" && TOLLGATE_LOG=warn exec valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes \
  --callgrind-out-file="$WORK/callgrind.out" \
  "$BIN/tollgate" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" >"$WORK/tg.out" 2>"$WORK/tg.err") &
PIDS+=($!)
TG=$(addr_of "$WORK/tg.out")
VG_PID=$(pgrep -f "callgrind.*$WORK/data" | head -1)
[ -n "$VG_PID" ] || die "cannot find the valgrind process"

export AWS_ENDPOINT_URL=http://$TG AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=$WORK/aws-config
export AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-credentials
unset AWS_PROFILE AWS_SESSION_TOKEN 2>/dev/null || true
log "configuring (slow: tollgate runs under valgrind)"
API=$(aws apigateway create-rest-api --name instructions --query id --output text)
ROOT_ID=$(aws apigateway get-resources --rest-api-id "$API" --query 'items[?path==`/`].id' --output text)
add_proxy() { # parent-path-part key-required
  local parent part=$1 res
  parent=$(aws apigateway create-resource --rest-api-id "$API" --parent-id "$ROOT_ID" \
    --path-part "$part" --query id --output text)
  res=$(aws apigateway create-resource --rest-api-id "$API" --parent-id "$parent" \
    --path-part '{proxy+}' --query id --output text)
  aws apigateway put-method --rest-api-id "$API" --resource-id "$res" --http-method ANY \
    --authorization-type NONE --request-parameters method.request.path.proxy=true "${@:2}" >/dev/null
  aws apigateway put-integration --rest-api-id "$API" --resource-id "$res" --http-method ANY \
    --type HTTP_PROXY --integration-http-method ANY --uri "http://$UP/{proxy}" \
    --request-parameters integration.request.path.proxy=method.request.path.proxy >/dev/null
}
add_proxy open
add_proxy keyed --api-key-required
# Stage bench: a burst-0 plan (every request with KEY is a 429). Stage admit:
# a plan whose throttle and quota are never reached (every request with OKEY
# is checked and proxied), as bench/run.sh's keyed section.
aws apigateway create-deployment --rest-api-id "$API" --stage-name bench >/dev/null
aws apigateway create-deployment --rest-api-id "$API" --stage-name admit >/dev/null
PLAN=$(aws apigateway create-usage-plan --name blocked --throttle burstLimit=0,rateLimit=0 \
  --api-stages "apiId=$API,stage=bench" --query id --output text)
KEY_ID=$(aws apigateway create-api-key --name k --enabled --value "$KEY" --query id --output text)
aws apigateway create-usage-plan-key --usage-plan-id "$PLAN" --key-id "$KEY_ID" --key-type API_KEY >/dev/null
OPLAN=$(aws apigateway create-usage-plan --name admit --throttle "burstLimit=$BIG,rateLimit=$BIG" \
  --quota "limit=$BIG,period=DAY" --api-stages "apiId=$API,stage=admit" --query id --output text)
OKEY_ID=$(aws apigateway create-api-key --name o --enabled --value "$OKEY" --query id --output text)
aws apigateway create-usage-plan-key --usage-plan-id "$OPLAN" --key-id "$OKEY_ID" --key-type API_KEY >/dev/null
aws apigateway update-account --patch-operations \
  op=replace,path=/throttle/rateLimit,value=$BIG \
  op=replace,path=/throttle/burstLimit,value=$BIG >/dev/null

# N requests over 4 keep-alive connections; each must get the expected answer.
drive() { # path header expect
  python3 - "$TG" "$1" "$2" "$3" "$4" <<'PY'
import socket, sys, threading
addr, path, header, expect, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode(), int(sys.argv[5])
host, port = addr.rsplit(":", 1)
extra = f"{header}\r\n" if header else ""
req = f"GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: instructions\r\nAccept: */*\r\n{extra}\r\n".encode()
errors = []
def run(k):
    s = socket.create_connection((host, int(port)))
    for _ in range(k):
        s.sendall(req)
        buf = b""
        while expect not in buf:
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

BASE=/_aws/execute-api/$API/bench
ADMIT=/_aws/execute-api/$API/admit
printf 'tollgate %s, %s requests per path (4 connections), user-space instructions per request:\n' "$BIN" "$N"
for kind in $PATHS; do
  case $kind in
    proxy) path=$BASE/open/bench; header=""; expect='{"ok":true}' ;;
    keyed) path=$ADMIT/keyed/bench; header="x-api-key: $OKEY"; expect='{"ok":true}' ;;
    403) path=$BASE/keyed/bench; header=""; expect='Forbidden' ;;
    429) path=$BASE/keyed/bench; header="x-api-key: $KEY"; expect='Too Many Requests' ;;
    *) die "unknown path kind $kind (proxy, keyed, 403, 429)" ;;
  esac
  drive "$path" "$header" "$expect" 400 || die "warm-up of $kind did not get $expect"
  callgrind_control -z "$VG_PID" >/dev/null 2>&1 || die "callgrind_control -z failed"
  callgrind_control -i on "$VG_PID" >/dev/null 2>&1 || die "callgrind_control -i on failed"
  drive "$path" "$header" "$expect" "$N" || die "$kind did not get $expect"
  callgrind_control -i off "$VG_PID" >/dev/null 2>&1 || die "callgrind_control -i off failed"
  rm -f "$WORK"/callgrind.out.*
  callgrind_control -d "$VG_PID" >/dev/null 2>&1 || die "callgrind_control -d failed"
  sleep 0.5
  total=0 observers=0
  for out in "$WORK"/callgrind.out.*; do
    count=$(grep -h '^totals:' "$out" | awk '{print $2 + 0}')
    [ -n "$count" ] || continue
    total=$((total + count))
    # A thread is the observers' when its entry point (the outermost
    # function it runs) lives in tollgate-observe or the Prometheus recorder.
    entry=$(callgrind_annotate --inclusive=yes --auto=no "$out" 2>/dev/null \
      | awk '/begin_short_backtrace/ { print; exit }' || true)
    if grep -qE 'tollgate-observe/|tollgate/src/prometheus\.rs' <<<"$entry"; then
      observers=$((observers + count))
    fi
  done
  [ "$total" -gt 0 ] || die "callgrind reported nothing for $kind"
  printf '  %-6s %8d  (serving %d, observers %d; %s instructions over %s requests)\n' "$kind" \
    $((total / N)) $(((total - observers) / N)) $((observers / N)) "$total" "$N"
done
