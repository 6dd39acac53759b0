# shellcheck shell=bash disable=SC2034  # sourced: the variables are used by the sourcing scripts
# Shared by scripts/cluster-up.sh, scripts/cluster-down.sh and the real node's scripts (sourced, not
# run): the layout, the pinned binaries, locking, waiting, certificates, kubeconfigs, starting.
#
# Layout of the cluster directory (outside the repository):
#   pki/            CA, serving and client certificates, ServiceAccount signing keys
#   kubeconfigs/    one kubeconfig per component (controller-manager, scheduler, kwok)
#   kubeconfig      the admin kubeconfig (the "known path" tests and the backend use)
#   etcd/           etcd's data
#   logs/<name>.log each component's output
#   run/<name>.pid  each component's process id
#   ports.env       the ports chosen on the first start, reused while they stay free
#   kwok.yaml       kwok's Stages and ClusterLogs (rendered from scripts/kwok-stages.yaml)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=control-plane.env
source "$HERE/control-plane.env"
CACHE="${LOADTEST_CACHE:-$HOME/.cache/loadtest}"
BIN="$CACHE/bin"
CLUSTER_DIR="${LOADTEST_CLUSTER_DIR:-$CACHE/cluster}"
# The marker file lets cluster-down --purge delete only a directory cluster-up made.
MARKER="$CLUSTER_DIR/.loadtest-cluster"
# Stopped in this order (dependents first), started in the reverse order.
COMPONENTS=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)

# binary_of NAME: the pinned, versioned binary a component runs from.
binary_of() {
  case "$1" in
    etcd) echo "$BIN/etcd-$ETCD_VERSION" ;;
    kwok) echo "$BIN/kwok-$KWOK_VERSION" ;;
    coredns) echo "$BIN/coredns-$COREDNS_VERSION" ;;
    local-path-provisioner) echo "$BIN/local-path-provisioner-$LOCAL_PATH_VERSION" ;;
    kube-router) echo "$BIN/kube-router-$KUBE_ROUTER_VERSION" ;;
    containerd) echo /usr/bin/containerd ;;  # Debian's (scripts/install-node-runtime.sh)
    socat) echo /usr/bin/socat ;;
    *) echo "$BIN/$1-$KUBERNETES_VERSION" ;;
  esac
}

# running PID: alive and not a zombie (a zombie whose parent has not reaped it yet holds no port
# and no file, and would otherwise keep `kill -0` true forever).
running() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# pid_of NAME: print the component's pid if that process is alive AND is the binary we started
# (a recycled pid that now belongs to something else is never reported, so never killed).
pid_of() {
  local pidfile="$CLUSTER_DIR/run/$1.pid" pid exe
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  exe="$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n 1)"
  [ "$exe" = "$(binary_of "$1")" ] || return 1
  echo "$pid"
}

# lock_cluster WHO: one cluster-up/cluster-down at a time per cluster directory (a second one
# waits). A script run by one that holds the lock (LOADTEST_CLUSTER_LOCKED=1) does not lock again.
lock_cluster() {
  [ "${LOADTEST_CLUSTER_LOCKED:-0}" = 1 ] && return 0
  command -v flock >/dev/null 2>&1 || return 0
  mkdir -p "$CLUSTER_DIR"
  exec 9>"$CLUSTER_DIR/.lock"
  if ! flock -w 300 9; then
    echo "$1: error: another cluster-up/cluster-down has held $CLUSTER_DIR/.lock for 300s; is one stuck?" >&2
    exit 1
  fi
  export LOADTEST_CLUSTER_LOCKED=1
}
ME="$(basename "$0" .sh)"  # the script's name, for its messages
NAMESPACE=loadtest
SERVICE_CIDR=10.96.0.0/16        # ClusterIPs: kube-proxy routes them on the real node, nowhere else
PKI="$CLUSTER_DIR/pki"
KUBECONFIG_ADMIN="$CLUSTER_DIR/kubeconfig"
TIMEOUT_S="${LOADTEST_CLUSTER_TIMEOUT_S:-90}"

# --- wait helpers --------------------------------------------------------------------------
# wait_for NAME WHAT CMD...: poll CMD until it succeeds; fail early if component NAME died,
# and at the deadline name what was awaited and show the component's last log lines.
wait_for() {
  local name="$1" what="$2"; shift 2
  local deadline=$(( $(date +%s) + TIMEOUT_S ))
  until "$@" >/dev/null 2>&1; do
    if ! pid_of "$name" >/dev/null; then
      echo "$ME: error: $name exited while waiting for $what; last lines of $CLUSTER_DIR/logs/$name.log:" >&2
      tail -n 25 "$CLUSTER_DIR/logs/$name.log" >&2 || true
      exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$ME: error: timed out after ${TIMEOUT_S}s waiting for $what (raise LOADTEST_CLUSTER_TIMEOUT_S if the machine is busy); last lines of $CLUSTER_DIR/logs/$name.log:" >&2
      tail -n 25 "$CLUSTER_DIR/logs/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.25
  done
}

api_readyz() {
  [ "$(curl -sS --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:${APISERVER_PORT:-0}/readyz" 2>/dev/null)" = ok ]
}
kubectl_admin() { "$(binary_of kubectl)" --kubeconfig "$KUBECONFIG_ADMIN" --request-timeout=10s "$@"; }

# cert NAME CN ORG USAGE [SAN]: an ECDSA P-256 key and a certificate signed by the local CA.
cert() {
  local name="$1" cn="$2" org="$3" usage="$4" san="${5:-}" subj ext
  [ -f "$PKI/$name.crt" ] && return 0
  subj="/CN=$cn"
  if [ -n "$org" ]; then subj="/O=$org$subj"; fi
  ext="$PKI/$name.ext"
  { echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    if [ -n "$san" ]; then echo "subjectAltName=$san"; fi
  } >"$ext"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}
# kubeconfig FILE USER: certificates embedded, so the file can be copied anywhere.
kubeconfig() {
  local b64="base64 -w0"
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: loadtest-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $($b64 <"$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $($b64 <"$PKI/$2.crt")
    client-key-data: $($b64 <"$PKI/$2.key")
contexts:
- name: loadtest-local
  context:
    cluster: loadtest-local
    user: $2
    namespace: $NAMESPACE
current-context: loadtest-local
EOF
  chmod 600 "$1"
}

# start NAME ARGS...: run the pinned binary in its own session (it outlives this script and
# the caller's process group), output to logs/NAME.log, pid to run/NAME.pid. It does not inherit
# the lock's file descriptor 9, or the lock would be held for as long as the cluster runs.
#
# setsid execs the binary in the same process, and until it has, that process's command line is
# setsid's: pid_of would report a component that is starting as one that exited. From a cold page
# cache exec'ing a 60-100 MB binary takes long enough for that (node-up failed so on its first run
# after a while), so this returns once the exec is done, or the process has died, or 30 s passed.
start() {
  local name="$1" binary pid deadline; shift
  binary="$(binary_of "$name")"
  setsid "$binary" "$@" >>"$CLUSTER_DIR/logs/$name.log" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$CLUSTER_DIR/run/$name.pid"
  deadline=$(( $(date +%s) + 30 ))
  until [ "$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n 1)" = "$binary" ] || ! running "$pid" ||
    [ "$(date +%s)" -ge "$deadline" ]; do
    sleep 0.02
  done
  echo "$ME: started $name (pid $pid)"
}
