"""Every way the data can fail to support a verdict ends INCONCLUSIVE, never PASS."""

from __future__ import annotations

import pytest
from stats_builders import T0, artifact, endpoint, only, sla, worker

from loadtest.gate.evaluation import evaluate
from loadtest.stats.artifact import RunEvent

HEALTHY = {T0 + 1: [endpoint("/a", [10.0] * 100)]}


def test_zero_requests_is_never_a_pass() -> None:
    for rules in ({}, {"aggregate": {"p95": 1_000_000, "error_rate": 100}}):
        verdict = evaluate(artifact({}), sla(rules))
        check = only(verdict.checks, "requests")
        assert (verdict.outcome, check.result, check.measured) == ("INCONCLUSIVE", "inconclusive", 0.0)
        assert "zero requests" in verdict.reason


def test_requests_only_during_warm_up_count_as_zero() -> None:
    run = artifact({T0 + 1: [endpoint("/a", [10.0] * 100)]}, spawn_complete_at=T0 + 5)
    verdict = evaluate(run, sla({"aggregate": {"p95": 100}}))
    assert (verdict.outcome, only(verdict.checks, "requests").measured) == ("INCONCLUSIVE", 0.0)


def test_a_warm_up_that_never_ended_evaluates_nothing() -> None:
    verdict = evaluate(artifact(HEALTHY, spawn_complete_at=None), sla({"aggregate": {"p95": 100}}))
    assert verdict.outcome == "INCONCLUSIVE"
    assert verdict.window.start is None and verdict.window.intervals_dropped == 1
    assert "never ended" in only(verdict.checks, "requests").reason


@pytest.mark.parametrize(("samples", "result"), [(58, "inconclusive"), (59, "pass")])
def test_p95_needs_59_samples(samples: int, result: str) -> None:
    verdict = evaluate(artifact({T0 + 1: [endpoint("/a", [10.0] * samples)]}), sla({"aggregate": {"p95": 100}}))
    check = only(verdict.checks, "p95")
    assert (check.samples, check.result, verdict.outcome) == (samples, result, result.upper())
    if result == "inconclusive":
        assert check.reason == "only 58 samples; p95 needs at least 59 (min_samples.p95)"


@pytest.mark.parametrize(("samples", "result"), [(298, "inconclusive"), (299, "pass")])
def test_p99_needs_299_samples(samples: int, result: str) -> None:
    verdict = evaluate(artifact({T0 + 1: [endpoint("/a", [10.0] * samples)]}), sla({"aggregate": {"p99": 100}}))
    assert only(verdict.checks, "p99").result == result


def test_min_samples_overrides_apply_per_threshold_before_the_file_default() -> None:
    run = artifact({T0 + 1: [endpoint("/a", [10.0] * 30), endpoint("/b", [10.0] * 30)]})
    rules = sla(
        {
            "min_samples": {"p95": 20},
            "endpoints": [
                {"name": "/a", "p95": 100},
                {"name": "/b", "p95": 100, "min_samples": {"p95": 31}},
            ],
        }
    )
    results = {c.subject: c.result for c in evaluate(run, rules).checks if c.metric == "p95"}
    assert results == {"GET /a": "pass", "GET /b": "inconclusive"}


def test_a_breached_percentile_with_too_few_samples_is_inconclusive_not_fail() -> None:
    verdict = evaluate(artifact({T0 + 1: [endpoint("/a", [900.0] * 10)]}), sla({"aggregate": {"p95": 100}}))
    assert (verdict.outcome, only(verdict.checks, "p95").measured) == ("INCONCLUSIVE", 900.0)


def test_sustained_worker_cpu_is_saturation() -> None:
    hot = worker("w1", [50.0, 95.0, 97.0, 60.0])
    verdict = evaluate(artifact(HEALTHY, workers=[hot]), sla({"aggregate": {"p95": 100}}))
    check = only(verdict.checks, "cpu_percent")
    assert (verdict.outcome, check.result, check.measured) == ("INCONCLUSIVE", "inconclusive", 95.0)
    assert "worker w1 reached 90% in 2 of 4 reports" in check.reason


