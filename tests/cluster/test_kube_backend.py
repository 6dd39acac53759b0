"""The kubernetes backend against a real API server: install, follow, gate, collect, clean up.

kwok stands in for kubelets: pods are scheduled, admitted and reported Running/Succeeded, but
no container runs, so `--wait-for-workers false` (the master cannot answer) and the gate Job's
outcome is scripted with kwok annotations (scripts/kwok-stages.yaml).
"""

from __future__ import annotations

import json
from pathlib import Path

import kuberuns as kr
import pytest

from loadtest.backends.kubernetes.cluster import LocalCluster

WORKERS = 3


def test_a_run_installs_every_object_waits_gates_collects_and_uninstalls(cluster: LocalCluster, tmp_path: Path) -> None:
    artifacts = tmp_path / "results"
    proc = kr.start(cluster, artifacts, "--workers", str(WORKERS), "--helm-values", kr.gate_annotations(run_for="8s"))
    seen: dict[str, object] = {}

    def look() -> None:  # while the gate runs: the release's Deployments as the API server has them
        deployments = json.loads(
            cluster.kubectl(
                "get", "deployments", "-n", "loadtest", "-l", "app.kubernetes.io/instance", "-o", "json"
            ).stdout
        )["items"]
        seen.update({d["metadata"]["labels"]["app.kubernetes.io/component"]: d["status"] for d in deployments})

    kr.when_event(proc, artifacts, "deployments_available", look)
    result = kr.finish(proc, artifacts)
    assert result.code == 0, result.stderr[-3000:]

    # master and workers became Available with the requested replicas, checked by the controller and by us
    assert result.event("deployments_available")["workers"] == WORKERS
    assert seen["master"]["availableReplicas"] == 1  # type: ignore[index]
    assert seen["worker"]["availableReplicas"] == WORKERS  # type: ignore[index]

    # every object passed API validation and restricted admission: all were created and pods ran
    kinds = kr.manifest_kinds(result.run_dir)
    for kind in ("ConfigMap", "Deployment", "Job", "NetworkPolicy", "PersistentVolumeClaim", "Service"):
        assert kind in kinds, kinds
    assert not {"Role", "RoleBinding", "ServiceAccount"} & set(kinds)  # those are the scheduling release's
    pods = json.loads((result.run_dir / "pods.json").read_text())
    assert sorted(p["component"] for p in pods) == ["gate", "master"] + ["worker"] * WORKERS
    assert {p["phase"] for p in pods if p["component"] != "gate"} == {"Running"}

    # the gate's success is the exit code; artifacts were written; nothing of the release is left
    assert json.loads((result.run_dir / "gate.json").read_text())["outcome"] == "PASS"
    assert len(list((result.run_dir / "logs").glob("*.log"))) == len(pods)
    assert any(e["reason"] == "ScalingReplicaSet" for e in json.loads((result.run_dir / "events.json").read_text()))
    assert kr.release_objects(cluster, result.run_dir.name) == []
    assert "helm_uninstalled" in [e["event"] for e in result.events()]


@pytest.mark.parametrize(("gate_exit", "outcome"), [(1, "FAIL"), (3, "INCONCLUSIVE")])
def test_a_failing_gate_job_is_the_controllers_exit_code(
    cluster: LocalCluster, tmp_path: Path, gate_exit: int, outcome: str
) -> None:
    values = kr.gate_annotations(outcome="failed", exit_code=gate_exit)
    result = kr.run(cluster, tmp_path / "results", "--workers", "1", "--helm-values", values)
    assert result.code == gate_exit, result.stderr[-3000:]
    assert json.loads((result.run_dir / "gate.json").read_text())["outcome"] == outcome
    # report.html is written on this path too, and says what the gate Job reported
    assert f"reported {outcome} (exit code {gate_exit}" in (result.run_dir / "report.html").read_text()
    assert kr.release_objects(cluster, result.run_dir.name) == []  # failure still cleans up


def test_a_second_run_in_the_same_namespace_works(cluster: LocalCluster, tmp_path: Path) -> None:
    first = kr.run(cluster, tmp_path / "a", "--workers", "1")
    second = kr.run(cluster, tmp_path / "b", "--workers", "1")
    assert (first.code, second.code) == (0, 0), second.stderr[-3000:]
    assert first.run_dir.name != second.run_dir.name
    assert kr.release_objects(cluster, second.run_dir.name) == []


def test_ctrl_c_in_the_middle_collects_artifacts_and_cleans_up(cluster: LocalCluster, tmp_path: Path) -> None:
    artifacts = tmp_path / "results"
    proc = kr.start(cluster, artifacts, "--workers", "2", "--helm-values", kr.gate_annotations(run_for="10m"))
    kr.when_event(proc, artifacts, "deployments_available", kr.interrupt(proc))
    result = kr.finish(proc, artifacts)
    assert result.code == 130, result.stderr[-3000:]
    events = [e["event"] for e in result.events()]
    assert "interrupted" in events and "helm_uninstalled" in events
    assert (result.run_dir / "pods.json").is_file() and (result.run_dir / "manifests.yaml").is_file()
    assert kr.release_objects(cluster, result.run_dir.name) == []


def test_two_concurrent_runs_in_two_namespaces_do_not_interfere(cluster: LocalCluster, tmp_path: Path) -> None:
    other = "loadtest-other"
    cluster.kubectl("create", "namespace", other, check=False)
    cluster.kubectl("label", "--overwrite", "namespace", other, "pod-security.kubernetes.io/enforce=restricted")
    passing = kr.start(cluster, tmp_path / "a", "--workers", "2", "--helm-values", kr.gate_annotations(run_for="6s"))
    failing = kr.start(
        cluster, tmp_path / "b", "--workers", "1", "--namespace", other,
        "--helm-values", kr.gate_annotations(outcome="failed", exit_code=1, run_for="6s"),
    )  # fmt: skip
    a, b = kr.finish(passing, tmp_path / "a"), kr.finish(failing, tmp_path / "b")
    assert (a.code, b.code) == (0, 1), (a.stderr[-2000:], b.stderr[-2000:])
    assert sorted(p["component"] for p in json.loads((a.run_dir / "pods.json").read_text())) == [
        "gate", "master", "worker", "worker"
    ]  # fmt: skip
    assert sorted(p["component"] for p in json.loads((b.run_dir / "pods.json").read_text())) == [
        "gate",
        "master",
        "worker",
    ]
    assert kr.release_objects(cluster, a.run_dir.name) == []
    assert kr.release_objects(cluster, b.run_dir.name, namespace=other) == []
