#!/usr/bin/env bash
# The end-to-end benchmark: builds the release binary and runs `heinfer bench`, which starts a
# gateway with the bundled models on an ephemeral loopback port, measures plaintext vs encrypted
# inference for every model over real HTTP, measures the reference gateway's own request through
# the reference contract (/reference), and rewrites docs/benchmark_results.md,
# docs/benchmark_results.json and docs/benchmarks/*.svg.
#
# When Pyfhel is installed (scripts/interop_check.sh installs it), a real SEAL client first runs the
# reference's scenario against a release gateway (20 requests after 3 warm-ups, as the reference's
# own benchmark) and its stage timings go into the same page.
#
# Extra arguments go to `heinfer bench` (e.g. --runs 500, --models logistic_v1, --reference-runs 100).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release
extra=()
if python3 -c "import Pyfhel" 2>/dev/null; then
  work=$(mktemp -d)
  port=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()")
  .build/release/heinfer serve --open --port "$port" --rate 0 --log-level warning --database "$work/jobs.sqlite" \
    > "$work/gateway.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/reference/health" >/dev/null && break; sleep 0.2; done
  python3 scripts/reference_client.py --url "http://127.0.0.1:$port/reference" --backend pyfhel --batches 1 \
    --runs 23 --warmup 3 --json "$work/seal-client.json"
  kill "$server"; wait "$server" 2>/dev/null || true
  extra=(--seal-client-results "$work/seal-client.json")
else
  echo "Pyfhel is not installed: the SEAL client's round trip is left out (scripts/interop_check.sh installs it)" >&2
fi
.build/release/heinfer bench "${extra[@]}" "$@"
