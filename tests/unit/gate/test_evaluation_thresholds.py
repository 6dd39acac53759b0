"""Thresholds at their boundaries, on hand-built histograms.

Bucket rounding, and why the boundaries sit where they do:
- Locust rounds response times to whole ms below 100 ms and to two significant
  digits above (147 -> 150, 504 -> 500, 3432 -> 3400). With Locust's own stats a
  true 504 ms p95 reads 500 and passes ``p95 <= 500``; a true 149 ms reads 150.
- We record three significant digits (histogram.bucket): 504 -> 504, 500.4 -> 500,
  500.6 -> 501, 499.6 -> 500. Every comparison is made on the bucket value, so the
  decision can be wrong only for a true value within 0.5 % of the limit, and in a
  known direction: 499.6 ms is measured as 500 and fails ``< 500``.
"""

from __future__ import annotations

import pytest
from stats_builders import T0, artifact, endpoint, from_histogram, only, sla

from loadtest.gate.evaluation import evaluate
from loadtest.stats import histogram
from loadtest.stats.artifact import EndpointStats


def p95_run(tail_ms: float) -> dict[float, list[EndpointStats]]:
    """100 requests: 94 at 100 ms and 6 at `tail_ms`; the nearest-rank p95 (rank 95) is the tail."""
    return {T0 + 1: [endpoint("/items", [100.0] * 94 + [tail_ms] * 6)]}


@pytest.mark.parametrize(
    ("tail_ms", "limit", "result"),
    [
        (499.0, "< 500", "pass"),  # just below
        (500.0, "< 500", "fail"),  # at: strict bound excludes the limit
        (501.0, "< 500", "fail"),  # just above
        (499.0, 500, "pass"),  # a bare number is inclusive
        (500.0, 500, "pass"),
        (501.0, 500, "fail"),
        (500.0, "<= 500", "pass"),
        (500.0, "≤ 500 ms", "pass"),
    ],
)
def test_p95_just_below_at_and_above_the_limit(tail_ms: float, limit: object, result: str) -> None:
    verdict = evaluate(artifact(p95_run(tail_ms)), sla({"aggregate": {"p95": limit}}))
    check = only(verdict.checks, "p95")
    assert (check.measured, check.samples, check.result) == (tail_ms, 100, result)
    assert verdict.outcome == result.upper()


@pytest.mark.parametrize(
    ("true_ms", "bucket_ms", "strict", "inclusive"),
    [
        (500.4, 500.0, "fail", "pass"),  # rounds down onto the limit
        (500.6, 501.0, "fail", "fail"),  # rounds up past it
        (499.6, 500.0, "fail", "pass"),  # truly below, measured at the limit: the 0.5 % error
        (499.4, 499.0, "pass", "pass"),
    ],
)
def test_bucket_rounding_decides_at_three_significant_digits(
    true_ms: float, bucket_ms: float, strict: str, inclusive: str
) -> None:
    assert histogram.bucket(true_ms) == bucket_ms
    run = artifact(p95_run(true_ms))
    assert only(evaluate(run, sla({"aggregate": {"p95": "< 500"}})).checks, "p95").result == strict
    assert only(evaluate(run, sla({"aggregate": {"p95": "<= 500"}})).checks, "p95").result == inclusive


def test_locust_would_have_rounded_504_ms_onto_a_500_ms_limit_but_we_do_not() -> None:
    assert round(504.0, -1) == 500.0  # Locust's rule between 100 and 1000 ms
    assert histogram.bucket(504.0) == 504.0
    verdict = evaluate(artifact(p95_run(504.0)), sla({"aggregate": {"p95": 500}}))
    assert only(verdict.checks, "p95").measured == 504.0
    assert verdict.outcome == "FAIL"


@pytest.mark.parametrize(("failures", "result"), [(4, "pass"), (5, "fail"), (6, "fail")])
def test_error_rate_strictly_below_five_percent(failures: int, result: str) -> None:
    run = artifact({T0 + 1: [endpoint("/a", [10.0] * 100, failures=failures)]})
    check = only(evaluate(run, sla({"aggregate": {"error_rate": "< 5%"}})).checks, "error_rate")
    assert (check.measured, check.samples, check.result) == (float(failures), 100, result)


@pytest.mark.parametrize(("failures", "result"), [(2, "pass"), (3, "pass"), (4, "fail")])
def test_success_rate_at_least_99_percent_with_a_bare_number(failures: int, result: str) -> None:
    run = artifact({T0 + 1: [endpoint("/a", [10.0] * 300, failures=failures)]})
    check = only(evaluate(run, sla({"aggregate": {"success_rate": 99}})).checks, "success_rate")
    assert check.measured == pytest.approx(100.0 - failures / 3)  # 3 of 300 failed: exactly 99 %
    assert (check.samples, check.result) == (300, result)


@pytest.mark.parametrize(("requests", "result"), [(298, "inconclusive"), (299, "pass")])
def test_success_rate_needs_299_requests_before_it_can_pass_99_percent(requests: int, result: str) -> None:
    run = artifact({T0 + 1: [endpoint("/a", [10.0] * requests)]})
    check = only(evaluate(run, sla({"aggregate": {"success_rate": ">= 99"}})).checks, "success_rate")
    assert (check.result, check.samples) == (result, requests)


@pytest.mark.parametrize(("p", "rank_value"), [("p50", 50.0), ("p90", 90.0), ("p99", 99.0)])
def test_each_percentile_reads_the_nearest_rank(p: str, rank_value: float) -> None:
    values = [float(v) for v in range(1, 301)]  # 300 samples: p-th percentile is value ceil(p*3)
    run = artifact({T0 + 1: [endpoint("/a", values)]})
    check = only(evaluate(run, sla({"aggregate": {p: 1000}})).checks, p)
    assert check.measured == rank_value * 3 and check.result == "pass"


