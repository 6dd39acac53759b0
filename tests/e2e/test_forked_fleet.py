"""The master and the workers are forked from one process that imported Locust once
(loadtest.locust.forking), and the controller owns them as it owns the processes it starts itself:
they are its children, each in its own session, named, and they die with it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import e2e_runs as runs
import psutil

from loadtest.core.processes import alive


def _fleet(pids: set[int]) -> dict[str, psutil.Process]:
    out = {}
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.name().startswith("locust-"):
                out[proc.name()] = proc
        except psutil.NoSuchProcess:
            pass
    return out


def _run(tmp_path: Path, host: str, duration: str, act: runs.Action) -> runs.Finished:
    path = tmp_path / "locustfile.py"
    path.write_text(runs.one_get_locustfile("/healthz", 0.1))
    args = ["--locustfiles", str(path), "--host", host, "--users", "4", "--workers", "2", "--duration", duration]
    return runs.run([*args, "--no-gate"], tmp_path / "results", act=act)


def test_the_forked_master_and_workers_are_the_controllers_own_children(tmp_path: Path, demo_target: Any) -> None:
    seen: dict[str, Any] = {}

    def inspect(status: dict[str, Any], proc: Any, pids: set[int]) -> bool:
        if status.get("state") != "running":
            return False
        fleet = _fleet(pids)
        seen["names"] = sorted(fleet)
        seen["parents"] = {name: p.ppid() for name, p in fleet.items()}
        seen["sessions"] = {name: os.getsid(p.pid) == p.pid for name, p in fleet.items()}
        seen["pids"] = {name: p.pid for name, p in fleet.items()}
        seen["controller"] = proc.pid
        seen["forking"] = [  # the process that forked them is gone once they run
            p.pid for p in alive([psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)])
            if not p.name().startswith("locust-") and "loadtest.locust.forking" in " ".join(p.cmdline())
        ]  # fmt: skip
        return True

    result = _run(tmp_path, demo_target.url, "4s", inspect)
    assert result.code == 0, result.stderr[-3000:]
    assert seen["names"] == ["locust-master", "locust-worker-0", "locust-worker-1"], seen
    assert set(seen["parents"].values()) == {seen["controller"]}, seen
    assert all(seen["sessions"].values()), seen
    assert seen["forking"] == [], seen
    assert result.run_dir is not None
    events = [json.loads(line) for line in (result.run_dir / "events.jsonl").read_text().splitlines()]
    kinds = ("master_started", "worker_started")
    started = {e["event"] + str(e.get("index", "")): e["pid"] for e in events if e["event"] in kinds}
    assert started == {
        "master_started": seen["pids"]["locust-master"],
        "worker_started0": seen["pids"]["locust-worker-0"],
        "worker_started1": seen["pids"]["locust-worker-1"],
    }
    # each wrote its own log, and the master saw both workers
    logs = result.run_dir / "logs"
    assert "Starting Locust" in (logs / "worker-0.log").read_text()
    assert "Starting Locust" in (logs / "worker-1.log").read_text()
    assert "2 workers connected" in (logs / "master.log").read_text()
    assert result.stats()["aggregate"]["num_requests"] > 0
    assert result.survivors() == []


def test_a_killed_controller_takes_the_forked_fleet_with_it(tmp_path: Path, demo_target: Any) -> None:
    fleet: list[psutil.Process] = []

    def kill_controller(status: dict[str, Any], proc: Any, pids: set[int]) -> bool:
        if status.get("state") != "running":
            return False
        fleet.extend(_fleet(pids).values())
        proc.send_signal(signal.SIGKILL)
        return True

    result = _run(tmp_path, demo_target.url, "60s", kill_controller)
    assert result.code == -signal.SIGKILL
    assert len(fleet) == 3, fleet
    deadline = time.monotonic() + 10
    while alive(fleet) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive(fleet) == [], "the forked master and workers outlived their controller"
