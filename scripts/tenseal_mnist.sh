#!/usr/bin/env bash
# Runs scripts/tenseal_mnist.py (TenSEAL's encrypted MNIST tutorial network with our weights) in a
# venv of its own under ${XDG_CACHE_HOME:-$HOME/.cache}/heinfer/tenseal-venv, created on first use
# with tenseal==0.3.18 and numpy from PyPI. TenSEAL 0.3.18 ships wheels for CPython 3.11–3.13 on
# x86_64 Linux (glibc 2.27 or newer); pick the interpreter with PYTHON=python3.12 if python3 is
# another version. Arguments go to the Python script:
#
#   ./scripts/tenseal_mnist.sh [--images 100] [--output tenseal_mnist.json] [--single-thread-only]
set -euo pipefail
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/heinfer/tenseal-venv"
TENSEAL_VERSION=0.3.18

if ! "$VENV/bin/python" -c "import numpy, tenseal; assert tenseal.__version__ == '$TENSEAL_VERSION'" 2>/dev/null; then
  echo "tenseal_mnist: installing tenseal==$TENSEAL_VERSION and numpy into $VENV" >&2
  if ! "${PYTHON:-python3}" -m venv "$VENV"; then
    echo "tenseal_mnist: could not create the venv (on Debian/Ubuntu: apt-get install python3-venv)" >&2
    exit 1
  fi
  # Wheels only: TenSEAL's source distribution needs a C++ toolchain and several minutes.
  "$VENV/bin/python" -m pip install -q --only-binary tenseal "tenseal==$TENSEAL_VERSION" numpy
fi
exec "$VENV/bin/python" "$(dirname "$0")/tenseal_mnist.py" "$@"
