#!/usr/bin/env bash
# Runs every test. Needs only the Swift toolchain (no Python, no network, nothing from ../shared).
#
# The suite runs twice: once as shipped (portable NTT loops), once with CKKS_VECTORIZED_NTT
# defined (the loop structure used by CPU-tuned builds, see docs/benchmarks.md), so both code
# paths are checked against the same reference vectors. The second pass shares the build folder:
# the define applies to the CKKS target only, so only CKKS and what depends on it is rebuilt.
# The documentation's examples (Snippets/, shown in the README and the DocC catalogs) are built
# and run; each checks its own result. Then a short smoke run of every libFuzzer harness (15 s
# each, scripts/fuzz.sh; the long runs are recorded in docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."
swift test
for snippet in Snippets/*.swift; do
  echo "snippet $(basename "$snippet" .swift):"
  swift run -q "$(basename "$snippet" .swift)"
done
CKKS_VECTORIZED_NTT=1 swift test
./scripts/fuzz.sh --smoke 15
