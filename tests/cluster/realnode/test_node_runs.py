"""Load tests whose requests flow through pods: master, workers, gate and the demo target run from
the runner image on the real node; workers reach the master through its Service, the controller
waits for them through the API server's service proxy, and the gate Job judges the real stats."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import kuberuns as kr
from clusterkit import get_json, wait_until
from nodekit import NODE_NAME, start_run

from loadtest.backends.kubernetes.cluster import LocalCluster

REPORT_INTERVAL_S = 3.0  # Locust workers report to the master every 3 s


def sla(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sla.yaml"
    path.write_text(text)
    return path


def test_a_run_against_the_in_cluster_demo_target_counts_what_it_served(
    node_cluster: LocalCluster, tmp_path: Path
) -> None:
    artifacts = tmp_path / "results"
    permissive = sla(tmp_path, "version: 1\nmin_samples: {error_rate: 20}\naggregate: {error_rate: '< 1%'}\n")
    proc = start_run(node_cluster, artifacts, "--duration", "20s", "--sla", str(permissive))
    pods: list[dict[str, Any]] = []

    def look() -> None:  # the load runs: where do its pods run?
        release = next(artifacts.glob("*/")).name
        listed = node_cluster.kubectl("get", "pods", "-n", "loadtest", "-o", "json",
                                      "-l", f"app.kubernetes.io/instance={release}")  # fmt: skip
        pods.extend(json.loads(listed.stdout)["items"])

    kr.when_event(proc, artifacts, "workers_connected", look, timeout_s=240)
    result = kr.finish(proc, artifacts)
    assert result.code == 0, result.stderr[-3000:]

    # every component ran from the image on the real node, and the controller saw the workers connect
    components = sorted(p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods)
    assert components == ["demo-target", "gate", "master", "worker", "worker"], components
    assert {p["spec"]["nodeName"] for p in pods} == {NODE_NAME}
    assert result.event("workers_connected")["count"] == 2

    # the gate Job judged the real stats.json: PASS, on requests the target itself counted (collected
    # by the controller through the API server before the release went)
    verdict = json.loads((result.run_dir / "verdict.json").read_text())
    assert verdict["outcome"] == "PASS", verdict["reason"]
    stats = json.loads((result.run_dir / "stats.json").read_text())
    total = stats["aggregate"]["num_requests"]
    assert total >= 20 and stats["complete"] is True
    seconds = stats["ended_at"] - stats["started_at"]
    target = json.loads((result.run_dir / "demo-target.json").read_text())
    assert abs(target["served"] - total) <= max(2, total / seconds * REPORT_INTERVAL_S), (target["served"], total)
    assert kr.release_objects(node_cluster, result.run_dir.name) == []


def test_a_slowed_endpoint_fails_the_run(node_cluster: LocalCluster, tmp_path: Path) -> None:
    artifacts = tmp_path / "results"
    strict = sla(tmp_path, "version: 1\nmin_samples: {p95: 10}\naggregate: {p95: '< 250', min_requests: 20}\n")
    slowed = json.dumps({"demoTarget": {"slow": ["GET /api/products/{id}=300"]}})  # ~23 % of the requests
    result = kr.finish(start_run(node_cluster, artifacts, "--duration", "20s", "--sla", str(strict),
                                 "--helm-values", slowed), artifacts, timeout_s=300)  # fmt: skip
    assert result.code == 1, result.stderr[-3000:]
    verdict = json.loads((result.run_dir / "verdict.json").read_text())
    assert verdict["outcome"] == "FAIL"
    p95 = next(c for c in verdict["checks"] if c["metric"] == "p95" and c["subject"] == "aggregate")
    assert p95["result"] == "fail" and p95["measured"] >= 300, p95


def test_ctrl_c_mid_run_exits_130_and_leaves_no_release(node_cluster: LocalCluster, tmp_path: Path) -> None:
    artifacts = tmp_path / "results"
    proc = start_run(node_cluster, artifacts, "--duration", "60s")
    kr.when_event(proc, artifacts, "workers_connected", kr.interrupt(proc), timeout_s=240)
    result = kr.finish(proc, artifacts)
    assert result.code == 130, result.stderr[-3000:]
    assert "helm_uninstalled" in [e["event"] for e in result.events()]
    assert kr.release_objects(node_cluster, result.run_dir.name) == []


def test_a_worker_pod_deleted_mid_run_is_never_a_silent_pass(node_cluster: LocalCluster, tmp_path: Path) -> None:
    artifacts = tmp_path / "results"
    proc = start_run(node_cluster, artifacts, "--duration", "40s")
    deleted: list[str] = []

    def delete_a_worker() -> None:
        release = next(artifacts.glob("*/")).name
        time.sleep(8)  # into the run: users spawned, reports flowing
        workers = f"app.kubernetes.io/instance={release},app.kubernetes.io/component=worker"
        pods = node_cluster.kubectl("get", "pods", "-n", "loadtest", "-o", "name", "-l", workers)
        deleted.append(pods.stdout.split()[0])
        node_cluster.kubectl("delete", "-n", "loadtest", deleted[0], "--grace-period=0", "--force", "--wait=false")

    kr.when_event(proc, artifacts, "workers_connected", delete_a_worker, timeout_s=240)
    result = kr.finish(proc, artifacts, timeout_s=300)
    assert deleted
    verdict = json.loads((result.run_dir / "verdict.json").read_text())
    assert result.code == 3 and verdict["outcome"] == "INCONCLUSIVE", (result.code, verdict["reason"])
    lost = next(c for c in verdict["checks"] if c["metric"] == "workers_lost")
    assert lost["result"] != "pass" and lost["measured"] >= 1, lost


def test_the_cronjob_runs_the_controller_in_a_pod_and_ends_with_the_nights_verdict(
    node_cluster: LocalCluster, tmp_path: Path
) -> None:
    """The chart's CronJob, triggered as `kubectl create job --from=cronjob/...`: the controller runs in
    a pod under the chart's ServiceAccount and namespaced Role, installs the night's release (no
    host: its own demo target), waits for the gate and exits with its verdict."""
    release = "nightly"
    values = {
        "cron": {"enabled": True, "suspend": True, "env": {
            "LOADTEST_USERS": "100", "LOADTEST_SPAWN_RATE": "50", "LOADTEST_DURATION": "30s",
        }},
        "gate": {"enabled": False},
        "run": {"users": 1},
    }  # fmt: skip
    (tmp_path / "values.yaml").write_text(json.dumps(values))
    helm = [str(Path(node_cluster.kubectl_path).with_name("helm")), "--kubeconfig", str(node_cluster.kubeconfig)]
    subprocess.run([*helm, "install", release, str(kr.REPO / "charts/loadtest"), "-n", "loadtest",
                    "-f", str(tmp_path / "values.yaml")], check=True, capture_output=True)  # fmt: skip
    try:
        node_cluster.kubectl("create", "job", "-n", "loadtest", "night", f"--from=cronjob/{release}-loadtest-scheduled")

        def ended() -> str | None:
            status = get_json(node_cluster, "job", "night", "-n", "loadtest").get("status", {})
            return "succeeded" if status.get("succeeded") else "failed" if status.get("failed") else None

        outcome = wait_until("the night's Job to end", ended, timeout=300)
        log = node_cluster.kubectl("logs", "-n", "loadtest", "job/night").stdout
        assert outcome == "succeeded", log[-3000:]
        assert "on Kubernetes: exit 0 (gate Job succeeded)" in log
        night = re.search(r"installing release (\S+) ", log)
        assert night is not None
        assert kr.release_objects(node_cluster, night.group(1)) == []  # the night's release is gone
    finally:
        node_cluster.kubectl("delete", "job", "-n", "loadtest", "night", "--ignore-not-found", "--wait=false")
        subprocess.run([*helm, "uninstall", release, "-n", "loadtest", "--wait"], check=False, capture_output=True)


def test_websocket_users_hold_their_connections_through_pods(node_cluster: LocalCluster, tmp_path: Path) -> None:
    """Issue 15 on Kubernetes: the realtime scenario's traders hold WebSocket sessions to the
    in-cluster demo target; nothing special in the chart. Every connection, call and push the
    platform recorded is one the target counted."""
    artifacts = tmp_path / "results"
    result = kr.finish(start_run(node_cluster, artifacts, "--scenario", "realtime", "--users", "80",
                                 "--spawn-rate", "40", "--duration", "45s"), artifacts, timeout_s=300)  # fmt: skip
    verdict = json.loads((result.run_dir / "verdict.json").read_text())
    assert result.code == 0 and verdict["outcome"] == "PASS", (result.code, verdict["reason"])
    served = json.loads((result.run_dir / "demo-target.json").read_text())["websocket"]
    stats = json.loads((result.run_dir / "stats.json").read_text())
    by_type: dict[str, int] = {}
    for endpoint in stats["endpoints"]:
        by_type[endpoint["method"]] = by_type.get(endpoint["method"], 0) + endpoint["num_requests"]
    assert by_type["WSCONNECT"] == served["WS accepted"] == 80 and served["WS dropped"] == 0
    assert by_type["WSCALL"] == served["WS received"] == served["WS replied"] > 80
    assert by_type["WSPUSH"] == served["WS pushed"] > 80 * 20  # one a second per connection
