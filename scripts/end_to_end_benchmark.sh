#!/usr/bin/env bash
# The end-to-end benchmark: builds the release binary and runs `heinfer bench`, which starts a
# gateway with the bundled models on an ephemeral loopback port, measures plaintext vs encrypted
# inference for every model over real HTTP, measures the reference gateway's own request through
# the reference contract (/reference), and rewrites docs/benchmark_results.md,
# docs/benchmark_results.json and docs/benchmarks/*.svg.
#
# When Pyfhel is installed (scripts/interop_check.sh installs it), a real SEAL client first runs the
# reference's scenario against a release gateway (20 requests after 3 warm-ups, as the reference's
# own benchmark) and its stage timings go into the same page. TenSEAL 0.3.18 then runs its MNIST
# tutorial network with the bundled mnist_cnn weights on the first $TENSEAL_IMAGES (default 30)
# held-out digits (scripts/tenseal_mnist.sh, one thread), for the comparison on the same page.
#
# Extra arguments go to `heinfer bench` (e.g. --runs 500, --models logistic_v1, --reference-runs 100).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/gateway.sh
build_heinfer release
extra=()
if python3 -c "import Pyfhel" 2>/dev/null; then
  PORT=$(free_port)
  start_gateway /reference/health --open --rate 0 --log-level warning --database "$WORK/jobs.sqlite"
  python3 scripts/reference_client.py --url "http://127.0.0.1:$PORT/reference" --backend pyfhel --batches 1 \
    --runs 23 --warmup 3 --json "$WORK/seal-client.json"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  extra=(--seal-client-results "$WORK/seal-client.json")
else
  echo "Pyfhel is not installed: the SEAL client's round trip is left out (scripts/interop_check.sh installs it)" >&2
fi
# TenSEAL's MNIST network on this machine, in the same run (needs PyPI for its first set-up).
if ./scripts/tenseal_mnist.sh --images "${TENSEAL_IMAGES:-30}" --single-thread-only --output "$WORK/tenseal.json" \
  >"$WORK/tenseal.log" 2>&1; then
  extra+=(--tenseal-results "$WORK/tenseal.json")
else
  echo "TenSEAL could not run (see below): the MNIST comparison is left out of the results page" >&2
  tail -5 "$WORK/tenseal.log" >&2
fi
# The cluster's figures recorded by scripts/cluster_demo.sh, when present.
if [[ -f docs/cluster/two_fronts_two_workers.json ]]; then extra+=(--cluster-results docs/cluster); fi
# The compiled ONNX models' figures recorded by scripts/compiled_models_benchmark.sh, when present.
if [[ -f docs/compiled/section.md ]]; then extra+=(--compiled-results docs/compiled); fi
"$BIN" bench "${extra[@]}" "$@"
