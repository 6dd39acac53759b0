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

stopped=()
for name in "${COMPONENTS[@]}"; do
  pid="$(pid_of "$name")" || { rm -f "$CLUSTER_DIR/run/$name.pid"; continue; }
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(( $(date +%s) + GRACE_S ))
  while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "cluster-down: $name (pid $pid) ignored SIGTERM for ${GRACE_S}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$CLUSTER_DIR/run/$name.pid"
  stopped+=("$name")
done

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

if [ "$purge" = 1 ] && [ -d "$CLUSTER_DIR" ]; then
  if [ ! -f "$MARKER" ]; then
    echo "cluster-down: error: refusing to purge $CLUSTER_DIR: it has no $(basename "$MARKER") marker, so cluster-up did not make it" >&2
    exit 1
  fi
  rm -rf "$CLUSTER_DIR"
  echo "cluster-down: purged $CLUSTER_DIR"
fi
