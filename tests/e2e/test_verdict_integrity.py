"""The verdict cannot be forged or faked: rogue workers, escaping requests, runs without evidence.

Every case drives the real controller (`python -m loadtest run`) with real Locust
processes; decoy servers listen on loopback (127.0.0.1 and 127.0.0.2, both this
machine) and count what reaches them. Each test asserts the exit code, the
verdict, the artifacts and that no process survives.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import e2e_runs as runs
import psutil
import pytest

SLOW_SLA = "version: 1\naggregate:\n  p95: '< 150'\n  min_requests: 20\n"


class Decoy:
    """A loopback HTTP server that counts every request it receives, by path."""

    def __init__(self, host: str, *, redirect_to: str | None = None, status: int = 200, delay_s: float = 0.0) -> None:
        self.hits: list[str] = []
        decoy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                decoy.hits.append(self.path)
                if delay_s:
                    time.sleep(delay_s)
                if redirect_to is not None and self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("Location", redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def outside() -> Iterator[Decoy]:
    """A host the runs are never allowed to reach (127.0.0.2: loopback, but not the target)."""
    decoy = Decoy("127.0.0.2")
    yield decoy
    decoy.stop()


def _locustfile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "locustfile.py"
    path.write_text(text)
    return path


def _no_survivors(result: runs.Finished) -> None:
    assert result.survivors() == [], [p.cmdline() for p in result.survivors()]


# Rogue workers ---------------------------------------------------------------------------------

ROGUE = """
import time
from locust import User, task, constant

class Forger(User):
    wait_time = constant(0.01)

    @task
    def fake(self):
        self.environment.events.request.fire(
            request_type="GET", name="/forged", response_time=1.0, response_length=0,
            exception=None, context={}, start_time=time.time(), url="/forged",
        )
"""


def test_rogue_workers_are_refused_counted_and_never_merged(tmp_path: Path, demo_target: Any) -> None:
    """Three intruders: no proof, a wrong secret, and the right secret beyond the planned count."""
    sla = tmp_path / "sla.yaml"
    sla.write_text("version: 1\naggregate:\n  error_rate: '< 1%'\n  min_requests: 1\n")
    rogue_file = tmp_path / "rogue.py"
    rogue_file.write_text(ROGUE)
    rogues: list[subprocess.Popen[bytes]] = []

    def join(status: dict[str, Any], proc: Any, pids: set[int]) -> bool:
        if status.get("state") != "running":
            return False
        masters = runs.locust_processes(pids, "--master")
        events = [json.loads(line) for line in next(tmp_path.glob("results/*/events.jsonl")).read_text().splitlines()]
        port = next(e["port"] for e in events if e.get("event") == "master_started")
        secret = masters[0].environ()["LOADTEST_RUN_SECRET"]
        base = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
        argv = [sys.executable, "-m", "loadtest.locust.agent", "-f", str(rogue_file), "--worker",
                "--master-host", "127.0.0.1", "--master-port", str(port)]  # fmt: skip
        for i, extra in enumerate(({}, {"LOADTEST_RUN_SECRET": "0" * 64}, {"LOADTEST_RUN_SECRET": secret})):
            log = (tmp_path / f"rogue-{i}.log").open("wb")
            rogues.append(subprocess.Popen(argv, env={**base, **extra}, stdout=log, stderr=subprocess.STDOUT))
        return True

    try:
        result = runs.run(
            ["--host", demo_target.url, "--users", "5", "--duration", "20s", "--sla", str(sla), "--workers", "1"],
            tmp_path / "results",
            timeout_s=120,
            act=join,
        )
        # Told to quit by the master, every intruder exits by itself.
        try:
            codes = [r.wait(timeout=30) for r in rogues]
        except subprocess.TimeoutExpired as exc:
            logs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("rogue-*.log")))
            raise AssertionError(f"a refused worker did not exit: {logs}") from exc
    finally:
        for r in rogues:
            r.kill()
    assert len(codes) == 3  # each one exited within 30 s of being refused
    assert result.code == 1, result.stdout + result.stderr
    verdict = runs.verdict(result)
    refused = runs.check(verdict, "workers_refused")
    assert refused["result"] == "fail" and refused["measured"] == 3.0, refused
    assert "without the run's proof" in refused["reason"] and "wrong proof" in refused["reason"]
    assert "already has its 1 planned worker" in refused["reason"]
    stats = result.stats()
    assert [r["id"] for r in stats["refused_workers"]] and len(stats["refused_workers"]) == 3
    assert len(stats["workers"]) == 1 and stats["worker_auth"] is True
    # Nothing the intruders sent was merged: every request the stats hold, the target served.
    assert stats["aggregate"]["num_requests"] == stats["locust_totals"]["num_requests"]
    assert "/forged" not in {e["name"] for e in stats["endpoints"]}
    assert "workers_refused" in result.stdout and "FAIL" in result.stdout
    _no_survivors(result)


# The allowlist ---------------------------------------------------------------------------------

ESCAPING = """
import os
import urllib.request
from locust import FastHttpUser, HttpUser, task, constant

