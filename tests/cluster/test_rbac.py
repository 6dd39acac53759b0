"""RBAC and ServiceAccount tokens: a ServiceAccount bound only to a namespaced Role stays in it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from loadtest.backends.kubernetes.cluster import LocalCluster

NAMESPACE = "loadtest"
RUNNER = "t-runner"  # one ServiceAccount for the module, like the chart's in-cluster runner


@pytest.fixture(scope="module")
def runner(cluster: LocalCluster) -> Iterator[str]:
    """A ServiceAccount with a Role on the objects a run manages, and nothing cluster-wide."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": RUNNER, "namespace": NAMESPACE},
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps", "services", "pods", "pods/log"], "verbs": ["*"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]},
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["*"]},
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": RUNNER, "namespace": NAMESPACE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RUNNER},
        "subjects": [{"kind": "ServiceAccount", "name": RUNNER, "namespace": NAMESPACE}],
    }
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": RUNNER, "namespace": NAMESPACE}}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([account, role, binding]))
    yield f"system:serviceaccount:{NAMESPACE}:{RUNNER}"
    cluster.kubectl("delete", "rolebinding,role,serviceaccount", RUNNER, "-n", NAMESPACE, "--wait=false")


def can_i(cluster: LocalCluster, user: str, verb: str, resource: str, *where: str) -> str:
    done = cluster.kubectl("auth", "can-i", verb, resource, f"--as={user}", *where, check=False)
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("verb", "resource"),
    [("create", "deployments.apps"), ("delete", "jobs.batch"), ("create", "configmaps"), ("get", "pods/log")],
)
def test_runner_may_manage_its_objects_in_its_namespace(
    cluster: LocalCluster, runner: str, verb: str, resource: str
) -> None:
    assert can_i(cluster, runner, verb, resource, "-n", NAMESPACE) == "yes"


@pytest.mark.parametrize(
    ("verb", "resource", "where"),
    [
        ("list", "namespaces", ()),
        ("create", "namespaces", ()),
        ("list", "nodes", ()),
        ("create", "clusterroles.rbac.authorization.k8s.io", ()),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io", ()),
        ("create", "customresourcedefinitions.apiextensions.k8s.io", ()),
        ("create", "roles.rbac.authorization.k8s.io", ("-n", NAMESPACE)),  # no escalation of its own rights
        ("create", "secrets", ("-n", NAMESPACE)),
        ("list", "pods", ("-n", "kube-system")),
        ("create", "deployments.apps", ("-n", "default")),
        ("list", "deployments.apps", ("--all-namespaces",)),
    ],
)
def test_runner_may_not_act_outside_its_namespace_or_cluster_wide(
    cluster: LocalCluster, runner: str, verb: str, resource: str, where: tuple[str, ...]
) -> None:
    assert can_i(cluster, runner, verb, resource, *where) == "no"


def test_runner_token_is_issued_and_authenticates_with_only_its_rights(
    cluster: LocalCluster, runner: str, tmp_path: Path
) -> None:
    """A real signed token (TokenRequest), not impersonation: allowed in the namespace, 403 outside."""
    token = cluster.kubectl("create", "token", RUNNER, "-n", NAMESPACE, "--duration=10m").stdout.strip()
    assert token.count(".") == 2  # a JWT signed with the cluster's ServiceAccount key
    only_token = tmp_path / "kubeconfig"  # no client certificate: the token is the only credential
    only_token.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": cluster.api_server_url,
                            "certificate-authority": str(cluster.cluster_dir / "pki" / "ca.crt"),
                        },
                    }
                ],
                "users": [{"name": "runner", "user": {"token": token}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "runner", "namespace": NAMESPACE}}],
                "current-context": "c",
            }
        )
    )

    def as_runner(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(cluster.kubectl_path), "--kubeconfig", str(only_token), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    who = as_runner("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert who.stdout == runner
    allowed = as_runner("get", "deployments", "-n", NAMESPACE)
    assert allowed.returncode == 0, allowed.stderr
    refused = as_runner("get", "namespaces")
    assert refused.returncode == 1
    assert f'User "{runner}" cannot list resource "namespaces"' in refused.stderr
