"""The locustfile probe runs while the processes start: load waits for it, and its refusal sends nothing.

A loopback target in this process notes every request's arrival; the probe is made slow (the
locustfile sleeps at import only in the probe's process) so the fleet is up long before it ends.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import e2e_runs as runs
import pytest

SLOW_PROBE = """
import sys, time
from locust import FastHttpUser, task, constant

if sys.argv[0].endswith("probe.py"):  # only the controller's probe, never the master or a worker
    time.sleep({probe_s})

class U(FastHttpUser):
    wait_time = constant(0.2)

    @task
    def ping(self):
        self.client.get("/ping")
{extra}
"""

OWN_SHAPE = """
from locust import LoadTestShape

class Mine(LoadTestShape):
    def tick(self):
        return (1, 1) if self.get_run_time() < 3 else None
"""


class Target:
    def __init__(self) -> None:
        self.arrivals: list[float] = []
        arrivals = self.arrivals

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                if self.path == "/ping":  # the locustfile's requests (the pre-flight GETs /)
                    arrivals.append(time.time())
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def target() -> Iterator[Target]:
    t = Target()
    try:
        yield t
    finally:
        t.server.shutdown()
        t.server.server_close()


def test_no_request_before_the_probe_passed_though_the_workers_were_ready(tmp_path: Path, target: Target) -> None:
    locustfile = tmp_path / "slow_probe.py"
    locustfile.write_text(SLOW_PROBE.format(probe_s=4, extra=""))
    result = runs.run(
        ["--locustfiles", str(locustfile), "--host", target.url, "--users", "2", "--spawn-rate", "2",
         "--workers", "1", "--duration", "3s", "--no-gate", "--progress", "plain"],
        tmp_path / "results", timeout_s=120,
    )  # fmt: skip
    assert result.code == 0, result.stderr[-3000:]
    assert result.run_dir is not None and not (result.run_dir / ".start").exists()
    events = [json.loads(line) for line in (result.run_dir / "events.jsonl").read_text().splitlines()]
    at = {e["event"]: e["t"] for e in reversed(events)}  # the first of each kind
    ready = json.loads((result.run_dir / "stats.json").read_text())["events"]
    connected = min(e["t"] for e in ready if e["kind"] == "worker_connected")
    assert target.arrivals, "no request arrived"
    after = at["checks_passed"] - at["master_started"]
    print(
        f"\nworker connected {connected - at['master_started']:.2f} s after the master started; checks passed "
        f"{after:.2f} s; first request {target.arrivals[0] - at['checks_passed']:+.2f} s after them"
    )
    assert connected < at["checks_passed"] - 1.0  # the fleet was up well before the probe ended ...
    assert min(target.arrivals) > at["checks_passed"]  # ... and no request came before it passed
    # the 3 s of run time count from the first user, not from the master's start (the hold)
    assert max(target.arrivals) - min(target.arrivals) >= 2.5, (min(target.arrivals), max(target.arrivals))


def test_a_refusal_by_the_probe_stops_the_started_processes_before_any_request(tmp_path: Path, target: Target) -> None:
    locustfile = tmp_path / "own_shape.py"
    locustfile.write_text(SLOW_PROBE.format(probe_s=3, extra=OWN_SHAPE))
    result = runs.run(
        ["--locustfiles", str(locustfile), "--host", target.url, "--shape", "ramp", "--shape-options",
         "{users: 2, duration_s: 5, ramp_s: 1}", "--workers", "1", "--no-gate", "--progress", "plain"],
        tmp_path / "results", timeout_s=120,
    )  # fmt: skip
    assert result.code == 2, result.stderr[-3000:]
    assert result.stderr.startswith("error: shape = ramp but the locustfile already defines Mine"), result.stderr
    assert result.run_dir is None and not any((tmp_path / "results").iterdir()), "a refused run leaves nothing"
    assert result.survivors() == []
    assert len(result.descendants) >= 3, "the probe, the master and the worker had all started"
    assert target.arrivals == [], f"{len(target.arrivals)} requests reached the target of a refused run"
