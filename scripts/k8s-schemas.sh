#!/usr/bin/env bash
# Generate strict JSON schemas for kubeconform, offline, from Go modules.
#
# Why: the chart tests validate every rendered object against the Kubernetes API of the
# oldest and the newest Kubernetes minor the chart supports (Chart.yaml kubeVersion), and
# against the prometheus-operator CRDs for ServiceMonitor, PodMonitor and PrometheusRule.
# Schema catalogues live on hosts we cannot reach; the same OpenAPI documents ship in Go
# modules served by the module proxy:
#   - k8s.io/kubernetes@vX.Y.Z                       api/openapi-spec/swagger.json
#   - github.com/prometheus-operator/prometheus-operator  jsonnet/prometheus-operator/*-crd.json
# scripts/openapi2jsonschema.py converts them (strict, standalone). Output, per version:
#   $CACHE/k8s-schemas/vX.Y.Z-standalone-strict/<kind>-<group>-<version>.json
#   $CACHE/k8s-schemas/crds/<kind>-<group>-<version>.json
# The tests read the version list from K8S_SCHEMA_VERSIONS below (keep the two in sync
# with Chart.yaml's kubeVersion floor).
set -euo pipefail

K8S_SCHEMA_VERSIONS="${K8S_SCHEMA_VERSIONS:-1.30.14 1.37.1}"
PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
CACHE="${LOADTEST_CACHE:-$HOME/.cache/loadtest}"
OUT="$CACHE/k8s-schemas"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONVERTER="$HERE/openapi2jsonschema.py"
PYTHON="${PYTHON:-python3}"

# The stamp covers the converter too: changing the conversion regenerates everything.
stamp_of() {
  echo "$1 $(sha256sum "$CONVERTER" | cut -c1-16)"
}

module_dir() {
  # Download one module through the proxy (checksum-verified) and print where it lives.
  go mod download -json "$1" | "$PYTHON" -c 'import json, sys; d = json.load(sys.stdin); sys.exit(d["Error"]) if d.get("Error") else print(d["Dir"])'
}

if ! command -v go >/dev/null 2>&1; then
  echo "k8s-schemas: error: 'go' is not on PATH; it downloads the Kubernetes OpenAPI spec from the Go module proxy" >&2
  exit 1
fi

start=$(date +%s)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Outside any module, so `go mod download` fetches exactly the named versions.
cd "$work"

for version in $K8S_SCHEMA_VERSIONS; do
  dest="$OUT/v$version-standalone-strict"
  want="$(stamp_of "k8s.io/kubernetes@v$version")"
  if [ -f "$dest/.stamp" ] && [ "$(cat "$dest/.stamp")" = "$want" ]; then
    continue
  fi
  echo "k8s-schemas: downloading k8s.io/kubernetes@v$version (OpenAPI spec) from the Go module proxy"
  src="$(module_dir "k8s.io/kubernetes@v$version")"
  rm -rf "$dest.tmp"
  "$PYTHON" "$CONVERTER" k8s "$src/api/openapi-spec/swagger.json" "$dest.tmp"
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
  echo "$want" >"$dest/.stamp"
done

dest="$OUT/crds"
want="$(stamp_of "prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")"
if ! { [ -f "$dest/.stamp" ] && [ "$(cat "$dest/.stamp")" = "$want" ]; }; then
  echo "k8s-schemas: downloading prometheus-operator@$PROMETHEUS_OPERATOR_VERSION (CRDs) from the Go module proxy"
  src="$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")"
  rm -rf "$dest.tmp"
  "$PYTHON" "$CONVERTER" crd --out "$dest.tmp" \
    "$src/jsonnet/prometheus-operator/servicemonitors-crd.json" \
    "$src/jsonnet/prometheus-operator/podmonitors-crd.json" \
    "$src/jsonnet/prometheus-operator/prometheusrules-crd.json"
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
  echo "$want" >"$dest/.stamp"
fi

elapsed=$(( $(date +%s) - start ))
if [ "$elapsed" -gt 0 ]; then
  echo "k8s-schemas: schemas for Kubernetes $K8S_SCHEMA_VERSIONS and prometheus-operator $PROMETHEUS_OPERATOR_VERSION in $OUT (${elapsed}s)"
fi