def test_max_uses_the_exact_maximum_and_one_sample_is_enough() -> None:
    run = artifact({T0 + 1: [endpoint("/a", [12.0, 2000.25])]})
    check = only(evaluate(run, sla({"aggregate": {"max": "< 2000"}})).checks, "max")
    assert (check.measured, check.samples, check.result) == (2000.25, 2, "fail")


def test_custom_percentile_p99_9_with_its_own_minimum() -> None:
    counts = {10.0: 999, 900.0: 1}
    run = artifact({T0 + 1: [from_histogram("/a", counts)]})
    rule = {"percentiles": {"p99.9": "< 800"}, "min_samples": {"p99.9": 1000}}
    check = only(evaluate(run, sla({"aggregate": rule})).checks, "p99.9")
    # rank ceil(0.999 * 1000) = 999 is 10 ms; 99.9 / 100 in floats is 0.99900000000000011, whose
    # ceil would pick rank 1000 (numpy's percentile(x, 99.9) does): the gate rounds the fraction first
    assert (check.measured, check.samples, check.result) == (10.0, 1000, "pass")


def test_a_group_threshold_merges_its_endpoints_before_the_percentile() -> None:
    fast = endpoint("/api/orders/list", [50.0] * 60)
    slow = endpoint("/api/orders/create", [400.0] * 60)
    run = artifact({T0 + 1: [fast, slow]})
    group = sla({"endpoints": [{"pattern": "^/api/orders", "scope": "group", "label": "orders", "p95": 300}]})
    each = sla({"endpoints": [{"pattern": "^/api/orders", "p95": 300}]})
    merged = only(evaluate(run, group).checks, "p95")
    assert (merged.subject, merged.measured, merged.samples, merged.result) == ("orders", 400.0, 120, "fail")
    results = {c.subject: c.result for c in evaluate(run, each).checks if c.metric == "p95"}
    assert results == {"GET /api/orders/create": "fail", "GET /api/orders/list": "pass"}


def test_method_narrows_an_exact_name() -> None:
    run = artifact({T0 + 1: [endpoint("/items", [10.0] * 60), endpoint("/items", [900.0] * 60, method="POST")]})
    verdict = evaluate(run, sla({"endpoints": [{"name": "/items", "method": "get", "p95": "< 100"}]}))
    check = only(verdict.checks, "p95")
    assert (check.subject, check.measured, verdict.outcome) == ("GET /items", 10.0, "PASS")


def test_a_mistyped_exact_name_fails_by_default_and_an_unmatched_pattern_warns() -> None:
    run = artifact({T0 + 1: [endpoint("/items", [10.0] * 60)]})
    typo = {"endpoints": [{"name": "/itemz", "p95": 100}]}
    failed = evaluate(run, sla(typo))
    assert (failed.outcome, only(failed.checks, "unmatched").result) == ("FAIL", "fail")
    assert "'/itemz'" in failed.reason and "unmatched: fail" in failed.reason
    pattern = {"endpoints": [{"pattern": "^/orders", "p95": 100}]}
    warned = evaluate(run, sla(pattern))
    assert (warned.outcome, only(warned.checks, "unmatched").result) == ("PASS", "warn")
    assert warned.warnings and "'~/^/orders/'" in warned.warnings[0]
    # the file's setting and the --unmatched flag override the per-selector default, both ways
    assert evaluate(run, sla({**typo, "unmatched": "warn"})).outcome == "PASS"
    assert evaluate(run, sla({**pattern, "unmatched": "fail"})).outcome == "FAIL"
    assert evaluate(run, sla(pattern), unmatched="fail").outcome == "FAIL"
    assert evaluate(run, sla(typo), unmatched="warn").outcome == "PASS"


def test_a_breach_fails_even_when_another_threshold_lacks_samples() -> None:
    run = artifact({T0 + 1: [endpoint("/a", [10.0] * 100, failures=50)]})
    verdict = evaluate(run, sla({"aggregate": {"p99": 100, "error_rate": "< 5"}}))
    assert only(verdict.checks, "p99").result == "inconclusive"  # 100 < 299 samples
    assert (only(verdict.checks, "error_rate").result, verdict.outcome) == ("fail", "FAIL")
    assert "error_rate 50% breaches < 5%" in verdict.reason


def test_the_three_real_targets_from_the_issue_decide_as_written() -> None:
    run = artifact(
        {
            T0 + 1: [
                endpoint("/api/catalog/items", [150.0] * 300),
                endpoint("/api/cart/add", [450.0] * 300, failures=3),
                endpoint("/api/checkout/pay", [250.0] * 300, failures=15),
            ]
        }
    )
    aggregate_target = sla({"aggregate": {"p95": "< 500", "error_rate": "< 5%"}})
    assert evaluate(run, aggregate_target).outcome == "PASS"
    groups = sla(
        {
            "endpoints": [
                {"pattern": "^/api/catalog", "scope": "group", "p95": "<= 200", "success_rate": ">= 99"},
                {"pattern": "^/api/cart", "scope": "group", "p95": "<= 500", "success_rate": ">= 95"},
                {"pattern": "^/api/checkout", "scope": "group", "p95": "<= 300", "success_rate": ">= 95"},
            ]
        }
    )
    assert evaluate(run, groups).outcome == "PASS"  # checkout: exactly 95 % succeed, >= holds
    every = evaluate(run, sla({"endpoints": [{"pattern": ".*", "p95": "< 100"}]}))
    assert [c.result for c in every.checks if c.metric == "p95"] == ["fail", "fail", "fail"]
