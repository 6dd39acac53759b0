#!/usr/bin/env bash
# Take the real node (scripts/node-up.sh) down and leave nothing of it on the host: its pods are
# deleted through the API while kubelet still runs (so their sandboxes, network namespaces and
# IP leases are released the normal way), then CoreDNS, kube-proxy (its nftables tables removed
# with `kube-proxy --cleanup`), kubelet and containerd stop; whatever is still there is removed
# by hand: containers, mounts under the node's directories, the pods' network namespaces,
# kubepods cgroups, the bridge, the guard table; the saved sysctls are restored, kwok's nodes
# uncordoned and the Node object deleted. Images stay in <cluster dir>/node/containerd for the
# next node-up (cluster-down --purge removes them with the rest).
#
# Usage: scripts/node-down.sh   (scripts/cluster-down.sh calls it first)
set -euo pipefail
# shellcheck source=cluster-lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster-lib.sh"
# shellcheck source=node-lib.sh
source "$HERE/node-lib.sh"

log() { echo "node-down: $*"; }
GRACE_S="${LOADTEST_CLUSTER_STOP_GRACE_S:-15}"

if [ ! -d "$NODE_DIR" ]; then
  log "no real node in $CLUSTER_DIR"
  exit 0
fi
if [ -f "$NODE_RUN/cluster" ] && [ "$(cat "$NODE_RUN/cluster")" != "$CLUSTER_DIR" ] && node_running_any; then
  log "the real node on this machine belongs to $(cat "$NODE_RUN/cluster"), not $CLUSTER_DIR: only this cluster's files are removed"
  exit 0
fi
lock_cluster node-down
if [ -f "$CLUSTER_DIR/ports.env" ]; then
  # shellcheck disable=SC1091
  source "$CLUSTER_DIR/ports.env"
fi
api=0
api_readyz && api=1

