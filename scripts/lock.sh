#!/usr/bin/env bash
# Re-resolve requirements.in into requirements.lock with hashes, using uv (installed into the cache).
set -euo pipefail
cache="${LOADTEST_CACHE:-$HOME/.cache/loadtest}"
if [ ! -x "$cache/uv/bin/uv" ]; then
  python3 -m venv "$cache/uv"
  "$cache/uv/bin/pip" install -q "uv==0.13.8"
fi
"$cache/uv/bin/uv" pip compile -q --python-version 3.11 --generate-hashes requirements.in -o requirements.lock
echo "requirements.lock updated"
