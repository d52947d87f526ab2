#!/usr/bin/env bash
# Load test of the session endpoints (R-SES): `jeton simulate --load` against a release server on
# SQLite and, when PostgreSQL answers on 127.0.0.1:5432, on a fresh PostgreSQL database. Prints
# sign-ins per second and latency percentiles, with the command line used; run from anywhere:
#
#     bench/sessions.sh [USERS] [CONCURRENCY] [SECONDS]
#
# Each worker loops: sign a random user in to a random product, one heartbeat, sign out. Setting
# up the users (accounts, Flex, tokens) is not timed.
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-200}
CONCURRENCY=${2:-16}
SECONDS_=${3:-20}
PG_URL=${JETON_BENCH_PG:-postgres://postgres@127.0.0.1:5432}

cargo build --release -q -p jeton-cli
J=$PWD/target/release/jeton
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

echo "$(nproc) CPUs; $USERS users, concurrency $CONCURRENCY, $SECONDS_ s per backend"

run() {
  local name=$1 url=$2 port=$3
  export JETON_OPERATOR_KEY=bench-operator-key-0123456789
  local args=(serve --listen "127.0.0.1:$port" --data-dir "$WORK/$name")
  [ -n "$url" ] && args+=(--database-url "$url")
  "$J" "${args[@]}" > "$WORK/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
  local sim=(simulate --load --users "$USERS" --concurrency "$CONCURRENCY" --duration "$SECONDS_" --seed 1)
  echo "$name: jeton ${sim[*]} --server http://127.0.0.1:$port"
  JETON_SERVER="http://127.0.0.1:$port" JETON_KEY=$JETON_OPERATOR_KEY \
    "$J" "${sim[@]}" --json > "$WORK/$name.json"
  python3 - "$name" "$WORK/$name.json" <<'PY'
import json, sys
name, path = sys.argv[1:]
r = json.load(open(path))
ops = r["operations"]
print(f"{name:9} {r['sign_ins_per_second']:8.1f} sign-ins/s  ({r['sign_ins']} in {r['duration_seconds']:.1f} s, "
      f"set-up {r['setup_seconds']:.1f} s)")
for op in ("sign_in", "heartbeat", "sign_out"):
    l = ops[op]
    print(f"          {op:9}  p50 {l['p50_ms']:7.2f} ms  p95 {l['p95_ms']:7.2f} ms  "
          f"p99 {l['p99_ms']:7.2f} ms  max {l['max_ms']:7.2f} ms  errors {l['errors']}")
if r["errors"]:
    print("          errors: " + ", ".join(f"{k} {v}" for k, v in r["errors"].items()))
PY
  kill $pid; wait $pid 2>/dev/null || true
}

run sqlite "" 18083
if pg_isready -q -h 127.0.0.1 -p 5432; then
  DB=jeton_bench_sessions_$$
  psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $DB"
  run postgres "$PG_URL/$DB" 18084
  psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE $DB WITH (FORCE)"
else
  echo "postgres: skipped (nothing answers on 127.0.0.1:5432)"
fi
