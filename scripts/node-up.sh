#!/usr/bin/env bash
# Add a real node to the local cluster (scripts/cluster-up.sh): containerd + runc run the pods'
# containers from the images `make image` built (imported into containerd, no registry), CNI
# puts them on a bridge of their own, kube-proxy (nftables) routes Services, CoreDNS answers
# cluster names, local-path-provisioner makes volumes the non-root pods can write, socat lets
# pods reach the API server (which listens on loopback) through the `kubernetes` Service, and
# kubelet registers the node as `loadtest-node`. kwok's fake nodes are cordoned while it runs,
# so every new pod lands here. scripts/node-down.sh undoes all of it.
#
# Network safety: pods sit on bridge ltnode0 (10.244.0.0/24) with no default route and no
# masquerading; their only routes are the bridge's own subnet and the Service range through the
# node. An nftables table (inet loadtest_node_guard) drops every forwarded packet that enters or
# leaves through the bridge but not both, so nothing from a pod can reach another network even
# if a route appeared; on the node itself pods reach only DNS and the API forwarder (the
# same table's input chain). CoreDNS has no upstream: names outside cluster.local do not resolve.
#
# What it changes on the host, all undone by node-down: sysctls (ip_forward and
# bridge-nf-call-iptables here; kubelet sets vm.overcommit_memory, kernel.panic and
# kernel.panic_on_oops) saved first to <cluster dir>/node/sysctl.saved; the bridge; the guard
# table and kube-proxy's tables; cgroups under kubepods; mounts under the node's directories.
# One real node per machine: /run/loadtest-node holds its runtime state and names its cluster.
#
# Idempotent: an up node is left as it is (a rebuilt image is imported); a half-up one is taken
# down and started again.
set -euo pipefail
# shellcheck source=cluster-lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster-lib.sh"
# shellcheck source=node-lib.sh
source "$HERE/node-lib.sh"
start_s=$(date +%s)

log() { echo "node-up: $*"; }
die() { echo "node-up: error: $*" >&2; exit 1; }

# import_images: the runner and pause archives, into containerd, when they changed since the last import.
import_images() {
  local image archive stamp sum t0
  for image in runner pause; do
    archive="$IMAGES/$image.oci.tar"
    stamp="$NODE_DIR/containerd/$image.imported"
    sum="$(stat -c '%s %Y' "$(readlink -f "$archive")") $(readlink -f "$archive")"
    if [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then continue; fi
    t0=$(date +%s%N)
    ctr_node images import --no-unpack "$archive" >/dev/null
    echo "$sum" >"$stamp"
    log "imported $archive in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  done
}

[ "$(id -u)" -eq 0 ] || die "a real node needs root (containerd, network namespaces, cgroups, nftables)"
[ -f "$MARKER" ] && [ -f "$CLUSTER_DIR/ports.env" ] || die "no local cluster in $CLUSTER_DIR; start it first: make cluster-up"
# shellcheck disable=SC1091
source "$CLUSTER_DIR/ports.env"
api_readyz || die "the API server of $CLUSTER_DIR does not answer; start the cluster first: make cluster-up"
lock_cluster node-up

if [ -f "$NODE_RUN/cluster" ] && [ "$(cat "$NODE_RUN/cluster")" != "$CLUSTER_DIR" ] && node_running_any; then
  die "a real node of the cluster in $(cat "$NODE_RUN/cluster") runs on this machine (one per machine); stop it there: LOADTEST_CLUSTER_DIR=$(cat "$NODE_RUN/cluster") make cluster-down"
fi
running=()
for name in "${NODE_COMPONENTS[@]}"; do pid_of "$name" >/dev/null && running+=("$name"); done
if [ "${#running[@]}" -eq "${#NODE_COMPONENTS[@]}" ] && node_ready; then
  import_images
  log "already up: node $NODE_NAME is Ready in $CLUSTER_DIR"
  exit 0
fi
if [ "${#running[@]}" -gt 0 ] || [ -d "$NODE_RUN" ]; then
  log "not healthy (running: ${running[*]:-nothing}); taking it down first"
  bash "$HERE/node-down.sh"
fi

bash "$HERE/install-node-runtime.sh" >/dev/null
bash "$HERE/build-control-plane.sh"
for archive in "$IMAGES/runner.oci.tar" "$IMAGES/pause.oci.tar"; do
  [ -f "$archive" ] || die "$archive is missing; build the images first: make image"
done
for tool in nft ip ctr findmnt; do command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not on PATH (scripts/install-node-runtime.sh installs it)"; done

mkdir -p "$NODE_DIR"/{pki,kubelet,containerd,cni/net.d,cni/ipam} "$NODE_RUN"
echo "$CLUSTER_DIR" >"$NODE_RUN/cluster"
chmod 700 "$NODE_DIR" "$NODE_DIR/pki"

# --- host settings, saved first (the first save is the pristine one; node-down restores it) --
if [ ! -f "$NODE_DIR/sysctl.saved" ]; then
  for key in "${NODE_SYSCTLS[@]}"; do echo "$key=$(sysctl -n "$key")"; done >"$NODE_DIR/sysctl.saved.tmp"
  mv "$NODE_DIR/sysctl.saved.tmp" "$NODE_DIR/sysctl.saved"
fi
sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1

# --- the bridge and the guard ----------------------------------------------------------------
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
  ip link add "$BRIDGE" type bridge
fi
ip addr replace "$GATEWAY/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
nft -f - <<EOF
table inet $GUARD_TABLE
delete table inet $GUARD_TABLE
table inet $GUARD_TABLE {
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    iifname "$BRIDGE" oifname != "$BRIDGE" counter drop comment "a pod's packet may not leave the bridge"
    oifname "$BRIDGE" iifname != "$BRIDGE" counter drop comment "nothing from elsewhere is forwarded to a pod"
  }
  chain input {
    type filter hook input priority filter - 10; policy accept;
    iifname != "$BRIDGE" accept
    ct state established,related accept
    udp dport 53 accept
    tcp dport { 53, $API_FORWARD_PORT } accept
    icmp type { echo-request, destination-unreachable } accept
    counter drop comment "a pod reaches only DNS and the API server on the node"
  }
}
EOF

