"""Pod Security admission in the `loadtest` namespace (enforce=restricted)."""

from __future__ import annotations

import ipaddress

from clusterkit import get_json, wait_for_condition
from k8s_objects import as_json, pod, privileged_pod, restricted_pod_spec

from loadtest.backends.kubernetes.cluster import LocalCluster


def test_loadtest_namespace_refuses_a_privileged_pod(cluster: LocalCluster, name: str) -> None:
    done = cluster.kubectl("create", "-f", "-", input=as_json(privileged_pod(name, "loadtest")), check=False)
    assert done.returncode == 1
    # Refused by PodSecurity admission (the API server itself allows privileged pods here).
    assert 'violates PodSecurity "restricted:latest"' in done.stderr
    assert 'privileged (container "main" must not set securityContext.privileged=true)' in done.stderr
    assert cluster.kubectl("get", "pod", name, "-n", "loadtest", check=False).returncode == 1


def test_privileged_pod_is_admitted_outside_the_restricted_namespace(cluster: LocalCluster, name: str) -> None:
    """The control case: the same pod passes where no profile is enforced, so PodSecurity refused it above."""
    cluster.kubectl("create", "namespace", name)
    try:
        cluster.kubectl("create", "-f", "-", input=as_json(privileged_pod(name, name)))
        assert get_json(cluster, "pod", name, "-n", name)["spec"]["containers"][0]["securityContext"] == {
            "privileged": True
        }
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false")


def test_loadtest_namespace_admits_a_restricted_pod_and_kwok_makes_it_ready(cluster: LocalCluster, name: str) -> None:
    done = cluster.kubectl("create", "-f", "-", input=as_json(pod(name, "loadtest", restricted_pod_spec())))
    assert "Warning" not in done.stderr  # warn=restricted would print a warning for any violation
    try:
        ready = wait_for_condition(cluster, "pod", name, "Ready")
        assert ready["spec"]["nodeName"] == "kwok-node-0"  # placed by the real scheduler
        assert ready["status"]["phase"] == "Running"
        assert ipaddress.ip_address(ready["status"]["podIP"]) in ipaddress.ip_network("127.16.0.0/16")
    finally:
        cluster.kubectl("delete", "pod", name, "-n", "loadtest", "--wait=false")
