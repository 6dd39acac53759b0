"""WebSocket load (the `realtime` scenario, loadtest.locust.websocket) against the demo target's `/ws`:
what the platform counts is what the target counted, a slow push path fails its SLA, a server that
drops connections fails the run, and WebSocket timings never enter the HTTP aggregate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import e2e_runs as runs
import pytest

from loadtest.demo_target import DemoTarget

SLA = """version: 1
warmup: spawn
aggregate:
  error_rate: "< 5%"
  min_samples: {error_rate: 10}
endpoints:
  - {name: quote, method: WSCALL, p95: "< 200", success_rate: ">= 95", min_samples: {p95: 20, success_rate: 20}}
  - {name: prices, method: WSPUSH, p95: "< 250"}
websocket:
  connect: {p95: "< 1000", min_samples: {p95: 10}}
  disconnect_rate: "< 5%"
  min_samples: 10
  min_connections: {min_connections}
"""


@pytest.fixture
def target(demo_target: DemoTarget) -> Iterator[DemoTarget]:
    demo_target.clear_faults()
    try:
        yield demo_target
    finally:
        demo_target.clear_faults()


def _run(tmp_path: Path, target: DemoTarget, users: int = 20, duration: str = "8s", held: int = 20) -> runs.Finished:
    sla = tmp_path / "sla.yaml"
    sla.write_text(SLA.replace("{min_connections}", str(held)))
    return runs.run(
        ["--scenario", "realtime", "--host", target.url, "--users", str(users), "--spawn-rate", str(users),
         "--duration", duration, "--workers", "2", "--sla", str(sla)],
        tmp_path / "results",
    )  # fmt: skip


def _rows(stats: dict[str, Any], method: str) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in stats["endpoints"] if e["method"] == method}


def test_every_connect_call_and_push_is_counted_as_the_target_counted_it(tmp_path: Path, target: DemoTarget) -> None:
    before = target.stats()["websocket"]
    result = _run(tmp_path, target)
    after = target.stats()["websocket"]
    served = {key: after[key] - before[key] for key in after}
    assert result.code == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stats = result.stats()
    connects, calls, pushes = (_rows(stats, m) for m in ("WSCONNECT", "WSCALL", "WSPUSH"))
    assert connects["/ws"]["num_requests"] == served["WS accepted"] == 20
    assert connects["/ws"]["num_failures"] == 0 and served["WS refused"] == 0
    assert calls["subscribe"]["num_requests"] == 20
    assert sum(e["num_requests"] for e in calls.values()) == served["WS received"] == served["WS replied"]
    assert pushes["prices"]["num_requests"] == served["WS pushed"] > 20 * 5  # one a second, 8 s
    assert served["WS closed"] == 20 and served["WS dropped"] == 0  # every user closed, as a client should
    assert _rows(stats, "WSCLOSE") == {}  # no unexpected close
    http = [e for e in stats["endpoints"] if not e["method"].startswith("WS")]
    assert stats["aggregate"]["num_requests"] == sum(e["num_requests"] for e in http)  # no WebSocket timing
    verdict = runs.verdict(result)
    by_metric = {(c["subject"], c["metric"]): c for c in verdict["checks"]}
    assert by_metric[("connect", "p95")]["result"] == "pass"
    assert by_metric[("connections", "disconnect_rate")]["measured"] == 0.0
    assert by_metric[("connections", "min_connections")]["measured"] == 20.0  # held by both workers together
    assert by_metric[("WSPUSH prices", "p95")]["result"] == "pass"
    assert result.survivors() == []


def test_a_slow_push_path_fails_its_sla(tmp_path: Path, target: DemoTarget) -> None:
    target.set_fault("WS push", delay_ms=400)  # pushes leave the server 400 ms after their timestamp
    result = _run(tmp_path, target)
    assert result.code == 1, result.stdout[-3000:]
    failed = [c for c in runs.verdict(result)["checks"] if c["result"] == "fail"]
    assert [(c["subject"], c["metric"]) for c in failed] == [("WSPUSH prices", "p95")], failed
    assert failed[0]["measured"] >= 400
    assert "WSPUSH prices p95" in result.stdout


def test_a_server_that_drops_connections_fails_the_run(tmp_path: Path, target: DemoTarget) -> None:
    before = target.stats()["websocket"]
    target.set_fault("WS /ws", error_rate=0.1)  # one message in ten: the server closes instead (1011)
    result = _run(tmp_path, target, held=1)
    after = target.stats()["websocket"]
    assert result.code == 1, result.stdout[-3000:]
    verdict = runs.verdict(result)
    check = next(c for c in verdict["checks"] if c["metric"] == "disconnect_rate")
    assert check["result"] == "fail" and check["measured"] > 5, check
    closes = _rows(result.stats(), "WSCLOSE")["/ws"]
    assert closes["num_failures"] == closes["num_requests"] == after["WS dropped"] - before["WS dropped"] > 0
    assert "unexpected close" in (result.run_dir / "locust_report.html").read_text()  # type: ignore[operator]