OUTSIDE = os.environ["OUTSIDE_URL"]

class Requests(HttpUser):
    wait_time = constant(0.2)

    @task
    def fine(self):
        self.client.get("/ok")

    @task
    def absolute(self):
        self.client.get(OUTSIDE + "/escaped")

    @task
    def redirected(self):
        self.client.get("/redirect")

    @task
    def raw(self):
        try:
            urllib.request.urlopen(OUTSIDE + "/raw", timeout=2).read()
        except OSError:
            pass

class Fast(FastHttpUser):
    wait_time = constant(0.2)

    @task
    def absolute(self):
        self.client.get(OUTSIDE + "/fast-escaped")
"""


def test_no_request_reaches_a_host_outside_the_allowlist(tmp_path: Path, outside: Decoy) -> None:
    target = Decoy("127.0.0.1", redirect_to=outside.url + "/redirected")
    try:
        path = _locustfile(tmp_path, ESCAPING)
        result = runs.run(
            ["--locustfiles", str(path), "--host", target.url, "--users", "6", "--duration", "8s",
             "--allowed-hosts", target.url.removeprefix("http://")],
            tmp_path / "results",
            timeout_s=120,
            env={"OUTSIDE_URL": outside.url},
        )  # fmt: skip
    finally:
        target.stop()
    assert outside.hits == [], outside.hits
    assert any(h == "/ok" for h in target.hits) and any(h == "/redirect" for h in target.hits)
    assert result.code == 1, result.stdout + result.stderr
    netloc = outside.url.removeprefix("http://")
    allow = runs.check(runs.verdict(result), "allowlist")
    assert allow["result"] == "fail" and netloc in allow["reason"], allow
    stats = result.stats()
    assert set(stats["blocked_hosts"]) == {netloc}
    names = {e["name"]: e for e in stats["endpoints"]}
    # An absolute URL's row names its host, and every such request failed without being sent.
    for name in (f"{outside.url}/escaped", f"{outside.url}/fast-escaped"):
        assert names[name]["num_requests"] > 0 and names[name]["num_failures"] == names[name]["num_requests"]
    # A redirect to the outside host is refused at the socket and named after where it went.
    redirected = names[f"{outside.url}/redirected"]
    assert redirected["num_failures"] == redirected["num_requests"] > 0
    assert stats["blocked_hosts"][netloc] >= sum(
        names[n]["num_requests"] for n in (f"{outside.url}/escaped", f"{outside.url}/fast-escaped")
    ) + redirected["num_requests"]
    _no_survivors(result)


def test_a_request_at_import_time_is_refused_before_anything_starts(tmp_path: Path, outside: Decoy) -> None:
    target = Decoy("127.0.0.1")
    try:
        path = _locustfile(
            tmp_path,
            "import os, urllib.request\n"
            "urllib.request.urlopen(os.environ['OUTSIDE_URL'] + '/import-time', timeout=2)\n"
            + ESCAPING.split("OUTSIDE = ", 1)[0],
        )
        result = runs.run(
            ["--locustfiles", str(path), "--host", target.url],
            tmp_path / "results",
            timeout_s=60,
            env={"OUTSIDE_URL": outside.url},
        )
    finally:
        target.stop()
    assert outside.hits == [] and target.hits == []
    assert result.code == 2, result.stderr
    assert outside.url.removeprefix("http://") in result.stderr and "allowlist" in result.stderr
    assert "Traceback" not in result.stderr and result.run_dir is None
    _no_survivors(result)


def test_the_allowlist_is_checked_before_the_locustfile_is_imported(tmp_path: Path, outside: Decoy) -> None:
    path = _locustfile(tmp_path, "import os, urllib.request\nurllib.request.urlopen(os.environ['OUTSIDE_URL'])\n")
    result = runs.run(
        ["--locustfiles", str(path), "--host", outside.url, "--allowed-hosts", "*.staging.example.com"],
        tmp_path / "results",
        timeout_s=60,
        env={"OUTSIDE_URL": outside.url},
    )
    assert result.code == 2 and "not in allowed_hosts" in result.stderr, result.stderr
    assert outside.hits == []


# Evidence is always required --------------------------------------------------------------------

IDLE = """
from locust import User, task, constant

