#!/usr/bin/env python3
"""Contact list latency at 1,000,000 contacts, over HTTP, on SQLite and on PostgreSQL.

For each backend: a fresh database, `salesos migrate`, an admin, ten reps and an API key made
with the real CLI, one million contacts bulk-loaded with SQL in the app's own formats (ids in
creation order, as the app's UUIDv7 ids are), then
`salesos serve` and sequential keep-alive requests for four queries:

  first page, unfiltered              GET /api/v1/contacts
  first page, status + owner filter   GET /api/v1/contacts?status=engaged&owner_id=<rep>
  text search                         GET /api/v1/contacts?q=<a last name held by ~1%>
  text search, one match              GET /api/v1/contacts?q=.123457@ (a fragment of one email)
  deep cursor page                    GET /api/v1/contacts?cursor=<row 900,000>

Usage: python3 bench/contacts_list.py [--rows 1000000] [--requests 400] [--backends sqlite,postgres]
Needs: a release build (built if missing), the sqlite3 and psql clients, PostgreSQL at
$BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres).
"""

import argparse
import base64
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "salesos")
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")

FIRST = ["james", "mary", "robert", "patricia", "john", "jennifer", "michael", "linda", "david", "elizabeth",
         "william", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "charles", "karen",
         "christopher", "lisa", "daniel", "nancy", "matthew", "betty", "anthony", "sandra", "mark", "margaret",
         "donald", "ashley", "steven", "kimberly", "andrew", "emily", "paul", "donna", "joshua", "michelle",
         "kenneth", "carol", "kevin", "amanda", "brian", "melissa", "george", "deborah", "timothy", "stephanie"]
LAST = ["smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez",
        "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin",
        "lee", "perez", "thompson", "white", "harris", "sanchez", "clark", "ramirez", "lewis", "robinson",
        "walker", "young", "allen", "king", "wright", "scott", "torres", "nguyen", "hill", "flores",
        "green", "adams", "nelson", "baker", "hall", "rivera", "campbell", "mitchell", "carter", "roberts",
        "gomez", "phillips", "evans", "turner", "diaz", "parker", "cruz", "edwards", "collins", "reyes",
        "stewart", "morris", "morales", "murphy", "cook", "rogers", "gutierrez", "ortiz", "morgan", "cooper",
        "peterson", "bailey", "reed", "kelly", "howard", "ramos", "kim", "cox", "ward", "richardson",
        "watson", "brooks", "chavez", "wood", "james", "bennett", "gray", "mendoza", "ruiz", "hughes",
        "price", "alvarez", "castillo", "sanders", "patel", "myers", "long", "ross", "foster", "jimenez"]
TITLES = ["ceo", "cto", "vp sales", "head of marketing", "account executive", "sales manager",
          "software engineer", "director of operations", "cfo", "product manager"]
STATUSES = ["new", "engaged", "responded", "qualified", "disqualified"]
SEARCH_TERM = "garcia"  # one of 100 last names: about 1% of rows


def run(cmd, env=None, check=True, capture=True):
    res = subprocess.run(cmd, env=env, check=False, text=True,
                         stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE if capture else None)
    if check and res.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{res.stderr}")
    return res


