#!/usr/bin/env bash
# Install PostgreSQL's server binaries from Debian's package, without a system cluster or daemon.
#
# The history store's tests start their own server (initdb + pg_ctl in a temporary directory,
# on a free loopback port) as the Prometheus tests do, so the package's own service must never
# run: a policy-rc.d denies service starts during the install, and the binaries are linked into
# the tool cache where the tests look for them.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"  # Debian 12 (bookworm)
CACHE="${LOADTEST_CACHE:-$HOME/.cache/loadtest}"
BIN="$CACHE/bin"
PGBIN="/usr/lib/postgresql/$PG_MAJOR/bin"

link_tools() {
  mkdir -p "$BIN"
  for tool in postgres initdb pg_ctl; do
    ln -sf "$PGBIN/$tool" "$BIN/$tool"
  done
}

if [ -x "$PGBIN/postgres" ] && [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ]; then
  link_tools
  exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

echo "install-postgres: installing Debian package postgresql-$PG_MAJOR"
if ! apt-cache show "postgresql-$PG_MAJOR" >/dev/null 2>&1; then
  $SUDO apt-get update -qq
fi
POLICY=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  created_policy=1
fi
cleanup() {
  if [ "$created_policy" = 1 ]; then $SUDO rm -f "$POLICY"; fi
}
trap cleanup EXIT
log="$(mktemp)"
if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "postgresql-$PG_MAJOR" >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-postgres: apt-get install postgresql-$PG_MAJOR failed (output above);" \
    "set PG_MAJOR to a version 'apt-cache search postgresql-' lists" >&2
  exit 1
fi
rm -f "$log"
link_tools
echo "install-postgres: $("$BIN/postgres" --version)"
