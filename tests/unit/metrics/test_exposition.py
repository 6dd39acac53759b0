"""The fast text encoder says exactly what prometheus_client would, and the WSGI app serves it."""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterable
from typing import Any

from metrics_source import NOW, FakeSource, add, stats
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from loadtest.metrics.collector import LoadtestCollector, RunInfo, SlaLimit, WorkerView
from loadtest.metrics.exposition import RowFamily, encode_text, make_wsgi_app

Sample = tuple[str, tuple[tuple[str, str], ...], float]

AWKWARD = 'GET /a "quoted" back\\slash\nnewline é'


def registry_with_everything() -> CollectorRegistry:
    source = FakeSource(
        info=RunInfo("run-1", "demo", "http://h", 5, "abc"),
        worker_views=[WorkerView("w1", "running", 50.0, 10, 2, 3.0), WorkerView("w2", "missing", 0, 0, 0, None)],
        gate_verdict="FAIL",
        limits=[SlaLimit("Aggregated", "p95", 0.25), SlaLimit(AWKWARD, "error_ratio", 0.02)],
    )
    add(source.aggregate, NOW - 1, stats("GET", "/a", [5.0, 50.0, 500.0]), stats("POST", AWKWARD, [7.5], 1))
    add(source.aggregate, NOW - 40, stats("GET", "/a", [1.0, 70000.0]))
    registry = CollectorRegistry()
    registry.register(LoadtestCollector(source, clock=lambda: NOW))
    Gauge("other_component_gauge", "A plain prometheus_client metric in the same registry.", registry=registry).set(4)
    return registry


def parsed(text: str) -> tuple[dict[str, str], list[Sample]]:
    types: dict[str, str] = {}
    samples: list[Sample] = []
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        samples.extend((s.name, tuple(sorted(s.labels.items())), s.value) for s in family.samples)
    return types, sorted(samples)


def test_fast_text_parses_to_exactly_the_samples_prometheus_client_writes() -> None:
    registry = registry_with_everything()
    fast_types, fast = parsed(encode_text(registry).decode())
    reference_types, reference = parsed(generate_latest(registry).decode())
    assert fast == reference
    assert fast_types == reference_types
    assert len(fast) > 200
    assert any(dict(labels).get("name") == AWKWARD for _, labels, _ in fast)


def test_names_follow_prometheus_conventions() -> None:
    text = encode_text(registry_with_everything()).decode()
    types, samples = parsed(text)
    helps = dict(re.findall(r"^# HELP (\S+) (.+)$", text, re.MULTILINE))
    for name, kind in types.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert helps.get(name if kind != "counter" else f"{name}_total"), f"{name} has no HELP"
        if kind == "counter":
            assert re.search(rf"^# TYPE {name}_total counter$", text, re.MULTILINE)
        if name.startswith("loadtest_") and ("time" in name or "lag" in name or "limit_seconds" in name):
            assert name.endswith("_seconds"), name
    assert types["loadtest_response_time_seconds"] == "histogram"
    assert types["loadtest_requests"] == "counter"
    assert not any("quantile" in dict(labels) for _, labels, _ in samples)  # reserved for summaries
    assert not any("le" in dict(labels) for name, labels, _ in samples if not name.endswith("_bucket"))


def test_row_family_samples_feed_get_sample_value() -> None:
    family = RowFamily("x_requests", "Help.", "counter", ("a",))
    family.add(("1",), 3)
    family.add(("2",), 4.5)

    class One:
        def collect(self) -> Iterable[RowFamily]:
            return [family]

    registry = CollectorRegistry()
    registry.register(One())
    assert registry.get_sample_value("x_requests_total", {"a": "2"}) == 4.5
    assert b'x_requests_total{a="1"} 3\n' in encode_text(registry)


def call(app: Any, method: str = "GET", accept_encoding: str = "") -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/metrics", "HTTP_ACCEPT_ENCODING": accept_encoding,
               "wsgi.input": io.BytesIO()}  # fmt: skip
    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def test_wsgi_app_serves_the_text_format_and_gzips_when_asked() -> None:
    registry = registry_with_everything()
    app = make_wsgi_app(registry)
    status, headers, body = call(app)
    assert status == "200 OK"
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"loadtest_requests_total{" in body
    status, headers, zipped = call(app, accept_encoding="gzip, deflate")
    assert headers["Content-Encoding"] == "gzip"
    assert parsed(gzip.decompress(zipped).decode()) == parsed(body.decode())


def test_wsgi_app_refuses_writes() -> None:
    status, headers, body = call(make_wsgi_app(CollectorRegistry()), method="POST")
    assert status.startswith("405")
    assert body == b""
