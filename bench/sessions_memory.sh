#!/usr/bin/env bash
# The server's resident memory with many open sessions (issue "Throughput": under 150 MB with
# 100,000 open sessions, and no growth while they are kept alive). A release `jeton serve` on
# SQLite and, when 127.0.0.1:5432 answers, on a fresh PostgreSQL database (dropped afterwards;
# the figure is the Jeton process only, not PostgreSQL's). Run from anywhere:
#
#     bench/sessions_memory.sh [SECONDS] [SESSIONS] [USERS] [INTERVAL]
#
# `jeton simulate --load --phase heartbeat --machines M` sets up USERS users (default 500) on 10
# products, opens M sessions per user and product (M = SESSIONS / (USERS × 10), SESSIONS
# default 100,000), then heartbeats random open sessions for SECONDS (default 60; 600 for the
# 10-minute run). VmRSS from /proc/PID/status is sampled twice a second, and /metrics says what
# the server has answered so far; printed: idle, after the users' set-up (the password slots'
# argon2 memory is then allocated, once), after opening the sessions, and every INTERVAL seconds
# (default 10) while heartbeating, with VmHWM (the peak) at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
SESSIONS=${2:-100000}
USERS=${3:-500}
INTERVAL=${4:-10}
PRODUCTS=10
CONC=${JETON_BENCH_CONCURRENCY:-16}
PG_URL=${JETON_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
MACHINES=$(((SESSIONS + USERS * PRODUCTS - 1) / (USERS * PRODUCTS)))

cargo build --release -q -p jeton-cli
J=$PWD/target/release/jeton
WORK=$(mktemp -d)
DB=""
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  [ -n "$DB" ] && psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "machine: $(nproc) CPUs, $(uname -sr); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: bench/sessions_memory.sh $SECS $SESSIONS $USERS $INTERVAL"

# run NAME PORT [DATABASE_URL]
run() {
  local name=$1 port=$2 url=${3:-}
  export JETON_OPERATOR_KEY=bench-operator-key-0123456789
  local args=(serve --listen "127.0.0.1:$port" --data-dir "$WORK/$name")
  [ -n "$url" ] && args+=(--database-url "$url")
  RUST_LOG=warn "$J" "${args[@]}" > "$WORK/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
  local sim=(simulate --load --phase heartbeat --users "$USERS" --products "$PRODUCTS"
             --machines "$MACHINES" --concurrency "$CONC" --duration "$SECS" --json)
  echo
  echo "$name: jeton ${sim[*]} --server http://127.0.0.1:$port"
  JETON_SERVER="http://127.0.0.1:$port" JETON_KEY=$JETON_OPERATOR_KEY \
    "$J" "${sim[@]}" > "$WORK/$name.json" &
  local sim_pid=$!
  python3 - "$pid" "$sim_pid" "$port" "$JETON_OPERATOR_KEY" "$INTERVAL" "$WORK/$name.json" <<'PY'
import json, os, re, sys, time, urllib.request
pid, sim, port, key, interval, report = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5]), sys.argv[6]

def status(field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024

def answered():
    """Successful sign-ins and heartbeats the server has answered."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                 headers={"authorization": f"Bearer {key}"})
    text = urllib.request.urlopen(req, timeout=10).read().decode()
    counts = {"sign_in": 0, "heartbeat": 0}
    for m in re.finditer(r'^jeton_http_requests_total\{(.*)\} (\S+)$', text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("method") != "POST" or not labels.get("status", "").startswith("2"):
            continue
        if labels.get("route") == "/v1/sessions":
            counts["sign_in"] += int(float(m.group(2)))
        elif labels.get("route", "").endswith("/heartbeat"):
            counts["heartbeat"] += int(float(m.group(2)))
    return counts

def sim_running():
    # The simulation is the shell's child: gone, or a zombie until the shell reaps it.
    try:
        with open(f"/proc/{sim}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False

start = time.monotonic()
rows = [("idle", 0.0, 0, 0, status("VmRSS"))]
phase, last, since = "setup", rows[0][1:], None
while sim_running():
    time.sleep(0.5)
    t, c, rss = time.monotonic() - start, answered(), status("VmRSS")
    sample = (t, c["sign_in"], c["heartbeat"], rss)
    if phase == "setup" and c["sign_in"] > 0:
        # The sample before the first sign-in: the users set up, no session yet.
        rows.append(("after set-up", *last))
        phase = "opening"
    if phase == "opening" and c["heartbeat"] > 0:
        rows.append(("sessions open", *sample))
        phase, since = "heartbeats", t
    if phase == "heartbeats" and t - since >= interval:
        rows.append(("heartbeating", *sample))
        since = t
    last = sample
rows.append(("end", *last))
peak = status("VmHWM")
r = json.load(open(report))
hb = r["operations"]["heartbeat"]
print(f"{r['opened_sessions']:,} sessions opened ({r['users']} users x {len(r['products'])} products "
      f"x {r['machines']} machines) in {r['open_seconds']:.0f} s; then {hb['count']:,} heartbeats in "
      f"{r['duration_seconds']:.0f} s ({r['rate']:.0f}/s, p99 {hb['p99_ms']:.1f} ms), "
      f"errors {sum(r['errors'].values())}")
print()
print("| when | t (s) | sign-ins | heartbeats | VmRSS (MiB) |")
print("|---|---:|---:|---:|---:|")
for what, t, s, h, rss in rows:
    print(f"| {what} | {t:.0f} | {s:,} | {h:,} | {rss:.1f} |")
print(f"\npeak (VmHWM): {peak:.1f} MiB")
PY
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run sqlite 18095
if pg_isready -q -h 127.0.0.1 -p 5432; then
  DB=jeton_bench_memory_$$
  psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $DB"
  run postgres 18096 "$PG_URL/$DB"
else
  echo "postgres: skipped (nothing answers on 127.0.0.1:5432)"
fi
