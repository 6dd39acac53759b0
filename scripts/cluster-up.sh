#!/usr/bin/env bash
# Start a local Kubernetes control plane on 127.0.0.1 for the cluster test tier and the
# kubernetes backend: etcd, kube-apiserver (TLS, Node+RBAC authorization, ServiceAccount token
# signing, PodSecurity admission), kube-controller-manager, kube-scheduler, and kwok playing
# the kubelet of fake nodes; a default StorageClass lets PersistentVolumeClaims bind. Writes an
# admin kubeconfig to <cluster dir>/kubeconfig and creates the load-test namespace `loadtest`,
# labelled pod-security.kubernetes.io/enforce=restricted.
#
# Why kwok and not kubelets: no container registry is reachable here, so no image could run
# anyway. kwok writes pod and node status through the real API (scheduling, Deployment,
# ReplicaSet and Job controllers all act on it), but no container ever executes.
#
# Idempotent: when everything is already up it says so and exits 0; a half-up cluster is
# stopped and started again. Missing binaries are built first (scripts/build-control-plane.sh).
#
# Environment (all optional):
#   LOADTEST_CLUSTER_DIR        state directory       (default $LOADTEST_CACHE/cluster)
#   LOADTEST_ETCD_PORT, LOADTEST_ETCD_PEER_PORT, LOADTEST_APISERVER_PORT, LOADTEST_KWOK_PORT
#                               fixed ports (default: free ports, chosen once and reused)
#   LOADTEST_KWOK_NODES         number of fake nodes  (default 1)
#   LOADTEST_CLUSTER_TIMEOUT_S  deadline of each wait (default 90)
#
# Network: everything listens on 127.0.0.1 only. Nodes report 127.0.0.1 (kwok serves the
# kubelet API there) and pod IPs come from 127.16.0.0/16, which the API server refuses to proxy
# to, so no request of this cluster ever leaves loopback. The price: EndpointSlices refuse
# loopback addresses, so Services get no endpoints (the controller-manager records
# FailedToUpdateEndpointSlices warnings on them); nothing here could reach a pod anyway.
set -euo pipefail
# shellcheck source=cluster-lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster-lib.sh"

NODES="${LOADTEST_KWOK_NODES:-1}"
SERVICE_IP=10.96.0.1             # the `kubernetes` Service's ClusterIP, a SAN of the serving cert
POD_CIDR=127.16.0.1/16           # kwok's pod IPs: loopback, never proxied by the API server
start_s=$(date +%s)

log() { echo "cluster-up: $*"; }
die() { echo "cluster-up: error: $*" >&2; exit 1; }

[[ "$NODES" =~ ^[1-9][0-9]*$ ]] || die "LOADTEST_KWOK_NODES='$NODES' is not a positive integer; set it to e.g. 1"
[[ "$TIMEOUT_S" =~ ^[1-9][0-9]*$ ]] || die "LOADTEST_CLUSTER_TIMEOUT_S='$TIMEOUT_S' is not a positive integer; set it to e.g. 90"
for tool in openssl curl python3; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not on PATH; install it (apt-get install $tool)"
done

