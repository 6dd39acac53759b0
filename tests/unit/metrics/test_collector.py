"""The collector on a fresh registry: every exported number equals the master's exact stats."""

from __future__ import annotations

import pytest
from metrics_source import NOW, FakeSource, add, stats
from prometheus_client import REGISTRY, CollectorRegistry

from loadtest.core.errors import SpecError
from loadtest.metrics.collector import (
    OTHER_NAME,
    WORKER_STATES,
    LoadtestCollector,
    RunInfo,
    SlaLimit,
    WorkerView,
    register,
)
from loadtest.stats import histogram

RUN = {"run_id": "run-1", "scenario": "demo"}
OLD = NOW - 60.0  # a window long before the last report intervals


def scrape(source: FakeSource, max_endpoints: int = 200) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(LoadtestCollector(source, max_endpoints=max_endpoints, clock=lambda: NOW))
    return registry


def value(registry: CollectorRegistry, metric: str, /, **labels: str) -> float | None:
    return registry.get_sample_value(metric, {**RUN, **labels})


def test_counters_equal_the_aggregate_exactly() -> None:
    source = FakeSource()
    add(source.aggregate, OLD, stats("GET", "/a", [10, 20, 30], failures=1), stats("POST", "/b", [5]))
    add(source.aggregate, OLD + 1, stats("GET", "/a", [40, 50]))
    registry = scrape(source)
    assert value(registry, "loadtest_requests_total", method="GET", name="/a") == 5
    assert value(registry, "loadtest_request_failures_total", method="GET", name="/a") == 1
    assert value(registry, "loadtest_requests_total", method="POST", name="/b") == 1
    assert value(registry, "loadtest_request_failures_total", method="POST", name="/b") == 0


def test_histogram_buckets_count_and_sum_come_from_the_exact_histogram() -> None:
    source = FakeSource()
    times = [3.0, 4.4, 4.41, 120.0, 7000.0, 90000.0]
    add(source.aggregate, OLD, stats("GET", "/a", times))
    registry = scrape(source)
    labels = {"method": "GET", "name": "/a"}
    assert value(registry, "loadtest_response_time_seconds_count", **labels) == 6
    assert value(registry, "loadtest_response_time_seconds_sum", **labels) == pytest.approx(sum(times) / 1000)
    # le is inclusive: 4.4 ms sits exactly on the 0.0044 bound, 4.41 ms above it
    assert value(registry, "loadtest_response_time_seconds_bucket", le="0.0044", **labels) == 2
    assert value(registry, "loadtest_response_time_seconds_bucket", le="0.00484", **labels) == 3
    assert value(registry, "loadtest_response_time_seconds_bucket", le="10.0", **labels) == 5
    assert value(registry, "loadtest_response_time_seconds_bucket", le="60.0", **labels) == 5
    assert value(registry, "loadtest_response_time_seconds_bucket", le="+Inf", **labels) == 6


def test_percentile_gauges_are_the_exact_nearest_rank_percentiles() -> None:
    source = FakeSource()
    a = [float(i) for i in range(1, 101)]  # 1..100 ms
    b = [1000.0, 2000.0]
    add(source.aggregate, OLD, stats("GET", "/a", a), stats("GET", "/b", b))
    registry = scrape(source)
    merged = histogram.merged([dict.fromkeys(map(histogram.bucket, a), 1), {1000.0: 1, 2000.0: 1}])
    for label, p in (("50", 0.5), ("90", 0.9), ("95", 0.95), ("99", 0.99)):
        expected_a = histogram.percentile(dict.fromkeys(a, 1), p)
        assert expected_a is not None
        got = value(
            registry, "loadtest_response_time_percentile_seconds",
            method="GET", name="/a", percentile=label, window="cumulative",
        )  # fmt: skip
        assert got == expected_a / 1000
        expected_all = histogram.percentile(merged, p)
        assert expected_all is not None
        got_all = value(
            registry, "loadtest_response_time_percentile_seconds",
            method="", name="Aggregated", percentile=label, window="cumulative",
        )  # fmt: skip
        assert got_all == expected_all / 1000
    assert value(
        registry, "loadtest_response_time_percentile_seconds",
        method="", name="Aggregated", percentile="99", window="cumulative",
    ) == 1.0  # fmt: skip