class Idle(User):
    wait_time = constant(1)

    @task
    def nothing(self):
        pass
"""

FAILING = runs.one_get_locustfile("/", 0.1)


def _against_a_failing_target(tmp_path: Path, *args: str) -> runs.Finished:
    """A run whose every request gets a 500."""
    target = Decoy("127.0.0.1", status=500)
    try:
        path = _locustfile(tmp_path, FAILING)
        return runs.run(["--locustfiles", str(path), "--host", target.url, *args], tmp_path / "results", 120)
    finally:
        target.stop()


def test_without_an_sla_zero_requests_is_never_a_pass(tmp_path: Path) -> None:
    path = _locustfile(tmp_path, IDLE)
    result = runs.run(["--locustfiles", str(path), "--users", "2", "--duration", "6s"], tmp_path / "results", 120)
    assert result.code == 3, result.stdout + result.stderr
    verdict = runs.verdict(result)
    assert verdict["outcome"] == "INCONCLUSIVE" and verdict["gate"] == "baseline"
    assert runs.check(verdict, "requests")["result"] == "inconclusive"
    assert "baseline gate (no SLA file" in result.stdout
    _no_survivors(result)


def test_without_an_sla_a_run_where_every_request_failed_fails(tmp_path: Path) -> None:
    result = _against_a_failing_target(tmp_path, "--users", "5", "--duration", "10s")
    assert result.code == 1, result.stdout + result.stderr
    verdict = runs.verdict(result)
    assert verdict["outcome"] == "FAIL" and verdict["gate"] == "baseline"
    rate = next(c for c in verdict["checks"] if c["metric"] == "error_rate")
    assert rate["result"] == "fail" and rate["measured"] == 100.0
    _no_survivors(result)


def test_no_gate_is_said_in_the_output_and_in_the_verdict(tmp_path: Path) -> None:
    result = _against_a_failing_target(tmp_path, "--users", "2", "--duration", "4s", "--no-gate")
    assert result.code == 0, result.stdout + result.stderr
    verdict = runs.verdict(result)
    assert verdict["outcome"] == "UNGATED" and verdict["gate"] == "none" and verdict["exit_code"] == 0
    assert "no gate (--no-gate" in result.stdout and "verdict: UNGATED" in result.stdout
    junit = (result.run_dir / "junit.xml").read_text()  # type: ignore[operator]
    assert 'name="outcome" value="UNGATED"' in junit
    _no_survivors(result)


# Prompt, honest endings ---------------------------------------------------------------------------


def _kill_when_running(role: str, after_s: float, sig: int = 9) -> runs.Action:
    def act(status: dict[str, Any], proc: Any, pids: set[int]) -> bool:
        started = status.get("spawn_complete_at")
        if status.get("state") != "running" or not started or time.time() - float(started) < after_s:
            return False
        for p in runs.locust_processes(pids, role):
            p.send_signal(sig)
        return True

    return act


def test_all_workers_killed_ends_the_run_promptly_and_inconclusive(tmp_path: Path, demo_target: Any) -> None:
    path = _locustfile(tmp_path, runs.one_get_locustfile("/healthz", 0.1))
    begun = time.monotonic()
    result = runs.run(
        ["--locustfiles", str(path), "--host", demo_target.url, "--users", "4", "--workers", "2",
         "--duration", "60s"],
        tmp_path / "results",
        120,
        act=_kill_when_running("--worker", 3.0),
    )  # fmt: skip
    elapsed = time.monotonic() - begun
    assert result.code == 3, result.stdout + result.stderr
    # Well before the 60 s the run asked for: one heartbeat timeout (~3 s), then the end.
    assert elapsed < 45, elapsed
    verdict = runs.verdict(result)
    lost = runs.check(verdict, "workers_lost")
    assert lost["result"] == "inconclusive" and lost["measured"] == 2.0, lost
    assert "every worker was lost; the run stopped early" in lost["reason"]
    stats = result.stats()
    assert [e["kind"] for e in stats["events"]].count("all_workers_lost") == 1
    assert stats["ended_at"] - stats["started_at"] < 40
    _no_survivors(result)


def test_a_worker_paused_and_resumed_is_reported_as_such(tmp_path: Path, demo_target: Any) -> None:
    path = _locustfile(tmp_path, runs.one_get_locustfile("/healthz", 0.1))
    paused: list[psutil.Process] = []

    def pause(status: dict[str, Any], proc: Any, pids: set[int]) -> bool:
        started = status.get("spawn_complete_at")
        if status.get("state") != "running" or not started or time.time() - float(started) < 2:
            return False
        worker = runs.locust_processes(pids, "--worker")[0]
        worker.suspend()
        paused.append(worker)
        threading.Timer(7.0, worker.resume).start()
        return True

    result = runs.run(
        ["--locustfiles", str(path), "--host", demo_target.url, "--users", "4", "--workers", "2",
         "--duration", "20s"],
        tmp_path / "results",
        120,
        act=pause,
    )  # fmt: skip
    assert paused, "the worker was never paused"
    assert result.code == 3, result.stdout + result.stderr
    lost = runs.check(runs.verdict(result), "workers_lost")
    assert "came back" in lost["reason"] and "their reports were merged" in lost["reason"], lost
    assert "are missing" not in lost["reason"]
    stats = result.stats()
    assert stats["complete"] is True
    assert sum(w["num_requests"] for w in stats["workers"]) == stats["aggregate"]["num_requests"]
    _no_survivors(result)


# Defaults that measure something ----------------------------------------------------------------

TWO_PER_TASK = """
from locust import FastHttpUser, task, constant

