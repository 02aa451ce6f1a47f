#!/usr/bin/env bash
# Runs every test. Needs only the Swift toolchain (no Python, no network, nothing from ../shared).
#
# The suite runs twice: once as shipped (portable NTT loops), once with CKKS_VECTORIZED_NTT
# defined (the loop structure used by CPU-tuned builds, see docs/benchmarks.md), so both code
# paths are checked against the same reference vectors (the second pass leaves out the ONNX
# compiler's tests, which do not depend on the NTT's loops). The second pass shares the build folder:
# the define applies to the CKKS target only, so only CKKS and what depends on it is rebuilt.
# The documentation's examples (Snippets/, shown in the README and the DocC catalogs) are built
# and run; each checks its own result. Then a short smoke run of every libFuzzer harness (15 s
# each, scripts/fuzz.sh; the long runs are recorded in docs/reliability.md).
#
# The PostgreSQL store, queue and cluster tests use the server at HEINFER_TEST_DATABASE_URL; when
# it is unset and this machine has a PostgreSQL server (scripts/postgres.sh finds it), a
# throwaway one is started in a temporary folder and stopped at the end. Without either, those
# tests are reported as skipped (with HEINFER_REQUIRE_POSTGRES=1, as in CI, they fail instead).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${HEINFER_TEST_DATABASE_URL:-}" ]]; then
  pgdir=$(mktemp -d /tmp/heinfer-test-pg.XXXXXX)
  if HEINFER_TEST_DATABASE_URL=$(./scripts/postgres.sh start "$pgdir" "${HEINFER_TEST_PG_PORT:-55439}" 2>"$pgdir/start.err"); then
    export HEINFER_TEST_DATABASE_URL
    trap './scripts/postgres.sh stop "$pgdir" || true; rm -rf "$pgdir"' EXIT
    echo "test.sh: throwaway PostgreSQL at $HEINFER_TEST_DATABASE_URL"
  else
    echo "test.sh: NO POSTGRESQL ($(cat "$pgdir/start.err")): the PostgreSQL tests will be SKIPPED" >&2
    rm -rf "$pgdir"
    unset HEINFER_TEST_DATABASE_URL
  fi
fi
# The ONNX compiler's tests (minutes of encrypted MNIST networks in a debug build) run on their
# own, after the rest, so that they do not starve the timing-sensitive server tests of both cores.
HEINFER_COMPILER_TESTS=skip swift test
swift test --filter ModelCompilerTests
for snippet in Snippets/*.swift; do
  echo "snippet $(basename "$snippet" .swift):"
  swift run -q "$(basename "$snippet" .swift)"
done
# The compiler's tests run once: the NTT paths are checked by everything else.
HEINFER_COMPILER_TESTS=skip CKKS_VECTORIZED_NTT=1 swift test
./scripts/fuzz.sh --smoke 15
