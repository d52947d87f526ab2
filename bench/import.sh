#!/usr/bin/env bash
# Times `jeton import` of a 10,000-line CSV (R-USR-5) against a release server on SQLite and, when
# PostgreSQL answers on 127.0.0.1:5432, on PostgreSQL. Prints figures; run from anywhere:
#
#     bench/import.sh [LINES]
#
# The command sends the file (in parts only beyond 100,000 lines), waits while the server applies
# it in the background, and reads the outcome: the time is the whole import. Each backend gets a
# fresh database. The second import of the same file shows the idempotent path (every line
# unchanged).
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-10000}
PG_URL=${JETON_BENCH_PG:-postgres://postgres@127.0.0.1:5432}

cargo build --release -q -p jeton-cli
J=$PWD/target/release/jeton
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

python3 - "$LINES" > "$WORK/users.csv" <<'PY'
import sys
n = int(sys.argv[1])
print("name,email,products")
for i in range(n):
    products = "*" if i % 10 == 0 else ("autocad;revit" if i % 3 else "maya")
    print(f"User {i},user{i}@example.com,{products}")
PY
echo "$LINES lines in $WORK/users.csv"

run() {
  local name=$1 url=$2 port=$3
  export JETON_OPERATOR_KEY=bench-operator-key-0123456789
  local args=(serve --listen "127.0.0.1:$port" --data-dir "$WORK/$name")
  [ -n "$url" ] && args+=(--database-url "$url")
  "$J" "${args[@]}" > "$WORK/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
  export JETON_SERVER="http://127.0.0.1:$port" JETON_KEY=$JETON_OPERATOR_KEY
  for p in autocad revit maya; do "$J" products add "$p" --name "$p" --daily-rate 5 > /dev/null; done
  "$J" teams create Bench > /dev/null
  for round in first again; do
    local start end
    start=$(date +%s.%N)
    "$J" import "$WORK/users.csv" --team Bench --json > "$WORK/$name-$round.json"
    end=$(date +%s.%N)
    python3 - "$name" "$round" "$start" "$end" "$LINES" "$WORK/$name-$round.json" <<'PY'
import json, sys
name, rnd, start, end, lines, path = sys.argv[1:]
secs = float(end) - float(start)
r = json.load(open(path))
print(f"{name:9} {rnd:6} {secs:7.2f} s  {int(lines)/secs:8.0f} lines/s  "
      f"applied {r['applied']}, unchanged {r['unchanged']}, rejected {len(r['rejected'])}")
PY
  done
  kill $pid; wait $pid 2>/dev/null || true
}

run sqlite "" 18081
if pg_isready -q -h 127.0.0.1 -p 5432; then
  DB=jeton_bench_import_$$
  psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $DB"
  run postgres "$PG_URL/$DB" 18082
  psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE $DB WITH (FORCE)"
else
  echo "postgres: skipped (nothing answers on 127.0.0.1:5432)"
fi
