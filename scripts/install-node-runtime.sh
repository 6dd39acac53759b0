#!/usr/bin/env bash
# Install the real node's container runtime from Debian's packages, pinned, with no daemon started:
# containerd (CRI v1, which kubelet v1.34 speaks), runc, the CNI plugins (bridge, host-local,
# loopback, portmap in /usr/lib/cni), nftables (the network guard, kube-proxy's nftables mode),
# conntrack, socat (forwards the node's API address to the API server on loopback), and ipset and
# iptables (kube-router enforces NetworkPolicy with them, through nf_tables).
# scripts/node-up.sh runs its own containerd with its own config and directories;
# the package's system service must never run (policy-rc.d during the install, disabled after).
set -euo pipefail
# shellcheck source=apt-lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/apt-lib.sh"

PACKAGES=(
  "containerd=1.6.20~ds1-1+deb12u3"
  "runc=1.1.5+ds1-1+deb12u1"
  "containernetworking-plugins=1.1.1+ds1-3+b5"
  "nftables=1.0.6-2+deb12u2"
  "conntrack=1:1.4.7-1+b2"
  "socat=1.7.4.4-2"
  "ipset=7.17-1"
  "iptables=1.8.9-2"
)

installed() {
  local spec name version
  for spec in "${PACKAGES[@]}"; do
    name="${spec%%=*}" version="${spec#*=}"
    [ "$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null)" = "install ok installed $version" ] || return 1
  done
}

if installed; then
  echo "install-node-runtime: up to date (${PACKAGES[*]})"
  exit 0
fi
apt_install_no_services install-node-runtime "${PACKAGES[@]}" ||
  { echo "install-node-runtime: error: the packages above could not be installed; check apt's sources" >&2; exit 1; }
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now containerd.service >/dev/null 2>&1 || true  # node-up runs its own
fi
installed || { echo "install-node-runtime: error: installed versions differ from ${PACKAGES[*]}" >&2; exit 1; }
for binary in /usr/bin/containerd /usr/bin/ctr /usr/sbin/runc /usr/lib/cni/bridge /usr/lib/cni/host-local \
  /usr/lib/cni/loopback /usr/lib/cni/portmap /usr/sbin/nft /usr/bin/socat /usr/sbin/ipset /usr/sbin/iptables-nft; do
  [ -x "$binary" ] || { echo "install-node-runtime: error: $binary is missing after the install" >&2; exit 1; }
done
echo "install-node-runtime: installed ${PACKAGES[*]}"