def test_one_hot_report_is_noise_not_saturation() -> None:
    verdict = evaluate(artifact(HEALTHY, workers=[worker("w1", [30.0, 99.0, 30.0])]), sla({}))
    assert (only(verdict.checks, "cpu_percent").measured, verdict.outcome) == (30.0, "PASS")


def test_event_loop_lag_alone_is_saturation_even_with_idle_cpu() -> None:
    laggy = worker("w1", [20.0, 20.0, 20.0], lag=[5.0, 150.0, 400.0])
    verdict = evaluate(artifact(HEALTHY, workers=[laggy]), sla({}))
    check = only(verdict.checks, "loop_lag_ms")
    assert (verdict.outcome, check.measured, check.result) == ("INCONCLUSIVE", 150.0, "inconclusive")


def test_waiting_for_a_core_is_saturation_even_when_the_worker_looks_idle() -> None:
    # an oversubscribed machine: modest CPU, no loop lag, but the worker waits for a core
    starved = worker("w1", [25.0, 28.0, 27.0], lag=[5.0, 8.0, 6.0], runqueue=[12.0, 44.0, 46.0])
    verdict = evaluate(artifact(HEALTHY, workers=[starved]), sla({}))
    check = only(verdict.checks, "runqueue_wait_percent")
    assert (verdict.outcome, check.result, check.measured) == ("INCONCLUSIVE", "inconclusive", 44.0)
    healthy = worker("w1", [25.0, 28.0, 27.0], runqueue=[3.0, 21.0, 5.0])  # one busy report is noise
    assert evaluate(artifact(HEALTHY, workers=[healthy]), sla({})).outcome == "PASS"


def test_saturation_limits_are_configurable() -> None:
    warm = worker("w1", [75.0, 80.0, 85.0])
    assert evaluate(artifact(HEALTHY, workers=[warm]), sla({})).outcome == "PASS"
    strict = sla({"saturation": {"max_cpu_percent": 70, "sustained_reports": 3}})
    assert evaluate(artifact(HEALTHY, workers=[warm]), strict).outcome == "INCONCLUSIVE"


def test_saturation_is_judged_in_the_judged_window_and_spawning_is_reported_not_judged() -> None:
    spawning_hot = worker("w1", [30.0, 30.0, 30.0, 30.0], lag=[400.0, 250.0, 5.0, 4.0], t0=T0 - 7)
    run = artifact(HEALTHY, started_at=T0 - 7, spawn_complete_at=T0, ended_at=T0 + 6, workers=[spawning_hot])
    judged = evaluate(run, sla({}))
    lag = only(judged.checks, "loop_lag_ms")
    assert (judged.outcome, lag.measured) == ("PASS", 4.0)
    assert "judged window, after warm-up" in lag.reason
    # the report at +2 s still covers spawning (a report describes the 3 s before it): not judged
    assert "while spawning (not judged) worker w1 reached 100 ms in 2 of 3 reports" in lag.reason
    whole = evaluate(run, sla({"saturation": {"window": "run"}}))
    assert (whole.outcome, only(whole.checks, "loop_lag_ms").measured) == ("INCONCLUSIVE", 250.0)
    assert "whole run, spawning included" in only(whole.checks, "loop_lag_ms").reason


def test_reports_after_the_run_ended_are_the_stop_phase_and_do_not_decide() -> None:
    stopping_hot = worker("w1", [30.0, 30.0, 30.0, 30.0], runqueue=[3.0, 3.0, 60.0, 70.0], t0=T0 - 1)
    run = artifact(HEALTHY, ended_at=T0 + 6, workers=[stopping_hot])  # samples at +2, +5, +8, +11
    check = only(evaluate(run, sla({})).checks, "runqueue_wait_percent")
    assert (check.result, check.measured) == ("pass", 3.0)
    assert "while stopping (not judged) worker w1 reached 20% in 2 of 2 reports" in check.reason


def test_locusts_own_cpu_warning_counts_as_saturation() -> None:
    events = [RunEvent(t=T0 + 2, kind="cpu_warning", detail="worker w1 CPU 95%")]
    verdict = evaluate(artifact(HEALTHY, events=events), sla({}))
    assert verdict.outcome == "INCONCLUSIVE"
    assert only(verdict.checks, "cpu_percent").reason.startswith("Locust raised cpu_warning")


