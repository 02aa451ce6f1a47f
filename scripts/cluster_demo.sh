#!/usr/bin/env bash
# Fronts and workers apart on one machine: a throwaway PostgreSQL, two `heinfer serve
# --no-workers` fronts behind nginx (round robin on loopback) and two `heinfer worker` processes.
#
#   ./scripts/cluster_demo.sh                # benchmark through the balancer, then the crash test
#   ./scripts/cluster_demo.sh --crash-only   # the crash test alone (debug build; CI runs this)
#
# Benchmark: `heinfer bench --url <balancer>` (release build), results in
# docs/benchmark-results/cluster/ for docs/benchmark_results.md.
# Crash test: `heinfer load` (16 clients) through the balancer; midway one front and one worker
# are killed with SIGKILL (the front is restarted, the worker not). Every job a front answered
# 202 or 200 must then be completed (none failed, none unknown); jobs the dead worker held are
# re-run by the other worker when their lease (2 s) expires, and each is recorded once. Prints
# the counts; exit status 0 only if all of that holds.
#
# Needs nginx (installed from Debian's packages if missing) and a PostgreSQL server
# (scripts/postgres.sh install). Set CLUSTER_SECONDS for the length of the load (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-all}
SECONDS_OF_LOAD=${CLUSTER_SECONDS:-30}
source scripts/lib/gateway.sh

if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq nginx-light >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
./scripts/postgres.sh install >/dev/null

if [[ "$MODE" == "--crash-only" ]]; then build_heinfer debug; else build_heinfer release; fi

# Its own folder: the postgres user cannot enter $WORK (mode 700, root's).
PGDIR=$(mktemp -d /tmp/heinfer-cluster-pg.XXXXXX)
DATABASE_URL=$(./scripts/postgres.sh start "$PGDIR" "$(free_port)")
stop_postgres() { ./scripts/postgres.sh stop "$PGDIR" >/dev/null 2>&1 || true; rm -rf "$PGDIR"; }
trap 'gateway_cleanup_all' EXIT
gateway_cleanup_all() {
  local pid
  for pid in "${BACKGROUND_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  BACKGROUND_PIDS=()
  stop_postgres
  gateway_cleanup
}
export HEINFER_DATABASE_URL="$DATABASE_URL"
export HEINFER_STORE=postgres
export HEINFER_OPEN=true
export HEINFER_RATE=0
# The benchmark's plaintext baseline of models with private weights needs the operator's switch.
export HEINFER_PLAIN_PRIVATE_MODELS=true
export HEINFER_LEASE=2
export HEINFER_LOG_LEVEL=warning
export HEINFER_RESULT_RETENTION=3600

