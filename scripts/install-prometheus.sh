#!/usr/bin/env bash
# Install Prometheus (server + promtool) from Debian's package, pinned, without a system daemon.
#
# Why Debian's package: it is signed, cached by apt mirrors, and ships promtool, which
# the rules tests need. The local backend starts its own Prometheus per run (see
# operator/loadtest/metrics/prometheus.py), so the package's system service must never run:
# a policy-rc.d that denies service starts is in place during the install, and any
# unit the package enabled is stopped and disabled afterwards.
set -euo pipefail

PROMETHEUS_DEB_VERSION="${PROMETHEUS_DEB_VERSION:-2.42.0+ds-5+deb12u1}"  # Debian 12 (bookworm)
CACHE="${LOADTEST_CACHE:-$HOME/.cache/loadtest}"
BIN="$CACHE/bin"

installed_version() {
  dpkg-query -W -f='${Status} ${Version}\n' prometheus 2>/dev/null | awk '$3 == "installed" {print $4}'
}

link_tools() {
  mkdir -p "$BIN"
  for tool in prometheus promtool; do
    ln -sf "/usr/bin/$tool" "$BIN/$tool"
  done
}

stop_system_service() {
  # The package's own daemon would hold port 9090 and write to /var/lib/prometheus.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
  if [ -x /etc/init.d/prometheus ]; then
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true
  fi
}

if [ "$(installed_version)" = "$PROMETHEUS_DEB_VERSION" ]; then
  link_tools
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

echo "install-prometheus: installing Debian package prometheus=$PROMETHEUS_DEB_VERSION"
if ! apt-cache show "prometheus=$PROMETHEUS_DEB_VERSION" >/dev/null 2>&1; then
  echo "install-prometheus: apt-get update (package index lacks prometheus=$PROMETHEUS_DEB_VERSION)"
  $SUDO apt-get update -qq
fi

# Deny service starts during the install (exit 101 = "action forbidden" per invoke-rc.d).
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
  "prometheus=$PROMETHEUS_DEB_VERSION" >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-prometheus: apt-get install prometheus=$PROMETHEUS_DEB_VERSION failed (output above);" \
    "set PROMETHEUS_DEB_VERSION to a version 'apt-cache policy prometheus' lists" >&2
  exit 1
fi
rm -f "$log"
stop_system_service
link_tools
echo "install-prometheus: $("$BIN/prometheus" --version 2>/dev/null | head -n1)"
