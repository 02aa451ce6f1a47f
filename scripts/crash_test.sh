#!/usr/bin/env bash
# Crash test: under load (`heinfer load`, 32 clients), the gateway is killed with SIGKILL and
# restarted on the same SQLite store. Every job the gateway had answered 202 or 200 must then be
# `completed`, or `failed` with an error code (jobs it had accepted but not finished are marked
# failed at start-up), never unknown; and the store must pass SQLite's integrity and foreign-key
# checks. Prints the counts. Exit status 0 only if all of that holds.
#
#   ./scripts/crash_test.sh [seconds of load before the kill, default 20] [kills, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:-20}
KILLS=${2:-3}
source scripts/lib/gateway.sh

build_heinfer release
KEY=$(python3 -c "import secrets; print(secrets.token_hex(16))")
echo "$KEY" > "$WORK/client-keys"
echo "$KEY=crash" > "$WORK/server-keys"
PORT=$(free_port)
serve() {
  start_gateway /health --api-keys-file "$WORK/server-keys" --rate 0 --database "$WORK/jobs.sqlite" \
    --result-retention 3600 --log-level warning
}
serve
total=$((BEFORE * (KILLS + 1)))
"$BIN" load --url "http://127.0.0.1:$PORT" --api-keys-file "$WORK/client-keys" --clients 32 --duration "$total" \
  --job-ids "$WORK/ids" > "$WORK/load.txt" 2>&1 &
LOAD_PID=$!
BACKGROUND_PIDS+=("$LOAD_PID")
for kill in $(seq 1 "$KILLS"); do
  sleep "$BEFORE"
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  echo "crash: killed the gateway with SIGKILL ($kill of $KILLS), restarting on the same store"
  serve
done
wait "$LOAD_PID" || true
cat "$WORK/load.txt"
python3 - "$WORK/ids" "http://127.0.0.1:$PORT" "$KEY" "$WORK/jobs.sqlite" <<'PY'
import json, sqlite3, sys, urllib.error, urllib.request
ids_file, base, key, database = sys.argv[1:]
ids = sorted(set(line.strip() for line in open(ids_file) if line.strip()))
counts, unknown, codes = {}, [], {}
for job_id in ids:
    request = urllib.request.Request(f"{base}/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"})
    try:
        job = json.load(urllib.request.urlopen(request, timeout=30))
    except urllib.error.HTTPError as error:
        unknown.append((job_id, error.code))
        continue
    counts[job["status"]] = counts.get(job["status"], 0) + 1
    if job["status"] == "failed":
        codes[job.get("error_code")] = codes.get(job.get("error_code"), 0) + 1
        if not job.get("error_code"):
            unknown.append((job_id, "failed without a code"))
    elif job["status"] != "completed":
        unknown.append((job_id, job["status"]))
connection = sqlite3.connect(database)
integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
foreign = connection.execute("PRAGMA foreign_key_check").fetchall()
print(f"crash: {len(ids)} accepted jobs: {counts}, failed by code {codes}; unknown or unfinished: {len(unknown)}")
print(f"crash: integrity_check {integrity}; foreign_key_check {len(foreign)} problems")
if unknown or integrity != "ok" or foreign or not ids:
    print(f"crash: FAILED {unknown[:10]}", file=sys.stderr)
    sys.exit(1)
PY
