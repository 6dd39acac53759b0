"""WebSocket load (the `realtime` scenario, loadtest.locust.websocket) against the demo target's `/ws`:
what the platform counts is what the target counted, a slow push path fails its SLA, a server that
drops connections fails the run, and WebSocket timings never enter the HTTP aggregate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import e2e_runs as runs
import pytest
from dashboard_queries import panel_queries, substitute

from loadtest.core.processes import free_port
from loadtest.demo_target import DemoTarget
from loadtest.metrics.prometheus import PrometheusServer

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


def _run(tmp_path: Path, target: DemoTarget, duration: str = "8s", held: int = 20, *extra: str) -> runs.Finished:
    """20 users on 2 workers, judged by SLA with websocket.min_connections = `held`."""
    sla = tmp_path / "sla.yaml"
    sla.write_text(SLA.replace("{min_connections}", str(held)))
    return runs.run(
        ["--scenario", "realtime", "--host", target.url, "--users", "20", "--spawn-rate", "20",
         "--duration", duration, "--workers", "2", "--sla", str(sla), *extra],
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
    assert connects["/ws"]["num_failures"] == 0
    assert served["WS refused"] == 1  # the pre-flight upgrade request, sent without a token
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


# Bad input: refused before anything starts ------------------------------------------------------


def _refused(tmp_path: Path, target: DemoTarget, *extra: str) -> runs.Finished:
    result = runs.run(
        ["--scenario", "realtime", "--host", target.url, "--users", "2", "--duration", "5s", *extra],
        tmp_path / "results",
    )
    assert result.code == 2, (result.code, result.stderr)
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    assert result.run_dir is None and not any((tmp_path / "results").glob("*/")), "a refused run leaves nothing"
    assert result.survivors() == []
    return result


def test_a_websocket_url_that_is_not_ws_is_refused(tmp_path: Path, target: DemoTarget) -> None:
    result = _refused(tmp_path, target, "--websocket-url", target.url + "/ws")
    assert "websocket_url" in result.stderr and "must be a ws:// or wss:// URL" in result.stderr, result.stderr


def test_an_unreachable_websocket_endpoint_is_refused(tmp_path: Path, target: DemoTarget) -> None:
    before = target.stats()["websocket"]["WS accepted"]
    url = f"ws://127.0.0.1:{free_port()}/ws"  # nothing listens there; the host itself answers
    result = _refused(tmp_path, target, "--websocket-url", url, "--allowed-hosts", "127.0.0.1")
    assert f"websocket_url = '{url}' is unreachable" in result.stderr, result.stderr
    assert "no worker was started" in result.stderr
    assert target.stats()["websocket"]["WS accepted"] == before


def test_a_websocket_url_outside_the_allowlist_is_refused(tmp_path: Path, target: DemoTarget) -> None:
    result = _refused(tmp_path, target, "--websocket-url", "wss://feed.example.com/ws")
    assert "websocket_url = 'wss://feed.example.com/ws' is not on the target host" in result.stderr, result.stderr


def test_the_connections_panel_shows_what_the_gate_judged_in_a_real_prometheus(
    tmp_path: Path, target: DemoTarget
) -> None:
    result = _run(tmp_path, target, "12s", 20, "--prometheus")
    assert result.code == 0, result.stdout[-3000:]
    assert result.run_dir is not None
    stats = result.stats()
    held = next(c for c in runs.verdict(result)["checks"] if c["metric"] == "min_connections")
    assert held["measured"] == 20.0
    (panel,) = [q for q in panel_queries() if q.panel == "WebSocket connections" and "sum by" in q.expr]
    expr = substitute(panel.expr, run_id=stats["run_id"], scenario=stats["scenario"], rate_interval_s=8, range_s=60)
    per_worker = substitute(
        next(q.expr for q in panel_queries() if q.panel == "WebSocket connections" and "sum by" not in q.expr),
        run_id=stats["run_id"], scenario=stats["scenario"], rate_interval_s=8, range_s=60,
    )  # fmt: skip
    assert stats["spawn_complete_at"] is not None and stats["ended_at"] is not None
    data = result.run_dir / "prometheus" / "data"
    with PrometheusServer([], tmp_path / "replay", data_dir=data, rules_files=[]) as prom:
        at = stats["ended_at"] - 1.0  # every user connected, none closed yet: the hold
        (total,) = prom.query(expr, at)
        workers = prom.query(per_worker, at)
    assert total.value == 20.0, total
    assert len(workers) == 2 and sum(s.value for s in workers) == 20.0 and all(s.value > 0 for s in workers)
