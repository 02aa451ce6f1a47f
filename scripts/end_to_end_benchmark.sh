#!/usr/bin/env bash
# The end-to-end benchmark (issue 5): builds the release binary and runs `heinfer bench`, which
# starts a gateway with the bundled models on an ephemeral loopback port, measures plaintext vs
# encrypted inference for every model over real HTTP, and rewrites docs/benchmark_results.md,
# docs/benchmark_results.json and docs/benchmarks/*.svg. Extra arguments go to `heinfer bench`
# (e.g. --runs 500, --models logistic_v1, --url http://host:8080 --api-key … for a running gateway).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release
.build/release/heinfer bench "$@"
