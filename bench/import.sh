#!/usr/bin/env bash
# Contacts import, end to end through `salesos import`, on SQLite and on PostgreSQL, next to
# two floors on the same file in the same run: the physical floor, `sqlite3 .import` and
# `psql \copy` into a plain 12-column table; and the schema floor, the same rows written by
# the database itself (one INSERT … SELECT, bench/floor/*.sql) into SalesOS's own accounts
# and contacts tables with all their indexes; and beside it the reference schema floor, the
# same rows into the tables as they stood before m0006_lean_indexes (bench/floor/v1/). Prints one JSON line per measurement.
#   bash bench/import.sh [ROWS]      (default 1000000)
# Needs python3, sqlite3, psql and PostgreSQL at $BENCH_PG_URL
# (default postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
PG=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
WORK=${BENCH_DIR:-/tmp/salesos-bench-import}
CSV="$WORK/contacts_$ROWS.csv"
BIN=./target/release/salesos

cargo build --release --bin salesos >&2
mkdir -p "$WORK"
[ -f "$CSV" ] || python3 bench/gen_contacts.py "$ROWS" "$CSV"

# `time -v` prints wall time as [h:]m:ss.ss and peak RSS in KB.
measure() { # label, then the command
  local label=$1; shift
  /usr/bin/time -v "$@" > "$WORK/out.txt" 2> "$WORK/time.txt"
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$WORK/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {print int($2/1024)}' "$WORK/time.txt")
  local report
  report=$(tail -n 1 "$WORK/out.txt" | grep '^{' || echo '{}')
  python3 - "$label" "$ROWS" "$wall" "$rss" "$report" <<'PY'
import json, sys
label, rows, wall, rss, report = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5])
out = {"system": label, "rows": rows, "seconds": round(wall, 2), "rows_per_s": round(rows / wall), "peak_rss_mb": rss}
out.update({k: report[k] for k in ("created", "updated", "merged", "unchanged", "rejected", "contacts", "accounts") if k in report})
print(json.dumps(out))
PY
}

# SQLite: the floor, then SalesOS on a fresh data directory.
rm -f "$WORK/floor.db"
measure "sqlite3 .import (floor)" sqlite3 "$WORK/floor.db" \
  "CREATE TABLE raw (first_name, last_name, email, phone, title, company, website, city, state, country, linkedin, source)" \
  ".mode csv" ".import --skip 1 $CSV raw"
# The reference schema floor: the same rows into the tables as they were before
# m0006_lean_indexes (bench/floor/v1/), measured beside today's.
rm -f "$WORK/v1.db" "$WORK/v1.db-wal" "$WORK/v1.db-shm"
sqlite3 "$WORK/v1.db" < bench/floor/v1/sqlite_schema.sql > /dev/null
measure "sqlite3 INSERT … SELECT into the issue-4 schema (reference schema floor)" sqlite3 "$WORK/v1.db" \
  "ATTACH '$WORK/floor.db' AS f" ".read bench/floor/v1/sqlite.sql"
rm -f "$WORK/v1.db" "$WORK/v1.db-wal" "$WORK/v1.db-shm"
rm -rf "$WORK/schema"
$BIN --data-dir "$WORK/schema" admin create-user --workspace bench --email bench@bench.test --password 'bench bench bench' --role admin > /dev/null
measure "sqlite3 INSERT … SELECT into the SalesOS schema (schema floor)" sqlite3 "$WORK/schema/salesos.db" \
  "ATTACH '$WORK/floor.db' AS f" ".read bench/floor/sqlite.sql"
rm -rf "$WORK/schema"
rm -rf "$WORK/data"
$BIN --data-dir "$WORK/data" admin create-user --workspace bench --email bench@bench.test --password 'bench bench bench' --role admin > /dev/null
measure "salesos import, SQLite" $BIN --data-dir "$WORK/data" import "$CSV" --workspace bench --region US --json
# Search indexing of the imported rows runs after the import (rows are searchable by LIKE
# meanwhile); timed apart.
SECONDS_BEFORE=$(date +%s.%N)
$BIN --data-dir "$WORK/data" admin index-search > /dev/null
python3 -c "import json,sys; print(json.dumps({'system': 'search index catch-up, SQLite', 'seconds': round(float(sys.argv[2]) - float(sys.argv[1]), 2)}))" "$SECONDS_BEFORE" "$(date +%s.%N)"

# PostgreSQL: the floor, then SalesOS on a fresh database.
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS salesos_bench_import WITH (FORCE)" -c "CREATE DATABASE salesos_bench_import" >&2
psql "$PG/salesos_bench_import" -qc "CREATE TABLE raw (first_name text, last_name text, email text, phone text, title text, company text, website text, city text, state text, country text, linkedin text, source text)" >&2
measure "psql \\copy (floor)" psql "$PG/salesos_bench_import" -qc "\\copy raw FROM '$CSV' WITH (FORMAT csv, HEADER true)"
psql "$PG/salesos_bench_import" -qc "DROP TABLE raw" >&2
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS salesos_bench_v1 WITH (FORCE)" -c "CREATE DATABASE salesos_bench_v1" >&2
psql "$PG/salesos_bench_v1" -q -v ON_ERROR_STOP=1 -f bench/floor/v1/postgres_schema.sql >&2
psql "$PG/salesos_bench_v1" -qc "CREATE TABLE raw (first_name text, last_name text, email text, phone text, title text, company text, website text, city text, state text, country text, linkedin text, source text)" \
  -c "\\copy raw FROM '$CSV' WITH (FORMAT csv, HEADER true)" -c "ANALYZE raw" >&2
measure "psql INSERT … SELECT into the issue-4 schema (reference schema floor)" psql "$PG/salesos_bench_v1" -qAt -v ON_ERROR_STOP=1 -f bench/floor/v1/postgres.sql
psql "$PG/postgres" -qc "DROP DATABASE salesos_bench_v1 WITH (FORCE)" >&2
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS salesos_bench_schema WITH (FORCE)" -c "CREATE DATABASE salesos_bench_schema" >&2
$BIN --database-url "$PG/salesos_bench_schema" admin create-user --workspace bench --email bench@bench.test --password 'bench bench bench' --role admin > /dev/null
psql "$PG/salesos_bench_schema" -qc "CREATE TABLE raw (first_name text, last_name text, email text, phone text, title text, company text, website text, city text, state text, country text, linkedin text, source text)" \
  -c "\\copy raw FROM '$CSV' WITH (FORMAT csv, HEADER true)" -c "ANALYZE raw" >&2
measure "psql INSERT … SELECT into the SalesOS schema (schema floor)" psql "$PG/salesos_bench_schema" -qAt -v ON_ERROR_STOP=1 -f bench/floor/postgres.sql
psql "$PG/postgres" -qc "DROP DATABASE salesos_bench_schema WITH (FORCE)" >&2
$BIN --database-url "$PG/salesos_bench_import" admin create-user --workspace bench --email bench@bench.test --password 'bench bench bench' --role admin > /dev/null
measure "salesos import, PostgreSQL" $BIN --database-url "$PG/salesos_bench_import" import "$CSV" --workspace bench --region US --json
psql "$PG/postgres" -qc "DROP DATABASE salesos_bench_import WITH (FORCE)" >&2
