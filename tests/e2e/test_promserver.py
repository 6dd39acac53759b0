"""A real Prometheus scraping a real serve() endpoint: what it stores equals the exact stats."""

from __future__ import annotations

import gzip
import os
import random
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from loadtest.core.errors import RunError
from loadtest.metrics.buckets import MAX_RELATIVE_ERROR
from loadtest.metrics.collector import LoadtestCollector, MetricsServer, SlaLimit, WorkerView, serve
from loadtest.metrics.prometheus import PrometheusServer, find_binary
from loadtest.stats import histogram

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "metrics"))
from dashboard_queries import empty_panels, panel_queries
from metrics_source import FakeSource, add, stats  # type: ignore[import-not-found,unused-ignore]  # noqa: E402

pytestmark = pytest.mark.e2e

SCRAPE_S = 0.5
ENDPOINTS = {  # (method, name) -> log-normal (mu of ln ms, sigma), count
    ("GET", "/fast"): (2.0, 0.4, 3000),  # ~7 ms
    ("GET", "/items/{id}"): (4.0, 0.6, 2000),  # ~55 ms
    ("POST", "/orders"): (6.5, 0.5, 800),  # ~650 ms
    ("GET", "/slow"): (8.0, 0.3, 200),  # ~3 s
}


@dataclass
class Live:
    source: FakeSource
    server: MetricsServer
    prom: PrometheusServer
    directory: Path


