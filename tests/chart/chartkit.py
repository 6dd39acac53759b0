"""Shared helpers of the chart tests: run the real helm and kubeconform, walk rendered objects.

The tools come from the project's cache (`${LOADTEST_CACHE:-~/.cache/loadtest}/bin`), put
there by scripts/install-helm.sh, scripts/install-kubeconform.sh and scripts/k8s-schemas.sh.
A missing tool fails the test with the command that installs it: a chart test never skips.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# LOADTEST_CHART (as in loadtest.backends.kubernetes.rendering) points the tests at another copy of the chart.
CHART = Path(os.environ.get("LOADTEST_CHART") or REPO / "charts" / "loadtest")
SCHEMAS_SCRIPT = REPO / "scripts" / "k8s-schemas.sh"
HELM_TIMEOUT_S = 60  # one `helm template` of this chart takes well under a second
RELEASE = "lt"
NAMESPACE = "loadtest"
SCENARIOS = sorted(CHART.glob("ci/*-values.yaml"))
WORKLOAD_KINDS = {"Deployment", "Job", "CronJob", "Pod"}


def cache_bin() -> Path:
    return Path(os.environ.get("LOADTEST_CACHE") or Path.home() / ".cache" / "loadtest") / "bin"


def tool(name: str, installer: str) -> Path:
    """The cached tool, or a test failure saying how to install it (never a skip)."""
    path = cache_bin() / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{name} is not installed at {path}; run `bash scripts/{installer}` (or `make tools`)")
    return path


def schema_versions() -> list[str]:
    """The Kubernetes versions scripts/k8s-schemas.sh generates schemas for (oldest first)."""
    match = re.search(r'K8S_SCHEMA_VERSIONS="\$\{K8S_SCHEMA_VERSIONS:-([^}]*)\}"', SCHEMAS_SCRIPT.read_text())
    assert match, f"{SCHEMAS_SCRIPT} no longer pins K8S_SCHEMA_VERSIONS"
    versions = match.group(1).split()
    return sorted(versions, key=lambda v: tuple(int(p) for p in v.split(".")))


@dataclass(frozen=True)
class Helm:
    """The helm CLI, run on the chart the way a user would."""

    path: Path

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.path), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=HELM_TIMEOUT_S,
            check=False,
        )

    def template_text(
        self,
        *values_files: Path,
        values: Mapping[str, Any] | None = None,
        kube_version: str | None = None,
        chart: Path = CHART,
    ) -> str:
        args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE]
        for f in values_files:
            args += ["-f", str(f)]
        stdin = None
        if values is not None:
            args += ["-f", "-"]
            stdin = yaml.safe_dump(dict(values))
        if kube_version:
            args += ["--kube-version", kube_version]
        proc = self.run(*args, stdin=stdin)
        assert proc.returncode == 0, f"helm template failed:\n{proc.stderr}"
        return proc.stdout

    def template(self, *values_files: Path, values: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        text = self.template_text(*values_files, values=values)
        return [doc for doc in yaml.safe_load_all(text) if doc]

    def template_error(self, values: Mapping[str, Any]) -> str:
        """helm's error for values that must be rejected (the test fails if they render)."""
        proc = self.run(
            "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "-f", "-", stdin=yaml.safe_dump(dict(values))
        )
        assert proc.returncode != 0, f"helm accepted values it must reject: {values!r}"
        return proc.stderr


def find(objects: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    """The one object of `kind` whose name ends with `name_suffix`."""
    hits = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(name_suffix)]
    assert len(hits) == 1, f"expected one {kind} named *{name_suffix}, found {[o['metadata']['name'] for o in hits]}"
    return hits[0]


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(kind/name, pod metadata, pod spec) for every object that runs pods."""
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind == "Pod":
            yield f"{kind}/{name}", obj["metadata"], obj["spec"]
        elif kind in ("Deployment", "Job"):
            tpl = obj["spec"]["template"]
            yield f"{kind}/{name}", tpl["metadata"], tpl["spec"]
        elif kind == "CronJob":
            tpl = obj["spec"]["jobTemplate"]["spec"]["template"]
            yield f"{kind}/{name}", tpl["metadata"], tpl["spec"]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def scenario_id(path: Path) -> str:
    return path.name.removesuffix("-values.yaml")
