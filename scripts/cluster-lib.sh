# shellcheck shell=bash disable=SC2034  # sourced: the variables are used by the sourcing scripts
# Shared by scripts/cluster-up.sh and scripts/cluster-down.sh (sourced, not run).
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
    *) echo "$BIN/$1-$KUBERNETES_VERSION" ;;
  esac
}

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
