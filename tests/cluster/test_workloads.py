"""The Deployment, ReplicaSet and Job controllers acting on kwok's fake pods."""

from __future__ import annotations

from datetime import datetime

from clusterkit import condition, get_json, wait_for_condition, wait_until
from k8s_objects import EXIT_CODE, FAILED_OUTCOME, RUN_FOR, as_json, claim, deployment, job, pod, restricted_pod_spec

from loadtest.backends.kubernetes.cluster import LocalCluster


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


def test_job_annotated_to_run_for_a_while_stays_running_that_long(cluster: LocalCluster, name: str) -> None:
    """kwok-run-for acts out a gate that takes time (e.g. for an interrupt in the middle of a run)."""
    cluster.kubectl("create", "-f", "-", input=as_json(job(name, "loadtest", {RUN_FOR: "3s"})))
    try:
        running = wait_until(
            f"a Running pod of job {name}",
            lambda: [
                p
                for p in get_json(cluster, "pods", "-l", f"job-name={name}")["items"]
                if p["status"].get("phase") == "Running"
            ],
        )
        assert len(running) == 1
        finished = wait_for_condition(cluster, "job", name, "Complete")
        started = datetime.fromisoformat(finished["status"]["startTime"])
        completed = datetime.fromisoformat(finished["status"]["completionTime"])
        assert (completed - started).total_seconds() >= 3
        assert finished["status"]["succeeded"] == 1
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


def test_claim_binds_through_the_default_storage_class_and_its_volume_goes_with_it(
    cluster: LocalCluster, name: str
) -> None:
    """The chart's artifacts PVC (shared by master and gate) must bind, or their pods never schedule."""
    volume = {"name": "data", "persistentVolumeClaim": {"claimName": name}}
    user = pod(name, "loadtest", restricted_pod_spec(volumes=[volume]))
    user["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    cluster.kubectl("create", "-f", "-", input=as_json(claim(name, "loadtest"), user))
    volume_name = ""
    try:
        bound = wait_until(
            f"claim {name} Bound", lambda: (c := get_json(cluster, "pvc", name))["status"].get("phase") == "Bound" and c
        )
        assert bound["spec"]["storageClassName"] == "standard"
        volume_name = bound["spec"]["volumeName"]
        assert wait_for_condition(cluster, "pod", name, "Ready")["spec"]["nodeName"] == "kwok-node-0"
    finally:
        cluster.kubectl("delete", "pod", name, "--wait=false")
        cluster.kubectl("delete", "pvc", name, "--wait=false")
    wait_until(
        f"volume {volume_name} deleted with its claim",
        lambda: cluster.kubectl("get", "pv", volume_name, check=False).returncode == 1,
    )
