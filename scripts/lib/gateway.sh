# Shared by the scripts that run a gateway: a work folder removed at exit (the gateway and any
# registered background process stopped first), building the CLI, a free port, and starting the
# gateway with a wait for its health route. Source it after `set -euo pipefail` and `cd` to the
# repository root.

WORK=$(mktemp -d)
SERVER_PID=""
# Further background processes to stop at exit (append with BACKGROUND_PIDS+=("$!")).
BACKGROUND_PIDS=()

gateway_cleanup() {
  local pid
  for pid in "$SERVER_PID" "${BACKGROUND_PIDS[@]}"; do
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
}
trap gateway_cleanup EXIT

# build_heinfer [debug|release]: builds the CLI (printing the log only on failure) and sets BIN.
build_heinfer() {
  local configuration=${1:-debug}
  swift build -c "$configuration" --product heinfer > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
  BIN=$(swift build -c "$configuration" --show-bin-path)/heinfer
}

# free_port: prints a TCP port that is free on loopback.
free_port() {
  python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()"
}

# start_gateway HEALTH_PATH SERVE_ARGUMENTS…: runs `$BIN serve --port $PORT SERVE_ARGUMENTS…` in
# the background (output appended to $WORK/gateway.log), sets SERVER_PID and waits up to 20 s for
# http://127.0.0.1:$PORT$HEALTH_PATH; exits with the log if it does not answer.
start_gateway() {
  local health=$1
  shift
  "$BIN" serve --port "$PORT" "$@" >> "$WORK/gateway.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT$health" >/dev/null && return 0
    sleep 0.2
  done
  echo "$(basename "$0"): the gateway did not start" >&2
  cat "$WORK/gateway.log" >&2
  exit 1
}