# --- pods, through kubelet while it runs -------------------------------------------------------
if [ "$api" = 1 ] && pid_of kubelet >/dev/null && pid_of containerd >/dev/null; then
  kubectl_admin delete pods --all-namespaces --field-selector "spec.nodeName=$NODE_NAME" \
    --grace-period 1 --wait=false >/dev/null 2>&1 || true
  deadline=$(( $(date +%s) + GRACE_S + 15 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    [ -z "$(ctr_node tasks ls -q 2>/dev/null)" ] && break
    sleep 0.5
  done
fi

# --- processes ---------------------------------------------------------------------------------
stop_component() {
  local name="$1" pid deadline
  pid="$(pid_of "$name")" || { rm -f "$CLUSTER_DIR/run/$name.pid"; return 0; }
  # Its process group (each runs in a session of its own): socat's per-connection forks go too.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  deadline=$(( $(date +%s) + GRACE_S ))
  while running "$pid" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
  if running "$pid"; then
    log "$name (pid $pid) ignored SIGTERM for ${GRACE_S}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while running "$pid"; do sleep 0.1; done
  fi
  kill -KILL -- "-$pid" 2>/dev/null || true  # whatever of its group outlived it
  rm -f "$CLUSTER_DIR/run/$name.pid"
  log "stopped $name"
}
stop_component kube-router  # its chains and ipsets are removed below, with kubelet's
stop_component local-path-provisioner
stop_component socat
stop_component coredns
stop_component kube-proxy
"$(binary_of kube-proxy)" --cleanup >/dev/null 2>&1 || true  # its nftables tables
stop_component kubelet
# Containers kubelet did not get to stop: killed through containerd, then its shims end.
if pid_of containerd >/dev/null; then
  for task in $(ctr_node tasks ls -q 2>/dev/null); do ctr_node tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true; done
  for _ in $(seq 1 50); do [ -z "$(ctr_node tasks ls -q 2>/dev/null)" ] && break; sleep 0.1; done
  for task in $(ctr_node tasks ls -q 2>/dev/null); do ctr_node tasks delete -f "$task" >/dev/null 2>&1 || true; done
fi
stop_component containerd
# Shims outlive containerd by design; the node's are those started with its socket.
for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCKET" || true); do
  kill -KILL "$pid" 2>/dev/null || true
done

# --- what the processes left ---------------------------------------------------------------------
# Mounts: container root filesystems, shm, the pods' volumes (deepest first).
findmnt -rn -o TARGET | grep -E "^($NODE_DIR|$NODE_RUN)(/|$)" | sort -r | while read -r target; do
  umount "$target" 2>/dev/null || umount -l "$target"
done || true
# The pods' network namespaces that CRI did not get to remove (named cni-<uuid>): ours have an
# address in the node's pod subnet (the bridge, and so their veth peers, still exist here).
for ns in /run/netns/cni-*; do
  [ -e "$ns" ] || continue
  if ip -n "$(basename "$ns")" -4 -o addr show 2>/dev/null | grep -q " inet ${POD_CIDR%.*}\."; then
    umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null || true
    rm -f "$ns"
  fi
done
# kubelet's cgroups (cgroup v1: one tree per controller), deepest first; empty once no task runs.
for root in /sys/fs/cgroup/*/; do
  [ -d "$root/kubepods" ] || continue
  find "$root/kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null || true
done
ip link delete "$BRIDGE" 2>/dev/null || true
nft delete table inet "$GUARD_TABLE" 2>/dev/null || true
# The iptables(-nft) chains of kubelet (KUBE-FIREWALL, the INPUT/OUTPUT jumps to it, its canaries)
# and of kube-router (its NetworkPolicy chains, which jump to one another: every chain is flushed
# before any is deleted); a table left with no rule at all (they made it) goes too.
python3 - <<'PY'
import json, subprocess
def nft(*args):
    return subprocess.run(["nft", *args], capture_output=True, text=True, check=False)
for family in ("ip", "ip6"):
    for table in ("filter", "nat", "mangle"):
        listed = nft("-j", "list", "table", family, table)
        if listed.returncode != 0:
            continue
        items = json.loads(listed.stdout)["nftables"]
        for rule in (i["rule"] for i in items if "rule" in i):
            if "KUBE-" in json.dumps(rule["expr"]):
                nft("delete", "rule", family, table, rule["chain"], "handle", str(rule["handle"]))
        chains = [i["chain"]["name"] for i in items if "chain" in i and i["chain"]["name"].startswith("KUBE-")]
        for chain in chains:
            nft("flush", "chain", family, table, chain)
        for chain in chains:
            nft("delete", "chain", family, table, chain)
        left = json.loads(nft("-j", "list", "table", family, table).stdout)["nftables"]
        if not any("rule" in i for i in left) and not any("chain" in i and "hook" not in i["chain"] for i in left):
            nft("delete", "table", family, table)
PY
# kube-router's ipsets, once no rule refers to them.
for set in $(router_ipsets); do ipset destroy "$set" 2>/dev/null || log "could not destroy ipset $set"; done
if [ -f "$NODE_DIR/sysctl.saved" ]; then
  while IFS='=' read -r key value; do sysctl -q -w "$key=$value" || log "could not restore $key=$value"; done <"$NODE_DIR/sysctl.saved"
  rm -f "$NODE_DIR/sysctl.saved"
fi
rm -rf "$NODE_DIR/cni/ipam" "$NODE_DIR/volumes" "$NODE_RUN"

# --- the cluster's view ------------------------------------------------------------------------
if [ "$api" = 1 ]; then
  kubectl_admin delete node "$NODE_NAME" --ignore-not-found >/dev/null 2>&1 || true
  kubectl_admin -n default delete endpointslice "$API_ENDPOINTS" --ignore-not-found >/dev/null 2>&1 || true
  # Volumes of the node's StorageClass are gone with its directory: so are their objects; the
  # default class is kwok's `standard` again.
  for pv in $(kubectl_admin get pv -o jsonpath="{range .items[?(@.spec.storageClassName==\"$STORAGE_CLASS\")]}{.metadata.name}{\"\n\"}{end}" 2>/dev/null); do
    kubectl_admin patch pv "$pv" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
    kubectl_admin delete pv "$pv" --wait=false >/dev/null 2>&1 || true
  done
  kubectl_admin delete storageclass "$STORAGE_CLASS" --ignore-not-found >/dev/null 2>&1 || true
  kubectl_admin annotate storageclass standard storageclass.kubernetes.io/is-default-class=true --overwrite >/dev/null 2>&1 || true
  for node in $(cat "$NODE_DIR/cordoned" 2>/dev/null); do
    kubectl_admin uncordon "$node" >/dev/null 2>&1 || true
  done
fi
rm -f "$NODE_DIR/cordoned"

# --- check ---------------------------------------------------------------------------------------
left=()
for name in "${NODE_COMPONENTS[@]}"; do pid_of "$name" >/dev/null && left+=("process $name"); done
ip link show "$BRIDGE" >/dev/null 2>&1 && left+=("interface $BRIDGE")
nft list table inet "$GUARD_TABLE" >/dev/null 2>&1 && left+=("nftables table $GUARD_TABLE")
nft list table ip kube-proxy >/dev/null 2>&1 && left+=("nftables table kube-proxy")
nft list ruleset 2>/dev/null | grep -q "KUBE-" && left+=("kubelet's or kube-router's KUBE-* iptables chains")
[ -n "$(router_ipsets)" ] && left+=("kube-router's ipsets: $(router_ipsets | tr '\n' ' ')")
findmnt -rn -o TARGET | grep -qE "^($NODE_DIR|$NODE_RUN)(/|$)" && left+=("mounts under $NODE_DIR")
if [ "${#left[@]}" -gt 0 ]; then
  echo "node-down: error: still there: ${left[*]}" >&2
  exit 1
fi
log "down: nothing of node $NODE_NAME is left on this machine"
