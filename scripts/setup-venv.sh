#!/usr/bin/env bash
# Create the project virtualenv and install the locked dependencies plus this package.
# Idempotent; pip's cache (~/.cache/pip) lives outside the repository, so a warm run is fast.
set -euo pipefail
python="${1:-python3}"
venv="${2:-.venv}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: loadtest needs Python >= 3.11; '$python' is $("$python" --version 2>&1 || echo missing)" >&2
  echo "hint: make PYTHON=python3.11 ..." >&2
  exit 2
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "installing python3-venv (Debian) ..."
  apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "creating virtualenv $venv ..."
  "$python" -m venv "$venv"
fi
echo "installing locked Python dependencies (requirements.lock) ..."
"$venv/bin/python" -m pip install -q --require-hashes -r requirements.lock
"$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
echo "virtualenv ready: $venv"