def _fill(source: FakeSource) -> None:
    rng = random.Random(7)
    t0 = time.time() - 30
    for (method, name), (mu, sigma, n) in ENDPOINTS.items():
        times = [rng.lognormvariate(mu, sigma) for _ in range(n)]
        for w in range(3):  # three windows, as if three workers reported
            part = times[w::3]
            add(source.aggregate, t0 + w, stats(method, name, part, failures=len(part) // 50))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    source = FakeSource(
        worker_views=[WorkerView("w1", "running", 40.0, 50_000_000, 5, 1.5)],
        limits=[SlaLimit("Aggregated", "p95", 2.0)],
    )
    _fill(source)
    registry = CollectorRegistry()
    registry.register(LoadtestCollector(source))
    server = serve(registry, "127.0.0.1", 0)
    directory = tmp_path_factory.mktemp("prometheus")
    try:
        with PrometheusServer([f"127.0.0.1:{server.port}"], directory, scrape_interval_s=SCRAPE_S) as prom:
            prom.wait_for_scrape(after=time.time())
            yield Live(source, server, prom, directory)
    finally:
        server.stop()


def test_prometheus_counters_equal_the_source_exactly(live: Live) -> None:
    got = {
        (s.metric.get("method", ""), s.metric["name"]): s.value
        for s in live.prom.query('loadtest_requests_total{run_id="run-1"}')
    }
    expected = {(a.method, a.name): float(a.num_requests) for a in live.source.aggregate.endpoints()}
    assert got == expected
    failures = live.prom.query("sum(loadtest_request_failures_total)")
    assert failures[0].value == sum(a.num_failures for a in live.source.aggregate.endpoints())


def test_histogram_quantile_is_within_tolerance_of_the_exact_p95(live: Live) -> None:
    for accum in live.source.aggregate.endpoints():
        exact = accum.percentile(0.95)
        assert exact is not None
        selector = f'{{method="{accum.method}",name="{accum.name}"}}'
        estimate = live.prom.query(f"histogram_quantile(0.95, loadtest_response_time_seconds_bucket{selector})")
        assert len(estimate) == 1
        assert abs(estimate[0].value - exact / 1000) <= MAX_RELATIVE_ERROR * exact / 1000, accum.name


def test_percentile_gauges_in_prometheus_are_the_exact_percentiles(live: Live) -> None:
    total = live.source.aggregate.total()
    for label, p in (("50", 0.5), ("99", 0.99)):
        series = live.prom.query(
            f'loadtest_response_time_percentile_seconds{{name="Aggregated",percentile="{label}",window="cumulative"}}'
        )
        expected = histogram.percentile(total.histogram, p)
        assert expected is not None
        assert [s.value for s in series] == [expected / 1000]


def test_new_requests_reach_prometheus_on_the_next_scrape(live: Live) -> None:
    add(live.source.aggregate, time.time(), stats("GET", "/fast", [5.0] * 7))
    live.prom.wait_for_scrape(after=time.time())
    series = live.prom.query('loadtest_requests_total{name="/fast"}')
    assert [s.value for s in series] == [3007.0]


def test_every_dashboard_panel_query_returns_data(live: Live) -> None:
    start = time.time()
    deadline = start + 4 * 1 + 3  # the rate interval (4 s) plus a margin of scrapes
    while time.time() < deadline:  # fresh requests every half second, as in a live run
        add(live.source.aggregate, time.time(), stats("GET", "/items/{id}", [40.0, 60.0], failures=1))
        live.prom.wait_for_scrape(after=time.time())
    end = time.time()
    empty = empty_panels(live.prom, run_id="run-1", scenario="demo", start=start, end=end, scrape_interval_s=1)
    assert empty == []
    assert len(panel_queries()) > 30


def test_recording_rules_are_loaded_and_evaluated(live: Live) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if live.prom.query("run_endpoint:loadtest_requests:rate1m"):
            break
        time.sleep(0.2)
    names = {s.metric["name"] for s in live.prom.query("run_endpoint:loadtest_requests:rate1m")}
    assert "Aggregated" in names
    assert (live.directory / "rules" / "loadtest.rules.yaml").is_file()


def test_data_and_config_live_in_the_given_directory(live: Live) -> None:
    assert (live.directory / "prometheus.yml").read_text().count(f"127.0.0.1:{live.server.port}") == 1
    assert (live.directory / "data" / "wal").is_dir()
    assert live.prom.url.startswith("http://127.0.0.1:")


def test_a_bad_query_names_the_promql_error(live: Live) -> None:
    with pytest.raises(RunError, match="parse error"):
        live.prom.query("sum(")


def test_promtool_accepts_the_exposition(live: Live) -> None:
    body = urllib.request.urlopen(live.server.url, timeout=10).read()
    promtool = Path(find_binary()).with_name("promtool")
    result = subprocess.run(
        [str(promtool), "check", "metrics"], input=body, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_serve_gzips_for_scrapers_that_ask(live: Live) -> None:
    request = urllib.request.Request(live.server.url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert b"loadtest_requests_total" in gzip.decompress(response.read())


def assert_nothing_listens(port: int) -> None:
    """Connection refused: the listening socket is closed (a bind could still meet TIME_WAIT)."""
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))


def test_stop_leaves_no_process_and_frees_the_port(tmp_path: Path) -> None:
    prom = PrometheusServer(["127.0.0.1:9"], tmp_path, rules_files=[])
    with prom:
        pid, port = prom.pid, prom.port
        assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert_nothing_listens(port)
    prom.stop()  # idempotent


def test_a_finished_runs_data_can_be_read_back_after_prometheus_stopped(tmp_path: Path) -> None:
    source = FakeSource()
    add(source.aggregate, time.time(), stats("GET", "/a", [12.0] * 41, failures=3))
    registry = CollectorRegistry()
    registry.register(LoadtestCollector(source))
    server = serve(registry, "127.0.0.1", 0)
    try:
        with PrometheusServer([f"127.0.0.1:{server.port}"], tmp_path / "run", scrape_interval_s=SCRAPE_S) as prom:
            prom.wait_for_scrape(after=time.time())
            ended = time.time()
    finally:
        server.stop()
    with PrometheusServer([], tmp_path / "replay", data_dir=tmp_path / "run" / "data", rules_files=[]) as replay:
        series = replay.query('loadtest_requests_total{name="/a"}', at=ended)
        failures = replay.query('loadtest_request_failures_total{name="/a"}', at=ended)
    assert [s.value for s in series] == [41.0]
    assert [s.value for s in failures] == [3.0]
    assert (tmp_path / "run" / "prometheus.yml").read_text().count(str(server.port)) == 1  # not overwritten


def test_a_prometheus_that_cannot_start_fails_with_its_log(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rules.yaml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - record: 'not a metric name'\n        expr: '1'\n")
    with pytest.raises(RunError, match="exited with code") as info:
        PrometheusServer(["127.0.0.1:9"], tmp_path / "p", rules_files=[bad], ready_timeout_s=30).start()
    assert "not a metric name" in str(info.value) or "invalid" in str(info.value).lower()


def test_serve_stop_frees_the_port_and_port_zero_picks_a_free_one() -> None:
    server = serve(CollectorRegistry(), "127.0.0.1", 0)
    assert server.port > 0
    assert urllib.request.urlopen(server.url, timeout=10).status == 200
    server.stop()
    server.stop()
    assert_nothing_listens(server.port)


def test_serve_works_and_stops_inside_a_gevent_patched_process() -> None:
    script = textwrap.dedent(
        """
        from gevent import monkey; monkey.patch_all()
        import urllib.request
        from prometheus_client import CollectorRegistry, Gauge
        from loadtest.metrics.collector import serve
        registry = CollectorRegistry()
        Gauge("patched_gauge", "x", registry=registry).set(3)
        server = serve(registry, "127.0.0.1", 0)
        body = urllib.request.urlopen(server.url, timeout=10).read()
        server.stop()
        print("ok" if b"patched_gauge 3.0" in body else body)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