declare -A PIDS
# start NAME ARGS…: runs `$BIN ARGS…` in the background, its output in $WORK/NAME.log.
start() {
  local name=$1
  shift
  "$BIN" "$@" >> "$WORK/$name.log" 2>&1 &
  PIDS[$name]=$!
  BACKGROUND_PIDS+=("$!")
}
wait_healthy() {
  for _ in $(seq 1 150); do
    curl -sf "http://127.0.0.1:$1/health" >/dev/null && return 0
    sleep 0.2
  done
  echo "cluster: nothing answers on port $1" >&2
  tail -n 20 "$WORK"/*.log >&2
  exit 1
}

FRONT1=$(free_port)
FRONT2=$(free_port)
BALANCER=$(free_port)
start front1 serve --no-workers --port "$FRONT1"
start front2 serve --no-workers --port "$FRONT2"
WORKER1=$(free_port)
WORKER2=$(free_port)
start worker1 worker --port "$WORKER1"
start worker2 worker --port "$WORKER2"
wait_healthy "$FRONT1"
wait_healthy "$FRONT2"
wait_healthy "$WORKER1"
wait_healthy "$WORKER2"

mkdir -p "$WORK/nginx"
# nginx's workers run as this user, so that they can write their buffers under $WORK.
cat > "$WORK/nginx/nginx.conf" <<EOF
user $(id -un);
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_max_body_size 64m;
  client_body_buffer_size 16m;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream fronts {
    server 127.0.0.1:$FRONT1 max_fails=1 fail_timeout=2s;
    server 127.0.0.1:$FRONT2 max_fails=1 fail_timeout=2s;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$BALANCER;
    location / {
      proxy_pass http://fronts;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 120s;
      # A POST is not retried on the other front (it may have been accepted); reads are.
      proxy_next_upstream error timeout;
    }
  }
}
EOF
"$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
BACKGROUND_PIDS+=("$!")
wait_healthy "$BALANCER"
echo "cluster: PostgreSQL, fronts on $FRONT1 and $FRONT2, nginx on $BALANCER, two workers"

if [[ "$MODE" != "--crash-only" ]]; then
  # The same benchmark against one `heinfer serve` process (SQLite, the default deployment) and
  # against the cluster through the balancer, in one run; raw results in docs/cluster/.
  BENCH=(--reference-runs 0 --runs 100 --warmup 10 --throughput-requests 400 --clients 1,8,32
    --models logistic_v1,wine_multiclass,iris_mlp,mnist_cnn)
  SINGLE=$(free_port)
  (unset HEINFER_STORE HEINFER_DATABASE_URL; exec "$BIN" serve --port "$SINGLE" --database "$WORK/single.sqlite") \
    >> "$WORK/single.log" 2>&1 &
  SINGLE_PID=$!
  BACKGROUND_PIDS+=("$SINGLE_PID")
  wait_healthy "$SINGLE"
  "$BIN" bench --url "http://127.0.0.1:$SINGLE" --output "$WORK/single" "${BENCH[@]}" > "$WORK/single-bench.txt" 2>&1 ||
    { cat "$WORK/single-bench.txt"; exit 1; }
  kill "$SINGLE_PID"
  wait "$SINGLE_PID" 2>/dev/null || true
  "$BIN" bench --url "http://127.0.0.1:$BALANCER" --output "$WORK/cluster" "${BENCH[@]}" > "$WORK/cluster-bench.txt" 2>&1 ||
    { cat "$WORK/cluster-bench.txt"; exit 1; }
  mkdir -p docs/cluster
  cp "$WORK/single/benchmark_results.json" docs/cluster/single_process.json
  cp "$WORK/cluster/benchmark_results.json" docs/cluster/two_fronts_two_workers.json
  python3 - docs/cluster/single_process.json docs/cluster/two_fronts_two_workers.json <<'PY'
import json, sys
single, cluster = (json.load(open(path)) for path in sys.argv[1:])
by_id = {m["model_id"]: m for m in cluster["models"]}
print("| model | encrypted p50 / p99 (ms), one process | same, cluster | req/s by clients, one process | same, cluster |")
print("|---|---|---|---|---|")
for m in single["models"]:
    c = by_id[m["model_id"]]
    def latency(x): return f'{x["encrypted"]["latency_ms"]["p50"]:.2f} / {x["encrypted"]["latency_ms"]["p99"]:.2f}'
    def rps(x): return ", ".join(f'{k}: {v:.0f}' for k, v in sorted(x["encrypted"]["throughput_rps"].items(), key=lambda kv: int(kv[0])))
    print(f'| {m["model_id"]} | {latency(m)} | {latency(c)} | {rps(m)} | {rps(c)} |')
PY
fi

# Crash test.
"$BIN" load --url "http://127.0.0.1:$BALANCER" --clients 16 --duration "$SECONDS_OF_LOAD" \
  --job-ids "$WORK/ids" > "$WORK/load.txt" 2>&1 &
LOAD_PID=$!
BACKGROUND_PIDS+=("$LOAD_PID")
sleep $((SECONDS_OF_LOAD / 3))
kill -9 "${PIDS[front1]}" "${PIDS[worker1]}"
echo "cluster: killed front 1 and worker 1 with SIGKILL under load"
sleep 2
start front1 serve --no-workers --port "$FRONT1"
wait_healthy "$FRONT1"
echo "cluster: front 1 restarted (worker 1 stays dead)"
wait "$LOAD_PID" || true
cat "$WORK/load.txt"

python3 - "$WORK/ids" "http://127.0.0.1:$BALANCER" <<'PY'
import json, sys, time, urllib.error, urllib.request
ids_file, base = sys.argv[1:]
ids = sorted(set(line.strip() for line in open(ids_file) if line.strip()))
deadline = time.time() + 180
final, unknown = {}, []
for job_id in ids:
    while True:
        try:
            job = json.load(urllib.request.urlopen(f"{base}/jobs/{job_id}", timeout=30))
        except urllib.error.HTTPError as error:
            unknown.append((job_id, error.code))
            break
        if job["status"] in ("completed", "failed") or time.time() > deadline:
            final[job_id] = job
            break
        time.sleep(0.2)
counts = {}
for job in final.values():
    counts[job["status"]] = counts.get(job["status"], 0) + 1
bad = [(i, j["status"], j.get("error_code")) for i, j in final.items() if j["status"] != "completed"]
print(f"cluster: {len(ids)} accepted jobs: {counts}; unknown: {len(unknown)}")
if unknown or bad or not ids:
    print(f"cluster: FAILED {unknown[:5]} {bad[:5]}", file=sys.stderr)
    sys.exit(1)
PY
# Recorded once: a job completed by one worker whose other attempt died has attempts > 1 and a
# single outcome; a late result from a lost lease is discarded (the worker logs it).
psql "${DATABASE_URL%%\?*}" -tA -c "SELECT 'cluster: jobs evaluated more than once (a worker died holding them): ' ||
  count(*) FILTER (WHERE attempts > 1) || ' of ' || count(*) || ', all completed: ' ||
  bool_and(status = 'completed') FROM heinfer_job"
echo "cluster: results discarded after a lost lease: $(cat "$WORK"/worker*.log | grep -c 'result discarded' || true)"
echo "cluster: worker 2 metrics: $(curl -s "http://127.0.0.1:$WORKER2/metrics" | grep -E '^heinfer_(jobs_(completed|failed|reclaimed)|results_discarded)' | tr '\n' ' ')"
