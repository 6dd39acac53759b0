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

# shellcheck source=scripts/apt-lib.sh
. "$(dirname "$0")/apt-lib.sh"
echo "install-prometheus: installing Debian package prometheus=$PROMETHEUS_DEB_VERSION"
apt_install_no_services install-prometheus "prometheus=$PROMETHEUS_DEB_VERSION" || {
  echo "install-prometheus: set PROMETHEUS_DEB_VERSION to a version 'apt-cache policy prometheus' lists" >&2
  exit 1
}
stop_system_service
link_tools
echo "install-prometheus: $("$BIN/prometheus" --version 2>/dev/null | head -n1)"
