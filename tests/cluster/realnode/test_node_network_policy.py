"""NetworkPolicy enforced on the real node (kube-router's policy controller, scripts/node-up.sh): the
chart's policies let only the release's own workers reach the master's Locust port and the demo
target, while the same master pod still answers on the port its policy leaves open."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kuberuns as kr
from clusterkit import get_json
from nodekit import last_json, run_pod, start_run

from loadtest.backends.kubernetes.cluster import LocalCluster

# Connects to each (name, host, port) and prints what happened: "connected", "timeout" or the errno.
CONNECT = """
    import errno, json, socket
    out = {}
    for name, host, port in TARGETS:
        s = socket.socket()
        s.settimeout(3)
        try:
            s.connect((host, port))
            out[name] = "connected"
        except socket.timeout:
            out[name] = "timeout"
        except OSError as exc:
            out[name] = errno.errorcode.get(exc.errno, str(exc.errno))
        finally:
            s.close()
    print(json.dumps(out))
"""


def release_parts(cluster: LocalCluster, release: str) -> dict[str, Any]:
    """The release's Services and pods, by component."""
    selector = f"app.kubernetes.io/instance={release}"
    parts: dict[str, Any] = {}
    for kind in ("services", "pods"):
        for item in get_json(cluster, kind, "-n", "loadtest", "-l", selector)["items"]:
            parts[f"{kind[:-1]}/{item['metadata']['labels']['app.kubernetes.io/component']}"] = item
    return parts


def test_a_pod_outside_the_release_reaches_neither_the_masters_locust_port_nor_the_target(
    node_cluster: LocalCluster, tmp_path: Path
) -> None:
    artifacts = tmp_path / "results"
    permissive = tmp_path / "sla.yaml"
    permissive.write_text("version: 1\nmin_samples: {error_rate: 20}\naggregate: {error_rate: '< 1%'}\n")
    proc = start_run(node_cluster, artifacts, "--duration", "30s", "--sla", str(permissive))
    seen: dict[str, str] = {}

    def probe_from_outside() -> None:  # the workers are connected: the master listens on 5557
        parts = release_parts(node_cluster, next(artifacts.glob("*/")).name)
        master, target = parts["service/master"]["metadata"]["name"], parts["service/demo-target"]
        master_ip = parts["pod/master"]["status"]["podIP"]
        targets = [
            ("locust_port", master, 5557),
            ("locust_port_of_the_pod", master_ip, 5557),
            ("metrics_port", master, 9646),  # open to every source (no networkPolicy.metrics.from)
            ("demo_target", target["metadata"]["name"], target["spec"]["ports"][0]["port"]),
        ]
        script = CONNECT.replace("TARGETS", json.dumps(targets))
        phase, logs = run_pod(node_cluster, "outsider", script)
        assert phase == "Succeeded", logs
        seen.update(last_json(logs))

    kr.when_event(proc, artifacts, "workers_connected", probe_from_outside, timeout_s=240)
    result = kr.finish(proc, artifacts)

    # kube-router REJECTs what no policy admits: refused at once, not a silent timeout; the same
    # pod answers on its metrics port, so the refusal is the policy's, not a dead address
    assert seen == {
        "locust_port": "ECONNREFUSED",
        "locust_port_of_the_pod": "ECONNREFUSED",
        "metrics_port": "connected",
        "demo_target": "ECONNREFUSED",
    }, seen
    # ... while the release's own workers reached both: the master (connected) and the target (served)
    assert result.code == 0, result.stderr[-3000:]
    assert result.event("workers_connected")["count"] == 2
    served = json.loads((result.run_dir / "demo-target.json").read_text())["served"]
    stats = json.loads((result.run_dir / "stats.json").read_text())
    assert served > 0 and stats["aggregate"]["num_failures"] == 0, (served, stats["aggregate"])
