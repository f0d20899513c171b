#!/usr/bin/env bash
# Tollgate's Lambda host under load: cold start, warm-invocation overhead
# through API Gateway, and throughput with 4 workers. See bench/lambda_bench.py.
#
#   bash bench/lambda.sh                     # builds in release first
#   SKIP_BUILD=1 RUNS=5 bash bench/lambda.sh
#
# Environment: RUNS (3), REQUESTS per warm run (2000), DURATION of each wrk
# run (10s), CARGO_TARGET_DIR, SKIP_BUILD=1, BENCH_STRICT=1 (exit 1 on a miss).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
BIN=$TARGET_DIR/release/tollgate
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-lambda-bench.XXXXXX")
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null 2>&1 || {
  [ "$(id -u)" = 0 ] || { echo "wrk missing" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}
python3 -c 'import boto3, requests' 2>/dev/null || python3 -m pip install --quiet boto3 requests
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --locked -q -p tollgate)
fi

cat >"$WORK/statuses.lua" <<'LUA'
counts = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  local total, keys = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do
      if total[k] == nil then table.insert(keys, k) end
      total[k] = (total[k] or 0) + v
    end
  end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do table.insert(parts, k .. "=" .. total[k]) end
  print("statuses: " .. table.concat(parts, " "))
end
LUA

(cd "$WORK" && exec env TOLLGATE_LOG=warn "$BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" \
  --lambda-max-workers 4 >"$WORK/out" 2>"$WORK/err") &
PID=$!
for _ in $(seq 1 100); do
  grep -q 'listening on' "$WORK/out" 2>/dev/null && break
  sleep 0.1
done
ENDPOINT=$(sed -n 's/^tollgate listening on //p' "$WORK/out")
[ -n "$ENDPOINT" ] || { cat "$WORK/err" >&2; exit 1; }
echo "tollgate $ENDPOINT ($(nproc) CPUs, $(python3 --version))"
python3 "$ROOT/bench/lambda_bench.py" --endpoint "$ENDPOINT" --runs "${RUNS:-3}" \
  --requests "${REQUESTS:-2000}" --duration "${DURATION:-10s}" --wrk-lua "$WORK/statuses.lua"