def test_last_window_percentiles_only_see_the_last_report_intervals() -> None:
    source = FakeSource(report_window_s=3.0)  # last = windows starting at or after NOW - 6 s
    add(source.aggregate, NOW - 30, stats("GET", "/a", [900.0] * 10))
    add(source.aggregate, NOW - 2, stats("GET", "/a", [10.0, 20.0]))
    registry = scrape(source)
    p50 = {"method": "GET", "name": "/a", "percentile": "50"}
    assert value(registry, "loadtest_response_time_percentile_seconds", window="last", **p50) == 0.01
    assert value(registry, "loadtest_response_time_percentile_seconds", window="cumulative", **p50) == 0.9
    agg_last = {"method": "", "name": "Aggregated", "percentile": "99", "window": "last"}
    assert value(registry, "loadtest_response_time_percentile_seconds", **agg_last) == 0.02


def test_an_idle_endpoint_has_no_last_window_percentile_rather_than_zero() -> None:
    source = FakeSource()
    add(source.aggregate, NOW - 30, stats("GET", "/a", [15.0]))
    registry = scrape(source)
    labels = {"method": "GET", "name": "/a", "percentile": "95"}
    assert value(registry, "loadtest_response_time_percentile_seconds", window="last", **labels) is None
    assert value(registry, "loadtest_response_time_percentile_seconds", window="cumulative", **labels) == 0.015


def test_a_zero_request_run_exports_no_latency_at_all() -> None:
    registry = scrape(FakeSource())
    names = {s.name for family in registry.collect() for s in family.samples}
    assert not any(name.startswith("loadtest_response_time") for name in names)
    assert "loadtest_requests_total" not in names
    assert value(registry, "loadtest_users") == 10
    assert value(registry, "loadtest_run_state", state="running") == 1


def test_requests_without_a_response_time_are_counted_but_invent_no_latency() -> None:
    source = FakeSource()
    no_times = stats("GET", "/custom", [])
    no_times["num_requests"] = 3  # a custom client reported 3 requests with response_time=None
    add(source.aggregate, OLD, no_times)
    registry = scrape(source)
    assert value(registry, "loadtest_requests_total", method="GET", name="/custom") == 3
    assert value(registry, "loadtest_response_time_seconds_count", method="GET", name="/custom") == 0
    assert value(
        registry, "loadtest_response_time_percentile_seconds",
        method="GET", name="/custom", percentile="50", window="cumulative",
    ) is None  # fmt: skip


def test_endpoints_beyond_the_cap_fold_into_one_counted_other_series() -> None:
    source = FakeSource()
    add(
        source.aggregate, OLD,
        stats("GET", "/a", [10.0]), stats("GET", "/b", [20.0] * 2),
        stats("GET", "/c", [30.0] * 3, failures=1), stats("POST", "/d", [40.0] * 4),
    )  # fmt: skip
    registry = scrape(source, max_endpoints=2)
    other = {"method": "", "name": OTHER_NAME}
    assert value(registry, "loadtest_requests_total", **other) == 7
    assert value(registry, "loadtest_request_failures_total", **other) == 1
    assert value(registry, "loadtest_requests_total", method="GET", name="/c") is None
    assert value(registry, "loadtest_endpoints_folded") == 2
    assert value(registry, "loadtest_endpoint_limit") == 2
    assert value(registry, "loadtest_response_time_percentile_seconds", percentile="50",
                 window="cumulative", **other) == 0.04  # fmt: skip
    total = sum(s.value for f in registry.collect() for s in f.samples if s.name == "loadtest_requests_total")
    assert total == 10


def test_an_admitted_endpoint_keeps_its_own_series_when_more_arrive() -> None:
    source = FakeSource()
    registry = CollectorRegistry()
    registry.register(LoadtestCollector(source, max_endpoints=1, clock=lambda: NOW))
    add(source.aggregate, OLD, stats("GET", "/z", [10.0]))
    assert value(registry, "loadtest_requests_total", method="GET", name="/z") == 1
    add(source.aggregate, OLD + 1, stats("GET", "/a", [10.0] * 5), stats("GET", "/z", [10.0]))
    assert value(registry, "loadtest_requests_total", method="GET", name="/z") == 2
    assert value(registry, "loadtest_requests_total", method="", name=OTHER_NAME) == 5
    assert value(registry, "loadtest_endpoints_folded") == 1


def test_every_series_carries_run_id_and_scenario() -> None:
    source = FakeSource(
        worker_views=[WorkerView("w1", "running", 50.0, 1000, 5, 2.0)],
        gate_verdict="PASS",
        limits=[SlaLimit("Aggregated", "p95", 0.5), SlaLimit("/a", "error_ratio", 0.01)],
    )
    add(source.aggregate, NOW - 1, stats("GET", "/a", [10.0]))
    samples = [s for family in scrape(source).collect() for s in family.samples]
    assert len(samples) > 100
    assert all(s.labels.get("run_id") == "run-1" and s.labels.get("scenario") == "demo" for s in samples)