# --- certificates and kubeconfigs --------------------------------------------------------------
# kubelet: a client in system:nodes (the Node authorizer and NodeRestriction admission limit it to
# its own node and pods) and a serving certificate for the API server's logs/exec/proxy calls.
cert kubelet "system:node:$NODE_NAME" system:nodes clientAuth
cert kubelet-serving "$NODE_NAME" "" serverAuth "IP:$GATEWAY,IP:127.0.0.1,DNS:$NODE_NAME"
cert kube-proxy system:kube-proxy "" clientAuth  # bound to system:node-proxier by bootstrap RBAC
cert coredns loadtest:coredns "" clientAuth      # bound below to read Services and EndpointSlices only
cert kube-router loadtest:kube-router "" clientAuth  # bound below to read what NetworkPolicy selects
chmod 600 "$PKI"/*.key
# binding NAME: the ClusterRoleBinding of ClusterRole NAME to user NAME (a certificate's CN above).
binding() {
  printf '%s\n' "apiVersion: rbac.authorization.k8s.io/v1" "kind: ClusterRoleBinding" "metadata:" "  name: $1" \
    "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: \"$1\"}" "subjects:" \
    "- {apiGroup: rbac.authorization.k8s.io, kind: User, name: \"$1\"}"
}
kubeconfig "$NODE_DIR/kubelet.kubeconfig" kubelet
kubeconfig "$NODE_DIR/kube-proxy.kubeconfig" kube-proxy
kubeconfig "$NODE_DIR/coredns.kubeconfig" coredns
kubeconfig "$NODE_DIR/kube-router.kubeconfig" kube-router
kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: loadtest:coredns
rules:
- apiGroups: [""]
  resources: [services, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
$(binding loadtest:coredns)
---
# kube-router starts informers for all of these (its firewall uses pods, namespaces, nodes and
# NetworkPolicies); it writes nothing.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: loadtest:kube-router
rules:
- apiGroups: [""]
  resources: [pods, namespaces, nodes, services, endpoints]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [list, watch]
---
$(binding loadtest:kube-router)
EOF

# --- containerd --------------------------------------------------------------------------------
cat >"$NODE_DIR/containerd.toml" <<EOF
# Generated by scripts/node-up.sh: the real node's own containerd (not the system one).
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$CONTAINERD_SOCKET"
[ttrpc]
  address = "$NODE_RUN/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$(image_name "$PAUSE_IMAGE_ARCHIVE")"
  # This machine lacks CAP_SYS_RESOURCE: without this every sandbox fails to start
  # ("can't get final child's PID from pipe: EOF") because runc cannot lower oom_score_adj.
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni/net.d"
    max_conf_num = 1
EOF
cat >"$NODE_DIR/cni/net.d/10-loadtest.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "loadtest-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NODE_DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$GATEWAY", "rangeStart": "$RANGE_START"}]],
        "routes": [{"dst": "$SERVICE_CIDR", "gw": "$GATEWAY"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
start containerd --config "$NODE_DIR/containerd.toml" --log-level warn
wait_for containerd "containerd's socket $CONTAINERD_SOCKET" ctr_node version

# --- images (an up node gets a rebuilt image too) ------------------------------------------------
import_images

# --- kubelet -----------------------------------------------------------------------------------
cat >"$NODE_DIR/kubelet.yaml" <<EOF
# Generated by scripts/node-up.sh
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $GATEWAY
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
containerRuntimeEndpoint: unix://$CONTAINERD_SOCKET
# cgroup v1 (hybrid) with cgroupfs, as on this kernel; swap may be on.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDNS: [$GATEWAY]
clusterDomain: cluster.local
resolvConf: "$NODE_DIR/resolv.conf"
maxPods: 110
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: 100Mi, nodefs.available: "1%", imagefs.available: "1%"}
registerNode: true
EOF
: >"$NODE_DIR/resolv.conf"  # pods with dnsPolicy Default get no nameserver: no upstream at all
# kubelet may not start while its old Node object is held by a lease of an earlier run: none here.
start kubelet --config "$NODE_DIR/kubelet.yaml" --kubeconfig "$NODE_DIR/kubelet.kubeconfig" \
  --root-dir "$NODE_DIR/kubelet" --hostname-override "$NODE_NAME" --node-ip "$GATEWAY" \
  --node-labels "loadtest.dev/node=real" --v 1
wait_for kubelet "node $NODE_NAME to report Ready" node_ready

# --- kube-proxy (nftables: this kernel has no IPVS) ----------------------------------------------
cat >"$NODE_DIR/kube-proxy.yaml" <<EOF
# Generated by scripts/node-up.sh
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $NODE_DIR/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$GATEWAY/32"]
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
start kube-proxy --config "$NODE_DIR/kube-proxy.yaml"
wait_for kube-proxy "kube-proxy's nftables table" nft list table ip kube-proxy

# --- kube-router: NetworkPolicy enforced --------------------------------------------------------
# Its network policy controller alone: no router, no service proxy (kube-proxy's), no CNI config
# (the bridge plugin's), no listening port (health and metrics off). It puts every local pod behind
# a chain of the filter table (iptables-nft) that admits what the pod's NetworkPolicies allow,
# matched by ipsets of peer addresses, and REJECTs the rest; the node itself may always reach its
# pods (kubelet's probes, the API server's service proxy).
start kube-router --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
  --kubeconfig "$NODE_DIR/kube-router.kubeconfig" --hostname-override "$NODE_NAME" \
  --service-cluster-ip-range "$SERVICE_CIDR" --enable-ipv4=true --enable-ipv6=false \
  --health-port 0 --metrics-port 0 --v 1
wait_for kube-router "kube-router's network policy chains" iptables -w 5 -n -L KUBE-ROUTER-FORWARD

# --- CoreDNS: cluster names only, on the bridge address ------------------------------------------
cat >"$NODE_DIR/Corefile" <<EOF
.:53 {
    bind $GATEWAY
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $NODE_DIR/coredns.kubeconfig loadtest-local
        pods disabled
        ttl 5
    }
}
EOF
start coredns -conf "$NODE_DIR/Corefile"
wait_for coredns "CoreDNS to resolve kubernetes.default.svc.cluster.local on $GATEWAY" \
  dns_resolves kubernetes.default.svc.cluster.local

# --- the API server, for pods (the chart's CronJob runs the controller in one) ----------------------
# The API server listens on loopback only: socat forwards the node's bridge address (reachable from
# pods, from nowhere else) to it, and the `kubernetes` Service (10.96.0.1:443, every in-cluster
# client's address; a name in the API server's certificate) gets that address as its endpoint.
start socat "TCP-LISTEN:$API_FORWARD_PORT,bind=$GATEWAY,reuseaddr,fork" "TCP:127.0.0.1:$APISERVER_PORT"
wait_for socat "the API forwarder on $GATEWAY:$API_FORWARD_PORT" \
  curl -sS --max-time 2 --cacert "$PKI/ca.crt" --resolve "kubernetes:$API_FORWARD_PORT:$GATEWAY" \
  -o /dev/null "https://kubernetes:$API_FORWARD_PORT/readyz"
kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $API_ENDPOINTS
  namespace: default
  labels:
    kubernetes.io/service-name: kubernetes
    endpointslice.kubernetes.io/managed-by: loadtest-node-up
addressType: IPv4
endpoints:
- addresses: [$GATEWAY]
  conditions: {ready: true}
ports:
- {name: https, port: $API_FORWARD_PORT, protocol: TCP}
EOF

# --- PersistentVolumes: local-path-provisioner, the default StorageClass while the node runs -----
# Its helper pod (the runner image, as root in a namespace of its own) makes each volume a 0777
# directory under node/volumes, so the chart's non-root pods can write their artifacts there.
cert local-path loadtest:local-path-provisioner "" clientAuth
chmod 600 "$PKI"/*.key
kubeconfig "$NODE_DIR/local-path.kubeconfig" local-path
mkdir -p "$NODE_DIR/volumes"
runner_image="$(image_name "$IMAGES/runner.oci.tar")"
kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $STORAGE_NAMESPACE
  labels:
    pod-security.kubernetes.io/enforce: privileged  # the helper pod mounts the volumes' host directory
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: local-path-helper, namespace: $STORAGE_NAMESPACE}
automountServiceAccountToken: false
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: loadtest:local-path-provisioner
rules:
- apiGroups: [""]
  resources: [nodes, persistentvolumeclaims, configmaps, pods, pods/log]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [persistentvolumes]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [get, list, watch]
---
$(binding loadtest:local-path-provisioner)
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: local-path-provisioner, namespace: $STORAGE_NAMESPACE}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, patch, update, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: local-path-provisioner, namespace: $STORAGE_NAMESPACE}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: local-path-provisioner}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "loadtest:local-path-provisioner"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: local-path-config, namespace: $STORAGE_NAMESPACE}
data:
  config.json: |-
    {"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["$NODE_DIR/volumes"]}]}
  setup: |-
    #!/bin/sh
    set -eu
    mkdir -m 0777 -p "\$VOL_DIR"
  teardown: |-
    #!/bin/sh
    set -eu
    rm -rf "\$VOL_DIR"
  helperPod.yaml: |-
    apiVersion: v1
    kind: Pod
    metadata:
      name: helper-pod
    spec:
      automountServiceAccountToken: false
      containers:
      - name: helper-pod
        image: $runner_image
        imagePullPolicy: Never
        securityContext: {runAsUser: 0}  # as kind's busybox: the volumes' path is under /root here
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $STORAGE_CLASS
provisioner: rancher.io/local-path
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
EOF
# The default class while the node runs (node-down gives the role back to kwok's `standard`).
kubectl_admin annotate storageclass standard storageclass.kubernetes.io/is-default-class=false --overwrite >/dev/null
kubectl_admin annotate storageclass "$STORAGE_CLASS" storageclass.kubernetes.io/is-default-class=true --overwrite >/dev/null
start local-path-provisioner start --kubeconfig "$NODE_DIR/local-path.kubeconfig" \
  --namespace "$STORAGE_NAMESPACE" --configmap-name local-path-config --provisioner-name rancher.io/local-path \
  --service-account-name local-path-helper --helper-image "$runner_image"
sleep 1
pid_of local-path-provisioner >/dev/null || { tail -n 25 "$CLUSTER_DIR/logs/local-path-provisioner.log" >&2; die "local-path-provisioner exited; its log is above"; }

# --- every new pod lands here ---------------------------------------------------------------------
for node in $(kubectl_admin get nodes -l type=kwok --field-selector spec.unschedulable=false -o name); do
  kubectl_admin cordon "$node" >/dev/null
  echo "$node" >>"$NODE_DIR/cordoned"  # node-down uncordons these, and only these
done
log "ready in $(( $(date +%s) - start_s ))s: node $NODE_NAME (containerd $(ctr_node version 2>/dev/null | sed -n 's/^  Version: *//p' | tail -n 1)), pods on $BRIDGE $POD_CIDR, DNS $GATEWAY; kwok nodes cordoned"
