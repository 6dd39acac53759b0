"""An hour of windows through a real Locust master, then Ctrl-C: every window is kept, and read fast.

A scripted worker (scripted_worker.py, Locust's own protocol and the run's proof) replays a long
run at full speed into a real master process with the plugin; the master is then interrupted
with SIGINT as a user's Ctrl-C would, at the end of the run, when the most is at stake.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from loadtest.core.processes import free_port
from loadtest.stats import artifact, windows

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SECONDS = 3600
ENDPOINTS = 60

IDLE = """
from locust import User, task, constant

class Idle(User):
    wait_time = constant(60)

    @task
    def nothing(self):
        pass
"""


def test_a_long_run_interrupted_at_its_end_keeps_every_window(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    locustfile = tmp_path / "idle.py"
    locustfile.write_text(IDLE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
    env.update(PYTHONPATH=str(REPO / "operator"), LOADTEST_RUN_SECRET="d" * 64)
    port = free_port()
    master = subprocess.Popen(
        [sys.executable, "-m", "loadtest.locust.agent", "-f", str(locustfile), "--master", "--headless",
         "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "--expect-workers", "1",
         "-u", "1", "-r", "1", "-t", "900s", "-H", "http://127.0.0.1:9", "--loadtest-run-id", "long",
         "--loadtest-artifacts", str(artifacts), "--loadtest-expect-workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "master.log").open("wb"),
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "scripted_worker.py"), str(port), str(SECONDS), str(ENDPOINTS)],
        env=env, stdout=subprocess.PIPE, stderr=(tmp_path / "worker.log").open("wb"), text=True,
    )  # fmt: skip
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        assert line.startswith("sent "), (tmp_path / "worker.log").read_text()[-3000:]
        sent = int(line.split()[1])
        status = artifacts / artifact.STATUS_FILE
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the master has merged every report it was sent
            if status.exists() and json.loads(status.read_text() or "{}").get("requests") == sent:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the master never merged the {sent} requests sent: {status.read_text()}")
        interrupted = time.monotonic()
        master.send_signal(signal.SIGINT)  # Ctrl-C at the end of a long run
        assert master.wait(timeout=60) is not None
        stopped_s = time.monotonic() - interrupted
        worker.wait(timeout=30)
    finally:
        for proc in (master, worker):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    log = (tmp_path / "master.log").read_text()
    stats_path = artifacts / artifact.STATS_FILE
    assert stats_path.is_file(), log[-3000:]
    summary = artifact.load(stats_path)
    assert summary["schema"] == artifact.STATS_SCHEMA and summary["complete"], summary["events"]
    assert summary["aggregate"]["num_requests"] == sent
    assert len(summary["windows"]["index"]) == SECONDS and not summary["windows"]["late"]
    full = windows.load(stats_path)
    assert len(full["intervals"]) == SECONDS
    assert sum(e["num_requests"] for i in full["intervals"] for e in i["endpoints"]) == sent
    assert all(len(i["endpoints"]) == ENDPOINTS for i in full["intervals"])
    size = stats_path.stat().st_size + (artifacts / windows.WINDOWS_FILE).stat().st_size
    # The gate reads the summary and the warm-up windows only: fast on an hour of windows.
    sla = tmp_path / "sla.yaml"
    sla.write_text("version: 1\nwarmup: 60\naggregate: {error_rate: '< 10%', p95: 100000}\n")
    began = time.monotonic()
    gate = subprocess.run(
        [sys.executable, "-m", "loadtest", "gate", "--stats", str(stats_path), "--sla", str(sla), "--out",
         str(tmp_path / "gate")], env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    gate_s = time.monotonic() - began
    verdict = json.loads((tmp_path / "gate" / "verdict.json").read_text())
    judged = next(c for c in verdict["checks"] if c["metric"] == "requests")
    first_judged = float(verdict["window"]["start"])
    expected = sum(e["num_requests"] for i in full["intervals"] if i["t"] >= first_judged for e in i["endpoints"])
    print(
        f"\n{SECONDS} windows x {ENDPOINTS} endpoints, {sent} requests: stopped {stopped_s:.1f} s after SIGINT; "
        f"stats.json + window log {size / 2**20:.1f} MiB; gate {gate_s:.2f} s ({verdict['outcome']})"
    )
    assert gate.returncode in (0, 3), gate.stderr[-3000:]
    assert int(judged["measured"]) == expected and expected < sent  # exactly the windows after the warm-up