def test_no_worker_samples_cannot_rule_out_saturation() -> None:
    verdict = evaluate(artifact(HEALTHY, workers=[worker("w1", [])]), sla({}))
    assert (verdict.outcome, only(verdict.checks, "cpu_percent").samples) == ("INCONCLUSIVE", 0)


def test_saturation_turns_a_latency_breach_into_inconclusive() -> None:
    slow = {T0 + 1: [endpoint("/a", [900.0] * 100)]}
    verdict = evaluate(artifact(slow, workers=[worker("w1", [99.0, 99.0])]), sla({"aggregate": {"p95": 100}}))
    assert (verdict.outcome, only(verdict.checks, "p95").result) == ("INCONCLUSIVE", "fail")
    assert "generators cpu_percent" in verdict.reason


@pytest.mark.parametrize(
    ("workers", "events", "measured"),
    [
        ([worker("w1", [20.0, 20.0], lost=True)], [], 1.0),
        ([worker("w1", [20.0, 20.0])], [RunEvent(t=T0 + 2, kind="worker_lost", detail="w2 missed heartbeats")], 1.0),
        ([], [], 1.0),  # expected one worker, none ever reported
    ],
)
def test_lost_or_missing_workers_are_inconclusive(workers: list, events: list, measured: float) -> None:  # type: ignore[type-arg]
    verdict = evaluate(artifact(HEALTHY, workers=workers, events=events), sla({}))
    check = only(verdict.checks, "workers_lost")
    assert (verdict.outcome, check.result, check.measured) == ("INCONCLUSIVE", "inconclusive", measured)


def test_incomplete_stats_are_inconclusive() -> None:
    verdict = evaluate(artifact(HEALTHY, complete=False), sla({}))
    assert (verdict.outcome, only(verdict.checks, "stats_complete").result) == ("INCONCLUSIVE", "inconclusive")


def test_throughput_below_an_absolute_floor_is_inconclusive() -> None:
    run = artifact({T0 + 1: [endpoint("/a", [10.0] * 100)]}, ended_at=T0 + 10)  # 100 requests in 10 s (from T0)
    low = evaluate(run, sla({"aggregate": {"min_throughput": 10.5}}))
    check = only(low.checks, "min_throughput")
    assert (low.outcome, check.measured, check.result) == ("INCONCLUSIVE", 10.0, "inconclusive")
    assert evaluate(run, sla({"aggregate": {"min_throughput": 10}})).outcome == "PASS"


def test_throughput_as_a_fraction_of_the_planned_rate() -> None:
    run = artifact({T0 + 1: [endpoint("/a", [10.0] * 100)]}, ended_at=T0 + 10, planned_rps=20.0)
    rules = sla({"aggregate": {"min_throughput_fraction": 0.5}})
    assert only(evaluate(run, rules).checks, "min_throughput_fraction").result == "pass"  # 10 >= 0.5 * 20
    run["planned_rps"] = 21.0
    assert evaluate(run, rules).outcome == "INCONCLUSIVE"
    run["planned_rps"] = None
    unknown = only(evaluate(run, rules).checks, "min_throughput_fraction")
    assert (unknown.result, unknown.reason) == ("inconclusive", "the planned rate is unknown (planned_rps)")


@pytest.mark.parametrize(("requests", "result"), [(99, "INCONCLUSIVE"), (100, "PASS")])
def test_min_requests_is_a_floor_on_evidence(requests: int, result: str) -> None:
    run = artifact({T0 + 1: [endpoint("/a", [10.0] * requests)]})
    assert evaluate(run, sla({"aggregate": {"min_requests": 100}})).outcome == result


def test_an_sla_abort_is_a_fail_that_says_why() -> None:
    events = [RunEvent(t=T0 + 5, kind="abort", detail="aggregate p95 900 ms breaches < 500 ms")]
    verdict = evaluate(artifact(HEALTHY, events=events), sla({}))
    assert (verdict.outcome, verdict.aborted) == ("FAIL", True)
    assert verdict.abort_reason == "aggregate p95 900 ms breaches < 500 ms"
    assert only(verdict.checks, "aborted").result == "fail"