# --- ports ---------------------------------------------------------------------------------
# SO_REUSEADDR as the Go servers use it, so a port left in TIME_WAIT by the last run counts as free.
port_free() {
  python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# choose_port VAR ENVVAR: an explicit LOADTEST_* port wins; else the saved port if still free; else a free one.
choose_port() {
  local var="$1" explicit="${!2:-}" saved="${!1:-}"
  if [ -n "$explicit" ]; then
    [[ "$explicit" =~ ^[0-9]+$ ]] || die "$2='$explicit' is not a port number"
    port_free "$explicit" || die "$2=$explicit is in use on 127.0.0.1; pick another port or unset $2 to get a free one"
    printf -v "$var" '%s' "$explicit"
  elif [ -n "$saved" ] && port_free "$saved"; then
    :
  else
    printf -v "$var" '%s' "$(free_port)"
  fi
}

# --- already up? ---------------------------------------------------------------------------
# cluster-down --purge deletes the directory, so never adopt one that holds something else.
if [ -d "$CLUSTER_DIR" ] && [ ! -f "$MARKER" ] && [ -n "$(ls -A "$CLUSTER_DIR")" ]; then
  die "$CLUSTER_DIR is not empty and was not made by cluster-up; set LOADTEST_CLUSTER_DIR to a new or empty directory"
fi
lock_cluster cluster-up
touch "$MARKER"
if [ -f "$CLUSTER_DIR/ports.env" ]; then
  # shellcheck disable=SC1091
  source "$CLUSTER_DIR/ports.env"
fi
running=()
for name in "${COMPONENTS[@]}"; do pid_of "$name" >/dev/null && running+=("$name"); done
if [ "${#running[@]}" -eq "${#COMPONENTS[@]}" ] && api_readyz; then
  log "already up: https://127.0.0.1:$APISERVER_PORT, KUBECONFIG=$KUBECONFIG_ADMIN"
  exit 0
fi
if [ "${#running[@]}" -gt 0 ]; then
  log "not healthy (running: ${running[*]}); restarting it"
  bash "$HERE/cluster-down.sh"
fi

bash "$HERE/build-control-plane.sh"

mkdir -p "$CLUSTER_DIR"/{pki,kubeconfigs,etcd,logs,run}
chmod 700 "$CLUSTER_DIR" "$PKI" "$CLUSTER_DIR/etcd"

choose_port ETCD_PORT LOADTEST_ETCD_PORT
choose_port ETCD_PEER_PORT LOADTEST_ETCD_PEER_PORT
choose_port APISERVER_PORT LOADTEST_APISERVER_PORT
choose_port KWOK_PORT LOADTEST_KWOK_PORT
printf 'ETCD_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\nKWOK_PORT=%s\n' \
  "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$KWOK_PORT" >"$CLUSTER_DIR/ports.env"

# --- certificates (made once; ports are not in them, so they survive port changes) ---------
if [ ! -f "$PKI/ca.crt" ]; then
  log "generating the CA, certificates and ServiceAccount keys in $PKI"
  rm -f "$PKI"/*.crt "$PKI"/*.key "$PKI"/*.pub
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=loadtest-local-ca" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/ca.crt" 2>/dev/null
  # ServiceAccount tokens: the API server signs with sa.key and verifies with sa.pub.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi
cert apiserver kube-apiserver "" serverAuth \
  "IP:127.0.0.1,DNS:localhost,IP:$SERVICE_IP,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert kwok-serving kwok "" serverAuth "IP:127.0.0.1,DNS:localhost"
# Client identities: the admin and kwok (which writes status of every node and pod) are in
# system:masters; the controller-manager and scheduler have their bootstrap RBAC user names.
cert admin loadtest-admin system:masters clientAuth
cert kwok kwok-controller system:masters clientAuth
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters clientAuth
cert controller-manager system:kube-controller-manager "" clientAuth
cert scheduler system:kube-scheduler "" clientAuth
chmod 600 "$PKI"/*.key

kubeconfig "$KUBECONFIG_ADMIN" admin
for user in controller-manager scheduler kwok; do kubeconfig "$CLUSTER_DIR/kubeconfigs/$user.yaml" "$user"; done
# kwok serves this as every container's log; it reads the CRI log format (time stream tag text).
echo "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ) stdout F kwok plays the kubelet: no container ran, so there are no container logs." \
  >"$CLUSTER_DIR/kwok-pod.log"
sed "s#@LOGS_FILE@#$CLUSTER_DIR/kwok-pod.log#" "$HERE/kwok-stages.yaml" >"$CLUSTER_DIR/kwok.yaml"

# --- processes -----------------------------------------------------------------------------
# etcd: a throwaway single member on loopback; fsync off because the data is disposable.
start etcd --name loadtest --data-dir "$CLUSTER_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "loadtest=http://127.0.0.1:$ETCD_PEER_PORT" \
  --unsafe-no-fsync --log-level warn
wait_for etcd "etcd to answer /health on 127.0.0.1:$ETCD_PORT" \
  bash -c "curl -sS --max-time 2 http://127.0.0.1:$ETCD_PORT/health | grep -q '\"health\":\"true\"'"

start kube-apiserver --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" \
  --authorization-mode Node,RBAC \
  --enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,PodSecurity,NodeRestriction,DefaultTolerationSeconds,ResourceQuota,Priority \
  --allow-privileged=true \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" --endpoint-reconciler-type none \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types InternalIP \
  --profiling=false
# --allow-privileged=true so that a privileged pod in `loadtest` is refused by PodSecurity
# admission (what the tests prove), not by a blanket API-server switch.
wait_for kube-apiserver "kube-apiserver /readyz on https://127.0.0.1:$APISERVER_PORT" api_readyz

start kube-controller-manager --kubeconfig "$CLUSTER_DIR/kubeconfigs/controller-manager.yaml" \
  --secure-port 0 --leader-elect=false --use-service-account-credentials \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" --enable-hostpath-provisioner
start kube-scheduler --kubeconfig "$CLUSTER_DIR/kubeconfigs/scheduler.yaml" \
  --secure-port 0 --leader-elect=false
# --- cluster objects: fake nodes and the load-test namespace ------------------------------
manifest="$CLUSTER_DIR/objects.yaml"
{
  cat <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $NAMESPACE
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
    pod-security.kubernetes.io/warn: restricted
    pod-security.kubernetes.io/audit: restricted
EOF
  # The default StorageClass, so PersistentVolumeClaims (the chart's artifacts volume) bind: the
  # controller-manager's test-only hostPath provisioner makes an empty /tmp/hostpath_pv/<uid>
  # directory per claim and deletes it with the claim. Nothing mounts it: no container runs.
  cat <<EOF
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
EOF
  for i in $(seq 0 $(( NODES - 1 ))); do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    type: kwok
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "250"}
  capacity: {cpu: "32", memory: 256Gi, pods: "250"}
EOF
  done
} >"$manifest"
kubectl_admin apply -f "$manifest" >/dev/null || die "kubectl apply of $manifest failed (see the message above)"

# A node's lease says which kwok owns it. A lease left by the kwok of an earlier run (its etcd
# data persists) would keep this kwok off the node until the lease expires (40 s), with pods
# stuck Pending meanwhile: the old holder is dead, so release its leases first.
node_names=(); for i in $(seq 0 $(( NODES - 1 ))); do node_names+=("kwok-node-$i"); done
kubectl_admin -n kube-node-lease delete lease "${node_names[@]}" --ignore-not-found >/dev/null

start kwok --kubeconfig "$CLUSTER_DIR/kubeconfigs/kwok.yaml" --config "$CLUSTER_DIR/kwok.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
  --node-ip 127.0.0.1 --node-port "$KWOK_PORT" --server-address "127.0.0.1:$KWOK_PORT" \
  --tls-cert-file "$PKI/kwok-serving.crt" --tls-private-key-file "$PKI/kwok-serving.key" \
  --cidr "$POD_CIDR" --node-lease-duration-seconds 40

leases_held() {
  local node holder
  for node in "${node_names[@]}"; do
    holder="$(kubectl_admin -n kube-node-lease get lease "$node" -o jsonpath='{.spec.holderIdentity}')"
    [ -n "$holder" ] || return 1
  done
}
wait_for kwok "kwok to hold the lease of ${node_names[*]}" leases_held

nodes_ready() {
  local ready
  ready="$(kubectl_admin get nodes -l type=kwok \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$')"
  [ "$ready" -ge "$NODES" ]
}
wait_for kwok "$NODES kwok node(s) to report Ready" nodes_ready
# The controller-manager's ServiceAccount controller makes `default` in every namespace;
# pods cannot be admitted before it exists.
wait_for kube-controller-manager "ServiceAccount 'default' in namespace $NAMESPACE" \
  kubectl_admin -n "$NAMESPACE" get serviceaccount default
for name in kube-scheduler kwok; do
  pid_of "$name" >/dev/null || { tail -n 25 "$CLUSTER_DIR/logs/$name.log" >&2; die "$name exited; see $CLUSTER_DIR/logs/$name.log"; }
done

log "ready in $(( $(date +%s) - start_s ))s: Kubernetes $KUBERNETES_VERSION at https://127.0.0.1:$APISERVER_PORT, $NODES kwok node(s), namespace $NAMESPACE (restricted)"
log "export KUBECONFIG=$KUBECONFIG_ADMIN"
