#!/usr/bin/env bash
# Mail out, measured against its floors in one run (issue 15):
#  - sending: POST /api/v1/emails/send for EMAILS emails (rendered, links and pixel tracked,
#    DKIM-signed RSA-2048, handed over by the send job) to Postfix's smtp-sink on loopback,
#    emails/s until every one is `sent`; SQLite, then PostgreSQL;
#  - the wire floor: Postfix's smtp-source pushing EMAILS messages of the same size to the
#    same sink; the signing floor: `openssl speed rsa2048` signatures/s on both cores;
#  - tracking: wrk against the open pixel of a sent email, and the floor, Debian's nginx
#    serving a static 1x1 GIF; requests/s and p99.
#   bash bench/send.sh [EMAILS]        (default 50000)
# Needs: apt-get install postfix wrk nginx (smtp-sink, smtp-source, wrk, nginx).
set -euo pipefail
cd "$(dirname "$0")/.."
EMAILS=${1:-50000}
PG=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
CONCURRENCY=${CONCURRENCY:-64}
SINK_PORT=${SINK_PORT:-2526}
NGINX_PORT=${NGINX_PORT:-8089}
work=$(mktemp -d)
cleanup() {
  [[ -n "${sink:-}" ]] && kill "$sink" 2>/dev/null || true
  [[ -f "$work/nginx.pid" ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release -p salesos --example bench_send >&2
smtp-sink -u nobody "127.0.0.1:$SINK_PORT" 1024 &
sink=$!
sleep 0.5

# Floors first: the signing and the wire.
openssl speed -seconds 5 -multi 2 rsa2048 2>/dev/null | awk '/^rsa 2048/ {printf "{\"floor\":\"openssl rsa2048 sign, 2 processes\",\"signs_per_s\":%s}\n", $6}'
size=3500
start=$(date +%s.%N)
smtp-source -s "$CONCURRENCY" -m "$EMAILS" -l "$size" -f a@bench.test -t b@example.test "127.0.0.1:$SINK_PORT"
end=$(date +%s.%N)
echo "{\"floor\":\"smtp-source to smtp-sink\",\"messages\":$EMAILS,\"bytes\":$size,\"seconds\":$(echo "$end - $start" | bc),\"messages_per_s\":$(echo "$EMAILS / ($end - $start)" | bc)}"

# nginx serving a 1x1 GIF: the tracking floor.
printf 'GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;' > "$work/p.gif"
cat > "$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:$NGINX_PORT; root $work; location = /p.gif { add_header Cache-Control no-store; } }
}
CONF
chmod 755 "$work"; chmod 644 "$work/p.gif"
nginx -c "$work/nginx.conf"
sleep 0.3
wrk_json() { # label url
  wrk -t2 -c64 -d10s --latency "$2" | awk -v label="$1" '
    /Requests\/sec/ {rps=$2} / 99%/ {p99=$2} /Non-2xx/ {bad=$5}
    END {printf "{\"tracking\":\"%s\",\"requests_per_s\":%s,\"p99\":\"%s\",\"non_2xx\":%s}\n", label, rps, p99, (bad==""?0:bad)}'
}
wrk_json "nginx static GIF (floor)" "http://127.0.0.1:$NGINX_PORT/p.gif"

run() { # extra args...
  coproc BENCH { ./target/release/examples/bench_send --emails "$EMAILS" --smtp-port "$SINK_PORT" --concurrency "$CONCURRENCY" --hold "$@"; }
  read -r line <&"${BENCH[0]}"
  echo "$line"
  url=$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pixel_url"] or "")')
  backend=$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backend"])')
  [[ -n "$url" ]] && wrk_json "SalesOS open pixel ($backend)" "$url"
  exec {BENCH[1]}>&-
  wait "$BENCH_PID" || true
}
run
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS salesos_bench_send WITH (FORCE)" -c "CREATE DATABASE salesos_bench_send" >&2
run --database-url "$PG/salesos_bench_send"
psql "$PG/postgres" -qc "DROP DATABASE salesos_bench_send WITH (FORCE)" >&2
