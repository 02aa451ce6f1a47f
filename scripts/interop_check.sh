#!/usr/bin/env bash
# Interoperability check with real SEAL-based clients: the gateway's reference contract
# (/reference, schemas/reference-v1) driven by scripts/reference_client.py with
#   - Pyfhel 3.5.0 (SEAL 4.1.2 inside, the reference gateway's own client stack), built from its
#     source distribution on PyPI (no wheel exists for this Python), and
#   - the seal-python 4.4.0 wheel (a newer SEAL 4.x, whose headers say 4.4).
# Each runs single samples and batches up to 16 and checks every decrypted value against the plain
# formula (tolerance 1e-4 absolute; the errors seen are about 1e-6). It also shows the SEAL header
# rule: SEAL 4.1 refuses a stream whose header says 4.4, so the gateway answers in the version of
# the client's own ciphertexts.
#
# Installs what it needs (Debian: libmsgsl-dev zlib1g-dev libzstd-dev, when run as root; PyPI:
# Pyfhel, seal-python, numpy, requests, jsonschema), builds and starts the gateway on a free
# loopback port, and stops it at the end. About 6 minutes on 2 cores the first time (Pyfhel's
# build), under a minute after. Exit status 0 only if every check passes.
#
#   ./scripts/interop_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
source scripts/lib/gateway.sh

log() { echo "interop: $*"; }

install_pyfhel() {
  if python3 -c "import Pyfhel" 2>/dev/null; then return; fi
  log "building Pyfhel 3.5.0 from its source distribution (about 5 minutes)"
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    if ! dpkg -s libmsgsl-dev zlib1g-dev libzstd-dev >/dev/null 2>&1; then
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmsgsl-dev zlib1g-dev libzstd-dev >/dev/null
    fi
  fi
  python3 -m pip install -q numpy
  python3 -m pip download -q --no-deps --no-binary Pyfhel Pyfhel==3.5.0 -d "$WORK/pyfhel"
  tar -xzf "$WORK"/pyfhel/pyfhel-3.5.0.tar.gz -C "$WORK/pyfhel"
  local source="$WORK/pyfhel/pyfhel-3.5.0"
  # Offline, SEAL's bundled build would clone GSL, zlib and zstd: use Debian's instead, and link them.
  python3 - "$source/pyproject.toml" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path, newline="").read()
text = re.sub(r"(\s*SEAL_USE_ZSTD\s*=[^\r\n]*\r?\n)", r"\1    SEAL_BUILD_DEPS = 'OFF'\r\n", text, count=1)
text = text.replace('{Linux = ["-Wl,-rpath=$ORIGIN/.", "-fopenmp"]}', '{Linux = ["-Wl,-rpath=$ORIGIN/.", "-fopenmp", "-lzstd", "-lz"]}')
open(path, "w", newline="").write(text)
PY
  rm -rf "$source/venv"
  python3 -m pip install -q "$source"
}

log "installing the SEAL clients"
python3 -m pip install -q numpy requests jsonschema seal-python==4.4.0
install_pyfhel
python3 -c "import Pyfhel, seal; print('interop: Pyfhel', Pyfhel.__version__, '/ seal-python ready')"

log "building the gateway"
build_heinfer
PORT=$(free_port)
start_gateway /reference/health --open --host 127.0.0.1 --store memory --rate 0 --log-level warning
URL="http://127.0.0.1:$PORT/reference"

passed=0
failed=0
for backend in pyfhel seal-python; do
  # Debug builds parse 12.6 MB more slowly than release builds: allow 30 s per call here.
  if python3 scripts/reference_client.py --url "$URL" --backend "$backend" --timeout 30; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done

# The header rule: SEAL 4.1 (Pyfhel) refuses a stream that says 4.4 and loads the same bytes
# saying 4.1, which is why results echo the version of the client's inputs.
if python3 - <<'PY'
import numpy as np, seal
from Pyfhel import Pyfhel, PyCtxt
he = Pyfhel()
he.contextGen(scheme="ckks", n=16384, scale=2**30, qi_sizes=[60, 30, 30, 60], sec=128)
he.keyGen()
stream = bytearray(he.encryptFrac(np.array([0.25])).to_bytes())
assert stream[3:5] == b"\x04\x01", stream[:8].hex()
newer = bytearray(stream)
newer[4] = 4
try:
    PyCtxt(pyfhel=he, bytestring=bytes(newer))
    raise SystemExit("SEAL 4.1 loaded a 4.4 header")
except SystemExit:
    raise
except Exception:
    pass
value = he.decryptFrac(PyCtxt(pyfhel=he, bytestring=bytes(stream)))[0]
assert abs(value - 0.25) < 1e-5
print("interop: SEAL 4.1 refuses a 4.4 header and loads 4.1: results must echo the client's version")
PY
then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "interop: $passed passed, $failed failed"
[[ $failed == 0 ]]
