"""Drive `loadtest run --backend kubernetes` as a real subprocess against the test cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loadtest.backends.kubernetes.cluster import LocalCluster

REPO = Path(__file__).resolve().parents[2]
# kwok never runs a container, so no request ever leaves a pod; the host is loopback all the same.
TARGET = "http://127.0.0.1:9"
# kwok's Job stages read these pod annotations (scripts/kwok-stages.yaml)
OUTCOME, EXIT_CODE, RUN_FOR = (
    "loadtest.local/kwok-outcome",
    "loadtest.local/kwok-exit-code",
    "loadtest.local/kwok-run-for",
)


@dataclass
class KubeRun:
    code: int
    stdout: str
    stderr: str
    run_dir: Path

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.run_dir / "events.jsonl").read_text().splitlines()]

    def event(self, name: str) -> dict[str, Any]:
        found = [e for e in self.events() if e["event"] == name]
        assert found, f"no {name!r} event in {[e['event'] for e in self.events()]}"
        return found[-1]


def gate_annotations(*, outcome: str | None = None, exit_code: int | None = None, run_for: str | None = None) -> str:
    annotations = {OUTCOME: outcome, EXIT_CODE: None if exit_code is None else str(exit_code), RUN_FOR: run_for}
    values = {"gate": {"podAnnotations": {k: v for k, v in annotations.items() if v is not None}}}
    return json.dumps(values)


def start(cluster: LocalCluster, artifacts: Path, *args: str, kubeconfig: Path | None = None) -> subprocess.Popen[str]:
    """A run on kwok: loopback host, no waiting for workers that never run."""
    return launch(
        kubeconfig or cluster.kubeconfig, artifacts, "--host", TARGET, "--wait-for-workers", "false",
        "--users", "30", "--duration", "10s", "--start-timeout", "90s", *args,
    )  # fmt: skip


def launch(kubeconfig: Path, artifacts: Path, *args: str) -> subprocess.Popen[str]:
    """`loadtest run --backend kubernetes` as a user would start it (no LOADTEST_* from this shell)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_") or k == "LOADTEST_CACHE"}
    env["NO_COLOR"] = "1"
    argv = [
        sys.executable, "-m", "loadtest", "run", "--backend", "kubernetes", "--kubeconfig", str(kubeconfig),
        "--progress", "plain", "--artifacts-dir", str(artifacts), *args,
    ]  # fmt: skip
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], artifacts: Path, timeout_s: float = 240) -> KubeRun:
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    dirs = sorted(artifacts.glob("*/"))
    assert dirs, f"no run directory under {artifacts}: {stderr[-2000:]}"
    return KubeRun(proc.returncode, stdout, stderr, dirs[-1])


def run(cluster: LocalCluster, artifacts: Path, *args: str, kubeconfig: Path | None = None) -> KubeRun:
    return finish(start(cluster, artifacts, *args, kubeconfig=kubeconfig), artifacts)


def when_event(
    proc: subprocess.Popen[str], artifacts: Path, name: str, then: Callable[[], None], timeout_s: float = 120
) -> None:
    """Call `then` once the run's event log has `name` (the run still going)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before {name!r}: {proc.communicate()[1][-2000:]}"
        for log in artifacts.glob("*/events.jsonl"):
            if any(json.loads(line)["event"] == name for line in log.read_text().splitlines() if line.strip()):
                then()
                return
        time.sleep(0.3)
    raise AssertionError(f"no {name!r} event within {timeout_s} s")


def interrupt(proc: subprocess.Popen[str]) -> Callable[[], None]:
    return lambda: proc.send_signal(signal.SIGINT)


def release_objects(cluster: LocalCluster, release: str, namespace: str = "loadtest") -> list[str]:
    kinds = "deployments,jobs,pods,configmaps,services,persistentvolumeclaims,networkpolicies,secrets"
    done = cluster.kubectl("get", kinds, "-n", namespace, "-l", f"app.kubernetes.io/instance={release}", "-o", "name")
    helm_records = cluster.kubectl("get", "secrets", "-n", namespace, "-l", f"owner=helm,name={release}", "-o", "name")
    return done.stdout.split() + helm_records.stdout.split()


def manifest_kinds(run_dir: Path) -> list[str]:
    return sorted(d["kind"] for d in yaml.safe_load_all((run_dir / "manifests.yaml").read_text()) if d)
