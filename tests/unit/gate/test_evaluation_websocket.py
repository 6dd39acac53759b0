"""The gate and WebSocket sessions: their rows stay out of the aggregate, calls and pushes are
endpoint thresholds, and the `websocket` section judges connects and drops over the whole run."""

from __future__ import annotations

import pytest
from stats_builders import T0, artifact, endpoint, only, sla, worker

from loadtest.core.errors import GateError
from loadtest.gate.evaluation import evaluate

HTTP = endpoint("/api/items", [20.0] * 100)


def _run(connects: int, failed_connects: int = 0, drops: int = 0, spawn_s: float = 5.0) -> dict:  # type: ignore[type-arg]
    """Connects while users spawn (before the warm-up ends), pushes and HTTP afterwards."""
    during_spawn = [endpoint("/ws", [40.0] * connects, failed_connects, method="WSCONNECT")]
    after = [HTTP, endpoint("prices", [900.0] * 100, method="WSPUSH")]
    if drops:
        after.append(endpoint("/ws", [5000.0] * drops, drops, method="WSCLOSE"))
    return artifact({T0 + 1: during_spawn, T0 + spawn_s + 1: after}, spawn_complete_at=T0 + spawn_s)  # type: ignore[return-value]


def test_push_latency_never_enters_the_aggregate_but_its_own_threshold_judges_it() -> None:
    rules = sla({"aggregate": {"p95": "< 100", "error_rate": "< 5%"},
                 "endpoints": [{"name": "prices", "method": "WSPUSH", "p95": "< 250"}]})  # fmt: skip
    verdict = evaluate(_run(100), rules)  # type: ignore[arg-type]
    aggregate = only(verdict.checks, "p95", "aggregate")
    assert (aggregate.result, aggregate.measured, aggregate.samples) == ("pass", 20.0, 100)
    push = only(verdict.checks, "p95", "WSPUSH prices")
    assert (push.result, push.measured) == ("fail", 900.0)
    requests = only(verdict.checks, "requests")  # evidence that load ran: every request, pushes too
    assert (requests.measured, requests.result) == (200.0, "pass")
    assert requests.reason == "200 requests after warm-up (100 of them WebSocket messages)"


def test_a_run_of_websocket_messages_alone_is_judged_not_inconclusive() -> None:
    pushes = [endpoint("prices", [3.0] * 100, method="WSPUSH")]
    run = artifact({T0 + 1: [endpoint("/ws", [40.0] * 100, method="WSCONNECT")], T0 + 6: pushes},
                   spawn_complete_at=T0 + 5)  # fmt: skip
    verdict = evaluate(run, sla({"endpoints": [{"name": "prices", "method": "WSPUSH", "p95": 10}]}))
    assert only(verdict.checks, "requests").result == "pass"
    assert verdict.outcome == "PASS", verdict.reason


@pytest.mark.parametrize(
    ("connects", "failed", "drops", "connect_result", "drop_result", "rate"),
    [
        (100, 0, 0, "pass", "pass", 0.0),
        (100, 0, 4, "pass", "pass", 4.0),  # 4 of 100 opened
        (100, 0, 5, "pass", "fail", 5.0),  # the limit is strict
        (100, 20, 5, "fail", "fail", 6.25),  # 5 of the 80 that opened
        (40, 0, 1, "inconclusive", "inconclusive", 2.5),  # < 59 connections prove nothing at 5 %
    ],
)
def test_connects_and_drops_are_judged_over_the_whole_run(
    connects: int, failed: int, drops: int, connect_result: str, drop_result: str, rate: float
) -> None:
    rules = sla({"websocket": {"connect": {"p95": "< 100", "success_rate": ">= 95"}, "disconnect_rate": "< 5%"}})
    verdict = evaluate(_run(connects, failed, drops), rules)  # type: ignore[arg-type]
    success = only(verdict.checks, "success_rate", "connect")
    assert success.result == connect_result and success.samples == connects
    assert only(verdict.checks, "p95", "connect").measured == 40.0  # every connect, though all were in the ramp-up
    drop = only(verdict.checks, "disconnect_rate")
    assert (drop.result, drop.measured, drop.samples) == (drop_result, rate, connects - failed)
    if drop_result == "fail":
        assert f"{drops} unexpected closes of {connects - failed} connections opened" in drop.reason
        assert verdict.outcome == "FAIL"


