#!/usr/bin/env bash
# Stop the local control plane that scripts/cluster-up.sh started, leaving no process behind.
#
# Each component gets SIGTERM, then SIGKILL if it is still there after a grace period; only the
# pids recorded in <cluster dir>/run whose command line is the pinned binary are signalled.
# State (certificates, etcd data, logs) stays for the next cluster-up, unless --purge is given,
# which removes the whole cluster directory.
#
# Usage: scripts/cluster-down.sh [--purge]
set -euo pipefail
# shellcheck source=cluster-lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster-lib.sh"

GRACE_S="${LOADTEST_CLUSTER_STOP_GRACE_S:-15}"
purge=0
for arg in "$@"; do
  case "$arg" in
    --purge) purge=1 ;;
    *) echo "cluster-down: error: unknown argument '$arg'; the only option is --purge" >&2; exit 2 ;;
  esac
done

if [ ! -f "$MARKER" ]; then
  if [ "$purge" = 1 ] && [ -d "$CLUSTER_DIR" ]; then
    echo "cluster-down: error: refusing to purge $CLUSTER_DIR: it has no $(basename "$MARKER") marker, so cluster-up did not make it" >&2
    exit 1
  fi
  echo "cluster-down: nothing was running (no cluster in $CLUSTER_DIR)"
  exit 0
fi
lock_cluster cluster-down
# The real node first, while the API server can still delete its pods.
bash "$HERE/node-down.sh"

# stop NAME...: SIGTERM to each at once, wait for all (SIGKILL after the grace period).
# Each takes ~2 s to exit cleanly, so the clients stop together, then the API server, then etcd.
stopped=()
stop() {
  local name pid deadline pids=() names=()
  for name in "$@"; do
    if pid="$(pid_of "$name")"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$name")
    fi
  done
  deadline=$(( $(date +%s) + GRACE_S ))
  for i in "${!pids[@]}"; do
    pid="${pids[$i]}"
    while running "$pid" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
    if running "$pid"; then
      echo "cluster-down: ${names[$i]} (pid $pid) ignored SIGTERM for ${GRACE_S}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while running "$pid"; do sleep 0.1; done
    fi
  done
  for name in "$@"; do rm -f "$CLUSTER_DIR/run/$name.pid"; done
  stopped+=("${names[@]}")
}
stop kwok kube-scheduler kube-controller-manager
stop kube-apiserver
stop etcd

left=()
for name in "${COMPONENTS[@]}"; do pid_of "$name" >/dev/null && left+=("$name"); done
if [ "${#left[@]}" -gt 0 ]; then
  echo "cluster-down: error: still running: ${left[*]} (see $CLUSTER_DIR/run)" >&2
  exit 1
fi

if [ "${#stopped[@]}" -eq 0 ]; then
  echo "cluster-down: nothing was running (cluster dir $CLUSTER_DIR)"
else
  echo "cluster-down: stopped ${stopped[*]}"
fi

if [ "$purge" = 1 ]; then
  rm -rf "$CLUSTER_DIR"
  echo "cluster-down: purged $CLUSTER_DIR"
fi
