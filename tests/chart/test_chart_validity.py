"""The chart lints clean and every scenario validates strictly against real Kubernetes schemas."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from chartkit import CHART, SCENARIOS, Helm, scenario_id, schema_versions

EXPECTED_SCENARIOS = {"defaults", "users-1000", "monitors", "cron", "gate"}


def kubeconform_run(kubeconform: Path, schema_root: Path, version: str, manifests: str) -> dict[str, object]:
    kind_file = "{{ .ResourceKind }}{{ .KindSuffix }}.json"  # kubeconform's own file naming
    proc = subprocess.run(
        [
            str(kubeconform),
            "-strict",
            "-summary",
            "-output",
            "json",
            "-kubernetes-version",
            version,
            "-schema-location",
            f"{schema_root}/v{version}-standalone-strict/{kind_file}",
            "-schema-location",
            f"{schema_root}/crds/{kind_file}",
            "-",
        ],  # fmt: skip
        input=manifests,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report: dict[str, object] = json.loads(proc.stdout)
    report["returncode"] = proc.returncode
    return report


def test_every_required_scenario_has_a_ci_values_file() -> None:
    assert {scenario_id(p) for p in SCENARIOS} >= EXPECTED_SCENARIOS


def test_helm_lint_strict_is_clean_for_defaults_and_every_scenario(helm: Helm) -> None:
    for values in [None, *SCENARIOS]:
        args = ["lint", "--strict", str(CHART)] + (["-f", str(values)] if values else [])
        proc = helm.run(*args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "0 chart(s) failed" in proc.stdout
        for level in ("[INFO]", "[WARNING]", "[ERROR]"):
            assert level not in proc.stdout, f"helm lint {values}: {proc.stdout}"


def test_chart_kube_version_floor_is_the_oldest_validated_version(helm: Helm) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    oldest, newest = schema_versions()[0], schema_versions()[-1]
    major_minor = ".".join(oldest.split(".")[:2])
    assert chart["kubeVersion"] == f">={major_minor}.0-0"
    older = f"{major_minor.split('.')[0]}.{int(major_minor.split('.')[1]) - 1}.0"
    proc = helm.run("template", "x", str(CHART), "--kube-version", older)
    assert proc.returncode != 0 and "kubeVersion" in proc.stderr
    assert helm.run("template", "x", str(CHART), "--kube-version", newest).returncode == 0


@pytest.mark.parametrize("version", schema_versions())
@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_every_rendered_object_validates_strictly_against_kubernetes_schemas(
    helm: Helm, kubeconform: Path, schema_root: Path, values: Path, version: str
) -> None:
    manifests = helm.template_text(values, kube_version=f"v{version}")
    report = kubeconform_run(kubeconform, schema_root, version, manifests)
    summary = report["summary"]
    assert isinstance(summary, dict)
    kinds = [d["kind"] for d in yaml.safe_load_all(manifests) if d]
    assert report["returncode"] == 0, json.dumps(report["resources"], indent=1)
    assert summary["valid"] == len(kinds) and summary["skipped"] == 0 and summary["errors"] == 0


@pytest.mark.parametrize("version", schema_versions())
def test_kubeconform_schemas_reject_a_misspelt_field(
    helm: Helm, kubeconform: Path, schema_root: Path, version: str
) -> None:
    """Guards the validation above: a typo in a rendered field must fail, so a pass means something."""
    manifests = helm.template_text(SCENARIOS[0]).replace("readOnlyRootFilesystem:", "readOnlyRootFilesystm:")
    report = kubeconform_run(kubeconform, schema_root, version, manifests)
    assert report["returncode"] != 0
    resources = report["resources"]
    assert isinstance(resources, list) and resources
    assert all("readOnlyRootFilesystm" in r["msg"] for r in resources if r["status"] == "statusInvalid")


def test_kubeconform_schemas_reject_a_kind_under_a_removed_api_version(kubeconform: Path, schema_root: Path) -> None:
    cronjob = "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: x}\nspec: {schedule: '* * * * *'}\n"
    report = kubeconform_run(kubeconform, schema_root, schema_versions()[-1], cronjob)
    assert report["returncode"] != 0
