#!/usr/bin/env bash
# Load test over loopback: a release gateway (SQLite store, 8 tenants with hashed API keys, no rate
# limit) and `heinfer load` with 64 concurrent clients for 60 seconds on the realistic mix it
# describes (encrypted single and batch inferences on all four models, plaintext inferences,
# GET /models, key registration with use and deletion). Prints throughput, p50/p99 by operation,
# answers by status, and the gateway's peak resident memory (VmHWM), which must stay below the
# bound given (default 2048 MiB; docs/reliability.md derives it). Exit status 0 only if no answer
# was a 5xx other than 503, every refusal was a documented one (409 quota, 429, 503), no client
# request failed otherwise, and the peak stayed in bound.
#
#   ./scripts/load_test.sh [clients, default 64] [seconds, default 60] [RSS bound in MiB, default 2048]
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${1:-64}
SECONDS_TO_RUN=${2:-60}
BOUND_MIB=${3:-2048}
source scripts/lib/gateway.sh

build_heinfer release
# 8 tenants: the gateway gets SHA-256 digests, the clients the keys.
for i in $(seq 1 8); do
  key=$(python3 -c "import secrets; print(secrets.token_hex(16))")
  echo "$key" >> "$WORK/client-keys"
  echo "sha256:$(printf %s "$key" | sha256sum | cut -d' ' -f1)=tenant$i" >> "$WORK/server-keys"
done
PORT=$(free_port)
start_gateway /health --api-keys-file "$WORK/server-keys" --rate 0 --database "$WORK/jobs.sqlite" --log-level warning
(
  while kill -0 "$SERVER_PID" 2>/dev/null; do
    grep VmRSS "/proc/$SERVER_PID/status" 2>/dev/null | awk '{print $2}' >> "$WORK/rss"
    sleep 1
  done
) &
"$BIN" load --url "http://127.0.0.1:$PORT" --api-keys-file "$WORK/client-keys" --clients "$CLIENTS" \
  --duration "$SECONDS_TO_RUN" --json "$WORK/load.json" | tee "$WORK/load.txt"
peak_kib=$(grep VmHWM "/proc/$SERVER_PID/status" | awk '{print $2}')
database_mib=$(du -sm "$WORK"/jobs.sqlite* | awk '{s += $1} END {print s}')
echo "gateway peak RSS (VmHWM): $((peak_kib / 1024)) MiB (bound $BOUND_MIB MiB); job store on disk: $database_mib MiB"
status=0
if [[ $((peak_kib / 1024)) -gt $BOUND_MIB ]]; then echo "load: peak RSS above the bound" >&2; status=1; fi
python3 - "$WORK/load.json" <<'PY' || status=1
import json, sys
report = json.load(open(sys.argv[1]))
bad = {s: n for s, n in report["statuses"].items() if s not in ("200", "202", "409", "429", "503")}
if bad:
    print(f"load: unexpected answers {bad}", file=sys.stderr)
    sys.exit(1)
PY
kill -0 "$SERVER_PID" 2>/dev/null || { echo "load: the gateway died" >&2; cat "$WORK/gateway.log" >&2; status=1; }
exit $status
