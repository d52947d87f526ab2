#!/usr/bin/env bash
# Charging throughput (issue 12), side by side in one run on this machine: the bare charge
# transaction (lock the pack row, update it, insert a ledger row, one commit each) against Jeton's
# charging sign-ins, sign-ins into an already-paid period and heartbeats of open sessions, through
# a release `jeton serve` and the Rust load generator `jeton simulate --load --phase …`. SQLite
# always; PostgreSQL when 127.0.0.1:5432 answers (fresh databases, dropped afterwards). Run from
# anywhere:
#
#     bench/charging.sh [SECONDS] [CONCURRENCY] [USERS_PER_TEAM] [TEAMS] [BINARY...]
#
# SECONDS per timed phase (default 5), CONCURRENCY workers in all (default 16), TEAMS teams for
# the spread load (default 4; the hot load puts every worker on one team). BINARY: `jeton`
# executables to compare in the same run (default: a release build of this tree); each gets its
# own fresh server and database per backend, and each phase runs on the binaries in turn, so that
# the machine's drift during the run weighs on them alike; the last binary's `jeton simulate`
# drives them all (JETON_BENCH_LOADGEN: another). JETON_BENCH_ROUNDS=N (default 1) runs
# every phase N times, round after round (each round the phases in turn again), and prints each
# row's median rate and p99 with the rates of every round: a shared machine varies by ±10–15 %
# from one run to the next, and a difference smaller than that needs several.
#
# Bare transaction: PostgreSQL with pgbench (CONCURRENCY clients; spread over 64 pack rows, and
# all on one row for the hot figure); SQLite with one thread (crates/store/benches/bare_sqlite.rs:
# rusqlite on the SQLite library sqlx links), WAL, synchronous=FULL, BEGIN IMMEDIATE; measured
# before and after the Jeton phases of its backend. After each Jeton run `jeton audit` checks every
# team's ledger. Prints one table: rate, p50/p99, the ratio to the faster bare figure, and the
# CPU an operation cost the machine and the server (see "CPU per operation" below). On the
# spread load, paid sign-ins and heartbeats run a second time paced at half the rate they reached
# (`jeton simulate --rate`): the goal's p99 is at half the rate, and a saturated server's p99 is
# its queue's.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
CONC=${2:-16}
USERS=${3:-40}
TEAMS=${4:-4}
ROUNDS=${JETON_BENCH_ROUNDS:-1}
shift $(($# < 4 ? $# : 4))
BINARIES=("$@")
PG_URL=${JETON_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
if [ ${#BINARIES[@]} -eq 0 ]; then
  cargo build --release -q -p jeton-cli
  BINARIES=("$PWD/target/release/jeton")
fi
# One load generator drives every binary compared (a paced phase needs `simulate --rate`, which
# older binaries lack): the last binary's, or JETON_BENCH_LOADGEN.
LOADGEN=${JETON_BENCH_LOADGEN:-${BINARIES[${#BINARIES[@]}-1]}}
# Built before anything is timed.
cargo bench -q -p jeton-store --bench bare_sqlite --no-run
WORK=$(mktemp -d)
DBS=()
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  for db in "${DBS[@]}"; do psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
RESULTS=$WORK/results.jsonl
: > "$RESULTS"

# --- CPU per operation -----------------------------------------------------------------------
# The load generator, the server and the database share this machine's cores, so a rate goal is
# also a CPU budget: at half the bare rate on N cores an operation may cost N / (bare rate / 2)
# of the machine's CPU. A sampler reads the machine's busy time (/proc/stat) and each running
# server's (/proc/PID/stat) ten times a second; a row's "machine µs/op" and "server µs/op" are
# the CPU spent inside its timed window over the operations done in it.
CPU_LOG=$WORK/cpu.log
SERVER_PIDS=$WORK/server_pids
: > "$SERVER_PIDS"
python3 - "$SERVER_PIDS" > "$CPU_LOG" <<'PY' &
import os, sys, time
pids_file = sys.argv[1]
while True:
    up = open("/proc/uptime").read().split()[0]
    f = open("/proc/stat").readline().split()
    busy = int(f[1]) + int(f[2]) + int(f[3]) + int(f[6]) + int(f[7])  # user nice system irq softirq
    servers = []
    for pid in open(pids_file).read().split():
        try:
            st = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            servers.append(f"{pid}:{int(st[11]) + int(st[12])}")  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    print(up, busy, *servers, flush=True)
    time.sleep(0.1)
PY
# cpu.py: per_op(t0, t1, rate, pid): (machine, server) µs of CPU per operation in [t0, t1]
# (seconds of /proc/uptime), or None where the window holds too few samples.
cat > "$WORK/cpu.py" <<PY
import os
def per_op(t0, t1, rate, pid=None):
    rows = [l.split() for l in open("$CPU_LOG")]
    inside = [r for r in rows if len(r) >= 2 and t0 <= float(r[0]) <= t1]
    if len(inside) < 5 or rate <= 0:
        return None, None
    a, b = inside[0], inside[-1]
    hz, secs = os.sysconf("SC_CLK_TCK"), float(b[0]) - float(a[0])
    us = lambda ticks: ticks / hz / secs / rate * 1e6
    of = lambda r: next((int(x.split(":")[1]) for x in r[2:] if x.split(":")[0] == str(pid)), None)
    server = us(of(b) - of(a)) if pid is not None and None not in (of(a), of(b)) else None
    return us(int(b[1]) - int(a[1])), server
PY
uptime_now() { cut -d' ' -f1 /proc/uptime; }
PG=0
pg_isready -q -h 127.0.0.1 -p 5432 && PG=1

echo "machine: $(nproc) CPUs, $(uname -sr); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: JETON_BENCH_ROUNDS=$ROUNDS bench/charging.sh $SECS $CONC $USERS $TEAMS ${BINARIES[*]}"

# --- the bare charge transaction -------------------------------------------------------------
# The bare transaction runs before and after the Jeton phases, and the ratios are to the faster
# of the two: one measurement can catch a slow moment of a shared machine and flatter Jeton.
# tag WHEN: marks the bare rows on stdin as measured before or after.
tag() {
  python3 -c 'import json, sys
for line in sys.stdin:
    r = json.loads(line); r["what"] += f" ({sys.argv[1]})"; print(json.dumps(r))' "$1"
}

# with_cpu T0 T1: adds machine_us (CPU per operation over [T0, T1]) to the rows on stdin.
with_cpu() {
  python3 -c 'import json, sys; sys.path.insert(0, sys.argv[3]); from cpu import per_op
for line in sys.stdin:
    r = json.loads(line); r["machine_us"] = per_op(float(sys.argv[1]), float(sys.argv[2]), r["rate"])[0]
    print(json.dumps(r))' "$1" "$2" "$WORK"
}

bare_sqlite() {
  local t0
  t0=$(uptime_now)
  cargo bench -q -p jeton-store --bench bare_sqlite -- "$SECS" "$WORK/bare-$1.db" > "$WORK/bare-$1.jsonl"
  # The first second holds cargo's start and the bench's own; the load runs to the end.
  with_cpu "$(python3 -c "print($t0 + 1.0)")" "$(uptime_now)" < "$WORK/bare-$1.jsonl" | tag "$1" >> "$RESULTS"
}

bare_postgres() {
  local db=jeton_bench_bare_$$_$1
  DBS+=("$db")
  psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $db"
  psql -q -h 127.0.0.1 -U postgres -d "$db" <<'SQL'
CREATE TABLE packs (id BIGINT PRIMARY KEY, team_id BIGINT, remaining BIGINT CHECK (remaining >= 0));
CREATE TABLE ledger_events (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, team_id BIGINT, pack_id BIGINT, amount BIGINT, at BIGINT);
INSERT INTO packs SELECT i, i, 1000000000 FROM generate_series(1, 64) i;
SQL
  for shape in spread hot; do
    local range=64
    [ "$shape" = hot ] && range=1
    cat > "$WORK/charge.sql" <<SQL
\set pack random(1, $range)
BEGIN;
SELECT remaining FROM packs WHERE id = :pack FOR UPDATE;
UPDATE packs SET remaining = remaining - 5 WHERE id = :pack AND remaining >= 5;
INSERT INTO ledger_events (team_id, pack_id, amount, at) VALUES (:pack, :pack, -5, 0);
COMMIT;
SQL
    rm -rf "$WORK/pgbench-$shape"
    mkdir -p "$WORK/pgbench-$shape"
    local t0
    t0=$(uptime_now)
    (cd "$WORK/pgbench-$shape" && pgbench -n -h 127.0.0.1 -U postgres -c "$CONC" -j 2 -T "$SECS" \
       -f "$WORK/charge.sql" -l "$db" > out.txt 2>&1)
    python3 - "$shape" "$CONC" "$WORK/pgbench-$shape" <<'PY' | with_cpu "$(python3 -c "print($t0 + 0.3)")" "$(uptime_now)" | tag "$1" >> "$RESULTS"
import glob, json, re, sys
shape, conc, d = sys.argv[1], sys.argv[2], sys.argv[3]
out = open(f"{d}/out.txt").read()
tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))
lat = sorted(int(l.split()[2]) / 1000 for f in glob.glob(f"{d}/pgbench_log.*") for l in open(f))
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(json.dumps({"backend": "postgres", "shape": shape, "what": f"bare charge (pgbench {conc} clients"
                  + (", 1 pack row)" if shape == "hot" else ", 64 pack rows)"), "binary": "-",
                  "rate": tps, "p50": pick(0.5), "p99": pick(0.99), "errors": 0}))
PY
  done
}

# --- Jeton -----------------------------------------------------------------------------------
# Each binary gets a fresh server and database per backend, all started together; each phase then
# runs on the binaries in turn, so that a machine that slows down during the run (a shared VM)
# weighs on every binary alike instead of on whichever would have run last.
PIDS=()
# start_server BACKEND BINARY_INDEX: a fresh server for that binary, listening on its own port.
start_server() {
  local backend=$1 b=$2 bin=${BINARIES[$2]} port=$((18190 + $2))
  local dir=$WORK/$backend-$b url=""
  mkdir -p "$dir"
  if [ "$backend" = postgres ]; then
    local db=jeton_bench_charging_$$_$b
    DBS+=("$db")
    psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $db"
    url="$PG_URL/$db"
  fi
  local args=(serve --listen "127.0.0.1:$port" --data-dir "$dir")
  [ -n "$url" ] && args+=(--database-url "$url")
  "$bin" "${args[@]}" > "$dir/server.log" 2>&1 &
  PIDS[$b]=$!
  echo "${PIDS[*]}" > "$SERVER_PIDS"
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
}

# phase BACKEND SHAPE PHASE BINARY_INDEX ROUND [HALF]: one timed phase of one binary's load.
# HALF=half: paced (`--rate`) at half the rate the same phase reached at full speed in this round,
# for the latency at that load (each request's latency counts from when it was due).
phase() {
  local backend=$1 shape=$2 phase=$3 b=$4 round=$5 half=${6:-} dir=$WORK/$1-$4
  local teams=$TEAMS pace=() tag=$phase
  [ "$shape" = hot ] && teams=1
  if [ "$half" = half ]; then
    local full
    full=$(python3 - "$RESULTS" "$backend" "$shape" "$phase" "$b" "$round" <<'PY'
import json, sys
path, backend, shape, phase, b, round_ = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
print(next(r["rate"] for r in rows if (r["backend"], r["shape"], r.get("phase"), str(r["binary"]),
                                         str(r.get("round"))) == (backend, shape, phase, b, round_)))
PY
)
    pace=(--rate "$(python3 -c "print(max(0.01, $full / 2 / $teams))")")
    tag=$phase-half
  fi
  local sims=() t0
  t0=$(uptime_now)
  for t in $(seq 1 "$teams"); do
    JETON_SERVER="http://127.0.0.1:$((18190 + b))" "$LOADGEN" simulate --load --phase "$phase" \
      --users "$USERS" --concurrency $((CONC / teams)) --duration "$SECS" --seed "$t" --json \
      "${pace[@]}" > "$dir/$shape.$tag.$round.$t.json" &
    sims+=($!)
  done
  wait "${sims[@]}"
  python3 - "$backend" "$shape" "$phase" "$b" "$round" "$half" "$t0" "${PIDS[$b]}" "$WORK" \
    "$dir/$shape.$tag.$round".*.json <<'PY' >> "$RESULTS"
import json, sys
backend, shape, phase, b, round_, half, t0, pid, work, paths = *sys.argv[1:10], sys.argv[10:]
sys.path.insert(0, work)
from cpu import per_op
runs = [json.load(open(p)) for p in paths]
# The timed window: every load generator past its setup (and the sessions it opens first), none
# done yet; a fifth of a second off each end.
start = float(t0) + max(r.get("setup_seconds", 0) + r.get("open_seconds", 0) for r in runs)
end = start + min(r["duration_seconds"] for r in runs)
machine_us, server_us = per_op(start + 0.2, end - 0.2, sum(r["rate"] for r in runs), pid)
op = runs[0]["rate_of"]
what = {"charge": "charging sign-in (+heartbeat, sign-out)", "paid": "sign-in, paid period",
        "heartbeat": "heartbeat, open session"}[phase]
if half:
    what += ", paced at half the rate"
# Several teams: rates add up, percentiles are the worst team's.
print(json.dumps({"backend": backend, "shape": shape, "what": what, "binary": int(b),
                  "round": int(round_), "phase": phase if not half else phase + "-half",
                  "rate": sum(r["rate"] for r in runs),
                  "p50": max(r["operations"][op]["p50_ms"] for r in runs),
                  "p99": max(r["operations"][op]["p99_ms"] for r in runs),
                  "errors": sum(sum(r["errors"].values()) for r in runs),
                  "machine_us": machine_us, "server_us": server_us,
                  "teams": [r["team_id"] for r in runs]}))
PY
}

# audit_and_stop BACKEND BINARY_INDEX: `jeton audit` on every team the binary's load used.
audit_and_stop() {
  local backend=$1 b=$2 bin=${BINARIES[$2]} dir=$WORK/$1-$2 bad=0
  for team in $(python3 -c 'import json,sys; print(" ".join(sorted({str(r["team_id"]) for p in sys.argv[1:] for r in [json.load(open(p))]})))' "$dir"/*.json); do
    JETON_SERVER="http://127.0.0.1:$((18190 + b))" "$bin" audit --team "$team" > /dev/null 2>&1 \
      || { bad=1; echo "AUDIT FAILED: $backend binary $b team $team"; }
  done
  [ $bad = 0 ] && echo "$backend, binary $b: jeton audit clean on every team"
  kill "${PIDS[$b]}"; wait "${PIDS[$b]}" 2>/dev/null || true
}

# jeton BACKEND: every binary's servers, then each phase on each binary in turn, then audits.
jeton_run() {
  local backend=$1
  export JETON_OPERATOR_KEY=bench-operator-key-0123456789
  export JETON_KEY=$JETON_OPERATOR_KEY
  for b in "${!BINARIES[@]}"; do start_server "$backend" "$b"; done
  for round in $(seq 1 "$ROUNDS"); do
    for shape in spread hot; do
      for phase in charge paid heartbeat; do
        for b in "${!BINARIES[@]}"; do phase "$backend" "$shape" "$phase" "$b" "$round"; done
      done
      # The goal's latency: p99 of paid sign-ins and heartbeats at half their rate (spread load).
      if [ "$shape" = spread ]; then
        for phase in paid heartbeat; do
          for b in "${!BINARIES[@]}"; do phase "$backend" "$shape" "$phase" "$b" "$round" half; done
        done
      fi
    done
  done
  for b in "${!BINARIES[@]}"; do audit_and_stop "$backend" "$b"; done
}

bare_sqlite before
jeton_run sqlite
bare_sqlite after
if [ $PG = 1 ]; then
  bare_postgres before
  jeton_run postgres
  bare_postgres after
else
  echo "postgres: skipped (nothing answers on 127.0.0.1:5432)"
fi

python3 - "$RESULTS" "$TEAMS" "$CONC" "$ROUNDS" "${BINARIES[@]}" <<'PY'
import json, os, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
# Several rounds: one row per (backend, load, request, binary), with the median of its rounds
# (rate, p50, p99) and every round's rate in the order they ran.
rows, rounds_of = [], {}
for r in runs:
    key = (r["backend"], r["shape"], r["what"], r["binary"])
    if r["binary"] == "-" or key not in rounds_of:
        rows.append(r)
    if r["binary"] != "-":
        rounds_of.setdefault(key, []).append(r)
for r in rows:
    same = rounds_of.get((r["backend"], r["shape"], r["what"], r["binary"]))
    if same:
        r["rounds"] = [x["rate"] for x in same]
        r["rate"] = statistics.median(x["rate"] for x in same)
        r["p50"] = statistics.median(x["p50"] for x in same)
        r["p99"] = statistics.median(x["p99"] for x in same)
        r["errors"] = sum(x["errors"] for x in same)
        for k in ("machine_us", "server_us"):
            known = [x[k] for x in same if x.get(k) is not None]
            r[k] = statistics.median(known) if known else None

# The phases ran on the binaries in turn; the table lists each binary's rows together.
order = {"bare": 0, "charging": 1, "sign-in,": 2, "heartbeat,": 3}
rows.sort(key=lambda r: (r["backend"] != "sqlite", -1 if r["binary"] == "-" else r["binary"],
                         r["shape"] != "spread", order.get(r["what"].split()[0], 0)))
teams, conc, rounds, binaries = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
for i, b in enumerate(binaries):
    print(f"binary {i}: {b}")
bare = {}
for r in rows:
    if r["binary"] == "-":
        key = (r["backend"], r["shape"])
        bare[key] = max(bare.get(key, 0), r["rate"])
print()
if rounds > 1:
    print(f"rate, p50 and p99: the median of {rounds} rounds; \"rounds /s\": each round's rate, in order")
    print()
extra = (" rounds /s |", "---|") if rounds > 1 else ("", "")
print(f"| backend | load | request | binary | rate /s | p50 ms | p99 ms | vs bare | machine µs/op | server µs/op | errors |{extra[0]}")
print(f"|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|{extra[1]}")
us = lambda v: "-" if v is None else f"{v:,.0f}"
for r in rows:
    shape = f"{teams} teams, {conc} workers" if r["shape"] == "spread" else f"1 hot team, {conc} workers"
    # A paced row's rate is the schedule's, not a throughput: no ratio.
    ratio = "-" if r.get("phase", "").endswith("-half") else f'{r["rate"] / bare[(r["backend"], r["shape"])] * 100:.0f} %'
    each = ""
    if rounds > 1:
        each = " " + ", ".join(f"{x:,.0f}" for x in r.get("rounds", [r["rate"]])) + " |"
    print(f"| {r['backend']} | {shape} | {r['what']} | {r['binary']} | {r['rate']:,.0f} | "
          f"{r['p50']:.2f} | {r['p99']:.2f} | {ratio} | {us(r.get('machine_us'))} | "
          f"{us(r.get('server_us'))} | {r['errors']} |{each}")
# The goal as a CPU budget: half the faster bare rate on this machine's cores.
cores = os.cpu_count()
print()
for (backend, shape), rate in sorted(bare.items()):
    if shape == "spread":
        print(f"{backend}: 50 % of the bare rate ({rate:,.0f}/s) on {cores} cores leaves "
              f"{cores / (rate / 2) * 1e6:,.0f} µs of machine CPU per operation")
PY
