"""The Deployment, ReplicaSet and Job controllers acting on kwok's fake pods."""

from __future__ import annotations

from clusterkit import condition, get_json, wait_for_condition, wait_until
from k8s_objects import EXIT_CODE, FAILED_OUTCOME, as_json, deployment, job
from loadtest.cluster import LocalCluster


def test_deployment_with_two_replicas_becomes_available(cluster: LocalCluster, name: str) -> None:
    cluster.kubectl("create", "-f", "-", input=as_json(deployment(name, "loadtest", replicas=2)))
    try:
        status = wait_until(
            f"deployment {name} with 2 ready replicas",
            lambda: (d := get_json(cluster, "deployment", name))["status"].get("readyReplicas") == 2 and d,
        )["status"]
        assert condition(get_json(cluster, "deployment", name), "Available") == "True"
        assert status["availableReplicas"] == 2
        assert status["updatedReplicas"] == 2
        pods = get_json(cluster, "pods", "-l", f"app.kubernetes.io/name={name}")["items"]
        assert sorted(p["status"]["phase"] for p in pods) == ["Running", "Running"]
        assert {p["spec"]["nodeName"] for p in pods} == {"kwok-node-0"}
        assert {ref["kind"] for p in pods for ref in p["metadata"]["ownerReferences"]} == {"ReplicaSet"}
    finally:
        cluster.kubectl("delete", "deployment", name, "--wait=false")


def test_job_succeeds_on_the_kwok_node(cluster: LocalCluster, name: str) -> None:
    cluster.kubectl("create", "-f", "-", input=as_json(job(name, "loadtest")))
    try:
        finished = wait_for_condition(cluster, "job", name, "Complete")
        assert finished["status"]["succeeded"] == 1
        assert finished["status"].get("failed", 0) == 0
        pod = get_json(cluster, "pods", "-l", f"job-name={name}")["items"][0]
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    finally:
        cluster.kubectl("delete", "job", name, "--cascade=foreground", "--wait=false")


def test_job_annotated_to_fail_fails_with_the_requested_exit_code(cluster: LocalCluster, name: str) -> None:
    cluster.kubectl(
        "create", "-f", "-", input=as_json(job(name, "loadtest", {FAILED_OUTCOME: "failed", EXIT_CODE: "3"}))
    )
    try:
        finished = wait_for_condition(cluster, "job", name, "Failed")
        assert finished["status"]["failed"] == 1
        assert finished["status"].get("succeeded", 0) == 0
        assert condition(finished, "Complete") is None
        pod = get_json(cluster, "pods", "-l", f"job-name={name}")["items"][0]
        assert pod["status"]["phase"] == "Failed"
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    finally:
        cluster.kubectl("delete", "job", name, "--cascade=foreground", "--wait=false")


def test_pod_logs_are_served_and_say_no_container_ran(cluster: LocalCluster, name: str) -> None:
    cluster.kubectl("create", "-f", "-", input=as_json(deployment(name, "loadtest", replicas=1)))
    try:
        pod = wait_until(
            f"a Running pod of deployment {name}",
            lambda: next(
                (
                    p["metadata"]["name"]
                    for p in get_json(cluster, "pods", "-l", f"app.kubernetes.io/name={name}")["items"]
                    if p["status"].get("phase") == "Running"
                ),
                None,
            ),
        )
        logs = cluster.kubectl("logs", pod, "-c", "main").stdout
        assert logs.strip() == "kwok plays the kubelet: no container ran, so there are no container logs."
    finally:
        cluster.kubectl("delete", "deployment", name, "--wait=false")
