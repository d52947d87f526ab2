#!/usr/bin/env bash
# Load test of the session endpoints (R-SES): `jeton simulate --load` against a release server on
# SQLite and, when PostgreSQL answers on 127.0.0.1:5432, on a fresh PostgreSQL database. Prints
# sign-ins per second and latency percentiles, with the command line used; run from anywhere:
#
#     bench/sessions.sh [USERS] [CONCURRENCY] [SECONDS] [TEAMS]
#
# Each worker loops: sign a random user in to a random product, one heartbeat, sign out. Setting
# up the users (accounts, Flex, tokens) is not timed. With TEAMS > 1 (default 1), TEAMS
# simulations run side by side on one server, each on its own team with USERS/TEAMS users and
# CONCURRENCY/TEAMS workers: the same load, spread over teams, which do not share a lock. Their
# rates are added up (their set-ups are alike, so their timed phases overlap).
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-200}
CONCURRENCY=${2:-16}
SECONDS_=${3:-20}
TEAMS=${4:-1}
PG_URL=${JETON_BENCH_PG:-postgres://postgres@127.0.0.1:5432}

cargo build --release -q -p jeton-cli
J=$PWD/target/release/jeton
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

echo "$(nproc) CPUs; $USERS users, concurrency $CONCURRENCY, $SECONDS_ s per backend, $TEAMS team(s)"

run() {
  local name=$1 url=$2 port=$3
  export JETON_OPERATOR_KEY=bench-operator-key-0123456789
  local args=(serve --listen "127.0.0.1:$port" --data-dir "$WORK/$name")
  [ -n "$url" ] && args+=(--database-url "$url")
  "$J" "${args[@]}" > "$WORK/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
  local sim=(simulate --load --users $((USERS / TEAMS)) --concurrency $((CONCURRENCY / TEAMS))
             --duration "$SECONDS_")
  echo "$name: $TEAMS x jeton ${sim[*]} --seed N --server http://127.0.0.1:$port"
  local sims=()
  for t in $(seq 1 "$TEAMS"); do
    JETON_SERVER="http://127.0.0.1:$port" JETON_KEY=$JETON_OPERATOR_KEY \
      "$J" "${sim[@]}" --seed "$t" --json > "$WORK/$name.$t.json" &
    sims+=($!)
  done
  wait "${sims[@]}"
  python3 - "$name" "$WORK/$name".*.json <<'PY'
import json, sys
name, paths = sys.argv[1], sys.argv[2:]
runs = [json.load(open(p)) for p in paths]
rate = sum(r["sign_ins_per_second"] for r in runs)
sign_ins = sum(r["sign_ins"] for r in runs)
duration = max(r["duration_seconds"] for r in runs)
setup = max(r["setup_seconds"] for r in runs)
print(f"{name:9} {rate:8.1f} sign-ins/s  ({sign_ins} in {duration:.1f} s over {len(runs)} team(s), "
      f"set-up {setup:.1f} s)")
# One team: its percentiles. Several: the worst team's, so nothing looks better than it was.
for op in ("sign_in", "heartbeat", "sign_out"):
    worst = lambda key: max(r["operations"][op][key] for r in runs)
    errors = sum(r["operations"][op]["errors"] for r in runs)
    print(f"          {op:9}  p50 {worst('p50_ms'):7.2f} ms  p95 {worst('p95_ms'):7.2f} ms  "
          f"p99 {worst('p99_ms'):7.2f} ms  max {worst('max_ms'):7.2f} ms  errors {errors}")
for r in runs:
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