def test_workers_by_state_always_list_all_five_states() -> None:
    source = FakeSource(
        worker_views=[
            WorkerView("w1", "running", 10.0, 1, 1, None),
            WorkerView("w2", "running", 10.0, 1, 1, None),
            WorkerView("w3", "missing", 0.0, 1, 0, None),
            WorkerView("w4", "cleanup", 0.0, 1, 0, None),
        ]
    )
    registry = scrape(source)
    expected = {"ready": 0, "spawning": 0, "running": 2, "missing": 1, "stopped": 0, "cleanup": 1}
    assert set(WORKER_STATES) <= set(expected)
    for state, n in expected.items():
        assert value(registry, "loadtest_workers", state=state) == n


def test_worker_resources_are_in_base_units_and_lag_is_absent_until_reported() -> None:
    source = FakeSource(
        worker_views=[
            WorkerView("w1", "running", 93.0, 150_000_000, 7, 12.5, connections=4_990),
            WorkerView("w2", "ready", 0.0, 90_000_000, 0, None),
        ]
    )
    registry = scrape(source)
    assert value(registry, "loadtest_worker_websocket_connections", worker="w1") == 4_990
    assert value(registry, "loadtest_worker_websocket_connections", worker="w2") == 0
    assert value(registry, "loadtest_worker_cpu_usage_ratio", worker="w1") == 0.93
    assert value(registry, "loadtest_worker_memory_bytes", worker="w1") == 150_000_000
    assert value(registry, "loadtest_worker_users", worker="w1") == 7
    assert value(registry, "loadtest_worker_loop_lag_seconds", worker="w1") == 0.0125
    assert value(registry, "loadtest_worker_loop_lag_seconds", worker="w2") is None
    assert value(registry, "loadtest_worker_memory_bytes", worker="w2") == 90_000_000


def test_run_state_is_one_hot_and_run_info_names_the_run() -> None:
    source = FakeSource(
        info=RunInfo("run-1", "demo", "http://target:8080", 250, "deadbee"),
        state="spawning",
        users=40,
        target_users=250,
    )
    registry = scrape(source)
    assert value(registry, "loadtest_run_state", state="spawning") == 1
    assert value(registry, "loadtest_run_state", state="running") == 0
    assert value(registry, "loadtest_users") == 40
    assert value(registry, "loadtest_target_users") == 250
    info = {"host": "http://target:8080", "target_users": "250", "git_revision": "deadbee"}
    assert value(registry, "loadtest_run_info", **info) == 1


def test_the_verdict_is_absent_until_the_gate_ran_then_one_hot() -> None:
    source = FakeSource()
    assert value(scrape(source), "loadtest_sla_verdict", verdict="PASS") is None
    source.gate_verdict = "INCONCLUSIVE"
    registry = scrape(source)
    assert value(registry, "loadtest_sla_verdict", verdict="INCONCLUSIVE") == 1
    assert value(registry, "loadtest_sla_verdict", verdict="PASS") == 0
    assert value(registry, "loadtest_sla_verdict", verdict="FAIL") == 0


def test_sla_limits_are_exported_for_the_alerting_rules() -> None:
    source = FakeSource(
        limits=[
            SlaLimit("Aggregated", "p95", 0.5),
            SlaLimit("/a", "max", 2.0),
            SlaLimit("Aggregated", "error_ratio", 0.01),
        ]
    )
    registry = scrape(source)
    assert value(registry, "loadtest_sla_response_time_limit_seconds", name="Aggregated", percentile="95") == 0.5
    assert value(registry, "loadtest_sla_response_time_limit_seconds", name="/a", percentile="100") == 2.0
    assert value(registry, "loadtest_sla_error_ratio_limit", name="Aggregated") == 0.01


def test_an_unknown_sla_metric_is_an_error_naming_it() -> None:
    registry = scrape(FakeSource(limits=[SlaLimit("/a", "p42", 1.0)]))
    with pytest.raises(SpecError, match="'p42'.*'/a'"):
        list(registry.collect())


def test_an_endpoint_cap_below_one_is_rejected() -> None:
    with pytest.raises(SpecError, match="max_endpoints is 0"):
        LoadtestCollector(FakeSource(), max_endpoints=0)


def test_register_uses_the_given_registry_only() -> None:
    registry = CollectorRegistry()
    collector = register(registry, FakeSource())
    assert registry.get_sample_value("loadtest_users", RUN) == 10
    assert REGISTRY.get_sample_value("loadtest_users", RUN) is None
    registry.unregister(collector)
    assert registry.get_sample_value("loadtest_users", RUN) is None
