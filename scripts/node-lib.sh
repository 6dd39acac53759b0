# shellcheck shell=bash disable=SC2034  # sourced: the variables are used by the sourcing scripts
# Shared by scripts/node-up.sh, scripts/node-down.sh and scripts/cluster-down.sh (sourced after
# cluster-lib.sh): where the real node keeps its state, its network, and how to ask about it.
#
#   <cluster dir>/node/   certificates' kubeconfigs, containerd's root (images, snapshots),
#                         kubelet's root dir, CNI config and IP leases, sysctl.saved
#   /run/loadtest-node/   containerd's state and socket (short paths: unix sockets are limited
#                         to 108 bytes) and `cluster`, the cluster directory the node belongs to

NODE_NAME=loadtest-node
NODE_DIR="$CLUSTER_DIR/node"
NODE_RUN=/run/loadtest-node
CONTAINERD_SOCKET="$NODE_RUN/containerd.sock"
IMAGES="$CACHE/images"
BRIDGE=ltnode0
POD_CIDR=10.244.0.0/24
GATEWAY=10.244.0.1            # the bridge's address: the node's IP, cluster DNS, the pods' gateway
RANGE_START=10.244.0.10
KUBELET_PORT=10250
API_FORWARD_PORT=6443         # on the bridge address: the API server for pods (socat to loopback)
API_ENDPOINTS=kubernetes-loadtest-node  # the `kubernetes` Service's EndpointSlice pointing there
GUARD_TABLE=loadtest_node_guard
STORAGE_NAMESPACE=local-path-storage
STORAGE_CLASS=local-path
# Stopped in this order, started in the reverse one.
NODE_COMPONENTS=(kube-router local-path-provisioner socat coredns kube-proxy kubelet containerd)
# Saved before node-up changes them (kubelet sets the last three), restored by node-down.
NODE_SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
  vm.overcommit_memory kernel.panic kernel.panic_on_oops)

# image_name ARCHIVE: the name the OCI archive's index gives its image (what containerd imports it as).
image_name() {
  tar -xOf "$1" index.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["annotations"]["io.containerd.image.name"])'
}
PAUSE_IMAGE_ARCHIVE="$IMAGES/pause.oci.tar"

# kube-router's NetworkPolicy chains and ipsets are named KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-*
# and KUBE-SRC-*/KUBE-DST-* (its temporary sets during a restore: TMP-*).
router_ipsets() { ipset list -n 2>/dev/null | grep -E '^(KUBE-(SRC|DST)-|TMP-)' || true; }

ctr_node() { ctr --address "$CONTAINERD_SOCKET" --namespace k8s.io "$@"; }

node_ready() {
  [ "$(kubectl_admin get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# node_running_any: some component of the node runs (whichever cluster directory it came from).
node_running_any() {
  pgrep -f "^/usr/bin/containerd --config .*/node/containerd.toml" >/dev/null 2>&1
}

# dns_resolves NAME: the node's CoreDNS answers NAME with an address (a raw UDP query, no dig needed).
dns_resolves() {
  python3 - "$GATEWAY" "$1" <<'PY'
import socket, struct, sys
server, name = sys.argv[1], sys.argv[2]
query = struct.pack(">HHHHHH", 0x4c54, 0x0100, 1, 0, 0, 0)
query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(2)
sock.sendto(query, (server, 53))
reply = sock.recv(512)
sys.exit(0 if reply[:2] == query[:2] and reply[3] & 0x0F == 0 and struct.unpack(">H", reply[6:8])[0] > 0 else 1)
PY
}
