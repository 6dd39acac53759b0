#!/usr/bin/env bash
# What goes into the runner image, once for both builds: run as root inside the image's root
# filesystem, with the repository's files at SRC (the Dockerfile's RUN; scripts/build-image.py
# in a chroot of a debootstrapped bookworm). Debian's packages are already installed
# (scripts/image/packages.txt); this adds:
#   /opt/venv   the locked dependencies (requirements.lock, hashes required), the loadtest
#               package (not editable), without the test and lint tools, bytecode compiled
#   user 10001  the numeric non-root user the chart runs as (runAsUser), no home, no shell
#   /app        the chart (for the in-cluster controller), the scenarios, and the load-shape
#               module at a stable path (/app/shapefile.py, the chart's locustfiles.extraPaths)
# Nothing is written at run time outside /tmp and the artifacts volume: the image works with a
# read-only root (bytecode compiled here; PYTHONDONTWRITEBYTECODE and HOME=/tmp in its config).
set -euo pipefail
SRC="${1:?usage: install.sh SRC, a copy of the repository}"

python3 -m venv /opt/venv
/opt/venv/bin/pip install --quiet --disable-pip-version-check --require-hashes -r "$SRC/requirements.lock"
/opt/venv/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation "$SRC"
mapfile -t dev_only < <(grep -v '^\s*#' "$SRC/scripts/image/dev-only.txt" | grep -v '^\s*$')
/opt/venv/bin/pip uninstall --quiet -y "${dev_only[@]}"
/opt/venv/bin/python -m compileall -q /opt/venv/lib

groupadd --system --gid 10001 loadtest
useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin loadtest

mkdir -p /app/charts
cp -r "$SRC/charts/loadtest" /app/charts/loadtest
cp -r "$SRC/locustfiles" /app/locustfiles
find /app -name __pycache__ -prune -exec rm -rf {} +
ln -s "$(/opt/venv/bin/python -c 'import loadtest.locust.shapes as s; print(s.SHAPEFILE)')" /app/shapefile.py
/opt/venv/bin/python -m compileall -q /app/locustfiles
