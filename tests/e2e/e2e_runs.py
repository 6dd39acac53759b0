"""Helpers for e2e tests that drive `python -m loadtest run` as a real subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psutil

from loadtest.core.processes import alive
from loadtest.stats import windows

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILES = REPO / "locustfiles"


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    run_dir: Path | None
    descendants: set[int] = field(default_factory=set)  # every pid seen under the controller

    def stats(self) -> dict[str, Any]:
        assert self.run_dir is not None
        return cast(dict[str, Any], windows.load(self.run_dir / "stats.json"))  # the windows read back

    def survivors(self) -> list[psutil.Process]:
        procs = []
        for pid in self.descendants:
            with contextlib.suppress(psutil.NoSuchProcess):
                procs.append(psutil.Process(pid))
        return alive(procs)


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_") or k == "LOADTEST_CACHE"}
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "loadtest", "run", "--progress", "plain", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(env),
    )


Action = Callable[[dict[str, Any], "subprocess.Popen[str]", set[int]], bool]


def watch(
    proc: subprocess.Popen[str],
    artifacts: Path,
    timeout_s: float,
    interrupt_when: Any = None,
    act: Action | None = None,
) -> Finished:
    """Wait for the controller, recording every descendant pid; optionally SIGINT it when
    `interrupt_when(status_dict)` becomes true, or call `act(status, proc, pids)` on every
    status until it returns True (it did what it came for)."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout_s
    interrupted = acted = False
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"controller did not finish within {timeout_s} s")
        with contextlib.suppress(psutil.NoSuchProcess):
            seen.update(p.pid for p in psutil.Process(proc.pid).children(recursive=True))
        if interrupt_when is not None and not interrupted:
            status = _status(artifacts)
            if status is not None and interrupt_when(status):
                proc.send_signal(signal.SIGINT)
                interrupted = True
        if act is not None and not acted:
            acted = act(_status(artifacts) or {}, proc, seen)  # {} until the master writes status.json
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    dirs = sorted(artifacts.glob("*/")) if artifacts.is_dir() else []
    return Finished(proc.returncode, stdout, stderr, dirs[-1] if dirs else None, seen)


def _status(artifacts: Path) -> dict[str, Any] | None:
    for path in artifacts.glob("*/status.json"):
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, FileNotFoundError):
            return None
        return data if isinstance(data, dict) else None
    return None


def run(
    args: list[str],
    artifacts: Path,
    timeout_s: float = 180,
    env: dict[str, str] | None = None,
    act: Action | None = None,
) -> Finished:
    return watch(start([*args, "--artifacts-dir", str(artifacts)], env), artifacts, timeout_s, act=act)


def locust_processes(pids: set[int], role: str) -> list[psutil.Process]:
    """The run's live Locust processes of one role ('--master' or '--worker')."""
    out = []
    for pid in sorted(pids):
        with contextlib.suppress(psutil.NoSuchProcess):
            proc = psutil.Process(pid)
            if proc.name().startswith(f"locust-{role.lstrip('-')}"):  # named by loadtest.locust.forking
                out.append(proc)
    return out


def verdict(result: Finished) -> dict[str, Any]:
    assert result.run_dir is not None, result.stderr
    data: dict[str, Any] = json.loads((result.run_dir / "verdict.json").read_text())
    return data


def check(data: dict[str, Any], metric: str) -> dict[str, Any]:
    """The one run check of verdict.json with this metric."""
    found = [c for c in data["checks"] if c["metric"] == metric]
    assert len(found) == 1, (metric, [c["metric"] for c in data["checks"]])
    return found[0]


def one_get_locustfile(path: str, wait_s: float, prelude: str = "") -> str:
    """A locustfile whose one FastHttpUser GETs `path` every `wait_s` seconds."""
    return f"""{prelude}
from locust import FastHttpUser, task, constant

class U(FastHttpUser):
    wait_time = constant({wait_s})

    @task
    def home(self):
        self.client.get("{path}")
"""
