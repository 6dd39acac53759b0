"""The controller needs nothing beyond the chart's namespaced Role, and that Role grants nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kuberuns as kr
import pytest
import yaml

from loadtest.backends.kubernetes.cluster import LocalCluster
from loadtest.backends.kubernetes.rendering import render

NAMESPACE = "loadtest"
RUNNER_RELEASE = "rbac-runner"  # a release that only creates the runner's ServiceAccount, Role and RoleBinding


@pytest.fixture(scope="module")
def runner(cluster: LocalCluster) -> Iterator[str]:
    """The chart's own runner identity (ServiceAccount + Role + RoleBinding), applied as rendered."""
    objects = render(
        {"rbac": {"create": True}, "serviceAccount": {"create": True}}, release=RUNNER_RELEASE, namespace=NAMESPACE
    )
    rbac = [o for o in objects if o["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    assert sorted(o["kind"] for o in rbac) == ["Role", "RoleBinding", "ServiceAccount"]
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    cluster.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=yaml.safe_dump_all(rbac))
    account = next(o["metadata"]["name"] for o in rbac if o["kind"] == "ServiceAccount")
    yield account
    for o in rbac:
        cluster.kubectl(
            "delete", o["kind"].lower(), o["metadata"]["name"], "-n", NAMESPACE, "--wait=false", check=False
        )


def _kubeconfig_for(cluster: LocalCluster, account: str, path: Path) -> Path:
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    token = cluster.kubectl("create", "token", account, "-n", NAMESPACE, "--duration", "1h").stdout.strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": admin["clusters"][0]["cluster"]}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "runner", "context": {"cluster": "local", "user": account, "namespace": NAMESPACE}}],
        "current-context": "runner",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_run_works_under_only_the_charts_namespaced_role(cluster: LocalCluster, runner: str, tmp_path: Path) -> None:
    kubeconfig = _kubeconfig_for(cluster, runner, tmp_path / "runner.kubeconfig")
    # As the CronJob's in-cluster controller runs it: no extra values (a run's release creates no
    # RBAC of its own, which this Role could not grant).
    result = kr.run(cluster, tmp_path / "results", "--workers", "2", kubeconfig=kubeconfig)
    assert result.code == 0, result.stderr[-3000:]
    assert kr.release_objects(cluster, result.run_dir.name) == []


ALLOWED = [
    ("create", "deployments.apps"), ("delete", "jobs.batch"), ("create", "configmaps"), ("create", "secrets"),
    ("create", "persistentvolumeclaims"), ("create", "networkpolicies.networking.k8s.io"), ("get", "pods/log"),
    ("get", "services/proxy"), ("list", "events"),
]  # fmt: skip
DENIED = [
    ("list", "namespaces", ()), ("create", "namespaces", ()), ("list", "nodes", ()),
    ("create", "clusterroles.rbac.authorization.k8s.io", ()),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", ()),
    ("create", "persistentvolumes", ()), ("create", "customresourcedefinitions.apiextensions.k8s.io", ()),
    ("create", "roles.rbac.authorization.k8s.io", ()), ("create", "rolebindings.rbac.authorization.k8s.io", ()),
    ("create", "pods/exec", ()), ("get", "pods", ("-n", "kube-system")),
    ("create", "deployments.apps", ("-n", "default")),
    ("list", "pods", ("--all-namespaces",)), ("list", "secrets", ("-n", "kube-system")),
]  # fmt: skip


def _can_i(cluster: LocalCluster, account: str, verb: str, resource: str, *where: str) -> str:
    user = f"--as=system:serviceaccount:{NAMESPACE}:{account}"
    args = where if where else ("-n", NAMESPACE)
    return cluster.kubectl("auth", "can-i", verb, resource, user, *args, check=False).stdout.strip()


@pytest.mark.parametrize(("verb", "resource"), ALLOWED)
def test_the_role_allows_what_a_run_needs_in_its_namespace(
    cluster: LocalCluster, runner: str, verb: str, resource: str
) -> None:
    assert _can_i(cluster, runner, verb, resource) == "yes"


@pytest.mark.parametrize(("verb", "resource", "where"), DENIED)
def test_the_role_allows_nothing_outside_the_namespace_nor_cluster_scoped_writes(
    cluster: LocalCluster, runner: str, verb: str, resource: str, where: tuple[str, ...]
) -> None:
    assert _can_i(cluster, runner, verb, resource, *where) == "no"