def cli(db_args, *args):
    out = run([BIN, *args, *db_args]).stdout.strip().splitlines()[-1]
    return json.loads(out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sql_list(values):
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def load_sqlite(db_path, workspace_id, owners, rows):
    ws = "X'" + workspace_id.replace("-", "") + "'"
    owner_case = " ".join(f"WHEN {i + 1} THEN X'{o.replace('-', '')}'" for i, o in enumerate(owners))
    script = f"""
PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;
CREATE TEMP TABLE fn(k INTEGER PRIMARY KEY, v TEXT);
CREATE TEMP TABLE ln(k INTEGER PRIMARY KEY, v TEXT);
CREATE TEMP TABLE ti(k INTEGER PRIMARY KEY, v TEXT);
CREATE TEMP TABLE st(k INTEGER PRIMARY KEY, v TEXT);
INSERT INTO fn(v) VALUES {", ".join(f"('{v}')" for v in FIRST)};
INSERT INTO ln(v) VALUES {", ".join(f"('{v}')" for v in LAST)};
INSERT INTO ti(v) VALUES {", ".join(f"('{v}')" for v in TITLES)};
INSERT INTO st(v) VALUES {", ".join(f"('{v}')" for v in STATUSES)};
BEGIN;
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {rows}),
g AS (
  SELECT n,
    (SELECT v FROM fn WHERE k = 1 + (n * 7) % {len(FIRST)}) AS f,
    (SELECT v FROM ln WHERE k = 1 + (n * 13) % {len(LAST)}) AS l,
    (SELECT v FROM ti WHERE k = 1 + n % {len(TITLES)}) AS t,
    (SELECT v FROM st WHERE k = 1 + (n / 3) % {len(STATUSES)}) AS s,
    'company ' || (n % 20000) AS c,
    strftime('%Y-%m-%dT%H:%M:%f+00:00', 1700000000 + n * 37, 'unixepoch') AS ts
  FROM seq
)
INSERT INTO contacts (id, workspace_id, owner_id, first_name, last_name, email, title, company, status, tier,
  engagement_score, intent_score, do_not_contact, custom_fields, crm_ids, search_text, created_at, updated_at)
SELECT CAST(printf('%016d', n) AS BLOB), {ws}, CASE n % 11 {owner_case} ELSE NULL END, f, l,
  f || '.' || l || '.' || n || '@example' || (n % 1000) || '.com', t, c, s,
  CASE WHEN n % 4 = 0 THEN NULL ELSE 1 + n % 4 END, n % 101, (n * 3) % 101, 0, '{{}}', '{{}}',
  f || ' ' || l || ' ' || f || '.' || l || '.' || n || '@example' || (n % 1000) || '.com ' || c || ' ' || t,
  ts, ts
FROM g;
COMMIT;
ANALYZE;
"""
    proc = subprocess.run(["sqlite3", db_path], input=script, text=True, capture_output=True)
    if proc.returncode != 0:
        sys.exit(f"sqlite load failed: {proc.stderr}")


def psql(url, sql):
    proc = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-At"], input=sql, text=True, capture_output=True)
    if proc.returncode != 0:
        sys.exit(f"psql failed: {proc.stderr}")
    return proc.stdout


def load_postgres(url, workspace_id, owners, rows):
    owner_case = " ".join(f"WHEN {i + 1} THEN '{o}'::uuid" for i, o in enumerate(owners))
    psql(url, f"""
SET synchronous_commit = off;
INSERT INTO contacts (id, workspace_id, owner_id, first_name, last_name, email, title, company, status, tier,
  engagement_score, intent_score, do_not_contact, custom_fields, crm_ids, search_text, created_at, updated_at)
SELECT lpad(to_hex(n), 32, '0')::uuid, '{workspace_id}'::uuid, CASE n % 11 {owner_case} ELSE NULL END, f, l,
  f || '.' || l || '.' || n || '@example' || (n % 1000) || '.com', t, c, s,
  CASE WHEN n % 4 = 0 THEN NULL ELSE 1 + n % 4 END, n % 101, (n * 3) % 101, false, '{{}}', '{{}}',
  f || ' ' || l || ' ' || f || '.' || l || '.' || n || '@example' || (n % 1000) || '.com ' || c || ' ' || t,
  ts, ts
FROM (
  SELECT n,
    (ARRAY[{sql_list(FIRST)}])[1 + (n * 7) % {len(FIRST)}] AS f,
    (ARRAY[{sql_list(LAST)}])[1 + (n * 13) % {len(LAST)}] AS l,
    (ARRAY[{sql_list(TITLES)}])[1 + n % {len(TITLES)}] AS t,
    (ARRAY[{sql_list(STATUSES)}])[1 + (n / 3) % {len(STATUSES)}] AS s,
    'company ' || (n % 20000) AS c,
    to_timestamp(1700000000 + n * 37) AS ts
  FROM generate_series(1, {rows}) AS n
) g;
VACUUM ANALYZE contacts;
""")


def deep_cursor_sqlite(db_path, offset):
    out = subprocess.run(["sqlite3", db_path,
                          f"SELECT created_at, lower(hex(id)) FROM contacts ORDER BY id DESC LIMIT 1 OFFSET {offset}"],
                         text=True, capture_output=True).stdout.strip()
    ts, h = out.split("|")
    return ts, f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def deep_cursor_postgres(url, offset):
    out = psql(url, f"SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), id "
                    f"FROM contacts ORDER BY id DESC LIMIT 1 OFFSET {offset}").strip()
    return out.split("|")


def encode_cursor(ts, uid):
    raw = json.dumps({"s": "-created_at", "k": ts, "i": uid}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def measure(port, key, path, n):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Authorization": f"Bearer {key}"}
    times = []
    rows = None
    for i in range(n + 20):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        res = conn.getresponse()
        body = res.read()
        dt = time.perf_counter() - t0
        if res.status != 200:
            sys.exit(f"{path}: HTTP {res.status}: {body[:300]!r}")
        if i >= 20:  # warm-up requests are not counted
            times.append(dt * 1000)
        rows = len(json.loads(body)["data"])
    conn.close()
    times.sort()
    p99 = times[min(len(times) - 1, int(round(0.99 * len(times))) - 1)]
    return {"p50_ms": round(statistics.median(times), 2), "p99_ms": round(p99, 2), "rows": rows, "requests": n}


def wait_ready(port, proc):
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/ready")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("server did not become ready")


def bench_backend(backend, rows, requests):
    work = tempfile.mkdtemp(prefix=f"salesos-bench-{backend}-")
    db_args = ["--data-dir", work]
    pg_url = None
    if backend == "postgres":
        name = f"salesos_bench_{os.getpid()}"
        psql(PG_URL, f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name};")
        pg_url = PG_URL.rsplit("/", 1)[0] + "/" + name
        db_args += ["--database-url", pg_url]
    try:
        run([BIN, "migrate", *db_args])
        admin = cli(db_args, "admin", "create-user", "--workspace", "bench", "--email", "admin@bench.test",
                    "--password", "bench password 1", "--role", "admin")
        owners = [cli(db_args, "admin", "create-user", "--workspace", "bench", "--email", f"rep{i}@bench.test",
                      "--password", "bench password 1", "--role", "rep")["user_id"] for i in range(10)]
        key = cli(db_args, "admin", "create-api-key", "--workspace", "bench", "--role", "admin")["key"]
        t0 = time.perf_counter()
        if backend == "sqlite":
            db_path = os.path.join(work, "salesos.db")
            load_sqlite(db_path, admin["workspace_id"], owners, rows)
            ts, uid = deep_cursor_sqlite(db_path, int(rows * 0.9))
        else:
            load_postgres(pg_url, admin["workspace_id"], owners, rows)
            ts, uid = deep_cursor_postgres(pg_url, int(rows * 0.9))
        load_s = time.perf_counter() - t0
        port = free_port()
        env = dict(os.environ, SALESOS_RATE_LIMIT_PER_MINUTE="100000000", SALESOS_LOG="warn")
        proc = subprocess.Popen([BIN, "serve", "--bind", f"127.0.0.1:{port}", *db_args], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_ready(port, proc)
            queries = {
                "first page, unfiltered": "/api/v1/contacts",
                "first page, status + owner_id": f"/api/v1/contacts?status=engaged&owner_id={owners[0]}",
                f"text search q={SEARCH_TERM} (~1%)": f"/api/v1/contacts?q={SEARCH_TERM}",
                "text search, one match (q=.123457@)": "/api/v1/contacts?q=.123457%40",
                "deep cursor page (row 900,000)": f"/api/v1/contacts?cursor={encode_cursor(ts, uid)}",
            }
            results = {label: measure(port, key, path, requests) for label, path in queries.items()}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        return {"backend": backend, "rows": rows, "load_seconds": round(load_s, 1), "queries": results}
    finally:
        if pg_url:
            psql(PG_URL, f"DROP DATABASE IF EXISTS {pg_url.rsplit('/', 1)[1]} WITH (FORCE);")
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--backends", default="sqlite,postgres")
    args = ap.parse_args()
    if not os.path.exists(BIN) or os.environ.get("BENCH_REBUILD") == "1":
        run(["cargo", "build", "--release", "--manifest-path", os.path.join(ROOT, "Cargo.toml")], capture=False)
    out = []
    for backend in args.backends.split(","):
        print(f"== {backend}: loading {args.rows:,} contacts", file=sys.stderr)
        r = bench_backend(backend.strip(), args.rows, args.requests)
        out.append(r)
        print(f"   loaded in {r['load_seconds']} s", file=sys.stderr)
        for label, m in r["queries"].items():
            print(f"   {label:38} p50 {m['p50_ms']:7.2f} ms   p99 {m['p99_ms']:7.2f} ms   ({m['rows']} rows)", file=sys.stderr)
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    path = os.path.join(ROOT, "bench", "out", "contacts_list.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
