"""The chart's gate Job script, executed for real: the gate's exit code survives, and the run's
artifacts come out in the log for the controller to unpack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.backends.kubernetes.bundle import extract
from loadtest.backends.kubernetes.rendering import render
from loadtest.stats.artifact import STATS_SCHEMA_V1
from loadtest.stats.recording import RunAggregate, WindowRecorder

GATE_VALUES = {
    "run": {"id": "nightly"},
    "sla": {"file": "checkout/sla.yaml"},
    "gate": {"enabled": True, "waitTimeoutSeconds": 5},
    "artifacts": {"persistence": {"enabled": True}},
    "locustfiles": {
        "files": {"checkout/locustfile.py": "# x\n", "checkout/sla.yaml": "version: 1\n"},
        "locustfile": "checkout/locustfile.py",
    },
}


def _stats(run_dir: Path, latency_ms: float) -> None:
    recorder = WindowRecorder()
    for i in range(200):
        recorder.record("GET", "/api/items", latency_ms, False, now=1000.0 + i * 0.1)
    master = RunAggregate()
    master.add_windows(recorder.drain(), users=10)
    sample = {"t": 1010.0, "cpu_percent": 10.0, "loop_lag_ms": 1.0, "loop_lag_max_ms": 2.0,
              "runqueue_wait_percent": 1.0, "users": 10}  # fmt: skip
    artifact = {
        "schema": STATS_SCHEMA_V1, "run_id": "nightly", "scenario": "checkout", "host": "http://127.0.0.1:9",
        "bucket_scheme": "sig3-ms", "interval_s": 1.0, "started_at": 999.0, "spawn_complete_at": 999.5,
        "ended_at": 1021.0, "target_users": 10, "planned_rps": None, "worker_count_expected": 1, "complete": True,
        "endpoints": [e.to_stats() for e in master.endpoints()], "aggregate": master.total().to_stats(),
        "intervals": master.interval_stats(), "errors": [],
        "workers": [{"id": "w1", "index": 0, "state": "stopped", "lost": False, "num_requests": 200,
                     "samples": [sample, {**sample, "t": 1013.0}, {**sample, "t": 1016.0}]}],
        "events": [], "locust_totals": {"num_requests": 200, "num_failures": 0},
    }  # fmt: skip
    run_dir.mkdir(parents=True)
    (run_dir / "stats.json").write_text(json.dumps(artifact))
    (run_dir / "locust_report.html").write_text("<html>locust</html>")


@pytest.mark.parametrize(("latency_ms", "code", "outcome"), [(20.0, 0, "PASS"), (900.0, 1, "FAIL")])
def test_the_gate_job_script_keeps_the_verdict_exit_code_and_ships_the_artifacts(
    tmp_path: Path, latency_ms: float, code: int, outcome: str
) -> None:
    job = next(o for o in render(GATE_VALUES, release="nightly", namespace="loadtest") if o["kind"] == "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    script = container["command"][2]
    run_dir = tmp_path / "artifacts" / "nightly"
    _stats(run_dir, latency_ms)
    sla = tmp_path / "sla.yaml"
    sla.write_text("version: 1\naggregate:\n  p95: '< 100'\n")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "LOADTEST_GATE_WAIT_S": "5",
        "LOADTEST_GATE_STATS": str(run_dir / "stats.json"),
        "LOADTEST_GATE_SLA": str(sla),
        "LOADTEST_GATE_OUT": str(run_dir / "gate"),
        "LOADTEST_NAMESPACE": "loadtest",
        "LOADTEST_MASTER": "nightly-master",
        "NO_COLOR": "1",
    }
    done = subprocess.run(["/bin/sh", "-c", script, "gate"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == code, done.stderr[-2000:]
    assert f"verdict: {outcome}" in done.stdout
    out = tmp_path / "collected"
    names = extract(done.stdout, out)
    assert {"stats.json", "locust_report.html", "gate/verdict.json", "gate/junit.xml"} <= set(names)
    assert json.loads((out / "gate" / "verdict.json").read_text())["outcome"] == outcome
    assert (out / "stats.json").read_bytes() == (run_dir / "stats.json").read_bytes()
