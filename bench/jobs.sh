#!/usr/bin/env bash
# No-op job throughput and enqueue→start latency: SalesOS on SQLite and on PostgreSQL, and
# graphile-worker (npm) on the same PostgreSQL, in one run. Prints one JSON line per system.
#   bash bench/jobs.sh [JOBS]        (default 100000)
# Needs PostgreSQL at $BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432) and Node/npm.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${1:-100000}
PG=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
CONCURRENCY=${CONCURRENCY:-512}

cargo build --release -p salesos --example bench_jobs >&2
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS salesos_bench_jobs" -c "CREATE DATABASE salesos_bench_jobs" >&2
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS salesos_bench_graphile" -c "CREATE DATABASE salesos_bench_graphile" >&2
(cd bench/graphile && npm install --no-audit --no-fund --silent >&2)

# Three rounds each, on a fresh database; BENCHMARKS.md quotes the median round.
for round in 1 2 3; do
  ./target/release/examples/bench_jobs --jobs "$JOBS" --concurrency "$CONCURRENCY"
done
for round in 1 2 3; do
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS salesos_bench_jobs WITH (FORCE)" -c "CREATE DATABASE salesos_bench_jobs" >&2
  ./target/release/examples/bench_jobs --jobs "$JOBS" --concurrency "$CONCURRENCY" --database-url "$PG/salesos_bench_jobs"
done
for c in 24 "$CONCURRENCY"; do
  DATABASE_URL="$PG/salesos_bench_graphile" JOBS="$JOBS" CONCURRENCY="$c" node bench/graphile/noop.mjs
done

psql "$PG/postgres" -qc "DROP DATABASE salesos_bench_jobs WITH (FORCE)" -c "DROP DATABASE salesos_bench_graphile WITH (FORCE)" >&2
