"""Helpers of the real-node tier: run a one-shot pod of the runner image and read what it printed."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from clusterkit import get_json, wait_until
from kuberuns import launch

from loadtest.backends.kubernetes.cluster import LocalCluster

BRIDGE = "ltnode0"  # scripts/node-lib.sh
GUARD_TABLE = "loadtest_node_guard"
NODE_NAME = "loadtest-node"
IMAGE = "loadtest-runner:0.1.0"  # imported by node-up from `make image`'s archive (never pulled)
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def run_pod(cluster: LocalCluster, name: str, script: str, timeout: float = 120) -> tuple[str, str]:
    """Run `script` (Python) in a pod of the runner image in the restricted namespace; return
    (phase, logs) once the pod has ended."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "loadtest"},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "probe",
                "image": IMAGE,
                "imagePullPolicy": "Never",
                "command": ["python", "-c", textwrap.dedent(script)],
                "securityContext": RESTRICTED,
            }],
        },
    }  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))

    def ended() -> str | None:
        phase = get_json(cluster, "pod", name, "-n", "loadtest").get("status", {}).get("phase")
        return phase if phase in ("Succeeded", "Failed") else None

    phase = wait_until(f"pod {name} to end", ended, timeout=timeout)
    logs = cluster.kubectl("logs", "-n", "loadtest", name).stdout
    cluster.kubectl("delete", "pod", "-n", "loadtest", name, "--wait=false")
    return str(phase), logs


def last_json(logs: str) -> Any:
    """The last line the pod printed, as JSON."""
    return json.loads(logs.strip().splitlines()[-1])


def start_run(cluster: LocalCluster, artifacts: Path, *args: str) -> subprocess.Popen[str]:
    """`loadtest run --backend kubernetes` with no host: the release's own demo target is the target."""
    return launch(cluster.kubeconfig, artifacts, "--scenario", "api_browsing", "--users", "20",
                  "--spawn-rate", "20", "--workers", "2", "--start-timeout", "120s", *args)  # fmt: skip
