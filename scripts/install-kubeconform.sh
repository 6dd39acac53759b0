#!/usr/bin/env bash
# Install kubeconform (pinned) by building it from the Go module proxy into the cache bin dir.
#
# kubeconform validates rendered manifests against JSON schemas. The chart tests run it
# strictly and offline against the schemas that scripts/k8s-schemas.sh generates, so it
# never needs to download schemas itself.
set -euo pipefail

KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.7.0}"
CACHE="${LOADTEST_CACHE:-$HOME/.cache/loadtest}"
BIN="$CACHE/bin"
KUBECONFORM="$BIN/kubeconform"
STAMP="$BIN/.kubeconform-version"

if [ -x "$KUBECONFORM" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$KUBECONFORM_VERSION" ]; then
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-kubeconform: error: 'go' is not on PATH; install Go >= 1.22" >&2
  exit 1
fi

mkdir -p "$BIN"
echo "install-kubeconform: building kubeconform $KUBECONFORM_VERSION from the Go module proxy into $BIN"
start=$(date +%s)
GOBIN="$BIN" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" \
  go install -ldflags "-s -w" "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
# kubeconform built with `go install` prints "development" for -v, hence the stamp file.
"$KUBECONFORM" -h >/dev/null 2>&1 || { echo "install-kubeconform: error: built binary does not run" >&2; exit 1; }
echo "$KUBECONFORM_VERSION" >"$STAMP"
echo "install-kubeconform: kubeconform $KUBECONFORM_VERSION installed in $(( $(date +%s) - start ))s"
