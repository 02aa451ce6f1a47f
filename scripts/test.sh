#!/usr/bin/env bash
# Runs every test. Needs only the Swift toolchain (no Python, no network, nothing from ../shared).
#
# The suite runs twice: once as shipped (portable NTT loops), once with CKKS_VECTORIZED_NTT
# defined (the loop structure used by CPU-tuned builds, see docs/benchmarks.md), so both code
# paths are checked against the same reference vectors.
set -euo pipefail
cd "$(dirname "$0")/.."
swift test
swift test --scratch-path .build-vectorized -Xswiftc -DCKKS_VECTORIZED_NTT
