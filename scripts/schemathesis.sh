#!/usr/bin/env bash
# Property-based contract testing with schemathesis (PyPI) against a live gateway: every
# operation of both contracts (schemas/openapi.yaml, and schemas/reference-v1/openapi.yaml under
# /reference), with every check schemathesis has (server errors, undeclared statuses, response
# schemas, content types, headers, undeclared methods answered 405, schema-valid requests
# accepted or refused with a declared semantic status: scripts/schemathesis.toml), generated
# examples, boundary coverage, fuzzing and stateful sequences.
#
# Installs schemathesis when missing, builds and starts the gateway (debug build, in-memory
# store, open mode on loopback, no rate limit) on a free port, and stops it at the end.
# Exit status 0 only if schemathesis finds nothing on either contract.
#
#   ./scripts/schemathesis.sh [examples per operation, default 100]
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${1:-100}
source scripts/lib/gateway.sh

if ! command -v schemathesis >/dev/null; then
  python3 -m pip install -q "schemathesis>=4.0,<5"
fi
echo "schemathesis: $(schemathesis --version)"

build_heinfer
PORT=$(free_port)
start_gateway /health --open --host 127.0.0.1 --store memory --rate 0 --log-level warning

status=0
for contract in "schemas/openapi.yaml http://127.0.0.1:$PORT" \
  "schemas/reference-v1/openapi.yaml http://127.0.0.1:$PORT/reference"; do
  set -- $contract
  echo "schemathesis: $1 at $2"
  (cd "$WORK" && schemathesis --config-file "$OLDPWD/scripts/schemathesis.toml" run "$OLDPWD/$1" --url "$2" \
    --checks all --max-examples "$EXAMPLES") || status=1
done
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "schemathesis: the gateway died during the run" >&2
  cat "$WORK/gateway.log" >&2
  status=1
fi
exit $status
