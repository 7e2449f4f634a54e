#!/usr/bin/env bash
# Signed webhook deliveries per second to a local receiver that verifies every signature,
# on SQLite and on PostgreSQL. Prints one JSON line per run.
#   bash bench/webhooks.sh [EVENTS]        (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-20000}
PG=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
CONCURRENCY=${CONCURRENCY:-256}

cargo build --release -p salesos --example bench_webhooks >&2
for round in 1 2 3; do
  ./target/release/examples/bench_webhooks --events "$EVENTS" --concurrency "$CONCURRENCY"
done
for round in 1 2 3; do
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS salesos_bench_hooks WITH (FORCE)" -c "CREATE DATABASE salesos_bench_hooks" >&2
  ./target/release/examples/bench_webhooks --events "$EVENTS" --concurrency "$CONCURRENCY" --database-url "$PG/salesos_bench_hooks"
done
psql "$PG/postgres" -qc "DROP DATABASE salesos_bench_hooks WITH (FORCE)" >&2
