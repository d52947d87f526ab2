#!/usr/bin/env bash
# Times the usage reports (R-REP-3) on a year of a large team's use: 1,000,000 usage periods of
# 2,000 people on 40 products, loaded into SQLite and, when PostgreSQL answers on 127.0.0.1:5432,
# into a fresh PostgreSQL database (created next to $JETON_TEST_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/test, and dropped afterwards). Prints load times and
# min / median / max per report; the goal is under 200 ms each. Run from anywhere:
#
#     bench/reports.sh [PERIODS] [RUNS]
#
# See crates/store/benches/reports.rs for what is loaded and timed.
set -euo pipefail
cd "$(dirname "$0")/.."
export JETON_BENCH_PERIODS=${1:-${JETON_BENCH_PERIODS:-1000000}}
export JETON_BENCH_RUNS=${2:-${JETON_BENCH_RUNS:-5}}

if pg_isready -q -h 127.0.0.1 -p 5432; then
  export JETON_TEST_DATABASE_URL="${JETON_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
else
  echo "postgres: nothing answers on 127.0.0.1:5432"
fi
echo "$(nproc) CPUs; cargo bench -p jeton-store --bench reports --features testing"
cargo bench -q -p jeton-store --bench reports --features testing
