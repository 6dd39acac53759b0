#!/usr/bin/env bash
# Install helm 3 (pinned) by building it from the Go module proxy into the cache bin dir.
#
# Why build from source: the only reachable download source is the Go module proxy, and
# `go install module@version` gives a reproducible, checksum-verified (sumdb) build.
# The chart tests and pyhelm3 (operator/loadtest/backends/kubernetes/rendering.py) run this binary.
# The ldflags (as in helm's Makefile) make `helm version` report the pinned release and make
# `helm template`/`helm lint` assume the Kubernetes minor helm was built against, not v1.20.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.21.4}"
CACHE="${LOADTEST_CACHE:-$HOME/.cache/loadtest}"
BIN="$CACHE/bin"
HELM="$BIN/helm"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

current_version() {
  "$HELM" version --template '{{.Version}}' 2>/dev/null || true
}

# helm built without the Kubernetes ldflags assumes v1.20 and refuses kubeVersion >= 1.30.
default_kube_minor() {
  printf 'apiVersion: v2\nname: probe\nversion: 0.0.1\n' >"$1/Chart.yaml"
  mkdir -p "$1/templates"
  printf 'kubeMinor: "{{ .Capabilities.KubeVersion.Minor }}"\n' >"$1/templates/probe.yaml"
  { "$HELM" template probe "$1" 2>/dev/null || true; } | sed -n 's/^kubeMinor: "\([0-9]*\).*/\1/p'
}

if [ -x "$HELM" ] && [ "$(current_version)" = "$HELM_VERSION" ]; then
  minor="$(default_kube_minor "$work")"
  if [ -n "$minor" ] && [ "$minor" -gt 20 ]; then
    exit 0
  fi
  echo "install-helm: $HELM assumes Kubernetes 1.$minor without a cluster; rebuilding with the Kubernetes ldflags"
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-helm: error: 'go' is not on PATH; install Go >= 1.24 (helm $HELM_VERSION builds with it)" >&2
  exit 1
fi

mkdir -p "$BIN"
echo "install-helm: building helm $HELM_VERSION from the Go module proxy into $BIN (takes a few minutes cold)"
start=$(date +%s)
# The same ldflags as helm's Makefile: its own version, and the Kubernetes version that
# `helm template`/`helm lint` assume without a cluster (1.<client-go minor>, else v1.20).
gomod="$(cd "$work" && go mod download -json "helm.sh/helm/v3@$HELM_VERSION" \
  | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
k8s_minor="$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod")"
if [ -z "$k8s_minor" ]; then
  echo "install-helm: error: cannot find the k8s.io/client-go version in $gomod" >&2
  exit 1
fi
LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  LDFLAGS="$LDFLAGS -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done
GOBIN="$BIN" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" \
  go install -ldflags "$LDFLAGS" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"

got="$(current_version)"
if [ "$got" != "$HELM_VERSION" ]; then
  echo "install-helm: error: built helm reports version '$got', expected '$HELM_VERSION'" >&2
  exit 1
fi
echo "install-helm: helm $got installed in $(( $(date +%s) - start ))s"