def test_min_samples_lets_a_small_run_judge_its_drops() -> None:
    rules = sla({"websocket": {"disconnect_rate": "< 5%", "min_samples": 20}})
    drop = only(evaluate(_run(40, 0, 3), rules).checks, "disconnect_rate")  # type: ignore[arg-type]
    assert (drop.result, drop.measured) == ("fail", 7.5)


def test_no_connection_at_all_is_inconclusive_not_a_pass() -> None:
    rules = sla({"websocket": {"disconnect_rate": "< 5%"}})
    drop = only(evaluate(_run(0), rules).checks, "disconnect_rate")  # type: ignore[arg-type]
    assert (drop.result, drop.measured) == ("inconclusive", None)


def test_abort_is_refused_where_it_cannot_apply() -> None:
    with pytest.raises(GateError, match="websocket.connect is judged after the run: 'abort' does not apply"):
        sla({"websocket": {"connect": {"p95": 100, "abort": True}}})


def _held(*workers: dict) -> dict:  # type: ignore[type-arg]
    """Warm-up ends at T0 + 5 (the window starts at T0 + 5), the stop at T0 + 20; reports every 3 s
    from T0 + 3: T0+3 (ramp-up), 6, 9, 12, 15, 18 (judged), 21 (the stop: connections closing)."""
    return artifact(  # type: ignore[return-value]
        {T0 + 6: [HTTP]},
        spawn_complete_at=T0 + 5,
        ended_at=T0 + 20,
        workers=list(workers),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("second", "need", "result", "measured"),
    [
        ([0, 500, 500, 500, 500, 500, 0], 1000, "pass", 1000.0),  # the ramp-up and the stop do not count
        ([0, 500, 480, 500, 500, 500, 0], 1000, "fail", 980.0),  # one report short is enough to fail
        ([0, 500, 480, 500, 500, 500, 0], 980, "pass", 980.0),
    ],
)
def test_min_connections_is_the_fleets_total_at_every_report_after_warm_up(
    second: list[int], need: int, result: str, measured: float
) -> None:
    first = worker("w1", [10.0] * 7, connections=[0, 500, 500, 500, 500, 500, 0])
    other = worker("w2", [10.0] * 7, connections=second, t0=T0 + 0.5)
    check = only(evaluate(_held(first, other), sla({"websocket": {"min_connections": need}})).checks, "min_connections")  # type: ignore[arg-type]
    assert (check.result, check.measured) == (result, measured), check
    if result == "fail":
        assert "only 980 connections open" in check.reason and "fewer than 1000" in check.reason


def test_a_lost_worker_holds_no_connection_from_its_loss_on() -> None:
    first = worker("w1", [10.0] * 7, connections=[0, 500, 500, 500, 500, 500, 0])
    lost = worker("w2", [10.0] * 3, connections=[0, 500, 500], lost_at=T0 + 10)
    check = only(evaluate(_held(first, lost), sla({"websocket": {"min_connections": 600}})).checks, "min_connections")  # type: ignore[arg-type]
    assert (check.result, check.measured) == ("fail", 500.0)


def test_min_connections_without_a_report_after_warm_up_is_inconclusive() -> None:
    early = worker("w1", [10.0], connections=[900])  # one report, in the ramp-up
    check = only(evaluate(_held(early), sla({"websocket": {"min_connections": 1}})).checks, "min_connections")  # type: ignore[arg-type]
    assert (check.result, check.measured) == ("inconclusive", None)
