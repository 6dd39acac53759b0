"""Warm-up exclusion drops whole 1 s intervals; the abort monitor fires after warm-up only."""

from __future__ import annotations

import pytest
from stats_builders import T0, artifact, endpoint, only, sla

from loadtest.gate.evaluation import AbortMonitor, evaluate, evaluation_window, merged_endpoints

# Warm-up requests are slow, the steady state is fast: which intervals count is visible in p95.
RUN = {
    T0 + 0: [endpoint("/a", [900.0] * 100)],
    T0 + 1: [endpoint("/a", [800.0] * 100)],
    T0 + 2: [endpoint("/a", [700.0] * 100)],
    T0 + 3: [endpoint("/a", [10.0] * 100)],
    T0 + 4: [endpoint("/a", [20.0] * 100)],
}


@pytest.mark.parametrize(
    ("spawn_complete_at", "first_kept", "dropped"),
    [
        (T0 + 2.0, T0 + 2.0, 2),  # on a boundary: that interval is kept
        (T0 + 2.01, T0 + 3.0, 3),  # inside an interval: rounded up, the partial interval is dropped
        (T0 + 2.99, T0 + 3.0, 3),
        (T0 - 10.0, T0 - 10.0, 0),
    ],
)
def test_warm_up_end_is_rounded_up_to_an_interval_boundary(
    spawn_complete_at: float, first_kept: float, dropped: int
) -> None:
    window = evaluation_window(artifact(RUN, spawn_complete_at=spawn_complete_at), sla({}))
    assert (window.start, window.intervals_dropped, window.intervals_kept) == (first_kept, dropped, 5 - dropped)


def test_default_warm_up_excludes_everything_before_all_users_spawned() -> None:
    verdict = evaluate(artifact(RUN, spawn_complete_at=T0 + 2.5), sla({"aggregate": {"p95": "< 100"}}))
    p95 = only(verdict.checks, "p95")
    assert (p95.measured, p95.samples, verdict.outcome) == (20.0, 200, "PASS")


def test_warm_up_in_seconds_counts_from_the_first_user() -> None:
    run = artifact(RUN, started_at=T0 + 0.5, spawn_complete_at=T0 + 4)
    window = evaluation_window(run, sla({"warmup": 2}))  # ends T0 + 2.5 -> first kept T0 + 3
    assert (window.start, window.rule) == (T0 + 3, "2 s after the first user started")
    assert evaluation_window(run, sla({"warmup": 0})).start == T0 + 1  # 0.5 rounded up


def test_merging_kept_intervals_is_exact() -> None:
    run = artifact(RUN, spawn_complete_at=T0 + 3)
    merged = merged_endpoints(run, evaluation_window(run, sla({})))
    accum = merged[("GET", "/a")]
    assert (accum.num_requests, accum.histogram, accum.max_response_time_ms) == (200, {10.0: 100, 20.0: 100}, 20.0)


def test_window_duration_runs_from_the_boundary_to_the_end_of_the_run() -> None:
    window = evaluation_window(artifact(RUN, spawn_complete_at=T0 + 2.5, ended_at=T0 + 4.5), sla({}))
    assert window.seconds == 1.5


def test_abort_monitor_waits_for_warm_up_and_enough_samples() -> None:
    monitor = AbortMonitor(sla({"aggregate": {"p95": "< 500", "abort": True}}))
    assert monitor.check(artifact(RUN, spawn_complete_at=None)) is None  # still spawning
    few = artifact({T0 + 1: [endpoint("/a", [900.0] * 58)]})
    assert monitor.check(few) is None  # 58 < 59 samples
    assert monitor.reason is None


def test_abort_monitor_returns_the_breach_and_keeps_returning_it() -> None:
    monitor = AbortMonitor(sla({"aggregate": {"p95": "< 500", "abort": True}}))
    breached = artifact({T0 + 1: [endpoint("/a", [900.0] * 59)]})
    reason = monitor.check(breached)
    assert reason == "aggregate p95: p95 900 ms breaches < 500 ms over 59 samples (abort: true)"
    assert monitor.check(artifact({})) == reason


def test_abort_monitor_ignores_thresholds_without_abort() -> None:
    rules = sla({"aggregate": {"p95": "< 500"}, "endpoints": [{"name": "/b", "p95": "< 5", "abort": True}]})
    monitor = AbortMonitor(rules)
    assert monitor.enabled
    assert monitor.check(artifact({T0 + 1: [endpoint("/a", [900.0] * 100)]})) is None  # /b unmatched
    assert AbortMonitor(sla({"aggregate": {"p95": 1}})).enabled is False


def test_abort_monitor_does_not_abort_on_inconclusive_floors() -> None:
    monitor = AbortMonitor(sla({"aggregate": {"min_throughput": 1e6, "error_rate": "< 5", "abort": True}}))
    assert monitor.check(artifact({T0 + 1: [endpoint("/a", [10.0] * 100)]})) is None
    breached = artifact({T0 + 1: [endpoint("/a", [10.0] * 100, failures=10)]})
    assert "error_rate 10% breaches < 5%" in (monitor.check(breached) or "")


def test_abort_monitor_gives_the_exact_merge_even_when_an_old_interval_changes() -> None:
    rules = sla({"warmup": 0, "aggregate": {"p95": "< 500", "abort": True}})
    monitor = AbortMonitor(rules)
    fast = {T0 + i: [endpoint("/a", [10.0] * 10)] for i in range(30)}
    assert monitor.check(artifact(fast)) is None
    late = dict(fast)
    late[T0 + 1] = [endpoint("/a", [10.0] * 10 + [900.0] * 300)]  # a late report lands in an old interval
    reason = monitor.check(artifact(late))
    assert reason is not None and "p95 900 ms breaches < 500 ms over 600 samples" in reason
    run = artifact(late)
    window = evaluation_window(run, rules)
    assert window.start is not None
    exact = merged_endpoints(run, window)[("GET", "/a")]
    assert exact.histogram == {10.0: 300, 900.0: 300}
    gate = next(c for c in evaluate(run, rules).checks if c.metric == "p95")
    assert (gate.result, gate.measured, gate.samples) == ("fail", 900.0, 600)  # the monitor judged what the gate does
