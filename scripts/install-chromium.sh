#!/usr/bin/env bash
# Install Chromium and its WebDriver from Debian's packages, for the report's browser tests.
#
# Why Debian's packages: signed, served by the apt mirrors this machine may reach (Playwright's
# and Chrome-for-Testing's downloads are not), and chromium-driver always matches chromium's
# version. Not pinned to one version on purpose: Debian ships Chromium through bookworm-security
# and drops the previous build from the mirror with each update, so a pin would break a fresh
# machine within weeks. The tests record the version they ran with.
set -euo pipefail

CACHE="${LOADTEST_CACHE:-$HOME/.cache/loadtest}"
BIN="$CACHE/bin"

installed() {
  for pkg in chromium chromium-driver; do
    dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q "install ok installed" || return 1
  done
}

link_tools() {
  mkdir -p "$BIN"
  ln -sf /usr/bin/chromium "$BIN/chromium"
  ln -sf /usr/bin/chromedriver "$BIN/chromedriver"
}

if installed; then
  link_tools
  exit 0
fi

# shellcheck source=scripts/apt-lib.sh
. "$(dirname "$0")/apt-lib.sh"
echo "install-chromium: installing Debian packages chromium and chromium-driver (apt-get)"
apt_install_no_services install-chromium chromium chromium-driver fonts-dejavu-core || {
  echo "install-chromium: run 'apt-get update' and check 'apt-cache policy chromium'" >&2
  exit 1
}
link_tools
echo "install-chromium: $("$BIN/chromium" --version 2>/dev/null | head -n1)"
