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

# shellcheck source=scripts/apt-lib.sh
. "$(dirname "$0")/apt-lib.sh"
echo "install-postgres: installing Debian package postgresql-$PG_MAJOR"
apt_install_no_services install-postgres "postgresql-$PG_MAJOR" || {
  echo "install-postgres: set PG_MAJOR to a version 'apt-cache search postgresql-' lists" >&2
  exit 1
}
link_tools
echo "install-postgres: $("$BIN/postgres" --version)"