class U(FastHttpUser):
    wait_time = constant(1)

    def on_start(self):
        self.client.get("/login")  # outside any task: not counted per task

    @task
    def pair(self):
        self.client.get("/a")
        self.client.get("/b")
"""


def test_the_planned_rate_counts_the_requests_each_task_makes(tmp_path: Path) -> None:
    target = Decoy("127.0.0.1")
    try:
        path = _locustfile(tmp_path, TWO_PER_TASK)
        result = runs.run(
            ["--locustfiles", str(path), "--host", target.url, "--users", "10", "--duration", "12s"],
            tmp_path / "results",
            120,
        )
    finally:
        target.stop()
    assert result.code == 0, result.stdout + result.stderr  # the baseline gate: no errors, enough requests
    stats = result.stats()
    assert stats["requests_per_task"] == 2.0
    # 10 users / 1 s wait = 10 tasks/s, x 2 requests each
    assert stats["planned_rps"] == pytest.approx(20.0, rel=1e-6)
    line = next(x for x in result.stdout.splitlines() if x.startswith("steady state:"))
    percent = int(line.split("% of the planned")[0].rsplit(",", 1)[1])
    assert 80 <= percent <= 105, line  # not the 200 % a one-request-per-task plan would print
    assert "x 2.00 requests per task" in line


def test_the_default_run_judges_its_own_scenario(tmp_path: Path) -> None:
    """`loadtest run` with no flags: 50 users for 1 minute on api_browsing and its sla.yaml."""
    result = runs.run([], tmp_path / "results", timeout_s=240)
    verdict = runs.verdict(result)
    assert verdict["outcome"] != "INCONCLUSIVE", result.stdout
    assert result.code in (0, 1) and verdict["gate"] == "sla"
    short = [c["name"] for c in verdict["checks"] if c["result"] == "inconclusive"]
    assert short == [], short  # every threshold had the samples it needs
    assert result.stats()["target_users"] == 50
    _no_survivors(result)
