#!/usr/bin/env bash
# Memory under a sign-in flood (R-AUTH-2): a release server on SQLite gets N concurrent password
# sign-ins (default 500) for addresses nobody has, so the per-address limit never applies and
# every request asks for argon2 (19 MiB each). Prints, side by side, the server's resident memory
# idle and its peak (VmHWM) after the flood, with the answers by status. Run from anywhere:
#
#     bench/sign_in_flood.sh [N] [ROUNDS]
#
# The password slots (one per core) bound the hashes at once, so the peak stays near
# idle + slots × 19 MiB whatever N; unbounded, 200 concurrent attempts took a server to 5 GB.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-500}
ROUNDS=${2:-3}
PORT=${JETON_BENCH_PORT:-18091}

cargo build --release -q -p jeton-cli
J=$PWD/target/release/jeton
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

JETON_OPERATOR_KEY=bench-operator-key-0123456789 \
  "$J" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" > "$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null && break; sleep 0.1; done

kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$PID/status"; }
IDLE=$(kib VmRSS)
echo "$(nproc) CPUs; $N concurrent sign-in attempts, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
  python3 - "$PORT" "$N" "$round" <<'PY'
import json, sys, time, urllib.request, urllib.error
from concurrent.futures import ThreadPoolExecutor
port, n, rnd = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def attempt(i):
    body = json.dumps({"email": f"nobody{rnd}-{i}@example.com", "password": "not-a-password"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/auth/token", data=body,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return "error"
start = time.monotonic()
with ThreadPoolExecutor(max_workers=n) as pool:
    statuses = list(pool.map(attempt, range(n)))
counts = {}
for s in statuses:
    counts[s] = counts.get(s, 0) + 1
print(f"round {rnd}: {n} attempts in {time.monotonic() - start:.1f} s, answers {dict(sorted(counts.items(), key=str))}")
PY
done
PEAK=$(kib VmHWM)
NOW=$(kib VmRSS)
printf "resident memory   idle %6.1f MiB   peak during the floods %6.1f MiB   after %6.1f MiB\n" \
  "$(echo "$IDLE / 1024" | bc -l)" "$(echo "$PEAK / 1024" | bc -l)" "$(echo "$NOW / 1024" | bc -l)"
